"""``neurosim eval``: float vs INT8 / spike accuracy over many text windows, with 95% intervals.

Windows are drawn deterministically (:mod:`neurosim.run.windows`); for every window the float pass
runs once and every quantizer setting runs against it. Per setting: mean NLL change (nats/token)
and perplexity change ``exp(mean dNLL) - 1``, each with a 95% percentile-bootstrap interval over
windows (the same resamples for every setting, so the difference to the first setting has a paired
interval too), and for the perplexity change also over plays (a cluster bootstrap: the windows of a
source text are not independent); mean KL(fp || quantized) and top-1 agreement; the spike totals
(sparsity in the fixed window, marked mixed beside the common 7-cell basis where windows differ, and
the other definitions of the trace); tokens scored; the energy counts the energy model prices
(``energy_counts``, :func:`neurosim.run.evalstats.energy_counts`). ``confirm_seed`` scores the
chosen settings again on held-out windows (:mod:`neurosim.run.confirm`).

This module runs the evaluation and its command line; the configuration is in
:mod:`neurosim.run.eval_settings`, the projection hook in :mod:`neurosim.run.eval_hook`, the scoring in
:mod:`neurosim.run.eval_score` (in processes: :mod:`neurosim.run.eval_pool`), the result document in
:mod:`neurosim.run.eval_summary` and its Markdown in :mod:`neurosim.run.eval_render`.

Quantizer settings are those of ``neurosim run`` (mode int8|spike, coding, scale, k, clamp, window,
projections, weight_group) plus

- ``smooth: ALPHA`` with ``calib_file`` / ``calib_tokens``: SmoothQuant migration folded into the
  weights (:mod:`neurosim.run.smooth`), calibrated on a text disjoint from the windows (default:
  the first ``calib_tokens`` tokens of The Winter's Tale, which is not an evaluation play);
- ``window_for: {PATTERN: T}``: projections whose weight name matches PATTERN (fnmatch; a pattern
  without wildcards matches as a substring, e.g. ``down_proj``) use a fixed spike window of T
  steps, so their per-token absmax scale has ``levels(T)`` levels (bitwise: 2^T - 1, e.g. 2047 for
  T = 11) instead of 127: the spiking form of mixed precision (weights stay INT8);
- ``rotate: hadamard|random`` (``rotate_seed``): the residual stream rotated by an orthogonal
  matrix folded offline into the weights (:mod:`neurosim.run.rotate`); with ``smooth`` the
  rotation comes first and the smoothing is calibrated on (and folded into) the rotated model
  (smoothing first would be undone: the rotation folds the norm weights, which carry 1/s, back
  into the projections and mixes the channels).

Determinism: every float operation runs with BLAS pinned to one thread
(:func:`neurosim.run.threads.blas_one_thread`, which says why that suffices), so the printed figures
are identical across ``OPENBLAS_NUM_THREADS`` / ``NUMBA_NUM_THREADS`` settings and processes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
from pathlib import Path

from neurosim import NeurosimError
from neurosim.run import evalstats as ES
from neurosim.run.confirm import CHOICE_RULE, chosen_settings, confirmation_windows, window_spans
from neurosim.run.eval_render import confirmation_lines, format_table, render_result, rotation_lines
from neurosim.run.eval_score import Prepared, Scored, Scorer, prepare
from neurosim.run.eval_settings import EvalConfig, QuantSetting, config_from_args
from neurosim.run.eval_summary import summarize

__all__ = ["EVAL_MARKER", "evaluate", "configure", "run", "render_result"]

#: the file that marks an eval output folder (its result document)
EVAL_MARKER = "eval.json"


def evaluate(cfg: EvalConfig, quiet: bool = False) -> dict:
    """Run the evaluation ``cfg`` (validated here); returns the result dict (written to
    ``cfg.out`` when given: eval.json, windows.csv, eval.md, timing.json). With ``cfg.workers`` > 1
    the windows are scored in that many processes, with identical figures. With ``cfg.confirm_seed``
    the chosen settings (:func:`neurosim.run.confirm.chosen_settings`) are scored again on windows drawn
    with that seed, none shared with the first set, under the result's ``confirmation`` key."""
    from neurosim.hostload import load_average
    from neurosim.outdir import OutputFolder

    cfg.validate()
    t_start = time.perf_counter()
    folder = OutputFolder(cfg.out, EVAL_MARKER, "eval") if cfg.out else None
    try:
        prep = prepare(cfg)
        held_out = confirmation_windows(cfg, prep.ckpt, prep.texts, prep.windows, prep.calib, prep.excluded)
        # ---------------------------------------------------------------- all checks done: work
        timing: dict = {}
        scored = score_windows(cfg, prep.windows, prep, quiet, timing, "passes_s")
        result = summarize(cfg, prep, prep.windows, scored)
        rows = scored.rows
        if held_out is not None:
            conf, c_rows = _confirm(cfg, prep, held_out, result, quiet, timing)
            result["confirmation"] = conf
            rows += [{**r, "setting": f"{r['setting']} [confirmation]"} for r in c_rows]
        timing["total_s"] = time.perf_counter() - t_start
        timing["cpus"] = os.cpu_count()
        timing["load_avg"] = load_average()
        if folder is not None:
            _write(folder, result, rows, timing)
        result["_timing"] = timing
        return result
    except BaseException:
        if folder is not None:
            folder.abort()
        raise


