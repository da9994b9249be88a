"""The settings of a run: one dataclass, its YAML file, its command-line flags, and the check that
rejects impossible combinations before any work starts.

Every field is a YAML key and a flag of the same name (underscores become dashes on the command
line); flags override the file. ``asdict(Settings)`` minus ``trace`` is what ``summary.json``
records under ``settings``, in field order. The quantizer keys beyond the fidelity's own
(``smooth``, ``calib_file``, ``calib_tokens``, ``window_for``, ``rotate``, ``rotate_seed``) are shared
with ``neurosim eval``: their flags are defined once here (:func:`add_quantizer_arguments`) and
checked once (:meth:`Settings.validate`).
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.core.coding import CODINGS, fits, required_steps
from neurosim.core.quant import SCALES

__all__ = ["MODES", "ENGINES", "DEVICES", "Quantizer", "Settings", "check_encoding", "load_yaml", "read_yaml",
           "setting_items", "parse_clamp", "parse_window_for", "add_arguments", "add_quantizer_arguments",
           "settings_from_args"]

#: fidelities of a run: float reference, dense INT8 products, event-driven spiking products
MODES = ("fp", "int8", "spike")
#: integer products of spike mode: the event-driven engine (default) or the exact dense path (same
#: integers and event counts; neurosim.core.dense); int8 mode always uses the dense path
ENGINES = ("event", "dense")
#: where the model runs: the CPU golden model (numpy), or the whole forward on a CUDA GPU (PyTorch, the
#: extra neurosim[gpu]; neurosim.model.torch_network)
DEVICES = ("cpu", "cuda")


@dataclass
class Quantizer:
    """The quantizer keys that ``neurosim run`` (:class:`Settings`) and ``neurosim eval``
    (:class:`neurosim.run.eval_settings.QuantSetting`) share; YAML keys and CLI flags have these names."""

    mode: str = "spike"  #: one of MODES
    coding: str = "bitwise"  #: one of neurosim.core.coding.CODINGS
    scale: str = "absmax"  #: activation quantizer, one of neurosim.core.quant.SCALES
    k: float = 3.0  #: adaptive threshold divisor, V_th = mean|x| / k
    clamp: int | None = 127  #: largest |count| (None: unbounded, adaptive only)
    window: int | None = None  #: fixed spike window T in steps (None: derived from each tensor)
    projections: list[str] = field(default_factory=lambda: ["*"])  #: fnmatch patterns of weight names
    weight_group: int | None = None  #: inputs per weight scale (None: one scale per output channel)
    smooth: float | None = None  #: SmoothQuant strength alpha in [0, 1] (None: no smoothing; neurosim.run.smooth)
    calib_file: str | None = None  #: smoothing calibration text (None: The Winter's Tale, not an eval play)
    calib_tokens: int = 2048  #: calibration tokens (the first of the calibration text)
    window_for: dict[str, int] = field(default_factory=dict)  #: weight-name pattern -> fixed spike window T
    rotate: str = "none"  #: residual-stream rotation folded into the weights (neurosim.run.rotate.ROTATIONS)
    rotate_seed: int = 0  #: seed of a random rotation (rotate random, or no Hadamard of the hidden size)


@dataclass
class Settings(Quantizer):
    """Everything a run depends on (the :class:`Quantizer` keys and these); YAML keys and CLI flags
    have these names."""

    model: str | None = None  #: checkpoint dir (None: the embedded SmolLM2-135M)
    prompt: str | None = None
    text_file: str | None = None
    encoding: str = "utf-8"  #: encoding of text_file and calib_file (Python codec name)
    max_tokens: int = 256  #: input truncated to this many tokens
    generate: int = 0  #: greedily generated tokens after the input
    allow_longer: bool = False  #: run past the model's max_position_embeddings (input + generated)
    engine: str | None = None  #: spike-mode product, one of ENGINES (None: event); int8 is always dense
    device: str = "cpu"  #: one of DEVICES; cuda runs the whole forward on the GPU (spike mode: dense path)
    tiles: int = 32  #: hardware tiles written into the trace (sampled over layers and projection kinds)
    dtype: str = "float32"  #: float dtype of the model
    trace: str | None = None  #: trace directory to write (None: no trace)

    def validate(self) -> "Settings":
        """Reject impossible combinations before any work starts; returns ``self``."""
        for name in ("model", "prompt", "text_file", "calib_file", "trace"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, Path)):
                raise NeurosimError(f"{name} must be a string, got {v!r}")
        for name in ("mode", "coding", "scale", "dtype", "device", "encoding"):
            if not isinstance(getattr(self, name), str):
                raise NeurosimError(f"{name} must be a string, got {getattr(self, name)!r}")
        check_encoding(self.encoding)
        if self.mode not in MODES:
            raise NeurosimError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.engine is not None and self.engine not in ENGINES:
            raise NeurosimError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.engine == "event" and self.mode == "int8":
            raise NeurosimError("engine event applies to spike mode; int8 mode is the dense product (use --mode spike)")
        if self.device not in DEVICES:
            raise NeurosimError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.device == "cuda":
            if self.engine == "event":
                raise NeurosimError("engine event runs on the CPU; --device cuda uses the dense path (--engine dense)")
            from neurosim.core.gpu import require_cuda

            require_cuda()
        if self.coding not in CODINGS:
            raise NeurosimError(f"unknown coding {self.coding!r}; choose one of {', '.join(CODINGS)}")
        if self.scale not in SCALES:
            raise NeurosimError(f"unknown scale {self.scale!r}; choose one of {', '.join(SCALES)}")
        if self.dtype not in ("float32", "float64"):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.prompt is not None and self.text_file is not None:
            raise NeurosimError("give either --prompt or --text-file, not both")
        if not isinstance(self.allow_longer, bool):
            raise NeurosimError(f"allow_longer must be true or false, got {self.allow_longer!r}")
        for name, minimum in (("max_tokens", 1), ("generate", 0), ("tiles", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
                raise NeurosimError(f"{name} must be an integer >= {minimum}, got {v!r}")
        if not (isinstance(self.k, (int, float)) and self.k > 0):
            raise NeurosimError(f"k must be a positive number, got {self.k!r}")
        if self.clamp is not None and (not isinstance(self.clamp, int) or self.clamp < 1):
            raise NeurosimError(f"clamp must be a positive integer or none, got {self.clamp!r}")
        if self.scale == "absmax" and self.clamp != 127:
            raise NeurosimError(f"clamp {self.clamp} applies to --scale adaptive only: it caps adaptive counts; "
                                "absmax scales every token to [-127, 127] by construction")
        if self.coding == "binary" and self.mode != "fp":
            raise NeurosimError("binary coding cannot carry negative activations; use ternary, bitwise or bitwise_2c")
        if self.window is not None:
            if not isinstance(self.window, int) or self.window < 1:
                raise NeurosimError(f"window must be a positive integer, got {self.window!r}")
            top = 127 if self.scale == "absmax" else self.clamp
            if top is None:
                raise NeurosimError("a fixed --window needs bounded counts: use --clamp N with --scale adaptive")
            if not bool(fits(np.array([top, -top]), self.coding, self.window).all()):
                need = required_steps(np.array([top, -top]), self.coding)
                raise NeurosimError(
                    f"window T={self.window} is too small for {self.coding} counts up to {top} (needs T >= {need})"
                )
        if self.weight_group is not None and (not isinstance(self.weight_group, int) or self.weight_group < 1):
            raise NeurosimError(f"weight_group must be a positive integer, got {self.weight_group!r}")
        if (not isinstance(self.projections, (list, tuple)) or not self.projections
                or not all(isinstance(p, str) and p for p in self.projections)):
            raise NeurosimError("projections must be a non-empty list of name patterns")
        self._validate_folds()
        return self

    def _validate_folds(self) -> None:
        """The quantizer keys shared with neurosim eval: smoothing, per-projection windows, rotation."""
        from neurosim.run.rotate import ROTATIONS

        if self.smooth is not None:
            if isinstance(self.smooth, bool) or not isinstance(self.smooth, (int, float)) or not 0 <= self.smooth <= 1:
                raise NeurosimError(f"smooth (alpha) must be a number in [0, 1], got {self.smooth!r}")
        elif self.calib_file is not None:
            raise NeurosimError("calib_file is only used with smooth ALPHA")
        if not isinstance(self.calib_tokens, int) or isinstance(self.calib_tokens, bool) or self.calib_tokens < 16:
            raise NeurosimError(f"calib_tokens must be an integer >= 16, got {self.calib_tokens!r}")
        if not isinstance(self.window_for, dict):
            raise NeurosimError("window_for must map name patterns to windows T")
        for pat, T in self.window_for.items():
            if not isinstance(T, int) or isinstance(T, bool) or not 1 <= T <= 16:
                raise NeurosimError(f"window_for {pat}={T!r}: T must be an integer in [1, 16]")
            if self.scale == "adaptive" and self.clamp is None:
                raise NeurosimError("window_for needs bounded counts: absmax, or adaptive with a clamp")
            if self.coding == "bitwise_2c" and T < 2:
                raise NeurosimError(f"window_for {pat}={T}: bitwise_2c needs T >= 2")
        if self.window_for and self.coding not in ("bitwise", "bitwise_2c", "ternary"):
            raise NeurosimError(f"window_for needs a signed coding, got {self.coding}")
        if self.rotate is None:
            self.rotate = "none"
        if self.rotate not in ROTATIONS:
            raise NeurosimError(f"unknown rotate {self.rotate!r}; choose one of {', '.join(ROTATIONS)}")
        if not isinstance(self.rotate_seed, int) or isinstance(self.rotate_seed, bool) or self.rotate_seed < 0:
            raise NeurosimError(f"rotate_seed must be a non-negative integer, got {self.rotate_seed!r}")
        if self.mode == "fp" and (self.smooth is not None or self.window_for or self.rotate != "none"):
            raise NeurosimError("smooth, window_for and rotate change the quantized pass; they need --mode int8 "
                                "or spike")


def check_encoding(name) -> None:
    """Refuse a text encoding Python does not know, with a one-line error."""
    import codecs

    try:
        codecs.lookup(name)
    except (LookupError, TypeError):
        raise NeurosimError(f"unknown text encoding {name!r} (a Python codec name, e.g. utf-8 or latin-1)") from None


def load_yaml(path) -> dict:
    """Settings values from a YAML file (not yet validated); unknown keys are errors with a suggestion."""
    p = Path(path)
    data = read_yaml(p, "config file")
    if not isinstance(data, dict):
        raise NeurosimError(f"config file {p} must be a mapping of settings")
    return dict(setting_items(data, [f.name for f in fields(Settings)], p))


def read_yaml(path, what: str = "config file"):
    """The parsed YAML of file ``path`` (``{}`` when empty); a missing file or a YAML error is a
    one-line error naming ``what``."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"{what} {p} not found")
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise NeurosimError(f"{what} {p} is not valid YAML: {str(exc).splitlines()[0]}") from None


