"""The JSON files later stages read, described once: ``summary.json`` (a trace), ``hw.json``
(``neurosim hw``) and ``energy.json`` (``neurosim energy``).

Each file is a :class:`typing.TypedDict` whose members carry their meaning
(``Annotated[type, "meaning"]``). :func:`problems` checks a document against its description, and
docs/formats.md's member tables are generated from the descriptions
(``python -m neurosim.formats --write docs/formats.md``; ``--check`` fails when they are stale).
This module also owns the format versions the writers stamp and the readers check.
"""


import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, NotRequired, TypedDict, Union

#: ``summary.json``'s ``schema_version`` (written by ``neurosim run --trace``)
SUMMARY_VERSION = 1
#: ``hw.json``'s ``schema`` member (written by ``neurosim hw``, read by ``neurosim energy`` and the report)
HW_SCHEMA = "neurosim.hw/1"
#: ``energy.json``'s ``schema`` member (written by ``neurosim energy``, read by the report)
ENERGY_SCHEMA = "neurosim.energy/1"

Num = Union[int, float]
OptNum = Union[int, float, None]


# ---- summary.json ---------------------------------------------------------------------------------

class SummaryModel(TypedDict):
    path: Annotated[str, "the checkpoint folder"]
    model_type: Annotated[str, "sse_swa_moba | qwen3 | qwen2 | llama"]
    n_layers: Annotated[int, "blocks"]
    layer_kinds: Annotated[list[str], "kind of every layer: attention | moba | full | sse_swa"]


class SummaryInput(TypedDict):
    source: Annotated[str, "where the tokens came from (prompt, text file or embedded corpus passage)"]
    tokens: Annotated[int, "token positions"]


class ProjectionRecord(TypedDict):
    name: Annotated[str, "weight tensor name"]
    kind: Annotated[str, "the layer's kind"]
    coding: Annotated[str, "spike coding"]
    in_features: Annotated[int, "K"]
    out_features: Annotated[int, "N"]
    tokens: Annotated[int, "token rows"]
    activations: Annotated[int, "tokens x in_features"]
    clamped: Annotated[int, "activations clamped to the INT8 range"]
    weight_clamped: Annotated[int, "weights clamped to the INT8 range"]
    T_engine: Annotated[int, "window the engine used"]
    T_fixed: Annotated[int | None, "fixed window of the statistics: --window, else the coding's INT8 window "
                                   "(7 bitwise, 8 bitwise_2c, 127 ternary); None when a count does not fit"]
    T_data: Annotated[int, "smallest window that holds the data"]
    spikes: Annotated[int, "spikes in the fixed window"]
    spikes_data: Annotated[int, "spikes in the data window"]
    spikes_per_step: Annotated[list[int] | None, "spikes per time step of the fixed window"]
    firing_rate: Annotated[list[float] | None, "spikes per activation per time step"]
    zeros_fixed: Annotated[int | None, "zero cells of the fixed window"]
    zeros_data: Annotated[int, "zero cells of the data window"]
    sparsity_fixed: Annotated[float | None, "zero cells / all cells, fixed window"]
    sparsity_data: Annotated[float, "zero cells / all cells, data window"]
    sparsity_window3: Annotated[float, "sparsity in the 1.0 report's 3-step windows (zero padded)"]
    spikes_per_activation: Annotated[float, "spikes / activations"]
    zero_fraction: Annotated[float, "share of zero counts"]
    silent_channel_fraction: Annotated[float, "input channels silent over all tokens"]
    events: Annotated[int, "spikes the engine consumed"]
    accumulates: Annotated[int, "events x out_features"]
    dense_macs: Annotated[int, "tokens x in_features x out_features"]


class Layer(TypedDict):
    layer: Annotated[int, "layer index"]
    kind: Annotated[str, "attention | moba | full | sse_swa"]
    projections: Annotated[list[ProjectionRecord], "the layer's projections in call order"]
    attention: NotRequired[Annotated[dict[str, Any], "attention-level sparsity of the traced pass: MoBA "
                                     "{type: moba, chunk, topk, queries, block_fraction, key_fraction} (mean over "
                                     "queries and heads of the causal key blocks / keys each query visits); full "
                                     "and llama attention the same with type full and both fractions 1.0; SSE+SWA "
                                     "{type: sse, queries, partition_tokens, usage_entropy_bits, max_entropy_bits, "
                                     "swa_key_fraction}"]]


