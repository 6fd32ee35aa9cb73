"""The rate-quality explorer: which codec, at what rate, is still good enough for this scan?

``RateQualityExplorer(source)`` shows, for the slice chosen, the original, the reconstruction of the
codec being viewed and their difference (one zoom region and display window for all three), a
rate-distortion plot with a curve per compared codec and its current setting starred, and a table of
figures.  Every change goes to a background worker that measures what is missing (results are cached per
slice and setting) while a progress bar runs; a newer change supersedes the pending one.  Errors never
leave the widget: an unreadable source or one setting that fails shows its message where the result would
be, in the widget's own words.

The layout puts the images beside the controls on a laptop screen (1366x768): the controls in a column on
the left (codecs in collapsible groups by family, display, progress, messages, saving), the three views
and the plot to their right, the table below.  On a narrower window the views move under the controls and
shrink with it, so nothing is cut off.
"""

from __future__ import annotations

import dataclasses
import html
import os
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets

from monai_medcomp import metrics
from monai_medcomp.api import guard_output
from monai_medcomp.codecs import codec_names, get_codec
from monai_medcomp.errors import CodecError, MedCompError, OutputExistsError
from monai_medcomp.windows import units_of

from . import export, render
from .background import LatestOnly
from .cache import PointCache
from .controls import CodecControl, codec_groups
from .display import HALF_WIDTH, WindowControls
from .measure import CURVE_POINTS, Point, Setting, curve_settings, describe_error, measure, slice_volume
from .sources import load_volume

