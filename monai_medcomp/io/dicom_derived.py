"""What a written DICOM file says about where it comes from: a lossy copy is a new, derived image, and the
lossy history of its pixels is never lost.

PS3.3 C.7.6.1.1.5 (Lossy Image Compression), C.7.6.1.1.2 (Image Type) and C.7.6.1.1.3 (Derivation) ask
that an image whose pixels went through lossy compression be told apart from its original, so that a
PACS never files the copy as the original.  One written file gets, when any step behind its pixels
was lossy (a lossy ``.mcz`` codec, or a lossy transfer syntax the writer coded it in):

* Lossy Image Compression "01", one Lossy Image Compression Ratio and Method per lossy step appended to
  the history the source already had (never replaced).  Method terms: ISO_10918_1 (JPEG), ISO_14495_1
  (JPEG-LS near-lossless), ISO_15444_1 (JPEG 2000), ISO_15444_15 (HTJ2K), ISO_18181_1 (JPEG XL), from
  ``dicom_syntax``.  A MedComp codec DICOM has no term for (the learned codecs, k-means, BTTC) gets its
  registry name in upper case, other characters as "_", cut to the 16 characters of a CS value
  (``learned-lossy`` -> LEARNED_LOSSY, ``cnn-ae`` -> CNN_AE, ``learned-lossless`` with a max error ->
  LEARNED_LOSSLESS); Derivation Description names the codec, its parameters and target in full.
* Image Type DERIVED\\SECONDARY with values 3 and on kept (CT and MR need value 3).  The enhanced
  multi-frame IODs allow only PRIMARY as value 2, so there value 2 is kept, and the Frame Type of every
  functional group becomes DERIVED too.
* Derivation Description ("Lossy compression by MedComp jpeg2000 (bpp=1.5), target PSNR 45 dB ...", the
  earlier description kept in brackets, as dcmtk does), Derivation Code Sequence with (DCM, 113040,
  "Lossy Compression"), Source Image Sequence naming the source instance (and its frames) with purpose
  (DCM, 121320, "Uncompressed predecessor").  An enhanced image with functional groups carries these in
  the Derivation Image functional group, and its Source Image Evidence Sequence lists the source.
* A new Series Instance UID, one per lossy output series, and new SOP Instance UIDs.

The new UIDs are derived, not random (2.25 + a name-based UUID, PS3.5 B.2): the series from the source
series, the output SOP class and what coded the pixels (codec, parameters, target and the ``.mcz``
ratio, or the transfer syntax and its options); each instance from that series, its source instance and
frames.  Running the same job again (an archive task retried after a crash, a folder sent twice) thus
gives the same UIDs, so a PACS replaces the copies instead of filing a second set of them; different
coding gives different UIDs.

A source whose transfer syntax is lossy (JPEG .50/.51, JPEG-LS near-lossless .81, JPEG 2000 .91, HTJ2K
.203, JPEG XL .112) has lossy pixels even when its header forgets to say so; reading it records that
step in the kept header (Lossy Image Compression "01", the syntax's method, the ratio of the uncompressed
size to the encapsulated pixel data), as dcmtk and GDCM do when they decompress.  .91, .203 and .112
may hold lossless codestreams too: they are counted as lossy, the safe side.

A lossless output is the same image: it keeps every UID and gets no derived marking.  Only a partial
decode of a multi-frame file (some of its frames) becomes a new instance: a new SOP Instance UID (same
series) and a Frame Extraction Sequence naming the source and its frames (PS3.3 C.12.3).

Every file names MedComp as the implementation that wrote it (Implementation Class UID and Version
Name), not the source's writer.

PALETTE COLOR pixels are indices into a colour table: coding them lossily turns them into other
colours, so :func:`check_palette` refuses it (the writer calls it before a lossy copy is saved).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import uuid
from typing import Any, Sequence

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import DSfloat

from .. import __version__
from ..errors import UnsupportedDataError
from ..volume import Volume
from .dicom_syntax import SYNTAXES, TransferSyntax, lossy_methods
from .metadata import expect, invalid

# Derived once from uuid5(NAMESPACE_URL, "monai_medcomp:dicom-implementation") as a 2.25 UID (PS3.5 B.2);
# it names MedComp's DICOM writer in every file and must never change.
IMPLEMENTATION_CLASS_UID = "2.25.72706233411297355572072469208171426826"
IMPLEMENTATION_VERSION_NAME = ("MEDCOMP_" + re.sub(r"[^0-9A-Za-z]", "_", __version__))[:16]  # SH: 16 characters
_UID_NAMESPACE = uuid.UUID(int=int(IMPLEMENTATION_CLASS_UID.split(".")[-1]))

LOSSY = "01"
LOSSY_COMPRESSION_CODE = ("113040", "DCM", "Lossy Compression")
UNCOMPRESSED_PREDECESSOR_CODE = ("121320", "DCM", "Uncompressed predecessor")
MAX_DESCRIPTION = 1024  # Derivation Description is ST
MAX_CS = 16
PALETTE = "PALETTE COLOR"
# (0028,2114) terms by MedComp codec name, and by lossy transfer syntax UID: both from dicom_syntax's table.
LOSSY_METHODS = lossy_methods()
SYNTAX_METHODS = {str(syntax.uid): syntax.method for syntax in SYNTAXES if not syntax.lossless and syntax.method}
# Enhanced multi-frame image IODs whose Image Type value 2 may only be PRIMARY (PS3.3 C.8.13.1.1.1,
# C.8.15.2.1.1.1, ...; dicom3tools: CommonEnhancedImageAndFrameType2).  UIDs written out: the pydicom
# inside 3D Slicer (2.4) lacks some of the names.
PRIMARY_ONLY_CLASSES = frozenset((
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.4.3",  # Enhanced MR Color Image
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET Image
    "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
    "1.2.840.10008.5.1.4.1.1.14.1",  # Intravascular OCT Image For Presentation
    "1.2.840.10008.5.1.4.1.1.14.2",  # Intravascular OCT Image For Processing
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
    "1.2.840.10008.5.1.4.1.1.6.3",  # Photoacoustic Image
))
_TARGET_WORDS = {"psnr": "PSNR {} dB", "bpp": "{} bpp", "max_error": "max error {}", "quality": "quality {}"}


@dataclasses.dataclass(frozen=True)
class Source:
    """The DICOM instance one written file comes from, taken before anything in its header changes."""

    sop_class: str
    sop_instance: str
    series: str
    study: str
    frames: tuple[int, ...] | None = None  # 1-based frames of a multi-frame source the file holds; None: all

    @classmethod
    def of(cls, ds: Dataset, frames: Sequence[int] | None = None) -> "Source":
        """``ds``'s identity; ``frames`` are 0-based indices into ``ds``'s frames (every one, in order: the
        whole instance)."""
        whole = frames is None or list(frames) == list(range(int(ds.get("NumberOfFrames") or 1)))
        return cls(str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")),
                   str(ds.get("SeriesInstanceUID", "")), str(ds.get("StudyInstanceUID", "")),
                   None if whole else tuple(int(i) + 1 for i in frames))


@dataclasses.dataclass(frozen=True)
class Step:
    """One lossy compression behind a file's pixels."""

    method: str  # (0028,2114) term
    ratio: float
    description: str
    coding: str  # what coded the pixels, for the derived UIDs (the same for every file of one write)


