"""The one description of summary.json, hw.json and energy.json: the documentation generated from it
is current, files neurosim writes match it, and the checker finds departures."""

from __future__ import annotations

import json
from pathlib import Path

from neurosim import formatdoc as D
from neurosim import formats as F
from neurosim.run.trace import read_summary

ROOT = Path(__file__).resolve().parent.parent


def test_generated_member_tables_are_current():
    page = ROOT / "docs" / "formats.md"
    assert D.update_page(page.read_text()) == page.read_text(), \
        "run: python -m neurosim.formatdoc --write docs/formats.md"
    assert D.main(["--check", str(page)]) == 0


def test_every_member_is_documented_with_a_meaning():
    for file in F.FILES:
        md = D.markdown(file)
        assert f"**`{file}`**" in md
        assert "|  |" not in md.replace("| `", "")         # no member without a meaning
    assert "`per_token` | PerToken |" in D.markdown("energy.json")


def test_a_written_trace_summary_matches(trace):
    summary = read_summary(trace)
    assert summary["schema_version"] == F.SUMMARY_VERSION
    assert D.problems(summary, F.Summary) == []


def test_the_checker_finds_missing_undescribed_and_mistyped_members(trace):
    doc = json.loads((Path(trace) / "summary.json").read_text())
    del doc["tokens"]
    doc["extra"] = 1
    doc["layers"][0]["projections"][0]["events"] = "many"
    doc["totals"]["T_fixed"] = 7.5
    got = D.problems(doc, F.Summary)
    assert ": lacks 'tokens'" in got and ": 'extra' is not described" in got
    assert "/layers/0/projections/0/events: expected an integer, got str" in got
    assert any(p.startswith("/totals/T_fixed: float is none of int or list of int or null") for p in got)
    assert len(got) == 4


def test_the_checker_on_unions_and_optional_members():
    ok = {"hw": "h", "eval": "e"}
    assert D.problems({"schema": F.ENERGY_SCHEMA, "settings": ok}, F.Energy) == []
    got = D.problems({"schema": F.ENERGY_SCHEMA, "settings": {"hw": "h"}}, F.Energy)
    assert got == ["/settings: dict is none of EnergySettingsDoc or EvalEnergySettingsDoc"]
    assert D.problems({"settings": ok}, F.Energy) == [": lacks 'schema'"]
    assert D.problems([], F.Energy) == [": expected an object, got list"]


def test_a_page_without_the_blocks_is_a_one_line_error(tmp_path, capsys):
    page = tmp_path / "formats.md"
    page.write_text("# File formats\n")
    assert D.main(["--write", str(page)]) == 2
    err = capsys.readouterr().err
    assert "has no block for summary.json" in err and err.count("\n") == 1
    assert page.read_text() == "# File formats\n"
    assert D.main(["--check", str(tmp_path / "absent.md")]) == 2
