"""Whole images as 32x32 blocks for the block-based learned codecs, and back.

An image of any size is padded by repeating its edge pixels up to a multiple of the block size
(edge padding adds no false edge for the network to spend latent bits on), cut into blocks, and
the decoded blocks are reassembled and cropped.  Colour images are cut plane by plane: every
block the networks see is one grey plane, which is how a grey model codes RGB.
"""

from __future__ import annotations

import numpy as np

BLOCK = 32


def block_grid(rows: int, cols: int, block: int = BLOCK) -> tuple[int, int]:
    """Blocks down and across that cover ``rows`` x ``cols``."""
    return -(-rows // block), -(-cols // block)


def to_blocks(image: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """(rows, cols, channels) -> (channels * blocks_down * blocks_across, 1, block, block), plane by plane."""
    rows, cols, channels = image.shape
    down, across = block_grid(rows, cols, block)
    padded = np.pad(image, ((0, down * block - rows), (0, across * block - cols), (0, 0)), mode="edge")
    tiles = padded.reshape(down, block, across, block, channels).transpose(4, 0, 2, 1, 3)
    return tiles.reshape(channels * down * across, 1, block, block)


def from_blocks(blocks: np.ndarray, rows: int, cols: int, channels: int, block: int = BLOCK) -> np.ndarray:
    """Inverse of :func:`to_blocks`: reassemble and crop to (rows, cols, channels)."""
    down, across = block_grid(rows, cols, block)
    tiles = np.asarray(blocks).reshape(channels, down, across, block, block).transpose(1, 3, 2, 4, 0)
    return tiles.reshape(down * block, across * block, channels)[:rows, :cols]
