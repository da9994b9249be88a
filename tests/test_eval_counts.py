"""neurosim eval's energy counts (exact count histograms per projection kind), the common 7-cell
sparsity basis, the cluster bootstrap over plays and the held-out confirmation windows."""

import json

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.core.coding import activation_bits, spike_counts_per_value
from neurosim.model.checkpoint import load_checkpoint
from neurosim.model.network import Model
from neurosim.run import evalstats as ES
from neurosim.run.confirm import chosen_settings
from neurosim.run.eval_hook import eval_hook
from neurosim.run.eval_render import sparsity_cell
from neurosim.run.eval_settings import QuantSetting
from neurosim.run.fidelity import projection_kinds
from neurosim.run.windows import load_texts, select_windows

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings "
        "and arrows of outrageous fortune, or to take arms against a sea of troubles and by opposing end "
        "them. To die, to sleep, no more; and by a sleep to say we end the heart-ache and the thousand "
        "natural shocks that flesh is heir to. ") * 6
OTHER = ("Now is the winter of our discontent made glorious summer by this sun of York; and all the clouds "
         "that lour'd upon our house in the deep bosom of the ocean buried. ") * 8


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    return tiny_llama


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("text")
    (d / "a.txt").write_text(TEXT)
    (d / "b.txt").write_text(OTHER)
    return [str(d / "a.txt"), str(d / "b.txt")]


SPEC = ("settings:\n  - label: absmax\n"
        "  - {label: long down, window_for: {down_proj: 11}, mode: spike}\n"
        "  - {label: k8, scale: adaptive, k: 8, clamp: 40}\n")


@pytest.fixture(scope="module")
def confirmed(tiny, texts, tmp_path_factory):
    """One eval with a held-out confirmation: (eval.json, its folder)."""
    d = tmp_path_factory.mktemp("ev")
    spec = d / "s.yaml"
    spec.write_text(SPEC)
    out = d / "ev"
    assert main(["eval", "--model", str(tiny), "--text-file", *texts, "--windows", "3", "--window-tokens", "16",
                 "--settings", str(spec), "--confirm-seed", "5", "--bootstrap", "200", "--out", str(out)]) == 0
    return json.loads((out / "eval.json").read_text()), out


def test_activation_bits_per_coding():
    assert activation_bits("bitwise", 7) == 8 and activation_bits("bitwise", 11) == 12
    assert activation_bits("bitwise_2c", 8) == 8 and activation_bits("ternary", 127) == 8
    assert activation_bits("binary", 127) == 8 and activation_bits("ternary", 128) == 9
    with pytest.raises(NeurosimError, match="unknown coding"):
        activation_bits("morse", 7)


def _direct_counts(tiny, texts, res, q: QuantSetting) -> dict:
    """kind -> every count fed to the coder over the selection windows, captured from the hook."""
    ck = load_checkpoint(tiny)
    wins = select_windows(ck.tokenizer, load_texts(texts, None), 3, 16, 0)
    assert [(w.source, w.offset) for w in wins] == [(s["source"], s["offset"]) for s in res["selection"]]
    base = Model(ck, keep_weights=True)
    hook = eval_hook(q.validate(), projection_kinds(base)).projection
    got: dict = {}

    def linear(name, x, w):
        p = hook.product(name, x, w)
        if p.acts is not None:
            got.setdefault(ES.projection_kind(name), []).append(p.acts.counts.ravel())
        return p.y

    for w in wins:
        base.forward(w.ids, linear=linear)
    return {k: np.concatenate(v) for k, v in got.items()}


@pytest.mark.parametrize("j,q", [(0, QuantSetting(label="absmax")),
                                 (1, QuantSetting(label="long down", window_for={"down_proj": 11}, mode="spike"))])
def test_energy_counts_are_the_exact_histogram(tiny, texts, confirmed, j, q):
    res, _ = confirmed
    s = res["settings"][j]
    ec = s["energy_counts"]
    assert ec["tokens"] == 3 * 16
    direct = _direct_counts(tiny, texts, res, q)
    assert sorted(ec["kinds"]) == sorted(direct)
    n_layers = res["model"]["n_layers"]
    acc = macs = 0
    for kind, k in ec["kinds"].items():
        v, f = np.unique(direct[kind], return_counts=True)
        assert k["values"] == v.tolist() and k["freq"] == f.tolist()
        assert k["projections"] == n_layers and k["rows"] == ec["tokens"] * n_layers
        assert sum(k["freq"]) == k["rows"] * k["in_features"]
        T = 11 if (j == 1 and kind == "down_proj") else 7
        assert k["window"] == T and k["activation_bits"] == T + 1 and k["coding"] == "bitwise"
        spikes = int((spike_counts_per_value(np.array(k["values"]), "bitwise", T) * np.array(k["freq"])).sum())
        acc += spikes * k["out_features"]
        macs += sum(k["freq"]) * k["out_features"]
    assert s["mac_weighted_spikes_per_activation"] == acc / macs
    assert s["totals"]["mac_weighted_spikes_per_activation"] == acc / macs
    if j == 1:  # the long window really carries counts beyond INT8
        assert max(abs(x) for x in ec["kinds"]["down_proj"]["values"]) > 127


