"""Pretrain the scale model of ``learned-lossless`` on the training pool (never on the evaluation images).

    python -m monai_medcomp.training.learned_lossless --out bundles/learned_lossless/models/model.pt \\
        --report bundles/learned_lossless/docs/training.md

Each pool image is cut into slabs exactly as the codec cuts them (unsigned, ranked values where the
codec would rank them, RGB channels as planes) and predicted with the slab's own least-squares
predictor.  The log-scale regression is then fitted by Adam to minimise the code length of the
residuals under the discretised Laplace it predicts, separately for first planes and for planes
that see a previous one, and rounded to the Q8 integers the codec computes with.  Seeded.

The slabs are predicted with the causal contexts of chunk version 3, on which the committed weights
were fitted: every ``.mcz`` file records the weights' SHA-256, so new weights would make the files
written so far undecodable, and version 4's one changed neighbour is absorbed by the scale classes
each slab fits for itself (grey mean within 0.1 %).  So this command still writes the committed file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import math
import time
from typing import Callable, Iterable

import numpy as np
import torch

from ..codecs.base import PixelFormat
from ..codecs.context_model import (COEFFICIENT_BITS, LOG_UNIT, SCALE_FEATURES_2D, SCALE_FEATURES_3D, SlabPlanes,
                                    causal_context, ilog)
from ..codecs.learned_lossless import SEED, analyse, chunk_context, fit_predictor, plane_kinds, prepare
from ..errors import run_command
from ..fileio import atomic_write, check_outputs
from ..volume import Volume
from ..weights import state_bytes
from . import Progress
from .images import pool_volumes

PIXELS_PER_KIND = 1 << 14
SLABS_PER_VOLUME = 3
STEPS = 600
CONTEXT_VERSION = 3  # the chunk version whose causal contexts the committed weights were fitted on


def slab_examples(slab: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(integer log features, residuals, has_previous) sampled from one unsigned slab, as the codec sees it."""
    bits = max(1, int(slab.max()).bit_length())
    fmt = PixelFormat(bits, 3 if slab.ndim == 4 else 1)
    prepared = prepare(slab, fmt, max_error=0)
    rows, cols = prepared.image.shape[1:]
    context = chunk_context(CONTEXT_VERSION, causal_context(rows * cols).size)
    planes = SlabPlanes(*prepared.image.shape, prepared.bits, context)
    planes.fill(prepared.image)
    fixed = analyse(planes, fit_predictor(planes, rng))
    examples, start = [], 0
    for positions, has_previous in plane_kinds(planes):
        pick = np.sort(rng.choice(len(positions), min(len(positions), PIXELS_PER_KIND), replace=False))
        sample = positions[pick]
        features = planes.scale_features(sample, planes.value_context(sample, has_previous))
        residual = planes.values[sample] - fixed[start + pick] / (1 << COEFFICIENT_BITS)
        examples.append((ilog(features), residual, has_previous))
        start += len(positions)
    return examples


def pool_examples(images: Iterable[tuple[str, Volume]], slab_size: int, seed: int
                  ) -> tuple[dict[bool, list[np.ndarray]], list[str]]:
    rng = np.random.default_rng(seed)
    examples: dict[bool, list[np.ndarray]] = {False: [], True: []}
    labels = []
    for label, volume in images:
        array = volume.array.astype(np.int64)
        array -= array.min()
        starts = np.unique(np.linspace(0, max(0, len(array) - slab_size), SLABS_PER_VOLUME).astype(int))
        for start in starts:
            for features, residual, has_previous in slab_examples(array[start:start + slab_size], rng):
                examples[has_previous].append(np.concatenate([features, residual[:, None]], axis=1))
        labels.append(label)
    return examples, labels


