"""The design kinds the hardware flow searches (the INT8 MAC and the spiking arrays per coding and
variant) and the ``--coding`` / ``--pipeline`` choices that select them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DesignKind", "MAC", "SPIKE", "DEFAULT_KINDS", "SPIKE_KINDS", "kinds_for", "pipeline_word", "pipelines_for"]


@dataclass(frozen=True)
class DesignKind:
    """One kind of lane array the flow searches; ``name`` keys hw.json's results (``mac@250``)."""

    name: str
    design: str                  # "mac" | "spike"
    coding: str | None = None    # spike coding (None for the MAC)
    variant: str | None = None   # barrel | horner for the bitwise codings

    def emit_kw(self) -> dict:
        """Keywords of :func:`neurosim.rtl.emit` for this kind."""
        return {"coding": self.coding, "variant": self.variant}


MAC = DesignKind("mac", "mac")
SPIKE = DesignKind("spike", "spike", "bitwise", "barrel")
DEFAULT_KINDS = (MAC, SPIKE)
#: every spiking kind of the RTL generator, by the name ``--coding`` uses (``coding[:variant]``)
SPIKE_KINDS = {
    "bitwise": SPIKE,
    "bitwise:horner": DesignKind("spike_bitwise_horner", "spike", "bitwise", "horner"),
    "bitwise_2c": DesignKind("spike_bitwise_2c_barrel", "spike", "bitwise_2c", "barrel"),
    "bitwise_2c:horner": DesignKind("spike_bitwise_2c_horner", "spike", "bitwise_2c", "horner"),
    "ternary": DesignKind("spike_ternary", "spike", "ternary", None),
    "binary": DesignKind("spike_binary", "spike", "binary", None),
}


def kinds_for(codings) -> tuple[DesignKind, ...]:
    """The MAC, the bitwise barrel array (hw.json's ``comparison`` pair, always kept) and the spiking
    kinds named by ``codings`` (``"all"``, or names of :data:`SPIKE_KINDS`: ``bitwise`` = barrel,
    ``bitwise:horner``, ``bitwise_2c``, ...)."""
    from neurosim import NeurosimError
    names = [codings] if isinstance(codings, str) else list(codings)
    if "all" in names:
        names = list(SPIKE_KINDS)
    bad = [n for n in names if n not in SPIKE_KINDS]
    if bad or not names:
        raise NeurosimError(f"--coding: unknown {', '.join(bad) or 'empty list'}; choose all or from "
                            f"{', '.join(SPIKE_KINDS)}")
    return (MAC, SPIKE) + tuple(k for k in dict.fromkeys(SPIKE_KINDS[n] for n in names) if k != SPIKE)


def pipeline_word(word: str) -> str:
    """One word of ``--pipeline``: ``P``, ``P,P,...`` (every kind) or ``KIND=P[,P...]``; a malformed
    word raises ValueError (argparse's ``type=``: a one-line usage error)."""
    kind, _, depths = word.rpartition("=")
    if (kind == "" and "=" in word) or not depths or not all(d.isdigit() for d in depths.split(",")):
        raise ValueError(word)
    return word


def pipelines_for(words, kinds) -> dict | None:
    """``--pipeline`` words -> :func:`search`'s ``pipelines`` ({kind name: [depths]}), or None (every
    depth). ``P[,P]`` restricts every kind, ``KIND=P[,P]`` one kind (by its hw.json name: ``mac``,
    ``spike``, ``spike_bitwise_horner``, ...; a later word wins); a depth the kind's design has not
    (:data:`neurosim.rtl.params.PIPELINES`) is a one-line error."""
    from neurosim import NeurosimError
    from neurosim.rtl.params import PIPELINES
    if not words:
        return None
    names = {k.name: k for k in kinds}
    out: dict[str, list[int]] = {}
    for w in words:
        pipeline_word(w)
        kind, _, depths = w.rpartition("=")
        if kind and kind not in names:
            raise NeurosimError(f"--pipeline {w}: no kind {kind!r} in this run; choose from {', '.join(names)}")
        for name in ([kind] if kind else names):
            out[name] = sorted({int(d) for d in depths.split(",")})
    for name, depths in out.items():
        have = PIPELINES[names[name].design]
        bad = [d for d in depths if d not in have]
        if bad:
            raise NeurosimError(f"--pipeline: {name} has pipeline depths {min(have)}..{max(have)}, got "
                                f"{', '.join(map(str, bad))}")
    return out
