"""The JSON files later stages read, described once: ``summary.json`` (a trace), ``hw.json``
(``neurosim hw``) and ``energy.json`` (``neurosim energy``).

Each file is a :class:`typing.TypedDict`; the comment after a member (continued on ``#   `` lines)
is its meaning. :mod:`neurosim.formatdoc` checks documents against these descriptions and generates
docs/formats.md's member tables from them. This module also owns the format versions the writers
stamp and the readers check.
"""

from typing import Any, NotRequired, TypedDict

#: ``summary.json``'s ``schema_version`` (written by ``neurosim run --trace``)
SUMMARY_VERSION = 1
#: ``hw.json``'s ``schema`` member (written by ``neurosim hw``, read by ``neurosim energy`` and the report)
HW_SCHEMA = "neurosim.hw/1"
#: ``energy.json``'s ``schema`` member (written by ``neurosim energy``, read by the report)
ENERGY_SCHEMA = "neurosim.energy/1"
#: ``energy.json``'s energy components (the keys of ``components_pj``) in table order, with their labels
ENERGY_COMPONENTS = {"compute": "compute (lane array)", "weight_sram": "weight SRAM reads",
                     "weight_dram": "weight DRAM + staging", "buffers": "activation / spike buffers",
                     "outputs": "output writes", "leakage": "leakage over the run"}


# ---- summary.json ---------------------------------------------------------------------------------

class SummaryModel(TypedDict):
    """summary.json's model."""
    path: str  # the checkpoint folder
    model_type: str  # sse_swa_moba | qwen3 | qwen2 | llama
    n_layers: int  # blocks
    layer_kinds: list[str]  # kind of every layer: attention | moba | full | sse_swa


class SummaryInput(TypedDict):
    """Where the traced tokens came from."""
    source: str  # where the tokens came from (prompt, text file or embedded corpus passage)
    tokens: int  # token positions


class ProjectionRecord(TypedDict):
    """The spike statistics of one projection over the traced tokens."""
    name: str  # weight tensor name
    kind: str  # the layer's kind
    coding: str  # spike coding
    in_features: int  # K
    out_features: int  # N
    tokens: int  # token rows
    activations: int  # tokens x in_features
    clamped: int  # activations clamped to the INT8 range
    weight_clamped: int  # weights clamped to the INT8 range
    T_engine: int  # window the engine used
    T_fixed: int | None  # fixed window of the statistics: --window, else the coding's INT8 window (7 bitwise, 8
    #   bitwise_2c, 127 ternary); None when a count does not fit
    T_data: int  # smallest window that holds the data
    spikes: int  # spikes in the fixed window
    spikes_data: int  # spikes in the data window
    spikes_per_step: list[int] | None  # spikes per time step of the fixed window
    firing_rate: list[float] | None  # spikes per activation per time step
    zeros_fixed: int | None  # zero cells of the fixed window
    zeros_data: int  # zero cells of the data window
    sparsity_fixed: float | None  # zero cells / all cells, fixed window
    sparsity_data: float  # zero cells / all cells, data window
    sparsity_window3: float  # sparsity in the 1.0 report's 3-step windows (zero padded)
    spikes_per_activation: float  # spikes / activations
    zero_fraction: float  # share of zero counts
    silent_channel_fraction: float  # input channels silent over all tokens
    events: int  # spikes the engine consumed
    accumulates: int  # events x out_features
    dense_macs: int  # tokens x in_features x out_features


class Layer(TypedDict):
    """One block of the model."""
    layer: int  # layer index
    kind: str  # attention | moba | full | sse_swa
    projections: list[ProjectionRecord]  # the layer's projections in call order
    attention: NotRequired[dict[str, Any]]  # attention-level sparsity of the traced pass: MoBA {type: moba, chunk,
    #   topk, queries, block_fraction, key_fraction, mean_keys} (mean over queries and heads of the causal key blocks /
    #   keys each query visits, and of the keys it visits); full and llama attention {type: full, queries,
    #   block_fraction: 1.0, key_fraction: 1.0}; SSE+SWA {type: sse, queries, partition_tokens, usage_entropy_bits,
    #   max_entropy_bits, swa_key_fraction}


class Totals(TypedDict):
    """The projection records aggregated (neurosim.run.aggregate_totals)."""
    projections: int  # projections summed
    activations: int  # summed over projections
    spikes: int  # summed over projections
    events: int  # summed over projections
    accumulates: int  # summed over projections
    dense_macs: int  # summed over projections
    clamped: int  # summed over projections
    accumulates_per_dense_mac: float  # accumulates / dense_macs (MAC-weighted spikes per activation)
    sparsity_data: float  # zero cells over all cells, data windows
    sparsity_window3: float  # zero cells over all cells, 3-step windows
    sparsity_fixed: float | None  # zero cells over all cells, fixed windows
    T_fixed: int | list[int] | None  # the fixed window, or the distinct windows where they differ
    spikes_per_activation: float  # spikes / activations
    zero_fraction: float  # share of zero counts
    silent_channel_fraction: float  # input channels silent over all tokens


