"""Checking a coded copy before its series counts as archived: decode what was written, compare with the source.

The output is read back from the files themselves, through the same readers a user would use (a DICOM
reader, or ``.mcz`` decoding), never from what the writer kept in memory.  Lossless must give the source's
pixels bit for bit; near-lossless (a max-error target) at most that error anywhere; lossy must decode at
the PSNR the library reported (and reach a PSNR target, within rate control's tolerance).  The copy must
also still belong to the source's patient and study.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from .. import api, metrics
from ..errors import MedCompError
from ..ratecontrol import PSNR_TOLERANCE
from ..volume import Volume
from .job import Coded, Job

REPORTED_PSNR_TOLERANCE = 0.01  # dB: the library's figure and the one measured here come from the same pixels
IDENTITY_TAGS = {"00100020": "Patient ID", "0020000D": "Study Instance UID"}
KINDS = ("lossless", "near-lossless", "lossy")  # from best to worst


class VerificationError(MedCompError):
    """A coded copy that does not decode to what it must: its series is not archived."""


@dataclasses.dataclass(frozen=True)
class Verification:
    """What decoding the written copy showed."""

    kind: str  # one of KINDS
    max_error: int
    psnr: float | None  # None for lossless

    def text(self) -> str:
        if self.kind == "lossless":
            return "lossless, bit for bit"
        figures = f"max |error| {self.max_error}" + (f", PSNR {self.psnr:.2f} dB" if self.psnr is not None else "")
        return f"{self.kind}, {figures}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def combine(checks: list["Verification"]) -> "Verification":
        """One figure for a series coded in several parts: the worst kind, the largest error, the lowest PSNR."""
        kind = max((check.kind for check in checks), key=KINDS.index)
        psnrs = [check.psnr for check in checks if check.psnr is not None]
        return Verification(kind, max(check.max_error for check in checks), min(psnrs) if psnrs else None)


def _identity(volume: Volume) -> set[tuple[str, Any]]:
    """(tag, value) of the identity tags in every DICOM header a volume carries."""
    files = ((volume.metadata.get("dicom") or {}).get("files")) or []
    found = set()
    for entry in files:
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        for tag in IDENTITY_TAGS:
            element = dataset.get(tag) if isinstance(dataset, dict) else None
            if isinstance(element, dict):
                found.add((tag, str(element.get("Value"))))
    return found


def _check_identity(source: Volume, copy: Volume, output: str | os.PathLike) -> None:
    if _identity(copy) - _identity(source):
        names = sorted({IDENTITY_TAGS[tag] for tag, _ in _identity(copy) - _identity(source)})
        raise VerificationError(f"{output}: the copy's {' and '.join(names)} differ from the source's")


def verify(source: Volume, output: str | os.PathLike, coded: Coded, job: Job) -> Verification:
    """Decode ``output`` and check it against ``source``; a :class:`VerificationError` says what is wrong."""
    copy = api.read(output)
    if copy.array.shape != source.array.shape:
        raise VerificationError(f"{output}: decodes to shape {copy.array.shape}, not the source's {source.array.shape}")
    _check_identity(source, copy, output)
    error = int(metrics.max_abs_error(source.array, copy.array))
    if coded.lossless:
        if error:
            raise VerificationError(f"{output}: a lossless copy that is not bit for bit (max |error| {error})")
        return Verification("lossless", 0, None)
    psnr = float(metrics.psnr(source.array, copy.array, bits_stored=source.bits_stored))
    if job.target is not None and job.target.kind == "max_error":
        if error > job.target.value:
            raise VerificationError(f"{output}: max |error| {error}, above the {job.target.value} asked")
        return Verification("near-lossless" if error else "lossless", error, psnr if math.isfinite(psnr) else None)
    if coded.psnr is not None and not abs(psnr - coded.psnr) <= REPORTED_PSNR_TOLERANCE:
        raise VerificationError(f"{output}: decodes at {psnr:.2f} dB, not the {coded.psnr:.2f} dB reported")
    if job.target is not None and job.target.kind == "psnr" and psnr < job.target.value - PSNR_TOLERANCE:
        raise VerificationError(f"{output}: decodes at {psnr:.2f} dB, below the {job.target.value:g} dB asked")
    if not np.isfinite(psnr):
        return Verification("lossless", 0, None)
    return Verification("lossy", error, psnr)
