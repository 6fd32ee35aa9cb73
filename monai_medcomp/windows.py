"""Display windows and the units a reader sees: what the stored integers mean, and which of them a viewer shows.

A CT stores integers that become Hounsfield units through the DICOM rescale (``HU = stored x slope +
intercept``), and a radiologist looks at a window of them (centre / width: brain 40/80 shows 0 to 80 HU as
black to white).  An error of 50 HU is invisible in a bone window and wipes out grey-white contrast in a
brain window, so quality is judged in these units and windows, not in raw integers (``docs/quality.md``).

Windows are in the rescaled units, as DICOM's WindowCenter / WindowWidth are (they apply after the
Modality LUT).  The mapping to grey levels is the linear one: values below ``center - width / 2`` are
black, above ``center + width / 2`` white, in between a straight line.

Presets: the usual CT windows of Radiopaedia's "Windowing (CT)" article (radiopaedia.org/articles/
windowing-ct): brain W 80 L 40; subdural W 130 to 300, L 50 to 100, here the middle, 215/75; bone W 1800
L 400; lung W 1500 L -600; abdomen (soft tissue) W 400 with L 40, inside the article's soft-tissue levels
of 20 to 60.

This module sits beside :mod:`.volume`: it imports nothing from the codecs or front-ends, and the DICOM
header is read only when a window is looked up there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import MedCompError
from .volume import Volume

PRESETS: dict[str, tuple[float, float]] = {  # name: (center, width), HU
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
    "abdomen": (40.0, 400.0),
}
CT_DEFAULT = "abdomen"  # a CT whose file names no window of its own is judged and shown in soft tissue
WINDOW_TEXT = re.compile(r"\s*(-?\d+(?:\.\d*)?)\s*/\s*(\d+(?:\.\d*)?)\s*")
WINDOW_HELP = ("CENTER/WIDTH in the image's units (HU for CT; write --window=-600/1500 for a negative centre) or "
               f"a preset: {', '.join(f'{name} {c:g}/{w:g}' for name, (c, w) in PRESETS.items())}")
GREY_LEVELS = 255  # an 8-bit preview's white
STORED = "stored value"  # the units of an image without a rescale


@dataclasses.dataclass(frozen=True)
class Units:
    """What a stored integer means: ``value = stored x slope + intercept``, named (``HU`` for CT)."""

    slope: float = 1.0
    intercept: float = 0.0
    name: str = STORED
    ct: bool = False

    def __call__(self, stored: Any) -> np.ndarray:
        """Stored integers in these units (float64)."""
        return np.asarray(stored, dtype=np.float64) * self.slope + self.intercept


def _dicom_header(volume: Volume) -> Any:
    """The first DICOM header a volume was read with, or ``None`` for other sources."""
    files = (volume.metadata.get("dicom") or {}).get("files") if volume.metadata.get("format") == "dicom" else None
    if not files:
        return None
    from .io.dicom import header_from_json

    return header_from_json(files[0])


def _frame_value(header: Any, sequence: str, keyword: str) -> Any:
    """``keyword`` of the first frame: per-frame or shared functional group (enhanced objects), else top level."""
    from .io.dicom import functional_value

    return functional_value(header, 0, sequence, keyword)


def is_ct(volume: Volume) -> bool:
    """Modality CT, or a DICOM rescale whose type says Hounsfield units."""
    if volume.metadata.get("modality") == "CT":
        return True
    header = _dicom_header(volume)
    return header is not None and _frame_value(header, "PixelValueTransformationSequence", "RescaleType") == "HU"


def units_of(volume: Volume, ct: bool | None = None) -> Units:
    """The volume's units from its rescale (``metadata["rescale"]``); ``ct=True`` declares HU where the file does
    not say CT (a NIfTI), ``None`` asks the file."""
    from .io.metadata import rescale

    slope, intercept = rescale(volume) or (1.0, 0.0)
    ct = is_ct(volume) if ct is None else ct
    name = "HU" if ct else (STORED if (slope, intercept) == (1.0, 0.0) else "rescaled value")
    return Units(slope, intercept, name, ct)


@dataclasses.dataclass(frozen=True)
class Window:
    """A display window in the image's units: ``source`` says where it came from (a preset, the file, ...)."""

    center: float
    width: float
    source: str = "--window"

    def __post_init__(self) -> None:
        if not np.isfinite(self.center) or not np.isfinite(self.width) or self.width <= 0:
            raise MedCompError(f"a window needs a finite centre and a positive width, got {self.center:g}/"
                               f"{self.width:g}")

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2

    def describe(self, units: str = "") -> str:
        """``40/80 HU (brain)``: centre/width, the units (none for plain stored values), where it came from."""
        named = units not in ("", STORED)
        return f"{self.center:g}/{self.width:g}{' ' + units if named else ''} ({self.source})"

    def to_json(self) -> dict[str, Any]:
        return {"center": self.center, "width": self.width, "low": self.low, "high": self.high, "source": self.source}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "Window":
        return cls(values["center"], values["width"], values["source"])

    def display(self, values: np.ndarray) -> np.ndarray:
        """Values in the window's units as 8-bit grey levels: black at ``low``, white at ``high``, rounded half up."""
        scaled = (np.asarray(values, dtype=np.float64) - self.low) * GREY_LEVELS / self.width
        return np.clip(np.floor(scaled + 0.5), 0, GREY_LEVELS).astype(np.uint8)


