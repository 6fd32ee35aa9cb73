"""PNG (imagecodecs) and TIFF (tifffile) <-> Volume; JPEG previews.

PNG holds one 2D image, grey or RGB, 8 or 16 bits unsigned, and no geometry; a palette PNG whose
palette is all grey is read as the grey image it is (libpng expands any palette to RGB, three times
the size).  TIFF holds stacks of any of MedComp's integer types; the TIFFs written here keep the
geometry and the true bit depth in tifffile's JSON image description, so they read back with the
same spacing, origin and direction.

A PNG is written exact (the stored values, 8 or 16 bits) where PNG can hold them, which is unsigned data;
signed data (CT in HU), a ``window`` or a ``.jpg`` give an 8-bit preview in a display window instead
(:func:`preview_window` says which), since a viewer shows those and PNG cannot store negative values.
``exact=True`` refuses to write anything but the stored values.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Iterator

import imagecodecs
import numpy as np
import tifffile

from ..errors import MedCompError, ReadError, UnsupportedDataError
from ..fileio import atomic_path
from ..volume import Volume
from ..windows import Window, display_window, preview

JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_QUALITY = 95  # a preview to look at: high enough that its own artefacts do not pass for the codec's
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_PALETTE = 3  # the IHDR colour type of an indexed-colour image


def _volume(array: np.ndarray, path: Path, **fields: Any) -> Volume:
    try:
        return Volume(array, **fields)
    except UnsupportedDataError as error:
        raise UnsupportedDataError(f"{path}: {error}") from None


def _png_header_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(type, body)`` of the chunks before the image data (IHDR, PLTE, ...), never past the bytes present."""
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8:position + 8 + length]
        if kind == b"IDAT" or len(body) < length:
            return
        yield kind, body
        position += 12 + length  # length, type, body, CRC


def _has_grey_palette(data: bytes) -> bool:
    """Whether a PNG is indexed-colour with every palette entry grey (R == G == B)."""
    chunks = dict(_png_header_chunks(data))
    header, palette = chunks.get(b"IHDR", b""), chunks.get(b"PLTE", b"")
    if len(header) < 10 or header[9] != PNG_PALETTE or len(palette) < 3:
        return False
    entries = np.frombuffer(palette, np.uint8, count=len(palette) // 3 * 3).reshape(-1, 3)
    return bool(np.all(entries == entries[:, :1]))


def read_png(path: str | os.PathLike) -> Volume:
    """Read a PNG as a one-slice volume (grey or RGB; grey+alpha and RGBA are refused).

    A grey palette comes back as the grey values it maps to, so the image keeps one channel.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        array = imagecodecs.png_decode(data)
    except OSError as error:
        raise ReadError(f"{path}: cannot read ({error.strerror})") from None
    except (imagecodecs.PngError, ValueError) as error:
        raise ReadError(f"{path}: not a readable PNG file ({error})") from None
    if array.ndim == 3 and array.shape[-1] == 3 and _has_grey_palette(data):
        array = np.ascontiguousarray(array[..., 0])
    return _volume(array[np.newaxis], path, metadata={"format": "png"})


def preview_window(volume: Volume, path: str | os.PathLike, window: Window | str | None = None,
                   exact: bool = False) -> Window | None:
    """The window a PNG or JPEG of ``volume`` is shown in, or ``None`` when it holds the stored values exactly.

    Exact: a PNG of unsigned data without a ``window``.  A preview: signed data, a ``window``, any JPEG; its
    window is ``windows.display_window`` (the one asked for, the file's own, a CT preset, or the values' range).
    """
    if volume.num_slices != 1:
        raise MedCompError(f"cannot write {path}: {Path(path).suffix.lstrip('.').upper()} holds one image and this "
                           f"volume has {volume.num_slices} slices; pick one (--slices N), or write .tif, .nii.gz "
                           "or a DICOM series")
    jpeg = Path(path).suffix.lower() in JPEG_SUFFIXES
    if exact:
        if window is not None:
            raise MedCompError("an exact image has no display window: give --window or --exact, not both")
        if jpeg:
            raise MedCompError(f"cannot write {path} exactly: JPEG is lossy; write .png (unsigned data), .tif or "
                               ".nii.gz")
        if volume.signed:
            raise UnsupportedDataError(f"cannot write {path} exactly: PNG stores unsigned pixels only, this volume "
                                       f"is {volume.dtype.name}; leave out --exact for an 8-bit preview in a "
                                       "display window, or write .tif or .nii.gz")
        return None
    if window is None and not volume.signed and not jpeg:
        return None
    return display_window(volume, window)


def _pixels(volume: Volume, window: Window | None) -> np.ndarray:
    """The one slice as stored, or as 8-bit grey levels in ``window``."""
    return np.ascontiguousarray(volume.array[0] if window is None else preview(volume, volume.array[0], window))


def write_png(volume: Volume, path: str | os.PathLike, *, force: bool = False, window: Window | str | None = None,
              exact: bool = False, **options: Any) -> None:
    """Write a one-slice volume as PNG, exact or as a preview (:func:`preview_window`); ``options`` go to
    ``imagecodecs.png_encode`` (e.g. ``level``)."""
    data = imagecodecs.png_encode(_pixels(volume, preview_window(volume, path, window, exact)), **options)
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(data)


def write_jpeg(volume: Volume, path: str | os.PathLike, *, force: bool = False, window: Window | str | None = None,
               exact: bool = False, level: int = JPEG_QUALITY) -> None:
    """Write a one-slice volume as an 8-bit JPEG preview in a display window (:func:`preview_window`)."""
    data = imagecodecs.jpeg8_encode(_pixels(volume, preview_window(volume, path, window, exact)), level=level)
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(data)


def _slices_rows_cols(array: np.ndarray, axes: str) -> np.ndarray:
    """Reorder tifffile's axes to (slices, rows, cols[, samples]), all non-image axes folded into slices."""
    others = [i for i, axis in enumerate(axes) if axis not in "YXS"]
    image = [axes.index("Y"), axes.index("X")] + ([axes.index("S")] if "S" in axes else [])
    array = np.transpose(array, others + image)
    return array.reshape((-1,) + array.shape[len(others):])


def read_tiff(path: str | os.PathLike) -> Volume:
    """Read the first image series of a TIFF; geometry and bit depth come back if this module wrote them."""
    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            array = _slices_rows_cols(series.asarray(), series.axes)
            described = (tif.shaped_metadata or ({},))[0] if tif.is_shaped else {}
    except OSError as error:
        raise ReadError(f"{path}: cannot read ({error.strerror or error})") from None
    except (tifffile.TiffFileError, ValueError, IndexError) as error:
        raise ReadError(f"{path}: not a readable TIFF file ({error})") from None
    geometry = {key: described[key] for key in ("spacing", "origin", "direction") if key in described}
    if "direction" in geometry:
        geometry["direction"] = np.asarray(geometry["direction"], float).reshape(3, 3)
    return _volume(array, path, bits_stored=described.get("bits_stored"), metadata={"format": "tiff"}, **geometry)


def write_tiff(volume: Volume, path: str | os.PathLike, *, force: bool = False, **options: Any) -> None:
    """Write a (multi-page) TIFF with the geometry and true bit depth in its description.

    ``options`` go to ``tifffile.imwrite`` (e.g. ``compression="zlib"``, lossless).
    """
    description = {**volume.geometry(), "bits_stored": volume.bits_stored}
    photometric = "rgb" if volume.channels == 3 else "minisblack"
    with atomic_path(path, force) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(volume.array), photometric=photometric, metadata=description,
                         **options)
