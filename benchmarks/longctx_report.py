"""Rendering of the long-context benchmark (``docs/results/longctx.md`` and ``longctx_energy.png``):
the energy per token against context length (:mod:`hwmodels.context_energy`), the run table and the figure."""

from __future__ import annotations

from pathlib import Path
from statistics import median


GIB = 1 << 30
#: today's time per token at 4,096 tokens must stay within this factor up to the longest length,
#: beyond the attention's own growth
TIME_FACTOR = 1.5
#: the memory PyTorch reports for the two GPU kinds (GiB)
GPU_MEMORY_GIB = {"80 GB H100": 79.1, "H200": 139.8}


#: the energy table's lengths: 4,096 x 2^k tokens up to 1,048,576 (plus the lengths measured on a GPU)
ENERGY_LENGTHS = tuple(4096 << k for k in range(9))
#: a measured MoBA key fraction (a float mean of per-query shares) may differ from the exact one by rounding
SHARE_RTOL = 1e-12


def _scenarios(energy: dict) -> list[dict]:
    """energy.json's SRAM and DRAM runs at 45 nm: energy per MAC of the dense MAC (whole and compute
    only) and of the best spiking design, and the memory's energy per bit."""
    scen = []
    for run in energy["runs"]:
        if run["label"] not in ("SRAM, 45 nm", "DRAM, batch 16, 45 nm"):
            continue
        lanes = run["settings"]["lanes"]
        mac = {d["name"]: d["per_token"] for d in run["designs"]}["MAC dense"]
        macs_traced = mac["busy_cycles"] * lanes
        spk = min((d for d in run["designs"] if d["name"].startswith("spike")),
                  key=lambda d: d["per_token"]["total_pj"])
        mem = run["dram_pj_per_bit"] if run["dram_pj_per_bit"] else run["weight_sram"]["read_pj"] / run["settings"]["weight_row_bits"]
        scen.append(dict(label=run["label"], kv_memory="DRAM" if run["dram_pj_per_bit"] else "SRAM",
                         mac_pj_per_mac=mac["total_pj"] / macs_traced,
                         spike_pj_per_mac=spk["per_token"]["total_pj"] / macs_traced, best_spiking=spk["name"],
                         compute_pj_per_mac=mac["components_pj"]["compute"] / macs_traced, mem_pj_per_bit=mem))
    return scen


def measured_moba(doc: dict, chunk: int, topk: int) -> dict[int, dict]:
    """The lengths measured on a GPU: {tokens: {gpus, key_fraction (measured)}}, each run's MoBA statistics checked against the
    exact count: its mean visited keys equal (when recorded), its key fractions equal up to float
    rounding. Raises ValueError on a disagreement."""
    from hwmodels.context_energy import moba_key_share, moba_mean_keys

    out: dict[int, dict] = {}
    for r in doc.get("runs", {}).values():
        if r.get("moba_key_fraction") is None:
            continue
        n = r["tokens"]
        share, keys = moba_key_share(n, chunk, topk), moba_mean_keys(n, chunk, topk)
        for f in [r["moba_key_fraction"], *r.get("moba_key_fractions", [])]:
            if abs(f - share) > SHARE_RTOL * share:
                raise ValueError(f"the MoBA key fraction measured at {n:,} tokens on the {r['gpu']} is {f!r}, "
                                 f"not the exact {share!r} (chunk {chunk}, top-k {topk})")
        for m in r.get("moba_mean_keys", []):
            if m != keys:
                raise ValueError(f"the MoBA mean keys measured at {n:,} tokens on the {r['gpu']} are {m!r}, "
                                 f"not the exact {keys!r} (chunk {chunk}, top-k {topk})")
        m = out.setdefault(n, dict(gpus=[], key_fraction=r["moba_key_fraction"]))
        m["gpus"].append(r["gpu"])
    return out


