"""The sweep's results: one row per point, kept three ways in the sweep folder.

- ``points/HASH/row.json`` (+ the point's ``run/summary.json``, ``hw/hw.json``, ...): written
  atomically when the point finishes; the truth a rerun resumes from.
- ``results.parquet`` and ``results.csv``: the tidy table of the spec's points, rewritten
  atomically (temporary file + rename) after every finished point, so an interrupt at any moment
  leaves a complete table of what finished.

Columns: ``hash``, ``study``, ``point``, ``status`` (ok | error), ``error`` (one line), the inputs
as ``STAGE.KEY``, the output figures, ``code_version``, ``git_commit``, ``worker``, ``seconds``,
``finished_at`` (UTC ISO time).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

from neurosim import NeurosimError
from neurosim.interrupts import deferred
from neurosim.outdir import file_mode

FIRST = ("hash", "study", "point", "status", "error")
LAST = ("code_version", "git_commit", "worker", "seconds", "finished_at")
TABLE = "results.parquet"
CSV = "results.csv"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())   # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_point(out: Path, row: dict, files: dict[str, str]) -> None:
    """Store one finished point under ``out/points/HASH`` (replacing an earlier attempt)."""
    pts = out / "points"
    pts.mkdir(parents=True, exist_ok=True)
    final = pts / row["hash"]
    tmp = Path(tempfile.mkdtemp(dir=pts, prefix=f".{row['hash']}.partial-"))
    try:
        for rel, text in files.items():
            f = tmp / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        (tmp / "row.json").write_text(json.dumps(row, indent=1, sort_keys=True, default=str) + "\n")
        os.chmod(tmp, 0o755)
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=pts, prefix=f".{row['hash']}.old-"))
            os.replace(final, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_point(out: Path, h: str) -> dict | None:
    """The stored row of point ``h`` (``points/H/row.json`` under ``out``), or None when absent or unreadable."""
    f = Path(out) / "points" / h / "row.json"
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError):
        return None


def _columns(rows: list[dict]) -> list[str]:
    """Identity columns, the inputs (``STAGE.KEY``, in stage order), the figures, provenance."""
    order = ("run", "hw", "eval", "energy")
    seen = list(dict.fromkeys(k for r in rows for k in r))
    inputs = sorted((k for k in seen if k.split(".", 1)[0] in order and "." in k),
                    key=lambda k: (order.index(k.split(".", 1)[0]), k))
    rest = [k for k in seen if k not in FIRST and k not in LAST and k not in inputs]
    return list(FIRST) + inputs + rest + [k for k in LAST if k in seen]


def _column_values(values: list):
    """One type per column: bool, int, float, or text (lists joined by commas)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool", values
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int", values
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float", [None if v is None else float(v) for v in values]
    return "str", [None if v is None else (",".join(map(str, v)) if isinstance(v, list) else str(v))
                   for v in values]


def write_table(out: Path, rows: list[dict]) -> None:
    """Rewrite ``results.parquet`` and ``results.csv`` atomically from ``rows`` (ordered by point)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = sorted(rows, key=lambda r: (r.get("point", 0), r.get("hash", "")))
    cols = _columns(rows)
    arrays, fields = [], []
    typed = {}
    for c in cols:
        kind, vals = _column_values([r.get(c) for r in rows])
        typed[c] = vals
        t = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}[kind]
        arrays.append(pa.array(vals, type=t))
        fields.append(pa.field(c, t))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def write_csv(p: Path):
        with open(p, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for i in range(len(rows)):
                w.writerow(["" if typed[c][i] is None else (repr(typed[c][i]) if isinstance(typed[c][i], float)
                                                            else typed[c][i]) for c in cols])
    with deferred():   # an interrupt waits until both files hold the same rows
        _atomic_write(out / TABLE, lambda p: pq.write_table(table, p))
        _atomic_write(out / CSV, write_csv)


def read_table(out) -> list[dict]:
    """The rows of a sweep folder's ``results.parquet`` (one dict per point)."""
    p = Path(out)
    f = p / TABLE if p.is_dir() else p
    if not f.is_file():
        raise NeurosimError(f"{p} holds no sweep results ({TABLE}); run `neurosim sweep SPEC --out {p}` first")
    import pyarrow.parquet as pq
    try:
        return pq.read_table(f).to_pylist()
    except Exception as exc:  # a damaged or foreign file
        raise NeurosimError(f"cannot read {f}: {str(exc).splitlines()[0]}") from None


__all__ = ["write_point", "read_point", "write_table", "read_table", "TABLE", "CSV"]
