"""The figures of the ``learned-lossy`` codec against the classical codecs, measured in one run.

    python -m monai_medcomp.bench.learned_lossy --out benchmarks

Rates are the codec payload in bits per pixel (an RGB pixel counts once), as in the sweeps of
``medcomp bench``: the rest of a ``.mcz`` file is the same for every codec.  On every evaluation image
learned-lossy, JPEG 2000, HTJ2K and JPEG-XL are each set, by a search on their own knob, to the same
payload rates, spread evenly on a log scale from 4:1 to 40:1 of the stored bits (``bits_stored / 4``
down to ``bits_stored / 40`` bpp; RGB: three times that), so that their curves cover one range.  The
search brackets a rate between the nearest settings tried above and below it and interpolates the
log-rate between them, one encode per step, until a setting lies within 2 % (or the bracket closes on
a jump in the rate, or no setting is left between two integer settings); every encode of an image is
kept for its next targets.  BD-rate is that of learned-lossy against each codec at equal PSNR (peak of
the true bit depth), and against JPEG 2000 at equal MS-SSIM in dB, -10 log10(1 - MS-SSIM).  The volumes
are coded slice by slice (learned-lossy has no inter-slice context) and count among the grey images;
the RGB ultrasound is reported apart.  At 16:1
(``bits_stored / 16`` bpp) learned-lossy, JPEG and JPEG 2000 are searched the same way; the best seed
codec's figures are read from ``seed_lossy.json`` (its fixed rate, not re-measured here).  Speed: one
core (one engine worker, one torch and one BLAS thread), median of ``repeats`` round trips on a
512x512 CT, learned-lossy and JPEG 2000 at 16:1.  Exactness: each file decoded with one and with two
engine threads (and on a CUDA device where there is one) must give the same pixels.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import statistics
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .. import api
from ..codecs import Codec, get_codec
from ..data import evaluation_images, load_sample
from ..errors import CodecError, UnsupportedDataError
from ..metrics import ms_ssim_scales
from ..volume import Volume
from . import ratedistortion as rd
from . import seed_lossy
from .bdrate import bd_rate
from .report import markdown_table, provenance, report_paths, run_description, write_report
from .speed import megabytes_per_second, one_core, timed

CODEC = "learned-lossy"
ANCHORS = ("jpeg2000", "htj2k", "jpegxl")
SWEPT = (CODEC, *ANCHORS)
AT_RATIO = (CODEC, "jpeg", "jpeg2000")  # measured at the paper's 16:1
MS_SSIM_ANCHOR = "jpeg2000"
MS_SSIM_COLUMN = f"{MS_SSIM_ANCHOR} (MS-SSIM)"
RATIOS = (4.0, 40.0)  # the span of every curve, of the stored bits
RATIO = 16.0
DEFAULT_POINTS = 10
TOLERANCE = 0.02  # the search stops within 2 % of a target rate
REACHED = 0.05  # a 16:1 figure counts when its rate is within 5 % of the target (rate control's bpp tolerance)
MAX_STEPS = 8  # encodes per target, after the two ends of the knob
GUARD = 0.1  # each step lands in the middle 80 % of its bracket, so the bracket always shrinks
MIN_WIDTH = 1e-3  # of the knob's search range: a narrower bracket around a target is a jump in the rate
SEARCH_RANGES = {"jpegxl": rd.SweepRange(0.01, 25.0)}  # libjxl codes any smaller distance as 0.01
SPEED_IMAGE = "ct_693"
EXACT_IMAGES = ("ct_693", "mr_example4d", "us_rgb")  # one slice, 24 slices (two threads share them), RGB
DEFAULT_REPEATS = 5
SEED_KEYS = {"payload_bpp": "bpp"}  # the seed report has whole-file rates only
COMMAND = "python -m monai_medcomp.bench.learned_lossy --out {out}"


def stored_bits(volume: Volume) -> int:
    """Bits a pixel takes before compression: the true bit depth, times three for RGB."""
    return volume.bits_stored * volume.channels


def target_rates(volume: Volume, points: int = DEFAULT_POINTS) -> list[float]:
    """Payload bpp from 4:1 to 40:1 of the stored bits, evenly on a log scale, highest first."""
    bits = stored_bits(volume)
    return [float(v) for v in np.geomspace(bits / RATIOS[0], bits / RATIOS[1], points)]


def search_range(codec: Codec) -> rd.SweepRange:
    """The knob's sweep range (:data:`ratedistortion.SWEEP_RANGES`) with its low-quality end moved out to the
    knob's own limit: small images need lower quality for a given rate than the range was measured for."""
    knob = codec.knob
    if codec.name in SEARCH_RANGES:
        return SEARCH_RANGES[codec.name]
    span = rd.SWEEP_RANGES.get(codec.name) or rd.knob_range(knob)
    if not knob.higher_is_better:
        return dataclasses.replace(span, high=knob.high)
    return dataclasses.replace(span, low=knob.low) if knob.low > 0 or not span.log else span


