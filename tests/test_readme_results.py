"""The README and the documentation cannot go stale: their results blocks quote docs/results verbatim,
the "Measured results" page types no figure outside them, and every result that names its renderer
re-renders to its .md."""

import json

import pytest

from neurosim.results import RESULTS_DIR, ROOT, check_readme, loose_numbers, readme_blocks, render


def test_readme_quotes_docs_results_verbatim_and_types_no_figure():
    assert check_readme() == []


def test_measured_results_section_quotes_results():
    text = (ROOT / "docs" / "measured-results.md").read_text()
    from neurosim.results import measured_section

    a, b = measured_section(text)
    names = [n for n, _, s, _ in readme_blocks(text) if a <= s < b]
    assert {"accuracy.md", "energy.md", "sweep.md"} <= set(names)
    assert b == len(text)          # the whole page is the section: its sub-headings do not end it


def test_readme_quotes_the_verdict_and_the_answers():
    names = [n for n, _, _, _ in readme_blocks((ROOT / "README.md").read_text())]
    assert names == ["verdict.md", "accuracy_energy_answer.md", "qwen_accuracy_energy_code_answer.md", "libraries_answer.md"]


def test_pages_checked_are_the_readme_and_the_docs():
    from neurosim.results import quoting_pages

    pages = quoting_pages()
    assert pages[0] == ROOT / "README.md" and ROOT / "docs" / "measured-results.md" in pages
    assert not any(RESULTS_DIR in p.parents for p in pages)


RENDERED = [p for p in sorted(RESULTS_DIR.glob("*.json")) if "renderer" in json.loads(p.read_text())]


def test_accuracy_result_names_its_renderer():
    assert RESULTS_DIR / "accuracy.json" in RENDERED


@pytest.mark.parametrize("held,chosen_on,files", [("qwen_heldout_code", "qwen_frontier_code", True),
                                                   ("qwen_heldout_plays", "qwen_frontier_plays", False)])
def test_held_out_results_share_no_window_with_the_frontier(held, chosen_on, files):
    """The held-out confirmations the docs quote were scored on windows their frontier did not use (and
    on code, where the docs say so, in other files)."""
    spans = {}
    for name in (held, chosen_on):
        sel = json.loads((RESULTS_DIR / f"{name}.json").read_text())["selection"]
        spans[name] = {(w["source"], w["offset"] + i) for w in sel for i in range(w["tokens"])}
    assert spans[held] and spans[chosen_on] and not spans[held] & spans[chosen_on]
    if files:
        assert not {s for s, _ in spans[held]} & {s for s, _ in spans[chosen_on]}


@pytest.mark.parametrize("path", RENDERED, ids=lambda p: p.name)
def test_results_md_is_rendered_from_json(path):
    assert render(json.loads(path.read_text())) == path.with_suffix(".md").read_text()


def test_checker_finds_stale_quotes_and_loose_figures(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    (res / "a.md").write_text("| x | 1.5 |\n")
    good = ("# t\n\n## Measured results\n\nFrom `make results --windows 32`:\n\n"
            "<!-- results: a.md -->\n| x | 1.5 |\n<!-- /results -->\n\n## Next\n\n12 things\n")
    (tmp_path / "R.md").write_text(good)
    assert check_readme(tmp_path / "R.md", res) == []
    (tmp_path / "R.md").write_text(good.replace("| x | 1.5 |\n<!--", "| x | 1.6 |\n<!--"))
    assert any("differs" in p for p in check_readme(tmp_path / "R.md", res))
    (tmp_path / "R.md").write_text(good.replace("From `make", "About 40% from `make"))
    assert loose_numbers((tmp_path / "R.md").read_text()) and check_readme(tmp_path / "R.md", res)
    from neurosim.results import sync_readme

    (tmp_path / "R.md").write_text(good.replace("| x | 1.5 |\n<!--", "| x | 1.6 |\n<!--"))
    assert sync_readme(tmp_path / "R.md", res) == ["a.md"] and (tmp_path / "R.md").read_text() == good
    (tmp_path / "R.md").write_text(good.replace("a.md", "b.md"))
    assert any("does not have" in p for p in check_readme(tmp_path / "R.md", res))
    # a page whose measured-results section is level 1 with level-2 sub-headings: all of it is checked
    page = ("# Measured results\n\n## Accuracy\n\n<!-- results: a.md -->\n| x | 1.5 |\n<!-- /results -->\n\n"
            "## Energy\n\nAbout 40% less.\n")
    (tmp_path / "P.md").write_text(page)
    assert any("About 40% less" in p for p in check_readme(tmp_path / "P.md", res))


def test_check_command_prints_each_problem(monkeypatch, capsys):
    """`python -m neurosim.results check` names every stale quote and exits 1."""
    import neurosim.results as results

    monkeypatch.setattr(results, "check_readme", lambda: ["README.md's quote of x.md differs", "another"])
    assert results.main(["check"]) == 1
    assert capsys.readouterr().out.splitlines() == ["README.md's quote of x.md differs", "another"]