def setting_items(data: dict, known, where, what: str = "key"):
    """``(key, value)`` pairs of a settings mapping: ``-`` in keys read as ``_``, a ``clamp`` string
    parsed (:func:`parse_clamp`), a comma-separated ``projections`` string split. An unknown key is a
    one-line error naming ``what`` and ``where``, with the closest known key as a suggestion."""
    for key, value in data.items():
        k = str(key).replace("-", "_")
        if k not in known:
            hint = difflib.get_close_matches(k, known, n=1)
            mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise NeurosimError(f"unknown {what} {key!r} in {where}{mean}")
        if k == "clamp" and isinstance(value, str):
            value = parse_clamp(value)
        if k == "projections" and isinstance(value, str):
            value = [s.strip() for s in value.split(",") if s.strip()]
        if k == "window_for" and isinstance(value, (list, str)):
            value = parse_window_for([value] if isinstance(value, str) else value)
        yield k, value


def parse_clamp(text: str) -> int | None:
    """``"none"`` / ``"null"`` / ``"off"`` -> None, otherwise the integer clamp (a count)."""
    if str(text).lower() in ("none", "null", "off"):
        return None
    try:
        return int(text)
    except ValueError:
        raise NeurosimError(f"clamp must be an integer or 'none', got {text!r}") from None


