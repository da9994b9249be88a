"""The configuration of ``neurosim eval``: one quantizer setting (:class:`QuantSetting`), the whole
eval (:class:`EvalConfig`), and both read from the ``--settings`` YAML file and the flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

from neurosim import NeurosimError
from neurosim.run.settings import Quantizer, Settings, check_encoding, read_yaml, setting_items

__all__ = ["QuantSetting", "EvalConfig", "QUANT_KEYS", "config_from_args"]


@dataclass
class QuantSetting(Quantizer):
    """One quantizer setting: the :class:`~neurosim.run.settings.Quantizer` keys of ``neurosim run``
    (mode int8 or spike, default int8) and a label; YAML keys and CLI flags have these names."""

    mode: str = "int8"
    label: str | None = None  #: name in the tables (None: from the settings, :meth:`describe`)

    def validate(self) -> "QuantSetting":
        """Reject impossible settings (the checks of :class:`neurosim.run.settings.Settings`); returns ``self``."""
        if self.mode not in ("int8", "spike"):
            raise NeurosimError(f"eval mode must be int8 or spike, got {self.mode!r}")
        if self.rotate is None:
            self.rotate = "none"
        Settings(**{f.name: getattr(self, f.name) for f in fields(Quantizer)}).validate()  # the shared keys
        if self.label is None:
            self.label = self.describe()
        return self

    def describe(self) -> str:
        """The default label: the quantizer and what differs from the plain setting."""
        q = "absmax" if self.scale == "absmax" else f"adaptive k={self.k:g}" + (
            ", no clamp" if self.clamp is None else f", clamp {self.clamp}")
        parts = [q]
        if self.rotate != "none":
            parts.append(f"rotate {self.rotate}" + (f" seed {self.rotate_seed}" if self.rotate == "random" else ""))
        if self.smooth is not None:
            parts.append(f"smooth {self.smooth:g}")
        parts += [f"{p} T={T}" for p, T in self.window_for.items()]
        if self.projections != ["*"]:
            parts.append("only " + ",".join(self.projections))
        if self.weight_group:
            parts.append(f"w group {self.weight_group}")
        if self.coding != "bitwise":
            parts.append(self.coding)
        return ", ".join(parts)


QUANT_KEYS = tuple(f.name for f in fields(QuantSetting))


@dataclass
class EvalConfig:
    """Everything an eval depends on; YAML keys and CLI flags have these names."""

    model: str | None = None
    text_file: list[str] | None = None
    corpus: str | None = None  #: default "shakespeare" when no text file is given
    encoding: str = "utf-8"  #: encoding of text_file and calib_file (Python codec name)
    windows: int = 32
    window_tokens: int = 512
    seed: int = 0
    #: seed of held-out windows (none shared with the seed's) on which the chosen settings are scored again
    confirm_seed: int | None = None
    #: an earlier eval (eval.json or its folder): windows are drawn from the slots its windows did not take
    exclude_windows: str | None = None
    bootstrap: int = 10000
    dtype: str = "float32"
    workers: int = 1  #: processes scoring windows (the figures do not depend on it)
    out: str | None = None
    settings: list[QuantSetting] = field(default_factory=lambda: [QuantSetting()])

    def validate(self) -> "EvalConfig":
        """Reject impossible configs before any work starts; returns ``self``."""
        if self.text_file and self.corpus:
            raise NeurosimError("give either --text-file or --corpus, not both")
        check_encoding(self.encoding)
        for name, lo in (("windows", 1), ("window_tokens", 2), ("bootstrap", 100), ("workers", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise NeurosimError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name in ("seed", "confirm_seed"):
            v = getattr(self, name)
            if (v is not None or name == "seed") and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise NeurosimError(f"{name} must be a non-negative integer, got {v!r}")
        if self.confirm_seed == self.seed:
            raise NeurosimError(f"confirm_seed must differ from seed ({self.seed}): the held-out windows need "
                                "their own draw")
        if self.exclude_windows is not None:
            from neurosim.run.confirm import eval_result_file

            eval_result_file(self.exclude_windows)
        if self.dtype not in ("float32", "float64"):
            raise NeurosimError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not self.settings:
            raise NeurosimError("no quantizer settings to evaluate")
        for s in self.settings:
            s.validate()
        labels = [str(s.label) for s in self.settings]   # each set by its validate()
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise NeurosimError(f"two settings share the label {sorted(dup)[0]!r}; give each a distinct label")
        return self


def _quant_values(raw: dict, where: str) -> dict:
    """The quantizer keys of ``raw`` (a YAML mapping or the flags), checked by name."""
    return dict(setting_items(raw, QUANT_KEYS, where, "quantizer key"))


def _load_settings_file(path) -> tuple[dict, list[dict] | None]:
    """(eval keys, quantizer settings or None) of a ``--settings`` YAML file."""
    p = Path(path)
    data = read_yaml(p, "settings file")
    if isinstance(data, list):
        data = {"settings": data}
    if not isinstance(data, dict):
        raise NeurosimError(f"settings file {p} must be a mapping or a list of settings")
    items = data.pop("settings", None)
    if items is not None and (not isinstance(items, list) or not all(isinstance(x, dict) for x in items)):
        raise NeurosimError(f"'settings' in {p} must be a list of mappings")
    ev_keys = [f.name for f in fields(EvalConfig) if f.name != "settings"]
    top_eval, top_quant = {}, {}
    for key, value in data.items():
        k = str(key).replace("-", "_")
        if k in ev_keys:
            top_eval[k] = value
        else:
            top_quant[key] = value
    top_quant = _quant_values(top_quant, str(p))
    if items is not None:
        items = [{**top_quant, **_quant_values(x, str(p))} for x in items]
    elif top_quant:
        items = [top_quant]
    return top_eval, items


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The validated eval config of parsed ``neurosim eval`` flags over the ``--settings`` file (flags win
    over its top-level keys, its entries over the flags)."""
    ev, items = _load_settings_file(args.settings) if args.settings else ({}, None)
    for f in fields(EvalConfig):
        v = getattr(args, f.name, None)
        if f.name != "settings" and v is not None:
            ev[f.name] = v
    if isinstance(ev.get("text_file"), str):
        ev["text_file"] = [ev["text_file"]]
    flags = {}
    for k in QUANT_KEYS:
        v = getattr(args, k, None)
        if v is not None:
            flags[k] = v
    flags = _quant_values(flags, "the flags")
    entries = items if items is not None else [{}]
    try:
        settings = [QuantSetting(**{**e, **flags}) if items is None else QuantSetting(**{**flags, **e})
                    for e in entries]
        return EvalConfig(**ev, settings=settings).validate()
    except TypeError as exc:
        raise NeurosimError(f"bad settings: {exc}") from None
