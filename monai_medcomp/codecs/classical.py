"""The classical image codecs: JPEG-LS, JPEG 2000, HTJ2K, JPEG-XL, JPEG, lossless JPEG and PNG.

Each codec is a thin, uniform wrapper around imagecodecs (plus pyjpegls and pylibjpeg-openjpeg where
they reach what imagecodecs' API cannot), in the shape of imagecodecs itself: class attributes, one
``encode_plane`` / ``decode_plane`` pair, ``version`` from the library, one quality ``knob``.  Slices
are coded one by one: a plane is ``(rows, cols)`` or ``(rows, cols, 3)`` of unsigned ``fmt.bits``
samples.

What each library gets wrong by default, and what is done about it here:

* JPEG-LS: imagecodecs declares 8 or 16 bits from the dtype (a 13-bit CT costs ~2 % more), so CharLS
  is called through pyjpegls with the true bit depth.
* JPEG 2000 / JPEG-XL: the true bit depth is passed (never less: that silently truncates).  OpenJPEG
  sizes its output buffer from the declared precision (1.4 bits per declared bit, plus 500 bytes) and
  fails when a tile codes larger: a reversible wavelet over noise or two-level data costs up to ~1.4
  bits per sample more than its depth, which overflows below 8 bits (1-bit noise, 2-bit two-level
  images), so JPEG 2000 declares at least 8 bits (the codestream records it; it costs a few bytes).
* HTJ2K (OpenJPH) lossy decoding wraps overshoots around the container (255 -> 0): lossy data is
  coded with headroom in a 16-bit container and unwrapped on decode.
* JPEG (8 or 12 bits) would clip deeper data: samples are rescaled by bit shifts to the precision
  the codec takes; the shift follows from ``fmt.bits`` (stored in every file), so decoding undoes it.
"""

from __future__ import annotations

import abc
import threading
from typing import Any, ClassVar, Sequence

import imagecodecs
import jpeg_ls
import numpy as np
import openjpeg

from ..errors import CodecError, UnsupportedDataError
from .base import Codec, Knob, PixelFormat, register


def rescale_bits(plane: np.ndarray, bits: int, precision: int) -> np.ndarray:
    """``bits``-bit samples as ``precision``-bit samples: drop low bits, or scale up exactly."""
    shift = bits - precision
    dtype = np.uint8 if precision <= 8 else np.uint16
    values = plane.astype(np.uint32)
    return (values >> shift if shift >= 0 else values << -shift).astype(dtype)


def restore_bits(plane: np.ndarray, bits: int, precision: int) -> np.ndarray:
    """Inverse of :func:`rescale_bits`: dropped bits come back as the middle of their interval."""
    shift = bits - precision
    values = np.asarray(plane).astype(np.int64)
    if shift > 0:
        return (values << shift) + (1 << (shift - 1))
    if shift < 0:
        return (values + (1 << (-shift - 1))) >> -shift
    return values


class PlaneCodec(Codec):
    """A codec that codes each slice on its own (``slab_size = 1``) as a ``(rows, cols[, 3])`` plane.

    Subclasses write :meth:`encode_plane` and :meth:`decode_plane`; this class checks the format and
    returns exactly the slab shape and dtype asked for, clipping what lossy decoders overshoot (a
    lossless stream decodes to the exact samples, so it is passed through without a copy).
    """

    slab_size: ClassVar[int] = 1

    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        self.check_format(fmt)
        if slab.shape[0] != 1:
            raise CodecError(f"codec {self.name!r} codes one slice at a time, got a slab of {slab.shape[0]}")
        return bytes(self.encode_plane(np.ascontiguousarray(slab[0]), fmt, params))

    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        plane_shape = tuple(shape[1:])
        plane = np.asarray(self.decode_plane(data, plane_shape, fmt, params))
        if plane.shape != plane_shape:
            raise CodecError(f"codec {self.name!r} decoded a plane of shape {plane.shape}, expected {plane_shape}")
        if plane.dtype != fmt.dtype or not self.is_lossless(params):
            plane = np.clip(plane, 0, fmt.max_value).astype(fmt.dtype)
        return plane.reshape(tuple(shape))

    @abc.abstractmethod
    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        """Code one plane of ``fmt.bits``-bit samples."""

    @abc.abstractmethod
    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        """The plane of ``shape`` that ``data`` codes (values may overshoot the range: they are clipped)."""


