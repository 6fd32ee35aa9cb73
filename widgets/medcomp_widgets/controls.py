"""One row of controls per codec: compare it or not, what to ask it for, and how much.

The target is any of the library's rate-control targets (the codec's own quality knob, a bit rate, a
PSNR or a maximum error) or the codec's default (lossless where it can be; the only choice of a codec
without a knob).  Sliders use
``continuous_update=False``: each value is a full encode, so only the value where the user lets go counts.
"""

from __future__ import annotations

import math
from typing import Callable

import ipywidgets as widgets

from monai_medcomp.bench.ratedistortion import SWEEP_RANGES, knob_range
from monai_medcomp.codecs import Codec

from .measure import CURVE_POINTS, Setting, curve_settings

DEFAULT = "default"  # the codec's default parameters: lossless where it can be
TARGET_LABELS = {"quality": "own setting", "bpp": "bpp (file)", "psnr": "PSNR dB", "max_error": "max |error|"}
PSNR_RANGE = (20.0, 100.0, 50.0)  # dB: low, high, start
MAX_ERROR_RANGE = (0, 64, 2)
LOW_BPP = 0.05


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


def _log_slider(low: float, high: float, value: float, description: str) -> widgets.FloatLogSlider:
    value = min(max(value, low), high)
    return widgets.FloatLogSlider(value=value, base=10, min=math.log10(low), max=math.log10(high), step=0.02,
                                  description=description, continuous_update=False, readout_format=".3g")


def target_slider(codec: Codec, kind: str, max_bpp: float) -> widgets.ValueWidget:
    """A slider over the useful values of ``kind`` for ``codec`` (``max_bpp``: the raw data's bits per pixel);
    for the codec's default, which has no value, a note in its place."""
    description = TARGET_LABELS.get(kind, "")
    if kind == "quality":
        knob = codec.knob
        sweep = SWEEP_RANGES.get(codec.name) or knob_range(knob)
        start = curve_settings(codec.name, CURVE_POINTS)[CURVE_POINTS // 2].value
        if knob.integer:
            return widgets.IntSlider(value=int(start), min=int(sweep.low), max=int(sweep.high), description=knob.name,
                                     continuous_update=False)
        if sweep.log:
            return _log_slider(sweep.low, sweep.high, start, knob.name)
        return widgets.FloatSlider(value=start, min=sweep.low, max=sweep.high, step=(sweep.high - sweep.low) / 200,
                                   description=knob.name, continuous_update=False, readout_format=".3g")
    if kind == "bpp":
        return _log_slider(LOW_BPP, max_bpp, 1.0, description)
    if kind == "psnr":
        low, high, start = PSNR_RANGE
        return widgets.FloatSlider(value=start, min=low, max=high, step=0.5, description=description,
                                   continuous_update=False)
    if kind == "max_error":
        low, high, start = MAX_ERROR_RANGE
        return widgets.IntSlider(value=start, min=low, max=high, description=description, continuous_update=False)
    return widgets.Label(value="(its default parameters)", layout=widgets.Layout(width="300px"))


class CodecControl:
    """A codec's row: check box, target kind and target value; calls ``on_change`` when any of them moves."""

    def __init__(self, codec: Codec, max_bpp: float, on_change: Callable[[], None]):
        self.codec = codec
        self.max_bpp = max_bpp
        self._on_change = on_change
        self.selected = widgets.Checkbox(value=False, description=f"{codec.name} [{capability_marks(codec)}]",
                                         indent=False, layout=widgets.Layout(width="170px"),
                                         tooltip=f"{codec.name}: {codec.capabilities()}")
        kinds = target_kinds(codec)
        default_kind = "quality" if codec.knob is not None else DEFAULT
        self.kind = widgets.Dropdown(options=kinds, value=default_kind, layout=widgets.Layout(width="120px"),
                                     disabled=len(kinds) == 1)
        self.value = target_slider(codec, default_kind, max_bpp)
        self.row = widgets.HBox([self.selected, self.kind, self.value])
        self.row.add_class(f"medcomp-codec-{codec.name}")
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
        self.value = target_slider(self.codec, change["new"], self.max_bpp)
        self.value.observe(self._changed, names="value")
        self.row.children = (self.selected, self.kind, self.value)
        self._on_change()

    def _changed(self, change: dict) -> None:
        self._on_change()
