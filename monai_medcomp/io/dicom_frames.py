"""DICOM pixel data frames: stored values -> one codestream per frame in a transfer syntax, and back for
JPEG-XL, which pydicom cannot decode.

Frames are coded from the STORED values at Bits Stored, never from a ``.mcz`` chunk (those code
``value - minimum`` at the range's precision, which no DICOM reader undoes).  pydicom's encoders do
JPEG-LS (pyjpegls), JPEG 2000 (pylibjpeg-openjpeg) and RLE; imagecodecs does JPEG, lossless JPEG,
HTJ2K and JPEG-XL.  What the standard asks of each, and how it is met:

* Codestream precision = Bits Stored (PS3.5 8.2: the attributes must agree with the codestream).
  OpenJPH (HTJ2K) only writes 8 or 16 bits, so its input is first put in the form a Bits Stored
  precision encoder would code (the DC level shift of 2^(BitsStored-1) applied by hand to unsigned
  data, lossy data scaled up to 16 bits) and coded as signed 16-bit, then the SIZ marker is set to
  the true precision and signedness: a decoder's own level shift and step sizes (which follow the SIZ
  precision) undo exactly that.  Lossy JPEG codes 8 or 12 bits only: Bits Stored is raised to that
  precision (reported), since overshoots past a smaller Bits Stored wrap in every decoder.
* Signed data: JPEG-LS, lossless JPEG and JPEG-XL carry no sign: two's complement masked to Bits
  Stored (as pydicom and dcmtk do); JPEG 2000 / HTJ2K carry it in SIZ.  Near-lossless JPEG-LS of
  signed data wraps at +-2^(BitsStored-1): values within NEAR of those ends are refused.
* Colour: Planar Configuration 0; YBR_RCT / YBR_ICT only when the codestream says a multi-component
  transform was applied.  Lossy JPEG colour is always YCbCr 4:2:2, YBR_FULL_422: it is the one
  Photometric Interpretation every IOD takes for it (the US Image module refuses RGB and YBR_FULL
  with lossy JPEG, as dciodvfy reports).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any, Callable

import imagecodecs
import numpy as np
import openjpeg
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import JPEG2000, JPEG2000Lossless, UID

from ..errors import MedCompError, ReadError, UnsupportedDataError
from .dicom_syntax import TransferSyntax, check_data

JPEG_PRECISIONS = (8, 12)
HTJ2K_CONTAINER_BITS = 16
HTJ2K_DEFAULT_LEVELS = 5
RPCL_THUMBNAIL = 64  # PS3.5 10.18: the lowest resolution of an RPCL codestream is at most 64 pixels wide
RPCL = 2  # COD progression order value
JPEGXL_DEFAULT_EFFORT = 7
BASIC_OFFSET_LIMIT = 2**32 - 1  # a Basic Offset Table holds 32-bit offsets; beyond, the Extended one (A.4)


@dataclasses.dataclass
class Frames:
    """What one file's frames became: the codestreams, and the attributes they need."""

    codestreams: list[bytes]  # empty for a native (uncompressed or deflated) syntax
    photometric: str
    bits_stored: int
    lossy: bool  # the content is lossy (not only the syntax)

    @property
    def nbytes(self) -> int:
        return sum(len(data) for data in self.codestreams)


@dataclasses.dataclass(frozen=True)
class _Job:
    """One file's frames to code: their layout, and the options the syntax's encoder takes."""

    syntax: TransferSyntax
    bits_stored: int
    signed: bool
    channels: int
    photometric: str  # the uncompressed value: MONOCHROME1/2, PALETTE COLOR or RGB
    options: dict[str, Any]

    def descriptors(self, frame: np.ndarray, photometric: str) -> dict[str, Any]:
        """What pydicom's encoders need to know about an ndarray frame."""
        return {"rows": frame.shape[0], "columns": frame.shape[1], "number_of_frames": 1,
                "samples_per_pixel": self.channels, "bits_allocated": frame.dtype.itemsize * 8,
                "bits_stored": self.bits_stored, "pixel_representation": int(self.signed),
                "photometric_interpretation": photometric, "planar_configuration": 0}


# --- JPEG 2000 codestream main header -------------------------------------------------------------------

