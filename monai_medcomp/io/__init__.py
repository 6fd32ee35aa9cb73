"""Reading and writing medical image files as Volumes: DICOM, NIfTI, ITK formats, PNG and TIFF (and JPEG previews).

``read_volume`` picks a reader by suffix, or by the file's first bytes when the suffix says nothing
(DICOM files often have none); ``write_volume`` picks a writer by suffix.  Readers keep the stored
integers and every header field (in ``Volume.metadata``) so that writing back to the same format gives
the same file content; writing to another format carries the geometry and the intensity rescaling.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import MedCompError, ReadError
from ..volume import Volume
from . import dicom, nifti, raster
from . import itk as itk_io

Reader = Callable[..., Volume]
Writer = Callable[..., None]

DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_READ_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
ITK_WRITE_SUFFIXES = (".mha", ".nrrd")
PNG_SUFFIXES = (".png",)
TIFF_SUFFIXES = (".tif", ".tiff")

_READERS: dict[str, Reader] = {
    **dict.fromkeys(DICOM_SUFFIXES, dicom.read_dicom_file),
    **dict.fromkeys(NIFTI_SUFFIXES, nifti.read_nifti),
    **dict.fromkeys(ITK_READ_SUFFIXES, itk_io.read_itk),
    **dict.fromkeys(PNG_SUFFIXES, raster.read_png),
    **dict.fromkeys(TIFF_SUFFIXES, raster.read_tiff),
}

_WRITERS: dict[str, Writer] = {
    **dict.fromkeys(DICOM_SUFFIXES, dicom.write_dicom_file),
    **dict.fromkeys(NIFTI_SUFFIXES, nifti.write_nifti),
    **dict.fromkeys(ITK_WRITE_SUFFIXES, itk_io.write_itk),
    **dict.fromkeys(PNG_SUFFIXES, raster.write_png),
    **dict.fromkeys(raster.JPEG_SUFFIXES, raster.write_jpeg),  # previews only: JPEG is not read back
    **dict.fromkeys(TIFF_SUFFIXES, raster.write_tiff),
}

# First bytes of the formats that can be recognised without a suffix: (offset, magic, reader).
_MAGIC: tuple[tuple[int, bytes, Reader], ...] = (
    (128, b"DICM", dicom.read_dicom_file),
    (0, b"\x89PNG\r\n\x1a\n", raster.read_png),
    (0, b"II*\x00", raster.read_tiff),
    (0, b"MM\x00*", raster.read_tiff),
    (344, b"n+1\x00", nifti.read_nifti),
)


def file_suffix(path: Path) -> str:
    """The lower-case suffix that names the format, ``.nii.gz`` counted as one."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def _sniff(path: Path) -> Reader | None:
    with open(path, "rb") as f:
        head = f.read(348)
    return next((reader for offset, magic, reader in _MAGIC if head[offset:offset + len(magic)] == magic), None)


def _reader_for(path: Path) -> Reader:
    if path.is_dir():
        return dicom.read_dicom_series
    if not path.exists():
        raise ReadError(f"{path}: no such file or folder")
    reader = _READERS.get(file_suffix(path))
    if reader is None:
        try:
            reader = _sniff(path)
        except OSError as error:
            raise ReadError(f"{path}: cannot read ({error.strerror})") from None
    if reader is None:
        known = ", ".join(sorted(_READERS))
        raise ReadError(f"{path}: unrecognised image format (known suffixes: {known}, or a DICOM folder)")
    return reader


def native_byte_order(volume: Volume) -> Volume:
    """``volume``, or a copy with its pixels in this machine's byte order (big-endian files exist)."""
    if volume.array.dtype.isnative:
        return volume
    return volume.with_array(volume.array.astype(volume.array.dtype.newbyteorder("=")))


def read_volume(path: str | os.PathLike, **kwargs: Any) -> Volume:
    """Read a DICOM file or series folder, NIfTI, MetaImage/NRRD, PNG or TIFF into a Volume of stored integers.

    Keyword arguments go to the format's reader (e.g. ``volume_index`` for 4D NIfTI, ``series_uid`` for a
    DICOM folder holding several series).
    """
    path = Path(path)
    reader = _reader_for(path)
    accepted = inspect.signature(reader).parameters
    unused = sorted(name for name, value in kwargs.items() if value is not None and name not in accepted)
    if unused:
        options = ", ".join("--" + name.replace("_", "-") for name in unused)
        raise MedCompError(f"{path}: {options} does not apply to this kind of file "
                           f"(series_uid: a DICOM folder; volume_index: a 4D NIfTI)")
    return native_byte_order(reader(path, **{name: value for name, value in kwargs.items() if name in accepted}))


def _writer_for(path: Path) -> Writer:
    suffix = file_suffix(path)
    if path.is_dir() or not suffix:
        return dicom.write_dicom_series
    writer = _WRITERS.get(suffix)
    if writer is None:
        if suffix in ITK_READ_SUFFIXES:
            raise MedCompError(f"cannot write {path}: {suffix} keeps pixels in a second file, which cannot be "
                               "written atomically; write .mha or .nrrd instead")
        known = ", ".join(sorted(_WRITERS))
        raise MedCompError(f"cannot write {path}: unknown suffix {suffix!r} (known: {known}, or a path without "
                           "suffix for a DICOM series folder)")
    return writer


def is_dicom_output(path: str | os.PathLike) -> bool:
    """Whether ``write_volume`` writes DICOM to ``path`` (``.dcm``/``.dicom``/``.ima``, a folder, no suffix)."""
    path = Path(path)
    return path.is_dir() or not file_suffix(path) or file_suffix(path) in DICOM_SUFFIXES


def write_volume(volume: Volume, path: str | os.PathLike, *, force: bool = False, **options: Any) -> Any:
    """Write ``volume`` by suffix: ``.nii``/``.nii.gz``, ``.dcm``, a folder (DICOM series), ``.mha``/``.nrrd``,
    ``.png``, ``.tif``/``.tiff``, ``.jpg`` (an 8-bit preview: ``io.raster``).

    The output appears all at once or not at all, and an existing output is replaced only with ``force``.
    ``options`` go to the format's writer (e.g. ``compression`` for TIFF and ITK formats, ``transfer_syntax``
    and ``encoding`` for DICOM).  Returns what the writer reports: a ``dicom.DicomWrite`` for DICOM (sizes and
    the pixels the files decode to), else ``None``.
    """
    path = Path(path)
    return _writer_for(path)(native_byte_order(volume), path, force=force, **options)


__all__ = ["read_volume", "write_volume", "is_dicom_output", "file_suffix", "DICOM_SUFFIXES", "NIFTI_SUFFIXES", "PNG_SUFFIXES",
           "TIFF_SUFFIXES"]
