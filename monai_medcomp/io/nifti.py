"""NIfTI-1 and NIfTI-2 files <-> Volume (nibabel), keeping the stored integers and the whole header.

NIfTI data is indexed (i, j, k) = (x, y, z) with a RAS affine; a Volume is (slices, rows, columns) =
(k, j, i) with LPS geometry, so reading transposes the axes and flips the first two world axes.  The
header is kept byte for byte (base64) with its extensions, and written back unchanged (scl_slope/inter,
qform/sform and their codes, zooms, description) whenever the volume's geometry still matches it.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.lib.recfunctions import structured_to_unstructured, unstructured_to_structured
from nibabel.nifti1 import Nifti1Extension, Nifti1Header, Nifti1Image
from nibabel.nifti2 import Nifti2Header, Nifti2Image
from nibabel.openers import ImageOpener

from ..errors import MetadataError, ReadError, UnsupportedDataError
from ..fileio import atomic_path
from ..volume import LPS_TO_RAS, Volume
from .metadata import expect, invalid, library_errors, rescale, section
from .slice_spacing import check_even_slices

FORMAT = "nifti"
RGB24 = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
_HEADERS = {348: Nifti1Header, 540: Nifti2Header}


def _load(path: Path) -> Nifti1Image:
    try:
        image = nib.load(path)
    except OSError as error:
        raise ReadError(f"{path}: cannot read ({error.strerror or error})") from None
    except Exception as error:  # nibabel's ImageFileError and damaged gzip streams
        raise ReadError(f"{path}: not a readable NIfTI file ({error})") from None
    if not isinstance(image, (Nifti1Image, Nifti2Image)):
        raise ReadError(f"{path}: not a NIfTI file ({type(image).__name__})")
    return image


def _raw_header(path: Path, image: Nifti1Image) -> Nifti1Header:
    """The header as stored on disk: nibabel's loaded header has scl_slope/inter moved into the data proxy."""
    with ImageOpener(path) as f:
        return type(image.header).from_fileobj(f)


def _select_volume(data: np.ndarray, path: Path, volume_index: int | None) -> np.ndarray:
    """The 3D volume to read from data of 4 or more dimensions (time points, echoes...)."""
    if data.ndim <= 3:
        return data
    stack = data.reshape(data.shape[:3] + (-1,))
    if stack.shape[3] == 1:
        return stack[..., 0]
    if volume_index is None:
        raise UnsupportedDataError(f"{path}: image of shape {data.shape} holds {stack.shape[3]} volumes; "
                                   "choose one with --volume-index N (volume_index= in Python)")
    if not -stack.shape[3] <= volume_index < stack.shape[3]:
        raise UnsupportedDataError(f"{path}: volume_index={volume_index} is out of range ({stack.shape[3]} volumes)")
    return stack[..., volume_index]


def read_nifti(path: str | os.PathLike, volume_index: int | None = None) -> Volume:
    """Read a NIfTI file's stored integers (``get_unscaled``) and geometry.

    ``volume_index`` picks one 3D volume of a 4D (or higher) image; without it such an image is refused.
    """
    path = Path(path)
    image = _load(path)
    raw = _raw_header(path, image)
    data = _select_volume(np.asarray(image.dataobj.get_unscaled()), path, volume_index)
    if data.dtype == RGB24:
        data = structured_to_unstructured(data)
    while data.ndim < 3:
        data = data[..., np.newaxis]
    axes = (2, 1, 0, 3)[:data.ndim]
    array = np.ascontiguousarray(np.transpose(data, axes))
    metadata: dict[str, Any] = {"format": FORMAT, "nifti": {
        "header": base64.b64encode(raw.binaryblock).decode("ascii"),
        "extensions": [{"code": int(ext.code), "content": base64.b64encode(ext.content).decode("ascii")}
                       for ext in raw.extensions],
        "shape": list(image.shape), "volume_index": volume_index}}
    slope, inter = raw.get_slope_inter()
    if slope is not None or inter is not None:
        metadata["rescale"] = {"slope": 1.0 if slope is None else float(slope),
                               "intercept": 0.0 if inter is None else float(inter)}
    try:
        return Volume.from_lps_affine(array, LPS_TO_RAS @ image.affine, metadata=metadata)
    except UnsupportedDataError as error:
        raise UnsupportedDataError(f"{path}: {error}") from None


