"""neurosim eval: windows, exact products, the hook against neurosim run's, smoothing folds,
per-projection windows, bad input, outputs, and thread-count determinism on SmolLM2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.model.checkpoint import load_checkpoint
from neurosim.model.network import Model
from neurosim.run import smooth as SM
from neurosim.run.eval_hook import eval_hook
from neurosim.run.eval_settings import QuantSetting
from neurosim.run.backends import projection_for
from neurosim.run.fidelity import projection_kinds as _layer_weight_names, window_levels
from neurosim.run.recorder import Recorder
from neurosim.run.metrics import accuracy
from neurosim.run.settings import Settings
from neurosim.run.evalstats import window_accuracy
from neurosim.model.network import log_softmax, token_nll
from neurosim.run.windows import check_disjoint, select_windows

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
        "and arrows of outrageous fortune, or to take arms against a sea of troubles and by opposing end "
        "them. To die, to sleep, no more; and by a sleep to say we end the heart-ache and the thousand "
        "natural shocks that flesh is heir to. ") * 6


@pytest.fixture(scope="module", params=["sse_swa_moba", "llama"])
def tiny(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / request.param
    assert main(["make-checkpoint", "--arch", request.param, "--preset", "tiny", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("text") / "t.txt"
    p.write_text(TEXT)
    return p


def _ids(ckpt, n=40):
    return np.asarray(ckpt.tokenizer.encode(TEXT).ids[:n])


def test_levels():
    assert window_levels("bitwise", 7) == 127 and window_levels("bitwise", 11) == 2047
    assert window_levels("bitwise_2c", 8) == 127 and window_levels("ternary", 127) == 127


def test_windows_disjoint_seeded_and_checked(tiny):
    ck = load_checkpoint(tiny)
    texts = [("a", TEXT), ("b", TEXT[::-1])]
    w1 = select_windows(ck.tokenizer, texts, 4, 16, seed=3)
    w2 = select_windows(ck.tokenizer, texts, 4, 16, seed=3)
    assert [(w.source, w.offset) for w in w1] == [(w.source, w.offset) for w in w2]
    spans = sorted((w.source, w.offset) for w in w1)
    for (s1, o1), (s2, o2) in zip(spans, spans[1:]):
        assert s1 != s2 or o2 - o1 >= 16
    with pytest.raises(NeurosimError, match="fewer than the 999 asked"):
        select_windows(ck.tokenizer, texts, 999, 16, seed=3)
    with pytest.raises(NeurosimError, match="overlaps the evaluation windows"):
        check_disjoint(np.concatenate([[1, 2, 3], w1[0].ids]), w1, "x", n=8)
    check_disjoint(np.arange(100000, 100050), w1, "x", n=8)  # disjoint: no error


@pytest.mark.parametrize("scale,clamp,window_for", [("absmax", 127, {}), ("adaptive", None, {}),
                                                    ("absmax", 127, {"down_proj": 11, "v_proj": 9}),
                                                    ("adaptive", 127, {"down_proj": 11})])
def test_hook_matches_neurosim_run_bit_for_bit(tiny, scale, clamp, window_for):
    ck = load_checkpoint(tiny)
    m = Model(ck)
    ids = _ids(ck)
    kinds = _layer_weight_names(m)
    ref = Recorder(projection_for(Settings(mode="int8", scale=scale, clamp=clamp, window_for=window_for).validate()),
                   kinds)
    want = m.forward(ids, linear=ref)
    if window_for:  # the run's recorder uses the longer windows too
        assert {r["T_fixed"] for n, r in ref.records.items() if "down_proj" in n} == {11}
    for mode in ("int8", "spike"):
        h = eval_hook(QuantSetting(mode=mode, scale=scale, clamp=clamp, window_for=window_for).validate(), kinds)
        assert np.array_equal(m.forward(ids, linear=h), want)
        # the lean records give the trace's totals
        got = h.records
        assert list(got) == [n for n in kinds if n in got]  # call order
        for name, r in ref.records.items():
            assert got[name]["spikes"] == r["spikes"] and got[name]["T_fixed"] == r["T_fixed"]
            assert got[name]["events"] == r["events"]


def test_window_accuracy_equals_run_metrics(tiny):
    ck = load_checkpoint(tiny)
    m = Model(ck)
    ids = _ids(ck)
    fp = m.forward(ids)
    q = m.forward(ids, linear=eval_hook(QuantSetting().validate(), _layer_weight_names(m)))
    got = window_accuracy(log_softmax(fp), q, ids, rows=7)
    ref = accuracy(fp, q, ids)
    assert np.isclose(got["kl"], ref["mean_kl"], rtol=1e-12) and got["top1"] == ref["top1_agreement"]
    assert np.isclose(got["dnll"], (token_nll(q, ids) - token_nll(fp, ids)).mean(), rtol=1e-12)
    assert np.isclose(np.exp(got["nll_quant"]) / np.exp(got["nll_fp"]) - 1, ref["ppl_change"], rtol=1e-9)


def test_window_for_spike_equals_int8_and_more_levels(tiny):
    ck = load_checkpoint(tiny)
    m = Model(ck)
    ids = _ids(ck)
    names = _layer_weight_names(m)
    out = {}
    for mode in ("int8", "spike"):
        h = eval_hook(QuantSetting(mode=mode, window_for={"down_proj": 11}).validate(), names)
        out[mode] = (m.forward(ids, linear=h), list(h.records.values()))
    assert np.array_equal(out["int8"][0], out["spike"][0])
    recs = out["int8"][1]
    down = [r for r in recs if r["kind"] == "down_proj"]
    assert down and all(r["T_fixed"] == 11 for r in down)
    assert all(r["T_fixed"] == 7 for r in recs if r["kind"] != "down_proj")
    plain = eval_hook(QuantSetting().validate(), names)
    m.forward(ids, linear=plain)
    spa = lambda rs: sum(r["spikes"] for r in rs) / sum(r["activations"] for r in rs)
    assert spa(down) > spa([r for r in plain.records.values() if r["kind"] == "down_proj"])


def test_smoothing_fold_preserves_the_float_model(tiny):
    ck = load_checkpoint(tiny)
    base = Model(ck, dtype=np.float64, keep_weights=True)
    ids = _ids(ck)
    assert SM.unsmoothable(base) == []
    amax = SM.calibrate(base, [ids[:20]])
    for alpha in (0.5, 0.8):
        f = SM.smoothing_factors(base, amax, alpha)
        assert any(not np.allclose(s, 1.0) for s, _ in f.values())
        sm = Model(SM.SmoothedCheckpoint(base, f), dtype=np.float64)
        np.testing.assert_allclose(sm.forward(ids), base.forward(ids), rtol=1e-9, atol=1e-9)
        # the smoothed inputs are the float inputs divided by s
        got = SM.calibrate(sm, [ids[:20]])
        for grp, (s, tie) in f.items():
            for c in grp.consumers:
                np.testing.assert_allclose(got[c], amax[c] / s[tie].astype(np.float64), rtol=1e-6)
    with pytest.raises(NeurosimError, match=r"alpha must be in \[0, 1\]"):
        SM.smoothing_factors(base, amax, 1.5)


def _eval_cli(args, capsys):
    rc = main(["eval", *args])
    return rc, capsys.readouterr()


@pytest.mark.parametrize("extra,msg", [
    (["--windows", "500"], "fewer than the 500 asked"),
    (["--smooth", "1.5"], r"must be a number in \[0, 1\]"),
    (["--window-for", "nosuchproj=11"], "matches no projection"),
    (["--window-for", "down_proj"], "PATTERN=T"),
    (["--calib-file", "x.txt"], "only used with smooth"),
    (["--scale", "adaptive", "--clamp", "none", "--window-for", "down_proj=9"], "bounded counts"),
])
def test_bad_input_one_line_exit_2_no_output(tiny, text_file, tmp_path, capsys, extra, msg):
    out = tmp_path / "ev"
    rc, cap = _eval_cli(["--model", str(tiny), "--text-file", str(text_file), "--windows", "2",
                         "--window-tokens", "16", "--out", str(out), *extra], capsys)
    assert rc == 2
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("neurosim eval: error:") and __import__("re").search(msg, err[0])
    assert not out.exists() and not list(tmp_path.glob(".ev*"))


def test_calibration_overlapping_the_windows_is_refused(tiny, text_file, tmp_path, capsys):
    rc, cap = _eval_cli(["--model", str(tiny), "--text-file", str(text_file), "--windows", "2",
                         "--window-tokens", "16", "--smooth", "0.5", "--calib-file", str(text_file),
                         "--out", str(tmp_path / "ev")], capsys)
    assert rc == 2 and "overlaps the evaluation windows" in cap.err
    assert not (tmp_path / "ev").exists()


def test_eval_outputs_and_settings_file(tiny, text_file, tmp_path, capsys):
    calib = tmp_path / "calib.txt"
    calib.write_text("Now is the winter of our discontent made glorious summer by this sun of York. " * 5)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("windows: 3\nwindow_tokens: 16\nsettings:\n  - label: absmax\n"
                     "  - {label: k8, scale: adaptive, k: 8, clamp: none}\n"
                     f"  - {{label: smooth, smooth: 0.5, calib_file: {calib}, calib_tokens: 32}}\n"
                     "  - {label: long down, window_for: {down_proj: 11}, mode: spike}\n")
    out = tmp_path / "ev"
    rc, cap = _eval_cli(["--model", str(tiny), "--text-file", str(text_file), "--settings", str(sweep),
                         "--out", str(out)], capsys)
    assert rc == 0, cap.err
    res = json.loads((out / "eval.json").read_text())
    assert [s["label"] for s in res["settings"]] == ["absmax", "k8", "smooth", "long down"]
    assert len(res["selection"]) == 3
    for s in res["settings"]:
        lo, hi = s["dnll_ci"]
        assert lo <= s["dnll"] <= hi and s["tokens_scored"] == 3 * 15
        assert np.isclose(s["ppl_change"], np.expm1(s["dnll"]))
    assert res["smoothing"]["calibration"] == [{"source": str(calib), "tokens": 32}]
    assert res["smoothing"]["unsmoothable"] == []
    assert res["settings"][3]["windows_for"][0]["t"] == 11 and res["settings"][3]["totals"]["T_fixed"] == [7, 11]
    rows = (out / "windows.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 4
    assert "| smooth |" in (out / "eval.md").read_text()


def test_eval_deterministic_across_thread_counts_smollm2(tmp_path):
    """Two processes with different OpenBLAS / numba thread counts print identical figures."""
    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads)
        out = tmp_path / f"ev{threads}"
        p = subprocess.run([sys.executable, "-m", "neurosim", "eval", "--windows", "2", "--window-tokens", "96",
                            "--out", str(out)], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        outs.append((p.stdout.split("eval written")[0], (out / "eval.json").read_bytes(),
                     (out / "windows.csv").read_bytes()))
    assert outs[0] == outs[1]


def test_report_takes_the_accuracy_claim_from_eval(tiny, text_file, tmp_path, capsys):
    tr, ev, rep = tmp_path / "trace", tmp_path / "ev", tmp_path / "rep"
    assert main(["run", "--model", str(tiny), "--text-file", str(text_file), "--max-tokens", "24",
                 "--trace", str(tr)]) == 0
    assert main(["eval", "--model", str(tiny), "--text-file", str(text_file), "--windows", "3",
                 "--window-tokens", "16", "--out", str(ev)]) == 0
    capsys.readouterr()
    assert main(["report", "--trace", str(tr), "--eval", str(ev), "--out", str(rep), "--quiet"]) == 0
    res = json.loads((ev / "eval.json").read_text())["settings"][0]
    claims = json.loads((rep / "report.json").read_text())["claims"]
    acc = [c for c in claims if c["claim"] == "accuracy loss (INT8-Spiking vs BF16)"]
    assert len(acc) == 1 and acc[0]["file"] == "eval.json" and acc[0]["value"] == res["ppl_change"]
    # 3 windows: no interval is printed (too few for a bootstrap), eval.json keeps it
    assert len(res["ppl_change_ci"]) == 2 and "budget" in acc[0]["note"]
    assert acc[0]["measured"] == f"{100 * res['ppl_change']:+.2f}% (too few windows)"
    assert any(c["claim"].startswith("accuracy loss (INT8-Spiking vs BF16), alt. (the trace") for c in claims)
    md = (rep / "report.md").read_text()
    assert "## Accuracy: what does spiking cost against the float model?" in md
    assert f"**Perplexity change {100 * res['ppl_change']:+.2f}% (95% interval" in md  # the one-line answer
    assert (rep / "figures" / "accuracy_frontier.png").is_file()


def test_workers_give_the_figures_of_one_process(tiny, text_file, tmp_path, capsys):
    """--workers 2 scores the windows in two spawned processes: eval.json and windows.csv are those
    of a one-process run byte for byte (smoothing and a rotation built in each worker)."""
    calib = tmp_path / "calib.txt"
    calib.write_text("Now is the winter of our discontent made glorious summer by this sun of York. " * 5)
    spec = tmp_path / "s.yaml"
    spec.write_text("settings:\n  - label: absmax\n"
                    f"  - {{label: smooth, smooth: 0.5, calib_file: {calib}, calib_tokens: 32}}\n"
                    + ("  - {label: rot, rotate: random, window_for: {down_proj: 11}, mode: spike}\n"
                       if tiny.name == "llama" else "  - {label: long, window_for: {down_proj: 11}, mode: spike}\n"))
    got = []
    for n in (1, 2):
        out = tmp_path / f"ev{n}"
        rc, cap = _eval_cli(["--model", str(tiny), "--text-file", str(text_file), "--windows", "3",
                             "--window-tokens", "16", "--settings", str(spec), "--workers", str(n),
                             "--out", str(out)], capsys)
        assert rc == 0, cap.err
        assert json.loads((out / "timing.json").read_text())["workers"] == n
        got.append(((out / "eval.json").read_bytes(), (out / "windows.csv").read_bytes()))
    assert got[0] == got[1]


def test_workers_must_be_positive(tiny, text_file, tmp_path, capsys):
    rc, cap = _eval_cli(["--model", str(tiny), "--text-file", str(text_file), "--windows", "2",
                         "--window-tokens", "16", "--workers", "0", "--out", str(tmp_path / "ev")], capsys)
    assert rc == 2 and "workers must be an integer >= 1" in cap.err and not (tmp_path / "ev").exists()
