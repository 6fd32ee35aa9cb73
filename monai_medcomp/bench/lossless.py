"""The lossless table: bits per pixel of every lossless codec on every image, each slice checked bit for bit.

For every image and codec setting one :func:`lossless_row` records the whole ``.mcz`` file and its
parts (codec payload, container framing, the source header kept as metadata), whether every slice
came back exactly, the speed through our API, the bare library on the same slices where there is
one, and the reference figure measured when the project started (``REFERENCE_BPP``).
"""

from __future__ import annotations

import statistics
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .. import api
from ..codecs import Codec
from ..volume import Volume
from .library import bare_codec
from .report import markdown_table
from .speed import REPEAT_BUDGET_SECONDS, Measurement, measure, megabytes_per_second

REFERENCE_TOLERANCE = 0.02  # our payload may be at most 2 % above the reference figure
LIBRARY_SIZE_TOLERANCE = 0.01  # ... and at most 1 % above the bare library's stream on the same slices
LIBRARY_SPEED_FLOOR = 0.9  # our throughput through the API: at least 90 % of the bare library's

# Bits per pixel of the bare libraries on the evaluation images (one run per slice, signed data
# shifted to unsigned, true bit depth passed where the API takes it), measured when the project
# started on a 2-core CPU machine (JPEG-XL at effort 7 and 9), by sample name and codec setting.
REFERENCE_SETTINGS = ("jpegls", "jpeg2000", "htj2k", "jpegxl", "jpegxl effort=9", "ljpeg", "png")
_REFERENCE_ROWS = {
    "ct_693": (3.05, 3.22, 3.52, 2.48, 2.47, 4.58, 4.62),
    "ct_explicit_vr_un": (5.57, 5.64, 6.01, 5.41, 5.33, 6.38, 7.61),
    "mr2": (4.58, 4.48, 4.79, 4.41, 4.29, 5.93, 6.14),
    "mr_siemens_overlays": (3.13, 2.78, 3.01, 2.67, 2.65, 4.81, 4.60),
    "cr_rg1": (9.33, 9.52, 9.81, 9.30, 9.34, 9.88, 12.04),
    "cr_rg3": (2.25, 2.14, 2.30, 2.06, 2.05, 3.61, 3.23),
    "nm_jpeg2000": (0.90, 0.72, 0.92, 0.53, 0.51, 2.08, 1.06),
    "us_8bit": (1.04, 1.26, 1.39, 0.77, 0.74, 2.16, 1.29),
    "us_rgb": (6.82, 3.97, 4.36, 2.35, 2.30, 10.23, 3.67),
    "mr_emri_small": (7.97, 7.31, 7.74, 6.89, 7.00, 7.42, 9.97),
    "mr_example4d": (3.47, 3.78, 3.99, 3.19, 3.22, 4.24, 4.62),
}
REFERENCE_BPP = {image: dict(zip(REFERENCE_SETTINGS, row)) for image, row in _REFERENCE_ROWS.items()}


def setting_label(codec: Codec, params: Mapping[str, Any]) -> str:
    """The name a codec setting goes by in tables: the codec name, plus what differs from its default."""
    default = codec.default_params()
    changed = [f"{key}={value}" for key, value in sorted(params.items()) if default.get(key) != value]
    return " ".join([codec.name, *changed])


def lossless_settings(codec: Codec, extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
                      ) -> list[dict[str, Any]]:
    """The codec's lossless default, plus any extra lossless settings asked for it (e.g. a higher effort)."""
    more = (extra or {}).get(codec.name, [])
    settings = [codec.default_params()] + [{**codec.default_params(), **changes} for changes in more]
    return [params for params in settings if codec.lossless and codec.is_lossless(params)]


def failed_slices(original: np.ndarray, decoded: np.ndarray) -> list[int]:
    """Indices of the slices that did not come back bit for bit (dtype, shape and every value)."""
    if decoded.dtype != original.dtype or decoded.shape != original.shape:
        return list(range(original.shape[0]))
    return [index for index in range(original.shape[0]) if not np.array_equal(original[index], decoded[index])]


