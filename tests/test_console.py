"""The terminal: every command's console output fits 80 columns, --help states every default, one
--quiet on every command, a bare ``neurosim`` is a usage error, and usage errors name the subcommand
and suggest the closest flag or name."""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neurosim.cli import COMMANDS, _subparser, build_parser, main
from neurosim.console import fit

ROOT = Path(__file__).resolve().parent.parent
#: words that belong to the project's own bookkeeping, never to what a user sees
INTERNAL = re.compile(r"\bissues?\b|SPEC\.md|\bsession\b", re.IGNORECASE)


def _parser(name: str) -> argparse.ArgumentParser:
    return _subparser(build_parser(name), name)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_states_every_default(name):
    """Every optional flag that takes a value says its default (or that it is required)."""
    missing = [a.option_strings[0] for a in _parser(name)._actions
               if a.option_strings and a.nargs != 0 and not a.required
               and not re.search(r"\bdefault\b|\brequired\b", a.help or "")]
    assert not missing, f"neurosim {name}: no default in the help of {missing}"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_one_quiet_flag_everywhere(name):
    flags = {o for a in _parser(name)._actions for o in a.option_strings}
    assert "--quiet" in flags
    assert not flags & {"--no-progress", "-q", "--silent"}


def test_bare_neurosim_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: neurosim") and all(c in err for c in COMMANDS)


@pytest.mark.parametrize("argv, reason", [
    (["run", "--max-tokns", "5"], r"unrecognized arguments: --max-tokns 5 \(did you mean --max-tokens\?\)"),
    (["eval", "--windws", "8", "--out", "x"], r"\(did you mean --windows\?\)"),
    (["run", "--mode", "spik"], r"invalid choice: 'spik'.*\(did you mean spike\?\)"),
    (["hw", "--out", "x", "--yosys", "debain"], r"\(did you mean debian\?\)"),
    (["eval", "--windows", "8"], r"the following arguments are required: --out"),
])
def test_usage_errors_name_the_subcommand_and_suggest(rejected, argv, reason):
    rejected(argv, reason)


def test_unknown_command_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rnu"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurosim: error: argument COMMAND: invalid choice: 'rnu'")
    assert "(did you mean run?)" in err and len(err.splitlines()) == 1


def test_fit_wraps_prose_and_reflows_wide_tables():
    table = "| a | b |\n|---|---|\n| " + "x" * 50 + " | " + "y" * 50 + " |"
    out = fit("intro " * 30 + "\n" + table + "\n\n| k | v |\n|---|---|\n| 1 | 2 |")
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    assert "  b: " + "y" * 50 in lines            # the wide table: one block per row
    assert ["k  v", "-  -", "1  2"] == lines[-3:]   # the narrow one stays a table
    assert "".join(out.split()).count("intro") == 30


# ---------------------------------------------------------------- every command at 80 columns
SWEEP = """checkpoints:
  tiny: {arch: sse_swa_moba, preset: tiny, seed: 0}
studies:
  q:
    run: {model: tiny, max_tokens: 16, mode: spike}
    points: [{run.coding: bitwise}]
"""


