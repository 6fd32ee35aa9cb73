"""Compress straight to DICOM: a standard codec's output as encapsulated pixel data in its transfer syntax.

``api.compress`` comes here when the output is DICOM (a ``.dcm`` file, a folder) or ``output_format="dicom"``.
The codec's parameters are its defaults, explicit ``params``, or for a target the rate control of
``.mcz`` output searching the codec's knob, each trial coded and decoded as the DICOM syntax does (so
the target is met by the files, not by a ``.mcz`` coding of the same image); they are translated into
the transfer syntax's own encoder settings and the frames are coded from the stored values
(``io.dicom_frames``).  Figures are those of the files written: their bytes, and for lossy content the
PSNR and maximum error of the pixels a DICOM reader decodes from them (every file is read back before
it takes its name).

Only codecs with a standard transfer syntax (``io.dicom_syntax``) can write DICOM: a learned codec's
bitstream means nothing to a DICOM reader, so its home is ``.mcz``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import io as medio
from . import metrics
from .codecs import Codec, PixelFormat, get_codec
from .engine import pixel_format
from .errors import MedCompError
from .io.dicom import DicomWrite, code_in_memory, decode_in_memory
from .io.dicom_syntax import TransferSyntax, check_codec, codecs_with_syntax, default_syntax, get_syntax
from .ratecontrol import BPP_TOLERANCE, PSNR_TOLERANCE, Target, choose_params
from .volume import Volume

DEFAULT_CODEC = "jpegls"

# The codec's parameters as the transfer syntax's encoder settings (see dicom_frames.encode_frames).
# HTJ2K's qstep is a fraction of the data's range (2^bits of value - minimum): the DICOM encoder takes
# the same step in stored-value units, so both code at the same quality.
_ENCODER_OPTIONS: dict[str, Callable[[dict[str, Any], Volume], dict[str, Any]]] = {
    "jpegls": lambda params, volume: {"near": int(params.get("near", 0))},
    "jpeg2000": lambda params, volume: {"bpp": params.get("bpp")},
    "htj2k": lambda params, volume: {"step": float(params["qstep"]) * 2 ** pixel_format(volume)[1].bits
                                     if float(params.get("qstep", 0.0)) else None},
    "jpegxl": lambda params, volume: {key: params[key] for key in ("distance", "effort") if key in params},
    "jpeg": lambda params, volume: {key: params[key] for key in ("quality",) if key in params},
    "ljpeg": lambda params, volume: {"predictor": params.get("predictor")},
}


@dataclasses.dataclass
class DicomResult(metrics.SizeFigures):
    """What ``api.compress`` wrote as DICOM, with the figures a user asks first."""

    path: Path
    codec: str | None  # None: a syntax without a codec (explicit, deflated, rle)
    params: dict[str, Any]
    written: DicomWrite
    raw_nbytes: int
    num_pixels: int
    encode_seconds: float
    psnr: float | None = None  # of the decoded pixels, lossy content only
    max_error: int | None = None
    target: dict[str, Any] | None = None  # what was asked, and reached by rate control on the codec
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def syntax(self) -> TransferSyntax:
        return self.written.syntax

    @property
    def lossless(self) -> bool:
        return not self.written.lossy

    @property
    def nbytes(self) -> int:
        """Bytes of every file written, headers included."""
        return self.written.nbytes



def _codec_of(codec: str | Codec | None, syntax: TransferSyntax | None) -> Codec | None:
    """The codec asked for, else the one the syntax carries, else the default; refused without a syntax."""
    if codec is None:
        name = syntax.codec if syntax is not None else DEFAULT_CODEC
        return get_codec(name) if name else None
    codec = get_codec(codec) if isinstance(codec, str) else codec
    if codec.name not in codecs_with_syntax():
        raise MedCompError(f"codec {codec.name} has no standard DICOM transfer syntax; its home is .mcz "
                           f"(DICOM output takes {', '.join(codecs_with_syntax())})")
    return codec


def _dicom_coding(codec: Codec, volume: Volume, syntax_for: Callable[[dict[str, Any]], TransferSyntax]) -> Codec:
    """``codec`` (its knob, parameters and guarantees) coding each slice as its DICOM syntax does, so that rate
    control measures the pixels the written files will decode to.

    Searching the codec's own ``.mcz`` coding instead (value - minimum at the range's precision) was measured
    on the evaluation images at a 45 dB target: the DICOM files landed up to 2.1 dB below with JPEG-XL (whose
    distance is relative to the declared bit depth), 0.3 dB with HTJ2K on signed CT, and a colour JPEG
    searched at 4:4:4 landed 8.7 dB below once coded 4:2:2.
    """
    offset = pixel_format(volume)[0]

    class DicomCoding(type(codec)):  # type: ignore[misc, valid-type]
        def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
            stored = (slab.astype(np.int64) + offset).astype(volume.dtype)
            return code_in_memory(stored, volume, syntax_for(params), _options(codec.name, params, volume))

        def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
            values = decode_in_memory(data).astype(np.int64) - offset
            return np.clip(values, 0, fmt.max_value).astype(fmt.dtype).reshape(tuple(shape))

    return DicomCoding()


def _missed(target: Target, result: "DicomResult") -> str | None:
    """A note when the DICOM files miss the target on the wrong side by more than rate control's tolerance."""
    if target.kind == "psnr" and result.psnr is not None and result.psnr < target.value - PSNR_TOLERANCE:
        reached = f"decode at {result.psnr:.2f} dB"
    elif target.kind == "bpp" and result.bpp > target.value * (1 + BPP_TOLERANCE):
        reached = f"take {result.bpp:.3f} bpp"
    elif target.kind == "max_error" and result.max_error is not None and result.max_error > target.value:
        reached = f"reach max error {result.max_error}"
    else:
        return None
    return (f"the DICOM files {reached}, past the {target.kind} target {target.value:g} (the search measured "
            "slices coded alone, with a small header each); ask a little more")


