"""neurosim.reports: the `neurosim report` command (docs/reports.md).

``neurosim.reports.build_report(trace_dir, out, hw_dir=None)`` writes ``report.md``, a
self-contained ``report.html``, ``report.json`` and ``figures/*.png``. The public face (names load
lazily, so matplotlib is imported only when a report is built)::

    from neurosim.reports import build_report, load_trace, build_claims
"""

from neurosim.face import lazy_face

__all__, __getattr__, __dir__ = lazy_face(__name__, {
    "build": ("REPORT_FILES", "build_report", "build_document"),
    "data": ("Trace", "load_trace", "load_hw", "totals", "projection_class", "short_name"),
    "claims": ("Claim", "build_claims", "claims_text", "resolve", "NO_HW"),
    "document": ("Document", "to_markdown", "to_html"),
})