class Totals(TypedDict):
    projections: Annotated[int, "projections summed"]
    activations: Annotated[int, "summed over projections"]
    spikes: Annotated[int, "summed over projections"]
    events: Annotated[int, "summed over projections"]
    accumulates: Annotated[int, "summed over projections"]
    dense_macs: Annotated[int, "summed over projections"]
    clamped: Annotated[int, "summed over projections"]
    accumulates_per_dense_mac: Annotated[float, "accumulates / dense_macs (MAC-weighted spikes per activation)"]
    sparsity_data: Annotated[float, "zero cells over all cells, data windows"]
    sparsity_window3: Annotated[float, "zero cells over all cells, 3-step windows"]
    sparsity_fixed: Annotated[float | None, "zero cells over all cells, fixed windows"]
    T_fixed: Annotated[int | list[int] | None, "the fixed window, or the distinct windows where they differ"]
    spikes_per_activation: Annotated[float, "spikes / activations"]
    zero_fraction: Annotated[float, "share of zero counts"]
    silent_channel_fraction: Annotated[float, "input channels silent over all tokens"]


class Accuracy(TypedDict, total=False):
    positions: Annotated[int, "next-token positions compared"]
    top1_agreement: Annotated[float, "share of positions whose argmax agrees with the float model"]
    mean_kl: Annotated[float, "mean KL(fp || quantized) of the next-token distributions [nats]"]
    ppl_fp: Annotated[float | None, "perplexity of the float model"]
    ppl_quant: Annotated[float, "perplexity of the quantized model"]
    ppl_change: Annotated[float, "ppl_quant / ppl_fp - 1"]


class Generated(TypedDict):
    ids: Annotated[list[int], "generated token ids (--generate)"]
    text: Annotated[str, "their text"]


class Summary(TypedDict):
    schema_version: Annotated[int, "format version (SUMMARY_VERSION)"]
    neurosim_version: Annotated[str, "the neurosim that wrote it"]
    model: Annotated[SummaryModel, "the model run"]
    settings: Annotated[dict[str, Any], "every run setting (`neurosim run`'s options)"]
    input: Annotated[SummaryInput, "the tokens run"]
    tokens: Annotated[int, "token positions"]
    accuracy: Annotated[Accuracy, "quantized against float on the same tokens (fp mode: ppl_fp only)"]
    layers: NotRequired[Annotated[list[Layer], "per layer its projections' spike statistics (not in fp mode)"]]
    totals: NotRequired[Annotated[Totals, "the same quantities over all projections (not in fp mode)"]]
    tiles: NotRequired[Annotated[list[str], "tile file names under tiles/ (not in fp mode)"]]
    generated: NotRequired[Annotated[Generated, "with --generate"]]
    rotation: NotRequired[Annotated[Any, "the rotation folded into the weights (--rotate)"]]
    smoothing: NotRequired[Annotated[Any, "the smoothing folded into the weights (--smooth)"]]


# ---- hw.json --------------------------------------------------------------------------------------

class HwAssumption(TypedDict):
    item: Annotated[str, "what is assumed"]
    paper: Annotated[str, "the paper's choice (or unknown)"]
    here: Annotated[str, "neurosim's choice"]


