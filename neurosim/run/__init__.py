"""Running a model: fidelities (fp / int8 / spike), metrics, the runner, the trace format, tiles and
the bundled text corpus.
"""