def parse_window_for(items) -> dict[str, int]:
    """``["PATTERN=T", ...]`` -> ``{PATTERN: T}`` (one-line error for a malformed item)."""
    out = {}
    for it in items or []:
        pat, eq, T = str(it).rpartition("=")
        if not eq or not pat:
            raise NeurosimError(f"--window-for takes PATTERN=T, got {it!r}")
        try:
            out[pat] = int(T)
        except ValueError:
            raise NeurosimError(f"--window-for {it!r}: T must be an integer") from None
    return out


#: the help of --window, the same in neurosim run and neurosim eval
WINDOW_HELP = ("fixed spike window T in steps (default: each tensor's own T, with the fixed-window "
               "figures at the coding's INT8 window)")


def add_quantizer_arguments(p) -> None:
    """The flags of the quantizer keys shared by ``neurosim run`` and ``neurosim eval`` (``p``: a
    parser or an argument group): --smooth, --calib-file, --calib-tokens, --window-for, --rotate,
    --rotate-seed."""
    d = Settings()
    p.add_argument("--smooth", type=float, help="SmoothQuant migration strength ALPHA in [0, 1], folded into the "
                                                 "weights (default: no smoothing)")
    p.add_argument("--calib-file", help="calibration text for --smooth (default: The Winter's Tale)")
    p.add_argument("--calib-tokens", type=int, help=f"calibration tokens (default {d.calib_tokens})")
    p.add_argument("--window-for", action="append", metavar="PATTERN=T",
                   help="longer spike window T for matching projections (repeatable), e.g. down_proj=11 "
                        "(default: none)")
    from neurosim.run.rotate import ROTATIONS

    p.add_argument("--rotate", choices=ROTATIONS,
                   help="rotate the residual stream, folded into the weights (default none)")
    p.add_argument("--rotate-seed", type=int, help=f"seed of a random rotation (default {d.rotate_seed})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add one flag per :class:`Settings` field, plus ``--config`` (a YAML file of settings)."""
    d = Settings()
    p.add_argument("--model", help="a known model name (neurosim models) or a checkpoint directory "
                   "(default: the embedded SmolLM2-135M-Instruct)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prompt", help="input text (default: a Hamlet passage)")
    src.add_argument("--text-file", help="read the input text from a file (default: none)")
    p.add_argument("--encoding", help=f"encoding of --text-file and --calib-file (default {d.encoding}; "
                                      "other bytes are refused)")
    p.add_argument("--max-tokens", type=int, help=f"truncate the input to N tokens (default {d.max_tokens})")
    p.add_argument("--generate", type=int, help="greedily generate N tokens after the input (default 0)")
    p.add_argument("--allow-longer", action="store_true", default=None,
                   help="allow input + generated tokens beyond the model's max_position_embeddings "
                        "(default: refused)")
    p.add_argument("--mode", choices=MODES, help=f"fidelity (default {d.mode})")
    p.add_argument("--engine", choices=ENGINES,
                   help="spike-mode products: event-driven engine or exact dense path, same integers (default event)")
    p.add_argument("--device", choices=DEVICES,
                   help="cpu, or cuda: the whole forward on a CUDA GPU (needs the extra neurosim[gpu]; default cpu)")
    p.add_argument("--coding", choices=CODINGS, help=f"spike coding (default {d.coding})")
    p.add_argument("--scale", choices=SCALES, help=f"activation quantizer (default {d.scale})")
    p.add_argument("--k", type=float, help=f"adaptive threshold divisor: V_th = mean|x|/k (default {d.k:g})")
    p.add_argument("--clamp", help="largest |count| or 'none' (adaptive only; default 127)")
    p.add_argument("--window", type=int, help=WINDOW_HELP)
    p.add_argument("--projections", help="comma-separated fnmatch patterns of spiking weight names (default *)")
    p.add_argument("--weight-group", type=int, help="per-group weight scales of G inputs (default per channel)")
    p.add_argument("--tiles", type=int, help="hardware tiles to write into the trace, a seeded sample over "
                                             f"layers and projection kinds (default {d.tiles})")
    p.add_argument("--dtype", choices=("float32", "float64"), help="float dtype of the model (default float32)")
    add_quantizer_arguments(p)
    p.add_argument("--config", help="YAML file of settings, keys = flag names (default: none)")
    p.add_argument("--trace", help="write the trace folder OUT: summary.json, stats.npz, tiles/ (default: no trace)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated settings from parsed flags over the ``--config`` file (flags win)."""
    values = load_yaml(args.config) if getattr(args, "config", None) else {}
    for f in fields(Settings):
        v = getattr(args, f.name, None)
        if v is None:
            continue
        if f.name == "projections":
            v = [p.strip() for p in v.split(",") if p.strip()]
        elif f.name == "clamp":
            v = parse_clamp(v)
        elif f.name == "window_for":
            v = parse_window_for(v)
        values[f.name] = v
    try:
        return Settings(**values).validate()
    except TypeError as exc:
        raise NeurosimError(f"bad settings: {exc}") from None