def _choose_params(codec: Codec | None, volume: Volume, target: Target | None, params: dict[str, Any] | None,
                   engine_options: dict[str, Any], syntax_for: Callable[[dict[str, Any]], TransferSyntax]
                   ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Parameters and the rate-control record: explicit, searched on the DICOM coding for a target, or the
    codec's defaults."""
    if params is not None and target is not None:
        raise MedCompError("give either explicit codec parameters or a target, not both")
    if codec is None:
        if params or target:
            raise MedCompError("this transfer syntax codes without a codec: it takes no parameters or target")
        return {}, None
    if target is not None:
        # one worker: pylibjpeg-openjpeg's encoder is not thread-safe (codecs/classical.py)
        encoded = choose_params(_dicom_coding(codec, volume, syntax_for), volume, target,
                                **{**engine_options, "workers": 1})
        return dict(encoded.header.params), encoded.header.extra.get("target")
    params = dict(codec.default_params() if params is None else params)
    codec.check_params(params)
    return params, None


def _options(codec: str | None, params: dict[str, Any], volume: Volume) -> dict[str, Any]:
    return _ENCODER_OPTIONS[codec](params, volume) if codec else {}


def compress_dicom(volume: Volume, output: str | os.PathLike, codec: str | Codec | None = None, *,
                   transfer_syntax: str | None = None, target: Target | None = None,
                   params: dict[str, Any] | None = None, force: bool = False,
                   engine_options: dict[str, Any] | None = None) -> DicomResult:
    """Write ``volume`` as DICOM (``output``: a ``.dcm`` file or a series folder) coded by ``codec`` in
    ``transfer_syntax`` (by default the codec's own: its lossless member for lossless parameters)."""
    if not medio.is_dicom_output(output):
        raise MedCompError(f"DICOM output is a .dcm, .dicom or .ima file or a folder, not {output}")
    start = time.perf_counter()
    asked = get_syntax(transfer_syntax) if transfer_syntax is not None else None
    chosen = _codec_of(codec, asked)
    name = chosen.name if chosen is not None else None

    def syntax_for(params: dict[str, Any]) -> TransferSyntax:
        lossless = chosen is None or chosen.is_lossless(params)
        syntax = asked or default_syntax(name, lossless, params, volume.bits_stored)
        check_codec(syntax, name, lossless)
        return syntax

    params, record = _choose_params(chosen, volume, target, params, engine_options or {}, syntax_for)
    syntax = syntax_for(params)
    written = medio.write_volume(volume, output, force=force, transfer_syntax=syntax.name,
                                 encoding=_options(name, params, volume))
    result = DicomResult(Path(output), name, params, written, volume.array.nbytes, volume.array.size // volume.channels,
                         time.perf_counter() - start, target=record)
    if written.lossy:
        result.psnr = float(metrics.psnr(volume.array, written.decoded, bits_stored=volume.bits_stored))
        result.max_error = int(metrics.max_abs_error(volume.array, written.decoded))
    subsampling = params.get("subsampling", "444")  # the codec's; DICOM colour JPEG is always 4:2:2
    if name == "jpeg" and volume.channels == 3 and subsampling != "422":
        result.notes.append(f"colour coded YCbCr 4:2:2 (YBR_FULL_422), not {subsampling}: the one lossy JPEG colour "
                            "form every DICOM IOD accepts")
    if target is not None and _missed(target, result):
        result.notes.append(_missed(target, result))
    if written.bits_stored > volume.bits_stored:
        result.notes.append(f"Bits Stored raised from {volume.bits_stored} to {written.bits_stored}: {syntax.name} "
                            f"codes {written.bits_stored}-bit samples")
    return result
