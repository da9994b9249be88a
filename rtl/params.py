"""Parameters of the generated units: value ranges, accumulator width, pipeline plans, names.

Everything here is plain Python (no Amaranth), so the builder, the CLI, the testbenches and the
hardware models can reason about a configuration without elaborating it.

Accumulator width
-----------------
A lane computes ``sum_{i<K} c_i * w_i`` with INT8 weights ``w_i`` in [-128, 127] and per-input
values ``c_i`` in the range of the unit's input:

==================  ======================================  ===========================
unit                ``c_i`` range                           default window ``t``
==================  ======================================  ===========================
mac                 [-128, 127] (INT8 activation)           (none)
spike binary        [0, t]        (unary count)             127
spike ternary       [-t, t]       (signed unary count)      127
spike bitwise       [-(2^t - 1), 2^t - 1] (sign-magnitude)  7  (|s| <= 127)
spike bitwise_2c    [-2^(t-1), 2^(t-1) - 1]                 8  (-128..127)
==================  ======================================  ===========================

``acc_min = K * min(c*w)`` and ``acc_max = K * max(c*w)`` over the corners of both ranges, and
``ACC_W`` is the smallest two's-complement width holding [acc_min, acc_max]. Every *intermediate*
accumulator value is inside the same interval: in the barrel variants an input's partial
contribution is ``w`` times a partial bit sum of ``c`` (sign-magnitude: same sign, smaller magnitude;
two's complement: the sign step first, then positive steps, which stays in [-2^(t-1), 2^(t-1)-1]);
in the Horner variants it is ``w`` times the prefix ``floor(c / 2^j)`` of ``c``'s bits, again inside
the count range. So overflow is impossible for any dot product of at most K inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from neurosim import NeurosimError
from neurosim.core.coding import BITWISE, CODINGS, INT8_WINDOW
from neurosim.core.coding import count_range as coding_count_range

DESIGNS = ("mac", "spike")
VARIANTS = ("barrel", "horner")
#: Default window (time steps) per coding: the INT8 range of counts.
DEFAULT_T = INT8_WINDOW
W_MIN, W_MAX = -128, 127          # INT8 weight
A_MIN, A_MAX = -128, 127          # INT8 activation (MAC)
WEIGHT_W = 8
ACT_W = 8
#: Pipeline plans: depth -> (registered stages before the accumulator, accumulator segments).
#: Each step adds one register stage, i.e. one cycle of latency.
PIPELINES = {
    "mac": {
        0: ((), 1),
        1: (("prod",), 1),
        2: (("prod",), 2),
        3: (("mulsplit", "prod"), 2),
        4: (("mulsplit", "prod"), 3),
        5: (("mulsplit4", "pairsum", "prod"), 3),
        6: (("mulsplit4", "pairsum", "prod"), 4),
    },
    "spike": {
        0: ((), 1),
        1: (("term",), 1),
        2: (("term",), 2),
        3: (("term",), 3),
        4: (("term",), 4),
    },
}
MAX_K = 1 << 24
MAX_LANES = 256


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def count_range(design: str, coding: str | None, t: int | None) -> tuple[int, int]:
    """Range of the per-input value ``c`` (activation or spike count) a lane multiplies by ``w``."""
    if design == "mac":
        return A_MIN, A_MAX
    if coding is None or t is None:
        raise NeurosimError("a spiking unit needs a coding and a window t")
    return coding_count_range(coding, t)


def acc_range(design: str, coding: str | None, t: int | None, k: int) -> tuple[int, int]:
    """[acc_min, acc_max]: every value a lane's accumulator can hold for dot products of <= k inputs."""
    clo, chi = count_range(design, coding, t)
    corners = [c * w for c in (clo, chi) for w in (W_MIN, W_MAX)]
    return k * min(min(corners), 0), k * max(max(corners), 0)


