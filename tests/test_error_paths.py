"""Errors as promised: one line and exit 2 for outputs that cannot be written, bad text, bad settings
(from the command line, YAML and Python); "interrupted" and exit 130 for Ctrl-C at any moment; files
that follow the umask; Verilog that says what it is."""

import os
import random
import signal
import stat
import subprocess
import sys
import time

import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.run import Settings, execute
from neurosim.run.corpus import default_text
from neurosim.run.evalstats import MIN_CI_WINDOWS, interval_shown
from neurosim.run.trace import read_summary

UNWRITABLE = ["/proc/neurosim-out", "/etc/hostname/out"]   # a folder no one may write; a parent that is a file


@pytest.mark.parametrize("where", UNWRITABLE, ids=["proc", "under-a-file"])
@pytest.mark.parametrize("argv", [
    ["run", "--max-tokens", "8", "--trace", "OUT"],
    ["eval", "--windows", "1", "--window-tokens", "8", "--out", "OUT"],
    ["report", "--trace", "TRACE", "--out", "OUT"],
    ["make-checkpoint", "OUT"],
    ["rtl", "--design", "mac", "--lanes", "1", "--k", "16", "--out", "OUT"],
    ["hw", "--lanes", "1", "--out", "OUT"],
    ["energy", "--trace", "TRACE", "--hw", "TRACE", "--out", "OUT"],
    ["sweep", "SPEC", "--out", "OUT"],
], ids=lambda a: a[0])
def test_output_that_cannot_be_written_is_one_line(rejected, tiny, tmp_path, argv, where):
    spec = tmp_path / "spec.yaml"
    spec.write_text("studies:\n  q:\n    run: {max_tokens: 8}\n    points: [{run.coding: bitwise}]\n")
    words = [{"OUT": where, "TRACE": str(tmp_path), "SPEC": str(spec)}.get(w, w) for w in argv]
    if words[0] in ("run", "eval"):
        words += ["--model", str(tiny)]
    t0 = time.monotonic()
    rejected(words, r"(cannot write|not a folder|No such file|Permission denied|Read-only)")
    assert time.monotonic() - t0 < 60   # refused up front, not after the work


def test_clamp_with_absmax_is_refused_before_any_work(rejected, tmp_path):
    """--clamp applies to adaptive scaling; with absmax it is refused before the model is read (the
    model folder does not even exist)."""
    line = rejected(["run", "--model", str(tmp_path / "missing"), "--clamp", "100"],
                    r"clamp 100 applies to --scale adaptive only")
    assert "absmax" in line
    rejected(["eval", "--model", str(tmp_path / "missing"), "--clamp", "64", "--out", str(tmp_path / "e")],
             r"clamp 64 applies to --scale adaptive only")
    assert Settings(scale="adaptive", clamp=100).validate().clamp == 100


def test_text_that_is_not_utf8_is_refused_naming_the_byte(rejected, tiny, tmp_path, capsys):
    f = tmp_path / "latin1.txt"
    f.write_bytes("Caf\u00e9 au lait, d\u00e9j\u00e0 vu. ".encode("latin-1") * 4)
    rejected(["run", "--model", str(tiny), "--text-file", str(f)],
             r"is not utf-8: byte 0xe9 at offset 3 cannot be decoded; give its encoding with --encoding")
    rejected(["eval", "--model", str(tiny), "--text-file", str(f), "--out", str(tmp_path / "e")],
             r"is not utf-8: byte 0xe9 at offset 3")
    rejected(["run", "--model", str(tiny), "--text-file", str(f), "--encoding", "klingon"],
             r"unknown text encoding 'klingon'")
    s = execute(Settings(model=str(tiny), text_file=str(f), encoding="latin-1", mode="fp").validate(), quiet=True)
    assert s["tokens"] > 10


@pytest.mark.parametrize("kw, reason", [
    ({"coding": "bogus"}, r"unknown coding 'bogus'"),
    ({"projections": 5}, r"projections must be a non-empty list"),
    ({"mode": 3}, r"mode must be a string"),
    ({"model": 7}, r"model must be a string"),
    ({"scale": "absmax", "clamp": 50}, r"applies to --scale adaptive only"),
])
def test_execute_validates_its_settings(kw, reason):
    """Settings built in Python (without .validate()) are checked by execute before any work."""
    with pytest.raises(NeurosimError, match=reason):
        execute(Settings(**kw), quiet=True)


def test_yaml_settings_of_the_wrong_type_are_one_line(rejected, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("projections: 5\n")
    rejected(["run", "--config", str(cfg)], r"projections must be a non-empty list of name patterns")


def test_intervals_need_enough_windows():
    assert MIN_CI_WINDOWS == 8
    assert not interval_shown(1) and not interval_shown(7) and interval_shown(8) and interval_shown(32)


# ---------------------------------------------------------------------------- files and the umask
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, tiny, umask):
    """Verilog, manifest.json and trace tiles are made like any other file: 0666 less the umask."""
    old = os.umask(umask)
    try:
        assert main(["rtl", "--design", "spike", "--lanes", "1", "--k", "16", "--quiet", "--out",
                     str(tmp_path / "rtl")]) == 0
        execute(Settings(model=str(tiny), max_tokens=8, tiles=1, trace=str(tmp_path / "trace")).validate(), quiet=True)
    finally:
        os.umask(old)
    files = [p for p in [*(tmp_path / "rtl").iterdir(), *(tmp_path / "trace").rglob("*")] if p.is_file()]
    assert any(p.suffix == ".v" for p in files) and any(p.suffix == ".npz" for p in files)
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p
    for d in [tmp_path / "rtl", tmp_path / "trace", tmp_path / "trace" / "tiles"]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask, d


