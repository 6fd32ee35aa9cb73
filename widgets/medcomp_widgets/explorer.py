"""The rate-quality explorer: which codec, at what rate, is still good enough for this scan?

``RateQualityExplorer(source)`` shows, for the slice chosen, the original, the reconstruction of the
codec being viewed and their difference (one zoom region for all three), a rate-distortion plot with
a curve per compared codec and its current setting starred, and a table of figures.  Every change
goes to a background worker that measures what is missing (results are cached per slice and setting)
while a progress bar runs; a newer change supersedes the pending one.  Errors never leave the widget:
an unreadable source or one setting that fails shows its message where the result would be.
"""

from __future__ import annotations

import dataclasses
import html
import os
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np

from monai_medcomp.api import guard_output
from monai_medcomp.codecs import codec_names, get_codec
from monai_medcomp.errors import CodecError, MedCompError

from . import export, render
from .background import LatestOnly
from .cache import PointCache
from .controls import CodecControl
from .measure import CURVE_POINTS, Point, Setting, curve_settings, describe_error, measure, slice_volume
from .sources import display_units, load_volume

DEFAULT_CODECS = ("jpegls", "jpegxl")
WINDOW_PERCENTILES = (0.5, 99.5)
WINDOW_SAMPLE_SLICES = 16  # slices looked at for the default window of a large volume


@dataclasses.dataclass(frozen=True)
class Request:
    """Everything one update needs, copied from the controls when it was asked for."""

    slice_index: int
    settings: tuple[Setting, ...]
    viewed: str | None
    window: tuple[float, float]  # display-unit limits
    rows: slice
    cols: slice


def _region(slider: widgets.IntRangeSlider) -> slice:
    """A zoom range as a slice of at least one pixel (a range slider can close to nothing)."""
    start, stop = slider.value
    start = min(start, slider.max - 1)
    return slice(start, max(stop, start + 1))


