"""The verdict quoted by the README and the docs: taken from a report folder's report.json by
`python -m neurosim.results verdict`, rendered as a text block of at most 12 lines of 80 columns."""

import json

from neurosim.reports.verdict import MAX_LINES, WIDTH, short_answer, verdict_lines
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
    short = short_answer(_summary())
    (rep / "report.json").write_text(json.dumps({"short_answer": short, "verdict": lines, "claims": []}))
    monkeypatch.setattr(R, "RESULTS_DIR", tmp_path / "results")
    assert main(["verdict", str(rep)]) == 0
    doc = json.loads((tmp_path / "results" / "verdict.json").read_text())
    md = (tmp_path / "results" / "verdict.md").read_text()
    assert doc["verdict"] == lines and md == render_verdict(doc)
    assert md.startswith("The end of `make main`'s output")
    assert "```text\n" + "\n".join(short + [""] + lines) + "\n```\n" in md
    # a folder without a report is one line and exit 2
    assert main(["verdict", str(tmp_path)]) == 2
    assert "not a neurosim report folder" in capsys.readouterr().err


def test_committed_verdict_is_a_report_verdict():
    doc = json.loads((RESULTS_DIR / "verdict.json").read_text())
    assert 3 <= len(doc["verdict"]) <= MAX_LINES and all(len(ln) <= WIDTH for ln in doc["verdict"])
    assert doc["verdict"][0].startswith("VERDICT")


def _energy(best: dict) -> dict:
    return {"scenarios": {"count": 10, "best": {b: dict(min=lo, max=hi, default=0.0, wins_share=w)
                                                for b, (lo, hi, w) in best.items()}}}


def _hw(area: float, power: float) -> dict:
    return {"comparison": {"500": {"area_reduction_pct": area,
                                   "zero_delay": {"power_reduction_equal_clock_busy_pct": power}}}}


def test_short_answer_says_each_claim_above_or_below_the_paper_and_the_energy_sign():
    """The verdict in words: each side of every claim shows, judged on the interval, and the energy
    answer says whether spiking saves in every scenario, in none, or in a share against each MAC."""
    ev = {"settings": [{"windows": 8, "ppl_change": 0.03, "ppl_change_ci": [0.01, 0.05]}]}
    mixed = _energy({"MAC dense": (-80.0, 17.0, 0.66), "MAC zero-skipping": (-97.0, 12.0, 0.6)})
    lines = short_answer(_summary(), _hw(54.7, 57.0), mixed, ev)
    text = " ".join(lines)
    assert 1 <= len(lines) <= 4 and all(len(ln) <= WIDTH for ln in lines) and lines[0].startswith("In short:")
    assert "sparser spikes" in text and "more accuracy loss" in text and "less area saved" in text
    assert "more power saved per busy cycle" in text
    assert "66% (vs dense MAC) and 60% (vs zero-skipping MAC)" in text and "depends on modelling choices" in text
    # the other side of every comparison
    dense = dict(_summary(), totals={"sparsity_fixed": 0.5, "T_fixed": 7})
    below = {"settings": [{"windows": 8, "ppl_change": 0.001, "ppl_change_ci": [-0.002, 0.004]}]}
    text = " ".join(short_answer(dense, _hw(80.0, 40.0), _energy({"MAC dense": (1.0, 9.0, 1.0)}), below))
    assert "denser spikes" in text and "less accuracy loss" in text and "more area saved" in text
    assert "less power saved per busy cycle" in text and "saves energy in every scenario" in text
    within = {"settings": [{"windows": 8, "ppl_change": 0.006, "ppl_change_ci": [0.001, 0.02]}]}
    text = " ".join(short_answer(_summary(), None, _energy({"MAC dense": (-9.0, -1.0, 0.0)}), within))
    assert "consistent with it" in text and "costs energy in every scenario" in text and "area" not in text
    # too few windows: no judgement on accuracy; no energy: said so
    few = {"settings": [{"windows": 2, "ppl_change": 0.03, "ppl_change_ci": [0.01, 0.05]}]}
    text = " ".join(short_answer(_summary(), None, None, few))
    assert "no interval yet" in text and "not priced" in text
