"""Benchmarks (``python -m benchmarks.NAME``): the numba kernels compile as the command line's do."""

from neurosim.vectors import prefer_wide_vectors

prefer_wide_vectors()