class RateQualityExplorer:
    """An ipywidgets app comparing codecs on one image or volume, slice by slice.

    ``source``: a path (DICOM file or series folder, NIfTI, ``.mcz``...), an integer numpy array, a MONAI
    MetaTensor or a Volume.  ``codecs``: the codecs compared at first.  The explorer displays itself
    when it is the last value of a cell; ``widget`` is its root widget.
    """

    def __init__(self, source: Any, codecs: Sequence[str] = DEFAULT_CODECS, *, curve_points: int = CURVE_POINTS,
                 output_dir: str | os.PathLike = "."):
        self.curve_points = curve_points
        self.points: dict[str, Point] = {}  # the current setting of each compared codec, on the shown slice
        self.curves: dict[str, list[Point]] = {}  # each compared codec's rate-distortion curve on that slice
        self.plot_png: bytes | None = None
        self.message = widgets.HTML()
        self.message.add_class("medcomp-message")
        self._source = source
        self._cache = PointCache()
        self._runner = LatestOnly()
        self._original_key: tuple | None = None  # what the shown original and plot were drawn for
        self._plot_key: tuple | None = None
        self._built = False
        try:
            self.volume = load_volume(source)
        except Exception as error:  # an unreadable source is reported in the widget, not as a traceback
            self.volume = None
            self._show_error(f"cannot explore this source: {describe_error(error)}")
            self.widget = widgets.VBox([self.message])
            return
        self.units = display_units(self.volume)
        self._build(codecs, output_dir)
        self._built = True
        self.refresh()

    # ----- building the widgets

    def _build(self, codecs: Sequence[str], output_dir: str | os.PathLike) -> None:
        self._build_codec_controls(codecs)
        self._build_display_controls()
        self._build_views()
        self._build_export(output_dir)
        codec_box = widgets.VBox([widgets.HTML("<b>codecs</b> (L lossless, N near-lossless, Y lossy) and their "
                                               "targets")] + [c.row for c in self.controls.values()])
        display_box = widgets.VBox([self.viewed, self.slice, self.level, self.width, self.zoom_rows, self.zoom_cols])
        self.widget = widgets.VBox([
            widgets.HBox([codec_box, display_box]),
            widgets.HBox([self.progress, self.status]),
            self.message,
            widgets.HBox([self.original_view, self.reconstruction_view, self.error_view]),
            self.figures,
            self.plot_view,
            self.export_box,
        ])
        self.widget.add_class("medcomp-explorer")

    def _build_codec_controls(self, codecs: Sequence[str]) -> None:
        """A row per available codec of the registry; ``codecs`` are ticked."""
        max_bpp = float(self.volume.bits_stored * self.volume.channels)
        self.controls: dict[str, CodecControl] = {}
        for name in codec_names():
            codec = get_codec(name)
            if codec.available:
                self.controls[name] = CodecControl(codec, max_bpp, self.refresh)
        for name in codecs:
            if name not in self.controls:
                get_codec(name)  # an unknown name raises the registry's error, listing the known ones
                raise CodecError(f"codec {name!r} is not available here (a dependency or its weights are missing)")
            self.controls[name].selected.value = True
        self.viewed = widgets.Dropdown(description="show", options=self._selected_names(),
                                       layout=widgets.Layout(width="260px"))
        self.viewed.add_class("medcomp-viewed")
        for control in self.controls.values():
            control.selected.observe(self._selection_changed, names="value")

    def _build_display_controls(self) -> None:
        """Slice, window / level in display units, and the zoom region shared by the three views."""
        volume, units = self.volume, self.units
        self.slice = widgets.IntSlider(value=volume.num_slices // 2, min=0, max=volume.num_slices - 1,
                                       description="slice", continuous_update=False,
                                       layout=widgets.Layout(display=None if volume.num_slices > 1 else "none"))
        self.slice.add_class("medcomp-slice")
        low, high = self._default_window()
        full_low, full_high = (float(v) for v in units.apply(np.array([volume.array.min(), volume.array.max()])))
        grey = widgets.Layout(display=None if volume.channels == 1 else "none")
        self.level = widgets.FloatSlider(value=(low + high) / 2, min=full_low, max=full_high,
                                         description=f"level ({units.name})", continuous_update=False,
                                         style={"description_width": "initial"}, readout_format=".0f", layout=grey)
        self.width = widgets.FloatSlider(value=max(high - low, 1.0), min=1.0, max=max(full_high - full_low, 1.0),
                                         description="width", continuous_update=False, readout_format=".0f",
                                         layout=grey)
        rows, cols = volume.array.shape[1:3]
        self.zoom_rows, self.zoom_cols = (
            widgets.IntRangeSlider(value=(0, size), min=0, max=size, description=f"zoom {axis}",
                                   continuous_update=False, style={"description_width": "initial"})
            for axis, size in (("rows", rows), ("cols", cols)))
        for control in (self.viewed, self.slice, self.level, self.width, self.zoom_rows, self.zoom_cols):
            control.observe(lambda change: self.refresh(), names="value")

    def _build_views(self) -> None:
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, layout=widgets.Layout(width="200px"))
        self.status = widgets.Label()
        self.status.add_class("medcomp-status")
        self.original_view, self.reconstruction_view, self.error_view = (widgets.Image(format="png") for _ in range(3))
        self.plot_view = widgets.Image(format="png", layout=widgets.Layout(width=f"{render.PLOT_WIDTH_PIXELS}px"))
        for view, name in ((self.original_view, "original"), (self.reconstruction_view, "reconstruction"),
                           (self.error_view, "error"), (self.plot_view, "plot")):
            view.add_class(f"medcomp-{name}")
        self.figures = widgets.HTML()
        self.figures.add_class("medcomp-figures")

    def _build_export(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = widgets.Text(value=str(output_dir), description="save to",
                                       layout=widgets.Layout(width="320px"))
        self.overwrite = widgets.Checkbox(value=False, description="overwrite", indent=False,
                                          layout=widgets.Layout(width="100px"))
        buttons = []
        for label, action in ((".mcz of shown result", self._save_result_clicked),
                              ("RD points CSV", self._save_points_clicked), ("plot PNG", self._save_plot_clicked)):
            button = widgets.Button(description=label, layout=widgets.Layout(width="170px"))
            button.on_click(action)
            buttons.append(button)
        self.export_box = widgets.HBox([self.output_dir, self.overwrite, *buttons])

    def _default_window(self) -> tuple[float, float]:
        """Display-unit limits at robust percentiles of the volume (a few slices of a large one), leaving
        out its minimum, which is mostly padding (the corners of a CT outside its field of view)."""
        array = self.volume.array
        sample = array[::max(1, array.shape[0] // WINDOW_SAMPLE_SLICES)]
        inside = sample[sample > sample.min()]
        low, high = np.percentile(inside if inside.size else sample, WINDOW_PERCENTILES)
        low, high = self.units.apply(np.array([low, high]))
        return float(low), float(high) if high > low else float(low) + 1.0

    def _selected_names(self) -> list[str]:
        return [name for name, control in self.controls.items() if control.selected.value]

    def _selection_changed(self, change: dict) -> None:
        names = self._selected_names()
        current = self.viewed.value
        with self.viewed.hold_trait_notifications():
            self.viewed.options = names
            self.viewed.value = current if current in names else (names[0] if names else None)
        self.refresh()

    # ----- requests and the background work

    def request(self) -> Request:
        """The current state of the controls, as the work to do."""
        level, width = self.level.value, self.width.value
        return Request(slice_index=int(self.slice.value),
                       settings=tuple(self.controls[name].setting() for name in self._selected_names()),
                       viewed=self.viewed.value, window=(level - width / 2, level + width / 2),
                       rows=_region(self.zoom_rows), cols=_region(self.zoom_cols))

    def refresh(self) -> None:
        """Ask for the views of the current controls; a newer call supersedes this one."""
        if not self._built:
            return
        request = self.request()
        self._runner.submit(lambda superseded: self._work(request, superseded))

    def wait(self, timeout: float | None = 120) -> "RateQualityExplorer":
        """Block until the latest update is shown (scripts and tests; the widget never needs it)."""
        self._runner.wait(timeout)
        return self

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def _point(self, volume, slice_index: int, setting: Setting, pixels: bool) -> Point:
        key = (slice_index, setting)
        point = self._cache.get(key, pixels)
        if point is None:
            point = measure(volume, setting)
            self._cache.put(key, point if pixels else point.without_pixels())
        return point

    def _work(self, request: Request, superseded) -> None:
        try:
            self._measure_and_show(request, superseded)
        except Exception as error:  # whatever happens in the worker is shown in the widget
            self._show_error(describe_error(error))
            self.status.value = "failed"

    def _measure_and_show(self, request: Request, superseded) -> None:
        """The operating points first (figures and images appear), then the curves (the plot)."""
        volume = slice_volume(self.volume, request.slice_index)
        curve_jobs = [c for s in request.settings for c in curve_settings(s.codec, self.curve_points)]
        todo = [(s, True) for s in request.settings if self._cache.get((request.slice_index, s), True) is None]
        todo += [(c, False) for c in dict.fromkeys(curve_jobs) if self._cache.get((request.slice_index, c)) is None]
        self.progress.max, self.progress.value, self.progress.bar_style = max(len(todo), 1), 0, "info"
        shown = False
        for done, (setting, pixels) in enumerate(todo, start=1):
            if superseded():
                return
            if not pixels and not shown:
                self._show_results(request, volume)
                shown = True
            self.status.value = f"measuring {setting.codec} {setting.label} ({done}/{len(todo)})"
            self._point(volume, request.slice_index, setting, pixels)
            self.progress.value = done
        if superseded():
            return
        if not shown:
            self._show_results(request, volume)
        if (request.slice_index, request.settings) != self._plot_key:  # display-only changes keep the plot
            self.curves = {s.codec: [self._cache.get((request.slice_index, c)) for c in
                                     curve_settings(s.codec, self.curve_points)] for s in request.settings}
            self._show_plot()
            self._plot_key = (request.slice_index, request.settings)
        self.progress.value, self.progress.bar_style = self.progress.max, "success"
        self.status.value = f"slice {request.slice_index}: {len(request.settings)} codecs measured"

    def _show_results(self, request: Request, volume) -> None:
        self.points = {s.codec: self._cache.get((request.slice_index, s)) for s in request.settings}
        self.message.value = ""
        self._show_views(request, volume)
        self.figures.value = render.figures_table(list(self.points.values()), request.viewed)

    def _show_views(self, request: Request, volume) -> None:
        original = volume.array[0]
        grey = original.ndim == 2
        shown = self.units.apply(original) if grey else original
        vmin, vmax = request.window if grey else (None, None)
        key = (request.slice_index, request.window, request.rows, request.cols)
        if key != self._original_key:
            self.original_view.value = render.image_panel(shown, "original", request.rows, request.cols,
                                                          vmin=vmin, vmax=vmax)
            self._original_key = key
        point = self.points.get(request.viewed)
        if point is None or point.reconstruction is None:
            text = f"{request.viewed}: {point.error}" if point is not None and point.error else "no codec selected"
            self.reconstruction_view.value = render.message_panel(text)
            self.error_view.value = render.message_panel("")
            return
        reconstruction = point.reconstruction[0]
        title = f"{point.codec} {point.setting.label}: {point.payload_bpp:.3g} bpp"
        self.reconstruction_view.value = render.image_panel(
            self.units.apply(reconstruction) if grey else reconstruction, title, request.rows, request.cols,
            vmin=vmin, vmax=vmax)
        difference, cmap, label = render.error_map(original, reconstruction, self.units)
        limit = render.symmetric_limit(difference[request.rows, request.cols])
        self.error_view.value = render.image_panel(difference, "error", request.rows, request.cols,
                                                   vmin=-limit if grey else 0, vmax=limit, cmap=cmap,
                                                   colorbar_label=label)

    def _show_plot(self) -> None:
        self.plot_png = render.png_bytes(render.rd_figure(self.curves, self.points, list(self.controls)))
        self.plot_view.value = self.plot_png

    def _show_error(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00020'>{html.escape(text)}</span>"

    # ----- export

    def save_result(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the shown codec's compressed slice as a ``.mcz`` file."""
        guard_output(self._source, path)
        point = self.points.get(self.viewed.value)
        if point is None:
            raise MedCompError("no codec is shown: tick one to save its result")
        export.write_mcz(point, path, force=force)
        return Path(path)

    def save_points(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write every measured point of the shown slice (curves and current settings) as CSV."""
        guard_output(self._source, path)
        export.write_csv(self.curves, self.points, path, force=force)
        return Path(path)

    def save_plot(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write the rate-distortion plot as PNG."""
        guard_output(self._source, path)
        export.write_png(self.plot_png, path, force=force)
        return Path(path)

    def _output_path(self, what: str) -> Path:
        stem = self.volume.metadata.get("sample") or (Path(self._source).name.split(".")[0]
                                                      if isinstance(self._source, (str, os.PathLike)) else "image")
        return Path(self.output_dir.value) / f"{stem}_slice{self.slice.value}_{what}"

    def _save_clicked(self, save, what: str) -> None:
        try:
            path = save(self._output_path(what), force=self.overwrite.value)
        except Exception as error:  # a refused or failed save is reported, the explorer stays usable
            self._show_error(f"not saved: {describe_error(error)}")
        else:
            self.message.value = f"saved {html.escape(str(path))}"

    def _save_result_clicked(self, button) -> None:
        self._save_clicked(self.save_result, f"{self.viewed.value}.mcz")

    def _save_points_clicked(self, button) -> None:
        self._save_clicked(self.save_points, "rd.csv")

    def _save_plot_clicked(self, button) -> None:
        self._save_clicked(self.save_plot, "rd.png")

    # ----- display

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Stop the worker and close the widgets."""
        self._runner.shutdown()
        self.widget.close()
