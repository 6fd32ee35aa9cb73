"""DICOM files, multi-frame files and series folders <-> Volume, keeping every header field (pydicom).

Reading keeps the stored integers (``pixel_array``: never rescaled, palette indices stay indices, YBR colour
arrives as RGB; JPEG-XL, which pydicom cannot decode, through ``dicom_frames``) and the whole header of every
file as DICOM JSON (PS3.18 Annex F), file meta included, in ``metadata["dicom"]``.  Writing puts the pixels
back into those headers, uncompressed Explicit VR Little Endian by default or in any transfer syntax of
``dicom_syntax``, so a lossless round trip gives the same tags and the same pixel values; a lossy one is
a new, derived image, marked the way PS3.3 C.7.6.1.1.5 asks (``dicom_derived``).  Every file is read back
and decoded before it takes its name: a lossless one must give the pixels bit for bit, and the writer
returns what a lossy one decodes to.  A volume that did not come from DICOM gets a minimal Secondary
Capture header carrying its geometry.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import unicodedata
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit, SecondaryCaptureImageStorage,
                         generate_uid)
from pydicom.valuerep import DSfloat

from ..errors import MedCompError, MetadataError, ReadError, UnsupportedDataError
from ..fileio import atomic_path, check_output, make_temporary_folder, paths_inside, safe_file_name
from ..volume import Volume
from . import dicom_derived, dicom_frames
from .dicom_syntax import LOSSLESS_SYNTAX, TransferSyntax, get_syntax
from .metadata import expect, first_line, invalid, library_errors, rescale, section

FORMAT = "dicom"
PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)  # Float and Double Float Pixel Data
# Binary header elements larger than this are dropped from the metadata (and listed) rather than inlined:
# a private blob of many megabytes per slice would dwarf the compressed pixels.
MAX_INLINE_BYTES = 4 << 20
_DROPPED = "dropped"
BAD_VALUE = "a header value DICOM cannot hold"
GREY_PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
# pylibjpeg-libjpeg upsamples YCbCr 4:2:2 chroma without interpolation: its 8-bit lossy JPEG pixels differ by
# up to 28 from those of libjpeg-turbo, dcmtk and GDCM (which agree to +-1), so those are read with
# libjpeg-turbo through Pillow: what MedComp reports of a lossy JPEG is what the reference tools decode.
LOSSY_JPEG = (JPEGBaseline8Bit, JPEGExtended12Bit)
LOSSY_JPEG_DECODER = "pillow"
# Where each plane attribute of a frame lives in a functional group (else at the top level).
PLANE_KEYWORDS = (("PlanePositionSequence", "ImagePositionPatient"),
                  ("PlaneOrientationSequence", "ImageOrientationPatient"), ("PixelMeasuresSequence", "PixelSpacing"),
                  ("PixelMeasuresSequence", "SliceThickness"), ("PixelMeasuresSequence", "SpacingBetweenSlices"))
# Patient and study identity copied from a DICOM source into headers built from scratch.
STUDY_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                  "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
                  "Modality", "FrameOfReferenceUID")


# --- header <-> JSON --------------------------------------------------------------------------------------

def header_to_json(ds: Dataset) -> dict[str, Any]:
    """The file meta and every element but the pixels as DICOM JSON; huge binary elements listed as dropped.

    A lossy transfer syntax's step is added to the lossy history when the header lacks it: the pixels
    kept are decoded ones, which no longer carry their syntax (``dicom_derived.keep_syntax_history``).
    """
    header = Dataset()
    for element in ds:
        if element.tag != PIXEL_DATA and element.tag not in FLOAT_PIXEL_DATA:
            header.add(element)
    dicom_derived.keep_syntax_history(header, ds)
    dataset = header.to_json_dict(bulk_data_threshold=MAX_INLINE_BYTES,
                                  bulk_data_element_handler=lambda element: _DROPPED)
    entry = {"file_meta": ds.file_meta.to_json_dict() if hasattr(ds, "file_meta") else {},
             "dataset": dataset}
    dropped = _drop_bulk_elements(dataset)
    if dropped:
        entry["dropped"] = dropped
    return entry


def _drop_bulk_elements(json_dataset: dict[str, Any]) -> list[str]:
    """Remove the elements the bulk-data handler marked, in nested sequences too; return their tags."""
    dropped = []
    for tag in list(json_dataset):
        element = json_dataset[tag]
        if element.get("BulkDataURI") == _DROPPED:
            del json_dataset[tag]
            dropped.append(tag)
        elif element.get("vr") == "SQ":
            for item in element.get("Value", []):
                dropped += _drop_bulk_elements(item)
    return dropped


def header_from_json(entry: dict[str, Any], field: str = "dicom.files[0]") -> Dataset:
    """A Dataset (with its file meta) rebuilt from :func:`header_to_json`; ``field`` names ``entry`` in errors."""
    expect(field, entry, dict, "an object")
    dataset = expect(f"{field}.dataset", entry.get("dataset"), dict, "a DICOM JSON object")
    file_meta = expect(f"{field}.file_meta", entry.get("file_meta", {}), dict, "a DICOM JSON object")
    with library_errors(field, "not a DICOM header"):
        ds = Dataset.from_json(dataset)
        ds.file_meta = FileMetaDataset(Dataset.from_json(file_meta))
    return ds


def _header_values() -> contextlib.AbstractContextManager[None]:
    """Stored header values that pydicom cannot use (a wrong VR, type or size) fail when read or written out."""
    return library_errors("dicom", BAD_VALUE)


# --- geometry ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Plane:
    """Where one frame lies: what Image Plane (or Plane Position/Orientation) tags say, if anything."""

    orientation: np.ndarray | None  # 2 x 3: row direction (along a row), column direction (down a column)
    position: np.ndarray | None  # LPS of the first pixel
    pixel_spacing: tuple[float, float] | None  # (x, y) = (between columns, between rows)
    slice_gap: float | None  # Spacing Between Slices, else Slice Thickness


def functional_value(ds: Dataset, frame: int, sequence: str, keyword: str) -> Any:
    """``keyword`` for ``frame``: per-frame functional group, shared group, then the top-level element."""
    for groups, per_frame in ((ds.get("PerFrameFunctionalGroupsSequence"), True),
                              (ds.get("SharedFunctionalGroupsSequence"), False)):
        if not groups or (per_frame and frame >= len(groups)):
            continue
        items = groups[frame if per_frame else 0].get(sequence)
        if items and keyword in items[0]:
            return items[0][keyword].value
    return ds.get(keyword)


def num_frames(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def frame_planes(ds: Dataset) -> list[Plane]:
    """One :class:`Plane` per frame of ``ds``."""
    planes = []
    for frame in range(num_frames(ds)):
        orientation = functional_value(ds, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
        position = functional_value(ds, frame, "PlanePositionSequence", "ImagePositionPatient")
        spacing = (functional_value(ds, frame, "PixelMeasuresSequence", "PixelSpacing")
                   or ds.get("ImagerPixelSpacing"))
        gap = (functional_value(ds, frame, "PixelMeasuresSequence", "SpacingBetweenSlices")
               or functional_value(ds, frame, "PixelMeasuresSequence", "SliceThickness"))
        planes.append(Plane(
            orientation=np.asarray(orientation, float).reshape(2, 3) if orientation and len(orientation) == 6
            else None,
            position=np.asarray(position, float) if position and len(position) == 3 else None,
            pixel_spacing=(float(spacing[1]), float(spacing[0])) if spacing and len(spacing) == 2 else None,
            slice_gap=float(gap) if gap else None))
    return planes


def stack_geometry(planes: Sequence[Plane]) -> dict[str, Any]:
    """Spacing, origin and direction (LPS, columns = i, j, k axes) of planes stacked in the given order.

    The slice axis runs from the first plane's position to the last one's, so tilted stacks keep their
    voxel positions; without positions it is the plane normal with the slice gap as spacing.
    """
    first = planes[0]
    row, col = first.orientation if first.orientation is not None else np.eye(3)[:2]
    step = None
    if len(planes) > 1 and all(p.position is not None for p in planes):
        span = planes[-1].position - planes[0].position
        if np.linalg.norm(span) > 0:
            step = span / (len(planes) - 1)
    if step is None:
        normal = np.cross(row, col)
        step = normal / (np.linalg.norm(normal) or 1.0) * (first.slice_gap or 1.0)
    dz = float(np.linalg.norm(step))
    dx, dy = first.pixel_spacing or (1.0, 1.0)
    origin = first.position if first.position is not None else np.zeros(3)
    return {"spacing": (dx, dy, dz), "origin": tuple(origin),
            "direction": np.column_stack([row, col, step / dz])}


def _slice_order(datasets: Sequence[Dataset], folder: Path) -> list[int]:
    """Indices of ``datasets`` in slice order: by position along the normal, else by Instance Number.

    Positions decide the order; Instance Numbers, when present, decide which end comes first, so a
    volume whose slice axis runs against the plane normal (a left-handed NIfTI) reads back as written.
    """
    planes = [frame_planes(ds)[0] for ds in datasets]
    numbers = [int(ds.InstanceNumber) if ds.get("InstanceNumber") is not None else None for ds in datasets]
    if all(p.position is not None and p.orientation is not None for p in planes):
        normal = np.cross(*planes[0].orientation)
        along = np.array([p.position @ normal for p in planes])
        order = np.argsort(along, kind="stable")
        if np.min(np.diff(along[order])) < 1e-4:
            raise ReadError(f"{folder}: several slices share one position; the folder holds more than one "
                            "volume (echoes, phases or repeats): move each volume to its own folder")
        if None not in numbers and numbers[order[0]] > numbers[order[-1]]:
            order = order[::-1]
        return order.tolist()
    if None not in numbers:
        return sorted(range(len(datasets)), key=lambda i: numbers[i])
    return list(range(len(datasets)))


# --- reading ----------------------------------------------------------------------------------------------

def _load(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        raise ReadError(f"{path}: not a DICOM file (no 'DICM' prefix)") from None
    except OSError as error:
        raise ReadError(f"{path}: cannot read ({error.strerror})") from None
    except Exception as error:  # a damaged or truncated file: pydicom raises many kinds
        raise ReadError(f"{path}: damaged DICOM file ({error})") from None


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Stored pixels as (frames, rows, cols[, 3]); no rescale, palette indices kept, YBR as RGB."""
    if any(tag in ds for tag in FLOAT_PIXEL_DATA):
        raise UnsupportedDataError(f"{path}: floating-point pixel data (Float Pixel Data) is not supported")
    if PIXEL_DATA not in ds:
        sop_class = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
        kind = getattr(sop_class, "name", "image")
        if "Rows" in ds or "Image Storage" in kind:  # an image's header whose pixels never came: cut short
            raise ReadError(f"{path}: truncated or incomplete DICOM file: its header is that of a {kind}, but it "
                            f"holds no Pixel Data (the file ends after {path.stat().st_size} bytes)")
        raise ReadError(f"{path}: DICOM file without Pixel Data (not an image)")
    syntax = ds.file_meta.get("TransferSyntaxUID", "unknown transfer syntax")
    _check_complete(ds, path, syntax)
    try:
        if dicom_frames.is_jpegxl(str(syntax)):
            return dicom_frames.decode_jpegxl(ds, num_frames(ds))
        if syntax in LOSSY_JPEG and int(ds.get("BitsStored") or 0) <= 8:
            ds.pixel_array_options(decoding_plugin=LOSSY_JPEG_DECODER)
        array = ds.pixel_array
    except ReadError as error:
        raise ReadError(f"{path}: {error}") from None
    except Exception as error:
        raise ReadError(f"{path}: cannot decode the pixel data ({getattr(syntax, 'name', syntax)}): "
                        f"{first_line(error)}") from None
    return array if num_frames(ds) > 1 else array[np.newaxis]


