"""``medcomp compare``: the original, the reconstruction and their difference, side by side, with the figures.

A number says how much was lost; a picture says where, and whether it looks like anatomy.  :func:`compare`
writes into one folder:

* ``compare.png``: one slice of the original, of the reconstruction (both in the display window, with a colour
  bar in the image's units, HU for CT) and the error map (reconstruction - original, in the same units, blue
  below and red above, its colour bar symmetric about 0 up to the 99th percentile of |error|), each image
  drawn one image pixel to one screen pixel for slices of 256 to 768 pixels (smaller ones scaled up, larger
  ones down, by one factor);
* ``original.png``, ``reconstruction.png``, ``error.png``: the three panels alone at the slice's own size
  (rows x columns), to flip between in any viewer, where a change shows as movement;
* ``figures.json``: :func:`figures.measure` for the whole volume and for the slice shown, the window, the
  rate where the compressed size is known, and which files were compared.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np

from .bench.report import to_json, write_figure, write_text
from .errors import MedCompError
from .fileio import atomic_write, check_outputs
from .figures import DEFAULT_HU_THRESHOLD, decibels, measure
from .volume import Volume
from .windows import Units, Window, display_window, units_of

OUTPUTS = ("compare.png", "original.png", "reconstruction.png", "error.png", "figures.json")
DPI = 100
SHOWN_SIZE = (256, 768)  # the long side of each drawn panel, in screen pixels
# the panel frame, in screen pixels: outer margin, title band, gap before the colour bar, its width and labels
MARGIN, TITLE, GAP, BAR, BAR_LABELS = 12, 64, 8, 14, 72
ERROR_COLOURS = "RdBu_r"
ERROR_PERCENTILE = 99.0


def compressed_size(path: str | os.PathLike) -> int:
    """Bytes of a compressed file, or of every file in a folder (a DICOM series)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _check_pair(original: Volume, reconstruction: Volume) -> None:
    if original.array.shape != reconstruction.array.shape:
        raise MedCompError(f"the reconstruction has shape {reconstruction.array.shape} and the original "
                           f"{original.array.shape}: it is not a compression of this image (a --series-uid or "
                           "--volume-index to pick?)")


def _slice_index(volume: Volume, asked: int | None) -> int:
    if asked is None:
        return volume.num_slices // 2
    if not 0 <= asked < volume.num_slices:
        raise MedCompError(f"--slice {asked} is outside the volume, which has {volume.num_slices} slices "
                           f"(0 to {volume.num_slices - 1})")
    return asked