@dataclasses.dataclass
class RateSearch:
    """Settings of one codec's knob that give wanted payload rates on one volume; every encode is kept.

    A position runs from 0, the worst setting of :func:`search_range`, to 1, its best; the rate rises with
    it.  Each step interpolates the log-rate between the nearest settings below and above the target, or
    halves the bracket when the step before did not halve its log-rate gap (a plateau or a jump, as JPEG 2000
    has near its highest rates).  A target out of the range gets the closest end.
    """

    volume: Volume
    codec: Codec
    rates: dict[float, tuple[float, float]] = dataclasses.field(default_factory=dict)  # knob -> (position, bpp)

    def value(self, position: float) -> float | int:
        knob = self.codec.knob
        return knob.clip(search_range(self.codec).at(position if knob.higher_is_better else 1.0 - position))

    def trial(self, position: float) -> None:
        value = self.value(position)
        if value not in self.rates:
            result = api.compress(self.volume, codec=self.codec, params=self.codec.with_knob(value))
            self.rates[value] = (position, result.payload_nbytes * 8 / result.num_pixels)

    def closest(self, target: float) -> float | int:
        return min(self.rates, key=lambda value: abs(math.log(self.rates[value][1] / target)))

    def setting(self, target: float) -> float | int:
        """The knob value whose payload rate is closest to ``target`` bpp (log scale) once the search stops."""
        self.trial(0.0)
        self.trial(1.0)
        gap = math.inf
        for _ in range(MAX_STEPS):
            if abs(math.log(self.rates[self.closest(target)][1] / target)) <= math.log1p(TOLERANCE):
                break
            below = [trial for trial in self.rates.values() if trial[1] <= target]
            above = [trial for trial in self.rates.values() if trial[1] >= target]
            if not below or not above:
                break
            (low, low_rate), (high, high_rate) = max(below), min(above)
            previous, gap = gap, math.log(high_rate / low_rate)
            if high - low < MIN_WIDTH:
                break
            fraction = math.log(target / low_rate) / gap if 0 < gap <= previous / 2 else 0.5
            position = low + min(max(fraction, GUARD), 1.0 - GUARD) * (high - low)
            if self.value(position) in self.rates:  # an integer knob with no setting left in between
                break
            self.trial(position)
        return self.closest(target)


def point_at(search: RateSearch, value: float | int, target: float, ms_ssim: bool = True) -> dict[str, Any]:
    """The round trip (:func:`ratedistortion.rd_point`) at one knob setting, with the rate it was chosen for."""
    return {**rd.rd_point(search.volume, search.codec, search.codec.with_knob(value), ms_ssim), "target_bpp": target}


