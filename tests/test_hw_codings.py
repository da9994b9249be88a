"""`neurosim hw --coding all`: every spiking kind of the generator, gate-level bit-exact, at 1 lane."""

import json

import pytest

from neurosim import NeurosimError
from neurosim.hwmodels.flow import run_flow
from neurosim.hwmodels.search import DEFAULT_KINDS, SPIKE_KINDS, kinds_for
from neurosim.hwmodels.stimulus import recode, synthetic_source


def test_kinds_for():
    assert kinds_for(["bitwise"])[:2] == DEFAULT_KINDS
    names = [k.name for k in kinds_for("all")]
    assert names[:2] == ["mac", "spike"] and len(names) == 1 + len(SPIKE_KINDS)
    assert [k.name for k in kinds_for(["ternary"])] == ["mac", "spike", "spike_ternary"]
    with pytest.raises(NeurosimError, match="unknown bitwise:barrel"):
        kinds_for(["bitwise:barrel"])


def test_pipelines_for():
    from neurosim.hwmodels.search import pipelines_for
    kinds = kinds_for(["bitwise:horner"])
    assert pipelines_for(None, kinds) is None and pipelines_for([], kinds) is None
    assert pipelines_for(["3"], kinds) == {"mac": [3], "spike": [3], "spike_bitwise_horner": [3]}
    assert pipelines_for(["2,1", "mac=5,6", "spike_bitwise_horner=4"], kinds) == {
        "mac": [5, 6], "spike": [1, 2], "spike_bitwise_horner": [4]}
    with pytest.raises(NeurosimError, match="mac has pipeline depths 0..6, got 7"):
        pipelines_for(["mac=7"], kinds)


def test_recode_keeps_rows_and_weights():
    src = synthetic_source(2, 8, 1, "bitwise", T=7, seed=3)
    two = recode(src, "bitwise_2c")
    assert two.T == 8 and (two.counts == src.counts).all() and two.w_int is src.w_int
    assert recode(src, "ternary").spikes_per_activation == pytest.approx(float(abs(src.counts).mean()))
    b = recode(src, "binary")
    assert b.counts.min() >= 0 and (b.counts == abs(src.counts)).all()
    assert recode(src, "bitwise") is src


def test_every_kind_bit_exact_at_gate_level(tmp_path):
    kw = dict(freqs=(250.0,), lanes=1, k=16, rows=2, k_inputs=12, glitches=False, cache_dir=tmp_path / "c",
              progress=False, tech_nodes=(), pipelines={k.name: [1] for k in kinds_for("all")})
    doc = run_flow(tmp_path / "hw", kinds=kinds_for("all"), **kw)
    kinds = doc["settings"]["kinds"]
    assert set(kinds) == {k.name for k in kinds_for("all")}
    for name, kd in kinds.items():
        r = doc["results"][f"{name}@250"]
        assert r["power"]["zero_delay"]["bit_exact"] is True    # measure_power raises on a mismatch
        assert r["stream"]["events"] > 0
    assert set(doc["comparison_kinds"]) == {k for k, v in kinds.items() if v["design"] == "spike"}
    assert doc["comparison"] == doc["comparison_kinds"]["spike"]
    assert kinds["spike_ternary"]["T"] == 127 and kinds["spike_bitwise_2c_barrel"]["T"] == 8
    md = (tmp_path / "hw" / "hw.md").read_text()
    assert "## Every spiking kind vs the MAC array" in md and "spike_bitwise_2c_horner" in md
    # the energy model prices every kind it can (binary cannot carry negative counts)
    json.dumps(doc)


def test_cli_rejects_an_unknown_coding(tmp_path, capsys):
    from neurosim.cli import main
    assert main(["hw", "--out", str(tmp_path / "hw"), "--coding", "bitwise", "trinary"]) == 2
    err = capsys.readouterr().err
    assert "unknown trinary" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "hw").exists()
