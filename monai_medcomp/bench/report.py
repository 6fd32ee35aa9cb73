"""Writing benchmark results: JSON for machines, Markdown tables for people, PNG rate-distortion plots.

Every file is written atomically (a crash leaves the previous report, never half of one).  Plots use
matplotlib's object-oriented ``Figure`` with the Agg canvas, so no display and no global pyplot
state are involved.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..fileio import atomic_path, atomic_write, check_outputs

MISSING = "–"


def machine_description() -> dict[str, Any]:
    """What the figures were measured on: they mean little without it."""
    import imagecodecs
    import torch

    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "system": platform.platform(terse=True), "python": platform.python_version(),
            "torch": torch.__version__, "imagecodecs": imagecodecs.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_description(command: str) -> dict[str, Any]:
    return {"command": command, "date": datetime.date.today().isoformat(), "machine": machine_description()}


def describe_machine(machine: Mapping[str, Any]) -> str:
    device = f"GPU {machine['gpu']}" if machine.get("gpu") else "CPU only"
    return (f"{machine['cpus']} cores ({machine['processor']}), {device}, {machine['system']}, "
            f"Python {machine['python']}, torch {machine['torch']}, imagecodecs {machine['imagecodecs']}")


def provenance(run: Mapping[str, Any]) -> str:
    """The lines every Markdown report starts with: how to reproduce it, where and when it ran."""
    return (f"Produced by `{run['command']}` on {run['date']}.\n\n"
            f"Machine: {describe_machine(run['machine'])}.\n")


def _plain(value: Any) -> Any:
    """JSON has no numpy scalars and no infinity: lossless PSNR is written as null."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(results: Mapping[str, Any]) -> str:
    return json.dumps(_plain(results), indent=1, allow_nan=False) + "\n"


def write_text(path: Path, text: str, force: bool) -> Path:
    atomic_write(path, text.encode("utf-8"), force=force)
    return path


def report_paths(out: str | os.PathLike, stem: str, force: bool) -> tuple[Path, Path]:
    """A benchmark's ``<out>/<stem>.md`` and ``.json``, refused before any work starts when they exist
    (unless ``force``), rather than after a long run."""
    paths = Path(out) / f"{stem}.md", Path(out) / f"{stem}.json"
    check_outputs(paths, force)
    return paths


def write_report(paths: tuple[Path, Path], report: Mapping[str, Any], markdown: str, force: bool) -> None:
    """What :func:`report_paths` named: the JSON, then its Markdown."""
    write_text(paths[1], to_json(report), force)
    write_text(paths[0], markdown, force)


def cell(value: Any, digits: int = 2) -> str:
    """One table cell: numbers rounded, missing values as a dash, infinite PSNR as 'lossless'."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if math.isinf(value):
            return "lossless"
        if math.isnan(value):
            return MISSING
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 2) -> str:
    """A GitHub Markdown table; the first column is left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(v, digits) for v in row) + " |")
    return "\n".join(lines) + "\n"


def rd_figure(title: str, curves: Mapping[str, Sequence[Mapping[str, Any]]], metrics: Sequence[str] = ("psnr", "ssim")):
    """One panel per metric, quality against bits per pixel, one line per codec."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0 * len(metrics), 4.0), layout="constrained")
    for axis, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        for codec, points in curves.items():
            finite = sorted((p["payload_bpp"], p[metric]) for p in points
                            if p.get(metric) is not None and math.isfinite(p[metric]))
            if finite:
                axis.plot(*zip(*finite), marker="o", markersize=3, label=codec)
        axis.set_xlabel("bits per pixel (codec payload)")
        axis.set_ylabel({"psnr": "PSNR (dB), full bit depth", "psnr_window": "PSNR (dB) in the display window",
                         "ssim": "SSIM"}.get(metric, metric))
        axis.set_xscale("log")
        axis.grid(True, which="both", alpha=0.3)
    figure.suptitle(title)
    figure.axes[0].legend(fontsize="small")
    return figure


def write_figure(path: Path, figure: Any, force: bool) -> Path:
    with atomic_path(path, force) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return path
