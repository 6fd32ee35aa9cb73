"""``medcomp bench``: the lossless table, the rate-distortion sweeps with BD-rate, and the speed figures.

``run_bench`` measures, then writes ``lossless.{json,md}``, ``lossy.{json,md}`` and one
``rd_<image>.png`` per image into the output folder; the images are samples or the user's own files.
The parts are also callable on their own (:func:`lossless_results`, :func:`lossy_results`), which is
what the demo does with smaller settings.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar

from .. import api
from ..codecs import Codec, codec_names, get_codec
from ..errors import MedCompError
from ..fileio import check_outputs
from ..io import file_suffix
from ..volume import Volume
from ..windows import PRESETS, Window, quality_window
from . import dicom as dicom_table
from . import lossless as lossless_table
from . import ratedistortion as rd
from .report import provenance, rd_figure, run_description, to_json, write_figure, write_text

T = TypeVar("T")

DEFAULT_POINTS = 8
DEFAULT_REPEATS = 3
# Lossless settings measured beside each codec's default: JPEG-XL's slowest effort is the one that
# tops the reference table, its default (7) is the one people use.
EXTRA_LOSSLESS: dict[str, list[dict[str, Any]]] = {"jpegxl": [{"effort": 9}]}


def _progress(items: Sequence[T], enabled: bool, desc: str) -> Iterable[T]:
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="run", disable=not enabled)


def select_codecs(names: Sequence[str] | None) -> list[Codec]:
    """The codecs asked for by name, or every available codec; an unavailable one asked for is an error."""
    if names is None:
        return [codec for codec in map(get_codec, codec_names()) if codec.available]
    codecs = [get_codec(name) for name in names]
    missing = [codec.name for codec in codecs if not codec.available]
    if missing:
        raise MedCompError(f"codec(s) {', '.join(missing)} not available here (missing library or weights)")
    return codecs


def load_images(names: Sequence[str] | None) -> dict[str, Volume]:
    """The images by file path (your own: a DICOM file or series folder, NIfTI, ...) or by catalogue name;
    the evaluation images by default.  A file is named by its bare name without suffix (made unique), which
    also names its plot, ``rd_<name>.png``."""
    from .. import data

    names = [sample.name for sample in data.evaluation_images()] if names is None else names
    images: dict[str, Volume] = {}
    for name in names:
        if Path(name).exists():
            images[_unique(image_name(Path(name)), images)] = api.read(name)
        elif name in {sample.name for sample in data.CATALOGUE}:
            images[_unique(name, images)] = data.load_sample(name)
        else:
            raise MedCompError(f"--images {name}: no such file or folder, and no sample image of that name "
                               f"(samples: {', '.join(sample.name for sample in data.CATALOGUE)})")
    return images


def image_name(path: Path) -> str:
    """A file's name for tables and plot names: its bare name without the format's suffix, safe characters only."""
    stem = path.name[:-len(file_suffix(path))] if file_suffix(path) else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    return next(candidate for candidate in itertools.chain([name], (f"{name}_{n}" for n in itertools.count(2)))
                if candidate not in taken)


def lossless_results(images: Mapping[str, Volume], codecs: Sequence[Codec], *, repeats: int = 1,
                     compare_library: bool = True, extra: Mapping[str, list[dict[str, Any]]] = EXTRA_LOSSLESS,
                     progress: bool = True) -> dict[str, Any]:
    """Every lossless setting of every codec on every image (see :mod:`.lossless`)."""
    work = [(image, codec, params) for image in images for codec in codecs
            for params in lossless_table.lossless_settings(codec, extra)]
    rows, skipped = [], []
    for image, codec, params in _progress(work, progress, "lossless"):
        try:
            rows.append(lossless_table.lossless_row(image, images[image], codec, params, repeats, compare_library))
        except MedCompError as error:  # e.g. a grey-only codec on the RGB image
            skipped.append({"image": image, "codec": codec.name, "reason": str(error)})
    return {"repeats": repeats, "rows": rows, "skipped": skipped, "summary": lossless_table.summarise(rows)}


def lossy_results(images: Mapping[str, Volume], codecs: Sequence[Codec], *, reference: str = "jpeg2000",
                  points: int = DEFAULT_POINTS, progress: bool = True, window: Window | None = None) -> dict[str, Any]:
    """Rate-distortion sweeps of every lossy codec (and the reference) on every image, with BD-rates.

    Each image's points also carry the PSNR in its display window (``window``, else the image's own, else for
    CT a preset: ``windows.quality_window``) where it has one; BD-rates stay on the full-depth PSNR."""
    windows = {image: quality_window(volume, window) for image, volume in images.items()}
    swept = [codec for codec in codecs if rd.sweeps(codec)]
    if reference not in [codec.name for codec in swept]:
        anchor = get_codec(reference)
        if not rd.sweeps(anchor):
            raise MedCompError(f"reference codec {reference!r} has no lossy quality setting to sweep")
        swept.append(anchor)
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {image: {} for image in images}
    skipped = []
    for image, codec in _progress([(i, c) for i in images for c in swept], progress, "rate-distortion"):
        try:
            curves[image][codec.name] = rd.sweep(images[image], codec, points, windows[image])
        except MedCompError as error:
            skipped.append({"image": image, "codec": codec.name, "reason": str(error)})
    bd = {image: rd.bd_rates(by_codec, reference) for image, by_codec in curves.items()}
    return {"reference": reference, "bd_method": rd.BD_METHOD, "points": points, "curves": curves,
            "windows": {image: shown.to_json() if shown else None for image, shown in windows.items()},
            "skipped": skipped, "bd_rate": bd, "mean_bd_rate": rd.mean_bd_rates(bd), "speed": rd.speed_summary(curves)}


def bench_command(out_dir: Path, images: Sequence[str] | None, codecs: Sequence[str] | None, reference: str,
                  lossy: bool, lossless: bool, speed: bool, points: int, repeats: int, dicom: bool = False,
                  window: Window | None = None) -> str:
    """The ``medcomp bench`` command line that reproduces a run, written at the top of each report."""
    words = ["medcomp", "bench", "--out", str(out_dir)]
    words += ["--images", *images] if images else []
    words += [f"--window={window.source if window.source in PRESETS else f'{window.center:g}/{window.width:g}'}"
              ] if window else []
    words += ["--codecs", *codecs] if codecs else []
    words += ["--reference", reference] if reference != "jpeg2000" else []
    words += [flag for flag, off in (("--no-lossy", not lossy), ("--no-lossless", not lossless),
                                     ("--no-speed", not speed), ("--dicom", dicom)) if off]
    words += ["--points", str(points)] if points != DEFAULT_POINTS else []
    words += ["--repeats", str(repeats)] if (speed or dicom) and repeats != DEFAULT_REPEATS else []
    return " ".join(words)


def plot_paths(out_dir: Path, images: Iterable[str]) -> dict[str, Path]:
    return {image: out_dir / f"rd_{image}.png" for image in images}


def write_plots(lossy: Mapping[str, Any], paths: Mapping[str, Path], force: bool) -> None:
    """One plot per image: PSNR, PSNR in the image's window where it has one, SSIM."""
    for image, by_codec in lossy["curves"].items():
        if by_codec:
            shown = lossy["windows"].get(image)
            title = f"{image}: rate-distortion" + (f", window {shown['center']:g}/{shown['width']:g} "
                                                   f"({shown['source']})" if shown else "")
            metrics = ("psnr", "psnr_window", "ssim") if shown else ("psnr", "ssim")
            write_figure(paths[image], rd_figure(title, by_codec, metrics), force)


