"""Fit the context model of ``learned-lossy`` on the training pool (never on the evaluation images).

    python -m monai_medcomp.training.learned_lossy --out bundles/learned_lossy/models/model.pt \\
        --report bundles/learned_lossy/docs/training.md

Every pool image (up to :data:`SLICES_PER_VOLUME` slices of a volume; RGB as the codec's Y, Cb, Cr
planes) is transformed and quantised exactly as the codec does it, at the qualities of
:data:`QUALITIES` (the 4:1 to 60:1 range of 8 to 16-bit data).  Two things are learned:

1. the activity weights, per level group, band and phase: a least-squares fit of each coefficient's
   magnitude on its context features, rounded to the Q8 integers the codec computes with;
2. the token tables: the token histogram of each activity class over the pool, smoothed towards the
   tokens of a geometric magnitude law with the class's mean, so that classes the pool rarely reaches
   still get sensible tables.

Deterministic (no sampling): the same pool gives the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import time
from typing import Iterable, Iterator

import numpy as np

from ..codecs.base import PixelFormat
from ..codecs.learned_lossy import (ContextModel, Group, QuantisedPlane, activity_samples, pass_samples, step_for,
                                   to_planes)
from ..codecs.wavelet_context import (CLASSES_PER_OCTAVE, NUM_CLASSES, NUM_TOKENS, activity_classes,
                                      fit_group_weights, to_tokens)
from ..errors import run_command
from ..fileio import atomic_write, check_outputs
from ..volume import Volume
from ..weights import state_bytes
from .images import pool_volumes

QUALITIES = (40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
SLICES_PER_VOLUME = 4
PRIOR_WEIGHT = 32.0  # pseudo-count of the geometric law in each class's table


def pool_planes(images: Iterable[tuple[str, Volume]]) -> Iterator[tuple[str, np.ndarray, int]]:
    """(label, plane, bits) for every plane the codec would code, slices spread over each volume."""
    for label, volume in images:
        array = volume.array.astype(np.int64)
        array -= min(0, int(array.min()))
        bits = max(1, int(array.max()).bit_length())
        fmt = PixelFormat(bits, 3 if array.ndim == 4 else 1)
        for index in np.unique(np.linspace(0, len(array) - 1, SLICES_PER_VOLUME).astype(int)):
            for plane in to_planes(array[index:index + 1].astype(fmt.dtype), fmt):
                yield label, plane, bits


def geometric_tables() -> np.ndarray:
    """Token probabilities of a geometric magnitude law whose mean is each class's activity."""
    magnitudes = np.arange(1 << 16)
    tokens = to_tokens(magnitudes)[0]
    tables = np.zeros((NUM_CLASSES, NUM_TOKENS))
    for table in range(NUM_CLASSES):
        mean = max(2 ** ((table + 0.5) / CLASSES_PER_OCTAVE) - 1, 1e-3)
        ratio = mean / (1 + mean)
        np.add.at(tables[table], tokens, (1 - ratio) * ratio ** magnitudes)
    tables += 1e-9
    return tables / tables.sum(axis=1, keepdims=True)


def token_counts(samples: dict[Group, list[tuple[np.ndarray, np.ndarray]]], weights: np.ndarray) -> np.ndarray:
    """How often each token falls in each activity class over the samples, (NUM_CLASSES, NUM_TOKENS)."""
    counts = np.zeros((NUM_CLASSES, NUM_TOKENS))
    for group, parts in samples.items():
        for features, magnitudes in parts:
            np.add.at(counts, (activity_classes(features, weights[group]), to_tokens(magnitudes)[0]), 1)
    return counts


def fit(images: Iterable[tuple[str, Volume]] | None = None) -> tuple[ContextModel, dict]:
    started = time.time()
    samples: dict[Group, list[tuple[np.ndarray, np.ndarray]]] = {}
    labels: list[str] = []
    for label, plane, bits in pool_planes(pool_volumes() if images is None else images):
        if label not in labels:
            labels.append(label)
        for quality in QUALITIES:
            passes = pass_samples(QuantisedPlane.of(plane, step_for(quality, bits)))
            for group, parts in activity_samples(passes).items():
                samples.setdefault(group, []).extend(parts)
    weights = fit_group_weights(samples)
    counts = token_counts(samples, weights)
    tables = counts + PRIOR_WEIGHT * geometric_tables()
    model = ContextModel(weights, tables / tables.sum(axis=1, keepdims=True))
    coefficients = int(counts.sum())
    summary = {"images": labels, "qualities": list(QUALITIES), "coefficients": coefficients,
               "token_bits_per_coefficient": round(float((counts * model.cost()).sum()) / max(coefficients, 1), 4),
               "seconds": round(time.time() - started, 1)}
    return model, summary


def report_markdown(summary: dict, command: str, weights: bytes) -> str:
    lines = ["# learned-lossy: training record", "",
             f"Command: `{command}`", "",
             f"Weights: `models/model.pt`, sha256 `{hashlib.sha256(weights).hexdigest()}` (what `.mcz` headers "
             "record; the same command writes the same file).", "",
             f"Date: {datetime.date.today().isoformat()}; deterministic (no sampling, no seed); "
             f"{summary['seconds']} s on CPU.", "",
             "What is learned: the Q8 activity weights (level group x band x phase x 5 features) and the token "
             f"tables ({NUM_CLASSES} classes x {NUM_TOKENS} tokens) of the context model, from "
             f"{summary['coefficients']} quantised coefficients at qualities {summary['qualities']}.  "
             f"Mean token cost on the pool: {summary['token_bits_per_coefficient']} bits per coefficient "
             "(before the per-band offsets the encoder picks, and without raw bits and signs).", "",
             "Training images (the MedComp training pool; no evaluation image):", ""]
    lines += [f"- {label}" for label in summary["images"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="where to write model.pt")
    parser.add_argument("--report", help="where to write the Markdown training record")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.training.learned_lossy", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    check_outputs([args.out, args.report], args.force)
    model, summary = fit()
    weights = state_bytes(model.state())
    atomic_write(args.out, weights, force=args.force)
    print({key: value for key, value in summary.items() if key != "images"})
    if args.report:
        command = f"python -m monai_medcomp.training.learned_lossy --out {args.out} --report {args.report}"
        atomic_write(args.report, report_markdown(summary, command, weights).encode("utf-8"), force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