def library_comparison(run: Measurement, payload_bytes: int) -> dict[str, Any] | None:
    """Our payload and throughput as ratios of the bare library's on the same slices."""
    bare = run.bare
    if bare is None:
        return None
    encode_mbps = megabytes_per_second(run.raw_nbytes, bare.encode_seconds)
    decode_mbps = megabytes_per_second(run.raw_nbytes, bare.decode_seconds)
    return {"library": bare.library, "bytes": bare.nbytes, "bpp": bare.nbytes * 8 / run.result.num_pixels,
            "exact": bare.exact, "bpp_ratio": payload_bytes / bare.nbytes,
            "encode_seconds": bare.encode_seconds, "decode_seconds": bare.decode_seconds,
            "encode_mbps": encode_mbps, "decode_mbps": decode_mbps,
            "encode_ratio": bare.encode_seconds / run.encode_seconds,
            "decode_ratio": bare.decode_seconds / run.decode_seconds}


def lossless_row(image: str, volume: Volume, codec: Codec, params: dict[str, Any], repeats: int = 1,
                 compare_library: bool = True) -> dict[str, Any]:
    """Compress, decompress and check one image with one lossless setting."""
    run = measure(volume, codec, params, repeats, bare_codec(codec.name) if compare_library else None)
    label = setting_label(codec, params)
    info = api.info(run.result.data)
    payload = run.result.payload_nbytes
    pixels = run.result.num_pixels
    failures = failed_slices(volume.array, run.decoded.array)
    reference = REFERENCE_BPP.get(image, {}).get(label)
    payload_bpp = payload * 8 / pixels
    return {
        "image": image, "codec": codec.name, "setting": label, "params": params,
        "shape": list(volume.array.shape), "dtype": volume.dtype.name, "bits_stored": volume.bits_stored,
        "pixels": pixels, "raw_bytes": run.raw_nbytes,
        "file_bytes": run.result.nbytes, "payload_bytes": payload,
        "container_overhead_bytes": info["container_overhead_bytes"],
        "metadata_bytes": run.result.nbytes - payload - info["container_overhead_bytes"],
        "file_bpp": run.result.bpp, "payload_bpp": payload_bpp,
        "slices": volume.num_slices, "exact_slices": volume.num_slices - len(failures), "failed_slices": failures,
        "encode_seconds": run.encode_seconds, "decode_seconds": run.decode_seconds,
        "encode_mbps": run.encode_mbps, "decode_mbps": run.decode_mbps, "runs": run.runs,
        "reference_bpp": reference,
        "vs_reference": payload_bpp / reference - 1 if reference else None,
        "library": library_comparison(run, payload),
    }


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per setting: mean bpp over the images, overall throughput, bit-exactness, reference and library checks."""
    settings: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        settings.setdefault(row["setting"], []).append(row)
    summary = {}
    for label, group in settings.items():
        raw = sum(r["raw_bytes"] for r in group)
        compared = [r for r in group if r["vs_reference"] is not None]
        libraries = [r["library"] for r in group if r["library"]]
        summary[label] = {
            "images": len(group),
            "mean_file_bpp": statistics.fmean(r["file_bpp"] for r in group),
            "mean_payload_bpp": statistics.fmean(r["payload_bpp"] for r in group),
            "encode_mbps": megabytes_per_second(raw, sum(r["encode_seconds"] for r in group)),
            "decode_mbps": megabytes_per_second(raw, sum(r["decode_seconds"] for r in group)),
            "slices": sum(r["slices"] for r in group),
            "exact_slices": sum(r["exact_slices"] for r in group),
            "above_reference": [r["image"] for r in compared if r["vs_reference"] > REFERENCE_TOLERANCE],
            "compared_to_reference": len(compared),
            "library": summarise_library(group) if libraries else None,
        }
    return summary


def summarise_library(group: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Worst size ratio, and size and throughput ratios over all images together (total bytes, total time)."""
    rows = [r for r in group if r["library"]]

    def total(key: str, library: bool = False) -> float:
        return sum((r["library"] if library else r)[key] for r in rows)

    return {"library": rows[0]["library"]["library"],
            "bytes_ratio": total("payload_bytes") / total("bytes", library=True),
            "worst_bpp_ratio": max(r["library"]["bpp_ratio"] for r in rows),
            "encode_ratio": total("encode_seconds", library=True) / total("encode_seconds"),
            "decode_ratio": total("decode_seconds", library=True) / total("decode_seconds"),
            "exact": all(r["library"]["exact"] for r in rows)}