DEFAULT_CODECS = ("jpegls", "jpeg2000", "jpegxl")  # the standard codecs a first comparison starts from
CONTROLS_WIDTH = "520px"


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
    MetaTensor or a Volume; ``series_uid`` / ``volume_index`` pick one series of a folder or one volume of a
    4D NIfTI.  ``codecs``: the codecs compared at first.  The explorer displays itself when it is the last
    value of a cell; ``widget`` is its root widget.
    """

    def __init__(self, source: Any, codecs: Sequence[str] = DEFAULT_CODECS, *, curve_points: int = CURVE_POINTS,
                 output_dir: str | os.PathLike = ".", series_uid: str | None = None, volume_index: int | None = None):
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
            self.volume = load_volume(source, series_uid, volume_index)
        except Exception as error:  # an unreadable source is reported in the widget, not as a traceback
            self.volume = None
            self._show_error(f"cannot explore this source: {describe_error(error)}")
            self.widget = widgets.VBox([self.message])
            return
        self.units = units_of(self.volume)
        self._build(codecs, output_dir)
        self._built = True
        self.refresh()

    # ----- building the widgets

    def _build(self, codecs: Sequence[str], output_dir: str | os.PathLike) -> None:
        self._build_codec_controls(codecs)
        self._build_display_controls()
        self._build_views()
        self._build_export(output_dir)
        pairs = [(self.viewed, self.display.preset), (self.display.level, self.display.width),
                 (self.zoom_rows, self.zoom_cols), (self.slice,)]
        controls = widgets.VBox(
            [widgets.HTML("<b>codecs</b> and their targets (L lossless, N near-lossless, Y lossy)"), self.groups]
            + [widgets.HBox(list(pair)) for pair in pairs]
            + [widgets.HBox([self.progress, self.status]), self.message, self.export_box],
            layout=widgets.Layout(width=CONTROLS_WIDTH, flex=f"0 0 {CONTROLS_WIDTH}"))
        views = widgets.GridBox([self.original_view, self.reconstruction_view, self.error_view],
                                layout=widgets.Layout(grid_template_columns="1fr 1fr 1.25fr", grid_gap="4px"))
        views.add_class("medcomp-views")
        results = widgets.VBox([views, self.plot_view], layout=widgets.Layout(flex="1 1 560px", min_width="0"))
        self.widget = widgets.VBox([
            widgets.HBox([controls, results], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            self.figures,
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
                                       layout=widgets.Layout(width=HALF_WIDTH))
        self.viewed.add_class("medcomp-viewed")
        for control in self.controls.values():
            control.selected.observe(self._selection_changed, names="value")
        self.groups = codec_groups(list(self.controls.values()))

    def _build_display_controls(self) -> None:
        """Slice, display window in the image's units, and the zoom region shared by the three views."""
        volume = self.volume
        self.slice = widgets.IntSlider(value=volume.num_slices // 2, min=0, max=volume.num_slices - 1,
                                       description="slice", continuous_update=False,
                                       layout=widgets.Layout(width=HALF_WIDTH,
                                                             display=None if volume.num_slices > 1 else "none"))
        self.slice.add_class("medcomp-slice")
        self.display = WindowControls(volume, self.units, self.refresh)
        rows, cols = volume.array.shape[1:3]
        self.zoom_rows, self.zoom_cols = (
            widgets.IntRangeSlider(value=(0, size), min=0, max=size, description=f"zoom {axis}",
                                   continuous_update=False, style={"description_width": "initial"},
                                   layout=widgets.Layout(width=HALF_WIDTH))
            for axis, size in (("rows", rows), ("cols", cols)))
        for control in (self.viewed, self.slice, self.zoom_rows, self.zoom_cols):
            control.observe(lambda change: self.refresh(), names="value")

    def _build_views(self) -> None:
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, layout=widgets.Layout(width="90px"))
        self.status = widgets.Label()
        self.status.add_class("medcomp-status")
        scaled = dict(width="100%", height="auto", margin="0", object_fit="contain")  # shrinks with the window
        self.original_view, self.reconstruction_view, self.error_view = (
            widgets.Image(format="png", layout=widgets.Layout(**scaled)) for _ in range(3))
        self.plot_view = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{render.PLOT_WIDTH_PIXELS}px", max_width="100%", height="auto", margin="0", object_fit="contain"))
        for view, name in ((self.original_view, "original"), (self.reconstruction_view, "reconstruction"),
                           (self.error_view, "error"), (self.plot_view, "plot")):
            view.add_class(f"medcomp-{name}")
        self.figures = widgets.HTML()
        self.figures.add_class("medcomp-figures")

    def _build_export(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = widgets.Text(value=str(output_dir), description="save to",
                                       layout=widgets.Layout(width="400px"))
        self.overwrite = widgets.Checkbox(value=False, description="overwrite", indent=False,
                                          layout=widgets.Layout(width="100px"))
        self.overwrite.add_class("medcomp-overwrite")
        buttons = []
        for label, action, name in ((".mcz of shown result", self._save_result_clicked, "result"),
                                    ("RD points CSV", self._save_points_clicked, "points"),
                                    ("plot PNG", self._save_plot_clicked, "plot")):
            button = widgets.Button(description=label, layout=widgets.Layout(width="160px"))
            button.on_click(action)
            button.add_class(f"medcomp-save-{name}")
            buttons.append(button)
        self.export_box = widgets.VBox([widgets.HBox([self.output_dir, self.overwrite]), widgets.HBox(buttons)])
        self.export_box.add_class("medcomp-export")

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
        return Request(slice_index=int(self.slice.value),
                       settings=tuple(self.controls[name].setting() for name in self._selected_names()),
                       viewed=self.viewed.value, window=self.display.limits,
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
        for name, point in self.points.items():
            self.controls[name].point = point  # where a new target for this codec starts
        self.message.value = ""
        self._show_views(request, volume)
        self.figures.value = render.figures_table(list(self.points.values()), request.viewed,
                                                  self._window_psnr(request, volume))

    def _window_psnr(self, request: Request, volume) -> dict[str, float]:
        """PSNR in the display window of each grey reconstruction held in memory: what a reader of this
        window sees, beside the PSNR over the full bit depth."""
        if volume.channels != 1:
            return {}
        low, high = request.window
        return {name: metrics.windowed_psnr(volume.array, point.reconstruction, low, high, slope=self.units.slope,
                                            intercept=self.units.intercept)
                for name, point in self.points.items() if point.reconstruction is not None}

    def _show_views(self, request: Request, volume) -> None:
        original = volume.array[0]
        grey = original.ndim == 2
        shown = self.units(original) if grey else original
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
            self.units(reconstruction) if grey else reconstruction, title, request.rows, request.cols,
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
        path = self._output_path(what)
        try:
            save(path, force=self.overwrite.value)
        except OutputExistsError:  # said with the widget's own controls, not the command line's --force
            self._show_error(f"not saved: {path} is the image being explored; choose another folder"
                             if self.overwrite.value else
                             f"not saved: {path} already exists; tick \u201coverwrite\u201d to replace it")
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
