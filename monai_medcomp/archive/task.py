"""One archive task: fetch a series, code it, verify the copy, put it in place; runs on a Dask worker.

A task is a function of its inputs (the series, the job, the destination) and returns a
:class:`SeriesResult`; it keeps no state and records nothing: the client writes the result into the
manifest, so a task that dies (its worker killed) has changed nothing that counts, and Dask runs it
again elsewhere.  What a user can cause (a damaged file, a refusing PACS, a full disk) comes back as a
failed result with a one-line reason, so one bad series never stops the others.

A series is coded as one volume when it reads as one (slices of one geometry, or one multi-frame file);
otherwise (localisers at other angles, mixed sizes, several multi-frame files) each instance is coded
on its own, keeping its header.  Either way every output is verified before the series is put in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import pydicom

from .. import api
from ..errors import MedCompError, ReadError
from ..fileio import safe_file_name
from ..io import DICOM_SUFFIXES
from ..volume import Volume
from .destinations import open_destination
from .job import Job, code
from .sources import SeriesRef, fetch
from .verify import Verification, verify

SERIES_FOLDER = "series"


@dataclasses.dataclass
class SeriesResult:
    """What a task did to one series: sizes and digests of both sides, where the copy is, how it verified."""

    key: str
    ok: bool
    reason: str | None = None
    instances: int = 0
    source_bytes: int = 0
    source_digest: str | None = None
    output: str | None = None
    output_bytes: int = 0
    output_digest: str | None = None
    output_files: int = 0
    verification: dict[str, Any] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""


def digest(blobs: Iterable[bytes]) -> str:
    """SHA-256 of a set of files, independent of their order and names: of their sorted SHA-256s."""
    return hashlib.sha256("\n".join(sorted(hashlib.sha256(blob).hexdigest() for blob in blobs)).encode()).hexdigest()


def reason(error: BaseException) -> str:
    """One line for a failure: the file system's error with its path, or our message."""
    if isinstance(error, OSError) and not isinstance(error, MedCompError) and error.strerror:
        return f"{error.strerror}" + (f" ({error.filename})" if error.filename else "")
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _instance_names(ref: SeriesRef, instances: list[bytes]) -> list[str]:
    """File names for the instances: the source's when each is a safe, distinct name; else the SOP Instance
    UIDs; checked to belong to the series first (a source may change after planning, a PACS may answer wrong)."""
    headers = []
    for number, data in enumerate(instances):
        try:
            headers.append(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                                           specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]))
        except Exception as error:
            where = ref.files[number] if ref.files else f"instance {number + 1}"
            raise ReadError(f"{where}: damaged DICOM header ({reason(error)})") from None
    for ds in headers:
        if (str(ds.get("StudyInstanceUID")), str(ds.get("SeriesInstanceUID"))) != (ref.study_uid, ref.series_uid):
            raise MedCompError(f"the source sent instance {ds.get('SOPInstanceUID')} of another series")
    names = [safe_file_name(Path(path).name) for path in ref.files]
    if len(names) == len(instances) and None not in names and len({n.casefold() for n in names}) == len(names):
        return [name if Path(name).suffix.lower() in DICOM_SUFFIXES else f"{name}.dcm" for name in names]
    uids = [str(ds.get("SOPInstanceUID", "")) for ds in headers]
    if len(set(uids)) == len(uids) and all(safe_file_name(uid) for uid in uids):
        return [f"{uid}.dcm" for uid in uids]
    return [f"{number:05d}.dcm" for number in range(1, len(instances) + 1)]


def _units(folder: Path, names: list[str]) -> list[tuple[Volume, str | None]]:
    """The volumes to code, each with its output file name (None: the whole series folder)."""
    try:
        volume = api.read(folder)
    except ReadError:
        if len(names) == 1:
            raise
        return [(api.read(folder / name), name) for name in names]
    layout = (volume.metadata.get("dicom") or {}).get("layout")
    return [(volume, names[0] if layout == "file" else None)]


def _output_path(out: Path, name: str | None, job: Job) -> Path:
    if job.dicom:
        return out if name is None else out / name
    return out / (f"{SERIES_FOLDER}.mcz" if name is None else f"{Path(name).stem}.mcz")


def archive_series(ref: SeriesRef, job: Job, destination: str) -> SeriesResult:
    """Archive one series; never raises for what a user can cause (see the module's docstring)."""
    started = time.perf_counter()
    result = SeriesResult(ref.key, ok=False, worker=f"{socket.gethostname()}:{os.getpid()}")
    work = ""
    try:
        instances = fetch(ref)
        result.instances = len(instances)
        result.source_bytes = sum(len(data) for data in instances)
        result.source_digest = digest(instances)
        if not instances:
            raise MedCompError("the source holds no instances of this series (any more)")
        if ref.instances is not None and len(instances) != ref.instances:
            raise MedCompError(f"the source holds {len(instances)} instances of this series now, "
                               f"{ref.instances} when it was planned")
        names = _instance_names(ref, instances)
        dest = open_destination(destination, job.dicom)
        with tempfile.TemporaryDirectory(prefix="medcomp-archive-") as work, dest.staging(ref) as staging:
            source = Path(work)
            for name, data in zip(names, instances):
                (source / name).write_bytes(data)
            out = staging / SERIES_FOLDER
            units = _units(source, names)
            if len(units) > 1 or units[0][1] is not None or not job.dicom:
                out.mkdir()
            checks = []
            for volume, name in units:
                path = _output_path(out, name, job)
                coded = code(volume, path, job)
                checks.append(verify(volume, path, coded, job))
                result.notes += [note for note in coded.notes if note not in result.notes]
            outputs = [path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()]
            result.output_files, result.output_bytes = len(outputs), sum(len(data) for data in outputs)
            result.output_digest = digest(outputs)
            result.verification = Verification.combine(checks).to_json()
            result.output = dest.place(ref, out)
        result.ok = True
    except (MedCompError, OSError) as error:
        text = reason(error)  # name a file by its name, not by the task's temporary copy
        result.reason = text.replace(work + os.sep, "") if work else text
    result.seconds = time.perf_counter() - started
    return result
