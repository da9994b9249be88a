"""The report in a real browser: headless Chromium (Debian's ``chromium``) loads ``report.html`` and
measures what a reader sees at a given window size, or takes a screenshot of it.

    python -m neurosim.reports.browser screenshot REPORT_HTML OUT_PNG [--width 1280 --height 800]
    python -m neurosim.reports.browser check REPORT_HTML [--width 1280 --height 800]

``page_facts(html)`` loads a copy of the page with a small probe script and returns what it found:
script errors, the page's width against the window's, and where the verdict ends.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from neurosim import NeurosimError

__all__ = ["chromium", "page_facts", "screenshot"]

#: a quiet, offline, throw-away browser: no sandbox (root in containers), no GPU, no network services
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1")

_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener("load", function () {
  var v = document.querySelector("pre.verdict");
  var facts = {errors: window.__errors, inner_width: window.innerWidth, inner_height: window.innerHeight,
               scroll_width: document.documentElement.scrollWidth,
               verdict_bottom: v ? v.getBoundingClientRect().bottom : null,
               images: document.images.length,
               broken_images: Array.prototype.filter.call(document.images,
                 function (i) { return !i.complete || i.naturalWidth === 0; }).length};
  var out = document.createElement("pre"); out.id = "neurosim-probe";
  out.textContent = JSON.stringify(facts); document.body.appendChild(out);
});
</script>"""
_FACTS = re.compile(r'<pre id="neurosim-probe">(.*?)</pre>', re.S)


def chromium() -> str:
    """The Chromium executable (Debian package ``chromium``, installed by scripts/setup.sh)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise NeurosimError("Chromium not found: install the Debian package 'chromium' (scripts/setup.sh does)")


def _run(args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NeurosimError(f"Chromium did not finish within {timeout:g} s") from exc


def page_facts(html_path, width: int = 1280, height: int = 800, timeout: float = 120.0) -> dict:
    """Load ``html_path`` at ``width`` x ``height`` CSS pixels; returns ``errors`` (script errors),
    ``inner_width``/``inner_height``, ``scroll_width`` (the page's width), ``verdict_bottom`` (pixels
    from the top; None without a verdict), ``images`` and ``broken_images``."""
    html = Path(html_path).read_text()
    with tempfile.TemporaryDirectory(prefix="neurosim-browser-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html.replace("<head>", "<head>" + _PROBE, 1))
        res = _run([f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom",
                    page.as_uri()], Path(tmp) / "profile", timeout)
    m = _FACTS.search(res.stdout)
    if res.returncode != 0 or m is None:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise NeurosimError(f"Chromium could not load {html_path} (exit {res.returncode}): {tail}")
    import html as html_mod

    return json.loads(html_mod.unescape(m.group(1)))


def screenshot(html_path, png_path, width: int = 1280, height: int = 800, timeout: float = 120.0) -> Path:
    """A PNG of the first ``width`` x ``height`` pixels of the page (what a reader sees first)."""
    png = Path(png_path).resolve()
    with tempfile.TemporaryDirectory(prefix="neurosim-browser-") as tmp:
        shot = Path(tmp) / "shot.png"
        res = _run([f"--window-size={width},{height}", f"--screenshot={shot}",
                    Path(html_path).resolve().as_uri()], Path(tmp) / "profile", timeout)
        if res.returncode != 0 or not shot.is_file():
            raise NeurosimError(f"Chromium made no screenshot of {html_path} (exit {res.returncode})")
        png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, png)
    return png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m neurosim.reports.browser", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, help_text in (("screenshot", "a PNG of the page's first screen"),
                            ("check", "script errors, horizontal overflow, verdict above the fold")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("html")
        if name == "screenshot":
            p.add_argument("png")
        p.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default 1280)")
        p.add_argument("--height", type=int, default=800, help="window height in CSS pixels (default 800)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "screenshot":
            print(screenshot(a.html, a.png, a.width, a.height))
            return 0
        f = page_facts(a.html, a.width, a.height)
        problems = ([f"script error: {e}" for e in f["errors"]]
                    + ([f"page is {f['scroll_width']} px wide in a {f['inner_width']} px window"]
                       if f["scroll_width"] > f["inner_width"] else [])
                    + (["no verdict"] if f["verdict_bottom"] is None else
                       [f"verdict ends at {f['verdict_bottom']:.0f} px, below the {f['inner_height']} px fold"]
                       if f["verdict_bottom"] > f["inner_height"] else [])
                    + ([f"{f['broken_images']} images did not load"] if f["broken_images"] else []))
        print("\n".join(problems) or f"ok: {json.dumps(f)}")
        return 1 if problems else 0
    except NeurosimError as exc:
        print(f"neurosim browser: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
