"""neurosim run on the tiny SpB2.0 checkpoint: all modes, spike == int8 bit for bit, the trace;
impossible settings, foreign output folders, interrupted runs."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.core.coding import decode
from neurosim.run import Settings, execute
from neurosim.run.corpus import default_text
from neurosim.run.tiles import list_tiles, read_tile
from neurosim.run.trace import SCHEMA_VERSION, read_histograms, read_summary

PROMPT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


def run_quiet(**kw):
    return execute(Settings(**kw).validate(), quiet=True)


@pytest.mark.parametrize("coding", ["bitwise", "bitwise_2c", "ternary"])
def test_spike_logits_identical_to_int8(tiny, coding, tmp_path):
    a = run_quiet(model=str(tiny), prompt=PROMPT, mode="int8", coding=coding, trace=str(tmp_path / "a"))
    b = run_quiet(model=str(tiny), prompt=PROMPT, mode="spike", coding=coding, trace=str(tmp_path / "b"))
    assert a["accuracy"] == b["accuracy"]
    # identical integers -> identical statistics; int8 mode predicts the events from the counts,
    # spike mode reports what the engine consumed: they must agree
    assert a["totals"] == b["totals"] and a["layers"] == b["layers"]
    assert b["totals"]["events"] > 0


def test_all_layer_kinds_and_modes(tiny):
    fp = run_quiet(model=str(tiny), prompt=PROMPT, mode="fp")
    assert "layers" not in fp and fp["accuracy"]["ppl_fp"] > 1
    sp = run_quiet(model=str(tiny), prompt=PROMPT, mode="spike")
    kinds = {L["kind"] for L in sp["layers"]}
    assert {"moba", "full", "sse_swa"} <= kinds
    sse = next(L for L in sp["layers"] if L["kind"] == "sse_swa")
    names = {p["name"].rsplit(".", 2)[-2] for p in sse["projections"]}
    assert {"sse_q_proj", "swa_q_proj", "sse_o_proj"} <= names
    acc = sp["accuracy"]
    assert 0 <= acc["top1_agreement"] <= 1 and acc["mean_kl"] >= 0
    assert acc["ppl_fp"] == pytest.approx(fp["accuracy"]["ppl_fp"])
    for L in sp["layers"]:
        for p in L["projections"]:
            assert p["accumulates"] == p["events"] * p["out_features"]
            assert p["dense_macs"] == p["tokens"] * p["in_features"] * p["out_features"]
            assert 0 <= p["sparsity_data"] <= 1


def test_trace_contents(tiny, tmp_path):
    out = tmp_path / "trace"
    assert main(["run", "--model", str(tiny), "--prompt", PROMPT, "--trace", str(out), "--tiles", "3"]) == 0
    s = read_summary(out)
    assert s["schema_version"] == SCHEMA_VERSION
    hist = read_histograms(out)
    first = s["layers"][0]["projections"][0]
    values, freq = hist[first["name"]]
    assert freq.sum() == first["activations"]
    assert freq[values == 0].sum() / first["activations"] == pytest.approx(first["zero_fraction"])
    tiles = list_tiles(out / "tiles")
    assert len(tiles) == 3 and [t.name for t in tiles] == s["tiles"]
    for t in tiles:
        tile = read_tile(t)  # validates expected == int_linear
        np.testing.assert_array_equal(decode(tile["spikes"], tile["coding"]), tile["counts"])
        assert tile["w_int"].shape[0] == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_trace_is_deterministic(tiny, tmp_path):
    for name in ("a", "b"):
        assert main(["run", "--model", str(tiny), "--prompt", PROMPT, "--trace", str(tmp_path / name)]) == 0
    assert (tmp_path / "a/summary.json").read_bytes() == (tmp_path / "b/summary.json").read_bytes()
    assert (tmp_path / "a/stats.npz").read_bytes() == (tmp_path / "b/stats.npz").read_bytes()


def test_yaml_config_and_flag_override(tiny, tmp_path):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(f"model: {tiny}\nprompt: hello there general\nmode: int8\nscale: adaptive\nk: 8\nclamp: none\n"
                   "coding: ternary\nprojections: '*mlp*'\n")
    out = tmp_path / "t"
    assert main(["run", "--config", str(cfg), "--coding", "bitwise", "--trace", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    st = s["settings"]
    assert (st["mode"], st["scale"], st["k"], st["clamp"], st["coding"]) == ("int8", "adaptive", 8, None, "bitwise")
    names = [p["name"] for L in s["layers"] for p in L["projections"]]
    assert names and all(".mlp." in n for n in names)


@pytest.mark.parametrize("argv, msg", [
    (["--mode", "spike", "--window", "5"], "window T=5 is too small"),
    (["--scale", "absmax", "--clamp", "none"], "applies to --scale adaptive only"),
    (["--max-tokens", "0"], "max_tokens must be"),
    (["--coding", "binary"], "binary coding cannot"),
    (["--scale", "adaptive", "--clamp", "none", "--window", "8"], "needs bounded counts"),
])
def test_impossible_settings_rejected(tiny, tmp_path, capsys, argv, msg):
    out = tmp_path / "t"
    assert main(["run", "--model", str(tiny), "--trace", str(out)] + argv) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_yaml_key_suggests(tmp_path, capsys):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("codding: bitwise\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "did you mean 'coding'" in capsys.readouterr().err


def test_failed_run_leaves_no_trace(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["run", "--model", str(tmp_path / "missing"), "--trace", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_rerun_replaces_trace(tiny, tmp_path):
    out = tmp_path / "t"
    assert main(["run", "--model", str(tiny), "--prompt", "one two", "--trace", str(out)]) == 0
    assert main(["run", "--model", str(tiny), "--prompt", PROMPT, "--trace", str(out)]) == 0
    assert read_summary(out)["tokens"] > 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


def test_settings_validation_direct():
    with pytest.raises(NeurosimError, match="unknown coding"):
        Settings(coding="morse").validate()


def test_numeric_guards_one_token_and_long_sequence(tiny):
    one = run_quiet(model=str(tiny), prompt="a", mode="spike")
    assert one["tokens"] == 1
    assert "ppl_fp" not in one["accuracy"] and one["accuracy"]["positions"] == 1
    assert 0 <= one["totals"]["sparsity_data"] <= 1
    # longer than the MoBA block (8) and the SWA window (8) of the tiny preset: blocks are selected
    long = run_quiet(model=str(tiny), prompt=PROMPT * 3, mode="spike")
    assert long["tokens"] > 3 * 8
    assert all(np.isfinite(v) for v in (long["accuracy"]["mean_kl"], long["accuracy"]["ppl_quant"]))


def test_adaptive_huge_outliers_burst_without_clamping(tiny):
    s = run_quiet(model=str(tiny), prompt=PROMPT, mode="spike", scale="adaptive", k=64.0, clamp=None)
    t = s["totals"]
    assert t["clamped"] == 0 and t["T_fixed"] is None  # counts beyond INT8: no fixed INT8 window
    assert max(p["T_data"] for L in s["layers"] for p in L["projections"]) > 7
    c = run_quiet(model=str(tiny), prompt=PROMPT, mode="spike", scale="adaptive", k=64.0, clamp=127)
    assert c["totals"]["clamped"] > 0 and c["totals"]["T_fixed"] == 7


def test_generate_in_spike_mode(tiny, capsys):
    assert main(["run", "--model", str(tiny), "--prompt", PROMPT, "--generate", "3", "--mode", "spike"]) == 0
    out = capsys.readouterr().out
    assert "generated: " in out
    s = run_quiet(model=str(tiny), prompt=PROMPT, generate=3, mode="int8")
    t = run_quiet(model=str(tiny), prompt=PROMPT, generate=3, mode="spike")
    assert len(s["generated"]["ids"]) == 3 and s["generated"] == t["generated"]


# -- impossible settings of the command line, and output folders that must not be written over ------

def test_run_unknown_coding_in_yaml(tmp_path, rejected):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("coding: morse\n")
    out = tmp_path / "trace"
    rejected(["run", "--config", str(cfg), "--trace", str(out)], r"unknown coding 'morse'.*bitwise", out)


def test_run_unknown_coding_flag(tmp_path, rejected):
    out = tmp_path / "trace"
    rejected(["run", "--coding", "morse", "--trace", str(out)], r"invalid choice: 'morse'", out)


def test_run_refuses_to_replace_a_foreign_folder(tmp_path, capsys, rejected):
    ckpt = tmp_path / "tiny"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(ckpt)]) == 0
    capsys.readouterr()
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    try:
        rejected(["run", "--model", str(ckpt), "--prompt", "hello there", "--trace", str(out)], r"not a trace")
    finally:
        assert (out / "notes.txt").is_file(), "neurosim run --trace deleted an unrelated folder's contents"


# -- killed mid-way (SIGINT, SIGTERM): nothing that looks complete is left; a rerun works ------------

@pytest.fixture(scope="module")
def slow_input(tmp_path_factory):
    """The tiny SpB2.0 checkpoint and a long text: a run of a few seconds that can be interrupted."""
    d = tmp_path_factory.mktemp("slow")
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(d / "tiny")]) == 0
    (d / "text.txt").write_text(default_text(40000))
    return d


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_trace(tmp_path, sig, slow_input, default_sigint):
    out = tmp_path / "trace"
    cmd = [sys.executable, "-m", "neurosim", "run", "--trace", str(out), "--model", str(slow_input / "tiny"),
           "--text-file", str(slow_input / "text.txt"), "--max-tokens", "3000"]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                         preexec_fn=default_sigint)
    t0 = time.monotonic()
    while not list(tmp_path.glob(".trace.partial-*/tiles/*.npz")):   # the spike pass is writing tiles
        assert p.poll() is None, f"run ended before the spike pass: {p.stderr.read()[-500:]}"
        assert time.monotonic() - t0 < 240, "no tile written within 240 s"
        time.sleep(0.02)
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


# ------------------------------------------------------------------ quantizer keys shared with eval
@pytest.fixture(scope="module")
def llama(tiny_llama):
    return tiny_llama


CALIB = "A completely different calibration text about spikes, chips, tiles and lanes. " * 20


@pytest.mark.parametrize("argv, msg", [
    (["--rotate", "hadamard"], r"rotation does not fold into sse_swa_moba SSE\+SWA layers"),
    (["--mode", "fp", "--smooth", "0.5"], "need --mode int8 or spike"),
    (["--mode", "fp", "--rotate", "hadamard"], "need --mode int8 or spike"),
    (["--window-for", "nomatch=11"], "window_for pattern 'nomatch' matches no projection"),
    (["--window-for", "down_proj"], "takes PATTERN=T"),
    (["--window-for", "down_proj=40"], r"T must be an integer in \[1, 16\]"),
    (["--smooth", "1.5"], r"must be a number in \[0, 1\]"),
    (["--calib-file", "c.txt"], "only used with smooth"),
    (["--rotate", "givens"], r"invalid choice: 'givens' \(choose from 'none', 'hadamard', 'random'\)"),
])
def test_run_refuses_impossible_quantizer_keys_before_work(tiny, tmp_path, rejected, argv, msg):
    out = tmp_path / "t"
    rejected(["run", "--model", str(tiny), "--prompt", PROMPT, "--trace", str(out)] + argv, msg, out)


def test_run_refuses_a_calibration_text_overlapping_the_input(llama, tmp_path, rejected):
    text = tmp_path / "t.txt"
    text.write_text(default_text())
    rejected(["run", "--model", str(llama), "--text-file", str(text), "--max-tokens", "64", "--mode", "int8",
              "--smooth", "0.5", "--calib-file", str(text)], "overlaps the input")


def test_run_takes_eval_quantizer_keys_and_agrees_with_eval(llama, tmp_path, capsys):
    """--rotate, --smooth/--calib-file and --window-for in run (flags and YAML keys) give the quantized
    pass of the same setting in neurosim eval: one window that is the whole input, calibrated in
    passes of the same length, has the same quantized NLL."""
    from neurosim.model import load_checkpoint
    from neurosim.run.eval import evaluate
    from neurosim.run.eval_settings import EvalConfig, QuantSetting

    calib = tmp_path / "calib.txt"
    calib.write_text(CALIB)
    tok = load_checkpoint(llama).tokenizer
    text = tmp_path / "t.txt"
    text.write_text(default_text(1200))
    n = len(tok.encode(text.read_text()).ids)
    cfg = tmp_path / "q.yaml"
    cfg.write_text(f"rotate: hadamard\nsmooth: 0.5\ncalib_file: {calib}\nwindow_for: {{down_proj: 11}}\n")
    out = tmp_path / "t"
    assert main(["run", "--model", str(llama), "--text-file", str(text), "--max-tokens", str(n), "--mode", "spike",
                 "--config", str(cfg), "--calib-tokens", "64", "--trace", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "rotation: Hadamard 64 = Sylvester 64" in printed and "smoothing: alpha 0.5, calibrated on 64 tokens" in printed
    assert "(T=7/11)" in printed
    s = read_summary(out)
    assert s["rotation"] == "Hadamard 64 = Sylvester 64"
    assert s["smoothing"]["calibration"] == {"source": str(calib), "tokens": 64}
    assert s["settings"]["window_for"] == {"down_proj": 11} and s["settings"]["rotate"] == "hadamard"
    recs = [p for L in s["layers"] for p in L["projections"]]
    assert {p["T_fixed"] for p in recs if ".down_proj." in p["name"]} == {11}
    assert {p["T_fixed"] for p in recs if ".down_proj." not in p["name"]} == {7}
    q = QuantSetting(mode="int8", rotate="hadamard", smooth=0.5, calib_file=str(calib), calib_tokens=64,
                     window_for={"down_proj": 11})
    ev = evaluate(EvalConfig(model=str(llama), text_file=[str(text)], windows=1, window_tokens=n, bootstrap=100,
                             settings=[q]), quiet=True)
    e = ev["settings"][0]
    assert np.isclose(np.exp(e["nll_quant"]), s["accuracy"]["ppl_quant"], rtol=1e-12, atol=0)
    assert np.isclose(np.exp(e["nll_fp"]), s["accuracy"]["ppl_fp"], rtol=1e-12, atol=0)
    # each key changes the quantized pass
    plain = run_quiet(model=str(llama), text_file=str(text), max_tokens=n, mode="int8")
    assert plain["accuracy"]["ppl_fp"] == s["accuracy"]["ppl_fp"]
    assert plain["accuracy"]["ppl_quant"] != s["accuracy"]["ppl_quant"]


def test_run_pins_blas_to_one_thread(tiny, monkeypatch):
    """Every float operation of the passes runs with BLAS pinned to one thread (the figures cannot
    depend on OPENBLAS_NUM_THREADS), and the pin is lifted afterwards."""
    from threadpoolctl import threadpool_info

    import neurosim.run.metrics as M

    seen = []
    orig = M.accuracy

    def spy(*a, **kw):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return orig(*a, **kw)

    monkeypatch.setattr(M, "accuracy", spy)   # the CPU backend's accuracy metric
    run_quiet(model=str(tiny), prompt=PROMPT, mode="int8")
    assert seen and seen[0] and set(seen[0]) == {1}


def test_run_figures_identical_across_thread_counts(tiny, tmp_path):
    """Two processes with different OpenBLAS / numba thread counts print the same figures and write
    the same summary.json."""
    import os

    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads)
        out = tmp_path / f"t{threads}"
        p = subprocess.run([sys.executable, "-m", "neurosim", "run", "--model", str(tiny), "--max-tokens", "96",
                            "--trace", str(out)], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        outs.append((p.stdout.split("trace written")[0], (out / "summary.json").read_bytes()))
    assert "perplexity fp" in outs[0][0] and outs[0] == outs[1]