def sweep(search: RateSearch, targets: Iterable[float], ms_ssim: bool = True) -> list[dict[str, Any]]:
    """One point per distinct setting found for the targets, by rising rate."""
    settings: dict[float | int, float] = {}
    for target in targets:
        settings.setdefault(search.setting(target), target)
    return sorted((point_at(search, value, target, ms_ssim) for value, target in settings.items()),
                  key=lambda p: p["payload_bpp"])


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM), the usual scale for BD-rate at equal MS-SSIM (1 is infinite)."""
    if not math.isfinite(value):
        return math.nan
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


def ms_ssim_curve(points: Iterable[Mapping[str, Any]]) -> list[tuple[float, float]]:
    return [(p["payload_bpp"], ms_ssim_db(p["ms_ssim"])) for p in points]


def bd_against(curves: Mapping[str, Sequence[Mapping[str, Any]]], test: str, anchor: str,
               curve: Callable[[Iterable[Mapping[str, Any]]], list[tuple[float, float]]] = rd.curve) -> float | None:
    """BD-rate in percent of ``test`` against ``anchor`` (None: a curve is missing, or they do not overlap)."""
    if test not in curves or anchor not in curves:
        return None
    return bd_rate(curve(curves[anchor]), curve(curves[test]), rd.BD_METHOD)


def bd_row(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, float | None]:
    """learned-lossy against every anchor at equal PSNR, and against JPEG 2000 at equal MS-SSIM."""
    row = {anchor: bd_against(curves, CODEC, anchor) for anchor in ANCHORS}
    row[MS_SSIM_COLUMN] = bd_against(curves, CODEC, MS_SSIM_ANCHOR, ms_ssim_curve)
    return row


def image_results(volume: Volume, points: int) -> dict[str, Any]:
    """Every codec's curve and 16:1 point on one image, BD-rates, and how many encodes the searches took."""
    searches = {name: RateSearch(volume, get_codec(name)) for name in dict.fromkeys((*SWEPT, *AT_RATIO))}
    targets = target_rates(volume, points)
    curves, at_ratio, skipped = {}, {}, []
    for name, search in searches.items():
        try:
            if name in SWEPT:
                curves[name] = sweep(search, targets, ms_ssim=name in (CODEC, MS_SSIM_ANCHOR))
            if name in AT_RATIO:
                target = stored_bits(volume) / RATIO
                point = point_at(search, search.setting(target), target, ms_ssim=False)
                at_ratio[name] = {**point, "reached": abs(point["payload_bpp"] / point["target_bpp"] - 1) <= REACHED}
        except UnsupportedDataError as error:  # a codec that refuses this pixel format
            skipped.append({"codec": name, "reason": str(error)})
    learned = [p["payload_bpp"] for p in curves.get(CODEC, [])]
    return {"shape": list(volume.array.shape), "bits_stored": volume.bits_stored, "slices": volume.num_slices,
            "ms_ssim_scales": ms_ssim_scales(*volume.array.shape[1:3]), "targets": targets,
            "learned_ratios": [stored_bits(volume) / max(learned), stored_bits(volume) / min(learned)] if learned
            else None, "curves": curves, "at_ratio": at_ratio, "bd_rate": bd_row(curves), "skipped": skipped,
            "search_encodes": {name: len(search.rates) for name, search in searches.items()}}


def speed(volume: Volume, repeats: int) -> dict[str, dict[str, Any]]:
    """One-core median encode and decode MB/s of raw stored data, learned-lossy and JPEG 2000 at 16:1."""
    rows = {}
    with one_core():
        for name in (CODEC, "jpeg2000"):
            codec = get_codec(name)
            params = codec.with_knob(RateSearch(volume, codec).setting(stored_bits(volume) / RATIO))
            api.decompress(api.compress(volume, codec=codec, params=params, workers=1).data, workers=1)  # warm-up
            encodes, decodes = [], []
            for _ in range(repeats):
                seconds, result = timed(api.compress, volume, codec=codec, params=params, workers=1)
                encodes.append(seconds)
                seconds, _ = timed(api.decompress, result.data, workers=1)
                decodes.append(seconds)
            encode, decode = statistics.median(encodes), statistics.median(decodes)
            rows[name] = {"params": result.params, "payload_bpp": result.payload_nbytes * 8 / result.num_pixels,
                          "raw_bytes": result.raw_nbytes, "runs": repeats, "encode_seconds": encode,
                          "decode_seconds": decode, "encode_mbps": megabytes_per_second(result.raw_nbytes, encode),
                          "decode_mbps": megabytes_per_second(result.raw_nbytes, decode)}
    return rows


def pixel_digest(volume: Volume) -> str:
    return hashlib.blake2b(np.ascontiguousarray(volume.array).tobytes(), digest_size=8).hexdigest()


