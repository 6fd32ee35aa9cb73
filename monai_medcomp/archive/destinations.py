"""Where coded series go: a folder laid out ``STUDY_UID/SERIES_UID/``, or a DICOMweb server (STOW-RS).

A series is coded and verified in a staging folder first and only then put in place, all at once: into the
output folder by one rename (the staging folder lies inside the output folder, on the same file system),
or to a PACS by one STOW-RS request whose answer must name every instance as stored.  A task killed
half-way leaves only its staging folder, which the next attempt at the same series removes (the series
is claimed in the manifest, so no other task is working on it); the run removes what is left of series
it no longer holds.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pydicom

from ..errors import MedCompError
from .dicomweb import SOP_INSTANCE, DicomWeb, DicomWebError, is_url, json_value
from .sources import SeriesRef

STAGING = ".medcomp-staging"


class FolderDestination:
    """An output folder: ``STUDY_UID/SERIES_UID/`` per series (the source's UIDs, checked when found)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def final(self, ref: SeriesRef) -> Path:
        return self.root / ref.study_uid / ref.series_uid

    @contextlib.contextmanager
    def staging(self, ref: SeriesRef) -> Iterator[Path]:
        """An empty folder for this series' output; an earlier attempt's leftovers are removed first."""
        base = self.root / STAGING
        for leftover in base.glob(f"{ref.series_uid}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        work = base / f"{ref.series_uid}-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)  # makes the staging folder again if another run's tidy() just removed it
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def place(self, ref: SeriesRef, output: Path) -> str:
        """Move the verified ``output`` folder into place, replacing a copy that an interrupted run left
        unrecorded (the manifest, not the folder, says what is archived)."""
        final = self.final(ref)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.replace(final, output.parent / "replaced")  # removed with the staging folder
        os.replace(output, final)
        return str(final)

    def tidy(self, running: Callable[[], set[str]]) -> None:
        """Remove staging left by series that no run holds (``running()``: the Series UIDs held now).

        The folder is listed before asking who holds what: a task makes its staging only after its run
        claimed the series, so an entry listed belongs to a claim that ``running()`` still sees if it is live.
        """
        base = self.root / STAGING
        if not base.is_dir():
            return
        entries = list(base.iterdir())
        held = running()
        for entry in entries:
            if entry.name.rsplit("-", 1)[0] not in held:
                shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()


class PacsDestination:
    """A DICOMweb server that receives the coded series by STOW-RS."""

    def __init__(self, url: str):
        self.pacs = DicomWeb(url)

    def __str__(self) -> str:
        return self.pacs.url

    @contextlib.contextmanager
    def staging(self, ref: SeriesRef) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="medcomp-stow-") as work:
            yield Path(work)

    def place(self, ref: SeriesRef, output: Path) -> str:
        """STOW-RS the files of ``output``; every instance sent must be named as stored in the answer, and then
        be found in the PACS by QIDO-RS (a PACS may answer "stored" for an instance that a filter dropped:
        Orthanc does)."""
        files = sorted(path for path in output.rglob("*") if path.is_file())
        instances = [path.read_bytes() for path in files]
        headers = [pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True) for data in instances]
        sent = {str(ds.SOPInstanceUID) for ds in headers}
        study, series = str(headers[0].StudyInstanceUID), str(headers[0].SeriesInstanceUID)
        answer = self.pacs.store(instances, study)
        if answer.failed:
            uid, reason = next(iter(answer.failed.items()))
            raise DicomWebError(f"the PACS refused {len(answer.failed)} of {len(sent)} instances (first: {uid}: "
                                f"{reason})")
        missing = sent - set(answer.stored)
        if missing:
            raise DicomWebError(f"the PACS did not confirm {len(missing)} of {len(sent)} instances as stored")
        found = self.pacs.search(f"studies/{study}/series/{series}/instances", {})
        missing = sent - {json_value(item, SOP_INSTANCE) for item in found}
        if missing:
            raise DicomWebError(f"the PACS answered that it stored the series, but {len(missing)} of {len(sent)} "
                                "instances are not in it (refused by a filter?)")
        return f"{self.pacs.url}/studies/{study}/series/{series}"

    def tidy(self, running: Callable[[], set[str]]) -> None:
        """Nothing to remove: staging is local to each task."""


Destination = FolderDestination | PacsDestination


def open_destination(location: str, dicom: bool) -> Destination:
    """The destination at ``location``; a PACS takes DICOM only (``dicom``: the job writes DICOM)."""
    if is_url(location):
        if not dicom:
            raise MedCompError("a DICOMweb destination stores DICOM: choose a codec with a standard transfer syntax "
                               "(jpegls, jpeg2000, htj2k, jpegxl, jpeg, ljpeg), or a folder for .mcz")
        return PacsDestination(location)
    return FolderDestination(location)