def laplace_code_length(level: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Mean bits of integer-binned residuals under Laplace(0, 2 ** (level / 8))."""
    scale = torch.exp2(level / LOG_UNIT).clamp_min(1 / 64)

    def cdf(x: torch.Tensor) -> torch.Tensor:
        z = x / scale
        return torch.where(z < 0, 0.5 * torch.exp(z.clamp_max(0)), 1 - 0.5 * torch.exp(-z.clamp_min(0)))

    probability = (cdf(residual + 0.5) - cdf(residual - 0.5)).clamp_min(2.0 ** -24)
    return -torch.log2(probability).mean()


def fit_weights(rows: np.ndarray, features: int, seed: int, steps: int = STEPS,
                on_step: Callable[[], None] | None = None) -> tuple[np.ndarray, float]:
    """Q8 integer weights (last: bias) of the level regression, and the final training bits per pixel;
    ``on_step`` is called after each Adam step."""
    torch.manual_seed(seed)
    data = torch.as_tensor(rows, dtype=torch.float64)
    x, residual = data[:, :features], data[:, features]
    weights = torch.zeros(features + 1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([weights], lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = laplace_code_length(x @ weights[:-1] + weights[-1] * LOG_UNIT, residual)
        loss.backward()
        optimiser.step()
        if on_step is not None:
            on_step()
    quantised = np.round(weights.detach().numpy() * 256).astype(np.int64)
    quantised[-1] = int(round(float(weights.detach()[-1]) * LOG_UNIT * 256))
    with torch.no_grad():
        level = torch.as_tensor((rows[:, :features].astype(np.int64) @ quantised[:-1] + quantised[-1]) >> 8,
                                dtype=torch.float64)
        bits = float(laplace_code_length(level, residual))
    return quantised, bits


def pretrain(seed: int = SEED, images: Iterable[tuple[str, Volume]] | None = None, slab_size: int = 8,
             steps: int = STEPS, progress: Progress | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The two scale regressions' weights and a summary; ``progress`` counts the steps of both."""
    started = time.time()
    examples, labels = pool_examples(pool_volumes() if images is None else images, slab_size, seed)
    state, summary = {}, {"images": labels, "seed": seed, "steps": steps}
    regressions = ((False, "scale_first", SCALE_FEATURES_2D), (True, "scale_later", SCALE_FEATURES_3D))
    total, done = steps * sum(1 for has_previous, _, _ in regressions if examples[has_previous]), itertools.count(1)
    on_step = None if progress is None else lambda: progress(next(done), total)
    for has_previous, key, features in regressions:
        if examples[has_previous]:
            rows = np.concatenate(examples[has_previous])
            weights, bits = fit_weights(rows, features, seed, steps, on_step)
        else:
            rows, weights, bits = np.zeros((0, 0)), np.zeros(features + 1, dtype=np.int64), math.nan
        state[key] = torch.as_tensor(weights)
        summary[key] = {"pixels": len(rows), "bits_per_pixel": round(bits, 4)}
    summary["seconds"] = round(time.time() - started, 1)
    return state, summary


def weights_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The bundle's ``model.pt``: the two scale regressions' integer weights."""
    return state_bytes(state)


def report_markdown(summary: dict, command: str, weights: bytes) -> str:
    lines = ["# learned-lossless: training record", "",
             f"Command: `{command}`", "",
             f"Weights: `models/model.pt`, sha256 `{hashlib.sha256(weights).hexdigest()}` (what `.mcz` headers "
             "record; the same command writes the same file).", "",
             f"Date: {datetime.date.today().isoformat()}; seed {summary['seed']}; {summary['steps']} Adam steps per "
             f"regression; {summary['seconds']} s on CPU.", "",
             "What is learned: the Q8 integer weights of the log-scale regression on the integer log-magnitudes "
             "of neighbouring residuals and gradients (`scale_first`: 13 features for the first plane of a slab; "
             "`scale_later`: 16, adding the previous plane's residuals and difference).  Objective: bits per pixel "
             "of the residuals of each slab's least-squares predictor under the discretised Laplace predicted.", "",
             "| regression | training pixels | final bits per pixel |", "|---|---|---|"]
    for key in ("scale_first", "scale_later"):
        lines.append(f"| {key} | {summary[key]['pixels']} | {summary[key]['bits_per_pixel']} |")
    lines += ["", "Training images (the MedComp training pool; no evaluation image):", ""]
    lines += [f"- {label}" for label in summary["images"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="where to write model.pt")
    parser.add_argument("--report", help="where to write the Markdown training record")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.training.learned_lossless", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    check_outputs([args.out, args.report], args.force)
    state, summary = pretrain(args.seed, steps=args.steps)
    weights = weights_bytes(state)
    atomic_write(args.out, weights, force=args.force)
    print(summary)
    if args.report:
        command = (f"python -m monai_medcomp.training.learned_lossless --out {args.out} --report {args.report}"
                   + (f" --seed {args.seed}" if args.seed != SEED else "")
                   + (f" --steps {args.steps}" if args.steps != STEPS else ""))
        atomic_write(args.report, report_markdown(summary, command, weights).encode("utf-8"), force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
