"""The training data of the lossy block codecs: random 32x32 blocks of the training pool (never evaluation images).

Every image is shifted to unsigned and normalised by its own bit depth, exactly as the codecs see it.
Grey models (``channels=1``) train on one block per plane of every pool image, colour planes
included; RGB models (``channels=3``) on the RGB pool images only, all three planes of a block
together, as the codecs code an RGB image.  Each block keeps its image's bit depth, because that
sets the latent step the codec will use on it.  Flat blocks teach nothing and are skipped.  Seeded:
the same seed gives the same blocks.

A block set can be saved once and trained on many times, on another machine too (one that lacks the
packages the pool ships in, such as a GPU box)::

    python -m monai_medcomp.training.blocks --out pool_blocks.npz --per-image 2000
    python -m monai_medcomp.training.blocks --out pool_blocks_rgb.npz --per-image 2000 --channels 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import zipfile
from typing import Iterable

import numpy as np

from ..codecs.blocks import BLOCK
from ..errors import MedCompError, run_command
from ..fileio import atomic_path
from ..volume import Volume
from .images import pool_volumes


@dataclasses.dataclass
class BlockSet:
    """Integer blocks (N, channels, 32, 32), each block's bit depth (N,), a line per image they came from, and the
    draw that made them (blocks per image at most, seed)."""

    values: np.ndarray
    bits: np.ndarray
    images: list[str]
    per_image: int
    seed: int

    def __len__(self) -> int:
        return len(self.values)

    @property
    def channels(self) -> int:
        return int(self.values.shape[1])

    def normalised(self) -> np.ndarray:
        """float32 blocks in [0, 1]: the values over each block's full scale, as the codecs normalise."""
        scale = ((1 << self.bits.astype(np.int64)) - 1)[:, None, None, None]
        return (self.values.astype(np.int64) / scale).astype(np.float32)

    def save(self, path: str | os.PathLike, force: bool = False) -> None:
        with atomic_path(path, force) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, values=self.values, bits=self.bits, images=np.array(self.images),
                                draw=np.array([self.per_image, self.seed]))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BlockSet":
        try:
            with np.load(path, allow_pickle=False) as saved:
                values, bits, images = saved["values"], saved["bits"], [str(s) for s in saved["images"]]
                per_image, seed = (int(v) for v in saved["draw"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise MedCompError(f"{path} is not a saved block set ({error})") from None
        if (values.ndim != 4 or values.shape[1] not in (1, 3) or values.shape[2:] != (BLOCK, BLOCK)
                or bits.shape != values.shape[:1]):
            raise MedCompError(f"{path} is not a saved block set (blocks of shape {values.shape})")
        return cls(values, bits, images, per_image, seed)


def unsigned_planes(array: np.ndarray, channels: int = 1) -> tuple[np.ndarray, int]:
    """Volume pixels (slices, rows, cols[, 3]) -> unsigned integer planes and their bit depth: (slices * 3, rows,
    cols, 1) with ``channels=1`` (a colour image's planes one by one), (slices, rows, cols, 3) with ``channels=3``."""
    unsigned = array.astype(np.int64) - int(array.min())
    bits = max(1, int(unsigned.max()).bit_length())
    if channels == 3:
        return unsigned, bits
    planes = unsigned if unsigned.ndim == 3 else np.moveaxis(unsigned, -1, 1).reshape(-1, *unsigned.shape[1:3])
    return planes[..., None], bits


def training_blocks(per_image: int, seed: int, images: Iterable[tuple[str, Volume]] | None = None,
                    channels: int = 1) -> BlockSet:
    """Up to ``per_image`` blocks of ``channels`` planes from each image (default: the training pool; with
    ``channels=3`` its RGB images only)."""
    if channels not in (1, 3):
        raise MedCompError(f"block sets are grey (1 channel) or RGB (3 channels), not {channels} channels")
    rng = np.random.default_rng(seed)
    blocks, bits, used = [], [], []
    for label, volume in pool_volumes() if images is None else images:
        if channels == 3 and volume.array.ndim != 4:
            continue
        planes, depth = unsigned_planes(volume.array, channels)
        count, rows, cols = planes.shape[:3]
        if rows < BLOCK or cols < BLOCK:
            continue
        picks = zip(rng.integers(0, count, 4 * per_image), rng.integers(0, rows - BLOCK + 1, 4 * per_image),
                    rng.integers(0, cols - BLOCK + 1, 4 * per_image))
        kept = [b for b in (planes[p, r:r + BLOCK, c:c + BLOCK] for p, r, c in picks) if b.max() > b.min()][:per_image]
        blocks += kept
        bits += [depth] * len(kept)
        used.append(f"{label}, {depth}-bit: {len(kept)} blocks")
    if not blocks:
        raise MedCompError(f"no image to train on has a {channels}-channel 32x32 block that is not flat")
    values = np.moveaxis(np.stack(blocks), -1, 1).astype(np.uint16)
    return BlockSet(values, np.array(bits, np.uint8), used, per_image, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Save the training pool's blocks for training elsewhere.")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--per-image", type=int, required=True, help="blocks drawn from each image at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1,
                        help="1: grey blocks of every plane; 3: RGB blocks of the RGB pool images")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.training.blocks", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    blocks = training_blocks(args.per_image, args.seed, channels=args.channels)
    blocks.save(args.out, force=args.force)
    print(f"{len(blocks)} blocks from {len(blocks.images)} images -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
