"""DICOM output per transfer syntax: size against ``.mcz``, speed, which reference tools decode it, dciodvfy.

``medcomp bench --dicom`` writes ``dicom.{json,md}``.  Every evaluation image goes through
``api.compress`` into every transfer syntax that can hold it (:data:`SETTINGS` says which codec and
parameters code it: the codec's lossless default, or one fixed lossy setting), and the same codec and
parameters into a ``.mcz``.  For each file: its bytes against the ``.mcz``'s, write and read speed
(MB/s of uncompressed pixels, best of ``repeats``; writing includes the read-back check every DICOM
write makes, reading is ``api.read``), the PSNR a lossy file decodes to, which of dcmtk, GDCM and
pydicom decode it to what MedComp reports (``reference_tools``), and dciodvfy's error and warning
counts for the source file, for the image written uncompressed and for this file.  A volume that is not
one DICOM file (a NIfTI volume) is written as a series folder; its counts add up over the files.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from .. import api
from ..errors import MedCompError
from ..io.dicom_syntax import SYNTAXES, TransferSyntax
from ..volume import Volume
from . import reference_tools
from .report import markdown_table

# What each syntax is asked to code: (codec, parameters); None parameters are the codec's lossless default.
SETTINGS: dict[str, tuple[str | None, dict[str, Any] | None]] = {
    "explicit": (None, None), "deflated": (None, None), "rle": (None, None),
    "jpeg-baseline": ("jpeg", {"quality": 90}), "jpeg-extended": ("jpeg", {"quality": 90}),
    "jpeg-lossless": ("ljpeg", None), "jpeg-lossless-sv1": ("ljpeg", {"predictor": 1}),
    "jpegls": ("jpegls", None), "jpegls-near": ("jpegls", {"near": 2}),
    "jpeg2000": ("jpeg2000", None), "jpeg2000-lossy": ("jpeg2000", {"bpp": 1.0}),
    "htj2k": ("htj2k", None), "htj2k-rpcl": ("htj2k", None), "htj2k-lossy": ("htj2k", {"qstep": 0.002}),
    "jpegxl": ("jpegxl", None), "jpegxl-lossy": ("jpegxl", {"distance": 1.0, "effort": 7}),
}
BASELINE = "explicit"
# A PSNR target met by rate control (each trial coded as the DICOM syntax codes): how close the files land.
TARGET_PSNR = 45.0
TARGET_CODECS = ("jpeg2000", "htj2k", "jpegxl", "jpeg")


def output_path(folder: Path, image: str, syntax: str, volume: Volume) -> Path:
    """A ``.dcm`` file for one slice or a multi-frame source, else a series folder."""
    layout = (volume.metadata.get("dicom") or {}).get("layout")
    single = volume.num_slices == 1 or layout == "file"
    return folder / (f"{image}.{syntax}.dcm" if single else f"{image}_{syntax}")  # a folder has no suffix


def dicom_files(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else [path]


def _best_time(repeats: int, run: Any) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - start)
    return best, value


def _tools(files: list[Path], result: Any, volume: Volume, scratch: Path) -> dict[str, str]:
    """Per decoder: "exact" (lossless, bit for bit), "agrees" (lossy, MedComp's pixels), "differs", "fails", or
    "no codec" where the tool lacks one."""
    verdicts = {}
    expected = volume.array if result.lossless else result.written.decoded
    for tool in reference_tools.DECODERS:
        if reference_tools.lacks(tool, result.syntax):
            verdicts[tool] = "no codec"
            continue
        try:
            decoded = [reference_tools.decode(tool, path, scratch) for path in files]
        except reference_tools.ToolFailure:
            verdicts[tool] = "fails"
            continue
        same = reference_tools.agrees(np.concatenate(decoded), expected, result.syntax, not result.lossless)
        verdicts[tool] = ("exact" if result.lossless else "agrees") if same else "differs"
    return verdicts


def _counts(files: Iterable[Path], syntax: TransferSyntax, scratch: Path,
            before: list[reference_tools.Verdict] | None = None) -> dict[str, Any]:
    verdicts = [reference_tools.validate(path, syntax, scratch) for path in files]
    counts: dict[str, Any] = {"errors": sum(len(v.errors) for v in verdicts),
                              "warnings": sum(len(v.warnings) for v in verdicts),
                              "twin": any(v.twin for v in verdicts)}
    if before is not None:
        counts["new_errors"] = sorted({line for v, b in zip(verdicts, before) for line in v.new_errors(b)})
    return counts


def _row(image: str, volume: Volume, syntax: TransferSyntax, folder: Path, repeats: int,
         baseline: list[reference_tools.Verdict]) -> dict[str, Any]:
    codec, params = SETTINGS[syntax.name]
    path = output_path(folder, image, syntax.name, volume)
    seconds, result = _best_time(repeats, lambda: api.compress(volume, path, codec, params=params,
                                                               transfer_syntax=syntax.name, force=True))
    read_seconds, _ = _best_time(repeats, lambda: api.read(path))
    mcz = api.compress(volume, None, codec, params=params).nbytes if codec else None
    megabytes = volume.array.nbytes / 1e6
    return {"image": image, "syntax": syntax.name, "uid": str(syntax.uid), "codec": codec, "params": result.params,
            "lossless": result.lossless, "files": len(result.written.file_nbytes), "bytes": result.nbytes,
            "mcz_bytes": mcz, "bpp": result.bpp,
            "psnr": None if result.lossless else result.psnr, "max_error": result.max_error,
            "write_mb_s": megabytes / seconds, "read_mb_s": megabytes / read_seconds,
            "bits_stored": result.written.bits_stored, "notes": result.notes,
            "tools": _tools(dicom_files(path), result, volume, folder),
            "dciodvfy": _counts(dicom_files(path), syntax, folder, baseline)}


def dicom_results(images: Mapping[str, Volume], *, repeats: int = 1, progress: bool = True) -> dict[str, Any]:
    """Every image in every transfer syntax that holds it; refusals listed with their reason."""
    from tqdm.auto import tqdm

    missing = reference_tools.missing_commands()
    if missing:
        raise MedCompError(f"the DICOM benchmark runs the reference tools, missing here: {', '.join(missing)} "
                           "(make dicom-tools)")
    rows, refused, sources, targets = [], [], {}, []
    folder = Path(tempfile.mkdtemp(prefix="medcomp-dicom-bench-"))
    try:
        for image, volume in tqdm(images.items(), desc="dicom", disable=not progress):
            sources[image] = _source_counts(volume, folder)
            base = output_path(folder, image, BASELINE, volume)
            api.compress(volume, base, transfer_syntax=BASELINE)
            baseline = [reference_tools.dciodvfy(path) for path in dicom_files(base)]
            for syntax in SYNTAXES:
                try:
                    rows.append(_row(image, volume, syntax, folder, repeats, baseline))
                except MedCompError as error:
                    refused.append({"image": image, "syntax": syntax.name, "reason": str(error)})
            targets += _targets(image, volume, folder, refused)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"repeats": repeats, "settings": {name: {"codec": c, "params": p} for name, (c, p) in SETTINGS.items()},
            "sources": sources, "rows": rows, "targets": targets, "refused": refused}


def _targets(image: str, volume: Volume, folder: Path, refused: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``--psnr TARGET_PSNR`` into DICOM with each lossy codec: the PSNR the search reached, and the one the
    written files decode to."""
    rows = []
    for codec in TARGET_CODECS:
        path = output_path(folder, image, f"{codec}-target", volume)
        try:
            result = api.compress(volume, path, codec, psnr=TARGET_PSNR)
        except MedCompError as error:
            refused.append({"image": image, "syntax": f"{codec} --psnr {TARGET_PSNR:g}", "reason": str(error)})
            continue
        rows.append({"image": image, "codec": codec, "syntax": result.syntax.name, "target": TARGET_PSNR,
                     "search_psnr": result.target["achieved"], "dicom_psnr": result.psnr, "params": result.params})
    return rows


def _source_counts(volume: Volume, scratch: Path) -> dict[str, Any] | None:
    """dciodvfy on the image's own file, when it is one DICOM file."""
    sample = volume.metadata.get("sample")
    if sample is None or (volume.metadata.get("dicom") or {}).get("layout") != "file":
        return None
    from ..data import get_sample

    verdict = reference_tools.dciodvfy(get_sample(sample).path())
    return {"errors": len(verdict.errors), "warnings": len(verdict.warnings)}


def _ratio(row: Mapping[str, Any]) -> float | None:
    return row["bytes"] / row["mcz_bytes"] if row["mcz_bytes"] else None


def markdown(results: Mapping[str, Any]) -> str:
    """The per-syntax summary, the full table, and the refusals."""
    rows = results["rows"]
    lines = [INTRO, "## Per transfer syntax (over the images it holds)\n",
             markdown_table(["syntax", "UID", "images", "DICOM / .mcz bytes", "write MB/s", "read MB/s",
                             "decoded as MedComp reports by", "new dciodvfy errors"],
                            _summary_rows(rows)),
             "\n## Every image\n",
             "dciodvfy columns: errors/warnings of the source file, of the image written uncompressed by MedComp, "
             "and of this file (`*`: judged on its explicit-VR twin, see below).\n",
             markdown_table(["image", "syntax", "bytes", ".mcz bytes", "ratio to .mcz", "bpp", "PSNR", "write MB/s",
                             "read MB/s", "dcmtk", "GDCM", "pydicom", "dciodvfy source", "dciodvfy uncompressed",
                             "dciodvfy this", "notes"],
                            _full_rows(results), digits=2)]
    lines += [f"\n## A PSNR target ({TARGET_PSNR:g} dB) into DICOM\n",
              "`api.compress(image, OUT, codec, psnr=45)`: rate control searches the codec's knob as for `.mcz` "
              "output, but each trial codes the slices as the DICOM syntax does (stored values at Bits Stored) and "
              "measures what a DICOM reader decodes. Searching the codec's own `.mcz` coding instead missed the "
              "target by up to 2.1 dB (JPEG-XL on the MR images, whose distance is relative to the declared bit "
              "depth), 0.3 dB (HTJ2K on the signed CT) and 8.7 dB (colour JPEG, searched 4:4:4, coded 4:2:2).\n",
              markdown_table(["image", "codec", "syntax", "parameters", "PSNR in the search", "PSNR of the files",
                              "files - target"],
                             [(t["image"], t["codec"], t["syntax"], _settings(t["params"]), t["search_psnr"],
                               t["dicom_psnr"], t["dicom_psnr"] - t["target"]) for t in results["targets"]])]
    if results["refused"]:
        lines += ["\n## Refused (the syntax cannot hold the image)\n",
                  markdown_table(["image", "syntax", "reason"],
                                 [(r["image"], r["syntax"], r["reason"]) for r in results["refused"]])]
    return "\n".join(lines)


def _settings(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in params.items())


def _summary_rows(rows: list[Mapping[str, Any]]) -> list[list[Any]]:
    out = []
    for syntax in SYNTAXES:
        mine = [r for r in rows if r["syntax"] == syntax.name]
        if not mine:
            continue
        ratios = [_ratio(r) for r in mine if _ratio(r) is not None]
        decoders = [tool for tool in reference_tools.DECODERS
                    if all(r["tools"][tool] in ("exact", "agrees") for r in mine)]
        out.append([syntax.name, str(syntax.uid), len(mine), statistics.mean(ratios) if ratios else None,
                    statistics.median(r["write_mb_s"] for r in mine), statistics.median(r["read_mb_s"] for r in mine),
                    ", ".join(decoders) or "MedComp only",
                    sum(len(r["dciodvfy"]["new_errors"]) for r in mine)])
    return out


def _full_rows(results: Mapping[str, Any]) -> list[list[Any]]:
    out = []
    for row in results["rows"]:
        source = results["sources"].get(row["image"])
        counts = row["dciodvfy"]
        baseline = next(r["dciodvfy"] for r in results["rows"] if r["image"] == row["image"]
                        and r["syntax"] == BASELINE)
        out.append([row["image"], row["syntax"], row["bytes"], row["mcz_bytes"], _ratio(row), row["bpp"], row["psnr"],
                    row["write_mb_s"], row["read_mb_s"], *(row["tools"][tool] for tool in reference_tools.DECODERS),
                    f"{source['errors']}/{source['warnings']}" if source else None,
                    f"{baseline['errors']}/{baseline['warnings']}",
                    f"{counts['errors']}/{counts['warnings']}{'*' if counts['twin'] else ''}",
                    "; ".join(row["notes"]) or None])
    return out


INTRO = f"""Each evaluation image goes through `api.compress` into every DICOM transfer syntax that can hold it, with
the settings below, and with the same codec and parameters into a `.mcz` (bytes compared file to file,
headers included). Write MB/s (uncompressed pixel bytes per second, best of the repeats) includes the
read-back check of every DICOM write; read MB/s is `api.read` of the files. PSNR is that of the pixels
the written files decode to (peak: the true bit depth). A decoder "exact" gives the original pixels bit
for bit; "agrees" gives the pixels MedComp reported for lossy content (lossy JPEG: within
{reference_tools.JPEG_IDCT_TOLERANCE}, the IDCTs' rounding); "no codec": the tool has none for the syntax
(dcmtk 3.6.7: no JPEG 2000, HTJ2K or JPEG-XL; GDCM 3.0.21: no HTJ2K or JPEG-XL; pydicom 3.0.2: no JPEG-XL,
which MedComp reads with libjxl). dciodvfy (dicom3tools 2022-06-18) cannot parse HTJ2K, JPEG-XL or Deflated
files: those are judged on an explicit-VR twin of their header (same attributes, uncompressed pixels).

Settings: lossless syntaxes use the codec's lossless default (`ljpeg`: best predictor per frame, 1 for
SV1); jpeg-baseline / jpeg-extended: quality 90; jpegls-near: NEAR 2; jpeg2000-lossy: 1 bpp;
htj2k-lossy: qstep 0.002; jpegxl-lossy: distance 1, effort 7.
"""
