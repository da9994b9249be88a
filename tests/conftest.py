"""Shared test set-up: the hypothesis profiles and the fixtures several test files use."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from neurosim.cli import main
from neurosim.vectors import prefer_wide_vectors

prefer_wide_vectors()   # the kernels compile as the command line's do

ROOT = Path(__file__).resolve().parent.parent

# CI runs a moderate number of examples; NEUROSIM_PROFILE=long runs many more locally.
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("NEUROSIM_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny SpB2.0 checkpoint (MoBA, full and SSE+SWA layers), made once per session."""
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A tiny random Llama checkpoint, made once per session (read only by the tests)."""
    out = tmp_path_factory.mktemp("ckpt") / "llama"
    assert main(["make-checkpoint", "--arch", "llama", "--preset", "tiny", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny):
    """The tiny checkpoint loaded as a Model; its MoBA block and SWA window are 8 tokens."""
    from neurosim.model import Model, load_checkpoint
    ckpt = load_checkpoint(tiny)
    attn = ckpt.config["attn"]
    assert attn["moba_chunk_size"] == 8 and attn["window_size"] == 8     # the edges tests rely on
    return Model(ckpt)


@pytest.fixture(scope="session")
def trace(tiny, tmp_path_factory):
    """A 16-token spike trace of the tiny checkpoint with one tile (the energy tests' input)."""
    out = tmp_path_factory.mktemp("trace") / "trace"
    assert main(["run", "--model", str(tiny), "--max-tokens", "16", "--tiles", "1", "--trace", str(out)]) == 0
    return out


@pytest.fixture
def rejected(capsys):
    """``rejected(argv, reason, *absent)``: run the CLI in-process; assert exit status 2, one error
    line ``neurosim <command>: error: ...`` matching ``reason`` (a regex), nothing on stdout and
    none of ``absent`` created. Returns the error line."""
    def check(argv: list[str], reason: str, *absent: Path) -> str:
        try:
            rc = main(argv)
        except SystemExit as exc:          # argparse's own errors
            rc = exc.code
        cap = capsys.readouterr()
        command = argv[0]
        assert rc == 2, (rc, cap.err)
        assert cap.out == "", cap.out
        lines = cap.err.splitlines()
        assert len(lines) == 1, f"expected one error line, got:\n{cap.err}"
        assert lines[0].startswith(f"neurosim {command}: error: "), lines[0]
        assert re.search(reason, lines[0]), (reason, lines[0])
        for p in absent:
            assert not p.exists(), f"{p} was created by a rejected command"
        return lines[0]
    return check


@pytest.fixture(scope="session")
def py():
    """``py(args, hashseed, timeout=300)``: run ``python *args`` from the repository root with the
    given PYTHONHASHSEED; assert it succeeds; return the CompletedProcess."""
    def run(code_or_args: list[str], hashseed: int, timeout: float = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
        r = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, cwd=ROOT, env=env,
                           timeout=timeout)
        assert r.returncode == 0, r.stderr[-1500:]
        return r
    return run


@pytest.fixture(scope="session")
def files():
    """``files(folder)``: {relative path: bytes} of every file under ``folder``."""
    def read(d: Path) -> dict[str, bytes]:
        return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
    return read


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)   # a background shell job starts with SIGINT ignored


@pytest.fixture(scope="session")
def default_sigint():
    """A ``preexec_fn`` for a child that must die on SIGINT (a background job starts with it ignored)."""
    return _default_sigint


@pytest.fixture
def sigint_raises():
    """The same in this process for one test: SIGINT raises KeyboardInterrupt (``interrupts.handling``
    rightly leaves a signal the job inherited ignored, ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
