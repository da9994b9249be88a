"""The sweep specification: a YAML file naming grids and explicit points over command settings.

A point is a set of settings for one or more neurosim commands (the *stages*, run in this order:
``run``, ``hw``, ``eval``, ``energy``; a stage is available when its command exists). Settings
are the commands' own flags, by their YAML names (``--max-tokens`` -> ``max_tokens``), so the
known keys of a stage are read from that command's argument parser. Layout::

    retries: 2                         # optional: bounded retries of a failed or lost point
    checkpoints:                       # optional: checkpoints the sweep makes once, by name
      tiny: {arch: sse_swa_moba, preset: tiny, seed: 0}
    studies:                           # or, for one study, its keys at the top level
      quant:
        run: {model: tiny, max_tokens: 32}    # fixed settings of every point of the study
        grid:                                 # Cartesian product; keys are STAGE.KEY
          run.coding: [bitwise, ternary]
        points:                               # explicit points, each on top of the fixed settings
          - {run.scale: adaptive, run.k: 8, run.clamp: none}

Relative paths (``model``, ``text_file``, ``liberty``) are relative to the spec file. A point's hash
covers its settings (and the recipe of a named checkpoint) and the code version; equal points of
two studies are one point. Every error is a one-line :class:`neurosim.NeurosimError`.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import hashlib
import io
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from neurosim import NeurosimError
from neurosim.model.registry import KNOWN_MODELS

from .checks import check_flags

#: stages in execution order
STAGE_ORDER = ("run", "hw", "eval", "energy")
#: flags the sweep sets itself (output folders, inputs from earlier stages, config files)
RESERVED = {"run": {"trace", "config"}, "hw": {"out", "trace", "quiet"},
            "eval": {"out", "settings"}, "energy": {"out", "trace", "hw"}}
#: settings that do not change a result (left out of the point hash)
UNHASHED = {"hw.cache", "energy.cache"}
#: settings that are paths (relative ones are taken relative to the spec file)
PATH_KEYS = {"model", "text_file", "liberty"}
TOP_KEYS = ("retries", "checkpoints", "studies")
STUDY_KEYS = ("grid", "points")
CHECKPOINT_KEYS = ("arch", "preset", "seed", "dtype")
MAX_RETRIES = 10


@dataclass
class Point:
    """One point: ``settings`` maps each stage to its settings (YAML names, values as given)."""

    study: str
    index: int                    # position in the spec's expansion (first study first)
    settings: dict[str, dict]     # stage -> {key: value}
    argv: dict[str, list[str]]    # stage -> the command's flags (outputs added by the worker)
    hash: str = ""
    checkpoint: str | None = None  # name of a spec checkpoint used as run.model

    def inputs(self) -> dict:
        """Flat ``STAGE.KEY -> value`` of the given settings (the table's input columns)."""
        return {f"{st}.{k}": v for st in self.stages for k, v in sorted(self.settings[st].items())}

    @property
    def stages(self) -> list[str]:
        return [s for s in STAGE_ORDER if s in self.settings]


@dataclass
class Spec:
    """A loaded sweep spec: its file, the retries per point, the named checkpoints and the expanded points."""

    path: Path
    retries: int
    checkpoints: dict[str, dict]
    points: list[Point] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"spec": str(self.path), "retries": self.retries, "checkpoints": self.checkpoints,
                "points": [{"hash": p.hash, "study": p.study, "index": p.index, "inputs": p.inputs()}
                           for p in self.points]}


def _suggest(key: str, known) -> str:
    hint = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.5)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


class _CommandParser(argparse.ArgumentParser):
    """A command's parser whose usage errors are one-line NeurosimErrors (never an exit)."""

    def error(self, message):
        raise NeurosimError(f"{self.prog}: {message}")


def command_parser(stage: str):
    """(module, parser) of a neurosim command, built through its ``configure`` (neurosim.cli's
    contract: each command module provides ``configure(parser)`` and ``run(args)``)."""
    import importlib
    from neurosim.cli import COMMANDS
    module = importlib.import_module(COMMANDS[stage][0])
    parser = _CommandParser(prog=f"neurosim {stage}", add_help=False)
    module.configure(parser)
    return module, parser


def available_stages() -> dict[str, argparse.ArgumentParser]:
    """Stage -> its command's parser, for the stages whose command this version has."""
    from neurosim.cli import COMMANDS
    out = {}
    for st in STAGE_ORDER:
        if st not in COMMANDS:
            continue
        try:
            out[st] = command_parser(st)[1]
        except ModuleNotFoundError:
            continue
    return out


def all_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> action of every flag of a command's parser."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


def stage_options(parser: argparse.ArgumentParser, stage: str) -> dict[str, argparse.Action]:
    """dest -> action of the stage command's flags the sweep may set."""
    return {d: a for d, a in all_options(parser).items() if d not in RESERVED.get(stage, ())}