def _stored_bytes(field: str, value: Any) -> bytes:
    """Bytes stored as base64 text in the metadata."""
    expect(field, value, str, "base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise invalid(field, "base64 text", value) from None


def _source_header(volume: Volume) -> Nifti1Header | None:
    """The NIfTI header the volume was read from, with its extensions, if it came from NIfTI."""
    stored = section(volume, FORMAT, "nifti")
    if stored is None:
        return None
    block = _stored_bytes("nifti.header", stored.get("header"))
    if len(block) not in _HEADERS:
        raise MetadataError(f"invalid metadata.nifti.header: {len(block)} bytes, not a NIfTI-1 (348) or NIfTI-2 (540) "
                            "header")
    extensions = expect("nifti.extensions", stored.get("extensions", []), list, "a list")
    with library_errors("nifti.header", "not a NIfTI header"):
        header = _HEADERS[len(block)](block)
    for number, ext in enumerate(extensions):
        field = f"nifti.extensions[{number}]"
        expect(field, ext, dict, "an object with code and content")
        code = expect(f"{field}.code", ext.get("code"), int, "an integer")
        content = _stored_bytes(f"{field}.content", ext.get("content"))
        with library_errors(field, "not a NIfTI extension"):
            header.extensions.append(Nifti1Extension(code, content))
    return header


def _nifti_data(volume: Volume) -> np.ndarray:
    """Pixels in NIfTI order (i, j, k); RGB as the RGB24 record type."""
    data = np.transpose(volume.array, (2, 1, 0, 3)[:volume.array.ndim])
    if volume.channels == 1:
        return np.ascontiguousarray(data)
    if volume.dtype != np.uint8:
        raise UnsupportedDataError(f"NIfTI stores colour only as 8-bit RGB, not {volume.dtype.name} RGB")
    return unstructured_to_structured(np.ascontiguousarray(data), RGB24)


def _set_affine(image: Nifti1Image, affine: np.ndarray, qform_code: int = 1, sform_code: int = 1) -> None:
    """Store ``affine`` in both qform and sform; code 1 (scanner) unless the source said otherwise, since
    MedComp geometry is the scanner's patient coordinate system (and code 0 would make readers ignore it)."""
    image.set_qform(affine, code=qform_code or 1)
    image.set_sform(affine, code=sform_code or 1)


def _build_image(volume: Volume) -> Nifti1Image:
    data = _nifti_data(volume)
    affine = volume.ras_affine
    source = _source_header(volume)
    if source is None:
        image = Nifti1Image(data, None)
        _set_affine(image, affine)
        image.header.set_xyzt_units("mm")
        slope_intercept = rescale(volume)
        if slope_intercept:
            image.header.set_slope_inter(*slope_intercept)
    else:
        image_class = Nifti2Image if isinstance(source, Nifti2Header) else Nifti1Image
        image = image_class(data, None, header=source)
        header = image.header
        if np.allclose(source.get_best_affine(), affine, atol=1e-4):
            header["pixdim"] = source["pixdim"]  # keeps qfac and the zooms of dimensions beyond the third
        else:
            _set_affine(image, affine, int(source["qform_code"]), int(source["sform_code"]))
        header["scl_slope"], header["scl_inter"] = source["scl_slope"], source["scl_inter"]
    image.set_data_dtype(data.dtype)
    return image


def write_nifti(volume: Volume, path: str | os.PathLike, *, force: bool = False) -> None:
    """Write ``volume`` as NIfTI (``.nii`` or gzipped ``.nii.gz``): the source header if it has one, else a
    new header whose qform and sform (scanner code) hold the geometry and whose scl_slope/inter hold the
    source's rescaling.  A volume whose DICOM source spaced its slices unevenly is refused (one affine
    cannot place them)."""
    check_even_slices(volume, path, "NIfTI")
    with library_errors("nifti", "a header nibabel cannot write"):
        image = _build_image(volume)
        with atomic_path(path, force) as tmp:
            nib.save(image, tmp)