def lossy_method(codec: str) -> str:
    """The Lossy Image Compression Method term for a MedComp codec (its name as a CS value if DICOM has none)."""
    return LOSSY_METHODS.get(codec) or re.sub(r"[^A-Z0-9 _]", "_", codec.upper())[:MAX_CS]


def check_palette(photometric: Any, lossless: bool) -> None:
    """Refuse lossy coding of PALETTE COLOR pixels: they are colour-table indices, and a small change of an
    index is a different colour."""
    if photometric == PALETTE and not lossless:
        raise UnsupportedDataError("PALETTE COLOR pixels are indices into a colour table: lossy coding would turn "
                                   "them into other colours; use a lossless codec or parameters")


# --- the steps behind a file's pixels ---------------------------------------------------------------------

def _ratio_text(ratio: float) -> str:
    return f"{ratio:.4g}:1"


def _settings(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value, separators=(',', ':'))}" for key, value in sorted(values.items()))


def container_step(volume: Volume) -> Step | None:
    """The lossy ``.mcz`` step of a decoded volume (``metadata["compression"]``), or None when lossless."""
    compression = volume.metadata.get("compression")
    if not compression:
        return None
    expect("compression", compression, dict, "an object")
    if compression.get("lossless") is not False:
        return None
    codec = expect("compression.codec", compression.get("codec"), str, "a codec name")
    params = expect("compression.params", compression.get("params", {}), dict, "an object")
    ratio = float(expect("compression.ratio", compression.get("ratio"), (int, float), "a number"))
    if not (math.isfinite(ratio) and ratio > 0):
        raise invalid("compression.ratio", "a positive number", ratio)
    words = [f"Lossy compression by MedComp {codec}" + (f" ({_settings(params)})" if params else "")]
    target = compression.get("target")
    if target is not None:
        expect("compression.target", target, dict, "an object")
        kind = expect("compression.target.kind", target.get("kind"), str, "a target kind")
        value = expect("compression.target.value", target.get("value"), (int, float), "a number")
        words.append("target " + _TARGET_WORDS.get(kind, kind + " {}").format(f"{value:g}"))
        if isinstance(target.get("achieved"), (int, float)) and not isinstance(target["achieved"], bool):
            words.append(f"reached {target['achieved']:g}")
    words.append(f"ratio {_ratio_text(ratio)}")
    coding = json.dumps(["mcz", codec, params, target, ratio], sort_keys=True, default=str)
    return Step(lossy_method(codec), ratio, ", ".join(words), coding)


