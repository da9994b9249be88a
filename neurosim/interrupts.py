"""Ctrl-C and SIGTERM in the command line: one KeyboardInterrupt, raised where it cannot tear a pair
of files apart.

:func:`handling` (used by ``neurosim.cli.main``) turns SIGINT and SIGTERM into a KeyboardInterrupt,
once: a second signal while the command unwinds is ignored, so its clean-up (deleting a partial
output folder) finishes. Inside a :func:`deferred` block a signal waits until the block ends (two
files that must agree are both written, a folder swap completes), and so does a signal that comes
while numba's dispatcher runs Python code inside a compiled call. :func:`was_interrupted` tells an
interrupt apart from an error it caused: a compiled (numba) function interrupted between two Python
calls surfaces as a ``SystemError`` chained to the KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

__all__ = ["handling", "deferred", "was_interrupted"]

_state: dict = {"interrupted": False, "deferring": 0, "pending": None}


#: packages whose Python code runs inside a compiled function's call (numba's dispatcher calls back
#: into it to type arguments and box results): an exception raised there can corrupt the call
_COMPILED = tuple(f"{os.sep}{name}{os.sep}" for name in ("numba", "llvmlite"))


def _inside_compiled_call(frame) -> bool:
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _COMPILED):
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame):
    if _state["deferring"]:
        _state["pending"] = signum
        return
    if _state["interrupted"]:
        return
    if _inside_compiled_call(frame):   # the same signal again in 10 ms, once back in plain Python code
        threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
        return
    _state["interrupted"] = True
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def handling(exiting: bool = False):
    """SIGINT and SIGTERM raise one KeyboardInterrupt inside the block (main thread only; a signal
    the shell told this process to ignore, like a background job's SIGINT, stays ignored). With
    ``exiting`` (the process ends after the block) they are ignored after it, so a signal that comes
    once the command is done neither prints a traceback nor kills the finished process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM)
    _state.update(interrupted=False, deferring=0, pending=None)
    before = {s: signal.signal(s, _handler) for s in sigs if signal.getsignal(s) != signal.SIG_IGN}
    try:
        yield
    finally:
        _state["deferring"] += 1   # a signal after the command is done: ignored, not a traceback
        for s, h in before.items():
            signal.signal(s, signal.SIG_IGN if exiting else h)
        _state.update(deferring=0, pending=None)


@contextmanager
def deferred():
    """A signal that arrives inside the block is raised when the block ends (no effect outside
    :func:`handling`, where Python's own handler raises at once)."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        if not _state["deferring"] and _state["pending"] is not None:
            signum, _state["pending"] = _state["pending"], None
            _handler(signum, None)


def was_interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` comes from an interrupt (it is, or is chained to, a KeyboardInterrupt, or a
    signal arrived inside :func:`handling`)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return _state["interrupted"]
