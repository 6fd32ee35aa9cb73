"""Turn what a researcher has at hand into a Volume: a path, an integer array, a MONAI MetaTensor or a Volume.

Also the display units of a volume (Hounsfield units for CT), so that window / level and the error
map read in the units a radiologist knows rather than in stored integers.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from monai_medcomp import api
from monai_medcomp.errors import MedCompError, UnsupportedDataError
from monai_medcomp.volume import LPS_TO_RAS, SUPPORTED_DTYPES, Volume, check_pixel_dtype


def load_volume(source: Any) -> Volume:
    """A Volume from a path (DICOM file or series folder, NIfTI, ``.mcz``...), an array, a MetaTensor or a Volume."""
    if isinstance(source, Volume):
        return source
    if _is_metatensor(source):
        return volume_from_metatensor(source)
    if isinstance(source, np.ndarray):
        return Volume(source)
    if isinstance(source, (str, os.PathLike)):
        return api.read(source)
    raise MedCompError(f"cannot explore a {type(source).__name__}: give a file or folder path, an integer "
                       "array, a MONAI MetaTensor or a monai_medcomp Volume")


def _is_metatensor(source: Any) -> bool:
    # Checked by name first so that plain inputs never pay for importing MONAI's data module.
    if type(source).__name__ != "MetaTensor":
        return False
    from monai.data import MetaTensor

    return isinstance(source, MetaTensor)


def volume_from_metatensor(tensor: Any) -> Volume:
    """A Volume from a MONAI MetaTensor: ``(x, y[, z])`` or channel-first ``(C, x, y[, z])``, RAS affine.

    MONAI indexes (i, j, k) = (column, row, slice) and keeps a RAS affine (``meta["space"]`` may say LPS);
    a Volume is (slices, rows, columns) in LPS.  A channel axis is recognised from ``meta["spatial_shape"]``
    when LoadImage set it, else assumed for 4D tensors.  MONAI loads as float32 by default: floats that hold
    whole numbers in a 16-bit range are taken as those integers, anything else is refused.
    """
    array = tensor.detach().cpu().numpy()
    spatial_shape = tensor.meta.get("spatial_shape")
    spatial_dims = len(np.asarray(spatial_shape).ravel()) if spatial_shape is not None else min(array.ndim, 3)
    if array.ndim == spatial_dims + 1:
        array = np.moveaxis(array, 0, -1)  # channels last, as a Volume keeps them
    elif array.ndim != spatial_dims:
        raise UnsupportedDataError(f"cannot explore a MetaTensor of shape {tuple(array.shape)}: expected "
                                   "(x, y[, z]) or channel-first (C, x, y[, z])")
    if spatial_dims == 2:
        array = array[:, :, np.newaxis, ...]
    channels = array.shape[3:]
    array = np.ascontiguousarray(np.transpose(array, (2, 1, 0) + tuple(range(3, 3 + len(channels)))))
    affine = np.asarray(tensor.affine, dtype=float)
    if affine.shape != (4, 4):
        affine = np.eye(4)
    if str(tensor.meta.get("space", "RAS")).upper() != "LPS":
        affine = LPS_TO_RAS @ affine  # the flip is its own inverse: RAS -> LPS
    return Volume.from_lps_affine(whole_numbers(array), affine)


def whole_numbers(array: np.ndarray) -> np.ndarray:
    """Integer data as it is; floats that hold whole numbers, as the smallest supported integer type."""
    if array.dtype.kind != "f":
        return array
    if np.all(np.isfinite(array)) and np.array_equal(array, np.round(array)):
        low, high = float(array.min()), float(array.max())
        for name in SUPPORTED_DTYPES:
            info = np.iinfo(name)
            if info.min <= low and high <= info.max:
                return array.astype(name)
    check_pixel_dtype(array.dtype)  # raises the library's message about floating-point data
    return array


@dataclasses.dataclass(frozen=True)
class Units:
    """How stored values map to what the image means: ``value = slope * stored + intercept``."""

    slope: float = 1.0
    intercept: float = 0.0
    name: str = "stored values"

    def apply(self, stored: np.ndarray) -> np.ndarray:
        return stored.astype(np.float64) * self.slope + self.intercept


def display_units(volume: Volume) -> Units:
    """Hounsfield units for CT, the rescaled values when the file has a rescale, else stored values."""
    rescale = volume.metadata.get("rescale") or {}
    slope, intercept = float(rescale.get("slope", 1.0)), float(rescale.get("intercept", 0.0))
    if volume.metadata.get("modality") == "CT" and rescale:
        return Units(slope, intercept, "HU")
    if (slope, intercept) != (1.0, 0.0):
        return Units(slope, intercept, "rescaled values")
    return Units()
