"""Pretrain the generic start of ``mlp-huffman`` on the training pool (never on the evaluation images).

    python -m monai_medcomp.training.mlp_huffman --out bundles/mlp_huffman/models/model.pt \\
        --report bundles/mlp_huffman/docs/training.md

Every slice is prepared exactly as the codec prepares one (shifted to unsigned, its own input scale,
clipped features), so the pretrained networks see what they will see at encode time.  The grey
network also learns from the first channel of the RGB images; the two other networks learn the
later colour channels.  Seeded: the same command on the same pool gives the same weights.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import itertools
import json
import time
from typing import Iterable

import numpy as np
import torch

from ..codecs.causal import CausalContext, CodingPlanes
from ..codecs.mlp_predictor import MLPHuffmanOptions, build_model, clip_features, input_shift, training_data
from ..errors import run_command
from ..fileio import atomic_write, check_outputs
from ..volume import Volume
from ..weights import state_bytes
from . import Progress
from .images import pool_volumes
from .predictor import fit_regressor

SLICES_PER_VOLUME = 12
PIXELS_PER_SLICE = 1 << 14
EPOCHS = 40
SEED = 0
CHANNELS = 3


def slice_examples(image: np.ndarray, bits: int, options: MLPHuffmanOptions,
                   rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Normalised (features, targets) of each channel of one unsigned slice (rows, cols, channels)."""
    rows, cols, channels = image.shape
    planes = CodingPlanes(CausalContext(options.context), rows, cols, channels, bits)
    planes.fill(image)
    count = rows * cols
    raster = np.sort(rng.choice(count, min(count, PIXELS_PER_SLICE), replace=False))
    examples = []
    for features, targets in training_data(planes, raster):
        shift = input_shift(targets)
        scale = float(1 << shift)
        examples.append(((clip_features(features, shift) / scale).astype(np.float32),
                         (clip_features(targets, shift) / scale).astype(np.float32)))
    return examples


def pool_examples(options: MLPHuffmanOptions, seed: int, images: Iterable[tuple[str, Volume]] | None = None
                  ) -> tuple[list[list[tuple[np.ndarray, np.ndarray]]], list[str]]:
    """Examples per network (grey/first channel, second, third) from evenly spaced slices of ``images``
    ((label, Volume) pairs; default: the training pool)."""
    rng = np.random.default_rng(seed)
    per_net: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(CHANNELS)]
    used = []
    for label, volume in pool_volumes() if images is None else images:
        array = volume.array.astype(np.int64) - int(volume.array.min())
        bits = max(1, int(array.max()).bit_length())
        picks = np.unique(np.linspace(0, volume.num_slices - 1, min(SLICES_PER_VOLUME, volume.num_slices)).round())
        kept = 0
        for index in picks.astype(int):
            image = array[index].reshape(array.shape[1], array.shape[2], volume.channels)
            if image.min() == image.max():
                continue  # a blank slice teaches nothing
            for channel, example in enumerate(slice_examples(image, bits, options, rng)):
                per_net[channel].append(example)
            kept += 1
        used.append(f"{label}: {kept} slices")
    return per_net, used


def pretrain(epochs: int = EPOCHS, seed: int = SEED, images: Iterable[tuple[str, Volume]] | None = None,
             progress: Progress | None = None) -> tuple[torch.nn.Module, dict]:
    """The pretrained network (three channels) and a summary of how it was made; ``images`` as in
    :func:`pool_examples`.  A network no image of its channel reached keeps its start: the reference.
    ``progress`` counts the epochs of every network trained."""
    torch.manual_seed(seed)
    options = MLPHuffmanOptions(start="scratch", seed=seed)
    start = time.perf_counter()
    per_net, used = pool_examples(options, seed, images)
    model = build_model(options, CHANNELS)
    total, done = epochs * sum(1 for examples in per_net if examples), itertools.count(1)
    on_epoch = None if progress is None else lambda: progress(next(done), total)
    losses = []
    for channel, examples in enumerate(per_net):
        if not examples:  # e.g. grey images only: the colour networks stay at their start
            losses.append(float("nan"))
            continue
        features = torch.from_numpy(np.concatenate([f for f, _ in examples]))
        targets = torch.from_numpy(np.concatenate([t for _, t in examples]))
        losses.append(fit_regressor(model.nets[channel], features, targets, epochs=epochs, seed=seed + channel,
                                    on_epoch=on_epoch))
    summary = {"seed": seed, "epochs": epochs, "context": options.context, "hidden": list(options.hidden),
               "pixels_per_slice": PIXELS_PER_SLICE, "slices_per_volume": SLICES_PER_VOLUME,
               "examples_per_network": [int(sum(len(t) for _, t in ex)) for ex in per_net],
               "final_mse_per_network": losses, "seconds": round(time.perf_counter() - start, 1),
               "torch": torch.__version__, "threads": torch.get_num_threads(), "images": used,
               "date": datetime.date.today().isoformat()}
    return model, summary


def weights_bytes(model: torch.nn.Module) -> bytes:
    """The bundle's ``model.pt``: the three networks' state."""
    return state_bytes(model.state_dict())


def report_markdown(summary: dict, command: str) -> str:
    images = "\n".join(f"- {line}" for line in summary["images"])
    losses = ", ".join(f"{loss:.4f}" for loss in summary["final_mse_per_network"])
    return f"""# mlp_huffman: pretraining

The generic start of the `mlp-huffman` codec: one small ReLU MLP per colour channel
(`monai_medcomp.networks.CausalPredictorMLP(in_channels={summary['context']}, out_channels=3,
hidden_channels={summary['hidden']})`), fitted by Adam on the mean squared error of the normalised
prediction offset.  Encoding starts from these weights, fine-tunes them on the image for a few epochs
and stores only the (quantised) change, or nothing when the weights alone code a slice smaller.

Command (CPU, torch {summary['torch']} on {summary['threads']} thread(s), {summary['date']}):

    {command}

- seed: {summary['seed']}; epochs: {summary['epochs']}; wall time: {summary['seconds']} s; the same command
  writes the same file byte for byte, sha256 `{summary['sha256']}` (what `.mcz` headers record)
- {summary['pixels_per_slice']} random pixels from each of up to {summary['slices_per_volume']} evenly spaced
  non-blank slices per image
- examples per network (grey and first colour channel, second, third): {summary['examples_per_network']}
- final training MSE per network (normalised units): {losses}

Training pool (`monai_medcomp.data.training_images()`; no evaluation image is used):

{images}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the state dict (model.pt)")
    parser.add_argument("--report", help="where to write the Markdown training record")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the same weights every run)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.training.mlp_huffman", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    check_outputs([args.out, args.report], args.force)
    torch.set_num_threads(args.threads)
    model, summary = pretrain(args.epochs, args.seed)
    weights = weights_bytes(model)
    atomic_write(args.out, weights, force=args.force)
    summary["sha256"] = hashlib.sha256(weights).hexdigest()
    print(json.dumps(summary, indent=1))
    if args.report:
        command = "python -m monai_medcomp.training.mlp_huffman --out " + args.out + (
            f" --report {args.report}" if args.report else "") + (
            f" --epochs {args.epochs}" if args.epochs != EPOCHS else "") + (
            f" --seed {args.seed}" if args.seed != SEED else "")
        atomic_write(args.report, report_markdown(summary, command).encode("utf-8"), force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
