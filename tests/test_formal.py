"""The formal proof (neurosim.rtl.formal / neurosim.rtl.prove) is not vacuous: deliberately broken
arrays fail it, the unbroken ones pass, its Cover points are reached, and its exhaustive steps
catch a wrong product or a wrong coding. `make formal` proves every default design."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Const, Mux, Signal, signed

from neurosim.rtl import prove
from neurosim.rtl.build import default_configs
from neurosim.rtl.mac import MacArray
from neurosim.rtl.params import make_config
from neurosim.rtl.spike import SpikeArray


class DroppedCarry(SpikeArray):
    """The carry between accumulator segments is lost."""

    @staticmethod
    def carry_bit(full, width):
        return Const(0, 1)


class ShiftOffByOne(SpikeArray):
    """The barrel shifts one place too far."""

    def shifted(self, term):
        return term << (self.sh + 1)


class SignStepWrong(SpikeArray):
    """Two's complement: the sign step is taken to be the least significant step."""

    def sign_step(self):
        return self.sh == 0


class NoClear(MacArray):
    """``clear`` does not restart the accumulator (only ``rst`` does)."""

    @staticmethod
    def clear_bit(ctrl, rst):
        return rst


class NoClearSpike(SpikeArray):
    clear_bit = staticmethod(NoClear.clear_bit)


MUTANTS = [
    pytest.param(DroppedCarry, dict(design="spike", coding="bitwise", variant="barrel", pipeline=2), id="dropped-carry"),
    pytest.param(ShiftOffByOne, dict(design="spike", coding="bitwise", variant="barrel", pipeline=0), id="barrel-shift-off-by-one"),
    pytest.param(SignStepWrong, dict(design="spike", coding="bitwise_2c", variant="barrel", pipeline=1), id="twos-complement-sign"),
    pytest.param(NoClear, dict(design="mac", coding=None, variant=None, pipeline=2), id="mac-missing-clear"),
    pytest.param(NoClearSpike, dict(design="spike", coding="bitwise", variant="horner", pipeline=3), id="horner-missing-clear"),
]


def _cfg(kw):
    kw = dict(kw)
    return make_config(kw.pop("design"), lanes=2, k=24, **kw)


@pytest.mark.parametrize("mutant,kw", MUTANTS)
def test_mutant_fails_the_proof_and_the_original_passes(mutant, kw, tmp_path):
    cfg = _cfg(kw)
    broken = prove.prove(cfg, tmp_path, unit_factory=mutant, tag="_mutant")
    # FAIL: a counterexample from reset within the depth; UNKNOWN: the invariant is not inductive
    # (a counterexample to the induction step); either way the design is not proved
    failed = [r for r in broken if r.status in (prove.FAIL, "UNKNOWN")]
    assert failed, f"{mutant.__name__} on {cfg.top}: {[(r.part, r.status) for r in broken]}"
    log = (Path(failed[0].folder) / "sby.log").read_text()
    assert "failed assertion" in log or "Assert failed" in log
    good = prove.prove(cfg, tmp_path)
    assert good and [r.status for r in good] == [prove.PASS] * len(good), good


def test_covers_are_reached(tmp_path):
    """Each Cover (a done, a negative result, acc_min, acc_max, a full-length spike train) is hit."""
    results = prove.cover(tmp_path, [c for c in prove.COVER_CASES
                                     if c[1] in (None, "bitwise_2c") and c[2] in (None, "horner")])
    assert [r.status for r in results] == [prove.PASS, prove.PASS]
    log = (tmp_path / f"{results[1].top}_cover" / "sby.log").read_text()
    assert log.count("Reached cover statement") == 5


def test_proof_covers_every_default_design():
    tops = {c.top for c in prove.proof_configs()}
    assert len(tops) == len(default_configs()) == 37
    assert all(f"_l{prove.PROOF_LANES}_k2560" in t for t in tops)


class BadProduct(MacArray):
    """P = 0 MAC whose lane 3 is off by one for a = -128 (one row of the 65536 pairs)."""

    def front_end(self, m, ctrl0):
        terms = []
        for i in range(self.cfg.lanes):
            p = self.a * self.w[i]
            sig = Signal(signed(16), name=f"prod{i}")
            m.d.comb += sig.eq(Mux((i == 3) & (self.a == -128), p + 1, p))
            terms.append(sig)
        self.probe["prod"] = terms
        return ctrl0, terms


def test_formal_product_catches_a_wrong_product(tmp_path):
    """The MAC's product is proved against the SMT product a * w: one wrong row of the 65536 pairs
    in one of the 16 lanes fails it (its accumulate part still passes: the product is left free)."""
    cfg = make_config("mac", coding=None, lanes=16, k=24, pipeline=0)
    term, accumulate = prove.prove(cfg, tmp_path, unit_factory=BadProduct)
    assert (term.part, accumulate.part) == ("term", "accumulate")
    assert term.status in (prove.FAIL, "UNKNOWN") and accumulate.status == prove.PASS


def test_split_multipliers_are_checked_exhaustively():
    split = [c.pipeline for c in prove.proof_configs() if prove.split_multiplier(c)]
    assert split == [3, 4, 5, 6]


def test_exhaustive_steps_catch_errors():
    assert prove.check_coding("bitwise_2c", "horner", 4) == 16 * 256
    assert prove.check_coding("bitwise", "barrel", 3) == 15 * 256
    # a two's complement train read with the sign-magnitude semantics is caught
    from neurosim.core.coding import encode
    from neurosim.rtl.protocol import frame, spike_events
    W = np.arange(-128, 128)[:, None].astype(np.int8)
    want = np.arange(-128, 128) * -3
    spikes = encode(np.array([[-3]]), "bitwise_2c", 4)[:, 0, :]
    cycles = frame(spike_events(spikes, "bitwise_2c", "barrel", W))
    assert np.array_equal(prove.event_sum(cycles, "bitwise_2c", "barrel", 4, 256), want)
    assert not np.array_equal(prove.event_sum(cycles, "bitwise", "barrel", 4, 256), want)
    cfg = make_config("mac", coding=None, lanes=16, k=24, pipeline=0)
    assert prove.check_products(cfg) == 65536
    with pytest.raises(AssertionError, match=r"a=-128, w=-?\d+ \(valid=1\) is"):
        prove.check_products(cfg, unit_factory=BadProduct)
