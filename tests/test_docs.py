"""The documentation: a README that fits on a page, and a site that builds in strict mode (a broken
link, a missing anchor or a page left out of the navigation fails) with a command reference generated
from the argparse parsers."""

import os
import re
import subprocess
import sys

import pytest

from neurosim.cli import COMMANDS, build_parser
from neurosim.cliref import command_reference, expand_markers
from neurosim.results import ROOT


def _options(name: str) -> list[str]:
    sub = next(a for a in build_parser(only=name)._actions if hasattr(a, "choices") and a.choices
               and name in a.choices).choices[name]
    return [s for a in sub._actions for s in a.option_strings if s not in ("-h", "--help")]


def test_readme_fits_on_a_page():
    text = (ROOT / "README.md").read_text()
    assert len(text) <= 10_000
    assert "SPEC.md" not in text and "arXiv 2604.22575" in text
    for page in re.findall(r"\]\((docs/[^)#]+)", text):   # every link into the docs resolves
        assert (ROOT / page).is_file(), page


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_reference_lists_every_option_with_its_default(name):
    ref = command_reference(name)
    assert ref.startswith("```text\n") and f"neurosim {name}" in ref.split("\n")[1]
    for opt in _options(name):
        assert f"`{opt}`" in ref, opt
    rows = [r for r in ref.splitlines() if r.startswith("| `")]
    assert all(r.count(" | ") >= 4 for r in rows)       # argument | value | default | choices | meaning


def test_every_command_has_a_page_with_its_reference():
    for name in COMMANDS:
        page = (ROOT / "docs" / "commands" / f"{name}.md").read_text()
        assert f"<!-- neurosim-command: {name} -->" in page
        assert "neurosim-command" not in expand_markers(page)


def test_docs_site_builds_in_strict_mode(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    run_page = (site / "commands" / "run" / "index.html").read_text()
    assert all(opt in run_page for opt in _options("run"))
    assert "--8&lt;--" not in (site / "index.html").read_text()            # the glossary was included
    assert "Break-even" in (site / "index.html").read_text()
    assert (site / "results" / "accuracy.png").is_file() and (site / "report-screenshot.png").is_file()


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The strict build is what catches a broken link: a copy of the docs with one fails."""
    import shutil

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "docs_hooks.py", tmp_path / "scripts" / "docs_hooks.py")
    page = tmp_path / "docs" / "extending.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "s")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "no-such-page.md" in res.stderr
