"""The paper's Tables 3 and 4 in our setting: learned lossy codecs at 16:1 beside JPEG and JPEG 2000.

    python -m monai_medcomp.bench.seed_lossy --out benchmarks

Each image goes through the API: every learned codec with its fixed-rate latents (the paper's mode)
and again with the learned factorised prior (same pixels, fewer bytes); JPEG and JPEG 2000 are
rate-controlled (``ratecontrol``, target ``bpp``) to the first codec's fixed-rate bpp, and JPEG again to each
codec's own bpp, fixed-rate and entropy-coded, for the verdict.  Grey: the medical
evaluation images.  RGB: the RGB ultrasound of the evaluation list and (by default) two scikit-image photographs
that are *not* in the training pool (the paper's CIFAR and HR photographs are not available offline),
each plane by the grey model unless the bundle holds an RGB model (``models/model_rgb.pt``).
Everything runs on one thread; the seconds are one-core encode + decode times.

A linear reference, ``dct-128``, keeps each block's 128 lowest DCT frequencies at full precision: as many
numbers per block as the largest latent here (``cnn-ae``'s), with no quantisation at all.  It is not a bound
on a nonlinear decoder, but it shows what a 128-number-per-block representation costs against JPEG, which
spends its bits where the image has detail.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.fft import dctn, idctn

from ..api import compress, decompress
from ..codecs import get_codec
from ..codecs.blocks import BLOCK, from_blocks, to_blocks
from ..data import evaluation_images, load_sample
from ..errors import RateControlError
from ..metrics import psnr, ssim
from ..volume import Volume
from .report import markdown_table, provenance, report_paths, run_description, write_report

LEARNED = ("cnn-ae", "cnn-rnn-ae", "cnn-ae-ft", "gan-wgan", "gan-dcgan", "gan-ae-l1-wgan", "gan-ae-l2-wgan",
           "gan-ae-l1-dcgan", "gan-ae-l2-dcgan", "gan-ae-ft")
STANDARDS = ("jpeg", "jpeg2000")
PHOTOGRAPHS = ("rocket.jpg", "motorcycle_left.png")  # scikit-image photographs outside the training pool
PAPER_HR_PSNR = {"jpeg2000": 35.1, "gan-ae-ft": 33.7, "gan-ae": 32.51, "jpeg": 32.4, "cnn-rnn-ae": 29.3,
                 "cnn-ae": 28.6}
REFERENCE_COEFFICIENTS = 128  # cnn-ae's latent: 2 channels of 8x8 per 32x32 block
JPEG_KEYS = ("jpeg_psnr", "jpeg_psnr_entropy")  # JPEG's PSNR at each codec's bpp, fixed-rate and entropy-coded
COMMAND = "python -m monai_medcomp.bench.seed_lossy --out {out}"


def photograph(filename: str) -> Volume:
    import importlib.resources

    from skimage import io

    array = io.imread(str(importlib.resources.files("skimage").joinpath("data", filename)))
    return Volume(array[None], bits_stored=8, metadata={"sample": f"photo_{Path(filename).stem}"})


def measure(volume: Volume, codec: str, **options: Any) -> dict[str, Any]:
    """bpp (whole file), PSNR, SSIM and one-core seconds of one codec on one image."""
    start = time.perf_counter()
    result = compress(volume, codec=codec, **options)
    decoded = decompress(result.data).array
    seconds = time.perf_counter() - start
    return {"bpp": result.bpp, "psnr": float(psnr(volume.array, decoded, bits_stored=volume.bits_stored)),
            "ssim": float(ssim(volume.array, decoded, bits_stored=volume.bits_stored)), "seconds": seconds,
            "pixels": decoded}


def jpeg_psnr(volume: Volume, bpp: float) -> float | None:
    """JPEG's PSNR rate-controlled to ``bpp``; None where JPEG cannot reach it (small images)."""
    try:
        return measure(volume, "jpeg", bpp=bpp)["psnr"]
    except RateControlError:
        return None


def low_frequencies(count: int) -> np.ndarray:
    """A 32x32 mask of the ``count`` lowest DCT frequencies (by i + j, then i: JPEG's zigzag diagonals)."""
    order = sorted(np.ndindex(BLOCK, BLOCK), key=lambda ij: (ij[0] + ij[1], ij[0]))
    mask = np.zeros((BLOCK, BLOCK), dtype=bool)
    mask[tuple(np.array(order[:count]).T)] = True
    return mask


