"""Where the series of an archive come from: a folder tree of DICOM files, or a DICOMweb server.

Finding series reads headers only (a folder: each file's identifying tags, pixel data skipped; a PACS:
QIDO-RS), so planning a large archive is fast; the pixels are fetched by the task that codes them
(:func:`fetch`), on whichever Dask worker runs it.  A :class:`SeriesRef` is all a task needs to fetch its
series, and is plain data, so it travels to workers on other machines.

Studies and series come from the headers, never from folder names: a tree may be nested any way and its
files named anything.  Files that are not DICOM images (a README, a DICOMDIR, a structured report, a
file whose header does not parse, a second copy of an instance) are skipped and listed with the reason.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Iterator

import pydicom

from ..errors import MedCompError
from .dicomweb import (MODALITY, SERIES_INSTANCES, SERIES_UID, STUDY_DATE, STUDY_UID, DicomWeb, check_uid, is_url,
                       json_value)

_IDENTITY = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality", "PixelData"]
_PREAMBLE = 128


@dataclasses.dataclass(frozen=True)
class SeriesRef:
    """One series to archive: its UIDs, how many instances it has, and where its instances are."""

    study_uid: str
    series_uid: str
    modality: str
    instances: int | None  # None: the PACS did not say (the task counts what it fetches)
    source: str  # the folder or DICOMweb root it was found in
    files: tuple[str, ...] = ()  # a folder source: the instance files

    @property
    def key(self) -> str:
        return f"{self.study_uid}/{self.series_uid}"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A file of a folder source that is not archived, and why."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which studies and series of a PACS to archive (QIDO-RS matching, PS3.18 8.3.4)."""

    study_uids: tuple[str, ...] = ()
    date_range: str | None = None  # YYYYMMDD-YYYYMMDD, either end open
    modality: str | None = None

    def __post_init__(self) -> None:
        for uid in self.study_uids:
            check_uid(uid, "study")
        if self.date_range is not None:
            start, dash, end = self.date_range.partition("-")
            if not dash or not (start or end) or not all(part == "" or (part.isdigit() and len(part) == 8)
                                                         for part in (start, end)):
                raise MedCompError(f"a date range is YYYYMMDD-YYYYMMDD (either end may be left open), not "
                                   f"{self.date_range!r}")
        if self.modality is not None and not (self.modality.isalnum() and len(self.modality) <= 16):
            raise MedCompError(f"a modality is a DICOM code such as CT or MR, not {self.modality!r}")

    @property
    def empty(self) -> bool:
        return not self.study_uids and self.date_range is None and self.modality is None


def _identity(path: Path) -> pydicom.Dataset | str:
    """The identifying tags of a DICOM image file, or the reason it is skipped."""
    try:
        with open(path, "rb") as f:
            if f.read(_PREAMBLE + 4)[_PREAMBLE:] != b"DICM":
                return "not a DICOM file (no 'DICM' prefix)"
        with warnings.catch_warnings():  # what is wrong with a file is its reason, listed once, not a warning
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, specific_tags=_IDENTITY, defer_size=1024)
    except OSError as error:
        return f"cannot read ({error.strerror})"
    except Exception as error:  # a damaged header: pydicom raises many kinds
        return f"damaged DICOM header ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    if "PixelData" not in ds:
        return "a DICOM file without pixel data (not an image)"
    for keyword in _IDENTITY[:3]:
        try:
            check_uid(str(ds.get(keyword, "")), keyword)
        except MedCompError as error:
            return str(error)
    return ds