class Hw(TypedDict):
    schema: Annotated[str, "format version (HW_SCHEMA)"]
    settings: Annotated[dict[str, Any], "library, voltage, lanes, K, coding and T, clocks (freqs_mhz), Yosys "
                                        "version, stimulus, pipeline depths searched, slew and load"]
    units: Annotated[dict[str, str], "the unit of every kind of figure: area um^2, energy pJ per clock cycle of "
                                     "the whole lane array, power mW, time ns, frequency MHz, leakage nW, "
                                     "capacitance pF"]
    measured_spikes_per_activation: Annotated[float, "of the stimulus (the trace's tiles, or synthetic data)"]
    stimulus_stats: Annotated[dict[str, Any], "the stimulus sample's spike rate and zero share (sample), beside "
                                              "the whole model's from a trace (model, else None)"]
    candidates_1lane: Annotated[list[dict[str, Any]], "every one-lane candidate: design, family, pipeline, "
                                                      "latency, area, slack per clock"]
    configs: Annotated[dict[str, dict[str, Any]], "every synthesized full-array configuration (area, slack, "
                                                  "depth), by top@ABC target"]
    results: Annotated[dict[str, dict[str, Any]], "the chosen configuration per design and clock, with its "
                                                  "gate-level power (zero-delay and with glitches, with and "
                                                  "without ideal clock gating)"]
    comparison: Annotated[dict[str, dict[str, Any]], "per clock [MHz] the spiking array against the MAC array: "
                                                     "area_reduction_pct, both_meet_timing and per simulation "
                                                     "the power and energy reductions"]
    paper: Annotated[dict[str, Any], "the paper's hardware claims with their source"]
    assumptions: Annotated[list[HwAssumption], "where neurosim's setup differs from (or is unknown in) the paper"]
    technology_scaling: Annotated[dict[str, Any] | None, "areas and energies at other nodes (ESTIMATE)"]
    comparison_kinds: NotRequired[Annotated[dict[str, Any], "every spiking kind against the MAC (--coding)"]]
    over_tiles: NotRequired[Annotated[dict[str, Any], "per design and clock: figures with intervals over the "
                                                      "trace's tiles"]]
    libraries: NotRequired[Annotated[dict[str, Any], "per cell library its own results (--tech all)"]]
    run: NotRequired[Annotated[dict[str, Any], "durations and cache misses: the only member that is not "
                                               "reproducible"]]


# ---- energy.json ----------------------------------------------------------------------------------

class EnergySettingsDoc(TypedDict):
    trace: Annotated[str, "the trace folder"]
    hw: Annotated[str, "the hw folder"]
    freq_mhz: Annotated[float, "the clock priced [MHz]"]
    node_nm: Annotated[int, "memory (and scaled compute) node [nm]"]
    sram_kb: Annotated[int, "weight SRAM bank [KiB]"]
    buffer_kb: Annotated[int, "buffer bank [KiB]"]
    weights: Annotated[str, "sram (all on chip) | dram (streamed per batch)"]
    batch: Annotated[int, "tokens per DRAM weight stream"]
    lanes: Annotated[int, "lanes of the arrays"]
    sram_model: Annotated[str, "cacti | cited"]
    dram_level: Annotated[str, "low | high"]
    word_bits: Annotated[int, "weight SRAM port width [bits]"]
    weight_row_bits: Annotated[int, "one weight row: lanes x 8 [bits]"]
    accesses_per_row: Annotated[int, "port accesses per weight row"]


class EvalEnergySettingsDoc(TypedDict):
    hw: Annotated[str, "the hw folder"]
    eval: Annotated[str, "the eval folder (--eval without --trace)"]


class PerToken(TypedDict):
    components_pj: Annotated[dict[str, float], "compute, weight_sram, weight_dram, buffers, outputs, leakage [pJ]"]
    total_pj: Annotated[float, "sum of the components [pJ]"]
    unit_pj: Annotated[float, "compute alone [pJ]"]
    busy_cycles: Annotated[float, "array cycles"]
    weight_row_reads: Annotated[float, "weight rows read"]
    run_time_us: Annotated[float, "busy cycles / clock [us]"]


class VsBaseline(TypedDict):
    memory_included_reduction_pct: Annotated[float | None, "1 - total / the baseline's total [%]"]
    unit_only_reduction_pct: Annotated[float | None, "1 - compute / the baseline's compute [%]"]
    spiking_loses: Annotated[bool, "the spiking design uses more energy per token"]


class BreakEven(TypedDict):
    memory_included: Annotated[float | None, "spikes per activation at equal total energy (None: never)"]
    unit_only: Annotated[float | None, "the same for compute alone"]


class EnergyDesign(TypedDict):
    name: Annotated[str, "design and dataflow"]
    design: Annotated[str, "mac | spike"]
    dataflow: Annotated[str, "mac_dense | mac_zero_skip | spike_barrel_held | spike_barrel_per_event | "
                             "spike_horner"]
    top: Annotated[str, "the RTL top module"]
    meets_timing: Annotated[bool, "at the priced clock"]
    simulation: Annotated[str, "gspecify | zero_delay: the gate-level simulation priced"]
    per_token: Annotated[PerToken, "energy and time per token"]
    per_mac_eq_pj: Annotated[float, "total / dense MACs [pJ]"]
    unit_per_mac_eq_pj: Annotated[float, "compute / dense MACs [pJ]"]
    coding: NotRequired[Annotated[str, "spiking designs: the coding"]]
    variant: NotRequired[Annotated[str, "spiking designs: barrel | horner | unary"]]
    spikes_per_activation: NotRequired[Annotated[float, "spiking designs: of the trace in this coding"]]
    vs: NotRequired[Annotated[dict[str, VsBaseline], "spiking designs: against each MAC baseline"]]
    break_even: NotRequired[Annotated[dict[str, BreakEven], "spiking designs: against each MAC baseline"]]


