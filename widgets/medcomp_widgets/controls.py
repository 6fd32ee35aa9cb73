"""One row of controls per codec (compare it or not, what to ask it for, and how much), and the rows grouped
by family in a collapsible list.

The target is any of the library's rate-control targets (the codec's own quality knob, a bit rate, a
PSNR or a maximum error) or the codec's default (lossless where it can be; the only choice of a codec
without a knob).  A new target starts where the codec is now on the slice shown (its measured PSNR, bit
rate, maximum error or knob value), so it is always within the codec's reach on that image.  Sliders use
``continuous_update=False``: each value is a full encode, so only the value where the user lets go counts.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import ipywidgets as widgets

from monai_medcomp.bench.ratedistortion import SWEEP_RANGES, knob_range
from monai_medcomp.codecs import Codec

from .measure import CURVE_POINTS, Point, Setting, curve_settings

DEFAULT = "default"  # the codec's default parameters: lossless where it can be
TARGET_LABELS = {"quality": "own setting", "bpp": "bpp (file)", "psnr": "PSNR dB", "max_error": "max |error|"}
PSNR_RANGE = (20.0, 100.0, 50.0)  # dB: low, high, start where nothing is measured yet
MAX_ERROR_RANGE = (0, 64, 2)
LOW_BPP = 0.05
SLIDER_WIDTH = "240px"
FAMILIES = {  # Codec.family: the heading of its group, and what the group says first
    "standard": ("standard codecs", ""),
    "medcomp": ("MedComp's own", ""),
    "reproduction": ("paper reproductions, not recommendations",
                     "The paper's methods as MedComp re-implements them, to compare with the paper; the committed "
                     "benchmarks measure every one well behind JPEG 2000, by as much as each row says "
                     "(benchmarks/seed_lossy.md, seed_table2.md and lossy.md)."),
}


def capability_marks(codec: Codec) -> str:
    """Short marks of what a codec can do, shown beside its name: L lossless, N near-lossless, Y lossy."""
    return "".join(mark for mark, flag in (("L", codec.lossless), ("N", codec.near_lossless), ("Y", codec.lossy))
                   if flag)


def target_kinds(codec: Codec) -> list[tuple[str, str]]:
    """(label, kind) choices for a codec: its default where that is lossless or all it has, and the four
    targets where it has a knob."""
    lossless_default = codec.is_lossless(codec.default_params())
    kinds = [("lossless" if lossless_default else "default", DEFAULT)] if lossless_default or not codec.knob else []
    if codec.knob is not None:
        kinds += [(f"{codec.knob.name}" if kind == "quality" else label, kind) for kind, label in TARGET_LABELS.items()]
    return kinds


def measured_start(codec: Codec, kind: str, point: Point | None) -> float | None:
    """Where ``kind`` starts for a codec now at ``point``: the value it measured there (a target it reaches on
    this image by construction), or None when nothing usable was measured."""
    if point is None or point.error is not None:
        return None
    value = {"quality": point.params.get(codec.knob.name) if codec.knob else None, "bpp": point.file_bpp,
             "psnr": point.psnr, "max_error": point.max_abs_error}.get(kind)
    return float(value) if value is not None and math.isfinite(value) else None


def _within(low: float, high: float, start: float) -> tuple[float, float, float]:
    """The range widened, where needed, to hold ``start``."""
    return min(low, start), max(high, start), start


def _log_slider(low: float, high: float, value: float) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(value=value, base=10, min=math.log10(low), max=math.log10(high), step=0.02,
                                  continuous_update=False, readout_format=".3g")


def target_slider(codec: Codec, kind: str, max_bpp: float, start: float | None = None) -> widgets.ValueWidget:
    """A slider over the useful values of ``kind`` for ``codec`` (``max_bpp``: the raw data's bits per pixel),
    at ``start`` where one is known; for the codec's default, which has no value, a note in its place."""
    layout = widgets.Layout(width=SLIDER_WIDTH)
    if kind == "quality":
        knob = codec.knob
        sweep = SWEEP_RANGES.get(codec.name) or knob_range(knob)
        middle = curve_settings(codec.name, CURVE_POINTS)[CURVE_POINTS // 2].value
        low, high, value = _within(sweep.low, sweep.high, middle if start is None else knob.clip(start))
        if knob.integer:
            return widgets.IntSlider(value=int(value), min=int(low), max=int(high), continuous_update=False,
                                     layout=layout)
        if sweep.log and low > 0:
            slider = _log_slider(low, high, value)
        else:
            slider = widgets.FloatSlider(value=value, min=low, max=high, step=(high - low) / 200,
                                         continuous_update=False, readout_format=".3g")
    elif kind == "bpp":
        slider = _log_slider(LOW_BPP, max_bpp, min(max(1.0 if start is None else start, LOW_BPP), max_bpp))
    elif kind == "psnr":
        low, high, value = _within(*PSNR_RANGE[:2], PSNR_RANGE[2] if start is None else round(start, 1))
        slider = widgets.FloatSlider(value=value, min=low, max=high, step=0.1, continuous_update=False)
    elif kind == "max_error":
        low, high, value = _within(*MAX_ERROR_RANGE[:2], MAX_ERROR_RANGE[2] if start is None else start)
        return widgets.IntSlider(value=int(value), min=int(low), max=int(high), continuous_update=False,
                                 layout=layout)
    else:  # a note in the slider's place, wrapped rather than cut off
        reproduction = codec.reproduction
        return widgets.HTML(value=f"<small>{reproduction.distance}</small>" if reproduction else
                            "(its default parameters)", layout=layout)
    slider.layout = layout
    return slider


class CodecControl:
    """A codec's row: check box, target kind and target value; calls ``on_change`` when any of them moves.

    ``point`` is the codec's latest measured operating point on the slice shown (the explorer sets it); a
    new target kind starts from it.  ``widget`` is what the codec list shows: the row, and under the row of a
    paper reproduction whose value is a slider, its distance to JPEG 2000 (the other rows show it in place
    of the slider)."""

    def __init__(self, codec: Codec, max_bpp: float, on_change: Callable[[], None]):
        self.codec = codec
        self.max_bpp = max_bpp
        self.point: Point | None = None
        self._on_change = on_change
        self.selected = widgets.Checkbox(value=False, description=f"{codec.name} [{capability_marks(codec)}]",
                                         indent=False, layout=widgets.Layout(width="150px"))
        kinds = target_kinds(codec)
        default_kind = "quality" if codec.knob is not None else DEFAULT
        self.kind = widgets.Dropdown(options=kinds, value=default_kind, layout=widgets.Layout(width="100px"),
                                     disabled=len(kinds) == 1)
        self.value = target_slider(codec, default_kind, max_bpp)
        self.row = widgets.HBox([self.selected, self.kind, self.value])
        self.row.add_class(f"medcomp-codec-{codec.name}")
        self.widget = self.row
        if codec.reproduction is not None and codec.knob is not None:
            self.widget = widgets.VBox([self.row, widgets.HTML(f"<small>&emsp;{codec.reproduction.distance}</small>")])
        self.selected.observe(self._changed, names="value")
        self.kind.observe(self._kind_changed, names="value")
        self.value.observe(self._changed, names="value")

    @property
    def name(self) -> str:
        return self.codec.name

    def setting(self) -> Setting:
        if self.kind.value == DEFAULT:
            return Setting(self.name)
        return Setting(self.name, self.kind.value, self.value.value)

    def set_target(self, kind: str, value: float | None = None) -> None:
        """Choose a target kind (and value) from code, as a user would with the controls."""
        self.kind.value = kind
        if value is not None:
            self.value.value = value

    def _kind_changed(self, change: dict) -> None:
        self.value.unobserve(self._changed, names="value")
        self.value = target_slider(self.codec, change["new"], self.max_bpp,
                                   measured_start(self.codec, change["new"], self.point))
        self.value.observe(self._changed, names="value")
        self.row.children = (self.selected, self.kind, self.value)
        self._on_change()

    def _changed(self, change: dict) -> None:
        self._on_change()


def codec_groups(controls: Sequence[CodecControl]) -> widgets.Accordion:
    """The rows grouped by codec family, one collapsible section each; the first section with a ticked codec
    is open."""
    families = [family for family in FAMILIES if any(c.codec.family == family for c in controls)]
    sections = []
    for family in families:
        _, note = FAMILIES[family]
        rows = [c.widget for c in controls if c.codec.family == family]
        sections.append(widgets.VBox(([widgets.HTML(f"<i>{note}</i>")] if note else []) + rows))
    titles = [f"{FAMILIES[family][0]} ({sum(c.codec.family == family for c in controls)})" for family in families]
    groups = widgets.Accordion(children=sections, titles=titles)
    ticked = [i for i, family in enumerate(families) if any(c.selected.value and c.codec.family == family
                                                            for c in controls)]
    groups.selected_index = ticked[0] if ticked else 0
    groups.add_class("medcomp-codecs")
    return groups
