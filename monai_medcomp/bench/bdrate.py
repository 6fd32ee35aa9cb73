"""Bjontegaard delta rate: how many percent more (or fewer) bits a codec needs for the same PSNR.

The integration itself is the ``bjontegaard`` package (the common implementation: log-rate
interpolated over PSNR, piecewise cubic ``pchip`` as in JCTVC-L0242 or the original cubic
polynomial fit ``cubic`` of VCEG-M33).  What this module adds is turning measured sweeps into the
monotone curves that the interpolation needs: real sweeps contain lossless points (infinite PSNR)
and knob values that cost more bits without gaining quality.
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable, Sequence

import bjontegaard
import numpy as np

Curve = Sequence[tuple[float, float]]


def monotone_curve(points: Iterable[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """The (rate, quality) points that lie on the rising envelope, sorted by rate.

    Points with a non-finite quality (lossless) or a non-positive rate are dropped, and a point is
    kept only if it beats the quality of every cheaper point: a dominated point is a worse setting
    of the same codec, not part of its rate-distortion curve.
    """
    finite = sorted(((float(r), float(q)) for r, q in points if r > 0 and math.isfinite(q) and math.isfinite(r)),
                    key=lambda point: (point[0], -point[1]))
    rates, qualities = [], []
    for rate, quality in finite:
        if qualities and quality <= qualities[-1]:
            continue
        rates.append(rate)
        qualities.append(quality)
    return np.asarray(rates), np.asarray(qualities)


def bd_rate(anchor: Curve, test: Curve, method: str = "pchip") -> float | None:
    """Average rate difference of ``test`` against ``anchor`` in percent at equal PSNR (negative: test saves bits).

    ``anchor`` and ``test`` are (bits per pixel, PSNR dB) pairs.  Returns None when a curve has too
    few usable points or the two curves share no PSNR interval, since no honest figure exists then.
    """
    needed = 4 if method == "cubic" else 2
    anchor_rate, anchor_psnr = monotone_curve(anchor)
    test_rate, test_psnr = monotone_curve(test)
    if len(anchor_rate) < needed or len(test_rate) < needed:
        return None
    if min(anchor_psnr.max(), test_psnr.max()) <= max(anchor_psnr.min(), test_psnr.min()):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # partial overlap is normal for codecs with different ranges
        value = bjontegaard.bd_rate(anchor_rate, anchor_psnr, test_rate, test_psnr, method=method,
                                    require_matching_points=False, min_overlap=0)
    return float(value) if math.isfinite(value) else None

