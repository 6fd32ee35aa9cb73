"""What front-ends call: ``read``, ``write``, ``compress``, ``decompress``, ``info``.

The CLI, the MONAI transforms and bundles, the Slicer module and the notebook explorer all go
through these functions, so they share one behaviour for targets, errors and atomic outputs.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from . import io as medio
from . import metrics
from .codecs import Codec, get_codec
from .container import ContainerReader, is_container
from .dicom_export import DEFAULT_CODEC, DicomResult, compress_dicom
from .engine import EncodedVolume, decode_chunks, encode_volume
from .errors import MedCompError, OutputExistsError
from .fileio import atomic_write
from .io.dicom_derived import check_palette
from .io.dicom_syntax import get_syntax
from .ratecontrol import Target, choose_params
from .volume import Volume
from .weights import bundles_from, check_recorded

Source = Volume | np.ndarray | str | os.PathLike


@dataclasses.dataclass
class CompressionResult(metrics.SizeFigures):
    """A compressed volume with the figures a user asks first: size, bpp, ratio, time."""

    encoded: EncodedVolume
    data: bytes
    encode_seconds: float
    path: Path | None = None

    @property
    def header(self):
        return self.encoded.header

    @property
    def params(self) -> dict[str, Any]:
        return self.encoded.header.params

    @property
    def nbytes(self) -> int:
        return len(self.data)

    @property
    def num_pixels(self) -> int:
        return self.encoded.num_pixels

    @property
    def payload_nbytes(self) -> int:
        """The codec's chunks alone, without the container's header, index and source metadata."""
        return sum(len(chunk) for chunk in self.encoded.chunks)

    @property
    def raw_nbytes(self) -> int:
        return self.encoded.header.raw_nbytes


def as_volume(source: Source, **read_options: Any) -> Volume:
    """Accept a Volume, an integer array or a path to any readable file (``read_options`` go to its reader:
    ``series_uid``, ``volume_index``)."""
    if isinstance(source, Volume):
        return source
    if isinstance(source, np.ndarray):
        return Volume(source)
    return read(source, **read_options)


def read(path: str | os.PathLike, **kwargs: Any) -> Volume:
    """Read DICOM (file or series folder), NIfTI, ITK formats, PNG/TIFF, or a ``.mcz`` file into a Volume."""
    path = Path(path)
    if path.is_file() and is_container(path):
        if any(value is not None for value in kwargs.values()):
            raise MedCompError(f"{path}: a .mcz file holds one volume; --series-uid and --volume-index do not apply")
        return decompress(path)
    return medio.read_volume(path, **kwargs)


def write(volume: Volume, path: str | os.PathLike, *, force: bool = False, **kwargs: Any) -> Any:
    """Write a Volume by suffix (``.nii.gz``, ``.dcm`` or a folder for DICOM, ``.png``, ``.tif``).

    DICOM takes ``transfer_syntax`` (an ``io.dicom_syntax`` name or UID) and ``encoding`` (its encoder settings)
    and returns an ``io.dicom.DicomWrite`` (file sizes, the pixels the files decode to)."""
    return medio.write_volume(volume, path, force=force, **kwargs)


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def guard_output(source: Any, output: str | os.PathLike | None) -> None:
    """Never write over the input, whatever ``force`` says."""
    if output is not None and isinstance(source, (str, os.PathLike)) and _same_file(source, output):
        raise OutputExistsError(f"refusing to overwrite the input {source}")


OUTPUT_FORMATS = ("mcz", "dicom")


def choose_format(output: str | os.PathLike | None, asked: str | None = None) -> str:
    """``asked`` if given, else by ``output``: DICOM for a ``.dcm``/``.dicom``/``.ima`` file, a folder or a path
    without suffix; the ``.mcz`` container otherwise (and in memory)."""
    if asked is not None:
        if asked not in OUTPUT_FORMATS:
            raise MedCompError(f"unknown output format {asked!r}; choose {' or '.join(OUTPUT_FORMATS)}")
        return asked
    if output is None or Path(output).suffix.lower() == ".mcz":
        return "mcz"
    return "dicom" if medio.is_dicom_output(output) else "mcz"


def compress(source: Source, output: str | os.PathLike | None = None, codec: str | Codec | None = None, *,
             quality: float | None = None, bpp: float | None = None, psnr: float | None = None,
             max_error: int | None = None, params: dict[str, Any] | None = None, device: Any = None,
             batch_size: int = 16, workers: int | None = None, force: bool = False,
             progress: bool = False, bundles: str | os.PathLike | None = None,
             output_format: str | None = None, transfer_syntax: str | None = None,
             series_uid: str | None = None, volume_index: int | None = None) -> CompressionResult | DicomResult:
    """Compress ``source`` with ``codec`` (default ``jpegls``), reaching at most one target; write ``output`` if
    given.

    With no target and no ``params`` the codec's default is used: lossless where the codec can be.
    ``bundles`` (here and in :func:`decompress`) is the one folder learned weights are read from, as
    ``--bundles`` and ``MEDCOMP_BUNDLES`` (see :mod:`monai_medcomp.weights`).

    The output is a ``.mcz`` container (a :class:`CompressionResult`), or DICOM when ``output`` is a ``.dcm``
    file or a folder or ``output_format="dicom"`` (a :class:`~monai_medcomp.dicom_export.DicomResult`): the
    codec's output as encapsulated pixel data in its standard transfer syntax, or in ``transfer_syntax``
    (``io.dicom_syntax`` names).  Only codecs with a standard transfer syntax can write DICOM.
    ``series_uid`` picks one series of a DICOM folder holding several, ``volume_index`` one volume of a 4D NIfTI.
    """
    guard_output(source, output)
    if output is not None and Path(output).exists() and not force:
        raise OutputExistsError(f"output {output} already exists (use --force to overwrite)")
    target = Target.from_options(quality=quality, bpp=bpp, psnr=psnr, max_error=max_error)
    if params is not None and target is not None:
        raise MedCompError("give either explicit codec parameters or a target, not both")
    kind = choose_format(output, output_format)
    if kind == "mcz" and transfer_syntax is not None:
        raise MedCompError("a transfer syntax applies to DICOM output only (a .dcm file or a folder), not to .mcz")
    if kind == "dicom" and output is None:
        raise MedCompError("DICOM output needs a path: a .dcm file or a folder")
    volume = as_volume(source, series_uid=series_uid, volume_index=volume_index)
    engine_options = dict(device=device, batch_size=batch_size, workers=workers, progress=progress)
    with bundles_from(bundles):
        if kind == "dicom":
            return compress_dicom(volume, output, codec, transfer_syntax=transfer_syntax, target=target,
                                  params=params, force=force, engine_options=engine_options)
        codec = get_codec(codec or DEFAULT_CODEC) if not isinstance(codec, Codec) else codec
        start = time.perf_counter()
        if target is None:
            encoded = encode_volume(volume, codec, params, **engine_options)
        else:
            encoded = choose_params(codec, volume, target, **engine_options)
    check_palette(volume.metadata.get("photometric_interpretation"), encoded.header.lossless)
    data = encoded.to_bytes()
    seconds = time.perf_counter() - start
    if output is not None:
        atomic_write(output, data, force=force)
    return CompressionResult(encoded, data, seconds, Path(output) if output is not None else None)


def open_container(source: str | os.PathLike | bytes | CompressionResult) -> ContainerReader:
    if isinstance(source, CompressionResult):
        source = source.data
    return ContainerReader(source)


def check_slices(slices: Iterable[Any], num_slices: int) -> list[int]:
    """The selected slice indices, each an integer inside the volume and selected once, or a
    :class:`MedCompError` naming the first that is not (met one by one: a huge selection fails early)."""
    chosen: dict[int, None] = {}  # in the order given
    for index in slices:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise MedCompError(f"slice indices must be integers, got {index!r}")
        if not 0 <= index < num_slices:
            raise MedCompError(f"slice {index} is outside the volume, which has {num_slices} slices "
                               f"(0 to {num_slices - 1})")
        if index in chosen:
            raise MedCompError(f"slice {index} is selected twice")
        chosen[int(index)] = None
    if not chosen:
        raise MedCompError("the slice selection is empty")
    return list(chosen)


def decompress(source: str | os.PathLike | bytes | CompressionResult, output: str | os.PathLike | None = None, *,
               slices: Sequence[int] | None = None, decode_params: dict[str, Any] | None = None,
               device: Any = None, batch_size: int = 16, workers: int | None = None, force: bool = False,
               progress: bool = False, bundles: str | os.PathLike | None = None, transfer_syntax: str | None = None,
               **write_options: Any) -> Volume:
    """Decode a ``.mcz`` file (or bytes) into a Volume with its geometry and metadata; write ``output`` if given.

    ``transfer_syntax`` (DICOM output only) is a LOSSLESS one of ``io.dicom_syntax`` (default: uncompressed
    Explicit VR Little Endian): a lossy one would add a second generation of loss, so it is refused (compress
    from the source instead).

    ``slices`` selects slice indices; only the chunks that hold them are read and decoded.  The origin
    moves to the first selected slice; a non-contiguous selection keeps the full volume's slice spacing,
    so write it as DICOM (each slice keeps its own position) rather than as one NIfTI volume.
    ``decode_params`` override stored parameters that a codec lets the decoder choose, e.g.
    ``{"stages": 1}`` for a progressive file decoded at lower quality.
    """
    if write_options and output is None:  # e.g. a mistyped ``params=``: never ignore an option silently
        raise TypeError(f"decompress() got writer options {sorted(write_options)} but no output path")
    guard_output(source, output)
    if transfer_syntax is not None:
        write_options["transfer_syntax"] = _lossless_syntax(transfer_syntax, output)
    with bundles_from(bundles), open_container(source) as reader:
        header = reader.header
        codec = get_codec(header.codec)
        check_recorded(header.weights, codec.bundle_name, codec.name)
        if decode_params:
            header = dataclasses.replace(header, params={**header.params, **decode_params}, lossless=False)
        if slices is None:
            array = decode_chunks(header, reader.read_chunk, codec, device=device, batch_size=batch_size,
                                  workers=workers, progress=progress, digests=reader.pixel_digest)
        else:
            slices = check_slices(slices, header.shape[0])
            chunk_ids = sorted({header.chunk_of_slice(s) for s in slices})
            decoded = decode_chunks(header, reader.read_chunk, codec, chunk_ids, device=device,
                                    batch_size=batch_size, workers=workers, progress=progress,
                                    digests=reader.pixel_digest)
            position = {s: n for n, s in enumerate(s for c in chunk_ids for s in header.chunk_slices(c))}
            array = decoded[[position[s] for s in slices]]
        geometry = header.geometry
        metadata = dict(reader.metadata)
        metadata["compression"] = {"codec": header.codec, "params": header.params, "lossless": header.lossless,
                                   "ratio": metrics.compression_ratio(header.raw_nbytes, reader.size),
                                   "slices": slices, "target": header.extra.get("target")}
        volume = Volume(array, spacing=geometry["spacing"], origin=geometry["origin"],
                        direction=np.asarray(geometry["direction"]).reshape(3, 3), bits_stored=header.bits_stored,
                        metadata=metadata)
        if slices:  # the origin moves to the first decoded slice, so a partial volume sits where it was
            volume.origin = volume.slice_origin(slices[0])
    if output is not None:
        write(volume, output, force=force, **write_options)
    return volume


def _lossless_syntax(name: str, output: str | os.PathLike | None) -> str:
    """The transfer syntax a decoded volume may be written in: lossless, and only to DICOM."""
    if output is None or not medio.is_dicom_output(output):
        raise MedCompError(f"a transfer syntax applies to DICOM output only (a .dcm file or a folder), not {output}")
    syntax = get_syntax(name)
    if not syntax.lossless:
        raise MedCompError(f"{syntax.describe()} is lossy: decoding a .mcz and coding it again would lose twice; "
                           f"compress from the source instead (medcomp compress SOURCE {output} --codec "
                           f"{syntax.codec} ...), or pick a lossless syntax")
    return syntax.name


def info(source: str | os.PathLike | bytes) -> dict[str, Any]:
    """The header of a ``.mcz`` file plus sizes and bpp, without decoding any pixels."""
    with open_container(source) as reader:
        header = reader.header
        return {**header.to_json(), "file_bytes": reader.size, "container_overhead_bytes": reader.overhead,
                "num_chunks": len(reader.chunks), "bpp": metrics.bits_per_pixel(reader.size, header.shape),
                "ratio": metrics.compression_ratio(header.raw_nbytes, reader.size),
                "source_format": reader.metadata.get("format")}