def _check_complete(ds: Dataset, path: Path, syntax: Any) -> None:
    """A native image cut short, or a compressed one no installed plugin decodes, said as such."""
    if not getattr(syntax, "is_encapsulated", False):
        samples = int(ds.get("SamplesPerPixel") or 1)
        expected = num_frames(ds) * int(ds.Rows) * int(ds.Columns) * samples * int(ds.BitsAllocated) // 8
        if len(ds.PixelData) < expected:
            raise ReadError(f"{path}: truncated DICOM file: the Pixel Data holds {len(ds.PixelData)} of the "
                            f"{expected} bytes its header describes")
        return
    if dicom_frames.is_jpegxl(str(syntax)):
        return  # decoded by imagecodecs here, not by a pydicom plugin
    from pydicom.pixels import get_decoder  # pydicom 3: imported here so the library loads beside pydicom 2.4

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise ReadError(f"{path}: no decoder exists for its transfer syntax {getattr(syntax, 'name', syntax)} "
                        f"({syntax})") from None
    if not decoder.is_available:
        wanted = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise ReadError(f"{path}: cannot decode {getattr(syntax, 'name', syntax)} ({syntax}): no installed plugin "
                        f"decodes it; install one ({wanted})")


def bits_needed(array: np.ndarray) -> int:
    """Bits a stored value of ``array`` needs (sign bit included for signed data)."""
    low, high = int(array.min()), int(array.max())
    if array.dtype.kind == "i":
        return max(high.bit_length(), (-low - 1).bit_length() if low < 0 else 0) + 1
    return max(1, high.bit_length())


