"""One sweep point, as a Dask task: run the point's neurosim commands in-process through their
command-line entry points, in a private temporary folder, and read their output files
(``summary.json`` of ``neurosim run --trace``, ``hw.json`` of ``neurosim hw --out``, the JSON files of
later commands). Only these file formats are relied on.

A bad setting (:class:`neurosim.NeurosimError`) is a result: an error row with its one-line reason.
Any other exception propagates, so Dask retries the point (``retries=``); a worker that dies is
replaced by its nanny and the scheduler runs the point elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from neurosim import NeurosimError

#: summary.json totals copied into the table (fractions are 0..1)
RUN_TOTALS = ("sparsity_fixed", "sparsity_data", "sparsity_window3", "spikes_per_activation",
              "zero_fraction", "silent_channel_fraction", "events", "spikes", "accumulates", "dense_macs",
              "accumulates_per_dense_mac", "activations", "clamped", "projections", "T_fixed")
RUN_ACCURACY = ("top1_agreement", "mean_kl", "ppl_fp", "ppl_quant", "ppl_change", "positions")
#: output files each stage's folder must hold (stages without an entry: every *.json there)
STAGE_FILES = {"run": ("summary.json",), "hw": ("hw.json", "hw.md"), "eval": ("eval.json", "eval.md"),
               "energy": ("energy.json", "energy.md")}


def wilson(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``p`` over ``n`` trials."""
    if not n:
        return (float("nan"), float("nan"))
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def run_figures(summary: dict) -> dict:
    """The table's figures from one ``summary.json``."""
    out = {"tokens": summary.get("tokens")}
    tot = summary.get("totals") or {}
    for k in RUN_TOTALS:
        if k in tot:
            out[k] = tot[k]
    acc = summary.get("accuracy") or {}
    for k in RUN_ACCURACY:
        if k in acc:
            out[k] = acc[k]
    if "top1_agreement" in acc:
        n = int(acc.get("positions") or max(0, int(summary.get("tokens") or 0) - 1))
        out["top1_ci95_low"], out["top1_ci95_high"] = wilson(float(acc["top1_agreement"]), n)
    return out


def _power_block(comp: dict) -> tuple[str | None, dict]:
    for label in ("gspecify", "zero_delay"):
        g = comp.get(label) or {}
        if "energy_per_mac_eq_pj" in g:
            return label, g
    return None, {}


def hw_figures(hw: dict) -> dict:
    """The table's figures from one ``hw.json``: per clock, area, slack, pipeline, power and energy
    of both arrays. Columns carry ``@MHZ``; the highest clock's figures also appear without it."""
    out = {"hw_spikes_per_activation": hw.get("measured_spikes_per_activation"),
           "hw_syntheses_run": (hw.get("run") or {}).get("syntheses_run")}
    comps = hw.get("comparison") or {}
    res = hw.get("results") or {}
    keys = sorted(comps, key=float)
    for fk in keys:
        c = comps[fk]
        row = {"area_spike_um2": c.get("area_spike_um2"), "area_mac_um2": c.get("area_mac_um2"),
               "area_reduction_pct": c.get("area_reduction_pct"), "both_meet_timing": c.get("both_meet_timing")}
        for d in ("spike", "mac"):
            r = res.get(f"{d}@{fk}") or {}
            row[f"slack_{d}_ns"] = r.get("slack_ns")
            row[f"fmax_{d}_mhz"] = r.get("fmax_mhz")
            row[f"pipeline_{d}"] = r.get("pipeline")
        label, g = _power_block(c)
        row["power_sim"] = label
        if g:
            e = g.get("energy_per_mac_eq_pj") or {}
            pw = g.get("power_mw") or {}
            row.update({
                "energy_per_mac_eq_spike_pj": e.get("spike_event_driven"),
                "energy_per_mac_eq_mac_pj": e.get("mac"),
                "energy_reduction_pct": g.get("energy_reduction_equal_work_pct"),
                "power_spike_busy_mw": pw.get("spike_busy"), "power_mac_busy_mw": pw.get("mac_busy"),
                "power_reduction_pct": g.get("power_reduction_equal_clock_busy_pct"),
            })
        for k, v in row.items():
            out[f"{k}@{fk}"] = v
    if keys:
        out["hw_freq_mhz"] = float(keys[-1])
        for k, v in list(out.items()):
            if k.endswith(f"@{keys[-1]}"):
                out[k[: -len(f"@{keys[-1]}")]] = v
    return out


