"""Trace writer/reader: round trips, atomic replacement, clear errors for bad or old traces."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.run.trace import SCHEMA_VERSION, TraceWriter, read_histograms, read_summary

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**62, 2**62) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=12,
)
names = st.text(st.characters(whitelist_categories=("Ll", "Nd"), whitelist_characters="._"), min_size=1, max_size=20)
hist = st.lists(st.tuples(st.integers(-1000, 1000), st.integers(1, 10**6)), min_size=1, max_size=6, unique_by=lambda t: t[0])


@given(summary=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       hists=st.dictionaries(names, hist, max_size=4))
def test_round_trip(tmp_path_factory, summary, hists):
    out = tmp_path_factory.mktemp("t") / "trace"
    h = {n: (np.array([v for v, _ in pairs]), np.array([f for _, f in pairs])) for n, pairs in hists.items()}
    TraceWriter(out).write(summary, h, {"total_s": 1.0})
    back = read_summary(out)
    assert back.pop("schema_version") == SCHEMA_VERSION
    assert back == {k: v for k, v in summary.items() if k != "schema_version"}
    got = read_histograms(out)
    assert sorted(got) == sorted(h)
    for n in h:
        np.testing.assert_array_equal(got[n][0], h[n][0])
        np.testing.assert_array_equal(got[n][1], h[n][1])


def test_equal_content_equal_bytes(tmp_path):
    s = {"b": 1, "a": [1.5, None]}
    TraceWriter(tmp_path / "x").write(s, {}, {"t": 1})
    TraceWriter(tmp_path / "y").write(dict(reversed(list(s.items()))), {}, {"t": 2})
    assert (tmp_path / "x/summary.json").read_bytes() == (tmp_path / "y/summary.json").read_bytes()


def test_aborted_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with TraceWriter(tmp_path / "t"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_traces(tmp_path):
    with pytest.raises(NeurosimError, match="not found"):
        read_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(NeurosimError, match="not valid JSON"):
        read_summary(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(NeurosimError, match="schema version 0"):
        read_summary(tmp_path)
    with pytest.raises(NeurosimError, match="stats.npz not found"):
        read_histograms(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NeurosimError, match="not a directory"):
        TraceWriter(tmp_path / "file")


PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def test_trace_bytes_identical_across_processes(tmp_path, py, files):
    """`neurosim run` in two processes with different PYTHONHASHSEED (set and dict-of-set orders are
    the usual source of run-to-run differences), into differently named folders: summary.json,
    stats.npz and every tile are byte-identical; only timing.json differs."""
    ckpt = tmp_path / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(ckpt)]) == 0
    outs = []
    for i, hs in enumerate((0, 4242)):
        out = tmp_path / f"OUT{'AB'[i]}"
        py(["-m", "neurosim", "run", "--model", str(ckpt), "--prompt", PROMPT, "--tiles", "2", "--trace", str(out)], hs)
        outs.append(files(out))
    a, b = outs
    assert sorted(a) == sorted(b)
    assert {"summary.json", "stats.npz", "timing.json"} <= set(a) and any(k.startswith("tiles/") for k in a)
    differ = sorted(k for k in a if a[k] != b[k])
    assert differ in ([], ["timing.json"]), differ
    # the output location is not part of the summary
    assert b"OUTA" not in a["summary.json"] and b"OUTB" not in b["summary.json"]