def _bits_stored(datasets: Sequence[Dataset], array: np.ndarray) -> int:
    """Bits Stored, raised to what the values need when a file stores more than it declares."""
    declared = max(int(ds.get("BitsStored") or 0) for ds in datasets)
    return min(max(declared, bits_needed(array)), array.dtype.itemsize * 8)


def _summary(ds: Dataset) -> dict[str, Any]:
    """The header facts front-ends ask first, beside the full JSON header."""
    summary: dict[str, Any] = {"modality": ds.get("Modality"),
                               "photometric_interpretation": ds.get("PhotometricInterpretation")}
    slope = functional_value(ds, 0, "PixelValueTransformationSequence", "RescaleSlope")
    intercept = functional_value(ds, 0, "PixelValueTransformationSequence", "RescaleIntercept")
    if slope is not None or intercept is not None:
        summary["rescale"] = {"slope": float(slope if slope is not None else 1.0),
                              "intercept": float(intercept if intercept is not None else 0.0)}
    return summary


def _volume(array: np.ndarray, datasets: Sequence[Dataset], planes: Sequence[Plane], layout: str,
            entries: list[dict[str, Any]], path: Path) -> Volume:
    geometry = stack_geometry(planes)
    metadata = {"format": FORMAT, **_summary(datasets[0]), "dicom": {"layout": layout, "files": entries}}
    try:
        return Volume(array, bits_stored=_bits_stored(datasets, array), metadata=metadata, **geometry)
    except UnsupportedDataError as error:
        raise UnsupportedDataError(f"{path}: {error}") from None