class Accuracy(TypedDict, total=False):
    """The quantized model against the float model on the same tokens."""
    positions: int  # next-token positions compared
    top1_agreement: float  # share of positions whose argmax agrees with the float model
    mean_kl: float  # mean KL(fp || quantized) of the next-token distributions [nats]
    ppl_fp: float | None  # perplexity of the float model
    ppl_quant: float  # perplexity of the quantized model
    ppl_change: float  # ppl_quant / ppl_fp - 1


class Generated(TypedDict):
    """Greedy continuation (--generate)."""
    ids: list[int]  # generated token ids (--generate)
    text: str  # their text


class Summary(TypedDict):
    """summary.json: a trace's settings, statistics and accuracy."""
    schema_version: int  # format version (SUMMARY_VERSION)
    neurosim_version: str  # the neurosim that wrote it
    model: SummaryModel  # the model run
    settings: dict[str, Any]  # every run setting (`neurosim run`'s options)
    input: SummaryInput  # the tokens run
    tokens: int  # token positions
    accuracy: Accuracy  # quantized against float on the same tokens (fp mode: ppl_fp only)
    layers: NotRequired[list[Layer]]  # per layer its projections' spike statistics (not in fp mode)
    totals: NotRequired[Totals]  # the same quantities over all projections (not in fp mode)
    tiles: NotRequired[list[str]]  # tile file names under tiles/ (not in fp mode)
    generated: NotRequired[Generated]  # with --generate
    rotation: NotRequired[Any]  # the rotation folded into the weights (--rotate)
    smoothing: NotRequired[Any]  # the smoothing folded into the weights (--smooth)


# ---- hw.json --------------------------------------------------------------------------------------

class HwAssumption(TypedDict):
    """One setup choice beside the paper's."""
    item: str  # what is assumed
    paper: str  # the paper's choice (or unknown)
    here: str  # neurosim's choice


class Hw(TypedDict):
    """hw.json: the lane arrays' area, timing and gate-level power."""
    schema: str  # format version (HW_SCHEMA)
    settings: dict[str, Any]  # library, voltage, lanes, K, coding and T, clocks (freqs_mhz), Yosys version, stimulus,
    #   pipeline depths searched, slew and load
    units: dict[str, str]  # the unit of every kind of figure: area um^2, energy pJ per clock cycle of the whole lane
    #   array, power mW, time ns, frequency MHz, leakage nW, capacitance pF
    measured_spikes_per_activation: float  # of the stimulus (the trace's tiles, or synthetic data)
    stimulus_stats: dict[str, Any]  # the stimulus sample's spike rate and zero share (sample), beside the whole
    #   model's from a trace (model, else None)
    candidates_1lane: list[dict[str, Any]]  # every one-lane candidate: design, family, pipeline, latency, area, slack
    #   per clock
    configs: dict[str, dict[str, Any]]  # every synthesized full-array configuration (area, slack, depth), by top@ABC
    #   target
    results: dict[str, dict[str, Any]]  # the chosen configuration per design and clock, with its gate-level power
    #   (zero-delay and with glitches, with and without ideal clock gating)
    comparison: dict[str, dict[str, Any]]  # per clock [MHz] the spiking array against the MAC array:
    #   area_reduction_pct, both_meet_timing and per simulation the power and energy reductions
    paper: dict[str, Any]  # the paper's hardware claims with their source
    assumptions: list[HwAssumption]  # where neurosim's setup differs from (or is unknown in) the paper
    technology_scaling: dict[str, Any] | None  # areas and energies at other nodes (ESTIMATE)
    comparison_kinds: NotRequired[dict[str, Any]]  # every spiking kind against the MAC (--coding)
    over_tiles: NotRequired[dict[str, Any]]  # per design and clock: figures with intervals over the trace's tiles
    libraries: NotRequired[dict[str, Any]]  # per cell library its own results (--tech all)
    run: NotRequired[dict[str, Any]]  # durations and cache misses: the only member that is not reproducible


# ---- energy.json ----------------------------------------------------------------------------------

class EnergySettingsDoc(TypedDict):
    """The memory system and clock a trace was priced with."""
    trace: str  # the trace folder
    hw: str  # the hw folder
    freq_mhz: float  # the clock priced [MHz]
    node_nm: int  # memory (and scaled compute) node [nm]
    sram_kb: int  # weight SRAM bank [KiB]
    buffer_kb: int  # buffer bank [KiB]
    weights: str  # sram (all on chip) | dram (streamed per batch)
    batch: int  # tokens per DRAM weight stream
    lanes: int  # lanes of the arrays
    sram_model: str  # cacti | cited
    dram_level: str  # low | high
    word_bits: int  # weight SRAM port width [bits]
    weight_row_bits: int  # one weight row: lanes x 8 [bits]
    accesses_per_row: int  # port accesses per weight row


class EvalEnergySettingsDoc(TypedDict):
    """The folders read when only eval settings are priced."""
    hw: str  # the hw folder
    eval: str  # the eval folder (--eval without --trace)