class SplitPerToken(TypedDict):
    total_pj_per_token: Annotated[float, "[pJ]"]
    components_pj_per_token: Annotated[dict[str, float], "by component [pJ]"]


class EnergyLayer(TypedDict):
    layer: Annotated[int, "layer index"]
    designs: Annotated[dict[str, SplitPerToken], "per design"]


class EnergyProjection(TypedDict):
    name: Annotated[str, "weight tensor name"]
    layer: Annotated[int, "layer index"]
    activations: Annotated[int, "over the trace"]
    nonzero_fraction: Annotated[float, "share of non-zero activations"]
    designs: Annotated[dict[str, SplitPerToken], "per design"]
    spikes_per_activation: NotRequired[Annotated[dict[str, float], "per coding"]]
    break_even: NotRequired[Annotated[dict[str, dict[str, float | None]], "per spiking design and baseline, "
                                                                          "memory included"]]


class Skipped(TypedDict):
    name: Annotated[str, "the design"]
    reason: Annotated[str, "why it was not priced"]


class Energy(TypedDict):
    schema: Annotated[str, "format version (ENERGY_SCHEMA)"]
    settings: Annotated[EnergySettingsDoc | EvalEnergySettingsDoc, "the memory system and clock priced (with "
                                                                   "--eval alone: the folders read)"]
    model: NotRequired[Annotated[str | None, "the traced model's path"]]
    model_type: NotRequired[Annotated[str | None, "its layout"]]
    tokens: NotRequired[Annotated[int, "token positions of the trace"]]
    projections: NotRequired[Annotated[int, "projections priced"]]
    weight_bytes: NotRequired[Annotated[int, "INT8 weights of those projections [bytes]"]]
    dense_macs_per_token: NotRequired[Annotated[float, "MACs of the dense products per token"]]
    spikes_per_activation: NotRequired[Annotated[dict[str, float], "per coding, over the trace"]]
    nonzero_fraction: NotRequired[Annotated[float, "share of non-zero activations"]]
    constants: NotRequired[Annotated[dict[str, dict[str, Any]], "compute, weight_sram, buffer_sram and dram "
                                                                "prices with their sources and units"]]
    designs: NotRequired[Annotated[list[EnergyDesign], "every design and dataflow priced"]]
    skipped_designs: NotRequired[Annotated[list[Skipped], "designs not priced"]]
    per_layer: NotRequired[Annotated[list[EnergyLayer], "energy per token and layer"]]
    per_projection: NotRequired[Annotated[list[EnergyProjection], "energy per token and projection"]]
    published_break_even: NotRequired[Annotated[list[dict[str, Any]], "published break-even conditions, each "
                                                                      "in its own unit"]]
    assumptions: NotRequired[Annotated[list[str], "what the pricing leaves out or simplifies"]]
    scenarios: NotRequired[Annotated[dict[str, Any], "the verdict over a scenario grid (--scenarios)"]]
    eval_settings: NotRequired[Annotated[list[dict[str, Any]], "every eval setting priced (--eval)"]]
    eval_answer: NotRequired[Annotated[str, "the joint accuracy and energy answer (--eval)"]]


#: file name -> its description
FILES: dict[str, type] = {"summary.json": Summary, "hw.json": Hw, "energy.json": Energy}


# ---- checking and documenting ---------------------------------------------------------------------