def read_dicom_file(path: str | os.PathLike) -> Volume:
    """Read one DICOM file, single- or multi-frame (frames become slices, in stored order)."""
    path = Path(path)
    ds = _load(path)
    array = _pixels(ds, path)
    return _volume(array, [ds], frame_planes(ds), "file", [header_to_json(ds)], path)


def _is_dicom_file(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(132)[128:] == b"DICM"


def _series_datasets(folder: Path, series_uid: str | None) -> list[tuple[Path, Dataset]]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and _is_dicom_file(p))
    images = [(p, ds) for p in files for ds in [_load(p)] if PIXEL_DATA in ds]
    if not images:
        raise ReadError(f"{folder}: no DICOM image files in this folder")
    by_series: dict[str, list[tuple[Path, Dataset]]] = {}
    for item in images:
        by_series.setdefault(str(item[1].get("SeriesInstanceUID", "")), []).append(item)
    if series_uid is not None:
        if series_uid not in by_series:
            raise ReadError(f"{folder}: no series {series_uid}; present: {', '.join(sorted(by_series))}")
        return by_series[series_uid]
    if len(by_series) > 1:
        counts = ", ".join(f"{uid} ({len(items)} files)" for uid, items in sorted(by_series.items()))
        raise ReadError(f"{folder}: the folder holds {len(by_series)} series ({counts}); pick one with --series-uid UID (series_uid= in Python)")
    return images


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None) -> Volume:
    """Read a folder of single-frame DICOM files as one volume, slices ordered along the plane normal.

    ``series_uid`` picks one series when the folder holds several.  Files that are not DICOM images
    (hidden files, DICOMDIR, reports) are skipped.
    """
    folder = Path(folder)
    items = _series_datasets(folder, series_uid)
    if len(items) == 1:
        return read_dicom_file(items[0][0])
    if any(num_frames(ds) > 1 for _, ds in items):
        raise ReadError(f"{folder}: the folder mixes multi-frame files into a series; read each file on its own")
    items = [items[i] for i in _slice_order([ds for _, ds in items], folder)]
    slices = [_pixels(ds, path) for path, ds in items]
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise ReadError(f"{folder}: the files have different image sizes {sorted(shapes)}; not one volume")
    entries = [{**header_to_json(ds), "filename": path.name} for path, ds in items]
    datasets = [ds for _, ds in items]
    return _volume(np.concatenate(slices), datasets, [frame_planes(ds)[0] for ds in datasets], "series",
                   entries, folder)