def _confirm(cfg: EvalConfig, prep: Prepared, held_out: list, result: dict, quiet: bool,
             timing: dict) -> tuple[dict, list[dict]]:
    """The chosen settings of ``result`` scored on the held-out windows: (their document, their rows)."""
    from dataclasses import replace

    assert cfg.confirm_seed is not None, "a confirmation needs its seed"
    chosen = chosen_settings(result)
    c_cfg = replace(cfg, seed=cfg.confirm_seed, confirm_seed=None,
                    settings=[q for q in cfg.settings if q.label in chosen])
    scored = score_windows(c_cfg, held_out, prep, quiet, timing, "confirm_passes_s")
    conf = summarize(c_cfg, prep, held_out, scored)
    conf["chosen_on"] = {"seed": cfg.seed, "windows": len(prep.windows), "rule": CHOICE_RULE,
                         "shared_windows": len(window_spans(prep.windows) & window_spans(held_out))}
    return conf, scored.rows


def score_windows(cfg: EvalConfig, wins: list, prep: Prepared, quiet: bool, timing: dict, key: str) -> Scored:
    """Score every setting of ``cfg`` on ``wins`` (in ``cfg.workers`` processes when > 1): rows and
    spike records in window order, the energy counts merged over windows, the rotations; the seconds
    go to ``timing[key]``."""
    from tqdm import tqdm

    from neurosim.run.eval_pool import score_in_workers
    from neurosim.run.threads import blas_one_thread

    rows: list[dict] = []
    recs: list[list[dict]] = [[] for _ in cfg.settings]
    kinds: list[dict] = [{} for _ in cfg.settings]
    with blas_one_thread():
        workers = min(cfg.workers, len(wins))
        desc = f"eval, {len(cfg.settings)} setting(s)" + (f", {workers} workers" if workers > 1 else "")
        with tqdm(total=len(wins), desc=desc, unit="window", disable=quiet or None) as bar:   # None: on a terminal only
            t0 = time.perf_counter()
            if workers > 1:
                done, rotations = score_in_workers(cfg, wins, bar)
            else:
                scorer = Scorer(cfg, prep.base, prep.calib)
                timing.update(scorer.timing)
                t0 = time.perf_counter()
                done, rotations = {}, scorer.rotations
                for w in wins:
                    done[w.index] = scorer.score(w, bar)
                    bar.update(1)
            for w in wins:  # window order, whatever order the workers finished in
                wrows, wrecs, wkinds = done[w.index]
                rows += wrows
                for j, r in enumerate(wrecs):
                    recs[j] += r
                    ES.merge_kind_counts(kinds[j], wkinds[j])
            timing[key] = time.perf_counter() - t0
    timing["workers"] = workers
    return Scored(rows, recs, kinds, rotations)


