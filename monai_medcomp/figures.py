"""The figures that say whether a reconstruction is good enough for its scan, in the scan's own units.

``compress`` prints them after every lossy run, ``compare`` writes them beside its picture, and both come
from :func:`measure`:

* PSNR over the full bit depth (peak ``2**bits_stored - 1``, what papers report), SSIM, max |error|;
* PSNR in a display window (``windows.quality_window``: ``--window``, else the file's own, else for CT the
  soft-tissue preset), the figure that follows what a reader sees: on a 14-bit CT, 50 dB over the full
  depth is an RMSE of 52 HU, more than half of a brain window's 80 HU (``docs/quality.md``);
* for CT, the error in HU: RMSE, max |error|, and the share of pixels off by more than a threshold
  (:data:`DEFAULT_HU_THRESHOLD`; a mean hides the few pixels that are badly off).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import metrics
from .volume import Volume
from .windows import Window, quality_window, units_of

DEFAULT_HU_THRESHOLD = 5.0  # HU: of the order of a routine CT's own noise in soft tissue, below a lesion's contrast


def measure(volume: Volume, reconstruction: np.ndarray, *, window: Window | str | None = None,
            hu_threshold: float = DEFAULT_HU_THRESHOLD, ct: bool | None = None) -> dict[str, Any]:
    """Every figure of ``reconstruction`` (stored integers, the volume's shape) against ``volume``, as plain
    JSON values (PSNR ``inf`` when nothing differs); ``ct`` as in :func:`windows.units_of`."""
    original = volume.array
    units = units_of(volume, ct)
    bits = volume.bits_stored
    figures: dict[str, Any] = {
        "units": units.name,
        "bits_stored": bits,
        "peak": metrics.peak_value(original, bits),
        "psnr": metrics.psnr(original, reconstruction, bits_stored=bits),
        "ssim": metrics.ssim(original, reconstruction, bits_stored=bits),
        "max_abs_error": metrics.max_abs_error(original, reconstruction),
        "rmse": metrics.rmse(original, reconstruction),
    }
    chosen = quality_window(volume, window, ct)
    if chosen is not None:
        figures["window"] = chosen.to_json()
        figures["psnr_window"] = metrics.windowed_psnr(original, reconstruction, chosen.low, chosen.high,
                                                       slope=units.slope, intercept=units.intercept)
    if units.ct:
        scale = abs(units.slope)
        figures.update(rmse_hu=figures["rmse"] * scale, max_abs_error_hu=figures["max_abs_error"] * scale,
                       hu_threshold=hu_threshold,
                       share_above_hu_threshold=metrics.share_above(original, reconstruction, hu_threshold / scale))
    return figures


def decibels(value: float) -> str:
    """``50.07 dB``, or ``lossless`` where nothing differs (an infinite PSNR)."""
    return "lossless" if math.isinf(value) else f"{value:.2f} dB"


def summary_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as a person reads them, one topic a line."""
    units = figures["units"]
    lines = [f"quality: PSNR {decibels(figures['psnr'])} over the full {figures['bits_stored']}-bit range (peak "
             f"{figures['peak']}), SSIM {figures['ssim']:.4f}, max |error| {figures['max_abs_error']} stored "
             f"value{'s' if figures['max_abs_error'] != 1 else ''}"]
    if "window" in figures:
        lines.append(f"in window {Window.from_json(figures['window']).describe(units)}: PSNR "
                     f"{decibels(figures['psnr_window'])} (peak = the window's width; --window to choose another)")
    if "rmse_hu" in figures:
        lines.append(f"in HU: RMSE {figures['rmse_hu']:.2f} HU, max |error| {figures['max_abs_error_hu']:g} HU, "
                     f"{100 * figures['share_above_hu_threshold']:.2f} % of pixels off by more than "
                     f"{figures['hu_threshold']:g} HU (--hu-threshold)")
    return lines