# --- writing ----------------------------------------------------------------------------------------------

def _ds_values(values: Sequence[float]) -> list[DSfloat]:
    """Decimal strings of at most 16 characters, as VR DS requires."""
    return [DSfloat(float(v), auto_format=True) for v in values]


def _source_files(volume: Volume) -> tuple[str, list[Any]] | None:
    """``(layout, files)`` of ``metadata["dicom"]`` for a volume read from DICOM, checked; ``None`` otherwise."""
    dicom = section(volume, FORMAT, "dicom")
    if dicom is None:
        return None
    layout = dicom.get("layout")
    if layout not in ("series", "file"):
        raise invalid("dicom.layout", "'series' or 'file'", layout)
    files = expect("dicom.files", dicom.get("files"), list, "a list of headers")
    if not files or (layout == "file" and len(files) != 1):
        raise invalid("dicom.files", "one header per file" if layout == "series" else "one header", files)
    return layout, files


def _source_headers(volume: Volume) -> list[Dataset] | None:
    """The source headers matching the volume's slices (one multi-frame header, or one per slice), if any.

    ``metadata["compression"]["slices"]`` (a partial decode) selects the files or frames kept.
    """
    source = _source_files(volume)
    if source is None:
        return None
    layout, files = source
    selected = (volume.metadata.get("compression") or {}).get("slices")
    headers = [header_from_json(entry, f"dicom.files[{number}]") for number, entry in enumerate(files)]
    if layout == "series":
        if selected is not None:
            headers = [headers[i] for i in selected]
        return headers if len(headers) == volume.num_slices else None
    (header,) = headers
    frames = len(selected) if selected is not None and "NumberOfFrames" in header else num_frames(header)
    return [header] if frames == volume.num_slices else None


def _keep_frames(header: Dataset, selected: Sequence[int]) -> None:
    """Cut a multi-frame header down to the ``selected`` frames (a partial decode)."""
    header.NumberOfFrames = len(selected)
    if "PerFrameFunctionalGroupsSequence" in header:
        frames = header.PerFrameFunctionalGroupsSequence
        header.PerFrameFunctionalGroupsSequence = DicomSequence([frames[i] for i in selected])


def _study_of(volume: Volume) -> Dataset:
    """Patient and study identity of a DICOM source, to carry into headers built from scratch."""
    study = Dataset()
    files = _source_files(volume)
    if files is not None:
        source = header_from_json(files[1][0])
        for keyword in STUDY_KEYWORDS:
            if keyword in source:
                study.add(source[keyword])
    return study


def _new_headers(volume: Volume, count: int) -> list[Dataset]:
    """Minimal Secondary Capture headers for ``count`` files of one new series, with the source's identity."""
    study = _study_of(volume)
    series_uid, frame_uid = generate_uid(), study.get("FrameOfReferenceUID") or generate_uid()
    slope_intercept = rescale(volume)
    headers = []
    for number in range(1, count + 1):
        ds = Dataset()
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "", "", "", ""
        ds.StudyDate = ds.StudyTime = ds.StudyID = ds.AccessionNumber = ds.ReferringPhysicianName = ""
        ds.StudyInstanceUID = generate_uid()
        ds.Modality = "OT"
        ds.update(study)
        ds.SOPClassUID = SecondaryCaptureImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID, ds.FrameOfReferenceUID = series_uid, frame_uid
        ds.SeriesNumber, ds.InstanceNumber = 1, number
        ds.ConversionType = "WSD"
        ds.PatientOrientation = ""
        if slope_intercept:
            ds.RescaleIntercept, ds.RescaleSlope = _ds_values(slope_intercept[::-1])
            ds.RescaleType = "US"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        headers.append(ds)
    return headers


def _set_plane(ds: Dataset, volume: Volume, index: int) -> None:
    """Image Plane tags of slice ``index`` from the volume's geometry."""
    direction, spacing = volume.direction, volume.spacing
    ds.ImagePositionPatient = _ds_values(volume.slice_origin(index))
    ds.ImageOrientationPatient = _ds_values(np.concatenate([direction[:, 0], direction[:, 1]]))
    ds.PixelSpacing = _ds_values([spacing[1], spacing[0]])


