"""Generated figures: ``docs/results/NAME.json`` and ``NAME.md`` rendered from it, and the pages that
quote them (README.md and the documentation pages under ``docs/``).

A result document is a JSON object; when it names its renderer (``"renderer": "module:function"``,
a function ``doc -> Markdown text``) ``NAME.md`` can be re-rendered from ``NAME.json`` alone and
checked against it. A page quotes a result verbatim between ``<!-- results: NAME.md -->`` and
``<!-- /results -->``; ``check_readme`` (run by tests/test_readme_results.py) verifies every such
block of every page against its file and that a "Measured results" section (``docs/measured-results.md``)
types no figure outside a block (inline code, i.e. commands, excepted).

    python -m neurosim.results eval EVAL_DIR NAME [--figure]  # an eval folder -> docs/results/NAME.{json,md[,png]}
    python -m neurosim.results joint EVAL_DIR HW_DIR NAME    # every eval setting priced over the scenarios
    python -m neurosim.results verdict REPORT_DIR    # a report folder -> docs/results/verdict.{json,md}
    python -m neurosim.results hw HW_DIR NAME        # a neurosim hw folder -> docs/results/NAME.{json,md}
    python -m neurosim.results render [NAME ...]    # re-render NAME.md from NAME.json
    python -m neurosim.results figure NAME          # redraw the frontier figure NAME.png from NAME.json
    python -m neurosim.results check                # the quotes check
    python -m neurosim.results sync                 # copy docs/results/*.md into the pages' blocks
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from pathlib import Path

from neurosim import NeurosimError

__all__ = ["RESULTS_DIR", "write_result", "render", "readme_blocks", "measured_section", "check_readme",
           "loose_numbers", "sync_readme", "quoting_pages", "render_verdict"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "docs" / "results"
BLOCK = re.compile(r"<!-- results: (?P<name>[\w.\-]+\.md) -->\n(?P<body>.*?)\n?<!-- /results -->", re.S)
SECTION = "Measured results"
#: the heading of a measured-results section, at any level
SECTION_HEADING = re.compile(r"^(?P<hashes>#+) Measured results[ \t]*$", re.M)
#: a figure: digits not glued to letters (INT8, SpB2.0-5B and fp16 are names, not figures)
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[-+]?\d[\d,]*(\.\d+)?(?![A-Za-z0-9_])")


def render(doc: dict) -> str:
    """The Markdown of a result document, by its ``renderer``."""
    spec = doc.get("renderer")
    if not spec or ":" not in spec:
        raise NeurosimError("the result document names no renderer ('module:function')")
    mod, fn = spec.split(":", 1)
    return getattr(importlib.import_module(mod), fn)(doc).rstrip("\n") + "\n"


def write_result(name: str, doc: dict, out_dir=None) -> tuple[Path, Path]:
    """Write ``NAME.json`` (sorted keys) and ``NAME.md`` rendered from it, each via a temporary file."""
    d = Path(out_dir) if out_dir is not None else RESULTS_DIR
    d.mkdir(parents=True, exist_ok=True)
    pj, pm = d / f"{name}.json", d / f"{name}.md"
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
    md = render(json.loads(text))
    for p, t in ((pj, text), (pm, md)):
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(t)
        os.replace(tmp, p)
    return pj, pm


def readme_blocks(text: str) -> list[tuple[str, str, int, int]]:
    """(file name, quoted text, start, end) of every results block of a README."""
    return [(m["name"], m["body"], m.start(), m.end()) for m in BLOCK.finditer(text)]


def quoting_pages() -> list[Path]:
    """README.md and every documentation page (``docs/**/*.md`` outside ``docs/results/``)."""
    docs = ROOT / "docs"
    return [ROOT / "README.md"] + sorted(p for p in docs.rglob("*.md") if RESULTS_DIR not in p.parents)


def measured_section(text: str) -> tuple[int, int]:
    """[start, end) of the "Measured results" section (to the next heading of the same or a higher level)."""
    m = SECTION_HEADING.search(text)
    if m is None:
        raise NeurosimError(f"the page has no '{SECTION}' section")
    level = len(m["hashes"])
    nxt = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, m.end())
    return m.start(), (len(text) if nxt is None else nxt.start())


def loose_numbers(text: str) -> list[str]:
    """Lines of the Measured results section that carry a digit outside results blocks and
    inline code (commands)."""
    a, b = measured_section(text)
    sec = text[a:b]
    sec = BLOCK.sub("", sec)
    out = []
    for line in sec.splitlines()[1:]:  # the heading itself is a title
        bare = re.sub(r"`[^`]*`", "", line)
        if NUMBER.search(bare):
            out.append(line)
    return out


def check_readme(readme=None, results_dir=None) -> list[str]:
    """Problems of the results quotes of ``readme`` (default: README.md and every documentation page;
    empty: all good)."""
    pages = [Path(readme)] if readme is not None else quoting_pages()
    d = Path(results_dir) if results_dir is not None else RESULTS_DIR
    problems = []
    for page in pages:
        text = page.read_text()
        for name, body, _, _ in readme_blocks(text):
            f = d / name
            if not f.is_file():
                problems.append(f"{page.name} quotes {name}, which docs/results does not have")
            elif f.read_text().rstrip("\n") != body.rstrip("\n"):
                problems.append(f"{page.name}'s quote of {name} differs from docs/results/{name} "
                                "(re-run `make results`)")
        if SECTION_HEADING.search(text):
            for line in loose_numbers(text):
                problems.append(f"{page.name}: figure typed outside a results block in '{SECTION}': "
                                f"{line.strip()[:80]}")
    return problems


def sync_readme(readme=None, results_dir=None) -> list[str]:
    """Replace every results block's text of ``readme`` (default: README.md and every documentation
    page) by its file (missing files are left as they are); returns the names updated."""
    if readme is None:
        return [n for page in quoting_pages() for n in sync_readme(page, results_dir)]
    readme = Path(readme)
    d = Path(results_dir) if results_dir is not None else RESULTS_DIR
    text = readme.read_text()
    done = []

    def sub(m):
        f = d / m["name"]
        if not f.is_file():
            return m.group(0)
        body = f.read_text().rstrip("\n")
        if body != m["body"].rstrip("\n"):
            done.append(m["name"])
        return f"<!-- results: {m['name']} -->\n{body}\n<!-- /results -->"

    new = BLOCK.sub(sub, text)
    if new != text:
        tmp = readme.with_name(f".{readme.name}.tmp")
        tmp.write_text(new)
        os.replace(tmp, readme)
    return done


def _eval_result(eval_dir: str, name: str, command: str | None, figure: bool = False) -> None:
    from neurosim.run.eval import EVAL_MARKER

    p = Path(eval_dir) / EVAL_MARKER
    if not p.is_file():
        raise NeurosimError(f"{eval_dir} is not a neurosim eval folder (no {EVAL_MARKER})")
    doc = json.loads(p.read_text())
    for d in (doc, doc.get("confirmation") or {}):
        d.get("model", {}).pop("path", None)  # machine-specific
        for st in d.get("settings", []):     # the count histograms are priced into NAME_energy (joint)
            st.pop("energy_counts", None)
    doc["renderer"] = "neurosim.run.eval:render_result"
    if command:
        doc["command"] = command
    t = Path(eval_dir) / "timing.json"
    if t.is_file():  # the run time with the machine it ran on (the eval folder keeps it apart)
        secs = json.loads(t.read_text())
        doc["run_time"] = {"total_s": round(secs["total_s"], 1), "cpus": secs.get("cpus"),
                           "load_after": secs.get("load_avg", "n/a"), "workers": secs.get("workers", 1)}
    for f in write_result(name, doc):
        print(f)
    if figure:
        print(_frontier_png(doc, name))


def _frontier_png(doc: dict, name: str) -> Path:
    """The frontier figure of an eval result: NLL change with its interval against spikes per
    activation, ``docs/results/NAME.png``."""
    import matplotlib

    matplotlib.use("Agg")
    from neurosim.reports.eval_section import frontier_figure
    from neurosim.reports.figures import save

    return save(frontier_figure(doc), RESULTS_DIR / f"{name}.png")


def _verdict_result(report_dir: str, command: str) -> None:
    """docs/results/verdict.{json,md} from a report folder: the verdict its report.json records."""
    p = Path(report_dir) / "report.json"
    if not p.is_file():
        raise NeurosimError(f"{report_dir} is not a neurosim report folder (no report.json)")
    meta = json.loads(p.read_text())
    if not meta.get("verdict"):
        raise NeurosimError(f"{p} records no verdict (re-run `neurosim report`)")
    doc = {"short_answer": meta.get("short_answer", []), "verdict": meta["verdict"], "neurosim_version": meta.get("neurosim_version"), "command": command,
           "renderer": "neurosim.results:render_verdict"}
    for f in write_result("verdict", doc):
        print(f)


def render_verdict(doc: dict) -> str:
    """``docs/results/verdict.md``: the verdict a report opened with, as a text block."""
    return "\n".join([f"The end of `{doc['command']}`'s output, the verdict the report opens with:", "",
                      "```text", *doc.get("short_answer", []), *([""] if doc.get("short_answer") else []),
                      *doc["verdict"], "```"]) + "\n"


def _joint_result(eval_dir: str, hw_dir: str, name: str, command: str | None) -> None:
    """Every setting of an eval folder priced over every energy scenario: NAME.json, NAME.md, NAME.png."""
    from neurosim.hwmodels import scenarios as sc
    from neurosim.hwmodels.energy import read_hw
    from neurosim.hwmodels.energy_eval import price_settings, read_eval
    from neurosim.hwmodels.eval_report import joint_answer

    ev = read_eval(eval_dir)
    priced = price_settings(ev, read_hw(hw_dir), sc.parse_grid("all"), cache_dir="build/energy_cache")
    doc = {"renderer": "neurosim.hwmodels.eval_report:render_joint", "command": command or "",
           "settings": priced, "answer": joint_answer(priced)}
    for f in write_result(name, doc):
        print(f)
    from neurosim.run.eval_render import verdict
    conf = ev.get("confirmation")
    short = {"renderer": "neurosim.hwmodels.eval_report:render_answer", "command": command or "",
             "answer": doc["answer"], "windows": ev["settings"][0]["windows"],
             "window_tokens": ev["config"]["window_tokens"], "selection_verdict": verdict(ev),
             "confirmation_verdict": verdict(conf, " held-out") if conf else None,
             "confirmation_windows": conf["settings"][0]["windows"] if conf else None,
             "confirmation_seed": conf["config"]["seed"] if conf else None}
    for f in write_result(f"{name}_answer", short):
        print(f)
    from neurosim.reports import scenario_figures as SF
    print(SF.save(SF.frontier(priced), RESULTS_DIR / f"{name}.png"))


def _hw_result(hw_dir: str, name: str, command: str | None) -> None:
    from neurosim.hwmodels.report import unit_figures

    p = Path(hw_dir) / "hw.json"
    if not p.is_file():
        raise NeurosimError(f"{hw_dir} is not a neurosim hw folder (no hw.json): run `neurosim hw --out {hw_dir}`")
    for f in write_result(name, unit_figures(json.loads(p.read_text()), command)):
        print(f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neurosim.results", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval", help="an eval folder -> docs/results/NAME.json + NAME.md")
    e.add_argument("eval_dir")
    e.add_argument("name")
    e.add_argument("--command", help="the command that produced the eval folder (recorded and printed)")
    e.add_argument("--figure", action="store_true", help="also draw the frontier figure, docs/results/NAME.png")
    j = sub.add_parser("joint", help="an eval folder and a hw folder -> every setting priced: "
                                     "docs/results/NAME.{json,md,png}")
    j.add_argument("eval_dir")
    j.add_argument("hw_dir")
    j.add_argument("name")
    j.add_argument("--command", help="the commands behind the eval and hw folders (recorded)")
    v = sub.add_parser("verdict", help="a report folder -> docs/results/verdict.json + verdict.md")
    v.add_argument("report_dir")
    v.add_argument("--command", default="make main", help="the command that produced the report (default: make main)")
    h = sub.add_parser("hw", help="a neurosim hw folder -> docs/results/NAME.json + NAME.md (unit figures)")
    h.add_argument("hw_dir")
    h.add_argument("name")
    h.add_argument("--command", help="the command that produced the hw folder (recorded)")
    r = sub.add_parser("render", help="re-render NAME.md from NAME.json (default: every result with a renderer)")
    r.add_argument("names", nargs="*")
    fg = sub.add_parser("figure", help="redraw docs/results/NAME.png (the frontier) from NAME.json")
    fg.add_argument("name")
    sub.add_parser("check", help="check the quotes of docs/results in README.md and docs/")
    sub.add_parser("sync", help="copy docs/results/NAME.md into the blocks of README.md and docs/ that quote it")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "eval":
            _eval_result(a.eval_dir, a.name, a.command, a.figure)
        elif a.cmd == "joint":
            _joint_result(a.eval_dir, a.hw_dir, a.name, a.command)
        elif a.cmd == "verdict":
            _verdict_result(a.report_dir, a.command)
        elif a.cmd == "figure":
            p = RESULTS_DIR / f"{a.name}.json"
            if not p.is_file():
                raise NeurosimError(f"docs/results has no {a.name}.json")
            print(_frontier_png(json.loads(p.read_text()), a.name))
        elif a.cmd == "hw":
            _hw_result(a.hw_dir, a.name, a.command)
        elif a.cmd == "render":
            names = a.names or sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
            for n in names:
                doc = json.loads((RESULTS_DIR / f"{n}.json").read_text())
                if "renderer" in doc:
                    (RESULTS_DIR / f"{n}.md").write_text(render(doc))
                    print(RESULTS_DIR / f"{n}.md")
        elif a.cmd == "sync":
            for n in sync_readme():
                print(f"updated a quote of {n}")
        else:
            problems = check_readme()
            for problem in problems:
                print(problem)
            return 1 if problems else 0
    except NeurosimError as exc:
        print(f"neurosim results: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