class ImagecodecsCodec(PlaneCodec):
    """A plane codec from imagecodecs, whose uniform naming gives ``<library>_version`` and ``_decode``."""

    library: ClassVar[str]
    standard = True

    def imagecodecs_function(self, suffix: str) -> Any:
        return getattr(imagecodecs, f"{self.library}_{suffix}")

    @property
    def version(self) -> str:
        return f"{self.imagecodecs_function('version')()} (imagecodecs {imagecodecs.__version__})"

    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        return self.imagecodecs_function("decode")(data)


class ErrorBoundKnob:
    """Mixin for codecs whose knob *is* the largest |error| they allow (JPEG-LS NEAR, BTTC tolerance).

    The bound holds by construction, so rate control can ask for a maximum error directly; 0 is lossless.
    """

    knob: ClassVar[Knob]
    near_lossless = True

    def knob_value(self, params: dict[str, Any]) -> int:
        return int(params.get(self.knob.name, 0))

    def default_params(self) -> dict[str, Any]:
        return {self.knob.name: 0}

    def is_lossless(self, params: dict[str, Any]) -> bool:
        return self.knob_value(params) == 0

    def guaranteed_max_error(self, params: dict[str, Any]) -> int:
        return self.knob_value(params)

    def with_max_error(self, max_error: int) -> dict[str, Any]:
        if max_error < 0:
            raise CodecError(f"a maximum error must be >= 0, got {max_error}")
        return {**self.default_params(), self.knob.name: self.knob.clip(max_error)}