def test_verilog_starts_with_a_header(tmp_path):
    from neurosim import __version__

    assert main(["rtl", "--design", "spike", "--coding", "ternary", "--lanes", "2", "--k", "16", "--pipeline", "1",
                 "--quiet", "--out", str(tmp_path)]) == 0
    (v,) = tmp_path.glob("*.v")
    text = v.read_text()
    head = text.split("\n\n", 1)[0].splitlines()
    assert all(line.startswith("// ") for line in head)
    assert head[0] == f"// {v.stem}: spiking accumulate lane array, ternary coding, window T=127 steps"
    assert f"neurosim {__version__}" in head[1]
    assert "lanes=2 K=16" in head[2] and "pipeline=1" in head[2]
    assert "latency 2 cycle(s)" in head[3]
    ports = [line.split()[2] for line in head[5:]]
    assert {"clk", "rst", "valid", "clear", "last", "w", "acc", "done"} <= set(ports)
    assert f"module {v.stem}" in text


# ---------------------------------------------------------------------------- Ctrl-C at any moment
@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """The command of a spike run with a trace on the tiny checkpoint and a long text, and how many
    seconds it takes uninterrupted."""
    d = tmp_path_factory.mktemp("interrupt")
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", "--quiet", str(d / "tiny")]) == 0
    (d / "text.txt").write_text(default_text(20000))
    cmd = [sys.executable, "-m", "neurosim", "run", "--model", str(d / "tiny"), "--text-file", str(d / "text.txt"),
           "--max-tokens", "1000", "--tiles", "2", "--trace"]
    t0 = time.monotonic()
    r = subprocess.run(cmd + [str(d / "full")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-1000:]
    seconds = time.monotonic() - t0
    t0 = time.monotonic()   # the interpreter and the package's import, before neurosim's handler is set
    subprocess.run([sys.executable, "-c", "import neurosim.cli"], check=True, timeout=120)
    return cmd, seconds, 2 * (time.monotonic() - t0)


def test_ctrl_c_at_random_moments(tmp_path, long_run, default_sigint):
    """SIGINT at 12 seeded random moments of a run (loading, the float pass, the numba spike kernels,
    writing the trace), from the moment the interpreter has imported the package: every time either
    a finished run (exit 0, a complete trace) or "interrupted" on one line, exit 130, no traceback
    and no folder that looks complete but is not."""
    cmd, seconds, start = long_run
    rng = random.Random(23)
    interrupted = 0
    for i in range(12):
        out = tmp_path / f"t{i}"
        out.mkdir()
        p = subprocess.Popen(cmd + [str(out / "trace")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, preexec_fn=default_sigint)
        time.sleep(rng.uniform(start, seconds))
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=120)[1]
        if p.returncode == 0:
            assert read_summary(out / "trace")["tokens"] == 1000
            continue
        interrupted += 1
        assert p.returncode == 130, err[-2000:]
        assert err.strip().splitlines() == ["neurosim run: interrupted"] or err.strip() == "neurosim: interrupted", \
            err[-2000:]
        left = sorted(x.name for x in out.iterdir())   # nothing, or (interrupted as it swapped in) a whole trace
        assert left == [] or (left == ["trace"] and read_summary(out / "trace")["tokens"] == 1000), left
    assert interrupted >= 8, f"only {interrupted} of 12 runs were interrupted"


def test_python_m_exits_130_after_an_interrupt_inside_a_string_exec(tmp_path):
    """An interrupt that ends a string ``exec`` (dataclasses and numba compile code that way) makes
    ``python -m`` end by SIGINT even once caught; ``python -m neurosim`` still exits 130."""
    (tmp_path / "sitecustomize.py").write_text(
        "import neurosim.cli\n"
        "def build_parser(only):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "neurosim.cli.build_parser = build_parser\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    r = subprocess.run([sys.executable, "-m", "neurosim"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert (r.returncode, r.stderr) == (130, "neurosim: interrupted\n")


def test_a_signal_inside_a_deferred_block_waits_for_its_end(sigint_raises):
    """Two files that must agree (the sweep's table and its CSV, a folder swap) are written whole:
    the interrupt is raised when the block ends, once."""
    from neurosim import interrupts

    done = []
    with interrupts.handling():
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)   # the handler has run: nothing raised yet
                done.append("first file")
                done.append("second file")
        assert done == ["first file", "second file"]
        os.kill(os.getpid(), signal.SIGINT)   # a second signal while unwinding is ignored
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_inside_numba_machinery_is_raised_once_back_in_plain_code(sigint_raises):
    """numba's dispatcher runs Python code (typing, boxing) inside a compiled call; an interrupt
    raised there used to surface as "SystemError: CPUDispatcher(...) returned a result with an
    exception set". The handler lets that code finish and raises the interrupt moments later."""
    from neurosim import interrupts

    code = compile("import sys\nframe = sys._getframe()", f"{os.sep}site-packages{os.sep}numba{os.sep}core.py", "exec")
    scope = {}
    exec(code, scope)
    with interrupts.handling():
        interrupts._handler(signal.SIGINT, scope["frame"])   # inside numba: nothing raised here
        with pytest.raises(KeyboardInterrupt):
            for _ in range(200):
                time.sleep(0.01)                             # plain code: raised within moments
        assert interrupts.was_interrupted(SystemError("a later error"))