def exactness(volumes: Mapping[str, Volume]) -> list[dict[str, Any]]:
    """Each volume coded once with learned-lossy's default and decoded with 1 and 2 engine threads (and CUDA)."""
    import torch

    codec = get_codec(CODEC)
    ways: dict[str, dict[str, Any]] = {"1 thread": {"workers": 1}, "2 threads": {"workers": 2}}
    if torch.cuda.is_available():
        ways["cuda"] = {"device": "cuda"}
    rows = []
    for name, volume in volumes.items():
        data = api.compress(volume, codec=codec).data
        digests: dict[str, str | None] = {}
        errors = {}
        for way, options in ways.items():
            try:
                with one_core() if options.get("workers") == 1 else contextlib.nullcontext():
                    digests[way] = pixel_digest(api.decompress(data, **options))
            except CodecError as error:  # the codec's own digest check: different pixels on this path
                digests[way], errors[way] = None, str(error)
        rows.append({"image": name, "shape": list(volume.array.shape), "params": codec.default_params(),
                     "digests": digests, "errors": errors,
                     "equal": None not in digests.values() and len(set(digests.values())) == 1})
    return rows


def seed_figures(path: Path) -> dict[str, Any] | None:
    """The best seed codec of ``seed_lossy.json`` (its report's verdict on the grey images) and its figures."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    images = report["images"]
    codecs = [c for c in seed_lossy.LEARNED if all(c in r["codecs"] for r in images.values())]
    best = seed_lossy.best_codec(images, codecs, "grey")
    if best is None:
        return None
    return {"file": path.name, "command": report["run"]["command"], "date": report["run"]["date"], "codec": best,
            "images": {name: {key: r["codecs"][best][key] for key in ("bpp", "psnr", "ssim")}
                       for name, r in images.items()}}


def run(volumes: Mapping[str, Volume], speed_volume: Volume, exact_volumes: Mapping[str, Volume],
        seed: Mapping[str, Any] | None = None, points: int = DEFAULT_POINTS, repeats: int = DEFAULT_REPEATS
        ) -> dict[str, Any]:
    """Every figure.  ``volumes``: images by name, grey and RGB (``channels`` tells them apart)."""
    import torch

    images = {}
    for name, volume in volumes.items():
        seconds, figures = timed(image_results, volume, points)
        print(f"{name} {volume.array.shape}: {seconds:.0f} s", flush=True)
        images[name] = {"color": "rgb" if volume.channels == 3 else "grey", **figures}
    grey = {name: r["bd_rate"] for name, r in images.items() if r["color"] == "grey"}
    return {"codec": CODEC, "anchors": list(ANCHORS), "ratios": list(RATIOS), "ratio": RATIO, "points": points,
            "bd_method": rd.BD_METHOD, "images": images, "mean_bd_rate": rd.mean_bd_rates(grey),
            "seed": seed, "speed": {"image": SPEED_IMAGE, "shape": list(speed_volume.array.shape),
                                    "cuda": torch.cuda.is_available(), "codecs": speed(speed_volume, repeats)},
            "exactness": exactness(exact_volumes)}


# --- the report ---------------------------------------------------------------------------------------------

def _names(results: Mapping[str, Any], color: str) -> list[str]:
    return [name for name, r in results["images"].items() if r["color"] == color]


def bd_markdown(results: Mapping[str, Any], color: str) -> str:
    """Images down, BD-rate of learned-lossy against each anchor across; the grey table ends with the means."""
    columns = [*ANCHORS, MS_SSIM_COLUMN]
    body = []
    for name in _names(results, color):
        r = results["images"][name]
        span = "–" if r["learned_ratios"] is None else "{:.1f} to {:.1f}".format(*r["learned_ratios"])
        body.append([name, r["slices"], span, *(r["bd_rate"][c] for c in columns)])
    if color == "grey":
        mean = results["mean_bd_rate"]
        body.append(["**mean**", None, None, *(mean.get(c, {}).get("mean") for c in columns)])
        body.append(["images with a figure", None, None, *(mean.get(c, {}).get("images") for c in columns)])
    headers = ["image", "slices", f"{CODEC} ratios", *(f"vs {c}" for c in columns)]
    return markdown_table(headers, body, digits=1)


def _ratio_value(results: Mapping[str, Any], name: str, column: str, key: str) -> Any:
    """A 16:1 figure: ours where the rate was reached, the seed codec's from its own report."""
    if column == "seed":
        seed = results["seed"]
        return seed["images"].get(name, {}).get(SEED_KEYS.get(key, key)) if seed else None
    point = results["images"][name]["at_ratio"].get(column)
    return point[key] if point and point["reached"] else None