def run_bench(out_dir: str | os.PathLike, images: Sequence[str] | None = None, codecs: Sequence[str] | None = None,
              *, reference: str = "jpeg2000", lossy: bool = True, lossless: bool = True, speed: bool = True,
              progress: bool = True, points: int = DEFAULT_POINTS, repeats: int = DEFAULT_REPEATS,
              force: bool = False, dicom: bool = False, window: Window | None = None) -> dict[str, Any]:
    """Measure, write the reports into ``out_dir`` and return the results.

    ``images`` are file paths or sample names (:func:`load_images`); ``window`` is the display window of the
    windowed PSNR for every image (default: each image's own, see :func:`lossy_results`).

    ``speed=False`` keeps one run per setting (sizes, bit-exactness and the library's sizes are still
    measured); with it, times are the best of ``repeats`` interleaved runs.  ``dicom`` adds the DICOM
    transfer-syntax figures (``dicom.{json,md}``, see :mod:`.dicom`; it runs dcmtk, GDCM and dciodvfy).
    """
    out_dir = Path(out_dir)
    repeats = repeats if speed or dicom else 1
    selected = select_codecs(codecs)
    volumes = load_images(images)
    plots = plot_paths(out_dir, volumes)
    outputs = ([out_dir / "lossless.json", out_dir / "lossless.md"] if lossless else []) + (
        [out_dir / "lossy.json", out_dir / "lossy.md", *plots.values()] if lossy else []) + (
        [out_dir / "dicom.json", out_dir / "dicom.md"] if dicom else [])
    check_outputs(outputs, force)
    run = run_description(bench_command(out_dir, images, codecs, reference, lossy, lossless, speed, points, repeats,
                                        dicom, window))
    results: dict[str, Any] = {"run": run}
    if lossless:
        results["lossless"] = lossless_results(volumes, selected, repeats=repeats, progress=progress)
        write_lossless_report(out_dir, run, results["lossless"], force)
    if lossy:
        results["lossy"] = lossy_results(volumes, selected, reference=reference, points=points, progress=progress,
                                         window=window)
        write_plots(results["lossy"], plots, force)
        write_lossy_report(out_dir, run, results["lossy"], force)
    if dicom:
        results["dicom"] = dicom_table.dicom_results(volumes, repeats=repeats, progress=progress)
        write_text(out_dir / "dicom.json", to_json({"run": run, **results["dicom"]}), force)
        write_text(out_dir / "dicom.md", "# DICOM output: transfer syntaxes checked by dcmtk, GDCM, pydicom and "
                   "dciodvfy\n\n" + provenance(run) + "\n" + dicom_table.markdown(results["dicom"]), force)
    return results


def write_lossless_report(out_dir: Path, run: Mapping[str, Any], results: Mapping[str, Any], force: bool) -> None:
    """``lossless.json`` and ``lossless.md`` (the Markdown is rendered from exactly what the JSON holds)."""
    write_text(out_dir / "lossless.json", to_json({"run": run, **results}), force)
    write_text(out_dir / "lossless.md", "# Lossless benchmark\n\n" + provenance(run) + "\n"
               + lossless_table.markdown(results), force)


def write_lossy_report(out_dir: Path, run: Mapping[str, Any], results: Mapping[str, Any], force: bool) -> None:
    """``lossy.json`` and ``lossy.md``, which shows the ``rd_<image>.png`` plots beside it."""
    plots = {image: path.name for image, path in plot_paths(out_dir, results["curves"]).items()}
    write_text(out_dir / "lossy.json", to_json({"run": run, **results}), force)
    write_text(out_dir / "lossy.md", "# Lossy benchmark: rate-distortion and BD-rate\n\n" + provenance(run) + "\n"
               + rd.markdown(results, plots), force)
