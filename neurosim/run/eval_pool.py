"""Eval windows scored in worker processes (``--workers N``): each worker builds the same scorer
(deterministic), so the figures equal a one-process run's bit for bit."""

from __future__ import annotations

import os

from neurosim.run.eval_score import Scorer, prepare
from neurosim.run.eval_settings import EvalConfig

__all__ = ["score_in_workers"]

_WORKER: Scorer | None = None  #: the scorer of a worker process (built by _worker_init)


def _worker_init(cfg: EvalConfig) -> None:
    """A worker process: BLAS pinned to one thread for its life, the scorer built once; Ctrl-C is
    left to the parent, which stops the workers (no traceback from each of them)."""
    import signal

    from threadpoolctl import threadpool_limits

    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1, user_api="blas")
    prep = prepare(cfg)
    _WORKER = Scorer(cfg, prep.base, prep.calib)


def _worker_score(w) -> tuple:
    assert _WORKER is not None, "the worker's initializer builds the scorer"
    return w.index, *_WORKER.score(w), _WORKER.rotations


def score_in_workers(cfg: EvalConfig, wins, bar) -> tuple[dict, list]:
    """Score the windows in ``cfg.workers`` spawned processes; (window index -> (rows, recs)), rotations.

    Each worker builds the same models (deterministic), so the figures equal a one-process run's bit
    for bit; workers run their numba kernels on one thread each (NUMBA_NUM_THREADS=1 in their
    environment) so that N workers use N cores."""
    import multiprocessing as mp
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed

    saved = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done: dict = {}
    rotations: list = []   # every setting's (the workers all build the same)
    # the workers are spawned (by the submits) with SIGINT blocked, a mask they keep: Ctrl-C reaches
    # the whole process group, and only this process handles it (a Ctrl-C meanwhile waits here)
    mask = getattr(signal, "pthread_sigmask", None)
    unmask = mask(signal.SIG_BLOCK, {signal.SIGINT}) if mask else None
    try:
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(wins)), mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init, initargs=(cfg,)) as pool:
            futs = []
            try:
                futs += [pool.submit(_worker_score, w) for w in wins]
                if mask:
                    mask(signal.SIG_SETMASK, unmask)
                    mask = None
                for f in as_completed(futs):
                    i, rows, recs, kinds, rotations = f.result()
                    done[i] = (rows, recs, kinds)
                    bar.update(1)
            except KeyboardInterrupt:   # do not wait for the windows under way (their futures then
                for proc in list((getattr(pool, "_processes", None) or {}).values()):   # fail, none is
                    proc.terminate()                                                      # cancelled)
                raise
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
    finally:
        if mask:
            mask(signal.SIG_SETMASK, unmask)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return done, rotations