def _ci(out: dict, name: str, v) -> None:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        out[f"{name}_ci95_low"], out[f"{name}_ci95_high"] = float(v[0]), float(v[1])


def eval_figures(doc: dict) -> dict:
    """The table's figures from one ``eval.json``: the point's quantizer setting (the first entry)
    with its bootstrap intervals, as ``eval_*`` columns."""
    out: dict = {}
    ss = doc.get("settings") or []
    if not ss:
        return out
    s = ss[0]
    for k, v in s.items():
        if k.endswith("_ci"):
            _ci(out, f"eval_{k[:-3]}", v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"eval_{k}"] = v
    for k, v in (s.get("totals") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"eval_{k}"] = v
    return out


def _slug(name: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())


def energy_figures(doc: dict) -> dict:
    """The table's figures from one ``energy.json``: energy per token [pJ] (total and per
    MAC-equivalent) of each design, by its name (``energy_per_token_mac_dense_pj``,
    ``energy_per_token_spike_bitwise_barrel_row_held_pj``, ...); ``energy_per_token_spike_pj`` /
    ``energy_per_token_mac_pj`` are the first spiking and the first MAC design
    (``energy_design_spike`` / ``energy_design_mac`` name them)."""
    out = {}
    for d in doc.get("designs") or []:
        name = _slug(d.get("name") or d.get("dataflow") or "")
        tot = (d.get("per_token") or {}).get("total_pj")
        out[f"energy_per_token_{name}_pj"] = tot
        out[f"energy_per_mac_eq_{name}_pj"] = d.get("per_mac_eq_pj")
        out.setdefault(f"energy_per_token_{d.get('design')}_pj", tot)
        out.setdefault(f"energy_design_{d.get('design')}", d.get("name"))
    for k in ("tokens", "nonzero_fraction", "dense_macs_per_token"):
        if isinstance(doc.get(k), (int, float)):
            out[f"energy_{k}"] = doc[k]
    return out


def flat_figures(stage: str, doc, prefix: str = "") -> dict:
    """Every number and word at the leaves of a JSON document (lists left out), as STAGE:PATH."""
    out = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(flat_figures(stage, v, f"{prefix}{k}."))
    elif isinstance(doc, (int, float, str, bool)) or doc is None:
        out[f"{stage}:{prefix[:-1]}"] = doc
    return out


def invoke_command(argv: list[str], log: io.StringIO) -> None:
    """One neurosim command through its entry point: the command module's ``configure`` and
    ``run`` (as ``neurosim.cli`` calls them), its output into ``log``."""
    from .spec import command_parser
    module, parser = command_parser(argv[0])
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        args = parser.parse_args(argv[1:])
        rc = int(module.run(args) or 0)
    if rc != 0:
        lines = [ln for ln in log.getvalue().splitlines() if ln.strip()]
        raise NeurosimError(f"neurosim {argv[0]} exited with {rc}: " + (lines[-1] if lines else ""))


def _hw_args(words: list[str], hw_cache: str | None):
    from .spec import command_parser
    argv = ["--out", "unused", *words]
    if "--cache" not in words and hw_cache:
        argv += ["--cache", hw_cache]
    return command_parser("hw")[1].parse_args(argv)


def synthesis_key(words: list[str], hw_cache: str | None) -> str | None:
    """The synthesis settings of a point's ``neurosim hw`` flags (``words``, run with ``hw_cache`` as
    its cache unless it names one) as a key, or None when the flags are bad (the point reports
    that itself): points with one key run identical syntheses
    (:func:`neurosim.hwmodels.cli.synthesis_settings`)."""
    from neurosim.hwmodels.cli import synthesis_settings
    try:
        return json.dumps(synthesis_settings(_hw_args(words, hw_cache)), sort_keys=True)
    except NeurosimError:
        return None


