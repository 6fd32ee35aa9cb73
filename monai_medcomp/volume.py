"""The Volume: stored integer pixels plus the geometry and source metadata needed to write them back.

Axis conventions (one for the whole library):

* ``array`` is ``(slices, rows, columns)`` for grey data and ``(slices, rows, columns, channels)`` for
  RGB; a 2D image is a volume of one slice.
* Geometry follows ITK/DICOM in LPS millimetres, indexed ``(i, j, k) = (column, row, slice)``:
  ``spacing`` and ``origin`` are ``(x, y, z)`` triples and the columns of ``direction`` are the LPS
  directions of the i, j and k axes.  ``lps_affine`` / ``ras_affine`` give the 4x4 index-to-world maps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .errors import UnsupportedDataError

SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def check_pixel_dtype(dtype: np.dtype | str) -> np.dtype:
    """Return ``dtype`` if MedComp can code it exactly, else raise a clear :class:`UnsupportedDataError`."""
    dtype = np.dtype(dtype)
    if dtype.name not in SUPPORTED_DTYPES:
        kind = "floating-point" if dtype.kind == "f" else dtype.name
        raise UnsupportedDataError(
            f"unsupported pixel data type {dtype.name} ({kind}): MedComp codes stored integers of 8 to 16 bits "
            f"({', '.join(SUPPORTED_DTYPES)}); read stored values instead of rescaled floats, or cast explicitly"
        )
    return dtype


@dataclasses.dataclass
class Volume:
    """Integer image data of 8 to 16 bits with its geometry and the metadata of the file it came from."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(3))
    bits_stored: int | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        check_pixel_dtype(array.dtype)
        if array.ndim == 2:
            array = array[np.newaxis]
        if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3)):
            raise UnsupportedDataError(
                f"unsupported image shape {array.shape}: expected (rows, cols), (slices, rows, cols) "
                "or (slices, rows, cols, 3) for RGB"
            )
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        if 0 in array.shape:
            raise UnsupportedDataError(f"empty image of shape {array.shape}")
        self.array = array
        self.spacing = tuple(float(v) for v in self.spacing)
        self.origin = tuple(float(v) for v in self.origin)
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        full_bits = array.dtype.itemsize * 8
        if self.bits_stored is None:
            self.bits_stored = full_bits
        self.bits_stored = int(self.bits_stored)
        if not 1 <= self.bits_stored <= full_bits:
            raise UnsupportedDataError(f"bits_stored={self.bits_stored} is not possible for {array.dtype.name} data")

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def signed(self) -> bool:
        return self.array.dtype.kind == "i"

    @property
    def channels(self) -> int:
        return self.array.shape[3] if self.array.ndim == 4 else 1

    @property
    def num_slices(self) -> int:
        return self.array.shape[0]

    @property
    def value_range(self) -> tuple[int, int]:
        """The range the stored bits allow (e.g. -8192..8191 for a signed 14-bit CT)."""
        if self.signed:
            return -(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1
        return 0, (1 << self.bits_stored) - 1

    @property
    def dynamic_range(self) -> int:
        """The peak used by PSNR: the full range of the true bit depth."""
        return (1 << self.bits_stored) - 1

    @property
    def lps_affine(self) -> np.ndarray:
        affine = np.eye(4)
        affine[:3, :3] = self.direction * np.asarray(self.spacing)[np.newaxis, :]
        affine[:3, 3] = self.origin
        return affine

    @property
    def ras_affine(self) -> np.ndarray:
        return LPS_TO_RAS @ self.lps_affine

    @classmethod
    def from_lps_affine(cls, array: np.ndarray, affine: np.ndarray, **kwargs: Any) -> "Volume":
        """Build a Volume from a 4x4 (i, j, k) -> LPS affine, splitting it into spacing and direction."""
        affine = np.asarray(affine, dtype=float)
        spacing = np.linalg.norm(affine[:3, :3], axis=0)
        spacing[spacing == 0] = 1.0
        return cls(array, spacing=tuple(spacing), origin=tuple(affine[:3, 3]),
                   direction=affine[:3, :3] / spacing, **kwargs)

    def slice_origin(self, index: int) -> tuple[float, float, float]:
        """Where slice ``index`` lies (LPS mm): the origin of a volume that starts at that slice."""
        return tuple(float(v) for v in np.asarray(self.origin) + self.direction[:, 2] * self.spacing[2] * index)

    def geometry(self) -> dict[str, Any]:
        """Geometry as plain JSON values (what the container stores)."""
        return {"spacing": list(self.spacing), "origin": list(self.origin),
                "direction": self.direction.ravel().tolist()}

    def with_array(self, array: np.ndarray, **changes: Any) -> "Volume":
        """A copy with other pixels (e.g. a reconstruction) and the same geometry and metadata."""
        fields = dict(spacing=self.spacing, origin=self.origin, direction=self.direction.copy(),
                      bits_stored=self.bits_stored, metadata=dict(self.metadata))
        fields.update(changes)
        return Volume(array, **fields)