def _coded_ratio(ds: Dataset) -> float:
    """Uncompressed size (Rows x Columns x Samples x Frames x Bits Allocated) over the encapsulated Pixel Data
    of ``ds`` (read or written, so those attributes are there)."""
    raw = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1) * int(ds.get("NumberOfFrames") or 1)
           * int(ds.BitsAllocated) / 8)
    return raw / max(1, len(ds.PixelData))


def syntax_step(ds: Dataset, syntax: TransferSyntax, options: dict[str, Any]) -> Step:
    """The lossy step of coding ``ds``'s pixels in ``syntax`` with encoder ``options`` (after encapsulation)."""
    ratio = _coded_ratio(ds)
    settings = f" ({_settings(options)})" if options else ""
    description = f"Lossy compression by MedComp into {syntax.title}{settings}, ratio {_ratio_text(ratio)}"
    coding = json.dumps(["syntax", str(syntax.uid), options], sort_keys=True, default=str)
    return Step(str(syntax.method), ratio, description, coding)


def lossy_steps(volume: Volume, ds: Dataset, syntax: TransferSyntax, options: dict[str, Any],
                coded_lossy: bool) -> list[Step]:
    """The lossy steps of one write behind ``ds``'s pixels: the ``.mcz`` codec's, then the transfer
    syntax's when the writer coded them lossily (``coded_lossy``)."""
    container = container_step(volume)
    return ([container] if container else []) + ([syntax_step(ds, syntax, options)] if coded_lossy else [])


# --- lossy history ----------------------------------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _ds(ratio: float) -> DSfloat:
    """A ratio as a DS value that stays within 16 characters through DICOM JSON (which keeps the number)."""
    return DSfloat(float(f"{ratio:.10g}"), auto_format=True)


def _padded(values: list[Any], length: int, last: Any) -> list[Any]:
    """``values`` lengthened to ``length``: the newest missing one is ``last``, older ones are left empty."""
    missing = length - len(values)
    return values if missing <= 0 else values + [""] * (missing - 1) + [last]


def _recorded(ds: Dataset) -> tuple[list[Any], list[Any]]:
    """The (ratios, methods) ``ds``'s header says, as they are."""
    if ds.get("LossyImageCompression") != LOSSY:
        return [], []
    return _as_list(ds.get("LossyImageCompressionRatio")), _as_list(ds.get("LossyImageCompressionMethod"))


def _history(ds: Dataset, stored_in: tuple[float, str] | None = None) -> tuple[list[Any], list[Any]]:
    """The (ratios, methods) of ``ds``, one pair per lossy step in step order (the shorter list padded, as
    the two must pair up).  ``stored_in`` is the (ratio, method) of the lossy transfer syntax the pixels
    were read from: the newest step, which the header may lack."""
    ratios, methods = _recorded(ds)
    steps = max(len(ratios), len(methods), 1 if stored_in else 0)
    ratio, method = (_ds(stored_in[0]), stored_in[1]) if stored_in else ("", "")
    return _padded(ratios, steps, ratio), _padded(methods, steps, method)