def _same_geometry(volume: Volume, planes: Sequence[Plane]) -> bool:
    geometry = stack_geometry(planes)
    return (np.allclose(geometry["spacing"], volume.spacing, atol=1e-4)
            and np.allclose(geometry["origin"], volume.origin, atol=1e-3)
            and np.allclose(geometry["direction"], volume.direction, atol=1e-5))


@dataclasses.dataclass
class DicomWrite:
    """What a DICOM writer wrote: the transfer syntax, the files' sizes, and the pixels they decode to."""

    syntax: TransferSyntax
    file_nbytes: list[int]  # per file, in slice order
    pixel_nbytes: int  # the coded pixel data of all files (uncompressed syntaxes: the raw pixels)
    bits_stored: int  # as written (lossy JPEG raises it to 8 or 12)
    photometric: str
    lossy: bool  # the coded content is lossy (not only the syntax)
    decoded: np.ndarray  # (slices, rows, cols[, 3]) as a DICOM reader decodes the files

    @property
    def nbytes(self) -> int:
        return sum(self.file_nbytes)


def _photometric(ds: Dataset, volume: Volume) -> str:
    """The uncompressed Photometric Interpretation: RGB, or the source's grey one (else MONOCHROME2)."""
    if volume.channels == 3:
        return "RGB"
    source = ds.get("PhotometricInterpretation")
    return source if source in GREY_PHOTOMETRIC else "MONOCHROME2"


