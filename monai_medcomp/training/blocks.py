"""The training data of the lossy block codecs: random 32x32 blocks of the training pool (never evaluation images).

Every image is shifted to unsigned and normalised by its own bit depth, exactly as the codecs see it;
colour images give one block per plane, as the codecs code them.  Flat blocks teach nothing and
are skipped.  Seeded: the same seed gives the same blocks.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..codecs.blocks import BLOCK
from ..errors import MedCompError
from ..volume import Volume
from .images import pool_volumes


def normalised_planes(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Volume pixels (slices, rows, cols[, 3]) -> float32 planes (slices * channels, rows, cols) in [0, 1], bits."""
    unsigned = array.astype(np.int64) - int(array.min())
    bits = max(1, int(unsigned.max()).bit_length())
    planes = unsigned if unsigned.ndim == 3 else np.moveaxis(unsigned, -1, 1).reshape(-1, *unsigned.shape[1:3])
    return (planes / ((1 << bits) - 1)).astype(np.float32), bits


def training_blocks(per_image: int, seed: int, images: Iterable[tuple[str, Volume]] | None = None
                    ) -> tuple[np.ndarray, list[str]]:
    """(N, 1, 32, 32) float32 blocks, up to ``per_image`` from each image (default: the training pool),
    and a line per image used."""
    rng = np.random.default_rng(seed)
    blocks, used = [], []
    for label, volume in pool_volumes() if images is None else images:
        planes, bits = normalised_planes(volume.array)
        count, rows, cols = planes.shape
        if rows < BLOCK or cols < BLOCK:
            continue
        picks = zip(rng.integers(0, count, 4 * per_image), rng.integers(0, rows - BLOCK + 1, 4 * per_image),
                    rng.integers(0, cols - BLOCK + 1, 4 * per_image))
        kept = [b for b in (planes[p, r:r + BLOCK, c:c + BLOCK] for p, r, c in picks) if b.max() > b.min()][:per_image]
        blocks += kept
        used.append(f"{label}, {bits}-bit: {len(kept)} blocks")
    if not blocks:
        raise MedCompError("no image to train on has a 32x32 block that is not flat")
    return np.stack(blocks)[:, None], used
