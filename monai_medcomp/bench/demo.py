"""``medcomp demo``: every available codec on the bundled evaluation images, in a few minutes.

The lossless table covers every image and every codec at its default setting, each slice checked
bit for bit; the rate-distortion part sweeps a few settings on two images.  The full benchmark
(``medcomp bench``) adds the slow JPEG-XL effort, repeated timings and the bare-library comparison.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..fileio import check_outputs
from . import lossless as lossless_table
from . import ratedistortion as rd
from .report import provenance, rd_figure, run_description, to_json, write_figure, write_text
from .runner import load_images, lossless_results, lossy_results, select_codecs

DEMO_RD_IMAGES = ("ct_693", "us_rgb")  # a signed 14-bit CT and an 8-bit RGB ultrasound
DEMO_POINTS = 4


def console_summary(lossless: Mapping[str, Any], lossy: Mapping[str, Any]) -> str:
    """What the demo prints: bpp per image and codec, the bit-exact count and the BD-rates."""
    summary = lossless["summary"]
    slices = sum(s["slices"] for s in summary.values())
    exact = sum(s["exact_slices"] for s in summary.values())
    return ("Lossless, bits per pixel of the whole .mcz file:\n\n"
            + lossless_table.bpp_table(lossless["rows"], summary, "file_bpp")
            + f"\n{exact} of {slices} slices decoded bit for bit.\n\n"
            + f"BD-rate (%) against {lossy['reference']}, negative = fewer bits for the same PSNR:\n\n"
            + rd.bd_table(lossy))


def run_demo(out_dir: str | os.PathLike, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Run the demo, print its tables, and write ``report.md``, ``report.json`` and the RD plots into ``out_dir``."""
    out_dir = Path(out_dir)
    codecs = select_codecs(None)
    volumes = load_images(None)
    rd_volumes = {name: volumes[name] for name in DEMO_RD_IMAGES if name in volumes}
    plots = {image: out_dir / f"rd_{image}.png" for image in rd_volumes}
    check_outputs([out_dir / "report.md", out_dir / "report.json", *plots.values()], force)
    run = run_description(f"medcomp demo --out {out_dir}")
    lossless = lossless_results(volumes, codecs, compare_library=False, extra={}, progress=progress)
    lossy = lossy_results(rd_volumes, codecs, points=DEMO_POINTS, progress=progress)
    print(console_summary(lossless, lossy))
    for image, by_codec in lossy["curves"].items():
        write_figure(plots[image], rd_figure(f"{image}: rate-distortion", by_codec), force)
    write_text(out_dir / "report.json", to_json({"run": run, "lossless": lossless, "lossy": lossy}), force)
    write_text(out_dir / "report.md", "# MedComp demo\n\n" + provenance(run) + "\n# Lossless\n\n"
               + lossless_table.markdown(lossless) + "\n# Lossy\n\n"
               + rd.markdown(lossy, {image: path.name for image, path in plots.items()}), force)
    print(f"Report written to {out_dir / 'report.md'}")
    return {"run": run, "lossless": lossless, "lossy": lossy}
