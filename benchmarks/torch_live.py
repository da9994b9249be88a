"""The live tensor bytes of torch work and their peak: :class:`LiveBytes`, a dispatch mode that adds
each operator output's storage when it first appears and takes it off when the storage is freed.

Each storage counts once, whatever the views onto it; a storage made before the mode was entered
(the weights) is not counted, nor is one made while :meth:`LiveBytes.paused` is on. What an
operator allocates and frees inside itself (a kernel's scratch space) is not seen: the peak is that
of the tensors the code holds, the quantity a memory model of the code describes.
"""

from __future__ import annotations

import contextlib
import weakref

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["LiveBytes", "LIST_STEP"]

#: at_peak is listed again when the peak has grown by this fraction since the last listing (a
#: listing at every new peak would cost quadratic time): it is the storages alive within 1% of the peak
LIST_STEP = 0.01


class LiveBytes(TorchDispatchMode):
    """Inside ``with LiveBytes() as lb:``, ``lb.live`` is the bytes of the storages the operators have
    made and that are still alive, ``lb.peak`` its maximum. ``lb.where`` (a label the caller sets)
    is recorded with each storage; ``lb.at_peak`` lists (label, operator, shape, dtype, bytes) of
    the storages alive at the peak (within :data:`LIST_STEP`), largest first; ``reset_peak()`` starts a new peak."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self.where = ""
        self.at_peak: list[tuple] = []
        self._sizes: dict[int, list] = {}   # storage key -> [bytes, label, operator, shape, dtype]
        self._paused = False
        self._listed = 0   # the live bytes when at_peak was last listed

    @contextlib.contextmanager
    def paused(self):
        """Storages made inside are not counted (work that is not part of what is measured)."""
        prev, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = prev

    def reset_peak(self) -> None:
        """The peak from now on (``peak`` = ``live``)."""
        self.peak = self.live
        self._listed = 0
        self.at_peak = []

    def _freed(self, key: int) -> None:
        self.live -= self._sizes.pop(key)[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self._paused:
            return out
        inputs = {t.untyped_storage()._cdata for t in tree_flatten((args, kwargs))[0] if hasattr(t, "untyped_storage")}
        for t in tree_flatten(out)[0]:
            if not hasattr(t, "untyped_storage"):
                continue
            st = t.untyped_storage()
            key = st._cdata
            entry = self._sizes.get(key)
            if entry is None and key in inputs:   # a view or in-place result of a storage not counted
                continue
            n = st.nbytes()
            if entry is None:
                self._sizes[key] = [n, self.where, str(func), tuple(t.shape), str(t.dtype)]
                weakref.finalize(st, self._freed, key)
                self.live += n
            elif entry[0] != n:   # resized in place (an out= operator)
                self.live += n - entry[0]
                entry[0] = n
            else:
                continue
            if self.live > self.peak:
                self.peak = self.live
                if self.live > self._listed * (1 + LIST_STEP) or self.live < self._listed:
                    self._listed = self.live
                    self.at_peak = sorted((tuple(e[1:]) + (e[0],) for e in self._sizes.values()),
                                          key=lambda e: -e[-1])
        return out