def parse_window(text: str) -> Window:
    """``"40/80"`` or a preset name (``"brain"``), as ``--window`` takes it."""
    name = text.strip().lower()
    if name in PRESETS:
        return Window(*PRESETS[name], source=name)
    match = WINDOW_TEXT.fullmatch(text)
    if match is None:
        raise MedCompError(f"--window expects CENTER/WIDTH like 40/80 or a preset ({', '.join(PRESETS)}), "
                           f"got {text!r}")
    return Window(float(match[1]), float(match[2]))


def file_window(volume: Volume) -> Window | None:
    """The first WindowCenter / WindowWidth of the volume's DICOM header (frame 0 of an enhanced object)."""
    header = _dicom_header(volume)
    if header is None:
        return None
    center, width = (_frame_value(header, "FrameVOILUTSequence", keyword) for keyword in ("WindowCenter",
                                                                                        "WindowWidth"))
    if center is None or width is None:
        return None
    try:
        return Window(float(_first(center)), float(_first(width)), source="the file's own")
    except (TypeError, ValueError, IndexError, MedCompError):  # an empty or nonsensical window in a header: none to use
        return None


def _first(value: Any) -> Any:
    """The first of a multi-valued element (several windows: a viewer offers the first one first)."""
    return value[0] if isinstance(value, Sequence) and not isinstance(value, str) else value


def quality_window(volume: Volume, asked: Window | str | None = None, ct: bool | None = None) -> Window | None:
    """The window to judge a reconstruction in: the one asked for, else the file's own, else for CT the
    :data:`CT_DEFAULT` preset, else none."""
    if isinstance(asked, str):
        asked = parse_window(asked)
    if asked is not None:
        return asked
    own = file_window(volume)
    if own is not None:
        return own
    if units_of(volume, ct).ct:
        center, width = PRESETS[CT_DEFAULT]
        return Window(center, width, source=f"{CT_DEFAULT}, the CT default")
    return None


def display_window(volume: Volume, asked: Window | str | None = None, ct: bool | None = None) -> Window:
    """The window to show a volume in: :func:`quality_window`, else 8-bit data as it is (0 to 255), else the
    range of its values."""
    window = quality_window(volume, asked, ct)
    if window is not None:
        return window
    if volume.bits_stored == 8 and not volume.signed:
        return Window(127.5, 255.0, source="8-bit values as they are")
    values = units_of(volume, ct)(np.array([volume.array.min(), volume.array.max()]))
    low, high = float(values.min()), float(values.max())
    return Window((low + high) / 2, max(high - low, 1.0), source="the range of the values")


def preview(volume: Volume, array: np.ndarray, window: Window, ct: bool | None = None) -> np.ndarray:
    """Stored integers of ``volume`` (or of a reconstruction of it) as 8-bit grey levels in ``window``."""
    return window.display(units_of(volume, ct)(array))