def test_projection_kind():
    assert ES.projection_kind("model.layers.3.mlp.down_proj.weight") == "down_proj"
    assert ES.projection_kind("model.layers.1.attn.lora_q_proj.1.weight") == "lora_q_proj.1"
    assert ES.projection_kind("model.layers.1.attn.lora_k_proj.0.weight") == "lora_k_proj.0"


def test_kind_counts_merge_in_any_order():
    rng = np.random.default_rng(0)
    recs = []
    for i in range(6):
        c = rng.integers(-9 - 3 * i, 9 + i, size=(4, 8))
        r = ES.count_record(c, "bitwise", 7)
        r.update(name=f"l.{i}.mlp.down_proj", kind="down_proj", out_features=5, T_window=7)
        recs.append((c, r))
    parts = [ES.kind_counts([dict(r) for _, r in recs[a:b]]) for a, b in ((0, 2), (2, 5), (5, 6))]
    fwd, bwd = {}, {}
    for p in parts:
        ES.merge_kind_counts(fwd, p)
    for p in parts[::-1]:
        ES.merge_kind_counts(bwd, p)
    ef, eb = ES.energy_counts(fwd, 24, "bitwise"), ES.energy_counts(bwd, 24, "bitwise")
    assert ef == eb
    v, f = np.unique(np.concatenate([c.ravel() for c, _ in recs]), return_counts=True)
    k = ef["kinds"]["down_proj"]
    assert k["values"] == v.tolist() and k["freq"] == f.tolist() and k["rows"] == 24 and k["projections"] == 6
    bad = dict(recs[0][1], out_features=6, values=np.array([0]), freq=np.array([32]))
    with pytest.raises(NeurosimError, match="differ in out_features"):
        ES.kind_counts([dict(recs[1][1]), bad])


def test_common_basis_sparsity(confirmed):
    res, out = confirmed
    uniform, mixed = res["settings"][0], res["settings"][1]
    for s in (uniform, mixed):
        t = s["totals"]
        assert t["T_common"] == 7 and t["sparsity_common"] == 1 - t["spikes"] / (7 * t["activations"])
    assert uniform["totals"]["sparsity_common"] == uniform["totals"]["sparsity_fixed"]
    assert not ES.mixed_windows(uniform["totals"]) and ES.mixed_windows(mixed["totals"])
    # the longer window's extra cells count as silent in the mixed figure only
    assert mixed["totals"]["sparsity_common"] < mixed["totals"]["sparsity_fixed"]
    cell = sparsity_cell(mixed)
    assert "mixed (T=7/11)" in cell and f"{mixed['totals']['sparsity_common']:.2%} on 7 cells" in cell
    assert "mixed" not in sparsity_cell(uniform)
    md = (out / "eval.md").read_text()
    assert cell in md and "on the common basis where windows differ" in md
    assert ES.common_sparsity({}, "bitwise") == (None, 7)


def test_cluster_bootstrap():
    rng = np.random.default_rng(3)
    v = rng.normal(size=12)
    # every window its own group: the cluster bootstrap is the window bootstrap, draw for draw
    gid, draws = ES.cluster_resamples([f"w{i:02d}" for i in range(12)], 500, np.random.default_rng(7))
    res = np.random.default_rng(7).integers(0, 12, size=(500, 12))
    assert ES.bootstrap_ratio_ci(v, gid, draws) == ES.bootstrap_mean_ci(v, res)
    # two plays whose windows agree within a play: the interval over plays spans the play means
    groups = ["a"] * 6 + ["b"] * 6
    w = np.array([0.0] * 6 + [1.0] * 6)
    gid, draws = ES.cluster_resamples(groups, 2000, np.random.default_rng(1))
    lo, hi = ES.bootstrap_ratio_ci(w, gid, draws)
    wlo, whi = ES.bootstrap_mean_ci(w, np.random.default_rng(1).integers(0, 12, size=(2000, 12)))
    assert (lo, hi) == (0.0, 1.0) and 0.0 < wlo < whi < 1.0
    gid, draws = ES.cluster_resamples(["a"] * 4, 100, np.random.default_rng(1))
    assert ES.bootstrap_ratio_ci(w[:4], gid, draws) is None


