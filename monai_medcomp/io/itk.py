"""MetaImage (.mha/.mhd) and NRRD (.nrrd/.nhdr) <-> Volume through ITK, an optional dependency.

ITK already uses MedComp's conventions (LPS; spacing, origin and direction indexed x, y, z; arrays
(z, y, x)), so geometry passes through unchanged.  The file's string fields (ITK's metadata dictionary)
are kept in ``metadata["itk"]`` and written back, except those the ITK writer sets itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import MedCompError, ReadError, UnsupportedDataError
from ..fileio import atomic_path
from ..volume import Volume
from .metadata import invalid, section
from .slice_spacing import check_even_slices

FORMAT = "itk"
# ITK component type names -> ITK pixel types that MedComp codes (ITK's Python packages do not wrap int8).
COMPONENT_TYPES = {"unsigned_char": "UC", "unsigned_short": "US", "short": "SS"}
# Fields the ITK IO classes write from the image itself; copying old values would contradict the pixels.
_WRITER_OWNED_PREFIXES = ("ITK_", "NRRD_")
# MetaImage's own header fields: a copy written as an extra field would come first and win (ElementDataFile
# would make the written file's pixels those of another file).
_METAIMAGE_FIELDS = frozenset(name.casefold() for name in (
    "ObjectType", "ObjectSubType", "NDims", "DimSize", "ElementType", "ElementNumberOfChannels", "ElementDataFile",
    "HeaderSize", "HeaderSizePerSlice", "CompressedData", "CompressedDataSize", "BinaryData",
    "BinaryDataByteOrderMSB", "ElementByteOrderMSB", "ElementSpacing", "ElementSize", "Offset", "Position", "Origin",
    "TransformMatrix", "Rotation", "Orientation", "CenterOfRotation", "AnatomicalOrientation", "ElementMin",
    "ElementMax", "ElementToIntensityFunctionSlope", "ElementToIntensityFunctionOffset"))
# A field is one header line: a line break in a stored key or value would add fields of its own.
_NOT_IN_A_FIELD = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_A_KEY = re.compile(r"[\x00-\x1f\x7f=:]")


def _itk() -> ModuleType:
    try:
        import itk
    except ImportError:
        raise MedCompError("reading and writing .mha/.mhd/.nrrd files needs ITK: "
                           "pip install monai_medcomp[itk]") from None
    return itk


def _image_type(itk: ModuleType, path: Path) -> Any:
    """The ITK image type that holds the file's pixels, found from its header alone."""
    image_io = itk.ImageIOFactory.CreateImageIO(str(path), itk.CommonEnums.IOFileMode_ReadMode)
    if image_io is None:
        raise ReadError(f"{path}: not a file ITK can read")
    image_io.SetFileName(str(path))
    try:
        image_io.ReadImageInformation()
    except RuntimeError as error:
        raise ReadError(f"{path}: damaged {path.suffix} header ({str(error).strip().splitlines()[-1]})") from None
    component = image_io.GetComponentTypeAsString(image_io.GetComponentType())
    if component not in COMPONENT_TYPES:
        raise UnsupportedDataError(f"{path}: unsupported pixel type {component}: MedComp codes stored integers "
                                   f"of 8 to 16 bits that ITK can wrap ({', '.join(COMPONENT_TYPES)})")
    components, dims = image_io.GetNumberOfComponents(), image_io.GetNumberOfDimensions()
    if dims not in (2, 3) or components not in (1, 3):
        raise UnsupportedDataError(f"{path}: {dims}D image with {components} components per pixel; MedComp reads "
                                   "2D or 3D images, grey or RGB")
    pixel = getattr(itk, COMPONENT_TYPES[component])
    return itk.Image[pixel, dims] if components == 1 else itk.VectorImage[pixel, dims]


def _string_fields(image: Any) -> dict[str, str]:
    dictionary = image.GetMetaDataDictionary()
    fields = {}
    for key in dictionary.GetKeys():
        value = dictionary[key]
        if isinstance(value, str):
            fields[key] = value
    return fields


def _embed(values: Any, fill: float = 0.0) -> np.ndarray:
    """A 2D image's spacing, origin (padded with ``fill``) or direction grown to 3D, the slice axis along z."""
    values = np.asarray(values, float)
    if values.ndim == 2:
        out = np.eye(3)
        out[:values.shape[0], :values.shape[1]] = values
        return out
    return np.concatenate([values, np.full(3 - len(values), fill)])


def read_itk(path: str | os.PathLike) -> Volume:
    """Read a 2D or 3D grey or RGB MetaImage/NRRD file with its geometry."""
    path = Path(path)
    itk = _itk()
    reader = itk.ImageFileReader[_image_type(itk, path)].New(FileName=str(path))
    try:
        reader.Update()
    except RuntimeError as error:
        raise ReadError(f"{path}: cannot read pixels ({str(error).strip().splitlines()[-1]})") from None
    image = reader.GetOutput()
    array = itk.array_from_image(image)
    if image.GetImageDimension() == 2:
        array = array[np.newaxis]
    metadata = {"format": FORMAT, "itk": _string_fields(image)}
    return Volume(array, spacing=tuple(_embed(image.GetSpacing(), fill=1.0)), origin=tuple(_embed(image.GetOrigin())),
                  direction=_embed(itk.array_from_matrix(image.GetDirection())), metadata=metadata)


def _copied_fields(volume: Volume) -> dict[str, str]:
    """The stored string fields to write back: one-line texts, less those the writer owns."""
    fields = section(volume, FORMAT, "itk") or {}
    copied = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not key or _NOT_IN_A_KEY.search(key):
            raise invalid("itk", "field names without line breaks, '=' or ':'", key)
        if key.startswith(_WRITER_OWNED_PREFIXES) or key.strip().casefold() in _METAIMAGE_FIELDS:
            continue
        if not isinstance(value, str) or _NOT_IN_A_FIELD.search(value):
            raise invalid(f"itk[{key!r}]", "one line of text", value)
        copied[key] = value
    return copied


def write_itk(volume: Volume, path: str | os.PathLike, *, force: bool = False, compression: bool = False) -> None:
    """Write ``.mha`` or ``.nrrd`` (pixels in the same file, so the write is atomic); ``compression`` is
    ITK's lossless zlib option.  A volume whose DICOM source spaced its slices unevenly is refused."""
    check_even_slices(volume, path, "The ITK image format")
    itk = _itk()
    if volume.dtype == np.int8:
        raise UnsupportedDataError(f"cannot write {path}: ITK's Python packages do not wrap int8 images; "
                                   "write .nii.gz or .tif instead")
    image = itk.image_from_array(np.ascontiguousarray(volume.array), is_vector=volume.channels == 3)
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(volume.direction)))
    dictionary = image.GetMetaDataDictionary()
    for key, value in _copied_fields(volume).items():
        dictionary[key] = value
    with atomic_path(path, force) as tmp:
        itk.imwrite(image, str(tmp), compression=compression)