def energy_section(doc: dict, energy: dict) -> dict:
    """Energy per token against context length, MoBA at its exact mean visited keys, from energy.json."""
    from hwmodels.context_energy import ContextShape, causal_keys, context_terms, moba_mean_keys
    from neurosim.model.config import count_parameters, model_config
    from neurosim.model.maker import preset_config

    mc = model_config(preset_config("sse_swa_moba", "full"))
    shape = ContextShape.from_config(mc)
    chunk, topk = mc.moba_chunk_size, mc.moba_topk
    proj_macs = count_parameters(mc) - mc.vocab_size * mc.hidden_size   # tied lm_head not in the trace
    scen = _scenarios(energy)
    measured = measured_moba(doc, chunk, topk)
    rows = []
    for sc in scen:
        kw = dict(mac_pj=sc["compute_pj_per_mac"], mem_pj_per_bit=sc["mem_pj_per_bit"])
        proj_mac, proj_spk = proj_macs * sc["mac_pj_per_mac"], proj_macs * sc["spike_pj_per_mac"]
        for n in sorted(set(ENERGY_LENGTHS) | set(measured)):
            keys = moba_mean_keys(n, chunk, topk)
            moba = context_terms(shape, n, moba_keys=keys, **kw)["total_pj"]
            dense = context_terms(shape, n, **kw)["total_pj"]
            m = measured.get(n, {})
            rows.append(dict(scenario=sc["label"], tokens=n, measured_on=m.get("gpus", []),
                             moba_key_fraction=m.get("key_fraction"),
                             moba_mean_keys=keys, causal_keys=causal_keys(n),
                             projections_mac_uj=proj_mac / 1e6, projections_spike_uj=proj_spk / 1e6,
                             context_uj=moba / 1e6, context_dense_uj=dense / 1e6,
                             mac_total_uj=(proj_mac + moba) / 1e6, spike_total_uj=(proj_spk + moba) / 1e6,
                             mac_dense_attention_uj=(proj_mac + dense) / 1e6,
                             spike_dense_attention_uj=(proj_spk + dense) / 1e6))
        # where the context terms reach the projections' energy (dense MAC)
        sc["crossover_moba_tokens"] = _solve(lambda n: context_terms(
            shape, n, moba_keys=moba_mean_keys(n, chunk, topk), **kw)["total_pj"] - proj_mac)
        sc["crossover_dense_tokens"] = _solve(lambda n: context_terms(shape, n, **kw)["total_pj"] - proj_mac)
    return dict(scenarios=scen, rows=rows, projection_macs_per_token=proj_macs, moba_chunk=chunk, moba_topk=topk,
                measured_lengths=sorted(measured),
                assumptions=[
                    "projections: the energy per multiply-accumulate of energy.json's traced model (one lane array, "
                    "45 nm, its measured spike rates) times the 5B layout's projection weights per token (the 5B "
                    "layout's own spike rates are not priced here)",
                    "attention products and SSE state updates: MACs at the dense MAC's compute energy (no spiking form)",
                    "K and V: 16-bit elements, each token's written once, each visited key's read once per KV head; "
                    "SSE states: 32-bit, read and written once per chunk of 64 tokens",
                    "MoBA: the exact mean keys a query visits over the prefill, (i - c x chunk + 1) + min(top-k - 1, c) "
                    "x chunk for the query at position i in block c = i // chunk (its own block always in, later "
                    "blocks out: the count does not depend on the weights); gate: one score per query head and past "
                    "block (the exact mean of i // chunk)",
                    "SRAM scenario: K, V and states in SRAM at the weight SRAM's energy per bit; DRAM scenario: "
                    "in DRAM (Horowitz ISSCC 2014 figure of energy.json)"])


def _solve(f, lo: int = 1, hi: int = 1 << 34) -> int | None:
    """The least n in [lo, hi] with f(n) >= 0 for an f increasing in n (None if f(hi) < 0)."""
    if f(hi) < 0:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if f(mid) >= 0 else (mid + 1, hi)
    return lo


def _tokens(n: int | None) -> str:
    return "never below 2^34 tokens" if n is None else f"{n:,} tokens"