def _neurosim(args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="80")
    r = subprocess.run([sys.executable, "-m", "neurosim", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=900)
    assert r.returncode == 0, f"neurosim {args[0]}: {r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """Every command run once on the tiny checkpoint with COLUMNS=80 (stdout, stderr piped, as in a
    log file): {command: (stdout, stderr)}, and the folder they wrote."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_gguf_import import _llama_as_gguf, _write_gguf

    from neurosim.model import load_checkpoint

    d = tmp_path_factory.mktemp("console")
    out = {}

    def go(name, *args):
        r = _neurosim([name, *args], d)
        out[name] = (r.stdout, r.stderr)

    go("make-checkpoint", "--arch", "llama", "--preset", "tiny", d / "tiny-llama-with-a-long-folder-name")
    ck = load_checkpoint(d / "tiny-llama-with-a-long-folder-name")
    _write_gguf(d / "tiny.gguf", "llama", _llama_as_gguf(ck), ck.config, (ck.path / "tokenizer.json").read_text())
    go("convert", "--gguf", d / "tiny.gguf", "--out", d / "converted")
    go("run", "--model", d / "converted", "--max-tokens", "48", "--generate", "4", "--trace", d / "trace")
    (d / "settings.yaml").write_text("settings:\n  - {label: 'absmax, the default quantizer with a long label'}\n"
                                     "  - {scale: adaptive, k: 3, clamp: none}\n")
    go("eval", "--model", d / "converted", "--windows", "2", "--window-tokens", "24", "--out", d / "eval",
       "--settings", d / "settings.yaml")
    go("rtl", "--design", "spike", "--lanes", "1", "--k", "16", "--out", d / "rtl")
    go("hw", "--trace", d / "trace", "--lanes", "1", "--k", "16", "--rows", "1", "--inputs", "4", "--freq", "250",
       "--no-glitches", "--scale-nodes", "--pipeline", "1", "--cache", d / "hw_cache", "--out", d / "hw")
    go("energy", "--trace", d / "trace", "--hw", d / "hw", "--cache", d / "energy_cache", "--out", d / "energy")
    go("report", "--trace", d / "trace", "--hw", d / "hw", "--eval", d / "eval", "--energy", d / "energy",
       "--out", d / "report")
    (d / "sweep.yaml").write_text(SWEEP)
    go("sweep", d / "sweep.yaml", "--workers", "1", "--out", d / "sweep")
    go("models")      # fetch-model downloads a gigabyte: only its --help is run here
    for name in COMMANDS:
        r = _neurosim([name, "--help"], d)
        out[f"{name} --help"] = (r.stdout, r.stderr)
    r = _neurosim(["--help"], d)
    out["--help"] = (r.stdout, r.stderr)
    return out, d


def test_every_command_fits_80_columns(console):
    out, _ = console
    assert set(COMMANDS) - {"fetch-model"} <= set(out) and "fetch-model --help" in out
    for name, (stdout, stderr) in out.items():
        for stream, text in (("stdout", stdout), ("stderr", stderr)):
            long = [line for line in text.splitlines() if len(line) > 80]
            assert not long, f"neurosim {name} {stream}: {len(long[0])} columns: {long[0]!r}"
    assert out["run"][0].count("\n") >= 8 and "perplexity" in out["run"][0]
    assert "absmax, the default quantizer" in out["eval"][0]
    lines = out["report"][0].splitlines()
    assert lines[0].startswith("In short: against the paper,") and "measured" in out["report"][0]
    assert any(line.startswith("VERDICT") for line in lines[1:8])


def test_no_progress_bar_off_a_terminal(console):
    """Progress bars are for terminals only: piped, the commands write none (no carriage returns, no
    tqdm rate)."""
    out, _ = console
    for name, (stdout, stderr) in out.items():
        assert "\r" not in stderr and "it/s]" not in stderr and "s/layer]" not in stderr, name


def test_no_internal_words_in_what_a_user_sees(console):
    """Console output and every Markdown/HTML/Verilog file the commands wrote."""
    out, d = console
    texts = {f"neurosim {k}": a + b for k, (a, b) in out.items()}
    texts |= {str(p): p.read_text(errors="replace") for p in d.rglob("*")
              if p.suffix in (".md", ".html", ".v") and p.is_file()}
    for where, text in texts.items():
        m = INTERNAL.search(text)
        assert m is None, f"{where}: {text[max(m.start() - 80, 0):m.end() + 40]!r}"


def test_eval_prints_no_interval_over_too_few_windows(console):
    out, d = console
    assert "too few windows" in out["eval"][0] and "[95% CI]:" in out["eval"][0]
    assert not re.search(r"\[[+-]\d", out["eval"][0]), out["eval"][0]   # no "[-0.01, +0.02]" interval
    md = (d / "eval" / "eval.md").read_text()
    assert "too few windows" in md and "not judged" in md
    assert "too few windows" in out["report"][0]


def test_claims_console_fits_and_keeps_columns():
    from neurosim.reports.claims import Claim
    from neurosim.reports.cli import claims_console

    def row(claim, paper, measured):
        return Claim(claim=claim, paper=paper, measured=measured, value=None, file=None, source=None,
                     fmt="pct", definition="a definition too long for any terminal " * 5, note="")

    long = "accuracy loss (INT8-Spiking vs BF16), alt. (the trace's one passage)"
    rows = [row("spike sparsity", "64.31%", "58.80%"), row(long, "48.1% (other point, probably 250 MHz)",
                                                           "no hardware results given")]
    lines = claims_console(rows).splitlines()
    assert max(map(len, lines)) <= 80 and "definition" not in "".join(lines)
    col = lines[0].index("paper")
    assert all(ln[col - 2:col] == "  " for ln in lines[2:] if len(ln) > col)   # nothing spills into "paper"
    assert " ".join(ln[:col].strip() for ln in lines[3:] if ln[:col].strip()) == long
    assert any("no hardware results given" in ln for ln in lines)


def test_run_and_eval_describe_the_window_alike():
    helps = [{a.dest: a.help for a in _parser(n)._actions} for n in ("run", "eval")]
    assert helps[0]["window"] == helps[1]["window"] and "default" in helps[0]["window"]