def _put_pixels(ds: Dataset, pixels: np.ndarray, volume: Volume, syntax: TransferSyntax,
                options: dict[str, Any]) -> dicom_frames.Frames:
    """Replace the pixels, coded in ``syntax``, keeping Number of Frames if it was there."""
    had_frames = "NumberOfFrames" in ds
    bits = max(volume.bits_stored, bits_needed(pixels))
    photometric = _photometric(ds, volume)
    frames = dicom_frames.encode_frames(pixels, syntax, options, bits_stored=bits, photometric=photometric)
    if frames.bits_stored <= 8 < pixels.dtype.itemsize * 8 and syntax.family == "jpeg":
        pixels = pixels.astype(np.uint8)  # 8-bit JPEG needs Bits Allocated 8 (PS3.5 Table 8.2.1-1)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # set_pixel_data takes uncompressed data
    ds.set_pixel_data(np.ascontiguousarray(pixels if had_frames else pixels[0]), photometric, bits,
                      generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = syntax.uid
    if syntax.encapsulated:
        dicom_frames.encapsulate_into(ds, frames)
        ds.PhotometricInterpretation = frames.photometric
        ds.BitsStored, ds.HighBit = frames.bits_stored, frames.bits_stored - 1
        if volume.channels == 3:
            ds.PlanarConfiguration = 0
    if had_frames:
        ds.NumberOfFrames = len(pixels)
    return frames


def code_in_memory(pixels: np.ndarray, volume: Volume, syntax: TransferSyntax, options: dict[str, Any]) -> bytes:
    """One slice ``pixels`` (1, rows, cols[, 3]) of ``volume`` as a minimal DICOM data set coded in ``syntax``:
    what rate control measures, so that it sees the pixels a written file decodes to (:func:`decode_in_memory`)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    if volume.metadata.get("photometric_interpretation") in GREY_PHOTOMETRIC:
        ds.PhotometricInterpretation = volume.metadata["photometric_interpretation"]
    _put_pixels(ds, pixels, volume, syntax, options)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def decode_in_memory(data: bytes) -> np.ndarray:
    """The pixels of :func:`code_in_memory`'s data set, decoded as a written file is."""
    return _pixels(pydicom.dcmread(io.BytesIO(data), force=True), Path("the coded slice"))


def _check_written(path: Path, pixels: np.ndarray, syntax: TransferSyntax, frames: dicom_frames.Frames) -> np.ndarray:
    """Decode the written file as a reader will; lossless content must give ``pixels`` bit for bit."""
    decoded = _pixels(_load(path), path)
    if decoded.shape != pixels.shape:
        raise MedCompError(f"{path}: the {syntax.name} file decodes to shape {decoded.shape}, not {pixels.shape}")
    if not frames.lossy and not np.array_equal(decoded, pixels):
        error = int(np.max(np.abs(decoded.astype(np.int64) - pixels.astype(np.int64))))
        raise MedCompError(f"the {syntax.describe()} file decodes to other pixels than were coded (max |error| "
                           f"{error}); nothing was written")
    return decoded


def _write_file(ds: Dataset, source: dicom_derived.Source | None, pixels: np.ndarray, volume: Volume,
                syntax: TransferSyntax, options: dict[str, Any], path: Path) -> tuple[dicom_frames.Frames, np.ndarray]:
    """Code, mark (``source``: what ``ds`` comes from, see ``dicom_derived.mark``), save and check one file."""
    frames = _put_pixels(ds, pixels, volume, syntax, options)
    dicom_derived.mark(ds, source, dicom_derived.lossy_steps(volume, ds, syntax, options, frames.lossy))
    _save(ds, path)
    return frames, _check_written(path, pixels, syntax, frames)


def _copy_frame(ds: Dataset, source: Dataset, frame: int, plane: bool) -> None:
    """Frame ``frame`` of ``source``: its Frame Laterality as Image Laterality (a file of its own says it at
    the image level) and, with ``plane``, the plane attributes it has, and only those: none is invented."""
    for sequence, keyword in PLANE_KEYWORDS if plane else ():
        value = functional_value(source, frame, sequence, keyword)
        if value not in (None, ""):
            setattr(ds, keyword, value)
    laterality = functional_value(source, frame, "FrameAnatomySequence", "FrameLaterality")
    if laterality:
        ds.ImageLaterality = laterality


def _prepare(headers: list[Dataset] | None, volume: Volume, count: int, frames_of: Dataset | None = None
             ) -> tuple[list[Dataset], list[dicom_derived.Source | None]]:
    """Headers ready for pixels, each with the source it comes from (taken before anything changes).

    The source's headers keep their geometry unless the volume's moved.  New headers get the volume's
    geometry; those holding the frames of the multi-frame ``frames_of`` copy its plane attributes instead
    (unless the volume moved), so a frame without a position gets none, and its laterality.
    """
    selected = (volume.metadata.get("compression") or {}).get("slices")
    if headers is None:
        headers = _new_headers(volume, count)
        frames = list(range(count) if selected is None else selected)
        copy_planes = frames_of is not None and (selected is not None
                                                 or _same_geometry(volume, frame_planes(frames_of)))
        if not copy_planes:
            for index, ds in enumerate(headers):
                _set_plane(ds, volume, index)
            if count == 1:
                headers[0].SliceThickness = _ds_values([volume.spacing[2]])[0]
        if frames_of is None:
            return headers, [None] * count
        for ds, frame in zip(headers, frames):
            _copy_frame(ds, frames_of, frame, plane=copy_planes)
        return headers, [dicom_derived.Source.of(frames_of, [frame]) for frame in frames]
    if selected is not None and _source_files(volume)[0] == "file" and "NumberOfFrames" in headers[0]:
        (header,) = headers  # some frames of a multi-frame file
        source = dicom_derived.Source.of(header, selected)
        _keep_frames(header, selected)
        return headers, [source]
    single_frames = all("NumberOfFrames" not in ds for ds in headers)
    if single_frames and selected is None and not _same_geometry(volume, [frame_planes(ds)[0] for ds in headers]):
        for index, ds in enumerate(headers):
            _set_plane(ds, volume, index)
    return headers, [dicom_derived.Source.of(ds) for ds in headers]


def _save(ds: Dataset, path: Path) -> None:
    """Encode in memory first: pydicom reports a value it cannot encode as an OSError, which must not pass
    for the file system's."""
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as error:
        raise MetadataError(f"invalid metadata.dicom: {BAD_VALUE} ({first_line(error)})") from None
    path.write_bytes(buffer.getvalue())


def write_dicom_file(volume: Volume, path: str | os.PathLike, *, force: bool = False,
                     transfer_syntax: str = LOSSLESS_SYNTAX, encoding: dict[str, Any] | None = None) -> DicomWrite:
    """Write one DICOM file: the source's single- or multi-frame header, or a new one for a single slice.

    ``transfer_syntax`` is a ``dicom_syntax`` name or UID; ``encoding`` its encoder options (see
    ``dicom_frames.encode_frames``).  A multi-slice volume that did not come from one multi-frame file is
    refused: write it as a series folder (a path without suffix) instead.
    """
    path = Path(path)
    syntax = get_syntax(transfer_syntax)
    with _header_values():
        headers = _source_headers(volume)
        if headers is not None and len(headers) != 1:
            headers = None
        if headers is None and volume.num_slices > 1:
            raise MedCompError(f"cannot write a {volume.num_slices}-slice volume to the single DICOM file {path}: "
                               "give a folder path (no suffix) for a DICOM series, or write .nii.gz")
        (ds,), (source,) = _prepare(headers, volume, 1)
        with atomic_path(path, force) as tmp:
            frames, decoded = _write_file(ds, source, volume.array, volume, syntax, encoding or {}, tmp)
            size = tmp.stat().st_size
    return DicomWrite(syntax, [size], _pixel_nbytes(frames, volume.array), frames.bits_stored, frames.photometric,
                      frames.lossy, decoded)


def _pixel_nbytes(frames: dicom_frames.Frames, pixels: np.ndarray) -> int:
    return frames.nbytes if frames.codestreams else pixels.nbytes


def _replaceable(target: Path) -> None:
    """With ``force``, only a folder of DICOM files is replaced: never a folder of other things by mistake."""
    if not target.is_dir():
        raise MedCompError(f"refusing to replace {target} with a DICOM series folder: it is not a folder")
    others = [p.name for p in target.iterdir() if not (p.is_file() and _is_dicom_file(p))]
    if others:
        raise MedCompError(f"refusing to replace the folder {target}: it holds things that are not DICOM files "
                           f"({', '.join(sorted(others)[:3])})")


@contextlib.contextmanager
def _atomic_folder(target: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary sibling folder; swap it into place only if the block succeeds."""
    check_output(target, force)
    if target.exists():
        _replaceable(target)
    staging = make_temporary_folder(target)
    trash = None
    try:
        yield staging
        if target.exists():
            trash = make_temporary_folder(target)
            os.replace(target, trash / target.name)
        try:
            os.replace(staging, target)
        except BaseException:  # a failure or a signal between the two moves: the old folder goes back
            if trash is not None:
                os.replace(trash / target.name, target)
            raise
    finally:
        for leftover in (staging, trash):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover)


def write_dicom_series(volume: Volume, folder: str | os.PathLike, *, force: bool = False,
                       transfer_syntax: str = LOSSLESS_SYNTAX, encoding: dict[str, Any] | None = None) -> DicomWrite:
    """Write a folder of single-frame DICOM files, one per slice, in ``transfer_syntax`` (as
    :func:`write_dicom_file`).

    A volume read from a series gets its own headers (and file names) back; anything else (a multi-frame
    file, NIfTI, ...) gets new Secondary Capture headers with the geometry and the source's patient and study
    (a multi-frame file's frames: only the plane attributes it has).
    """
    folder = Path(folder)
    syntax = get_syntax(transfer_syntax)
    with _header_values():
        headers = _source_headers(volume)
        frames_of = None
        if headers is not None and any("NumberOfFrames" in ds for ds in headers):
            frames_of, headers = (headers[0] if len(headers) == 1 else None), None
        names = _file_names(volume, _source_files(volume)[1] if headers is not None else [])
        headers, sources = _prepare(headers, volume, volume.num_slices, frames_of)
        sizes, coded, decoded = [], 0, []
        with _atomic_folder(folder, force) as staging:
            paths = paths_inside(staging, names)  # every name checked before the first file is written
            for ds, source, pixels, path in zip(headers, sources, volume.array, paths):
                frames, slice_pixels = _write_file(ds, source, pixels[np.newaxis], volume, syntax, encoding or {},
                                                   path)
                sizes.append(path.stat().st_size)
                coded += _pixel_nbytes(frames, pixels)
                decoded.append(slice_pixels)
    return DicomWrite(syntax, sizes, coded, frames.bits_stored, frames.photometric, frames.lossy,
                      np.concatenate(decoded))


def _file_names(volume: Volume, files: list[dict[str, Any]]) -> list[str]:
    """The source's file names of the slices written when every one is a safe bare name (no path, no device,
    no hidden name) and no two fold to the same name; else new names for all: ``slice_0001.dcm``...

    The names come from the file being decoded, so they are never trusted to be a path.
    """
    names = [safe_file_name(entry.get("filename")) for entry in files]
    selected = (volume.metadata.get("compression") or {}).get("slices")
    if selected is not None and names:
        names = [names[i] for i in selected]
    folded = {unicodedata.normalize("NFC", name).casefold() for name in names if name is not None}
    if len(names) != volume.num_slices or None in names or len(folded) != len(names):
        width = max(4, len(str(volume.num_slices)))
        names = [f"slice_{n:0{width}d}.dcm" for n in range(1, volume.num_slices + 1)]
    return names
