"""The display window of the three views: a preset by name, or level and width by hand.

The presets are what a reader of this image would pick: the file's own WindowCenter / WindowWidth where
it has one, the usual CT windows (:data:`monai_medcomp.windows.PRESETS`) for CT, and ``auto``, robust
percentiles of the values.  The file's own window is chosen first, then for CT the library's CT default,
else ``auto``: the same window the command line judges and draws in.  Moving level or width by hand
makes the window ``custom``; a preset chosen again puts its values back.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import numpy as np

from monai_medcomp.volume import Volume
from monai_medcomp.windows import CT_DEFAULT, PRESETS, Units, file_window

AUTO = "auto"
CUSTOM = "custom"
AUTO_PERCENTILES = (0.5, 99.5)
AUTO_SAMPLE_SLICES = 16  # slices looked at for the auto window of a large volume
HALF_WIDTH = "250px"


def auto_window(volume: Volume, units: Units) -> tuple[float, float]:
    """(centre, width) in display units at robust percentiles of the volume (a few slices of a large one),
    leaving out its minimum, which is mostly padding (the corners of a CT outside its field of view)."""
    array = volume.array
    sample = array[::max(1, array.shape[0] // AUTO_SAMPLE_SLICES)]
    inside = sample[sample > sample.min()]
    low, high = (float(v) for v in units(np.percentile(inside if inside.size else sample, AUTO_PERCENTILES)))
    return (low + high) / 2, max(high - low, 1.0)


def window_presets(volume: Volume, units: Units) -> tuple[dict[str, tuple[float, float]], str]:
    """Label -> (centre, width) of every window offered for ``volume``, and the label chosen first."""
    presets, first = {}, None
    own = file_window(volume)
    if own is not None:
        first = f"the file's ({own.center:g}/{own.width:g})"
        presets[first] = (own.center, own.width)
    if units.ct:
        for name, (center, width) in PRESETS.items():
            label = f"{name} ({center:g}/{width:g})"
            presets[label] = (center, width)
            if first is None and name == CT_DEFAULT:
                first = label
    presets[AUTO] = auto_window(volume, units)
    return presets, first or AUTO


class WindowControls:
    """A preset list and level / width sliders in the image's units; ``on_change`` runs once per change."""

    def __init__(self, volume: Volume, units: Units, on_change: Callable[[], None]):
        self.presets, first = window_presets(volume, units)
        self._on_change = on_change
        self._applying = False
        values = units(np.array([volume.array.min(), volume.array.max()]))
        centers = [c for c, _ in self.presets.values()] + [float(v) for v in values]
        widest = max([w for _, w in self.presets.values()] + [float(values[1] - values[0]), 1.0])
        center, width = self.presets[first]
        grey = None if volume.channels == 1 else "none"
        self.preset = widgets.Dropdown(options=[*self.presets, CUSTOM], value=first, description="window",
                                       layout=widgets.Layout(width=HALF_WIDTH, display=grey))
        self.level = widgets.FloatSlider(value=center, min=min(centers), max=max(centers),
                                         description=f"level ({units.name})", continuous_update=False,
                                         readout_format=".0f", style={"description_width": "initial"},
                                         layout=widgets.Layout(width=HALF_WIDTH, display=grey))
        self.width = widgets.FloatSlider(value=width, min=1.0, max=widest, description="width",
                                         continuous_update=False, readout_format=".0f",
                                         layout=widgets.Layout(width=HALF_WIDTH, display=grey))
        for widget, name in ((self.preset, "window"), (self.level, "level"), (self.width, "width")):
            widget.add_class(f"medcomp-{name}")
        self.preset.observe(self._preset_chosen, names="value")
        for slider in (self.level, self.width):
            slider.observe(self._moved, names="value")

    @property
    def limits(self) -> tuple[float, float]:
        """The window's lowest and highest value (black and white)."""
        return self.level.value - self.width.value / 2, self.level.value + self.width.value / 2

    def choose(self, label: str) -> None:
        """Pick a preset by its label, as a user would."""
        self.preset.value = label

    def _preset_chosen(self, change: dict) -> None:
        if change["new"] == CUSTOM or self._applying:
            return
        self._applying = True
        try:
            self.level.value, self.width.value = self.presets[change["new"]]
        finally:
            self._applying = False
        self._on_change()

    def _moved(self, change: dict) -> None:
        if self._applying:
            return
        if (self.level.value, self.width.value) != self.presets.get(self.preset.value):
            self._applying = True
            try:
                self.preset.value = CUSTOM
            finally:
                self._applying = False
        self._on_change()