def error_map(units: Units, original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """``reconstruction - original`` in the image's units; for RGB, each pixel's channel with the largest error."""
    error = units(reconstruction) - units(original)
    if error.ndim == 3:
        worst = np.abs(error).argmax(axis=-1)[..., np.newaxis]
        error = np.take_along_axis(error, worst, axis=-1)[..., 0]
    return error


def _error_limit(error: np.ndarray) -> float:
    """The colour bar's end: the 99th percentile of |error| (1 when nothing differs).  The largest error alone
    would wash out the rest: on a head CT it sits on the edge of the scanner's field of view, 1000 HU off where
    the brain is off by 50; the title gives the largest."""
    return float(np.percentile(np.abs(error), ERROR_PERCENTILE)) or 1.0


def _error_colours(error: np.ndarray, limit: float) -> np.ndarray:
    from matplotlib import colormaps

    rgba = colormaps[ERROR_COLOURS]((error / limit + 1) / 2)
    return np.rint(rgba[..., :3] * 255).astype(np.uint8)


def _shown_size(volume: Volume) -> tuple[int, int]:
    """(width, height) in screen pixels of one drawn slice: one factor for both sides, rows stretched by the
    pixel spacing's aspect."""
    rows, cols = volume.array.shape[1:3]
    low, high = SHOWN_SIZE
    scale = min(max(1.0, low / max(rows, cols)), high / max(rows, cols))
    aspect = volume.spacing[1] / volume.spacing[0] if volume.spacing[0] > 0 else 1.0
    return round(cols * scale), round(rows * scale * aspect)


def figure_size(volume: Volume) -> tuple[int, int]:
    """(width, height) of ``compare.png`` in pixels."""
    width, height = _shown_size(volume)
    return 3 * (width + GAP + BAR + BAR_LABELS) + 2 * MARGIN, height + TITLE + 2 * MARGIN


def _picture(volume: Volume, original: np.ndarray, reconstruction: np.ndarray, window: Window, units: Units,
             titles: list[str], heading: str) -> Any:
    """The three panels with their colour bars, each slice drawn at :func:`_shown_size`."""
    from matplotlib.figure import Figure

    total_width, total_height = figure_size(volume)
    width, height = _shown_size(volume)
    figure = Figure(figsize=(total_width / DPI, total_height / DPI), dpi=DPI)
    rgb = original.ndim == 3  # shown as its grey levels in the window: an RGB image has no one scale of values

    def image(pixels: np.ndarray) -> tuple[np.ndarray, str, float, float, str | None]:
        if rgb:
            return window.display(units(pixels)), "gray", 0, 255, None
        return units(pixels), "gray", window.low, window.high, units.name

    error = error_map(units, original, reconstruction)
    limit = _error_limit(error)
    panels = [image(original), image(reconstruction),
              (error, ERROR_COLOURS, -limit, limit, f"reconstruction - original ({units.name})")]
    for column, ((pixels, colours, low, high, label), title) in enumerate(zip(panels, titles)):
        left = MARGIN + column * (width + GAP + BAR + BAR_LABELS)
        axes = figure.add_axes((left / total_width, MARGIN / total_height, width / total_width,
                                height / total_height))
        drawn = axes.imshow(pixels, cmap=colours, vmin=low, vmax=high, interpolation="nearest", aspect="auto")
        axes.set_axis_off()
        axes.set_title(title, fontsize="small")
        if label is not None:
            bar = figure.add_axes(((left + width + GAP) / total_width, MARGIN / total_height, BAR / total_width,
                                   height / total_height))
            figure.colorbar(drawn, cax=bar, extend="both").set_label(label, fontsize="small")
    figure.suptitle(heading, fontsize="medium", y=1 - 8 / total_height, va="top")
    return figure


def _png(pixels: np.ndarray) -> bytes:
    return imagecodecs.png_encode(np.ascontiguousarray(pixels))


def compare(original: Volume, reconstruction: Volume, out_dir: str | os.PathLike, *, slice_index: int | None = None,
            window: Window | str | None = None, hu_threshold: float = DEFAULT_HU_THRESHOLD, ct: bool | None = None,
            compressed_nbytes: int | None = None, sources: dict[str, str] | None = None,
            force: bool = False) -> dict[str, Any]:
    """Write :data:`OUTPUTS` into ``out_dir`` and return what ``figures.json`` holds.

    ``window`` as ``--window`` (the display and the windowed PSNR; default: the file's own, a CT preset, or the
    range of the values), ``ct`` as in :func:`windows.units_of`, ``compressed_nbytes`` adds bpp and ratio.
    Nothing is written when an output exists (unless ``force``), the shapes differ or the slice is not there.
    """
    _check_pair(original, reconstruction)
    index = _slice_index(original, slice_index)
    paths = {name: Path(out_dir) / name for name in OUTPUTS}
    check_outputs(paths.values(), force)
    units = units_of(original, ct)
    shown = display_window(original, window, ct)
    options = dict(window=window, hu_threshold=hu_threshold, ct=ct)
    one = original.with_array(original.array[index:index + 1])
    report: dict[str, Any] = {
        "files": dict(sources or {}),
        "shape": list(original.array.shape),
        "display_window": shown.to_json(),
        "volume": measure(original, reconstruction.array, **options),
        "slice": {"index": index, **measure(one, reconstruction.array[index:index + 1], **options)},
    }
    if compressed_nbytes is not None:
        pixels = original.array.size // original.channels
        report["size"] = {"compressed_bytes": compressed_nbytes, "original_bytes": int(original.array.nbytes),
                          "bpp": compressed_nbytes * 8 / pixels, "ratio": original.array.nbytes / compressed_nbytes}
    before, after = original.array[index], reconstruction.array[index]
    error = error_map(units, before, after)
    slice_figures = report["slice"]
    titles = ["original", f"reconstruction: PSNR {decibels(slice_figures['psnr'])}"
              + (f", {decibels(slice_figures['psnr_window'])} in window" if "psnr_window" in slice_figures else ""),
              f"error: max |error| {np.abs(error).max():g} {units.name}"]
    heading = f"slice {index} of {original.num_slices}, window {shown.describe(units.name)}"
    write_figure(paths["compare.png"], _picture(original, before, after, shown, units, titles, heading), force)
    atomic_write(paths["original.png"], _png(shown.display(units(before))), force)
    atomic_write(paths["reconstruction.png"], _png(shown.display(units(after))), force)
    atomic_write(paths["error.png"], _png(_error_colours(error, _error_limit(error))), force)
    write_text(paths["figures.json"], to_json(report), force)
    return report
