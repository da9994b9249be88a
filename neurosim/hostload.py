"""The host's load average: the context printed beside a measured time."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_average"]


def load_average() -> str:
    """The 1/5/15-minute load averages now ("n/a" off Linux): the context of a measured time."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"