def _by_image(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    table: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        table.setdefault(row["image"], {})[row["setting"]] = row
    return table


def bpp_table(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Mapping[str, Any]], key: str) -> str:
    """Images down, codec settings across, ``key`` (file_bpp or payload_bpp) in the cells, the mean last."""
    labels = list(summary)
    body = [[image] + [by_setting.get(label, {}).get(key) for label in labels]
            for image, by_setting in _by_image(rows).items()]
    body.append(["**mean**"] + [summary[label][f"mean_{key}"] for label in labels])
    return markdown_table(["image"] + labels, body)


def reference_section(rows: Sequence[Mapping[str, Any]]) -> str:
    """Our payload bpp against the reference figure, in percent, images down and settings across."""
    compared = [r for r in rows if r["reference_bpp"] is not None]
    labels = list(dict.fromkeys(r["setting"] for r in compared))
    body = [[image] + [100 * by_setting[label]["vs_reference"] if label in by_setting else None for label in labels]
            for image, by_setting in _by_image(compared).items()]
    above = [f"{r['image']} / {r['setting']}" for r in compared if r["vs_reference"] > REFERENCE_TOLERANCE]
    return ("## Against the reference figures\n\nOur payload bpp against the bare libraries' bpp measured when "
            "the project started (DESIGN.md), in percent (negative: smaller). Goal: within "
            f"{100 * REFERENCE_TOLERANCE:g} % or lower. {len(compared) - len(above)} of {len(compared)} meet it"
            + (f"; above: {', '.join(above)}" if above else "") + ".\n\n" + markdown_table(["image"] + labels, body))


def library_section(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Mapping[str, Any]], repeats: int) -> str:
    """Our size and speed as ratios of the bare library's, per codec over all images, then per image."""
    compared = [r for r in rows if r["library"]]
    totals = [[label, s["library"]["bytes_ratio"], s["library"]["worst_bpp_ratio"],
               s["library"]["worst_bpp_ratio"] <= 1 + LIBRARY_SIZE_TOLERANCE, s["library"]["encode_ratio"],
               s["library"]["decode_ratio"], min(s["library"]["encode_ratio"], s["library"]["decode_ratio"])
               >= LIBRARY_SPEED_FLOOR, s["library"]["exact"]] for label, s in summary.items() if s["library"]]
    per_image = [[r["image"], r["setting"], r["payload_bpp"], r["library"]["bpp"], r["library"]["bpp_ratio"],
                  r["encode_mbps"], r["library"]["encode_mbps"], r["library"]["encode_ratio"], r["decode_mbps"],
                  r["library"]["decode_mbps"], r["library"]["decode_ratio"]] for r in compared]
    return (f"## Against the bare library\n\nThe same slices coded by the plain library call our codec wraps "
            "(imagecodecs; CharLS through pyjpegls at the true bit depth for JPEG-LS, whose size against "
            "imagecodecs' own 16-bit JPEG-LS is the reference table above), signed data shifted to unsigned, "
            f"same settings, both on one thread, {_best_of(repeats)}, ours and the library's runs interleaved. "
            f"Size ratio = our payload / the library's stream (goal: at most {1 + LIBRARY_SIZE_TOLERANCE:g}); "
            "speed ratio = our MB/s / the library's over all images "
            f"(goal: at least {LIBRARY_SPEED_FLOOR:g}).\n\n"
            + markdown_table(["codec", "size ratio (all images)", "worst size ratio", "size goal met",
                              "encode speed ratio", "decode speed ratio", "speed goal met", "library round trip exact"],
                             totals, digits=3)
            + "\n" + markdown_table(["image", "codec", "ours bpp", "library bpp", "size ratio", "ours enc MB/s",
                                     "library enc MB/s", "enc ratio", "ours dec MB/s", "library dec MB/s",
                                     "dec ratio"], per_image, digits=3))


