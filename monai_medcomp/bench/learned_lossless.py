"""The figures of the ``learned-lossless`` codec against the classical codecs, measured in one run.

    python -m monai_medcomp.bench.learned_lossless --out benchmarks

Every figure goes through the API (whole ``.mcz`` files, header and source metadata included) with one
engine worker, one torch thread and one BLAS thread, and every round trip is checked: bit for bit when
lossless, |error| <= D per pixel when near-lossless.  Parts: lossless bpp on the grey evaluation images
against JPEG-XL (effort 9), JPEG-LS, JPEG 2000 and ``mlp-huffman``; the RGB image apart; the volumes
(the evaluation volumes and a thin-slice volume of the training pool) in the codec's slabs against
single slices (the gain of inter-slice context) and per-slice JPEG-XL; near-lossless bpp at D = 1, 2, 4
against JPEG-LS NEAR = D; encode and decode speed (median of ``repeats`` runs) on a 512x512 CT and a
large radiograph on one core, and on a volume with one and two engine workers.  The machine is shared
with other work, so the speeds are indicative; the bpp figures do not depend on it.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any, Mapping, Sequence

import numpy as np

from .. import api
from ..codecs import get_codec
from ..codecs.base import Codec
from ..data import evaluation_images, get_sample, load_sample
from ..metrics import max_abs_error
from ..volume import Volume
from .lossless import lossless_row, setting_label
from .report import cell, markdown_table, provenance, report_paths, run_description, write_report
from .speed import measure, megabytes_per_second, one_core, timed

CODEC = "learned-lossless"
REFERENCE = ("jpegxl", {"effort": 9})
LOSSLESS_SETTINGS: tuple[tuple[str, dict[str, Any]], ...] = (
    (CODEC, {}), REFERENCE, ("jpegls", {}), ("jpeg2000", {}), ("mlp-huffman", {}))
SINGLE_SLICES = {"slab": 1}  # learned-lossless without inter-slice context
MAX_ERRORS = (1, 2, 4)
SPEED_IMAGES = ("ct_693", "cr_rg1")
THIN_SLICES = "mni152_t1"  # 1 mm isotropic, from the training pool
PARALLEL_VOLUME = THIN_SLICES  # the volume timed with one and with two workers
DEFAULT_REPEATS = 3
# The compiled core's goals: ratios are learned-lossless bpp / the other codec's bpp (of the means over the images).
TARGETS = {"lossless_required": 1.0, "lossless": 0.90, "every_image": 1.0, "volumes": 0.85, "near_lossless": 0.80,
           "speed_mbps": 5.0, "rgb": 1.0, "two_workers": 1.6}
COMMAND = "python -m monai_medcomp.bench.learned_lossless --out {out}"


def label(codec: str, params: Mapping[str, Any]) -> str:
    """The table name of a codec setting, e.g. ``jpegxl effort=9`` or ``learned-lossless slab=1``."""
    coder = get_codec(codec)
    return setting_label(coder, {**coder.default_params(), **params})


def lossless_rows(volumes: Mapping[str, Volume], settings: Sequence[tuple[str, dict[str, Any]]]
                  ) -> list[dict[str, Any]]:
    """One row of the lossless table (bpp, bit-exactness, one-run times) per image and setting."""
    rows = []
    for name, volume in volumes.items():
        for codec_name, changes in settings:
            codec = get_codec(codec_name)
            row = lossless_row(name, volume, codec, {**codec.default_params(), **changes}, compare_library=False)
            rows.append({**row, "modality": get_sample(name).modality, "exact": not row["failed_slices"]})
    return rows


def near_lossless_rows(volumes: Mapping[str, Volume], max_error: int) -> list[dict[str, Any]]:
    """learned-lossless and JPEG-LS NEAR at the same bound on every image: file bpp and measured max error."""
    rows = []
    for name, volume in volumes.items():
        for codec_name in (CODEC, "jpegls"):
            codec = get_codec(codec_name)
            params = codec.with_max_error(max_error)
            run = measure(volume, codec, params)
            rows.append({"image": name, "modality": get_sample(name).modality, "codec": codec_name,
                         "setting": setting_label(codec, params), "params": params, "file_bpp": run.result.bpp,
                         "max_error": max_abs_error(volume.array, run.decoded.array),
                         "encode_seconds": run.encode_seconds, "decode_seconds": run.decode_seconds})
    return rows


def compare(rows: Sequence[Mapping[str, Any]], learned: str, reference: str) -> dict[str, Any]:
    """bpp per image and setting, means per modality and overall, and learned / reference ratios."""
    by_image: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_image.setdefault(row["image"], {"modality": row["modality"], "bpp": {}})
        entry["bpp"][row["setting"]] = row["file_bpp"]
    for entry in by_image.values():
        entry["ratio"] = entry["bpp"][learned] / entry["bpp"][reference]

    def means(images: Sequence[str]) -> dict[str, Any]:
        settings = by_image[images[0]]["bpp"]
        mean = {s: statistics.fmean(by_image[i]["bpp"][s] for i in images) for s in settings}
        return {"images": list(images), "bpp": mean, "ratio": mean[learned] / mean[reference]}

    modalities: dict[str, list[str]] = {}
    for image, entry in by_image.items():
        modalities.setdefault(entry["modality"], []).append(image)
    return {"learned": learned, "reference": reference, "images": by_image,
            "modalities": {m: means(images) for m, images in modalities.items()}, "mean": means(list(by_image))}


def timed_round_trips(name: str, volume: Volume, codec: Codec, params: dict[str, Any], workers: int, repeats: int
                      ) -> dict[str, Any]:
    """Median encode and decode seconds and MB/s of raw data through the API, the last decode checked bit for bit."""
    encodes, decodes = [], []
    for _ in range(repeats):
        seconds, result = timed(api.compress, volume, codec=codec, params=params, workers=workers)
        encodes.append(seconds)
        seconds, decoded = timed(api.decompress, result.data, workers=workers)
        decodes.append(seconds)
    if not np.array_equal(decoded.array, volume.array):
        raise AssertionError(f"{codec.name} did not decode {name} bit for bit with {workers} workers")
    encode, decode = statistics.median(encodes), statistics.median(decodes)
    return {"image": name, "shape": list(volume.array.shape), "raw_bytes": result.raw_nbytes, "runs": repeats,
            "encode_seconds": encode, "decode_seconds": decode,
            "encode_mbps": megabytes_per_second(result.raw_nbytes, encode),
            "decode_mbps": megabytes_per_second(result.raw_nbytes, decode)}


def speed_rows(volumes: Mapping[str, Volume], repeats: int) -> list[dict[str, Any]]:
    """Median encode and decode MB/s of raw data through the API, learned-lossless beside JPEG-XL effort 9."""
    rows = []
    for name, volume in volumes.items():
        for codec_name, changes in ((CODEC, {}), REFERENCE):
            codec = get_codec(codec_name)
            params = {**codec.default_params(), **changes}
            rows.append({**timed_round_trips(name, volume, codec, params, 1, repeats),
                         "setting": setting_label(codec, params)})
    return rows


def parallel_rows(name: str, volume: Volume, repeats: int) -> list[dict[str, Any]]:
    """Median encode and decode MB/s of a volume with one and two engine workers (slabs code independently)."""
    codec = get_codec(CODEC)
    return [{**timed_round_trips(name, volume, codec, codec.default_params(), workers, repeats), "workers": workers}
            for workers in (1, 2)]


def volume_summary(rows: Sequence[Mapping[str, Any]], volumes: Sequence[str]) -> dict[str, Any]:
    """Per volume: the codec's slabs against single slices (inter-slice gain) and against per-slice JPEG-XL."""
    bpp = {(r["image"], r["setting"]): r["file_bpp"] for r in rows}
    slabs, single, reference = label(CODEC, {}), label(CODEC, SINGLE_SLICES), label(*REFERENCE)
    table = {v: {"slab": bpp[v, slabs], "single": bpp[v, single], "reference": bpp[v, reference]} for v in volumes}
    for entry in table.values():
        entry["inter_slice_gain"] = entry["slab"] / entry["single"]
        entry["ratio"] = entry["slab"] / entry["reference"]
    mean = {key: statistics.fmean(t[key] for t in table.values()) for key in ("slab", "single", "reference")}
    return {"settings": {"slab": slabs, "single": single, "reference": reference}, "volumes": table,
            "mean": {**mean, "inter_slice_gain": mean["slab"] / mean["single"],
                     "ratio": mean["slab"] / mean["reference"]}}


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each goal of the issue with the figure measured for it and whether it is reached."""
    lossless = results["lossless"]["mean"]["ratio"]
    goals = [
        {"goal": "mean grey bpp below JPEG-XL effort 9 (required)", "target": f"< {TARGETS['lossless_required']:g}x",
         "measured": lossless, "reached": lossless < TARGETS["lossless_required"]},
        {"goal": "mean grey bpp against JPEG-XL effort 9", "target": f"<= {TARGETS['lossless']:g}x",
         "measured": lossless, "reached": lossless <= TARGETS["lossless"]},
    ]
    worst = max(results["lossless"]["images"].items(), key=lambda item: item[1]["ratio"])
    goals.append({"goal": f"every grey image against JPEG-XL effort 9 (worst: {worst[0]})",
                  "target": f"<= {TARGETS['every_image']:g}x", "measured": worst[1]["ratio"],
                  "reached": worst[1]["ratio"] <= TARGETS["every_image"]})
    if results["rgb"]:
        ratio = results["rgb"]["mean"]["ratio"]
        goals.append({"goal": "RGB against JPEG-XL effort 9", "target": f"<= {TARGETS['rgb']:g}x",
                      "measured": ratio, "reached": ratio <= TARGETS["rgb"]})
    for name, entry in results["volumes"]["volumes"].items():
        goals.append({"goal": f"volume {name} against per-slice JPEG-XL effort 9",
                      "target": f"<= {TARGETS['volumes']:g}x", "measured": entry["ratio"],
                      "reached": entry["ratio"] <= TARGETS["volumes"]})
    if len(results["volumes"]["volumes"]) > 1:
        ratio = results["volumes"]["mean"]["ratio"]
        goals.append({"goal": "mean of the volumes against per-slice JPEG-XL effort 9",
                      "target": f"<= {TARGETS['volumes']:g}x", "measured": ratio,
                      "reached": ratio <= TARGETS["volumes"]})
    for bound, part in results["near_lossless"].items():
        ratio = part["summary"]["mean"]["ratio"]
        worst = max(r["max_error"] for r in part["rows"] if r["codec"] == CODEC)
        goals.append({"goal": f"near-lossless D = {bound}: mean bpp against JPEG-LS NEAR = {bound}",
                      "target": f"<= {TARGETS['near_lossless']:g}x", "measured": ratio,
                      "reached": ratio <= TARGETS["near_lossless"]})
        goals.append({"goal": f"near-lossless D = {bound}: largest absolute error", "target": f"<= {bound}",
                      "measured": worst, "reached": worst <= int(bound)})
    for name in {row["image"] for row in results["parallel"]}:
        one, two = (next(r for r in results["parallel"] if r["image"] == name and r["workers"] == w) for w in (1, 2))
        for way in ("encode", "decode"):
            speedup = two[f"{way}_mbps"] / one[f"{way}_mbps"]
            goals.append({"goal": f"{way} speed-up on {name} with two workers",
                          "target": f">= {TARGETS['two_workers']:g}x", "measured": speedup,
                          "reached": speedup >= TARGETS["two_workers"]})
    for row in results["speed"]:
        if row["setting"] == label(CODEC, {}):
            for way in ("encode", "decode"):
                value = row[f"{way}_mbps"]
                goals.append({"goal": f"{way} speed on {row['image']}, one core", "target":
                              f">= {TARGETS['speed_mbps']:g} MB/s", "measured": value,
                              "reached": value >= TARGETS["speed_mbps"]})
    return goals


def run(volumes: Mapping[str, Volume], speed_volumes: Mapping[str, Volume], repeats: int = DEFAULT_REPEATS,
        thin: Mapping[str, Volume] | None = None) -> dict[str, Any]:
    """Every figure, on one core but the two-worker one.  ``volumes``: the evaluation images by name (grey, RGB
    and volumes); ``thin``: the thin-slice volume, coded in the volume part and timed with one and two workers."""
    grey = {n: v for n, v in volumes.items() if v.channels == 1}
    rgb = {n: v for n, v in volumes.items() if v.channels == 3}
    thin = dict(thin or {})
    stacks = [n for n, v in grey.items() if get_sample(n).shape == "volume"] + list(thin)
    learned, reference = label(CODEC, {}), label(*REFERENCE)
    with one_core():
        rows = lossless_rows(grey, LOSSLESS_SETTINGS)
        rgb_rows = lossless_rows(rgb, LOSSLESS_SETTINGS)
        thin_rows = lossless_rows(thin, [(CODEC, {}), REFERENCE])
        single = lossless_rows({n: {**grey, **thin}[n] for n in stacks}, [(CODEC, SINGLE_SLICES)])
        near = {}
        for bound in MAX_ERRORS:
            near_rows = near_lossless_rows(grey, bound)
            near[str(bound)] = {"rows": near_rows, "summary": compare(near_rows, label(CODEC, {"max_error": bound}),
                                                                      label("jpegls", {"near": bound}))}
        speed = speed_rows(speed_volumes, repeats)
    parallel = [row for name, volume in thin.items() for row in parallel_rows(name, volume, repeats)]
    results = {"lossless": compare(rows, learned, reference), "lossless_rows": rows,
               "rgb": compare(rgb_rows, learned, reference) if rgb_rows else None, "rgb_rows": rgb_rows,
               "volumes": volume_summary(rows + thin_rows + single, stacks), "volume_rows": thin_rows + single,
               "near_lossless": near, "speed": speed, "parallel": parallel, "targets_set": TARGETS}
    results["targets"] = targets(results)
    return results


def comparison_markdown(summary: Mapping[str, Any], exact: Mapping[str, bool] | None = None) -> str:
    """Images down (then per-modality and overall means), settings across, bpp and the learned / reference ratio."""
    settings = list(summary["mean"]["bpp"])
    ratio = f"{summary['learned']} / {summary['reference']}"
    headers = ["image", "modality", *settings, ratio] + (["bit-exact (all settings)"] if exact is not None else [])
    blank = [None] if exact is not None else []
    body = [[image, e["modality"], *(e["bpp"][s] for s in settings), e["ratio"]]
            + ([exact[image]] if exact is not None else []) for image, e in summary["images"].items()]
    if len(summary["modalities"]) > 1:
        body += [[f"*{m} mean*", m, *(g["bpp"][s] for s in settings), g["ratio"], *blank]
                 for m, g in summary["modalities"].items()]
    mean = summary["mean"]
    body.append(["**mean**", "", *(mean["bpp"][s] for s in settings), mean["ratio"], *blank])
    return markdown_table(headers, body, digits=3)


def _exact(rows: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    exact: dict[str, bool] = {}
    for row in rows:
        exact[row["image"]] = exact.get(row["image"], True) and row["exact"]
    return exact


def markdown(results: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    volumes = results["volumes"]
    names = volumes["settings"]
    volume_body = [[name, e["slab"], e["single"], e["reference"], e["inter_slice_gain"], e["ratio"]]
                   for name, e in volumes["volumes"].items()]
    mean = volumes["mean"]
    volume_body.append(["**mean**", mean["slab"], mean["single"], mean["reference"], mean["inter_slice_gain"],
                        mean["ratio"]])
    parts = [
        "# learned-lossless against the classical codecs\n\n" + provenance(run_info),
        __doc__.split("\n\n", 2)[2].strip() + " The codec runs on the CPU (numpy, and its compiled numba core): "
        "no GPU was measured.\n",
        "## Goals of the issue\n\nRatios are learned-lossless bpp / the other codec's bpp, of the means over "
        "the images.\n\n" + markdown_table(["goal", "target", "measured", "reached"],
                                          [[g["goal"], g["target"], g["measured"], g["reached"]]
                                           for g in results["targets"]], digits=3),
        "## Lossless, grey evaluation images\n\nBits per pixel of the whole .mcz file; every round trip checked "
        "bit for bit.\n\n" + comparison_markdown(results["lossless"], _exact(results["lossless_rows"])),
    ]
    if results["rgb"]:
        parts.append("## Lossless, RGB\n\nBits per RGB pixel (three samples), whole file.\n\n"
                     + comparison_markdown(results["rgb"], _exact(results["rgb_rows"])))
    parts.append(f"## Volumes: inter-slice context\n\n`{names['slab']}` codes slabs of "
                 f"{get_codec(CODEC).slab_size} slices, each slice seeing "
                 f"the one before; `{names['single']}` codes every slice alone; JPEG-XL codes every slice alone. "
                 "Inter-slice gain = slabs / single slices.\n\n"
                 + markdown_table(["volume", names["slab"], names["single"], names["reference"], "inter-slice gain",
                                   "slabs / JPEG-XL e9"], volume_body, digits=3))
    for bound, part in results["near_lossless"].items():
        errors = {(r["image"], r["codec"]): r["max_error"] for r in part["rows"]}
        table = comparison_markdown(part["summary"])
        parts.append(f"## Near-lossless, D = {bound}\n\nWhole-file bpp at |error| <= {bound}; largest |error| "
                     f"measured on each image (learned-lossless / JPEG-LS): "
                     + ", ".join(f"{image} {cell(errors[image, CODEC], 0)} / {cell(errors[image, 'jpegls'], 0)}"
                                 for image in part["summary"]["images"]) + ".\n\n" + table)
    parts.append("## Speed, one core\n\nMB/s of raw stored data (16-bit) through `compress` / `decompress`, "
                 f"median of {results['speed'][0]['runs'] if results['speed'] else 0} runs; the machine is "
                 "shared with other work.\n\n"
                 + markdown_table(["image", "shape", "setting", "encode MB/s", "decode MB/s", "encode s", "decode s"],
                                  [[r["image"], "x".join(map(str, r["shape"])), r["setting"], r["encode_mbps"],
                                    r["decode_mbps"], r["encode_seconds"], r["decode_seconds"]]
                                   for r in results["speed"]], digits=2))
    if results["parallel"]:
        parts.append("## Speed, one and two workers\n\nThe engine codes slabs on `workers` threads; the compiled "
                     "core releases the GIL, so slabs run side by side.\n\n"
                     + markdown_table(["volume", "shape", "workers", "encode MB/s", "decode MB/s", "encode s",
                                       "decode s"],
                                      [[r["image"], "x".join(map(str, r["shape"])), r["workers"], r["encode_mbps"],
                                        r["decode_mbps"], r["encode_seconds"], r["decode_seconds"]]
                                       for r in results["parallel"]], digits=2))
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="speed runs (median)")
    parser.add_argument("--force", action="store_true", help="overwrite existing reports")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    paths = report_paths(args.out, "learned_lossless", args.force)
    command = COMMAND.format(out=args.out) + (f" --repeats {args.repeats}" if args.repeats != DEFAULT_REPEATS else "")
    run_info = run_description(command)
    volumes = {sample.name: load_sample(sample.name) for sample in evaluation_images()}
    speed_volumes = {name: volumes[name] if name in volumes else load_sample(name) for name in SPEED_IMAGES}
    results = run(volumes, speed_volumes, args.repeats, {THIN_SLICES: load_sample(THIN_SLICES)})
    write_report(paths, {"run": run_info, **results}, markdown(results, run_info), args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
