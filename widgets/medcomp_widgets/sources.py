"""Turn what a researcher has at hand into a Volume: a path, an integer array, a MONAI MetaTensor or a Volume."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from monai_medcomp import api
from monai_medcomp.errors import MedCompError, UnsupportedDataError
from monai_medcomp.volume import LPS_TO_RAS, SUPPORTED_DTYPES, Volume, check_pixel_dtype


def load_volume(source: Any, series_uid: str | None = None, volume_index: int | None = None) -> Volume:
    """A Volume from a path (DICOM file or series folder, NIfTI, ``.mcz``...), an array, a MetaTensor or a Volume;
    ``series_uid`` and ``volume_index`` choose within a folder of several series or a 4D NIfTI, as
    :func:`monai_medcomp.api.read` takes them (its errors name them)."""
    if isinstance(source, Volume):
        return source
    if _is_metatensor(source):
        return volume_from_metatensor(source)
    if isinstance(source, np.ndarray):
        return Volume(source)
    if isinstance(source, (str, os.PathLike)):
        return api.read(source, series_uid=series_uid, volume_index=volume_index)
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
