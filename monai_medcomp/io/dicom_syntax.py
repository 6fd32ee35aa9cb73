"""The DICOM transfer syntaxes MedComp writes, in one table, and which one a codec's output goes into.

Each row says what PS3.5 allows for its syntax (Bits Stored, signedness, colour; Table 8.2.x-1), what
its (0028,2114) Lossy Image Compression Method term is, and which MedComp codec family's parameters
drive its encoder.  Everything else that writes or checks DICOM pixel data (``dicom_frames``, the
writers, the exporter, the tests) looks syntaxes up here, so a rule is stated once.

Names are what ``--transfer-syntax`` takes: a family's plain name is its lossless member (``jpegls``,
``jpeg2000``, ``htj2k``, ``jpegxl``, ``jpeg-lossless``), the lossy or near-lossless member adds a word
(``jpegls-near``, ``jpeg2000-lossy``, ...).  A UID is accepted too.

pydicom 3.0.2 does not know the JPEG-XL UIDs (PS3.5 2024): they are added to its UID dictionary here,
and only here, so that pydicom can save and parse such files (it still cannot decode them:
``dicom_frames`` does).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydicom import _uid_dict
from pydicom.uid import UID

from ..errors import MedCompError, UnsupportedDataError

_JPEGXL_UIDS = {
    "1.2.840.10008.1.2.4.110": ("JPEG XL Lossless", "JPEGXLLossless"),
    "1.2.840.10008.1.2.4.111": ("JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
    "1.2.840.10008.1.2.4.112": ("JPEG XL", "JPEGXL"),
}
for _uid, (_title, _keyword) in _JPEGXL_UIDS.items():
    _uid_dict.UID_dictionary.setdefault(_uid, (_title, "Transfer Syntax", "", "", _keyword))

LOSSLESS_SYNTAX = "explicit"  # the default: uncompressed Explicit VR Little Endian


@dataclasses.dataclass(frozen=True)
class TransferSyntax:
    """One row of the table."""

    name: str  # what --transfer-syntax takes
    uid: UID
    family: str  # the frame encoder: native, deflated, rle, jpeg, ljpeg, jpegls, j2k, htj2k, jpegxl
    lossless: bool  # a lossless-only syntax: its pixels always decode bit for bit
    method: str | None  # (0028,2114) Lossy Image Compression Method when the content is lossy
    codec: str | None  # the MedComp codec whose parameters drive the encoder (None: no parameters)
    bits: tuple[int, int]  # Bits Stored allowed (grey), inclusive
    colour_bits: tuple[int, int] | None  # Bits Stored allowed for RGB; None: grey only
    signed: bool  # Pixel Representation 1 allowed (grey)

    @property
    def encapsulated(self) -> bool:
        return self.family not in ("native", "deflated")

    @property
    def title(self) -> str:
        return self.uid.name

    def describe(self) -> str:
        return f"{self.name} ({self.title}, {self.uid})"


def _row(name: str, uid: str, family: str, lossless: bool, method: str | None, codec: str | None,
         bits: tuple[int, int] = (1, 16), colour_bits: tuple[int, int] | None = (1, 16),
         signed: bool = True) -> TransferSyntax:
    return TransferSyntax(name, UID(uid), family, lossless, method, codec, bits, colour_bits, signed)


SYNTAXES: tuple[TransferSyntax, ...] = (
    # uncompressed, the default; the whole data set deflated (zlib); RLE Lossless (PS3.5 Annex G)
    _row(LOSSLESS_SYNTAX, "1.2.840.10008.1.2.1", "native", True, None, None),
    _row("deflated", "1.2.840.10008.1.2.1.99", "deflated", True, None, None),
    _row("rle", "1.2.840.10008.1.2.5", "rle", True, None, None),
    # JPEG process 1 (8 bits) and 2/4 (8 or 12 bits, grey): codec jpeg
    _row("jpeg-baseline", "1.2.840.10008.1.2.4.50", "jpeg", False, "ISO_10918_1", "jpeg", bits=(1, 8),
         colour_bits=(1, 8), signed=False),
    _row("jpeg-extended", "1.2.840.10008.1.2.4.51", "jpeg", False, "ISO_10918_1", "jpeg", bits=(1, 12),
         colour_bits=None, signed=False),
    # lossless JPEG process 14, any predictor / predictor 1: codec ljpeg
    _row("jpeg-lossless", "1.2.840.10008.1.2.4.57", "ljpeg", True, None, "ljpeg", bits=(2, 16)),
    _row("jpeg-lossless-sv1", "1.2.840.10008.1.2.4.70", "ljpeg", True, None, "ljpeg", bits=(2, 16)),
    # JPEG-LS lossless / near-lossless (|error| <= NEAR): codec jpegls
    _row("jpegls", "1.2.840.10008.1.2.4.80", "jpegls", True, None, "jpegls", bits=(2, 16), colour_bits=(2, 16)),
    _row("jpegls-near", "1.2.840.10008.1.2.4.81", "jpegls", False, "ISO_14495_1", "jpegls", bits=(2, 16),
         colour_bits=(2, 16)),
    # JPEG 2000 lossless only / lossless or lossy: codec jpeg2000
    _row("jpeg2000", "1.2.840.10008.1.2.4.90", "j2k", True, None, "jpeg2000"),
    _row("jpeg2000-lossy", "1.2.840.10008.1.2.4.91", "j2k", False, "ISO_15444_1", "jpeg2000"),
    # HTJ2K lossless only, lossless RPCL (TLM markers, a thumbnail resolution <= 64), lossless or lossy: codec htj2k
    _row("htj2k", "1.2.840.10008.1.2.4.201", "htj2k", True, None, "htj2k"),
    _row("htj2k-rpcl", "1.2.840.10008.1.2.4.202", "htj2k", True, None, "htj2k"),
    _row("htj2k-lossy", "1.2.840.10008.1.2.4.203", "htj2k", False, "ISO_15444_15", "htj2k"),
    # JPEG XL lossless / lossless or lossy (unsigned: lossy coding of two's complement would wrap): codec jpegxl
    _row("jpegxl", "1.2.840.10008.1.2.4.110", "jpegxl", True, None, "jpegxl"),
    _row("jpegxl-lossy", "1.2.840.10008.1.2.4.112", "jpegxl", False, "ISO_18181_1", "jpegxl", signed=False),
)
_BY_NAME = {syntax.name: syntax for syntax in SYNTAXES}
_BY_UID = {str(syntax.uid): syntax for syntax in SYNTAXES}


def names() -> list[str]:
    return [syntax.name for syntax in SYNTAXES]


def get_syntax(name_or_uid: str) -> TransferSyntax:
    """The row for a ``--transfer-syntax`` name or a UID; an unknown one is an error listing the names."""
    syntax = _BY_NAME.get(str(name_or_uid).strip().lower()) or _BY_UID.get(str(name_or_uid).strip())
    if syntax is None:
        raise MedCompError(f"unknown DICOM transfer syntax {name_or_uid!r}; choose one of {', '.join(names())} "
                           "(or give its UID)")
    return syntax


def lossy_methods() -> dict[str, str]:
    """(0028,2114) defined terms by MedComp codec name (PS3.3 C.7.6.1.1.5.1)."""
    return {syntax.codec: syntax.method for syntax in SYNTAXES if syntax.codec and syntax.method}


def codecs_with_syntax() -> list[str]:
    return sorted({syntax.codec for syntax in SYNTAXES if syntax.codec})


def default_syntax(codec: str, lossless: bool, params: dict[str, Any], bits_stored: int) -> TransferSyntax:
    """The syntax a codec's output goes into when none is named: its lossless member for lossless
    parameters, else its lossy one (``jpeg`` by depth, ``ljpeg`` by predictor)."""
    if codec not in codecs_with_syntax():
        raise MedCompError(f"codec {codec} has no standard DICOM transfer syntax; its home is .mcz "
                           f"(DICOM output takes {', '.join(codecs_with_syntax())})")
    if codec == "jpeg":
        return _BY_NAME["jpeg-baseline" if bits_stored <= 8 else "jpeg-extended"]
    if codec == "ljpeg":
        return _BY_NAME["jpeg-lossless-sv1" if params.get("predictor") == 1 else "jpeg-lossless"]
    return next(syntax for syntax in SYNTAXES if syntax.codec == codec and syntax.lossless == lossless)


def check_codec(syntax: TransferSyntax, codec: str | None, lossless: bool) -> None:
    """Refuse a codec whose output this syntax cannot carry, or lossy content in a lossless-only syntax."""
    if syntax.codec != codec:
        carried = f"codec {syntax.codec}" if syntax.codec else "no codec (give no --codec)"
        raise MedCompError(f"transfer syntax {syntax.describe()} carries {carried}, not "
                           f"{'codec ' + codec if codec else 'uncoded pixels'}")
    if syntax.lossless and not lossless:
        lossy = next((s.name for s in SYNTAXES if s.codec == codec and not s.lossless), None)
        raise MedCompError(f"transfer syntax {syntax.describe()} is lossless only, but the {codec} parameters are "
                           f"lossy" + (f"; use {lossy}" if lossy else ""))


def check_data(syntax: TransferSyntax, *, bits_stored: int, signed: bool, channels: int, photometric: str,
               lossy: bool) -> None:
    """Refuse data this syntax cannot hold (PS3.5 Table 8.2.x-1), naming the syntax and the data."""
    data = (f"{'signed' if signed else 'unsigned'} {bits_stored}-bit "
            f"{'RGB' if channels == 3 else photometric}")
    if channels == 3:
        if syntax.colour_bits is None:
            raise UnsupportedDataError(f"{syntax.describe()} holds grey images only; this image is {data}")
        low, high = syntax.colour_bits
    else:
        low, high = syntax.bits
    if signed and (channels == 3 or not syntax.signed):
        raise UnsupportedDataError(f"{syntax.describe()} cannot hold signed data; this image is {data}")
    if bits_stored > high:
        raise UnsupportedDataError(f"{syntax.describe()} holds at most {high} bits; this image is {data}")
    if bits_stored < low:
        raise UnsupportedDataError(f"{syntax.describe()} holds at least {low} bits; this image is {data}")
    if lossy and photometric == "PALETTE COLOR":
        raise UnsupportedDataError(f"{syntax.describe()} would code palette indices lossily; this image is {data}: "
                                   "use a lossless syntax")