def _members(td: type) -> dict[str, tuple[Any, str, bool]]:
    """name -> (type, meaning, required) of a TypedDict."""
    hints = typing.get_type_hints(td, include_extras=True)
    out = {}
    for name, hint in hints.items():
        meaning = ""
        if typing.get_origin(hint) in (NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        if typing.get_origin(hint) is Annotated:
            hint, meaning = hint.__origin__, hint.__metadata__[0]
        out[name] = (hint, meaning, name in td.__required_keys__)
    return out


def _is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__required_keys__")


def _check(value: Any, t: Any, where: str, out: list[str]) -> None:
    """Append to ``out`` where ``value`` does not match the type ``t``."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t is Any:
        return
    if origin in (Union, types.UnionType):
        trial: list[list[str]] = []
        for a in args:
            trial.append([])
            _check(value, a, where, trial[-1])
            if not trial[-1]:
                return
        out.append(f"{where}: {type(value).__name__} is none of {_type_name(t)}")
    elif t is type(None):
        if value is not None:
            out.append(f"{where}: expected None, got {type(value).__name__}")
    elif _is_typeddict(t):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        members = _members(t)
        out += [f"{where}: lacks {k!r}" for k, (_, _, req) in members.items() if req and k not in value]
        out += [f"{where}: {k!r} is not described" for k in value if k not in members]
        for k, v in value.items():
            if k in members:
                _check(v, members[k][0], f"{where}/{k}", out)
    elif origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            _check(v, args[0], f"{where}/{i}", out)
    elif origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for k, v in value.items():
            _check(v, args[1], f"{where}/{k}", out)
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{where}: expected a number, got {type(value).__name__}")
    elif t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{where}: expected an integer, got {type(value).__name__}")
    elif not isinstance(value, t):
        out.append(f"{where}: expected {t.__name__}, got {type(value).__name__}")


def problems(doc: Any, description: type) -> list[str]:
    """Where ``doc`` (a parsed JSON file) departs from ``description`` (one of :data:`FILES`): missing
    or undescribed members and wrong types, as JSON pointers; empty when it matches."""
    out: list[str] = []
    _check(doc, description, "", out)
    return out


def _type_name(t: Any) -> str:
    """A type as the docs show it: int, float, str, bool, null, list of X, object of X, or a TypedDict's name."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if t is Any:
        return "any"
    if t is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "object" if args[1] is Any else f"object of {_type_name(args[1])}"
    return getattr(t, "__name__", str(t))


def _nested(t: Any) -> list[type]:
    """The TypedDicts a type refers to, in order."""
    if _is_typeddict(t):
        return [t]
    return [x for a in typing.get_args(t) for x in _nested(a)]


def markdown(file: str) -> str:
    """The member tables of one file of :data:`FILES`: its description and every record it nests."""
    todo, seen, parts = [FILES[file]], set(), []
    while todo:
        td = todo.pop(0)
        if td in seen:
            continue
        seen.add(td)
        title = f"`{file}`" if td is FILES[file] else f"`{td.__name__}`"
        rows = [f"**{title}**", "", "| member | type | meaning |", "|---|---|---|"]
        for name, (t, meaning, req) in _members(td).items():
            rows.append(f"| `{name}`{'' if req else ' (optional)'} | {_type_name(t)} | {meaning} |")
            todo += _nested(t)
        parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


BEGIN = "<!-- members of {file}: generated by `python -m neurosim.formats --write docs/formats.md` -->"
END = "<!-- end of {file} -->"


def update_page(text: str) -> str:
    """``text`` (docs/formats.md) with every generated block replaced by the current tables."""
    for file in FILES:
        begin, end = BEGIN.format(file=file), END.format(file=file)
        head, sep, rest = text.partition(begin)
        if not sep:
            raise ValueError(f"the page has no block for {file} (a line {begin!r})")
        _, sep, tail = rest.partition(end)
        if not sep:
            raise ValueError(f"the block for {file} has no end line {end!r}")
        text = f"{head}{begin}\n\n{markdown(file)}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m neurosim.formats --write PAGE`` regenerates the blocks; ``--check PAGE`` exits 1 when stale."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("--write", "--check"):
        print("usage: python -m neurosim.formats --write|--check docs/formats.md", file=sys.stderr)
        return 2
    page = Path(args[1])
    text = page.read_text()
    new = update_page(text)
    if args[0] == "--check":
        if new != text:
            print(f"{page}: the member tables are stale; run python -m neurosim.formats --write {page}",
                  file=sys.stderr)
            return 1
        return 0
    page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SUMMARY_VERSION", "HW_SCHEMA", "ENERGY_SCHEMA", "FILES", "Summary", "Hw", "Energy", "problems",
           "markdown", "update_page"]