@dataclass(frozen=True)
class Config:
    """A validated unit configuration (see :func:`make_config`)."""

    design: str
    coding: str | None
    variant: str | None
    lanes: int
    k: int
    t: int | None
    pipeline: int
    acc_w: int
    acc_min: int
    acc_max: int
    stages: tuple[str, ...]
    segments: int

    @property
    def latency(self) -> int:
        """Cycles from the input cycle of the ``last`` element to the cycle ``done`` is high."""
        return 1 + self.pipeline

    @property
    def gap(self) -> int:
        """Minimum idle cycles between a ``last`` and the next ``clear`` (segmented accumulator)."""
        return self.segments - 1

    @property
    def reset_cycles(self) -> int:
        """Cycles ``rst`` must be held: 2 (zero-when-idle registers, then the accumulators), plus one
        per plain pipeline register between them (MAC pair sums and product, which have no reset
        and take the zeros of the partial products one stage per cycle)."""
        if "mulsplit4" in self.stages:
            return 4
        if "mulsplit" in self.stages:
            return 3
        return 2

    @property
    def sh_w(self) -> int:
        """Width of the barrel variants' shift input (shift amounts 0 .. t-1)."""
        assert self.t is not None, "a spike coding needs its window t"
        return max(1, (self.t - 1).bit_length())

    @property
    def top(self) -> str:
        """The Verilog module name, e.g. ``spike_bitwise_barrel_l16_k2560_t7_p0``."""
        if self.design == "mac":
            return f"mac_l{self.lanes}_k{self.k}_p{self.pipeline}"
        v = f"_{self.variant}" if self.variant else ""
        return f"spike_{self.coding}{v}_l{self.lanes}_k{self.k}_t{self.t}_p{self.pipeline}"

    @property
    def has_neg(self) -> bool:
        """The design has the ``neg`` port (ternary and sign-magnitude bitwise codings)."""
        return self.design == "spike" and self.coding in ("ternary", "bitwise")

    @property
    def has_sh(self) -> bool:
        """The design has the ``sh`` port (barrel variants)."""
        return self.design == "spike" and self.variant == "barrel"

    @property
    def has_step(self) -> bool:
        """The design has the ``step`` port (Horner variants)."""
        return self.design == "spike" and self.variant == "horner"


def _int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise NeurosimError(f"{name} must be an integer, got {value!r}") from None
    if not lo <= value <= hi:
        raise NeurosimError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def make_config(design: str, *, coding: str | None = "bitwise", variant: str | None = None,
                lanes: int = 16, k: int = 2560, t: int | None = None, pipeline: int = 0,
                acc_w: int | None = None) -> Config:
    """Validate parameters and derive ACC_W. Raises :class:`neurosim.NeurosimError` naming the problem.

    ``acc_w`` may force a width; one smaller than the derived minimum is an error (overflow would be
    possible for K inputs), a larger one is accepted.
    """
    if design not in DESIGNS:
        raise NeurosimError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    lanes = _int("lanes", lanes, 1, MAX_LANES)
    k = _int("k", k, 1, MAX_K)
    plans = PIPELINES[design]
    pipeline = _int("pipeline", pipeline, 0, max(plans))
    if design == "mac":
        if variant not in (None, "mac"):
            raise NeurosimError(f"the mac design has no variant (got {variant!r})")
        if t is not None:
            raise NeurosimError("the mac design takes no window t (its activations are INT8)")
        coding, variant = None, None
    else:
        if coding not in CODINGS:
            raise NeurosimError(f"unknown coding {coding!r}; choose one of {', '.join(CODINGS)}")
        if coding in BITWISE:
            variant = variant or "barrel"
            if variant not in VARIANTS:
                raise NeurosimError(f"unknown variant {variant!r} for {coding}; choose barrel or horner")
        elif variant is not None:
            raise NeurosimError(f"coding {coding} has no variant (barrel/horner are for bitwise codings)")
        t = DEFAULT_T[coding] if t is None else t
        t_max = 4096 if coding in ("binary", "ternary") else 16
        t = _int("t", t, 2 if coding == "bitwise_2c" else 1, t_max)
    lo, hi = acc_range(design, coding, t, k)
    need = signed_width(lo, hi)
    if acc_w is None:
        acc_w = need
    else:
        acc_w = _int("acc_w", acc_w, 1, 64)
        if acc_w < need:
            raise NeurosimError(
                f"acc_w={acc_w} is too small for k={k}: dot products reach [{lo}, {hi}], "
                f"which needs {need} bits")
    if acc_w > 64:
        raise NeurosimError(f"k={k} needs a {acc_w}-bit accumulator; at most 64 bits are supported")
    stages, segments = plans[pipeline]     # acc_w >= 8 > segments: every segment has >= 2 bits
    return Config(design, coding, variant, lanes, k, t, pipeline, acc_w, lo, hi, stages, segments)


def segment_bounds(acc_w: int, segments: int) -> list[tuple[int, int]]:
    """[lo, hi) bit ranges of the accumulator segments, least significant first.

    A near-even split, the wider segments at the bottom; with 3 or more segments the top one is at
    least a bit shorter than the bottom one (27 bits: 10/9/8, 7/7/7/6). The bottom segment adds no
    carry; the top one adds a carry and a sign-extension slice driven by one bit: this balances
    their paths (on OSU 0.18 um it lets the 3-segment MAC and spiking arrays meet 500 MHz at 16
    lanes)."""
    base, extra = divmod(acc_w, segments)
    widths = [base + (1 if j < extra else 0) for j in range(segments)]
    if segments >= 3 and widths[-1] > 2 and widths[0] == widths[-1]:
        widths[0] += 1
        widths[-1] -= 1
    bounds, lo = [], 0
    for j in range(segments):
        hi = lo + widths[j]
        bounds.append((lo, hi))
        lo = hi
    return bounds
