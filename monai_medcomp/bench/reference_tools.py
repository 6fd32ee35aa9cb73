"""The reference DICOM tools a written file is checked with: dcmtk, GDCM, pydicom and dicom3tools' dciodvfy.

What a PACS or viewer accepts is what these tools decode and validate, so the DICOM tests
(``tests/dicom_tools``) and the DICOM benchmark (``bench.dicom``) both run them through this module:
each decoder turns a compressed file into uncompressed pixels that are compared with what MedComp
reported, and ``dciodvfy`` counts errors and warnings against the IOD.  The Debian packages are
``dcmtk``, ``libgdcm-tools`` and ``dicom3tools`` (``make dicom-tools`` installs them).

Where a tool has no decoder for a syntax, :data:`LACKS` says so, and :data:`DISAGREES` where it decodes to
other pixels than the others (the tests turn each entry into a strict expected failure, so the suite
notices the day a tool gains the codec or changes its mind).  The dciodvfy build of
Debian 12 cannot parse HTJ2K, JPEG-XL or Deflated files at all: for those its verdict is on an
explicit-VR twin of the header (same attributes, uncompressed pixels of the same layout).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from ..io.dicom_syntax import TransferSyntax, get_syntax

COMMANDS = {"dcmtk": ("dcmdjpls", "dcmdjpeg", "dcmdrle", "dcmconv"), "gdcm": ("gdcmconv",), "dciodvfy": ("dciodvfy",)}
DECODERS = ("dcmtk", "gdcm", "pydicom")
# dcmtk's decompressor per family (dcmj2pnm/dcml2pnm only render windowed images: not a bit-exact check)
DCMTK_DECODER = {"native": ["dcmconv", "+te"], "deflated": ["dcmconv", "+te"], "rle": ["dcmdrle"],
                 "jpeg": ["dcmdjpeg"], "ljpeg": ["dcmdjpeg"], "jpegls": ["dcmdjpls"]}
LACKS = {
    ("dcmtk", "j2k"): "dcmtk 3.6.7 (open source) has no JPEG 2000 decoder",
    ("dcmtk", "htj2k"): "dcmtk 3.6.7 has no HTJ2K decoder",
    ("dcmtk", "jpegxl"): "dcmtk 3.6.7 has no JPEG-XL decoder",
    ("gdcm", "htj2k"): "GDCM 3.0.21 (Debian 12) has no HTJ2K decoder (gdcmconv: 'Could not read (pixmap)')",
    ("gdcm", "jpegxl"): "GDCM 3.0.21 has no JPEG-XL decoder",
    ("pydicom", "jpegxl"): "pydicom 3.0.2 has no JPEG-XL decoder (MedComp decodes it with libjxl)",
}
# Decoders that decode a syntax, but to other pixels than the reference tools: (tool, family, channels) -> why.
DISAGREES = {
    ("pydicom", "jpeg", 3): "pydicom's default JPEG decoder (pylibjpeg-libjpeg 2.5) upsamples 4:2:2 chroma without "
                            "interpolation: up to 28 from dcmtk, GDCM and libjpeg-turbo (which agree to 1; MedComp "
                            "reads lossy 8-bit JPEG with libjpeg-turbo)",
}
DCIODVFY_UNREADABLE = {
    "htj2k": "dciodvfy (dicom3tools 2022-06-18) cannot parse HTJ2K pixel data",
    "jpegxl": "dciodvfy (dicom3tools 2022-06-18) cannot parse JPEG-XL pixel data",
    "deflated": "dciodvfy (dicom3tools 2022-06-18) cannot parse a Deflated data set",
}
# A lossy JPEG frame decodes to slightly different pixels in different IDCTs (libjpeg 6b in dcmtk and
# GDCM, libjpeg-turbo, pylibjpeg's libjpeg): at most 1 apart, measured on the evaluation images.
JPEG_IDCT_TOLERANCE = 1
_ERROR = re.compile(r"^(\(.*\)\s+\?\s+)?Error\b")
# dciodvfy's templates (dicom3tools up to 2025) call these MR Pulse Sequence and Bulk Motion attributes of an
# Enhanced MR image wrong when its Image Type is DERIVED; PS3.3 C.8.13.4 says each "may be present otherwise".
# A lossy copy keeps them (they say how the pixels were acquired), so these lines are not counted as errors.
MAY_BE_PRESENT_OTHERWISE = frozenset({
    "PulseSequenceName", "MRAcquisitionType", "EchoPulseSequence", "MultipleSpinEcho", "MultiPlanarExcitation",
    "PhaseContrast", "TimeOfFlightContrast", "SteadyStatePulseSequence", "EchoPlanarPulseSequence",
    "SaturationRecovery", "SpectrallySelectedSuppression", "OversamplingPhase", "GeometryOfKSpaceTraversal",
    "RectilinearPhaseEncodeReordering", "SegmentedKSpaceTraversal", "CoverageOfKSpace",
    "NumberOfKSpaceTrajectories", "BulkMotionCompensationTechnique"})
_UNSATISFIED = "Attribute present when condition unsatisfied (which may not be present otherwise)"
_VALUE = re.compile(r"\s*=\s*<[^>]*>")


class ToolFailure(Exception):
    """A tool ran and refused the file (its own message), or lacks the codec."""


def missing_commands() -> list[str]:
    return [command for commands in COMMANDS.values() for command in commands if shutil.which(command) is None]


def lacks(tool: str, syntax: TransferSyntax) -> str | None:
    """Why ``tool`` cannot decode ``syntax``, or None when it can."""
    if tool == "dcmtk" and syntax.family not in DCMTK_DECODER:
        return LACKS[("dcmtk", syntax.family)]
    return LACKS.get((tool, syntax.family))


def disagrees(tool: str, syntax: TransferSyntax, channels: int) -> str | None:
    """Why ``tool`` decodes ``syntax`` to other pixels than the reference tools, or None when it does not."""
    return DISAGREES.get((tool, syntax.family, channels))


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _frames(ds: pydicom.Dataset) -> np.ndarray:
    array = ds.pixel_array
    return array if int(ds.get("NumberOfFrames") or 1) > 1 else array[np.newaxis]


def decode(tool: str, path: Path, scratch: Path) -> np.ndarray:
    """The stored pixels (frames, rows, cols[, 3]) that ``tool`` decodes ``path`` to; ToolFailure if it cannot."""
    if tool == "pydicom":
        try:
            return _frames(pydicom.dcmread(path))
        except Exception as error:
            raise ToolFailure(f"pydicom: {error}") from None
    syntax = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    family = get_syntax(syntax).family
    if tool == "dcmtk":
        if family not in DCMTK_DECODER:
            raise ToolFailure(LACKS[("dcmtk", family)])
        command = DCMTK_DECODER[family]
    else:
        command = ["gdcmconv", "--raw"]
    out = scratch / f"{path.stem}.{tool}.dcm"
    process = _run([*command, str(path), str(out)])
    if process.returncode != 0 or not out.exists():
        message = (process.stderr or process.stdout).strip().splitlines()
        raise ToolFailure(f"{command[0]}: exit {process.returncode}: {message[0] if message else ''}")
    decoded = pydicom.dcmread(out)
    if decoded.file_meta.TransferSyntaxUID.is_compressed:
        raise ToolFailure(f"{command[0]} left the pixel data compressed")
    return _frames(decoded)


def agrees(decoded: np.ndarray, expected: np.ndarray, syntax: TransferSyntax, lossy: bool) -> bool:
    """A tool's pixels equal MedComp's: bit for bit, but for lossy JPEG's IDCT rounding."""
    if decoded.shape != expected.shape:
        return False
    tolerance = JPEG_IDCT_TOLERANCE if lossy and syntax.family == "jpeg" else 0
    return int(np.max(np.abs(decoded.astype(np.int64) - expected.astype(np.int64)))) <= tolerance


