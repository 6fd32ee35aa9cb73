"""What one codec setting costs on one slice: a real round trip through the library, measured with its metrics.

Every figure the explorer shows comes from here: ``monai_medcomp.api.compress`` / ``decompress`` and
the library's metrics (the figures of ``metrics.quality_report``, less MS-SSIM, which would double the
time of a point on a 512x512 slice).  A setting that
fails (a target out of reach, a codec that refuses the data) becomes a :class:`Point` carrying the
error, so one bad setting never stops the others.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from monai_medcomp import api, metrics
from monai_medcomp.bench.ratedistortion import knob_values
from monai_medcomp.bench.speed import timed
from monai_medcomp.codecs import get_codec
from monai_medcomp.errors import MedCompError
from monai_medcomp.volume import Volume

CURVE_POINTS = 8  # knob settings per rate-distortion curve


@dataclasses.dataclass(frozen=True)
class Setting:
    """A codec and what it is asked for: a target (``kind`` is a rate-control target) or, without one,
    its default, which is lossless where the codec can be."""

    codec: str
    kind: str | None = None
    value: float | None = None

    def options(self) -> dict[str, Any]:
        return {} if self.kind is None else {self.kind: self.value}

    @property
    def label(self) -> str:
        """``near=2``, ``psnr=50``...: a quality target is named by the codec's own knob."""
        if self.kind is None:
            return "default"
        name = get_codec(self.codec).knob.name if self.kind == "quality" else self.kind
        return f"{name}={self.value:.4g}"


@dataclasses.dataclass
class Point:
    """The figures of one setting; ``error`` is set (and the figures NaN) when the setting failed."""

    setting: Setting
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    file_bpp: float = math.nan
    payload_bpp: float = math.nan
    ratio: float = math.nan
    space_saving: float = math.nan
    psnr: float = math.nan
    ssim: float = math.nan
    max_abs_error: float = math.nan
    encode_seconds: float = math.nan
    decode_seconds: float = math.nan
    note: str | None = None
    error: str | None = None
    reconstruction: np.ndarray | None = dataclasses.field(default=None, repr=False)
    data: bytes | None = dataclasses.field(default=None, repr=False)

    @property
    def codec(self) -> str:
        return self.setting.codec

    @property
    def lossless(self) -> bool:
        return self.error is None and self.max_abs_error == 0

    def without_pixels(self) -> "Point":
        """The figures alone, for curves that keep many points."""
        return dataclasses.replace(self, reconstruction=None, data=None)


def slice_volume(volume: Volume, index: int) -> Volume:
    """One slice as a volume of its own, placed where it lies in the original (what the explorer codes)."""
    return volume.with_array(volume.array[index:index + 1], origin=volume.slice_origin(index))


def describe_error(error: BaseException) -> str:
    """One line for the user: the library's own message, or the exception type and message otherwise."""
    return str(error) if isinstance(error, MedCompError) else f"{type(error).__name__}: {error}"


def measure(volume: Volume, setting: Setting) -> Point:
    """Compress ``volume`` at ``setting``, decompress it and measure it.

    The encode time is one encode at the parameters finally chosen (a target search runs several);
    the rate-control note, if the target could only be approached, is kept on the point.
    """
    codec = get_codec(setting.codec)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = api.compress(volume, codec=codec, **setting.options())
            encode_seconds = result.encode_seconds
            if result.header.extra.get("target", {}).get("encodes", 1) > 1:
                encode_seconds, _ = timed(api.compress, volume, codec=codec, params=result.params)
            decode_seconds, decoded = timed(api.decompress, result.data)
        original, reconstruction, bits = volume.array, decoded.array, volume.bits_stored
        figures = dict(psnr=metrics.psnr(original, reconstruction, bits_stored=bits),
                       ssim=metrics.ssim(original, reconstruction, bits_stored=bits),
                       max_abs_error=metrics.max_abs_error(original, reconstruction))
    except Exception as error:  # shown on this point; the explorer goes on with the other settings
        return Point(setting, error=describe_error(error))
    return Point(setting, params=dict(result.params), file_bpp=result.bpp,
                 payload_bpp=metrics.bits_per_pixel(result.payload_nbytes, original.shape),
                 ratio=result.ratio, space_saving=result.space_saving, **figures,
                 encode_seconds=encode_seconds, decode_seconds=decode_seconds,
                 note="; ".join(str(w.message) for w in caught) or None, reconstruction=reconstruction,
                 data=result.data)


def curve_settings(codec_name: str, count: int = CURVE_POINTS) -> list[Setting]:
    """The settings of a codec's rate-distortion curve: its knob swept over its useful range (the bench's),
    or its one lossless setting for a codec without a knob."""
    codec = get_codec(codec_name)
    if codec.knob is None:
        return [Setting(codec_name)]
    return [Setting(codec_name, "quality", value) for value in knob_values(codec, count)]
