"""Pictures and tables of the explorer, drawn with matplotlib into PNG bytes and HTML.

matplotlib's object API (``Figure`` without pyplot) keeps no global state, so it draws safely on the
explorer's worker thread, renders the same in pytest, nbclient and a browser, and the PNG it makes is
what the export button saves.
"""

from __future__ import annotations

import html
import io
import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from monai_medcomp.codecs import get_codec
from monai_medcomp.windows import Units

from .measure import Point

PANEL_INCHES = 3.4
DPI = 100
PLOT_INCHES = (2 * PANEL_INCHES + 1.2, PANEL_INCHES)
PLOT_WIDTH_PIXELS = round(PLOT_INCHES[0] * DPI)
LOSSLESS_HEADROOM_DB = 6.0  # how far above the best finite PSNR an exact (infinite PSNR) point is drawn


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _extent(rows: slice, cols: slice) -> tuple[float, float, float, float]:
    """Axis extent that labels a crop with the pixel indices of the full slice."""
    return cols.start - 0.5, cols.stop - 0.5, rows.stop - 0.5, rows.start - 0.5


def image_panel(image: np.ndarray, title: str, rows: slice, cols: slice, *, vmin: float | None = None,
                vmax: float | None = None, cmap: str = "gray", colorbar_label: str | None = None) -> bytes:
    """One view of a crop of a slice (grey in display units, or RGB), optionally with a colour bar."""
    width = PANEL_INCHES * (1.25 if colorbar_label else 1.0)
    figure = Figure(figsize=(width, PANEL_INCHES), layout="constrained")
    axes = figure.add_subplot()
    shown = axes.imshow(image[rows, cols], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                        extent=_extent(rows, cols))
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=7)
    if colorbar_label:
        bar = figure.colorbar(shown, ax=axes, shrink=0.85)
        bar.set_label(colorbar_label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return png_bytes(figure)


def message_panel(text: str) -> bytes:
    """An empty view with a line of text, where an image cannot be shown (a failed setting)."""
    figure = Figure(figsize=(PANEL_INCHES, PANEL_INCHES), layout="constrained")
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=8, color="#b00020")
    return png_bytes(figure)


def error_map(original: np.ndarray, reconstruction: np.ndarray, units: Units) -> tuple[np.ndarray, str, str]:
    """Reconstruction minus original in the image's units; for RGB the largest channel error.

    Returns the map, its colour map and its colour-bar label.
    """
    difference = (reconstruction.astype(np.float64) - original.astype(np.float64)) * units.slope
    if difference.ndim == 3:
        return np.abs(difference).max(axis=-1), "magma", f"largest channel |error| ({units.name})"
    return difference, "coolwarm", f"reconstruction - original ({units.name})"


def symmetric_limit(values: np.ndarray) -> float:
    """Colour limit for a signed map centred on zero (never 0, so an exact result still draws)."""
    return max(float(np.abs(values).max()), 1.0)


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


CURVE_FORMATS = ("o-", "s--", "D:", "^-.")  # marker and line, once the ten colours are used up