def dct_reference_psnr(volume: Volume, count: int = REFERENCE_COEFFICIENTS) -> float:
    """PSNR of keeping each block's ``count`` lowest DCT frequencies unquantised (see the module docstring)."""
    low, high = volume.value_range
    mask = low_frequencies(count)
    slices = []
    for image in volume.array.reshape(*volume.array.shape[:3], -1):
        blocks = dctn(to_blocks(image.astype(np.float64)), axes=(2, 3), norm="ortho") * mask
        kept = np.clip(np.rint(idctn(blocks, axes=(2, 3), norm="ortho")), low, high)
        slices.append(from_blocks(kept, *image.shape))
    decoded = np.stack(slices).reshape(volume.array.shape).astype(volume.dtype)
    return float(psnr(volume.array, decoded, bits_stored=volume.bits_stored))


def image_rows(volume: Volume, codecs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every codec's figures on one image; the standards at the first learned codec's fixed-rate bpp."""
    rows: dict[str, dict[str, Any]] = {}
    for name in codecs:
        fixed = measure(volume, name, params={"entropy": False})
        coded = measure(volume, name, params={"entropy": True})
        if not np.array_equal(fixed.pop("pixels"), coded.pop("pixels")):
            raise AssertionError(f"{name}: entropy coding changed the pixels")
        rows[name] = {**fixed, "bpp_entropy": coded["bpp"], "jpeg_psnr": jpeg_psnr(volume, fixed["bpp"]),
                      "jpeg_psnr_entropy": jpeg_psnr(volume, coded["bpp"])}
    target = rows[codecs[0]]["bpp"] if codecs else volume.bits_stored / 16
    for name in STANDARDS:
        try:
            rows[name] = measure(volume, name, bpp=target)
            rows[name].pop("pixels")
        except RateControlError as error:
            rows[name] = {"error": str(error)}
    return rows


def run(codecs: Sequence[str], only: Sequence[str] | None = None) -> dict[str, Any]:
    """Figures per image; ``only`` restricts the run to these image names."""
    images: dict[str, tuple[str, Volume]] = {}
    for sample in evaluation_images():
        if only is None or sample.name in only:
            images[sample.name] = (sample.color, load_sample(sample.name))
    for filename in PHOTOGRAPHS:
        if only is None or f"photo_{Path(filename).stem}" in only:
            volume = photograph(filename)
            images[volume.metadata["sample"]] = ("rgb", volume)
    results = {}
    for name, (color, volume) in images.items():
        print(f"{name} {volume.array.shape}", flush=True)
        results[name] = {"color": color, "shape": list(volume.array.shape), "bits_stored": volume.bits_stored,
                         "dct_128_psnr": dct_reference_psnr(volume), "codecs": image_rows(volume, codecs)}
    return results


def _common(results: dict[str, Any], color: str, columns: Sequence[str], key: str) -> list[str]:
    """The images of ``color`` that every column coded (JPEG cannot reach 16:1 on some small images)."""
    return [n for n, r in results.items()
            if r["color"] == color and all(key in r["codecs"].get(c, {}) for c in columns)]


def _mean(results: dict[str, Any], names: Sequence[str], codec: str, key: str) -> float | None:
    values = [results[n]["codecs"][codec][key] for n in names]
    return statistics.fmean(values) if values else None


def markdown(results: dict[str, Any], codecs: Sequence[str], run_info: dict[str, Any]) -> str:
    columns = [*codecs, *STANDARDS]
    parts = [f"# Learned lossy codecs at 16:1 (the paper's Tables 3 and 4)\n\n{provenance(run_info)}\n",
             __doc__.split("\n\n", 2)[2].strip() + "\n"]
    for color in ("grey", "rgb"):
        names = [n for n, r in results.items() if r["color"] == color]
        for key, label in (("psnr", "PSNR (dB)"), ("ssim", "SSIM")):
            rows = [[n] + [results[n]["codecs"].get(c, {}).get(key) for c in columns] for n in names]
            common = _common(results, color, columns, key)
            rows.append([f"mean of the {len(common)} images every column coded"]
                        + [_mean(results, common, c, key) for c in columns])
            parts.append(f"## {color}: {label}\n\n" + markdown_table(["image", *columns], rows, 4 if key == "ssim"
                                                                        else 2) + "\n")
        rows = [[n] + [results[n]["codecs"][c].get("bpp") for c in columns] for n in names]
        rows += [[f"{n} (entropy)"] + [results[n]["codecs"][c].get("bpp_entropy") for c in codecs] + ["", ""]
                 for n in names]
        parts.append(f"## {color}: bits per pixel (file), fixed-rate latents and with the factorised prior\n\n"
                     + markdown_table(["image", *columns], rows, 3) + "\n")
        rows = [[n] + [results[n]["codecs"].get(c, {}).get("seconds") for c in columns] for n in names]
        parts.append(f"## {color}: encode + decode seconds (one core)\n\n"
                     + markdown_table(["image", *columns], rows, 2) + "\n")
    parts.append(comparison(results, codecs))
    return "\n".join(parts)


def comparison(results: dict[str, Any], codecs: Sequence[str]) -> str:
    """The paper's HR-photograph PSNRs beside our means, and whether the best learned codec matches JPEG."""
    grey = _common(results, "grey", [*codecs, *STANDARDS], "psnr")
    rgb = _common(results, "rgb", [*codecs, *STANDARDS], "psnr")
    rows = []
    for key, paper in PAPER_HR_PSNR.items():
        if key in STANDARDS:
            names = [key]
        elif key == "gan-ae":  # the paper's one GAN-AE row: our four loss variants
            names = [c for c in codecs if c.startswith("gan-ae-") and c != "gan-ae-ft"]
        else:
            names = [key] if key in codecs else []
        for name in names:
            rows.append([name, paper, _mean(results, grey, name, "psnr"), _mean(results, rgb, name, "psnr")])
    text = (f"## Against the paper (its HR photographs; ours: mean PSNR over the {len(grey)} grey and {len(rgb)} RGB "
            "images that every column coded)\n\n"
            + markdown_table(["codec", "paper HR (dB)", "ours grey (dB)", "ours RGB (dB)"], rows) + "\n")
    return text + "".join(against_jpeg(results, codecs, color) for color in ("grey", "rgb"))


def verdict_images(results: dict[str, Any], codecs: Sequence[str], color: str) -> list[str]:
    """The images of ``color`` where JPEG reached every codec's own bpp, fixed-rate and entropy-coded."""
    return [n for n, r in results.items() if r["color"] == color
            and all(r["codecs"][c].get(k) is not None for c in codecs for k in JPEG_KEYS)]


def best_codec(results: dict[str, Any], codecs: Sequence[str], color: str) -> str | None:
    """The report's best learned codec: the highest mean PSNR over the :func:`verdict_images`."""
    names = verdict_images(results, codecs, color)
    return max(codecs, key=lambda codec: _mean(results, names, codec, "psnr")) if names and codecs else None


def against_jpeg(results: dict[str, Any], codecs: Sequence[str], color: str) -> str:
    """Each codec against JPEG at that codec's own bpp, fixed-rate and entropy-coded, with the linear reference."""
    names = verdict_images(results, codecs, color)
    if not names or not codecs:
        return ""
    rows = []
    for codec in codecs:
        own, fixed, coded = (_mean(results, names, codec, k) for k in ("psnr", *JPEG_KEYS))
        rows.append([codec, own, fixed, own - fixed, coded, own - coded])
    reference = statistics.fmean(results[n]["dct_128_psnr"] for n in names)
    jpeg = _mean(results, names, codecs[0], "jpeg_psnr")
    rows.append([f"dct-{REFERENCE_COEFFICIENTS} (unquantised)", reference, jpeg, reference - jpeg, None, None])
    best = best_codec(results, codecs, color)
    _, own, fixed, _, coded, _ = rows[list(codecs).index(best)]
    verdict = "matches or beats" if own >= min(fixed, coded) else "falls short of"
    return (f"\n## {color}: each codec against JPEG at its own bpp (mean over the {len(names)} images JPEG "
            f"reaches)\n\nThe reference row keeps {REFERENCE_COEFFICIENTS} numbers per block at full precision; "
            f"its JPEG column is at `{codecs[0]}`'s fixed-rate bpp.\n\n"
            + markdown_table(["codec", "PSNR (dB)", "JPEG at its fixed-rate bpp", "difference",
                              "JPEG at its entropy-coded bpp", "difference"], rows) + "\n"
            f"\nBest learned codec on those {color} images: `{best}`, mean {own:.2f} dB, which {verdict} JPEG at its "
            f"bpp ({fixed:.2f} dB fixed-rate, {coded:.2f} dB entropy-coded).\n")


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--codecs", nargs="*", default=list(LEARNED))
    parser.add_argument("--images", nargs="*", help="image names (default: all evaluation images and photographs)")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    paths = report_paths(args.out, "seed_lossy", args.force)
    codecs = [c for c in args.codecs if get_codec(c).available]
    command = COMMAND.format(out=args.out) + (f" --images {' '.join(args.images)}" if args.images else "")
    run_info = run_description(command)
    results = run(codecs, args.images)
    write_report(paths, {"run": run_info, "paper_hr_psnr": PAPER_HR_PSNR, "images": results},
                 markdown(results, codecs, run_info), args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