def test_intervals_over_plays_in_eval(confirmed):
    res, out = confirmed
    assert res["ci"]["plays"]["groups"] == len({w["source"] for w in res["selection"]})
    for s in res["settings"]:
        lo, hi = s["dnll_ci_plays"]
        assert lo <= s["dnll"] <= hi
        assert s["ppl_change_ci_plays"] == [float(np.expm1(lo)), float(np.expm1(hi))]
    # the windows came from --text-file: the groups are called texts, in the table and in eval.json
    assert "ppl change [95% CI over texts]" in (out / "eval.md").read_text()
    assert "(texts)" in res["ci"]["plays"]["method"]


def test_source_texts_are_named_by_corpus():
    from neurosim.run.windows import source_noun

    assert source_noun({"corpus": None, "text_file": None}) == "plays"
    assert source_noun({"corpus": "shakespeare", "text_file": None}) == "plays"
    assert source_noun({"corpus": "python-stdlib", "text_file": None}) == "files"
    assert source_noun({"corpus": None, "text_file": ["a.txt"]}) == "texts"


def test_confirmation_on_disjoint_windows(tiny, texts, confirmed):
    res, out = confirmed
    conf = res["confirmation"]
    assert conf["config"]["seed"] == 5 and conf["chosen_on"]["seed"] == 0 and conf["chosen_on"]["shared_windows"] == 0
    spans = lambda sel: {(w["source"], w["offset"] + i) for w in sel for i in range(w["tokens"])}
    assert not spans(res["selection"]) & spans(conf["selection"]) and len(conf["selection"]) == 3
    labels = [s["label"] for s in conf["settings"]]
    assert labels == chosen_settings(res) and labels[0] == "absmax"
    assert all("energy_counts" in s and "dnll_ci_plays" in s for s in conf["settings"])
    md = (out / "eval.md").read_text()
    assert "Held-out confirmation" in md and "seed 5" in md
    rows = (out / "windows.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 3 + 3 * len(labels) and sum("[confirmation]" in r for r in rows) == 3 * len(labels)


def test_exclude_windows_draws_none_of_an_earlier_evals(tiny, texts, confirmed, tmp_path):
    res, first = confirmed
    out = tmp_path / "held"
    # the same seed would draw the same windows: every one must now come from another slot
    assert main(["eval", "--model", str(tiny), "--text-file", *texts, "--windows", "3", "--window-tokens", "16",
                 "--exclude-windows", str(first), "--bootstrap", "200", "--out", str(out), "--quiet"]) == 0
    held = json.loads((out / "eval.json").read_text())
    spans = lambda sel: {(w["source"], w["offset"] + i) for w in sel for i in range(w["tokens"])}
    assert not spans(res["selection"]) & spans(held["selection"]) and len(held["selection"]) == 3
    assert held["config"]["exclude_windows"] == str(first) and held["config"]["seed"] == res["config"]["seed"]


@pytest.mark.parametrize("case,msg", [
    ("missing", "exclude_windows: no eval result at"),
    ("not-eval", "is not an eval result with a window selection"),
    ("length", "has windows of 16 tokens, this eval 8"),
    ("corpus", "none of the windows of"),
])
def test_bad_exclude_windows(tiny, texts, confirmed, tmp_path, capsys, case, msg):
    _, first = confirmed
    path = {"missing": tmp_path / "nowhere", "length": first, "corpus": tmp_path / "other.json",
            "not-eval": tmp_path / "list.json"}[case]
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "other.json").write_text(json.dumps({"selection": [{"source": "x.txt", "offset": 0, "tokens": 16}]}))
    out = tmp_path / "ev"
    rc = main(["eval", "--model", str(tiny), "--text-file", *texts, "--windows", "2",
               "--window-tokens", "8" if case == "length" else "16", "--exclude-windows", str(path), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and msg in err[0], err
    assert not out.exists() and not list(tmp_path.glob(".ev*"))


def test_chosen_settings_frontier():
    def s(label, hi, spa, proj=("*",)):
        return {"label": label, "quantizer": {"projections": list(proj), "coding": "bitwise"},
                "ppl_change_ci": [hi - 0.01, hi],
                "totals": {"mac_weighted_spikes_per_activation": spa, "sparsity_fixed": 0.5, "T_fixed": 7,
                           "spikes": 1, "activations": 1}}
    doc = {"settings": [s("ref", 0.05, 1.0), s("worse", 0.06, 1.5), s("better", 0.02, 2.0),
                        s("dominated", 0.03, 2.5), s("partial", 0.0, 0.5, ["down_proj"])]}
    assert chosen_settings(doc) == ["ref", "better"]


@pytest.mark.parametrize("extra,msg", [
    (["--confirm-seed", "0"], "confirm_seed must differ from seed"),
    (["--confirm-seed", "-1"], "confirm_seed must be a non-negative integer"),
    (["--confirm-seed", "1", "--windows", "60"], "outside the 60 excluded ones, fewer than the 60 asked"),
    (["--window-for", "layers.0.mlp.down_proj=11"], "down_proj projections get windows"),
])
def test_bad_confirmation_input(tiny, texts, tmp_path, capsys, extra, msg):
    out = tmp_path / "ev"
    rc = main(["eval", "--model", str(tiny), "--text-file", *texts, "--windows", "2", "--window-tokens", "16",
               "--out", str(out), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and msg in err[0], err
    assert not out.exists() and not list(tmp_path.glob(".ev*"))


def test_confirmation_same_with_workers(tiny, texts, tmp_path, capsys):
    got = []
    for n in (1, 2):
        out = tmp_path / f"ev{n}"
        assert main(["eval", "--model", str(tiny), "--text-file", *texts, "--windows", "2", "--window-tokens", "16",
                     "--window-for", "down_proj=11", "--confirm-seed", "3", "--bootstrap", "200",
                     "--workers", str(n), "--out", str(out)]) == 0
        got.append(((out / "eval.json").read_bytes(), (out / "windows.csv").read_bytes()))
    assert got[0] == got[1]


def test_run_and_report_label_mixed_windows(tiny, texts, confirmed, tmp_path, capsys):
    """neurosim run's summary, the report's sparsity claim and its eval section name a mixed-window
    figure as mixed and give the common-basis one beside it; the report shows the confirmation."""
    tr, rep = tmp_path / "trace", tmp_path / "rep"
    assert main(["run", "--model", str(tiny), "--text-file", texts[0], "--max-tokens", "24", "--mode", "spike",
                 "--window-for", "down_proj=11", "--trace", str(tr)]) == 0
    t = json.loads((tr / "summary.json").read_text())["totals"]
    common = 1 - t["spikes"] / (7 * t["activations"])
    assert f"mixed (T=7/11); {common:.2%} on 7 cells" in " ".join(capsys.readouterr().out.split())
    assert main(["report", "--trace", str(tr), "--eval", str(confirmed[1]), "--out", str(rep), "--quiet"]) == 0
    md = (rep / "report.md").read_text()
    assert "Held-out confirmation" in md and sparsity_cell(confirmed[0]["confirmation"]["settings"][1]) in md
    claims = json.loads((rep / "report.json").read_text())["claims"]
    row = next(c for c in claims if c["claim"] == "spike sparsity (INT8-Spiking)")
    assert "a mixed figure" in row["definition"] and f"{100 * common:.2f}%" in row["definition"]


def test_energy_counts_of_spb2_layout(texts, tmp_path, capsys):
    """SpB2.0's sequential LoRA pairs are kinds of their own (lora_q_proj.0 and lora_k_proj.0 differ),
    and every kind's histogram holds rows x K activations."""
    ck = tmp_path / "spb"
    assert main(["make-checkpoint", "--arch", "sse_swa_moba", "--preset", "tiny", str(ck)]) == 0
    out = tmp_path / "ev"
    assert main(["eval", "--model", str(ck), "--text-file", *texts, "--windows", "2", "--window-tokens", "16",
                 "--bootstrap", "200", "--out", str(out)]) == 0
    s = json.loads((out / "eval.json").read_text())["settings"][0]
    kinds = s["energy_counts"]["kinds"]
    assert {"lora_q_proj.0", "lora_q_proj.1", "lora_k_proj.1", "sse_q_proj", "down_proj"} <= set(kinds)
    assert set(kinds) == set(s["per_projection_kind"])
    for k in kinds.values():
        assert sum(k["freq"]) == k["rows"] * k["in_features"] and k["rows"] == 32 * k["projections"]
