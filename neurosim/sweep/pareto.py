"""Pareto frontiers of the sweep table (pure Python, no Dask)."""

from __future__ import annotations

import math


def pareto_mask(xs, ys, minimize_x: bool = True, minimize_y: bool = True) -> list[bool]:
    """True where a point is Pareto-optimal: no other point is at least as good in both figures
    and better in one. Points with a missing or non-finite figure are never optimal."""
    pts = []
    for x, y in zip(xs, ys):
        ok = x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
        pts.append(((x if minimize_x else -x), (y if minimize_y else -y)) if ok else None)
    mask = []
    for i, a in enumerate(pts):
        if a is None:
            mask.append(False)
            continue
        dominated = any(b is not None and j != i and b[0] <= a[0] and b[1] <= a[1] and (b[0] < a[0] or b[1] < a[1])
                        for j, b in enumerate(pts))
        mask.append(not dominated)
    return mask


__all__ = ["pareto_mask"]