def _files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` in a stable order; links to folders are not followed (no loops)."""
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                yield path


def find_in_folder(root: str | os.PathLike) -> tuple[list[SeriesRef], list[Skipped]]:
    """The series of a folder tree, grouped by Study and Series Instance UID, and the files skipped; paths are
    absolute, since the tasks that read them run in other processes (and on other machines: the same path)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise MedCompError(f"the source {root} is not a folder")
    groups: dict[tuple[str, str], list[tuple[Path, pydicom.Dataset]]] = {}
    seen: dict[str, Path] = {}
    skipped = []
    for path in _files(root):
        found = _identity(path)
        if isinstance(found, str):
            skipped.append(Skipped(str(path), found))
            continue
        sop = str(found.SOPInstanceUID)
        if sop in seen:
            skipped.append(Skipped(str(path), f"a second copy of instance {sop} (first: {seen[sop]})"))
            continue
        seen[sop] = path
        groups.setdefault((str(found.StudyInstanceUID), str(found.SeriesInstanceUID)), []).append((path, found))
    refs = [SeriesRef(study, series, str(items[0][1].get("Modality", "")), len(items), str(root),
                      tuple(str(path) for path, _ in items))
            for (study, series), items in sorted(groups.items())]
    return refs, skipped


def find_in_pacs(url: str, filters: Filters) -> list[SeriesRef]:
    """The series of a DICOMweb server that match ``filters`` (QIDO-RS: studies, then each study's series)."""
    pacs = DicomWeb(url)
    study_filters = {"StudyDate": filters.date_range} if filters.date_range else {}
    if filters.modality:
        study_filters["ModalitiesInStudy"] = filters.modality
    if filters.study_uids:
        studies = [item for uid in filters.study_uids
                   for item in pacs.search("studies", {**study_filters, "StudyInstanceUID": uid})]
    else:
        studies = pacs.search("studies", study_filters)
    series_filters = {"includefield": SERIES_INSTANCES}
    if filters.modality:
        series_filters["Modality"] = filters.modality
    refs: dict[str, SeriesRef] = {}  # by key: a PACS may list a study once per patient it was filed under
    study_uids = []
    for study in studies:
        study_uid = check_uid(json_value(study, STUDY_UID), "the server's Study Instance UID")
        date = json_value(study, STUDY_DATE)
        if filters.date_range and date is not None and not _in_range(str(date), filters.date_range):
            continue  # a server that ignores the date filter must not widen the archive
        if study_uid not in study_uids:
            study_uids.append(study_uid)
    for study_uid in study_uids:
        for series in pacs.search(f"studies/{study_uid}/series", series_filters):
            series_uid = check_uid(json_value(series, SERIES_UID), "the server's Series Instance UID")
            modality = str(json_value(series, MODALITY) or "")
            if filters.modality and modality and modality != filters.modality:
                continue
            ref = SeriesRef(study_uid, series_uid, modality, _count(json_value(series, SERIES_INSTANCES)), pacs.url)
            refs[ref.key] = ref
    return sorted(refs.values(), key=lambda ref: ref.key)


def _in_range(date: str, date_range: str) -> bool:
    start, _, end = date_range.partition("-")
    return (not start or date >= start) and (not end or date <= end)


def _count(value: object) -> int | None:
    """Number of Series Related Instances, when the server gives a sensible one."""
    try:
        count = int(str(value))
    except ValueError:
        return None
    return count if count > 0 else None


def find_series(source: str, filters: Filters) -> tuple[list[SeriesRef], list[Skipped]]:
    """The series of ``source`` (a folder or a DICOMweb root) and the files skipped (folders only)."""
    if is_url(source):
        return find_in_pacs(source, filters), []
    if not filters.empty:
        raise MedCompError("--study, --dates and --modality filter a DICOMweb source; a folder is archived whole")
    return find_in_folder(source)


def fetch(ref: SeriesRef) -> list[bytes]:
    """The bytes of every instance of ``ref``, as its source holds them."""
    if is_url(ref.source):
        return DicomWeb(ref.source).retrieve_series(ref.study_uid, ref.series_uid)
    instances = []
    for name in ref.files:
        try:
            instances.append(Path(name).read_bytes())
        except OSError as error:
            raise MedCompError(f"{name}: cannot read ({error.strerror})") from None
    return instances