def _write(folder, result: dict, rows: list[dict], timing: dict) -> None:
    """eval.json, windows.csv, eval.md and timing.json into the output folder, then swapped into place."""
    d = folder.building
    (d / EVAL_MARKER).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    buf = io.StringIO()
    cols = ["setting", "window", "source", "offset", "tokens_scored", "nll_fp", "nll_quant", "dnll", "kl", "top1",
            "spikes_per_activation", "sparsity_fixed"]
    wr = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: (repr(r[k]) if isinstance(r[k], float) else r[k]) for k in cols})
    (d / "windows.csv").write_text(buf.getvalue())
    (d / "eval.md").write_text("# neurosim eval\n\n" + render_result(result))
    (d / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")
    folder.commit()

# --------------------------------------------------------------------------- CLI
def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``neurosim eval`` flags (corpus, windows, quantizer settings, output) to ``p``."""
    from neurosim.core.coding import CODINGS
    from neurosim.core.quant import SCALES
    from neurosim.run.settings import WINDOW_HELP, add_quantizer_arguments

    d, q = EvalConfig(), QuantSetting()
    p.add_argument("--model", help="a known model name (neurosim models) or a checkpoint directory "
                   "(default: the embedded SmolLM2-135M-Instruct)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text-file", nargs="+", help="evaluation text file(s) (default: --corpus shakespeare)")
    p.add_argument("--encoding", help=f"encoding of --text-file and --calib-file (default {d.encoding}; "
                                      "other bytes are refused)")
    src.add_argument("--corpus", choices=("shakespeare", "python-stdlib"),
                     help="bundled corpus: shakespeare (10 plays) or python-stdlib (the running Python's standard "
                          "library sources, one window per file); default shakespeare")
    p.add_argument("--windows", type=int, help=f"number of windows (default {d.windows})")
    p.add_argument("--window-tokens", type=int, help=f"tokens per window (default {d.window_tokens})")
    p.add_argument("--seed", type=int, help=f"window selection and bootstrap seed (default {d.seed})")
    p.add_argument("--confirm-seed", type=int, help="also score the chosen settings (the first, those meeting the "
                   "target and the accuracy/spike frontier) on windows drawn with this seed, none shared with --seed's "
                   "(default: no confirmation)")
    p.add_argument("--exclude-windows", metavar="EVAL", help="an earlier eval (its eval.json or folder): draw "
                   "none of its windows, to confirm its choice on held-out windows (same --window-tokens; default: "
                   "exclude none)")
    p.add_argument("--bootstrap", type=int, help=f"bootstrap resamples (default {d.bootstrap})")
    p.add_argument("--dtype", choices=("float32", "float64"), help="float dtype of the model (default float32)")
    p.add_argument("--workers", type=int, help="processes scoring windows, one core each (default 1; "
                   "the figures are identical for any number)")
    p.add_argument("--settings", help="YAML file: eval keys and/or 'settings:', a list of quantizer "
                   "settings (default: the one setting of the flags)")
    p.add_argument("--out", required=True, help="output folder (eval.json, windows.csv, eval.md, timing.json)")
    g = p.add_argument_group("quantizer (as in neurosim run; the base of every --settings entry)")
    g.add_argument("--label", help="name of the setting in the tables (default: from its settings)")
    g.add_argument("--mode", choices=("int8", "spike"), help=f"int8 (dense exact) or spike (default {q.mode})")
    g.add_argument("--coding", choices=CODINGS, help=f"spike coding (default {q.coding})")
    g.add_argument("--scale", choices=SCALES, help=f"activation quantizer (default {q.scale})")
    g.add_argument("--k", type=float, help="adaptive threshold divisor (default 3)")
    g.add_argument("--clamp", help="largest |count| or 'none' (adaptive only; default 127)")
    g.add_argument("--window", type=int, help=WINDOW_HELP)
    g.add_argument("--projections", help="comma-separated fnmatch patterns of quantized weight names (default *)")
    g.add_argument("--weight-group", type=int, help="per-group weight scales of G inputs (default per channel)")
    add_quantizer_arguments(g)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """``neurosim eval``: evaluate every quantizer setting and write ``--out`` (eval.json, eval.md); exit code."""
    cfg = config_from_args(args)
    if not cfg.out:
        raise NeurosimError("--out DIR is required")
    from neurosim.outdir import check_replaceable

    check_replaceable(Path(cfg.out), EVAL_MARKER, "eval")   # before any work
    result = evaluate(cfg, quiet=getattr(args, "quiet", False))
    from neurosim.console import fit

    print(fit("\n".join([format_table(result), *confirmation_lines(result), *rotation_lines(result),
                          f"eval written to {cfg.out} ({result['_timing']['total_s']:.0f} s)"])))
    return 0
