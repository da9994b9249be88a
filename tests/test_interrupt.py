"""Killing `neurosim run` mid-way (SIGINT, SIGTERM) leaves nothing that looks complete; a rerun works."""

import signal
import subprocess
import sys

import pytest

from neurosim.cli import main
from neurosim.run.corpus import default_text
from neurosim.run.trace import read_summary


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # a background shell job starts with SIGINT ignored


@pytest.fixture(scope="module")
def slow_input(tmp_path_factory):
    """The tiny SpB2.0 checkpoint and a long text: a run of a few seconds that can be interrupted."""
    d = tmp_path_factory.mktemp("slow")
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(d / "tiny")]) == 0
    (d / "text.txt").write_text(default_text(40000))
    return d


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_trace(tmp_path, sig, slow_input):
    out = tmp_path / "trace"
    cmd = [sys.executable, "-m", "neurosim", "run", "--trace", str(out), "--model", str(slow_input / "tiny"),
           "--text-file", str(slow_input / "text.txt"), "--max-tokens", "3000"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         preexec_fn=_default_sigint)
    seen = ""
    while "spike pass" not in seen:  # wait until the quantized pass (and the partial trace) is under way
        ch = p.stderr.read(1)
        assert ch, f"run ended before the spike pass: {seen[-500:]}"
        seen += ch
    assert list(tmp_path.glob(".trace.partial-*")), "the partial trace directory should exist mid-run"
    p.send_signal(sig)
    rest = p.communicate(timeout=120)[1]
    assert p.returncode == 130, rest[-500:]
    assert "interrupted" in rest
    assert not out.exists()
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())
    # a rerun succeeds
    r = subprocess.run(cmd + ["--tiles", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-500:]
    assert read_summary(out)["tokens"] == 3000