class PerToken(TypedDict):
    """A design's energy per token, by component."""
    components_pj: dict[str, float]  # compute, weight_sram, weight_dram, buffers, outputs, leakage [pJ]
    total_pj: float  # sum of the components [pJ]
    unit_pj: float  # compute alone [pJ]
    busy_cycles: float  # array cycles
    weight_row_reads: float  # weight rows read
    run_time_us: float  # busy cycles / clock [us]


class VsBaseline(TypedDict):
    """A spiking design against one MAC baseline."""
    memory_included_reduction_pct: float | None  # 1 - total / the baseline's total [%]
    unit_only_reduction_pct: float | None  # 1 - compute / the baseline's compute [%]
    spiking_loses: bool  # the spiking design uses more energy per token


class BreakEven(TypedDict):
    """Break-even spikes per activation against one baseline."""
    memory_included: float | None  # spikes per activation at equal total energy (None: never)
    unit_only: float | None  # the same for compute alone


class EnergyDesign(TypedDict):
    """One design and dataflow priced over the trace."""
    name: str  # design and dataflow
    design: str  # mac | spike
    dataflow: str  # mac_dense | mac_zero_skip | spike_barrel_held | spike_barrel_per_event | spike_horner
    top: str  # the RTL top module
    meets_timing: bool  # at the priced clock
    simulation: str  # gspecify | zero_delay: the gate-level simulation priced
    per_token: PerToken  # energy and time per token
    per_mac_eq_pj: float  # total / dense MACs [pJ]
    unit_per_mac_eq_pj: float  # compute / dense MACs [pJ]
    coding: NotRequired[str]  # spiking designs: the coding
    variant: NotRequired[str]  # spiking designs: barrel | horner | unary
    spikes_per_activation: NotRequired[float]  # spiking designs: of the trace in this coding
    vs: NotRequired[dict[str, VsBaseline]]  # spiking designs: against each MAC baseline
    break_even: NotRequired[dict[str, BreakEven]]  # spiking designs: against each MAC baseline


class SplitPerToken(TypedDict):
    """Energy per token, total and by component."""
    total_pj_per_token: float  # [pJ]
    components_pj_per_token: dict[str, float]  # by component [pJ]


class EnergyLayer(TypedDict):
    """One layer's energy per design."""
    layer: int  # layer index
    designs: dict[str, SplitPerToken]  # per design


class EnergyProjection(TypedDict):
    """One projection's energy per design."""
    name: str  # weight tensor name
    layer: int  # layer index
    activations: int  # over the trace
    nonzero_fraction: float  # share of non-zero activations
    designs: dict[str, SplitPerToken]  # per design
    spikes_per_activation: NotRequired[dict[str, float]]  # per coding
    break_even: NotRequired[dict[str, dict[str, float | None]]]  # per spiking design and baseline, memory included


class Skipped(TypedDict):
    """A design that was not priced."""
    name: str  # the design
    reason: str  # why it was not priced


class Energy(TypedDict):
    """energy.json: energy per token of every design, memory included."""
    schema: str  # format version (ENERGY_SCHEMA)
    settings: EnergySettingsDoc | EvalEnergySettingsDoc  # the memory system and clock priced (with --eval alone: the
    #   folders read)
    model: NotRequired[str | None]  # the traced model's path
    model_type: NotRequired[str | None]  # its layout
    tokens: NotRequired[int]  # token positions of the trace
    projections: NotRequired[int]  # projections priced
    weight_bytes: NotRequired[int]  # INT8 weights of those projections [bytes]
    dense_macs_per_token: NotRequired[float]  # MACs of the dense products per token
    spikes_per_activation: NotRequired[dict[str, float]]  # per coding, over the trace
    nonzero_fraction: NotRequired[float]  # share of non-zero activations
    constants: NotRequired[dict[str, dict[str, Any]]]  # compute, weight_sram, buffer_sram and dram prices with their
    #   sources and units
    designs: NotRequired[list[EnergyDesign]]  # every design and dataflow priced
    skipped_designs: NotRequired[list[Skipped]]  # designs not priced
    per_layer: NotRequired[list[EnergyLayer]]  # energy per token and layer
    per_projection: NotRequired[list[EnergyProjection]]  # energy per token and projection
    published_break_even: NotRequired[list[dict[str, Any]]]  # published break-even conditions, each in its own unit
    assumptions: NotRequired[list[str]]  # what the pricing leaves out or simplifies
    scenarios: NotRequired[dict[str, Any]]  # the verdict over a scenario grid (--scenarios)
    eval_settings: NotRequired[list[dict[str, Any]]]  # every eval setting priced (--eval)
    eval_answer: NotRequired[str]  # the joint accuracy and energy answer (--eval)


#: file name -> its description
FILES: dict[str, type] = {"summary.json": Summary, "hw.json": Hw, "energy.json": Energy}


__all__ = ["SUMMARY_VERSION", "HW_SCHEMA", "ENERGY_SCHEMA", "ENERGY_COMPONENTS", "FILES", "Summary", "Hw", "Energy"]