def _set_history(ds: Dataset, ratios: list[Any], methods: list[Any]) -> None:
    """Write the lossy history as new elements (``ds`` may share its elements with another dataset)."""
    ds.add_new("LossyImageCompression", "CS", LOSSY)
    ds.add_new("LossyImageCompressionRatio", "DS", ratios)
    ds.add_new("LossyImageCompressionMethod", "CS", methods)


def keep_syntax_history(header: Dataset, ds: Dataset) -> None:
    """Record in ``header`` (the kept copy of ``ds``'s header) the lossy step of ``ds``'s transfer syntax
    when the header does not say it already: the decoded pixels no longer carry their syntax."""
    method = SYNTAX_METHODS.get(str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", "")))
    if method is None or "PixelData" not in ds:
        return
    history = _history(header, (_coded_ratio(ds), method))
    if history != _recorded(header):
        _set_history(header, *history)


# --- identity ---------------------------------------------------------------------------------------------

def derived_uid(*parts: Any) -> str:
    """A UID that is a function of ``parts``: 2.25 + a name-based UUID under MedComp's namespace."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, json.dumps(parts, sort_keys=True, default=str)).int}"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _reference(source: Source, frames: tuple[int, ...] | None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.sop_class
    item.ReferencedSOPInstanceUID = source.sop_instance
    if frames:
        item.ReferencedFrameNumber = list(frames)
    item.PurposeOfReferenceCodeSequence = DicomSequence([_code(*UNCOMPRESSED_PREDECESSOR_CODE)])
    return item


def _derived_type(values: list[Any], keep_second: bool) -> list[str]:
    """Image or Frame Type made DERIVED: value 2 SECONDARY unless the IOD only allows PRIMARY there."""
    values = [str(v).strip() for v in values]
    second = values[1] if keep_second and len(values) > 1 else "SECONDARY"
    return ["DERIVED", second] + values[2:]


def _functional_groups(ds: Dataset) -> list[Dataset]:
    return list(ds.get("SharedFunctionalGroupsSequence") or []) + list(ds.get("PerFrameFunctionalGroupsSequence") or [])


def _mark_frame_types(ds: Dataset) -> None:
    """Value 1 of every functional group's Frame Type becomes DERIVED (its value 2 is PRIMARY-only)."""
    for group in _functional_groups(ds):
        for element in group:
            if element.VR == "SQ" and element.value and "FrameType" in element.value[0]:
                item = element.value[0]
                item.FrameType = _derived_type(_as_list(item.FrameType), keep_second=True)


def _add_evidence(ds: Dataset, source: Source) -> None:
    """List the source in Source Image Evidence Sequence (the enhanced IODs' hierarchical reference)."""
    studies = list(ds.get("SourceImageEvidenceSequence") or [])
    study = next((item for item in studies if item.get("StudyInstanceUID") == source.study), None)
    if study is None:
        study = Dataset()
        study.StudyInstanceUID = source.study
        study.ReferencedSeriesSequence = DicomSequence([])
        studies.append(study)
    series = next((item for item in study.ReferencedSeriesSequence if item.get("SeriesInstanceUID") == source.series),
                  None)
    if series is None:
        series = Dataset()
        series.SeriesInstanceUID = source.series
        series.ReferencedSOPSequence = DicomSequence([])
        study.ReferencedSeriesSequence.append(series)
    if all(item.get("ReferencedSOPInstanceUID") != source.sop_instance for item in series.ReferencedSOPSequence):
        instance = Dataset()
        instance.ReferencedSOPClassUID, instance.ReferencedSOPInstanceUID = source.sop_class, source.sop_instance
        series.ReferencedSOPSequence.append(instance)
    ds.SourceImageEvidenceSequence = DicomSequence(studies)


def _capped(description: str) -> str:
    return description if len(description) <= MAX_DESCRIPTION else description[:MAX_DESCRIPTION - 4] + "...]"


def _derivation_item(description: str, source: Source, frames: tuple[int, ...] | None) -> Dataset:
    item = Dataset()
    item.DerivationDescription = description
    item.DerivationCodeSequence = DicomSequence([_code(*LOSSY_COMPRESSION_CODE)])
    item.SourceImageSequence = DicomSequence([_reference(source, frames)])
    return item


def _mark_functional_groups(ds: Dataset, description: str, source: Source) -> None:
    """Derivation Image functional group (per frame where the source keeps it per frame, else shared) and
    Source Image Evidence Sequence: where the enhanced IODs keep derivation."""
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence") or [])
    if any("DerivationImageSequence" in group for group in per_frame):
        for index, group in enumerate(per_frame):
            frame = source.frames[index] if source.frames else index + 1
            items = list(group.get("DerivationImageSequence") or [])
            group.DerivationImageSequence = DicomSequence(items + [_derivation_item(description, source, (frame,))])
    else:
        if not ds.get("SharedFunctionalGroupsSequence"):
            ds.SharedFunctionalGroupsSequence = DicomSequence([Dataset()])
        shared = ds.SharedFunctionalGroupsSequence[0]
        items = list(shared.get("DerivationImageSequence") or [])
        shared.DerivationImageSequence = DicomSequence(items + [_derivation_item(description, source, source.frames)])
    _add_evidence(ds, source)


def _mark_top_level(ds: Dataset, description: str, source: Source | None) -> None:
    """Derivation Description (the earlier one kept in brackets, as dcmtk does), Derivation Code Sequence
    with Lossy Compression added, Source Image Sequence naming the predecessor."""
    earlier = str(ds.get("DerivationDescription") or "").strip()
    ds.DerivationDescription = _capped(f"{description} [{earlier}]" if earlier else description)
    codes = list(ds.get("DerivationCodeSequence") or [])
    if not any(item.get("CodeValue") == LOSSY_COMPRESSION_CODE[0] and
               item.get("CodingSchemeDesignator") == LOSSY_COMPRESSION_CODE[1] for item in codes):
        codes.append(_code(*LOSSY_COMPRESSION_CODE))
    ds.DerivationCodeSequence = DicomSequence(codes)
    if source is not None:
        ds.SourceImageSequence = DicomSequence([_reference(source, source.frames)])


def _set_instance(ds: Dataset, uid: str) -> None:
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid


def _extracted(ds: Dataset, source: Source) -> None:
    """Frame Extraction Sequence: this instance holds these frames of that multi-frame instance."""
    item = Dataset()
    item.MultiFrameSourceSOPInstanceUID = source.sop_instance
    item.SimpleFrameList = list(source.frames)
    ds.FrameExtractionSequence = DicomSequence(list(ds.get("FrameExtractionSequence") or []) + [item])


def _mark_derived(ds: Dataset, source: Source | None, steps: list[Step]) -> None:
    """The marking of a lossy copy (module docstring), its history, type, derivation and UIDs."""
    check_palette(ds.get("PhotometricInterpretation"), lossless=False)
    ratios, methods = _history(ds)
    _set_history(ds, ratios + [_ds(step.ratio) for step in steps],
                 methods + [step.method for step in steps])
    sop_class = str(ds.get("SOPClassUID", ""))
    ds.ImageType = _derived_type(_as_list(ds.get("ImageType")), keep_second=sop_class in PRIMARY_ONLY_CLASSES)
    description = _capped("; ".join(step.description for step in steps))
    if source is not None and _functional_groups(ds):
        _mark_frame_types(ds)
        _mark_functional_groups(ds, description, source)
    else:
        _mark_top_level(ds, description, source)
    if source is None:  # built from scratch: its UIDs are new already
        return
    series = derived_uid("series", source.series, sop_class, [step.coding for step in steps])
    ds.SeriesInstanceUID = series
    _set_instance(ds, derived_uid("instance", series, source.sop_instance, source.frames))


def mark(ds: Dataset, source: Source | None, steps: list[Step]) -> None:
    """Everything ``ds`` owes DICOM about its origin, just before it is saved: the derived marking and new
    UIDs when ``steps`` (the lossy steps behind its pixels) are not empty, else its source's identity (only
    some frames of a multi-frame source make a new instance of the same series); MedComp as the writer.

    ``source`` is the instance ``ds`` comes from, taken before its header changed (None for a volume that
    did not come from DICOM).
    """
    if steps:
        _mark_derived(ds, source, steps)
    elif source is not None and source.frames is not None and ds.get("SOPInstanceUID") == source.sop_instance:
        # some frames of the source under its own header (a file built from one frame is a new instance already)
        _set_instance(ds, derived_uid("frames", source.sop_instance, source.frames))
        _extracted(ds, source)
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