def fill_synthesis(words: list[str], hw_cache: str | None) -> dict:
    """A Dask task run once per synthesis key before the points that share it: the search stage of
    ``neurosim hw`` alone, into the shared cache (:func:`neurosim.hwmodels.cli.fill_cache`).
    A bad setting is returned, not raised: the points then run and report it."""
    from neurosim.hwmodels.cli import fill_cache
    t0 = time.time()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            n = fill_cache(_hw_args(words, hw_cache))
        return {"syntheses_run": n, "error": None, "seconds": round(time.time() - t0, 3)}
    except NeurosimError as exc:
        return {"syntheses_run": None, "error": " ".join(str(exc).split()), "seconds": round(time.time() - t0, 3)}


#: prefix of a point's scratch folder in the temporary directory; the owner's process id follows
SCRATCH_PREFIX = "neurosim-sweep-"


def remove_stale_scratch(tmpdir: str | None = None) -> int:
    """Remove the scratch folders of points whose worker process has died (a worker killed mid-point
    cannot remove its own); returns how many were removed. Folders of live processes stay."""
    removed = 0
    for d in Path(tmpdir or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-p*-*"):
        try:
            pid = int(d.name.rsplit("-p", 1)[1].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        except (ValueError, IndexError, PermissionError):
            continue
    return removed


def run_point(payload: dict, *after) -> dict:
    """Compute one point. ``payload``: ``hash``, ``code_version``, ``argv`` (stage -> flags),
    ``hw_cache`` (shared synthesis cache folder); ``after``: results of tasks it waits for (its
    :func:`fill_synthesis`), unused. Returns ``{"row", "files"}``: the row's figures
    and the output files' texts (path relative to the point's folder -> text)."""
    from .version import code_version
    t0 = time.time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    base = {"worker": worker}
    mine = code_version()
    if mine != payload["code_version"]:
        return {"row": {**base, "status": "error", "seconds": 0.0,
                        "error": f"worker code version {mine} differs from the client's {payload['code_version']}"},
                "files": {}}
    remove_stale_scratch()
    tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{payload['hash']}-p{os.getpid()}-"))
    files: dict[str, str] = {}
    row: dict = {}
    log = io.StringIO()
    stage = None
    try:
        outs = {}
        for stage, words in payload["argv"].items():
            argv = [stage, *words]
            if stage == "run":
                outs["run"] = tmp / "trace"
                argv += ["--trace", str(outs["run"])]
            else:
                outs[stage] = tmp / stage
                argv += ["--out", str(outs[stage])]
                opts = payload.get("options", {}).get(stage, [])
                if "trace" in opts and "run" in outs:
                    argv += ["--trace", str(outs["run"])]
                if "hw" in opts and "hw" in outs:
                    argv += ["--hw", str(outs["hw"])]
                if "quiet" in opts:
                    argv += ["--quiet"]
                if stage == "hw" and "--cache" not in words and payload.get("hw_cache"):
                    argv += ["--cache", payload["hw_cache"]]
            invoke_command(argv, log)
            names = STAGE_FILES.get(stage) or sorted(p.name for p in outs[stage].glob("*.json"))
            for name in names:
                f = outs[stage] / name
                if not f.is_file():
                    raise NeurosimError(f"neurosim {stage} wrote no {name}")
                files[f"{stage}/{name}"] = f.read_text()
            for name in names:
                if not name.endswith(".json"):
                    continue
                doc = json.loads(files[f"{stage}/{name}"])
                if stage == "run":
                    row.update(run_figures(doc))
                elif stage == "hw":
                    row.update(hw_figures(doc))
                elif stage == "eval":
                    row.update(eval_figures(doc))
                elif stage == "energy":
                    row.update(energy_figures(doc))
                else:
                    row.update(flat_figures(stage, doc))
        row.update(base, status="ok", error=None)
    except NeurosimError as exc:
        msg = " ".join(str(exc).split())
        row = {**base, "status": "error", "error": f"neurosim {stage}: {msg}" if stage else msg}
        files = {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    row["seconds"] = round(time.time() - t0, 3)
    return {"row": row, "files": files}


__all__ = [
    "run_point",
    "remove_stale_scratch",
    "synthesis_key",
    "fill_synthesis",
    "run_figures",
    "hw_figures",
    "eval_figures",
    "energy_figures",
    "flat_figures",
    "wilson",
    "invoke_command",
]
