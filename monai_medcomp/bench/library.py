"""The bare imagecodecs calls that our classical codecs wrap, for a like-for-like comparison.

A wrapper earns its place only if it costs nothing: the bench codes the same slices with the plain
library call (signed data shifted to unsigned exactly as the engine does, the same settings) and
reports our size and throughput as ratios of these.  JPEG-LS is compared with the library it wraps,
CharLS through pyjpegls at the true bit depth: imagecodecs' own ``jpegls_encode`` always declares 8
or 16 bits, which CharLS codes 2 to 3 times faster but 1 to 11% larger (the lossless table's
reference figures are that call's sizes).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import imagecodecs
import jpeg_ls
import numpy as np

from ..engine import pixel_format, to_unsigned
from ..volume import Volume

Encoder = Callable[[np.ndarray, int, dict[str, Any]], bytes]


@dataclasses.dataclass(frozen=True)
class BareCodec:
    """One imagecodecs format called directly, slice by slice: ``encode(plane, bits, params)``."""

    library: str
    encode: Encoder
    decode: Callable[[bytes], np.ndarray]

    def encode_slices(self, slices: list[np.ndarray], params: dict[str, Any]) -> list[bytes]:
        return [bytes(self.encode(plane, bits, params)) for plane, bits in slices]

    def decode_slices(self, streams: list[bytes]) -> list[np.ndarray]:
        return [self.decode(stream) for stream in streams]


@dataclasses.dataclass
class BareResult:
    """What the bare library produced on the same slices: size, best times, and whether it round-tripped."""

    library: str
    nbytes: int
    encode_seconds: float
    decode_seconds: float
    exact: bool


def unsigned_slices(volume: Volume) -> list[tuple[np.ndarray, int]]:
    """The volume's slices as the engine hands them to a codec: ``(plane, bits)`` of unsigned samples."""
    offset, fmt = pixel_format(volume)
    unsigned = to_unsigned(volume.array, offset, fmt)
    return [(np.ascontiguousarray(plane), fmt.bits) for plane in unsigned]


def charls_encode(plane: np.ndarray, bits: int, params: dict[str, Any]) -> bytes:
    """CharLS at the true bit depth, colour by plane: the call our ``jpegls`` makes."""
    channels = plane.shape[2] if plane.ndim == 3 else 1
    samples = np.moveaxis(plane, -1, 0) if channels > 1 else plane
    return jpeg_ls.encode_buffer(np.ascontiguousarray(samples).tobytes(), plane.shape[0], plane.shape[1], channels,
                                 max(2, bits), lossy_error=0, interleave_mode=0)


BARE_CODECS: dict[str, BareCodec] = {
    "jpegls": BareCodec("pyjpegls (CharLS)", charls_encode, imagecodecs.jpegls_decode),
    "jpeg2000": BareCodec(
        "imagecodecs.jpeg2k",
        lambda plane, bits, params: imagecodecs.jpeg2k_encode(plane, bitspersample=bits, reversible=True,
                                                              codecformat="J2K"),
        imagecodecs.jpeg2k_decode),
    "htj2k": BareCodec("imagecodecs.htj2k", lambda plane, bits, params: imagecodecs.htj2k_encode(plane),
                       imagecodecs.htj2k_decode),
    "jpegxl": BareCodec(
        "imagecodecs.jpegxl",
        lambda plane, bits, params: imagecodecs.jpegxl_encode(plane, lossless=True, effort=params.get("effort"),
                                                              bitspersample=bits),
        imagecodecs.jpegxl_decode),
}


def bare_codec(name: str) -> BareCodec | None:
    """The bare library call for a codec's lossless mode, when it has one to compare with."""
    return BARE_CODECS.get(name)
