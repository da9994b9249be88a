"""The golden integer model: INT8 quantizers, the four spike codings, and the event-driven engine.

Everything that must agree bit for bit (simulator, cocotb expectations, hardware stimulus) derives
from these functions.
"""
