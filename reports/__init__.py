"""neurosim.reports: the `neurosim report` command (docs/reports.md).

``neurosim.reports.build.build_report(trace_dir, out, hw_dir=None)`` writes ``report.md``,
a self-contained ``report.html``, ``report.json`` and ``figures/*.png``.
"""