SOC, SIZ, COD, TLM, SOT = 0xFF4F, 0xFF51, 0xFF52, 0xFF55, 0xFF90
_FIRST_SSIZ = 42  # SOC, SIZ marker and length, Rsiz, eight 32-bit sizes, Csiz


def codestream_header(data: bytes) -> dict[str, Any]:
    """The main-header facts of a JPEG 2000 / HTJ2K codestream: per-component precision and sign (SIZ),
    progression order, decomposition levels, multi-component transform and wavelet (COD), TLM present."""
    if len(data) < 2 or struct.unpack(">H", data[:2])[0] != SOC:
        raise MedCompError("not a JPEG 2000 codestream (no SOC marker)")
    facts: dict[str, Any] = {"tlm": False}
    position = 2
    while position + 4 <= len(data):
        marker, length = struct.unpack(">HH", data[position:position + 4])
        body = data[position + 4:position + 2 + length]
        if marker == SOT:
            break
        if marker == SIZ:
            components = struct.unpack(">H", body[34:36])[0]
            ssiz = [body[36 + 3 * i] for i in range(components)]
            facts.update(components=components, precision=[(s & 0x7F) + 1 for s in ssiz],
                         signed=[bool(s & 0x80) for s in ssiz])
        elif marker == COD:
            facts.update(progression=body[1], mct=bool(body[4]), levels=body[5], reversible=body[9] == 1)
        elif marker == TLM:
            facts["tlm"] = True
        position += 2 + length
    return facts


def with_precision(data: bytes, bits: int, signed: bool) -> bytes:
    """``data`` with every component's SIZ precision and sign set to ``bits`` / ``signed``."""
    components = struct.unpack(">H", data[40:42])[0]
    patched = bytearray(data)
    for index in range(components):
        patched[_FIRST_SSIZ + 3 * index] = (0x80 if signed else 0) | (bits - 1)
    return bytes(patched)


# --- one encoder per family -------------------------------------------------------------------------------

def _masked(frame: np.ndarray, bits: int) -> np.ndarray:
    """Signed samples as their two's complement bit pattern in ``bits`` bits (unsigned container)."""
    unsigned = np.dtype(f"u{frame.dtype.itemsize}")
    return (frame.astype(np.int64) & ((1 << bits) - 1)).astype(unsigned)


def _pydicom(uid: UID, frame: np.ndarray, job: _Job, photometric: str, **options: Any) -> bytes:
    from pydicom.pixels import get_encoder  # pydicom 3: imported here so the library loads beside pydicom 2.4

    return bytes(get_encoder(uid).encode(np.ascontiguousarray(frame), **job.descriptors(frame, photometric),
                                         **options))