def figure(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["energy"]["rows"]
    scen = [s["label"] for s in doc["energy"]["scenarios"]]
    fig, axes = plt.subplots(1, len(scen), figsize=(6 * len(scen), 4.2), squeeze=False)
    for ax, sc in zip(axes[0], scen):
        rs = [r for r in rows if r["scenario"] == sc]
        n = [r["tokens"] for r in rs]
        for key, label, style in (("mac_total_uj", "dense MAC, MoBA", "o-"),
                                  ("spike_total_uj", "best spiking, MoBA", "s-"),
                                  ("mac_dense_attention_uj", "dense MAC, dense attention", "o--"),
                                  ("spike_dense_attention_uj", "best spiking, dense attention", "s--"),
                                  ("projections_mac_uj", "projections alone (dense MAC)", ":")):
            ax.plot(n, [r[key] for r in rs], style, label=label)
        for i, m in enumerate(doc["energy"].get("measured_lengths", [])):
            ax.axvline(m, color="grey", lw=0.8, ls="-.", label="measured on a GPU" if i == 0 else None)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length (tokens, prefill)")
        ax.set_ylabel("energy per token (µJ)")
        ax.set_title(sc)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


# --------------------------------------------------------------------------- rendering
def longest_admitted(gib: float) -> int:
    """The longest 5B-layout spike run whose pre-flight estimate fits ``gib`` GiB."""
    from neurosim.model.config import model_config
    from neurosim.model.maker import preset_config
    from neurosim.model.torch_memory import estimate_bytes

    mc = model_config(preset_config("sse_swa_moba", "full"))
    lo, hi = 0, 1 << 24
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if estimate_bytes(mc, mid) <= gib * GIB else (lo, mid - 1)
    return lo


def _run_rows(runs: list[dict]) -> list[str]:
    """One table row per measured length: seconds per phase, attention share, memory."""
    lines: list[str] = []
    base = {}
    for r in runs:
        p = r["phases"]
        work = p["fp_s"] + p["spike_s"]
        att = sum(r["attention_s"].values())
        rest = (work - att) / r["tokens"] * 1e3
        if r["tokens"] == 4096:
            base[r["gpu"]] = rest
        ratio = rest / base[r["gpu"]] if r["gpu"] in base else None
        lines.append(f"| {r['gpu']} | {r['tokens']:,} | {p['fp_s']:.2f} | {p['spike_s']:.2f} | {p['accuracy_s']:.2f} | "
                     f"{p['total_s']:.1f} | {work / r['tokens'] * 1e3:.3f} | {att:.2f} | {att / work:.1%} | {rest:.3f} | "
                     + (f"{ratio:.2f}x" if ratio is not None else "-") + f" | {r['peak_gib']:.1f} | {r['estimate_gib']:.1f} | "
                     + (f"{r['moba_key_fraction']:.3f}" if r["moba_key_fraction"] is not None else "-") + " |")
    return lines


def timing_sentence(pairs: list[dict]) -> str:
    """The medians of alternating runs of this code and the earlier one (fp + spike + accuracy, s)."""
    def work(p: dict) -> float:
        return p["fp_s"] + p["spike_s"] + p["accuracy_s"]
    pairs = [p for p in pairs if p.get("baseline")]
    now = float(median([work(p["current"]) for p in pairs]))
    old = float(median([work(p["baseline"]) for p in pairs]))
    return (f"Timed {len(pairs)} more times each, alternating: median fp + spike + accuracy {now:.2f} s against "
            f"{old:.2f} s for the earlier code ({now / old:.3f}x; fastest {min(work(p['current']) for p in pairs):.2f} s "
            f"against {min(work(p['baseline']) for p in pairs):.2f} s).")


def _reach_lines(runs: list[dict]) -> list[str]:
    """Per GPU, the longest run and the measured peaks against their estimates."""
    lines: list[str] = []
    for gpu in sorted({r["gpu"] for r in runs}):
        rs = [r for r in runs if r["gpu"] == gpu]
        top = max(rs, key=lambda r: r["tokens"])
        share = [r["peak_gib"] / r["estimate_gib"] for r in rs]
        lines += ["", f"Reach on the {gpu}: {top['tokens']:,} tokens ran (peak {top['peak_gib']:.1f} GiB, estimate "
                  f"{top['estimate_gib']:.1f} GiB, run {top['phases']['total_s']:.0f} s); every measured peak is "
                  f"{min(share):.2f} to {max(share):.2f} of its estimate."]
    if not any("H200" in r["gpu"] for r in runs):
        lines += ["", "No run on an H200 is recorded here: its length above is the estimate's alone."]
    return lines


def _saving(r: dict, spike: str, mac: str) -> float:
    return 1 - r[spike] / r[mac]


def _energy_lines(en: dict | None) -> list[str]:
    """The energy per token against context length: a row per scenario and length, the crossovers."""
    if not en:
        return []
    chunk, topk = en["moba_chunk"], en["moba_topk"]
    meas = en["measured_lengths"]
    lines: list[str] = []
    lines += ["", "Energy per token against context length (`longctx_energy.png`), µJ per token averaged over a "
              f"prefill of n tokens; projections: {en['projection_macs_per_token']:,} MACs per token. MoBA (chunk "
              f"{chunk:,}, top-{topk}) at the exact mean keys a query visits: up to chunk x top-k = {chunk * topk:,} "
              "tokens every query visits all its causal keys, so MoBA's products equal dense attention's (its gate "
              f"comes on top); beyond, a query visits at most {chunk * topk:,} keys. "
              + (f"Measured on a GPU (the runs above): {', '.join(f'{n:,}' for n in meas)} tokens; there the measured "
                 "MoBA key fraction equals the exact one (checked when rendering)." if meas else
                 "No length measured on a GPU."), "",
              "| scenario | tokens | measured MoBA key fraction (= exact) | MoBA keys per query | causal keys per query | "
              "projections, dense MAC | projections, best spiking | attention + KV + SSE (MoBA) | same, dense "
              "attention | spiking saves (projections) | spiking saves (whole, MoBA) | spiking saves (whole, dense "
              "attention) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in en["rows"]:
        fm = f"{r['moba_key_fraction']:.3f}" if r["measured_on"] else "-"
        lines.append(f"| {r['scenario']} | {r['tokens']:,} | {fm} | {r['moba_mean_keys']:,.1f} | "
                     f"{r['causal_keys']:,.1f} | {r['projections_mac_uj']:,.0f} | {r['projections_spike_uj']:,.0f} | "
                     f"{r['context_uj']:,.0f} | {r['context_dense_uj']:,.0f} | "
                     f"{_saving(r, 'projections_spike_uj', 'projections_mac_uj'):+.1%} | "
                     f"{_saving(r, 'spike_total_uj', 'mac_total_uj'):+.1%} | "
                     f"{_saving(r, 'spike_dense_attention_uj', 'mac_dense_attention_uj'):+.1%} |")
    for sc in en["scenarios"]:
        rs = {r["tokens"]: r for r in en["rows"] if r["scenario"] == sc["label"]}
        at = [n for n in (ENERGY_LENGTHS[0], 131072, ENERGY_LENGTHS[-1]) if n in rs]
        lines += ["", f"{sc['label']}: the context terms (attention + KV + SSE) reach the projections' energy "
                  f"(dense MAC) at {_tokens(sc['crossover_moba_tokens'])} with MoBA and at "
                  f"{_tokens(sc['crossover_dense_tokens'])} with dense attention. The best spiking design "
                  f"({sc['best_spiking']}) saves {_saving(rs[at[0]], 'projections_spike_uj', 'projections_mac_uj'):.1%} "
                  "of the projections' energy at every length, but it does not touch the context terms, so its "
                  "saving on the whole token shrinks as they grow: "
                  + ", ".join(f"{_saving(rs[n], 'spike_total_uj', 'mac_total_uj'):.1%} at {n:,} tokens" for n in at)
                  + " with MoBA; "
                  + ", ".join(f"{_saving(rs[n], 'spike_dense_attention_uj', 'mac_dense_attention_uj'):.1%} at {n:,}"
                              for n in at) + " with dense attention."]
    lines += ["", "Assumptions: " + "; ".join(en["assumptions"]) + "."]
    return lines


def _fields(same: dict) -> str:
    """The attention fields one version lacks (compared: the fields both record)."""
    one = same.get("attention_fields_in_one_only")
    return f" in the fields both versions record ({', '.join(one)} in one only)" if one else ""


def render(doc: dict) -> str:
    runs = sorted(doc.get("runs", {}).values(), key=lambda r: (r["gpu"], r["tokens"]))
    commands = doc.get("commands", ["python -m benchmarks.longctx"])
    lines = ["Long context (" + ", then ".join(f"`{c}`" for c in commands) + "): the SpB2.0-5B layout "
             "(random weights, bf16 checkpoint, float32 on the GPU) in spike mode with trace statistics, one whole "
             "`neurosim run --device cuda --mode spike --trace` per length. "
             + "; ".join(f"{g['name']} ({g['memory_gib']:.1f} GiB, PyTorch {g['torch']}, CUDA {g['cuda']})"
                         for g in doc.get("gpus", {}).values()) + ".", ""]
    lines += ["| GPU | tokens | fp pass s | spike pass + statistics s | accuracy s | run s | ms/token (fp + spike) | "
              "attention + SSE s | attention share | ms/token without attention + SSE | vs 4,096 | peak GPU GiB | "
              "estimate GiB | MoBA key fraction |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += _run_rows(runs)
    lines += ["", "Attention + SSE: device seconds (CUDA events) of MoBA's gate (block scores, selection) and products, "
              "full attention, SWA and the SSE recurrence, both passes. Without them the time per token should stay "
              f"within {TIME_FACTOR}x of its 4,096-token value (the column vs 4,096). The estimate is the pre-flight "
              "check's (`neurosim run --device cuda` refuses a length whose estimate exceeds the GPU's memory)."]
    detail = [r for r in runs if r["attention_s"]]
    if detail:
        lines += ["", "| GPU | tokens | " + " | ".join(f"{k} s" for k in ("moba_gate", "moba", "full", "swa", "sse")) + " |",
                  "|---|---:|" + "---:|" * 5]
        for r in detail:
            lines.append(f"| {r['gpu']} | {r['tokens']:,} | " + " | ".join(
                f"{r['attention_s'].get(k, 0.0):.2f}" for k in ("moba_gate", "moba", "full", "swa", "sse")) + " |")
    for key, what in (("baseline", "the code before this change"), ("small_blocks", "small blocks")):
        for b in doc.get(key, {}).values():
            same = b.get("same_as_baseline") or b.get("same_as_default_blocks")
            if not same:
                lines += ["", f"Against {what} at {b['tokens']:,} tokens on the {b['gpu']}: {b.get('error')}"]
                continue
            t = b["phases"]
            lines += ["", f"Against {what} at {b['tokens']:,} tokens on the {b['gpu']}: identical records "
                      f"{same['identical_records']} of {same['records']}, identical count histograms "
                      f"{same['identical_histograms']} of {same['histograms']}, attention statistics "
                      f"{'equal' if same['attention_stats_equal'] else 'DIFFER'}{_fields(same)}, totals "
                      f"{'equal' if same['totals_equal'] else 'DIFFER'}, accuracy {'equal' if same['accuracy_equal'] else 'DIFFERS'}"
                      f"; its run {t['total_s']:.2f} s (fp {t['fp_s']:.2f} s, spike {t['spike_s']:.2f} s)."]
            if b.get("timing_pairs"):
                lines[-1] += " " + timing_sentence(b["timing_pairs"])
            if key == "small_blocks" and not same["totals_equal"]:
                lines[-1] += (" Smaller blocks change the shapes of the float products (cuBLAS picks its kernel, and "
                              "so its summation order, by shape) and the points where the SSE recurrence carries its "
                              "state, so float activations differ in their last bits and the counts of values near a "
                              "rounding boundary move: the float path is not invariant to its block sizes. The "
                              "comparison with the earlier code runs both at the default blocks.")
    lines += ["", "Longest length the pre-flight estimate admits for the 5B layout in spike mode: " + ", ".join(
        f"{longest_admitted(gib):,} tokens in {gib} GiB ({label})" for label, gib in GPU_MEMORY_GIB.items())
        + " (above 524,288 tokens, the layout's max_position_embeddings, `--allow-longer` is needed). These lengths "
        "are the estimate of the code as rendered; the estimate column above is the one of the code each run was "
        "measured with. The estimate's activation part against the live tensor bytes of a run: torch_peak.md."]
    lines += _reach_lines(runs)
    for f in sorted(doc.get("failed", {}).values(), key=lambda f: f["tokens"]):
        lines += ["", f"Did not finish: {f['tokens']:,} tokens on the {f['gpu']}"
                  + (f" ({f['note']})" if f.get("note") else "") + f": `{f['error']}`"]
    for ref in doc.get("refusal", {}).values():
        lines += ["", f"A length the {ref['gpu']} cannot hold ({ref['tokens']:,} tokens): exit status "
                  f"{ref['exit_status']}, trace written: {'yes' if ref['trace_written'] else 'no'}; stderr: "
                  + " / ".join(f"`{s}`" for s in ref["stderr"])]
    lines += _energy_lines(doc.get("energy"))
    return "\n".join(lines) + "\n"


