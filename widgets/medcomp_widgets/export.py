"""Saving what the explorer shows: the current result as ``.mcz``, the rate-distortion points as CSV,
the plot as PNG.  Every file is written atomically and never over an existing file without ``force``."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Iterable, Mapping, Sequence

from monai_medcomp.errors import MedCompError
from monai_medcomp.fileio import atomic_write

from .measure import Point

CSV_COLUMNS = ("codec", "role", "setting", "params", "file_bpp", "payload_bpp", "ratio", "space_saving", "psnr",
               "ssim", "max_abs_error", "encode_seconds", "decode_seconds", "note", "error")


def write_mcz(point: Point, path: str | os.PathLike, force: bool = False) -> None:
    """The compressed slice of one operating point, as the library wrote it (decodes with ``medcomp``)."""
    if point.data is None:
        raise MedCompError(f"no compressed result to save for {point.codec}: {point.error or 'not computed yet'}")
    atomic_write(path, point.data, force=force)


def rd_rows(curves: Mapping[str, Sequence[Point]], points: Mapping[str, Point]) -> Iterable[dict]:
    """One row per measured point: each curve's points, then each codec's current operating point."""
    roles = [("curve", point) for curve in curves.values() for point in curve]
    roles += [("current", point) for point in points.values()]
    for role, point in roles:
        yield {"codec": point.codec, "role": role, "setting": point.setting.label,
               "params": json.dumps(point.params, sort_keys=True), "file_bpp": point.file_bpp,
               "payload_bpp": point.payload_bpp, "ratio": point.ratio, "space_saving": point.space_saving,
               "psnr": point.psnr, "ssim": point.ssim, "max_abs_error": point.max_abs_error,
               "encode_seconds": point.encode_seconds, "decode_seconds": point.decode_seconds,
               "note": point.note or "", "error": point.error or ""}


def write_csv(curves: Mapping[str, Sequence[Point]], points: Mapping[str, Point], path: str | os.PathLike,
              force: bool = False) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rd_rows(curves, points))
    atomic_write(path, buffer.getvalue().encode("utf-8"), force=force)


def write_png(png: bytes | None, path: str | os.PathLike, force: bool = False) -> None:
    if not png:
        raise MedCompError("no plot to save yet")
    atomic_write(path, png, force=force)