@register
class JpegLs(ErrorBoundKnob, ImagecodecsCodec):
    """JPEG-LS (CharLS): lossless, or near-lossless with |error| <= NEAR guaranteed by construction."""

    name = "jpegls"
    library = "jpegls"
    lossless = True
    knob = Knob("near", 0, 255, higher_is_better=False,
                description="largest allowed |error| (NEAR); 0 is lossless")
    description = "JPEG-LS (ISO 14495-1, CharLS) at the true bit depth; near-lossless with NEAR"

    @property
    def version(self) -> str:
        return f"{super().version}, pyjpegls {jpeg_ls.__version__}"

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        # JPEG-LS takes 2 to 16 bits and NEAR <= min(255, MAXVAL / 2); a smaller NEAR keeps the bound.
        precision = max(2, fmt.bits)
        near = min(self.knob_value(params), 255, ((1 << precision) - 1) // 2)
        samples = np.moveaxis(plane, -1, 0) if fmt.channels == 3 else plane  # colour-by-plane codes smallest
        raw = np.ascontiguousarray(samples, dtype=plane.dtype.newbyteorder("<")).tobytes()
        try:
            return jpeg_ls.encode_buffer(raw, plane.shape[0], plane.shape[1], fmt.channels, precision,
                                         lossy_error=near, interleave_mode=0)
        except RuntimeError:
            # pyjpegls sizes its output at twice the raw data, which the header alone overflows for
            # images of a few pixels; those go through imagecodecs at 8- or 16-bit precision.
            return imagecodecs.jpegls_encode(plane, level=near)


# pylibjpeg-openjpeg's encoder corrupts the heap when two threads encode at once (seen as random
# segfaults under the engine's thread pool): its calls are serialised.
_OPENJPEG_ENCODER_LOCK = threading.Lock()


@register
class Jpeg2000(ImagecodecsCodec):
    """JPEG 2000 (OpenJPEG): reversible 5/3 lossless, or 9/7 truncated by rate allocation to a bpp."""

    name = "jpeg2000"
    library = "jpeg2k"
    lossless = True
    lossy = True
    min_lossy_size = 32  # pylibjpeg-openjpeg always uses 6 resolution levels
    min_precision = 8  # below this OpenJPEG's output buffer can be too small (module docstring)
    knob = Knob("bpp", 0.01, 24.0, integer=False,
                description="bits per pixel the post-compression rate allocation truncates to (9/7)")
    description = "JPEG 2000 (ISO 15444-1, OpenJPEG): 5/3 lossless or 9/7 at a target bpp"

    @property
    def version(self) -> str:
        return f"{super().version}, pylibjpeg-openjpeg {openjpeg.__version__}"

    def is_lossless(self, params: dict[str, Any]) -> bool:
        return params.get("bpp") is None

    def precision(self, fmt: PixelFormat) -> int:
        """The sample precision declared to OpenJPEG: the true depth, but never below ``min_precision``."""
        return max(fmt.bits, self.min_precision)

    @staticmethod
    def encode_reversible(plane: np.ndarray, precision: int) -> bytes:
        """Lossless 5/3; an RGB plane is checked by decoding it, and coded without the reversible colour
        transform where OpenJPEG's encoder got it wrong (a two-level 27x27 RGB image of the round-trip
        benchmark decoded to other pixels with any decoder; declaring 9 bits or no transform codes it right)."""
        data = imagecodecs.jpeg2k_encode(plane, bitspersample=precision, reversible=True, codecformat="J2K")
        if plane.ndim == 3 and not np.array_equal(imagecodecs.jpeg2k_decode(data), plane):
            data = imagecodecs.jpeg2k_encode(plane, bitspersample=precision, reversible=True, codecformat="J2K",
                                             mct=False)
        return data

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        precision = self.precision(fmt)
        if self.is_lossless(params):
            return self.encode_reversible(plane, precision)
        if min(plane.shape[:2]) < self.min_lossy_size:
            raise UnsupportedDataError(
                f"lossy {self.name} needs images of at least {self.min_lossy_size}x{self.min_lossy_size} pixels, "
                f"got {plane.shape[0]}x{plane.shape[1]}; use it losslessly or choose another codec")
        # OpenJPEG's rate is a compression ratio over the raw samples at the declared precision.
        ratio = max(1.0, precision * fmt.channels / float(params["bpp"]))
        with _OPENJPEG_ENCODER_LOCK:
            return openjpeg.encode(plane, bits_stored=precision,
                                   photometric_interpretation=1 if fmt.channels == 3 else 2,
                                   compression_ratios=[ratio])


@register
class Htj2k(ImagecodecsCodec):
    """High-throughput JPEG 2000 (OpenJPH): reversible lossless, or irreversible with a quantisation step."""

    name = "htj2k"
    library = "htj2k"
    lossless = True
    lossy = True
    container_bits = 16
    lossy_bits = 15  # one bit of headroom so that overshoots can be told from undershoots
    knob = Knob("qstep", 0.0, 0.5, higher_is_better=False, integer=False,
                description="quantisation step as a fraction of the data range; 0 is lossless")
    description = "HTJ2K (ISO 15444-15, OpenJPH): reversible lossless or irreversible lossy"

    def is_lossless(self, params: dict[str, Any]) -> bool:
        return float(params.get("qstep", 0.0)) == 0.0

    def lossy_precision(self, fmt: PixelFormat) -> int:
        return min(fmt.bits, self.lossy_bits)

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        if self.is_lossless(params):
            return imagecodecs.htj2k_encode(plane)
        precision = self.lossy_precision(fmt)
        samples = rescale_bits(plane, fmt.bits, precision).astype(np.uint16)
        # OpenJPH's step is relative to the container's range; ours is relative to the data's.
        step = float(params["qstep"]) * 2.0 ** (precision - self.container_bits)
        return imagecodecs.htj2k_encode(samples, level=step)

    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        """Lossless codestreams are decoded by OpenJPEG's HT decoder (bit for bit the same pixels): OpenJPH's
        decoder crashed the process on a crafted codestream (``benchmarks/robustness.md``).  Lossy ones keep
        OpenJPH, whose reconstruction rule the headroom below relies on, but only after OpenJPEG has parsed
        their main header and found the image it should hold."""
        if self.is_lossless(params):
            return openjpeg.decode(data)
        header = openjpeg.get_parameters(data)
        found = (header["rows"], header["columns"], header["samples_per_pixel"])
        if found != (shape[0], shape[1], fmt.channels):
            raise CodecError(f"htj2k codestream holds {found[0]}x{found[1]}x{found[2]} samples, "
                             f"expected {shape[0]}x{shape[1]}x{fmt.channels}")
        plane = imagecodecs.htj2k_decode(data)
        precision = self.lossy_precision(fmt)
        # OpenJPH casts reconstructions into the container modulo 2**16: values past the headroom's
        # middle are undershoots below zero.
        middle = (1 << precision) + ((1 << self.container_bits) - (1 << precision)) // 2
        values = plane.astype(np.int64)
        values[values >= middle] -= 1 << self.container_bits
        return restore_bits(np.clip(values, 0, (1 << precision) - 1), fmt.bits, precision)


@register
class JpegXl(ImagecodecsCodec):
    """JPEG-XL (libjxl): modular lossless by default, VarDCT lossy at a butteraugli distance."""

    name = "jpegxl"
    library = "jpegxl"
    lossless = True
    lossy = True
    default_effort = 7
    knob = Knob("distance", 0.0, 25.0, higher_is_better=False, integer=False,
                description="butteraugli distance (1 is visually lossless); 0 is lossless")
    description = "JPEG-XL (ISO 18181, libjxl) at the true bit depth; effort 1-10 (default 7)"

    def default_params(self) -> dict[str, Any]:
        return {"effort": self.default_effort}

    def is_lossless(self, params: dict[str, Any]) -> bool:
        return float(params.get("distance", 0.0)) == 0.0

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        lossless = self.is_lossless(params)
        distance = None if lossless else float(params["distance"])
        return imagecodecs.jpegxl_encode(plane, lossless=lossless, distance=distance, bitspersample=fmt.bits,
                                         effort=int(params.get("effort", self.default_effort)))


@register
class Jpeg(ImagecodecsCodec):
    """Baseline JPEG (libjpeg-turbo): data of up to 8 bits coded at 8 bits, deeper data at 12.

    Samples are shifted to fill that precision (exact going up; beyond 12 bits the lowest bits go
    first, never the highest), so the quality setting means the same relative fidelity at any depth.
    RGB keeps full-resolution chroma (4:4:4) by default: libjpeg's 4:2:0 caps a colour ultrasound at
    about 34 dB even at quality 100; ``subsampling="420"`` gives the classic JPEG trade-off.
    """

    name = "jpeg"
    library = "jpeg8"
    lossy = True
    default_quality = 90
    knob = Knob("quality", 1, 100, description="libjpeg quality (quantisation table scale)")
    description = "JPEG (ISO 10918-1, libjpeg-turbo): 8-bit, or 12-bit for deeper data"

    def default_params(self) -> dict[str, Any]:
        return {"quality": self.default_quality, "subsampling": "444"}

    @staticmethod
    def precision(fmt: PixelFormat) -> int:
        return 8 if fmt.bits <= 8 else 12

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        precision = self.precision(fmt)
        return imagecodecs.jpeg8_encode(rescale_bits(plane, fmt.bits, precision), bitspersample=precision,
                                        level=int(params.get("quality", self.default_quality)),
                                        subsampling=str(params.get("subsampling", "444")))

    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        return restore_bits(imagecodecs.jpeg8_decode(data), fmt.bits, self.precision(fmt))


@register
class LosslessJpeg(ImagecodecsCodec):
    """Lossless JPEG (process 14, libjpeg-turbo): the best of the seven predictors per slice by default."""

    name = "ljpeg"
    library = "jpeg8"
    lossless = True
    predictors = range(1, 8)
    description = "lossless JPEG (ISO 10918-1 process 14, libjpeg-turbo); 'predictor' 1-7, default best per slice"

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        precision = max(2, fmt.bits)  # the standard's sample precision starts at 2
        predictor = params.get("predictor")
        candidates = self.predictors if predictor is None else [int(predictor)]
        return min((imagecodecs.jpeg8_encode(plane, lossless=True, predictor=p, bitspersample=precision)
                    for p in candidates), key=len)


@register
class Png(ImagecodecsCodec):
    """PNG (libpng, deflate): lossless at 8 or 16 bits per sample."""

    name = "png"
    library = "png"
    lossless = True
    default_level = 9
    description = "PNG (libpng): deflate level 0-9 (default 9)"

    def default_params(self) -> dict[str, Any]:
        return {"level": self.default_level}

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        return imagecodecs.png_encode(plane, level=int(params.get("level", self.default_level)))
