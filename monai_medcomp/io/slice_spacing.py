"""Whether a volume's DICOM source placed its slices evenly, before a format with one slice spacing is written.

A DICOM series (or an enhanced multi-frame file) gives every slice its own position, and the gaps may
differ: a missing slice, a change of table speed, a stack put together from two acquisitions.  A
Volume keeps one spacing (from the first slice to the last, averaged), which DICOM output never uses: it
writes each slice's own position back.  NIfTI and the ITK formats hold only that one spacing, so there
an uneven stack would silently misplace slices; their writers refuse it with :func:`check_even_slices`.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UnsupportedDataError
from ..volume import Volume
from .dicom import frame_planes, header_from_json

# How far one slice step may differ from the mean step: 1 % of it, and never less than 0.01 mm
# (positions are stored as decimal strings of limited precision).
RELATIVE_TOLERANCE = 0.01
ABSOLUTE_TOLERANCE_MM = 0.01


def slice_positions(volume: Volume) -> np.ndarray | None:
    """The LPS position of each slice as its DICOM source stated it, or None when unknown.

    Unknown: no DICOM source, a slice without a position, or fewer or more positions than slices (a
    partial decode keeps the source's headers of every slice).
    """
    dicom = volume.metadata.get("dicom")
    if not isinstance(dicom, dict) or not isinstance(dicom.get("files"), list):
        return None
    planes = [plane for number, entry in enumerate(dicom["files"])
              for plane in frame_planes(header_from_json(entry, f"dicom.files[{number}]"))]
    if len(planes) != volume.num_slices or any(plane.position is None for plane in planes):
        return None
    return np.array([plane.position for plane in planes], dtype=np.float64)


def uneven_slices(volume: Volume) -> str | None:
    """A sentence on how the source's slice steps differ, or None when they are even (or unknown)."""
    positions = slice_positions(volume)
    if positions is None or len(positions) < 3:
        return None
    steps = np.diff(positions, axis=0)
    mean_step = steps.mean(axis=0)
    deviation = np.linalg.norm(steps - mean_step, axis=1)
    tolerance = max(ABSOLUTE_TOLERANCE_MM, RELATIVE_TOLERANCE * float(np.linalg.norm(mean_step)))
    if deviation.max() <= tolerance:
        return None
    gaps = np.linalg.norm(steps, axis=1)
    worst = int(deviation.argmax())
    return (f"its {len(positions)} slices are not evenly spaced in the DICOM source: gaps from {gaps.min():.4g} "
            f"to {gaps.max():.4g} mm (mean {np.linalg.norm(mean_step):.4g} mm; the step from slice {worst} to "
            f"{worst + 1} is off by {deviation[worst]:.4g} mm)")


def check_even_slices(volume: Volume, path: str | os.PathLike, format_name: str) -> None:
    """Refuse to write ``volume`` to a one-spacing format when its source slices are unevenly spaced."""
    reason = uneven_slices(volume)
    if reason is not None:
        raise UnsupportedDataError(
            f"cannot write {path}: {reason}. {format_name} holds one slice spacing, so slices would be misplaced; "
            "write DICOM instead (a .dcm file or a folder), which keeps every slice's position, or resample "
            "the series to even spacing first")