def _encode_rle(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    return _pydicom(job.syntax.uid, frame, job, job.photometric), job.photometric


def _encode_jpegls(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    near = int(job.options.get("near", 0))
    if job.signed and near:
        low, high = -(1 << (job.bits_stored - 1)) + near, (1 << (job.bits_stored - 1)) - 1 - near
        if int(frame.min()) < low or int(frame.max()) > high:
            raise UnsupportedDataError(
                f"{job.syntax.describe()} with NEAR={near} would wrap signed values near the ends of "
                f"{job.bits_stored}-bit storage (JPEG-LS carries no sign): values must lie in {low}..{high}, this "
                f"image has {int(frame.min())}..{int(frame.max())}; use the lossless jpegls syntax or a smaller NEAR")
    return _pydicom(job.syntax.uid, frame, job, job.photometric, jls_error=near), job.photometric


def _encode_j2k(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    bpp = job.options.get("bpp")
    colour = job.channels == 3
    if bpp is None:
        data = _pydicom(JPEG2000Lossless, frame, job, "YBR_RCT" if colour else job.photometric)
        if colour and not np.array_equal(openjpeg.decode(data), frame):
            # OpenJPEG's reversible colour transform has coded some small RGB images wrongly (see
            # codecs/classical.py): such a frame is coded without it.
            data = _pydicom(JPEG2000Lossless, frame, job, "RGB")
    else:
        ratio = max(1.0, job.bits_stored * job.channels / float(bpp))
        data = _pydicom(JPEG2000, frame, job, "YBR_ICT" if colour else job.photometric, j2k_cr=[ratio])
    return data, _j2k_photometric(data, job)


def _j2k_photometric(data: bytes, job: _Job) -> str:
    """YBR_RCT / YBR_ICT exactly when the codestream applied a colour transform, by its wavelet."""
    if job.channels != 3:
        return job.photometric
    header = codestream_header(data)
    if not header["mct"]:
        return "RGB"
    return "YBR_RCT" if header["reversible"] else "YBR_ICT"


def rpcl_levels(rows: int, columns: int) -> int:
    """Decompositions enough for the lowest resolution to be at most 64 pixels wide and high."""
    return max(HTJ2K_DEFAULT_LEVELS, math.ceil(math.log2(max(rows, columns, 1) / RPCL_THUMBNAIL)))


def _encode_htj2k(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    step = job.options.get("step")
    bits = job.bits_stored
    values = frame.astype(np.int32)
    if not job.signed:
        values -= 1 << (bits - 1)  # the DC level shift a Bits Stored precision encoder applies
    options: dict[str, Any] = {"reversible": step is None}
    if step is not None:
        values <<= HTJ2K_CONTAINER_BITS - bits  # full scale: the patched precision scales steps back
        options["level"] = float(step) / (1 << bits)
    if job.syntax.name == "htj2k-rpcl":
        options.update(resolutions=rpcl_levels(*frame.shape[:2]), tlm=True)
    data = with_precision(imagecodecs.htj2k_encode(values.astype(np.int16), **options), bits, job.signed)
    if job.syntax.name == "htj2k-rpcl" and codestream_header(data)["progression"] != RPCL:
        raise MedCompError("OpenJPH wrote a progression order other than RPCL, which htj2k-rpcl requires")
    return data, _j2k_photometric(data, job)


def _encode_jpegxl(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    distance = job.options.get("distance")
    lossless = not distance
    samples = _masked(frame, job.bits_stored) if job.signed else frame
    if job.bits_stored <= 8:
        samples = samples.astype(np.uint8)
    data = imagecodecs.jpegxl_encode(samples, lossless=lossless, distance=None if lossless else float(distance),
                                     bitspersample=job.bits_stored,
                                     effort=int(job.options.get("effort", JPEGXL_DEFAULT_EFFORT)))
    return data, job.photometric


def jpeg_precision(bits_stored: int) -> int:
    """The sample precision lossy JPEG codes ``bits_stored``-bit data at (8 or 12)."""
    return next(precision for precision in JPEG_PRECISIONS if bits_stored <= precision)


def _encode_jpeg(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    precision = jpeg_precision(job.bits_stored)
    options: dict[str, Any] = {"level": int(job.options.get("quality", 90)), "bitspersample": precision}
    photometric = job.photometric
    if job.channels == 3:
        options["subsampling"] = "422"
        photometric = "YBR_FULL_422"
    return imagecodecs.jpeg8_encode(frame, **options), photometric


def _encode_ljpeg(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    samples = _masked(frame, job.bits_stored) if job.signed else frame
    predictor = 1 if job.syntax.name == "jpeg-lossless-sv1" else job.options.get("predictor")
    predictors = range(1, 8) if predictor is None else [int(predictor)]
    options: dict[str, Any] = {"lossless": True, "bitspersample": job.bits_stored}
    if job.channels == 3:
        options.update(colorspace="RGB", outcolorspace="RGB")
    data = min((imagecodecs.jpeg8_encode(samples, predictor=p, **options) for p in predictors), key=len)
    return data, job.photometric


_ENCODERS: dict[str, Callable[[np.ndarray, _Job], tuple[bytes, str]]] = {
    "rle": _encode_rle, "jpegls": _encode_jpegls, "j2k": _encode_j2k, "htj2k": _encode_htj2k,
    "jpegxl": _encode_jpegxl, "jpeg": _encode_jpeg, "ljpeg": _encode_ljpeg,
}


def coded_bits_stored(syntax: TransferSyntax, bits_stored: int) -> int:
    """Bits Stored of the written file: the data's, or lossy JPEG's 8 or 12."""
    return jpeg_precision(bits_stored) if syntax.family == "jpeg" else bits_stored


def encode_frames(pixels: np.ndarray, syntax: TransferSyntax, options: dict[str, Any], *, bits_stored: int,
                  photometric: str) -> Frames:
    """Code ``pixels`` (frames, rows, cols[, 3]) of stored values into ``syntax``, one codestream per frame.

    ``options`` are the syntax's encoder settings: ``near`` (JPEG-LS), ``bpp`` (JPEG 2000 lossy), ``step``
    (HTJ2K lossy: the quantisation step in stored-value units), ``distance`` and ``effort`` (JPEG-XL),
    ``quality`` (JPEG), ``predictor`` (lossless JPEG).
    """
    lossy = _is_lossy(syntax, options)
    signed, channels = pixels.dtype.kind == "i", pixels.shape[3] if pixels.ndim == 4 else 1
    check_data(syntax, bits_stored=bits_stored, signed=signed, channels=channels, photometric=photometric,
               lossy=lossy)
    if not syntax.encapsulated:
        return Frames([], photometric, bits_stored, lossy)
    bits = coded_bits_stored(syntax, bits_stored)
    job = _Job(syntax, bits, signed, channels, photometric, options)
    encoder = _ENCODERS[syntax.family]
    try:
        coded = [encoder(frame, job) for frame in pixels]
    except MedCompError:
        raise
    except Exception as error:  # a library refusal becomes one line naming the syntax
        raise MedCompError(f"cannot encode {syntax.describe()}: {error}") from error
    photometrics = {photometric for _, photometric in coded}
    if len(photometrics) > 1:  # only the lossless J2K RGB fallback differs per frame: code them all alike
        coded = [_encode_without_transform(frame, job) for frame in pixels]
        photometrics = {"RGB"}
    return Frames([data for data, _ in coded], photometrics.pop(), bits, lossy)


def _encode_without_transform(frame: np.ndarray, job: _Job) -> tuple[bytes, str]:
    return _pydicom(JPEG2000Lossless, frame, job, "RGB"), "RGB"


def encapsulate_into(ds: Any, frames: Frames) -> None:
    """Set ``ds``'s Pixel Data to ``frames``: one fragment per frame (A.4; RLE: A.4.2) behind a filled Basic
    Offset Table, or an empty one and the Extended Offset Table when the offsets outgrow 32 bits."""
    codestreams = frames.codestreams
    # offsets count each fragment's 8-byte item header and its padding to an even length
    span = sum(8 + len(data) + len(data) % 2 for data in codestreams[:-1])
    if span <= BASIC_OFFSET_LIMIT:
        ds.PixelData = encapsulate(codestreams, fragments_per_frame=1, has_bot=True)
    else:
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(codestreams)
    element = ds["PixelData"]
    element.VR, element.is_undefined_length = "OB", True


def _is_lossy(syntax: TransferSyntax, options: dict[str, Any]) -> bool:
    """Whether the options make lossy content (a lossless-only syntax never does)."""
    if syntax.lossless:
        return False
    if syntax.family == "jpeg":
        return True
    return bool(options.get({"jpegls": "near", "j2k": "bpp", "htj2k": "step", "jpegxl": "distance"}[syntax.family]))


# --- reading JPEG-XL ------------------------------------------------------------------------------------

def is_jpegxl(uid: str) -> bool:
    return uid in ("1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.112")


def decode_jpegxl(ds: Any, frames: int) -> np.ndarray:
    """The stored values of a JPEG-XL file's frames as (frames, rows, cols[, 3]), checked against its header."""
    from pydicom.encaps import generate_frames  # pydicom 3: imported here so the library loads beside pydicom 2.4

    rows, columns, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel") or 1)
    bits, signed = int(ds.BitsStored), int(ds.get("PixelRepresentation") or 0) == 1
    expected = (rows, columns, samples) if samples > 1 else (rows, columns)
    decoded = []
    for index, data in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
        try:
            frame = np.asarray(imagecodecs.jpegxl_decode(data))
        except Exception as error:
            raise ReadError(f"JPEG-XL frame {index} does not decode: {error}") from None
        if frame.shape != expected:
            raise ReadError(f"JPEG-XL frame {index} holds {frame.shape}, the header says {expected}")
        decoded.append(frame)
    if len(decoded) != frames:
        raise ReadError(f"the pixel data holds {len(decoded)} JPEG-XL frames, the header says {frames}")
    values = np.stack(decoded).astype(np.int64)
    if signed:
        values[values >= 1 << (bits - 1)] -= 1 << bits
    dtype = np.dtype(f"{'i' if signed else 'u'}{(int(ds.BitsAllocated) + 7) // 8}")
    return values.astype(dtype)

