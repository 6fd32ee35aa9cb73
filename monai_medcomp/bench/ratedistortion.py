"""Rate-distortion sweeps: each lossy codec's quality knob swept, bits against PSNR and SSIM, BD-rate.

Rates here are the codec payload (the chunks' bytes x 8 / pixels): the rest of a ``.mcz`` file is
the same for every codec (mostly the source's DICOM or NIfTI header) and on a small image would
dwarf the differences between codecs.  The lossless table reports whole-file figures as well.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import api, metrics
from ..codecs import Codec, Knob
from ..volume import Volume
from ..windows import Window, units_of
from .bdrate import bd_rate
from .report import markdown_table
from .speed import megabytes_per_second, timed


def sweeps(codec: Codec) -> bool:
    """Whether a codec has a rate-distortion curve to sweep: a knob and a lossy or near-lossless mode."""
    return codec.knob is not None and (codec.lossy or codec.near_lossless)


BD_METHOD = "pchip"


@dataclasses.dataclass(frozen=True)
class SweepRange:
    """Where a knob's useful curve lies, and whether its rate moves evenly on a log scale."""

    low: float
    high: float
    log: bool = True

    def at(self, fraction: float) -> float:
        """The value ``fraction`` of the way from ``low`` to ``high``, on the range's own scale."""
        if self.log:
            return self.low * (self.high / self.low) ** fraction
        return self.low + fraction * (self.high - self.low)


# The classical codecs' knobs span far more than is useful (NEAR up to 255, a JPEG 2000 target of
# 24 bpp): these ranges go from about 0.02 bpp to near-lossless on 8- to 16-bit images, measured on
# the evaluation images.  k-means stops at 128 codewords: its encoder time grows with the codebook.
SWEEP_RANGES: dict[str, SweepRange] = {
    "jpegls": SweepRange(1, 128),
    "bttc": SweepRange(1, 128),
    "jpeg2000": SweepRange(0.02, 8.0),
    "htj2k": SweepRange(1e-4, 0.1),
    "jpegxl": SweepRange(0.05, 15.0),
    "jpeg": SweepRange(5, 98, log=False),
    "kmeans": SweepRange(4, 128),
    "learned-lossy": SweepRange(30, 100, log=False),
}


def knob_range(knob: Knob) -> SweepRange:
    """A sweep range for a codec without an entry in :data:`SWEEP_RANGES`, from its knob alone.

    Quality knobs are spread linearly.  Knobs where higher means worse (a distance, a maximum error)
    change the rate evenly on a log scale, from their first lossy step: a zero distance or error is
    lossless and has no place on a rate-distortion curve.
    """
    start = knob.low if knob.low > 0 else (1 if knob.integer else knob.high / 256)
    return SweepRange(start, knob.high, log=not knob.higher_is_better and knob.high / start >= 10)


def knob_values(codec: Codec, count: int) -> list[float | int]:
    """``count`` settings of the codec's knob (fewer when an integer knob has fewer in its range)."""
    sweep_range = SWEEP_RANGES.get(codec.name) or knob_range(codec.knob)
    spread = np.geomspace if sweep_range.log else np.linspace
    return list(dict.fromkeys(codec.knob.clip(v) for v in spread(sweep_range.low, sweep_range.high, count)))


def rd_point(volume: Volume, codec: Codec, params: dict[str, Any], ms_ssim: bool = False,
             window: Window | None = None) -> dict[str, Any]:
    """One setting: rate (payload and whole file), quality and speed, measured on a real round trip.

    ``ms_ssim`` adds the MS-SSIM of the same decoded pixels (it costs about as much as the SSIM); ``window``
    adds ``psnr_window``, the PSNR in that display window (:func:`metrics.windowed_psnr`).
    """
    encode_seconds, result = timed(api.compress, volume, codec=codec, params=params)
    decode_seconds, decoded = timed(api.decompress, result.data)
    payload = result.payload_nbytes
    bits = volume.bits_stored
    point = {
        "params": result.params,
        "knob": result.params.get(codec.knob.name) if codec.knob else None,
        "payload_bpp": payload * 8 / result.num_pixels,
        "file_bpp": result.bpp,
        "psnr": metrics.psnr(volume.array, decoded.array, bits_stored=bits),
        "ssim": metrics.ssim(volume.array, decoded.array, bits_stored=bits),
        "max_abs_error": metrics.max_abs_error(volume.array, decoded.array),
        "encode_mbps": megabytes_per_second(result.raw_nbytes, encode_seconds),
        "decode_mbps": megabytes_per_second(result.raw_nbytes, decode_seconds),
    }
    if ms_ssim:
        point["ms_ssim"] = metrics.ms_ssim(volume.array, decoded.array, bits_stored=bits)
    if window is not None:
        units = units_of(volume)
        point["psnr_window"] = metrics.windowed_psnr(volume.array, decoded.array, window.low, window.high,
                                                     slope=units.slope, intercept=units.intercept)
    return point


def sweep(volume: Volume, codec: Codec, count: int, window: Window | None = None) -> list[dict[str, Any]]:
    """The codec's curve on one volume, ``count`` knob settings (fewer when an integer knob is short)."""
    return [rd_point(volume, codec, codec.with_knob(value), window=window) for value in knob_values(codec, count)]