@dataclasses.dataclass
class Verdict:
    """dciodvfy's findings, each line without its quoted values (so that two files' lines compare)."""

    errors: list[str]
    warnings: list[str]
    twin: bool  # judged on an explicit-VR twin of the header (dciodvfy cannot read the file itself)

    def new_errors(self, before: "Verdict") -> list[str]:
        return [line for line in self.errors if line not in before.errors]


def dciodvfy(path: Path) -> Verdict:
    """dciodvfy's errors and warnings for ``path``, as it is."""
    process = _run(["dciodvfy", "-new", str(path)])
    lines = [_VALUE.sub("", line.strip()) for line in (process.stderr + process.stdout).splitlines()]
    errors = [line for line in lines if (_ERROR.match(line) or " Error - " in line) and not _template_slip(line)]
    return Verdict(errors, [line for line in lines if line.startswith("Warning")], twin=False)


def _template_slip(line: str) -> bool:
    """An error line about an attribute the standard allows here (:data:`MAY_BE_PRESENT_OTHERWISE`)."""
    if _UNSATISFIED not in line or "</" not in line:
        return False
    return line.split("</")[1].split("(")[0] in MAY_BE_PRESENT_OTHERWISE


def explicit_twin(path: Path, out: Path) -> Path:
    """``path``'s header with uncompressed zero pixels of the same layout, Explicit VR Little Endian.

    YBR_RCT / YBR_ICT become RGB: those name a JPEG 2000 colour transform, which uncompressed pixels lack."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    if ds.get("PhotometricInterpretation") in ("YBR_RCT", "YBR_ICT"):
        ds.PhotometricInterpretation = "RGB"
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    nbytes = frames * int(ds.Rows) * int(ds.Columns) * samples * int(ds.BitsAllocated) // 8
    ds.PixelData = bytes(nbytes + nbytes % 2)
    ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(out, enforce_file_format=True)
    return out


def validate(path: Path, syntax: TransferSyntax, scratch: Path) -> Verdict:
    """dciodvfy's verdict on ``path``, through its explicit-VR twin where dciodvfy cannot read the file."""
    if syntax.family not in DCIODVFY_UNREADABLE:
        return dciodvfy(path)
    verdict = dciodvfy(explicit_twin(path, scratch / f"{path.stem}.twin.dcm"))
    verdict.twin = True
    return verdict