def to_argv(action: argparse.Action, value) -> list[str]:
    """The command-line words for one setting (None: the command's default, no words)."""
    flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    if value is None:
        return []
    if action.nargs == 0 and isinstance(action.const, bool):     # store_true / store_false
        if not isinstance(value, bool):
            raise NeurosimError(f"{flag} is a switch: give true or false, got {value!r}")
        return [flag] if value == action.const else []
    if action.nargs in ("+", "*"):
        vals = value if isinstance(value, list) else [value]
        return [flag, *(_word(v) for v in vals)]
    if isinstance(value, list):
        return [flag, ",".join(_word(v) for v in value)]
    return [flag, _word(value)]


def _word(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise NeurosimError(f"a setting value must be a number, a word or a list of them, got {v!r}")
    return str(v)


def _flatten_grid(grid, where: str) -> dict[str, list]:
    """``grid`` as STAGE.KEY -> list of values (nested ``{stage: {key: [...]}}`` accepted too)."""
    if not isinstance(grid, dict):
        raise NeurosimError(f"{where}: grid must be a mapping of STAGE.KEY to a list of values")
    flat = {}
    for k, v in grid.items():
        if isinstance(v, dict) and "." not in str(k):
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[str(k)] = v
    for k, v in flat.items():
        if not isinstance(v, list):
            raise NeurosimError(f"{where}: grid {k} must be a list of values, got {v!r}")
        if not v:
            raise NeurosimError(f"{where}: grid {k} is an empty list (an empty grid has no points)")
    return flat


def _split_key(key: str, stages, where: str) -> tuple[str, str]:
    st, _, name = str(key).partition(".")
    if not name:
        raise NeurosimError(f"{where}: key {key!r} must be STAGE.KEY with a stage of {', '.join(stages)}")
    if st not in stages:
        raise NeurosimError(f"{where}: unknown stage {st!r} in {key!r}" + _suggest(st, stages)
                            + ("" if st not in STAGE_ORDER else f" (neurosim {st} is not in this version)"))
    return st, name.replace("-", "_")


def load_spec(path) -> Spec:
    """Read and check a spec; every point is expanded and its flags parsed by its command."""
    import yaml
    p = Path(path)
    if not p.is_file():
        raise NeurosimError(f"sweep spec {p} not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise NeurosimError(f"sweep spec {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not data:
        raise NeurosimError(f"sweep spec {p} must be a mapping (studies, or grid/points with stage settings)")
    parsers = available_stages()
    stages = list(parsers)
    options = {st: stage_options(parsers[st], st) for st in stages}
    single = set(STUDY_KEYS) | set(stages)
    for k in data:
        if k not in TOP_KEYS and k not in single:
            raise NeurosimError(f"sweep spec {p}: unknown key {k!r}" + _suggest(k, list(TOP_KEYS) + sorted(single)))
    retries = data.get("retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise NeurosimError(f"sweep spec {p}: retries = {retries!r} is outside its range (0..{MAX_RETRIES})")
    ckpts = _checkpoints(data.get("checkpoints") or {}, p)
    if "studies" in data:
        if single & set(data):
            extra = sorted(single & set(data))[0]
            raise NeurosimError(f"sweep spec {p}: {extra!r} belongs inside a study when 'studies' is given")
        studies = data["studies"]
        if not isinstance(studies, dict) or not studies:
            raise NeurosimError(f"sweep spec {p}: studies must be a non-empty mapping of name to study")
    else:
        studies = {"main": {k: v for k, v in data.items() if k in single}}
    spec = Spec(path=p.resolve(), retries=retries, checkpoints=ckpts)
    seen: dict[str, Point] = {}
    for name, study in studies.items():
        where = f"sweep spec {p}, study {name!r}"
        if not isinstance(study, dict):
            raise NeurosimError(f"{where}: a study must be a mapping")
        for k in study:
            if k not in single:
                raise NeurosimError(f"{where}: unknown key {k!r}" + _suggest(k, sorted(single)))
        fixed = {}
        for st in stages:
            if st in study:
                if not isinstance(study[st], dict):
                    raise NeurosimError(f"{where}: {st} must be a mapping of {st} settings")
                fixed[st] = {str(k).replace("-", "_"): v for k, v in study[st].items()}
        combos = []
        if "grid" in study:
            grid = _flatten_grid(study["grid"], where)
            if not grid:
                raise NeurosimError(f"{where}: the grid is empty (give at least one STAGE.KEY with values)")
            keys = list(grid)
            combos += [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
        explicit = study.get("points")
        if explicit is not None:
            if not isinstance(explicit, list) or not all(isinstance(e, dict) for e in explicit):
                raise NeurosimError(f"{where}: points must be a list of mappings of STAGE.KEY to a value")
            combos += [{str(k): v for k, v in e.items()} for e in explicit]
        if not combos:
            raise NeurosimError(f"{where}: no points (the grid is empty and there are no explicit points)")
        for combo in combos:
            settings = {st: dict(v) for st, v in fixed.items()}
            for key, value in combo.items():
                st, k = _split_key(key, stages, where)
                settings.setdefault(st, {})[k] = value
            pt = _make_point(name, len(spec.points), settings, options, parsers, ckpts, p.parent, where)
            if pt.hash in seen:
                continue
            seen[pt.hash] = pt
            spec.points.append(pt)
    return spec


def _checkpoints(raw, p: Path) -> dict[str, dict]:
    if not isinstance(raw, dict):
        raise NeurosimError(f"sweep spec {p}: checkpoints must map a name to {{arch, preset, seed}}")
    out = {}
    for name, rec in raw.items():
        if not isinstance(rec, dict):
            raise NeurosimError(f"sweep spec {p}: checkpoint {name!r} must be a mapping of "
                                f"{', '.join(CHECKPOINT_KEYS)}")
        for k in rec:
            if k not in CHECKPOINT_KEYS:
                raise NeurosimError(f"sweep spec {p}: checkpoint {name!r}: unknown key {k!r}"
                                    + _suggest(k, CHECKPOINT_KEYS))
        r = {"arch": rec.get("arch", "sse_swa_moba"), "preset": rec.get("preset", "tiny"), "seed": rec.get("seed", 0)}
        if "dtype" in rec:
            r["dtype"] = rec["dtype"]
        if r["preset"] not in ("tiny", "full"):
            raise NeurosimError(f"sweep spec {p}: checkpoint {name!r}: preset must be tiny or full, "
                                f"got {r['preset']!r}")
        if isinstance(r["seed"], bool) or not isinstance(r["seed"], int) or r["seed"] < 0:
            raise NeurosimError(f"sweep spec {p}: checkpoint {name!r}: seed = {r['seed']!r} is outside its "
                                "range (>= 0)")
        out[str(name)] = r
    return out


def _parse_check(parser: argparse.ArgumentParser, stage: str, argv: list[str]) -> None:
    """Parse ``argv`` with the command's parser (types, choices), then check the values with the
    command's own validator (:mod:`.checks`); the flags the sweep sets itself get a placeholder.
    A rejection is a one-line error."""
    for a in all_options(parser).values():
        if a.required and a.dest in RESERVED.get(stage, ()):
            argv = [*argv, a.option_strings[-1], "PLACEHOLDER"]
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        args = parser.parse_args(argv)
    check_flags(stage, args)


def _make_point(study, index, settings, options, parsers, ckpts, base: Path, where) -> Point:
    argv, hashed = {}, {}
    ckpt = None
    for st in [s for s in STAGE_ORDER if s in settings]:
        words = []
        for k, v in sorted(settings[st].items()):
            key = f"{st}.{k}"
            if k in RESERVED.get(st, ()):
                raise NeurosimError(f"{where}: {key} is set by the sweep itself (each point's output folders)")
            if k not in options[st]:
                raise NeurosimError(f"{where}: unknown key {key!r}" + _suggest(key, [f"{st}.{o}" for o in options[st]]))
            hv = v
            if k == "model" and isinstance(v, str) and v in ckpts:
                ckpt, hv = v, {"checkpoint": ckpts[v]}
            elif k == "model" and isinstance(v, str) and v in KNOWN_MODELS:
                pass   # a model known by name, not a path
            elif k in PATH_KEYS and v:
                v = hv = _resolve(base, v)
            try:
                words += to_argv(options[st][k], v)
            except NeurosimError as exc:
                raise NeurosimError(f"{where}: {key}: {exc}") from None
            if key not in UNHASHED:
                hashed[key] = hv
        try:
            _parse_check(parsers[st], st, words)
        except NeurosimError as exc:
            shown = ", ".join(f"{st}.{k}={v}" for st in settings for k, v in sorted(settings[st].items()))
            raise NeurosimError(f"{where}: point {shown}: {exc}") from None
        argv[st] = words
    pt = Point(study=study, index=index, settings=settings, argv=argv, checkpoint=ckpt)
    pt.hash = point_hash(hashed)
    return pt


def _resolve(base: Path, v):
    """Relative paths (or lists of them) taken relative to the spec file's folder."""
    if isinstance(v, list):
        return [_resolve(base, x) for x in v]
    return str((base / v).resolve()) if isinstance(v, str) and not Path(v).is_absolute() else v


def point_hash(hashed: dict, version: str | None = None) -> str:
    """16 hex digits over the hashed settings and the code version."""
    from .version import code_version
    doc = {"settings": hashed, "code": version or code_version()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


__all__ = ["Point", "Spec", "load_spec", "point_hash", "available_stages", "STAGE_ORDER"]
