"""``neurosim sweep SPEC.yaml --out DIR``: a design-space sweep on Dask distributed.

One Dask task per point (see :mod:`neurosim.sweep.spec`). Without ``--scheduler`` the command
starts a ``LocalCluster`` of ``--workers`` single-threaded worker processes and shuts it down at the
end; with it, the points go to that scheduler's workers (which need this neurosim installed and
the spec's paths and DIR on a shared file system). Finished points are kept (``DIR/points/HASH``)
and the table rewritten after each (:mod:`neurosim.sweep.table`); a rerun computes only the points
without a successful row. A worker that dies is replaced by its nanny and the point runs again,
at most ``retries`` more times; a point that fails gets an error row and the sweep goes on.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys
import time
from pathlib import Path

from neurosim import NeurosimError
from neurosim.console import fit
from neurosim.outdir import check_replaceable

MARKER = "sweep.json"
CONNECT_TIMEOUT_S = 5
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure(p: argparse.ArgumentParser) -> None:
    """Add the ``neurosim sweep`` arguments (spec, output folder, workers, scheduler) to ``p``."""
    p.add_argument("spec", help="sweep spec (YAML): studies with fixed settings, a grid and/or explicit points")
    p.add_argument("--out", required=True, help="sweep folder (results.parquet, results.csv, points/, sweep.json)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"worker processes of the local cluster (default: the core count, {cores()} here)")
    p.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler (tcp://HOST:8786) instead of a local cluster "
                        "(default: a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _connect(args, retries: int):
    """(client, cluster or None); an unreachable scheduler is a one-line error."""
    import dask
    from distributed import Client, LocalCluster
    dask.config.set({"distributed.scheduler.allowed-failures": retries,
                     "distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S}s"})
    if args.scheduler:
        try:
            return Client(args.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise NeurosimError(f"cannot reach the Dask scheduler at {args.scheduler}: {reason[:200]}") from None
    n = args.workers or cores()
    per = max(1, cores() // n)
    env = {v: os.environ.get(v, str(per)) for v in THREAD_VARS}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.CRITICAL, env=env)
    return Client(cluster, set_as_default=False), cluster


def _dashboard(client) -> str | None:
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:
        return None
    return client.dashboard_link if "dashboard" in services else None


def _atomic_json(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def _make_checkpoints(spec, out: Path) -> dict[str, str]:
    """Make each named checkpoint once into ``out/checkpoints/NAME-HASH``; name -> path."""
    import hashlib
    import io
    from .point import invoke_command
    paths = {}
    used = {s.get("model") for p in spec.points for s in p.settings.values()}
    for name, rec in spec.checkpoints.items():
        if name not in used:
            continue
        h = hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:8]
        path = out / "checkpoints" / f"{name}-{h}"
        if not (path / "config.json").is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            argv = ["make-checkpoint", "--arch", rec["arch"], "--preset", rec["preset"], "--seed", str(rec["seed"]),
                    "--quiet", "--force", str(path)]
            if "dtype" in rec:
                argv[1:1] = ["--dtype", str(rec["dtype"])]
            invoke_command(argv, io.StringIO())
        paths[name] = str(path.resolve())
    return paths


def _payload(point, version: str, ckpt_paths: dict, options: dict, hw_cache: Path) -> dict:
    argv = {st: list(words) for st, words in point.argv.items()}
    for st, w in argv.items():   # a named checkpoint becomes its path
        name = point.settings[st].get("model")
        if name in ckpt_paths and "--model" in w:
            w[w.index("--model") + 1] = ckpt_paths[name]
    return {"hash": point.hash, "code_version": version, "argv": argv,
            "options": {st: options[st] for st in argv}, "hw_cache": str(hw_cache)}


def _synthesis_fills(client, todo, hw_cache: str, retries: int) -> dict[str, list]:
    """One :func:`~neurosim.sweep.point.fill_synthesis` task per synthesis key shared by two or
    more points (point hash -> [its task]): the points wait for it and find their syntheses in the
    cache, instead of running the same Yosys jobs side by side."""
    import hashlib
    from .point import fill_synthesis, synthesis_key
    groups: dict[str, list] = {}
    for p in todo:
        if "hw" in p.argv:
            k = synthesis_key(p.argv["hw"], hw_cache)
            if k is not None:
                groups.setdefault(k, []).append(p)
    out = {}
    for k, pts in groups.items():
        if len(pts) < 2:
            continue
        name = hashlib.sha256(k.encode()).hexdigest()[:16]
        f = client.submit(fill_synthesis, pts[0].argv["hw"], hw_cache, key=f"neurosim-synth-{name}", pure=False,
                          retries=retries)
        for p in pts:
            out[p.hash] = [f]
    return out


def _row(point, result_row: dict, version: str, commit) -> dict:
    row = {"hash": point.hash, "study": point.study, "point": point.index, "status": result_row.get("status"),
           "error": result_row.get("error")}
    row.update(point.inputs())
    row.update({k: v for k, v in result_row.items() if k not in ("status", "error", "worker", "seconds")})
    row.update({"code_version": version, "git_commit": commit, "worker": result_row.get("worker"),
                "seconds": result_row.get("seconds"),
                "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    return row


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _stored_rows(spec, out: Path) -> tuple[dict, list]:
    """(hash -> stored row of every point already in ``out``, the points still to compute: new or failed)."""
    from .table import read_point
    rows, todo = {}, []
    for p in spec.points:
        old = read_point(out, p.hash)
        if old is not None:
            rows[p.hash] = old
        if old is None or old.get("status") != "ok":
            todo.append(p)
    return rows, todo


def _submit(client, todo: list, retries: int, out: Path, payload_args: tuple, futures: list,
            futures_fill: list) -> dict:
    """Submit every point of ``todo`` (after the synthesis runs it shares with others), appending the
    futures to ``futures`` and ``futures_fill``; returns future key -> point."""
    from .point import run_point
    version, ckpt_paths, options = payload_args
    hw_cache = (out / "hw_cache").resolve()
    fills = _synthesis_fills(client, todo, str(hw_cache), retries)
    futures_fill += [f for fs in fills.values() for f in fs]
    by_key = {}
    for p in todo:
        f = client.submit(run_point, _payload(p, version, ckpt_paths, options, hw_cache), *fills.get(p.hash, []),
                          key=f"neurosim-point-{p.hash}", pure=False, retries=retries)
        futures.append(f)
        by_key[f.key] = p
    return by_key


def _failure(exc: BaseException, retries: int) -> str:
    """The error column of a point whose task failed after its retries."""
    from distributed import KilledWorker
    if isinstance(exc, KilledWorker):
        return f"the worker computing this point died {retries + 1} times (retries: {retries})"
    return _one_line(exc) + f" (after {retries} retries)"


def run_sweep(spec_path, out, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> dict:
    """Run (or resume) a sweep; returns {"points", "computed", "reused", "errors", "table"}."""
    from .spec import all_options, available_stages, load_spec
    from .table import write_point, write_table
    from .version import code_version, git_commit

    spec = load_spec(spec_path)
    out = Path(out)
    check_replaceable(out, MARKER, "sweep")
    if workers is not None and workers < 1:
        raise NeurosimError(f"--workers must be >= 1, got {workers}")
    version, commit = code_version(), git_commit()
    parsers = available_stages()
    options = {st: sorted(all_options(parser)) for st, parser in parsers.items()}
    args = argparse.Namespace(workers=workers, scheduler=scheduler)
    client, cluster = _connect(args, spec.retries)
    futures: list = []
    futures_fill: list = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_json(out / MARKER, {"code_version": version, "git_commit": commit,
                                    "spec_text": spec.path.read_text(), **spec.as_dict()})
        ckpt_paths = _make_checkpoints(spec, out)
        rows, todo = _stored_rows(spec, out)
        reused = len(spec.points) - len(todo)
        write_table(out, list(rows.values()))
        dash = _dashboard(client)
        print(fit(f"sweep: {len(spec.points)} points, {reused} already done, {len(todo)} to compute on "
                  f"{len(client.scheduler_info().get('workers', {}))} workers"
                  + (f"; dashboard {dash}" if dash else "")), file=sys.stderr)
        from distributed import as_completed
        from tqdm import tqdm
        by_key = _submit(client, todo, spec.retries, out, (version, ckpt_paths, options), futures, futures_fill)
        errors = 0
        with tqdm(total=len(spec.points), initial=reused, desc="sweep", unit="point",
                  disable=None if progress else True,
                  file=sys.stderr) as bar:
            for fut in as_completed(futures, loop=client.loop):
                p = by_key[fut.key]
                try:
                    res = fut.result()
                    rrow, files = res["row"], res["files"]
                except Exception as exc:  # noqa: BLE001 - every failure is one row, the sweep goes on
                    rrow, files = {"status": "error", "error": _failure(exc, spec.retries)}, {}
                row = _row(p, rrow, version, commit)
                errors += row["status"] != "ok"
                write_point(out, row, files)
                rows[p.hash] = row
                write_table(out, list(rows.values()))
                bar.update(1)
                fut.release()
        return {"points": len(spec.points), "computed": len(todo), "reused": reused, "errors": errors,
                "table": out / "results.parquet"}
    finally:
        try:
            if futures:
                client.cancel(futures + futures_fill)
        except Exception:  # noqa: BLE001 - shutting down
            pass
        client.close(timeout=10)
        if cluster is not None:
            cluster.close(timeout=20)


def run(args) -> int:
    """``neurosim sweep``: run or resume the sweep of ``args.spec`` into ``args.out``; exit code."""
    t0 = time.time()
    res = run_sweep(args.spec, args.out, workers=args.workers, scheduler=args.scheduler,
                    progress=not args.quiet)
    print(fit(f"sweep: {res['points']} points ({res['computed']} computed, {res['reused']} reused, "
              f"{res['errors']} errors) in {time.time() - t0:.1f} s; table {res['table']} and "
              f"{res['table'].with_suffix('.csv')}"))
    return 0


__all__ = ["run_sweep", "configure", "run"]