def _best_of(repeats: int) -> str:
    return f"best of {repeats} runs (no new run once {REPEAT_BUDGET_SECONDS:g} s have passed)"


def overhead_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Container framing (prelude, header, index) per image, against the payload, and the kept source header."""
    body = []
    for image, by_setting in _by_image(rows).items():
        group = list(by_setting.values())
        overhead = round(statistics.median(r["container_overhead_bytes"] for r in group))
        payload = statistics.median(r["payload_bytes"] for r in group)
        first = group[0]
        body.append([image, "x".join(map(str, first["shape"])), first["slices"], overhead,
                     round(overhead / first["slices"]), 100 * overhead / payload, first["metadata_bytes"]])
    return markdown_table(["image", "shape", "slices", "framing bytes", "framing bytes per slice",
                           "framing % of payload", "source header bytes (metadata)"], body)


def skipped_list(skipped: Sequence[Mapping[str, Any]]) -> str:
    """Runs a codec refused (e.g. RGB for a grey-only codec), so that a missing cell has its reason."""
    return "".join(f"- {s['image']} / {s['codec']}: {s['reason']}\n" for s in skipped)


def markdown(results: Mapping[str, Any]) -> str:
    """The lossless report body: bpp tables, bit-exactness, reference and library checks, speed, overhead."""
    rows, summary, repeats = results["rows"], results["summary"], results["repeats"]
    total = sum(s["slices"] for s in summary.values())
    exact = sum(s["exact_slices"] for s in summary.values())
    failures = [f"- {r['image']} / {r['setting']}: slices {r['failed_slices']}\n" for r in rows if r["failed_slices"]]
    parts = [
        "## Bits per pixel, whole .mcz file\n\nFile bytes x 8 / pixels (an RGB pixel counts once), container "
        "and the source's header included. Means are over the images each setting coded.\n\n"
        + bpp_table(rows, summary, "file_bpp"),
        "## Bits per pixel, codec payload\n\nThe chunks alone: what the codec itself produced.\n\n"
        + bpp_table(rows, summary, "payload_bpp"),
        f"## Bit-exact round trips\n\n{exact} of {total} slices decoded bit for bit "
        f"({100 * exact / max(total, 1):.1f} %) over every image and lossless setting.\n"
        + ("\nFailures:\n\n" + "".join(failures) if failures else ""),
    ]
    if any(r["reference_bpp"] is not None for r in rows):
        parts.append(reference_section(rows))
    if any(r["library"] for r in rows):
        parts.append(library_section(rows, summary, repeats))
    parts.append(f"## Speed\n\nMB/s of raw pixel data (stored bytes) through `compress` / `decompress` on one "
                 f"thread, {_best_of(repeats)}, all images together.\n\n"
                 + markdown_table(["setting", "encode MB/s", "decode MB/s"],
                                  [[label, s["encode_mbps"], s["decode_mbps"]] for label, s in summary.items()],
                                  digits=1))
    parts.append("## Container overhead\n\nThe .mcz framing (16-byte prelude, compressed JSON header, chunk index "
                 "with CRC-32s) is independent of the image content; the source's DICOM or NIfTI header is kept "
                 "as metadata so that the file can be written back, and is counted separately.\n\n"
                 + overhead_table(rows))
    if results["skipped"]:
        parts.append("## Not measured\n\n" + skipped_list(results["skipped"]))
    return "\n".join(parts)
