"""Rendering of the torch peak-memory benchmark (``docs/results/torch_peak.md``): measured peaks of
live tensor bytes against the pre-flight estimate's activation part, per length and per token."""

from __future__ import annotations

MIB = 1 << 20
#: the phases of a run, in order
PHASES = ("fp pass", "spike pass", "statistics", "accuracy")


def slopes(runs: list[dict], key: str = "peak_bytes") -> list[tuple[int, int, float]]:
    """(shorter, longer, bytes per token) between consecutive lengths of ``runs`` (by ``key``)."""
    rs = sorted(runs, key=lambda r: r["tokens"])
    return [(a["tokens"], b["tokens"], (b[key] - a[key]) / (b["tokens"] - a["tokens"])) for a, b in zip(rs, rs[1:])]


def _phase(r: dict) -> str:
    return max(PHASES, key=lambda p: r["phase_peak_bytes"].get(p, -1))


def _run_table(runs: list[dict], base: dict[int, dict]) -> list[str]:
    lines = ["| tokens | measured peak MiB | at | estimate's activation part MiB | measured / estimate | "
             "spike pass peak MiB | float pass peak MiB | earlier code: measured peak MiB | earlier code: "
             "estimate MiB | earlier code: measured / estimate |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(runs, key=lambda r: r["tokens"]):
        b = base.get(r["tokens"])
        est = r["estimate"]["activation_bytes"]
        cells = [f"{r['tokens']:,}", f"{r['peak_bytes'] / MIB:.1f}", _phase(r), f"{est / MIB:.1f}",
                 f"{r['peak_bytes'] / est:.2f}", f"{r['phase_peak_bytes']['spike pass'] / MIB:.1f}",
                 f"{r['phase_peak_bytes']['fp pass'] / MIB:.1f}"]
        if b:
            be = b["estimate"]["activation_bytes"]
            cells += [f"{b['peak_bytes'] / MIB:.1f}", f"{be / MIB:.1f}", f"{b['peak_bytes'] / be:.2f}"]
        else:
            cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _slope_table(runs: list[dict], base: list[dict]) -> list[str]:
    per_token = {r["tokens"]: r["estimate"]["per_token_bytes"] for r in runs}
    old = {r["tokens"]: r["estimate"]["per_token_bytes"] for r in base}
    spike = {(a, b): s for a, b, s in slopes([dict(r, spike=r["phase_peak_bytes"]["spike pass"]) for r in runs], "spike")}
    bs = {(a, b): s for a, b, s in slopes(base)}
    lines = ["| tokens | measured bytes/token (whole run) | spike pass | estimate's per-token term | measured / "
             "estimate | earlier code: measured | earlier code: estimate's per-token term |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for a, b, s in slopes(runs):
        cells = [f"{a:,} to {b:,}", f"{s:,.0f}", f"{spike[a, b]:,.0f}", f"{per_token[b]:,}",
                 f"{max(s, spike[a, b]) / per_token[b]:.2f}"]
        cells += ([f"{bs[a, b]:,.0f}", f"{old[b]:,}"] if (a, b) in bs else ["-", "-"])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _alive(r: dict, phase: str, top: int = 10) -> list[str]:
    lines = ["| made in | operator | dtype | shape | bytes per token |", "|---|---|---|---|---:|"]
    for label, op, dtype, shape, n in r["at_peak"][phase][:top]:
        lines.append(f"| {label or '-'} | {op} | {dtype} | {'x'.join(map(str, shape))} | {n / r['tokens']:,.0f} |")
    return lines


def render(doc: dict) -> str:
    m, c = doc["machine"], doc["config"]
    runs = sorted(doc["runs"], key=lambda r: r["tokens"])
    base = doc.get("baseline", {})
    base_runs = {r["tokens"]: r for r in base.get("runs", [])}
    blocks = ", ".join(f"{k} {v:,}" for k, v in sorted(doc["blocks"].items()))
    lines = [f"Peak live tensor bytes of a torch spike run against the pre-flight estimate (`{doc['command']}`): "
             f"PyTorch's CPU device ({m['cpus']} cores, {m['threads']} thread{'s' * (m['threads'] != 1)}, PyTorch {m['torch']}, Python "
             f"{m['python']}" + (f", load average {'/'.join(m['load_average'])} at the start" if m.get("load_average") else "")
             + "), the float "
             "pass, the spike pass with the trace statistics and "
             f"{doc['tiles']} tiles, the statistics and the accuracy metrics, as `neurosim run --device cuda --mode "
             "spike --trace` runs them, of a random-weight checkpoint of the SpB2.0 layout scaled down "
             f"({c['num_hidden_layers']} layers of its kinds, hidden {c['hidden_size']:,}, MLP "
             f"{c['intermediate_size']:,}, {c['num_heads']} query and {c['num_kv_heads']} KV heads of "
             f"{c['head_dim']}, vocabulary {c['vocab_size']:,}, MoBA blocks of {c['moba_chunk_size']}) with work "
             f"areas scaled down too ({blocks}). Live bytes: every tensor storage the passes make, while it lives "
             "(the weights and their one-time quantization, made before, are not counted); the estimate's "
             "activation part is the estimate less the weights and the reserve.", ""]
    lines += _run_table(runs, base_runs)
    lines += ["", "Per token (the slope between two lengths) against the estimate's per-token term "
              "(`floats_per_token` x 4 bytes, at the longer length):", ""]
    lines += _slope_table(runs, list(base_runs.values()))
    last = runs[-1]
    lines += ["", f"Alive at the spike pass's peak at {last['tokens']:,} tokens (the largest groups):", ""]
    lines += _alive(last, "spike pass")
    if last["tokens"] in base_runs:
        lines += ["", "The same with the earlier code (its int32 storages of tokens x features are INT8 counts of whole "
                  "projections, kept alive until the pass ended by the trace tiles' views onto their rows):", ""]
        lines += _alive(base_runs[last["tokens"]], "spike pass")
    big = doc["spb5b"]
    text = (f"The SpB2.0-5B layout's estimate at {big['tokens']:,} tokens: {big['per_token_bytes']:,} bytes per "
            f"token, {big['estimate_bytes'] / (1 << 30):.1f} GiB in all")
    if base.get("spb5b"):
        ob = base["spb5b"]
        text += (f" (earlier code: {ob['per_token_bytes']:,} bytes per token, "
                 f"{ob['estimate_bytes'] / (1 << 30):.1f} GiB)")
    lines += ["", text + "."]
    return "\n".join(lines) + "\n"