def ratio_markdown(results: Mapping[str, Any]) -> str:
    """PSNR, SSIM and bpp at 16:1, grey images (then the mean of those every column coded) and RGB apart."""
    seed = results["seed"]
    columns = [*AT_RATIO] + (["seed"] if seed else [])
    headers = ["image", *AT_RATIO] + ([f"{seed['codec']} (seed)"] if seed else [])
    parts = []
    for key, label, digits in (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 4), ("payload_bpp", "bits per pixel", 3)):
        for color in ("grey", "rgb"):
            names = _names(results, color)
            if not names:
                continue
            body = [[n, *(_ratio_value(results, n, c, key) for c in columns)] for n in names]
            if color == "grey":
                common = [n for n in names if all(_ratio_value(results, n, c, "psnr") is not None for c in columns)]
                body.append([f"mean of the {len(common)} images every column coded"]
                            + [statistics.fmean(row[i + 1] for row in body if row[0] in common) if common else None
                               for i in range(len(columns))])
            parts.append(f"### {color}: {label}\n\n" + markdown_table(headers, body, digits))
    return "\n".join(parts)


def not_reached(results: Mapping[str, Any]) -> list[str]:
    """16:1 rates a codec could not reach within 5 %, and codecs an image refused."""
    lines = []
    for name, r in results["images"].items():
        for codec, point in r["at_ratio"].items():
            if not point["reached"]:
                lines.append(f"- {name} / {codec}: 16:1 is {point['target_bpp']:.3f} bpp; its closest setting "
                             f"({point['knob']:g}) gives {point['payload_bpp']:.3f} bpp\n")
        lines += [f"- {name} / {s['codec']}: {s['reason']}\n" for s in r["skipped"]]
    return lines