def codec_style(codec: str, order: Sequence[str]) -> tuple[tuple[float, ...], str]:
    """The same colour and line format for a codec in every plot, from its place in the registry's order."""
    palette = colormaps["tab10"]
    index = order.index(codec) if codec in order else 0
    return palette(index % palette.N), CURVE_FORMATS[(index // palette.N) % len(CURVE_FORMATS)]


def rd_figure(curves: Mapping[str, Sequence[Point]], points: Mapping[str, Point], order: Sequence[str]) -> Figure:
    """Payload bpp against PSNR and against SSIM: a curve per codec, its current operating point starred.

    Exact reconstructions have infinite PSNR; they are drawn on a line above the best finite PSNR.
    """
    figure = Figure(figsize=PLOT_INCHES, layout="constrained")
    psnr_axes, ssim_axes = figure.subplots(1, 2)
    measured = [p for p in [*points.values(), *(q for c in curves.values() for q in c)] if p.error is None]
    best = max(_finite([p.psnr for p in measured]), default=40.0)
    exact_line = best + LOSSLESS_HEADROOM_DB

    def psnr_of(point: Point) -> float:
        return point.psnr if math.isfinite(point.psnr) else exact_line

    for codec in dict.fromkeys([*curves, *points]):
        colour, line = codec_style(codec, order)
        curve = sorted((p for p in curves.get(codec, ()) if p.error is None), key=lambda p: p.payload_bpp)
        for axes, value in ((psnr_axes, psnr_of), (ssim_axes, lambda p: p.ssim)):
            axes.plot([p.payload_bpp for p in curve], [value(p) for p in curve], line, color=colour, markersize=3,
                      linewidth=1.2, label=codec_cell(codec))
            point = points.get(codec)
            if point is not None and point.error is None:
                axes.plot([point.payload_bpp], [value(point)], "*", color=colour, markersize=14,
                          markeredgecolor="black", markeredgewidth=0.6)
    if any(not math.isfinite(p.psnr) for p in measured):
        psnr_axes.axhline(exact_line, color="grey", linestyle=":", linewidth=0.8)
        psnr_axes.annotate("exact (PSNR = inf)", (0.01, exact_line), xycoords=("axes fraction", "data"),
                           fontsize=7, color="grey", va="bottom")
    psnr_axes.set_ylabel("PSNR (dB, peak of the true bit depth)", fontsize=8)
    ssim_axes.set_ylabel("SSIM", fontsize=8)
    for axes in (psnr_axes, ssim_axes):
        axes.set_xlabel("bits per pixel (codec payload)", fontsize=8)
        axes.grid(True, alpha=0.3)
        axes.tick_params(labelsize=7)
    if curves or points:
        psnr_axes.legend(fontsize=7, loc="lower right")
    figure.suptitle("rate-distortion on this slice (star: current setting)", fontsize=9)
    return figure


def _number(value: float, digits: int = 3) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf (exact)"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


TABLE_COLUMNS = ("codec", "setting", "bpp (file)", "bpp (payload)", "ratio", "space saving", "PSNR dB",
                 "PSNR in window", "SSIM", "max |error|", "encode ms", "decode ms", "note")


def codec_cell(codec: str) -> str:
    """The codec's name, marked where it is one of the paper's codecs, so that no row reads as a recommendation."""
    return f"{codec} (paper reproduction)" if get_codec(codec).reproduction is not None else codec


def figure_row(point: Point, window_psnr: float = math.nan) -> list[str]:
    """The table cells of one operating point, as text; ``window_psnr``: its PSNR in the display window."""
    if point.error is not None:
        return [codec_cell(point.codec), point.setting.label] + [""] * (len(TABLE_COLUMNS) - 3) + [
            f"error: {point.error}"]
    return [codec_cell(point.codec), point.setting.label, _number(point.file_bpp), _number(point.payload_bpp),
            _number(point.ratio), f"{point.space_saving:.1%}", _number(point.psnr, 4), _number(window_psnr, 4),
            _number(point.ssim, 4), _number(point.max_abs_error), f"{point.encode_seconds * 1e3:.1f}",
            f"{point.decode_seconds * 1e3:.1f}", point.note or ""]


def figures_table(points: Sequence[Point], viewed: str | None, window_psnr: Mapping[str, float] | None = None) -> str:
    """The operating points as an HTML table; the codec whose reconstruction is shown is in bold, and a paper
    reproduction's row carries its label as a tooltip."""
    window_psnr = window_psnr or {}
    head = "".join(f"<th style='padding:2px 6px'>{html.escape(c)}</th>" for c in TABLE_COLUMNS)
    body = []
    for point in points:
        weight = "bold" if point.codec == viewed else "normal"
        colour = "#b00020" if point.error else "inherit"
        reproduction = get_codec(point.codec).reproduction
        title = f" title='{html.escape(reproduction.label, quote=True)}'" if reproduction is not None else ""
        cells = "".join(f"<td style='padding:2px 6px'>{html.escape(cell)}</td>"
                        for cell in figure_row(point, window_psnr.get(point.codec, math.nan)))
        body.append(f"<tr class='medcomp-row-{html.escape(point.codec)}'{title} style='font-weight:{weight};"
                    f"color:{colour}'>{cells}</tr>")
    return (f"<div style='max-width:100%;overflow-x:auto'><table class='medcomp-table' "
            f"style='border-collapse:collapse;font-size:12px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")
