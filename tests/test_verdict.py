"""The verdict: the paper's headline claims next to the measured values, at most 12 lines of 80 columns."""

from neurosim.reports.claims import Claim
from neurosim.reports.verdict import MAX_LINES, WIDTH, render_result, verdict_doc, verdict_lines


def _claim(name, paper="64.31%", measured="70.00%"):
    return Claim(name, paper, measured, 0.7, "summary.json", "/totals/x", "frac_pct", "definition", "note")


def test_verdict_lists_headline_claims_only_within_80_columns():
    claims = [_claim("spike sparsity (INT8-Spiking)"), _claim("spike sparsity (INT8-Spiking), alt."),
              _claim("accuracy loss (INT8-Spiking vs BF16)", "0.69%", "+2.61% [+1.93%, +3.30%]"),
              _claim("accuracy loss (INT8-Spiking vs BF16), alt. (the trace's one passage)", "0.69%", "+1.00%"),
              _claim("energy reduction per token, memory included: spike bitwise barrel, row held vs MAC dense",
                     "not claimed (paper: compute only)", "4.02%")]
    lines = verdict_lines(verdict_doc(claims, "SmolLM2-135M-Instruct (llama)", 256))
    assert lines[0] == "Verdict: SpikingBrain 2.0 vs measured, SmolLM2-135M-Instruct (llama), 256 tokens"
    assert all(len(ln) <= WIDTH for ln in lines) and len(lines) <= MAX_LINES
    body = lines[2:]
    assert len(body) == 3                     # the alt. rows are left to the claims table
    assert body[0].startswith("spike sparsity (INT8-Spiking)") and body[0].endswith("70.00%")
    assert body[1].endswith("+2.61% [+1.93%, +3.30%]")
    assert "..." in body[2]                   # a long claim is cut, not wrapped


def test_verdict_says_not_measured_where_the_table_has_no_value():
    c = Claim("area reduction vs INT8 MAC", "70.6%", "no hardware results given", None, None, None, "pct", "-", "-")
    assert verdict_lines(verdict_doc([c], "m", 1))[2].split()[-2:] == ["not", "measured"]


def test_verdict_never_exceeds_twelve_lines():
    claims = [_claim(f"claim {i}") for i in range(30)]
    lines = verdict_lines(verdict_doc(claims, "m", None))
    assert len(lines) == MAX_LINES and lines[-1] == f"... {30 - (MAX_LINES - 3)} more in the claims table"


def test_verdict_result_renders_a_text_block():
    doc = verdict_doc([_claim("spike sparsity (INT8-Spiking)")], "m", 8)
    doc["command"] = "make main"
    md = render_result(doc)
    assert md.startswith("What `make main` ends with") and "```text\nVerdict: " in md and md.endswith("```\n")