def curve(points: Iterable[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(payload bpp, PSNR) pairs of a sweep, as BD-rate takes them."""
    return [(p["payload_bpp"], p["psnr"]) for p in points]


def bd_rates(curves: Mapping[str, Sequence[Mapping[str, Any]]], reference: str,
             method: str = BD_METHOD) -> dict[str, float | None]:
    """BD-rate of every codec's curve against the reference codec's curve on the same image."""
    if reference not in curves:
        return {}
    anchor = curve(curves[reference])
    return {name: bd_rate(anchor, curve(points), method) for name, points in curves.items()}


def mean_bd_rates(per_image: Mapping[str, Mapping[str, float | None]]) -> dict[str, dict[str, Any]]:
    """Mean BD-rate of each codec over the images where it could be computed, and on how many."""
    values: dict[str, list[float]] = {}
    for rates in per_image.values():
        for name, value in rates.items():
            values.setdefault(name, [])
            if value is not None:
                values[name].append(value)
    return {name: {"mean": statistics.fmean(v) if v else None, "images": len(v)} for name, v in values.items()}


def speed_summary(curves: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Median encode and decode MB/s of each codec over all its sweep points on all images."""
    points: dict[str, list[Mapping[str, Any]]] = {}
    for by_codec in curves.values():
        for name, sweep_points in by_codec.items():
            points.setdefault(name, []).extend(sweep_points)
    return {name: {key: _median(p[key] for p in group) for key in ("encode_mbps", "decode_mbps")}
            for name, group in points.items()}


def _median(values: Iterable[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(finite) if finite else None


def bd_table(results: Mapping[str, Any]) -> str:
    """Images down, codecs across, BD-rate in percent against the reference; the mean over images last."""
    codecs = list(results["mean_bd_rate"])
    body = [[image] + [rates.get(name) for name in codecs] for image, rates in results["bd_rate"].items()]
    body.append(["**mean**"] + [results["mean_bd_rate"][name]["mean"] for name in codecs])
    return markdown_table(["image"] + codecs, body, digits=1)


def _psnr_cell(key: str) -> Any:
    """A PSNR column: "lossless" for an exact point (its PSNR is null in JSON), a dash where not measured."""
    return lambda p: math.inf if p["max_abs_error"] == 0 else p.get(key)


POINT_COLUMNS = [("knob", lambda p: p["knob"]), ("payload bpp", lambda p: p["payload_bpp"]),
                 ("file bpp", lambda p: p["file_bpp"]), ("PSNR dB", _psnr_cell("psnr")),
                 ("PSNR in window dB", _psnr_cell("psnr_window")), ("SSIM", lambda p: p["ssim"]),
                 ("max error", lambda p: p["max_abs_error"]), ("enc MB/s", lambda p: p["encode_mbps"]),
                 ("dec MB/s", lambda p: p["decode_mbps"])]


def points_table(points: Sequence[Mapping[str, Any]]) -> str:
    """One row per knob setting; an exact reconstruction shows as lossless (its PSNR is null in JSON).  Points
    measured in a display window get their windowed PSNR beside the full-depth one."""
    windowed = any("psnr_window" in p for p in points)
    columns = [(name, cell) for name, cell in POINT_COLUMNS if windowed or name != "PSNR in window dB"]
    return markdown_table([name for name, _ in columns], [[cell(p) for _, cell in columns] for p in points],
                          digits=3)


def markdown(results: Mapping[str, Any], plots: Mapping[str, str]) -> str:
    """The lossy report body: BD-rate table, speed, then each image's plot and measured points."""
    reference = results["reference"]
    parts = [
        f"## BD-rate against {reference}\n\nBjontegaard delta rate in percent at equal PSNR ({results['bd_method']} "
        "interpolation of log-rate over PSNR, over the PSNR range both curves cover): negative means fewer bits "
        f"than {reference}. Rates are the codec payload; PSNR uses the peak of the true bit depth "
        f"(2^bits_stored - 1). {results['points']} knob settings per codec; lossless settings and settings "
        "beaten by a cheaper one are left out of the curves. A dash: no BD-rate exists (a curve with fewer than two "
        "such points, or no PSNR range shared with the reference).\n\n"
        + bd_table(results),
        "## Speed\n\nMedian MB/s of raw pixel data over each codec's sweep (one run per setting, "
        "default thread pool).\n\n"
        + markdown_table(["codec", "encode MB/s", "decode MB/s"],
                         [[name, s["encode_mbps"], s["decode_mbps"]] for name, s in results["speed"].items()],
                         digits=1),
    ]
    for image, by_codec in results["curves"].items():
        if not by_codec:
            continue
        section = [f"## {image}\n", f"![{image} rate-distortion]({plots[image]})\n"]
        shown = results.get("windows", {}).get(image)
        if shown:
            section.append(f"PSNR in window: {shown['center']:g}/{shown['width']:g} ({shown['source']}), the image "
                           "clipped to the window and the peak its width.\n")
        for name, points in by_codec.items():
            section.append(f"<details><summary>{name}</summary>\n\n{points_table(points)}\n</details>\n")
        parts.append("\n".join(section))
    if results["skipped"]:
        parts.append("## Not measured\n\n" + "".join(f"- {s['image']} / {s['codec']}: {s['reason']}\n"
                                                         for s in results["skipped"]))
    return "\n".join(parts)
