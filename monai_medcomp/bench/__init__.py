"""Benchmarks: the lossless table, rate-distortion sweeps with BD-rate, speed, and the demo report.

``run_bench`` is ``medcomp bench`` (reports under ``benchmarks/``); ``run_demo`` is ``medcomp demo``.
"""

from .bdrate import bd_rate
from .demo import run_demo
from .runner import run_bench

__all__ = ["bd_rate", "run_bench", "run_demo"]
