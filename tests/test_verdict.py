"""The verdict quoted by the README and the docs: taken from a report folder's report.json by
`python -m neurosim.results verdict`, rendered as a text block of at most 12 lines of 80 columns."""

import json

from neurosim.reports.verdict import MAX_LINES, WIDTH, verdict_lines
from neurosim.results import RESULTS_DIR, main, render_verdict


def _summary():
    return {"model": {"path": "/x/tiny", "model_type": "llama"}, "tokens": 64,
            "totals": {"sparsity_fixed": 0.75, "T_fixed": 7}, "accuracy": {"ppl_change": 0.02}}


def test_verdict_fits_twelve_lines_of_eighty_columns():
    lines = verdict_lines(_summary())
    assert 3 <= len(lines) <= MAX_LINES and all(len(ln) <= WIDTH for ln in lines)
    assert "75.00%" in "\n".join(lines) and "64.31%" in "\n".join(lines)


def test_verdict_result_comes_from_the_report_json(tmp_path, monkeypatch, capsys):
    import neurosim.results as R

    rep = tmp_path / "report"
    rep.mkdir()
    lines = verdict_lines(_summary())
    (rep / "report.json").write_text(json.dumps({"verdict": lines, "claims": []}))
    monkeypatch.setattr(R, "RESULTS_DIR", tmp_path / "results")
    assert main(["verdict", str(rep)]) == 0
    doc = json.loads((tmp_path / "results" / "verdict.json").read_text())
    md = (tmp_path / "results" / "verdict.md").read_text()
    assert doc["verdict"] == lines and md == render_verdict(doc)
    assert md.startswith("The end of `make main`'s output") and "```text\n" + "\n".join(lines) + "\n```\n" in md
    # a folder without a report is one line and exit 2
    assert main(["verdict", str(tmp_path)]) == 2
    assert "not a neurosim report folder" in capsys.readouterr().err


def test_committed_verdict_is_a_report_verdict():
    doc = json.loads((RESULTS_DIR / "verdict.json").read_text())
    assert 3 <= len(doc["verdict"]) <= MAX_LINES and all(len(ln) <= WIDTH for ln in doc["verdict"])
    assert doc["verdict"][0].startswith("VERDICT")