def markdown(results: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    seed, speed_part = results["seed"], results["speed"]
    small = {name: r["ms_ssim_scales"] for name, r in results["images"].items() if r["ms_ssim_scales"] < 5}
    parts = [
        f"# {CODEC} against the classical codecs\n\n" + provenance(run_info),
        __doc__.split("\n\n", 2)[2].strip() + "\n",
        f"## BD-rate of {CODEC}, grey evaluation images\n\nBjontegaard delta rate in percent ({results['bd_method']} "
        f"interpolation of log-rate, over the quality range both curves cover): negative means {CODEC} needs fewer "
        f"bits for the same quality. {results['points']} target rates per codec and image; settings beaten by a "
        f"cheaper one are left out of the curves. `{CODEC} ratios`: the compression ratios of the stored bits its "
        "curve spans. The last column compares at equal MS-SSIM in dB, -10 log10(1 - MS-SSIM): MS-SSIM of MONAI "
        "(`compute_ms_ssim`, 11x11 Gaussian window, sigma 1.5, the five weights of Wang et al. 2003) per slice, "
        "averaged; slices under 176 pixels a side keep the scales whose window still fits, with the first weights "
        "renormalised to sum to one"
        + (" (" + ", ".join(f"{n}: {s} scales" for n, s in small.items()) + ")" if small else "")
        + ". A dash: no BD-rate exists (too few points, or no quality range shared).\n\n"
        + bd_markdown(results, "grey"),
    ]
    if _names(results, "rgb"):
        parts.append(f"## BD-rate of {CODEC}, RGB\n\nThe same on the RGB ultrasound, not in the grey mean; rates are "
                     "bits per RGB pixel, the stored bits 24.\n\n" + bd_markdown(results, "rgb"))
    seed_text = (f"The `{seed['codec']}` column is the best seed codec of `{seed['file']}` (the highest mean grey "
                 "PSNR over the images where JPEG reached every seed codec's rate, that report's verdict), copied "
                 f"from it, not re-measured: `{seed['command']}`, {seed['date']}; its rate is its own fixed rate and "
                 "counts the whole file, not 16:1 of the payload. " if seed else
                 "No `seed_lossy.json` was found: the seed codecs are missing. ")
    parts.append(f"## At 16:1\n\nPayload bpp = bits_stored / 16 ({CODEC}, JPEG and JPEG 2000 each searched to within "
                 f"{REACHED:.0%} of it; a dash where the codec cannot get there). {seed_text}\n\n"
                 + ratio_markdown(results))
    rows = [[name, r["params"][get_codec(name).knob.name], r["payload_bpp"], r["encode_mbps"], r["decode_mbps"],
             r["encode_seconds"], r["decode_seconds"]] for name, r in speed_part["codecs"].items()]
    runs = {r["runs"] for r in speed_part["codecs"].values()}
    gpu = ("A CUDA device was present, but learned-lossy runs on the CPU (numpy and constriction) whatever the "
           "device: no GPU figures." if speed_part["cuda"] else "No CUDA device: no GPU figures exist.")
    parts.append(f"## Speed, one core\n\nMB/s of raw stored data (16-bit) through `compress` / `decompress` on "
                 f"`{speed_part['image']}` {'x'.join(map(str, speed_part['shape']))}, both codecs at 16:1, one "
                 f"engine worker, one torch and BLAS thread, median of {', '.join(map(str, sorted(runs)))} runs after "
                 f"an untimed one; the machine is shared with other work. {gpu}\n\n"
                 + markdown_table(["codec", "setting", "payload bpp", "encode MB/s", "decode MB/s", "encode s",
                                   "decode s"], rows, digits=3))
    ways = list(dict.fromkeys(way for row in results["exactness"] for way in row["digests"]))
    parts.append(f"## Exactness\n\nThe same {CODEC} file (default quality) decoded with one engine thread (and one "
                 "torch and BLAS thread) and with two; "
                 + ("and on the CUDA device; " if "cuda" in ways else "no CUDA device here to compare with; ")
                 + "BLAKE2b-64 digests of the decoded pixels.\n\n"
                 + markdown_table(["image", "shape", *ways, "equal"],
                                  [[row["image"], "x".join(map(str, row["shape"])),
                                    *(row["digests"].get(way) for way in ways), row["equal"]]
                                   for row in results["exactness"]]))
    missed = not_reached(results)
    if missed:
        parts.append("## Not reached\n\n" + "".join(missed))
    for name, r in results["images"].items():
        section = [f"## {name}\n"]
        for codec, points in r["curves"].items():
            section.append(f"<details><summary>{codec} ({r['search_encodes'][codec]} search encodes)</summary>\n\n"
                           f"{rd.points_table(points)}\n</details>\n")
        parts.append("\n".join(section))
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--images", nargs="*", help="evaluation image names (default: all)")
    parser.add_argument("--points", type=int, default=DEFAULT_POINTS, help="target rates per curve")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="speed runs (median)")
    parser.add_argument("--seed", help="the seed codecs' report (default: seed_lossy.json in --out)")
    parser.add_argument("--force", action="store_true", help="overwrite existing reports")
    args = parser.parse_args(argv)
    if args.points < 2 or args.repeats < 1:
        parser.error("--points must be at least 2 and --repeats at least 1")
    known = [sample.name for sample in evaluation_images()]
    unknown = sorted(set(args.images or ()) - set(known))
    if unknown:
        parser.error(f"not evaluation images: {', '.join(unknown)}")
    paths = report_paths(args.out, "learned_lossy", args.force)
    command = COMMAND.format(out=args.out) + "".join(
        f" {flag} {value}" for flag, value, default in (("--images", " ".join(args.images or ()), ""),
                                                         ("--points", args.points, DEFAULT_POINTS),
                                                         ("--repeats", args.repeats, DEFAULT_REPEATS),
                                                         ("--seed", args.seed, None)) if value != default)
    run_info = run_description(command)
    volumes = {name: load_sample(name) for name in known if not args.images or name in args.images}

    def loaded(name: str) -> Volume:
        return volumes[name] if name in volumes else load_sample(name)

    seed = seed_figures(Path(args.seed) if args.seed else Path(args.out) / "seed_lossy.json")
    results = run(volumes, loaded(SPEED_IMAGE), {name: loaded(name) for name in EXACT_IMAGES}, seed, args.points,
                  args.repeats)
    write_report(paths, {"run": run_info, **results}, markdown(results, run_info), args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
