"""Whole images as 32x32 blocks for the block-based learned codecs, and back.

An image of any size is padded by repeating its edge pixels up to a multiple of the block size
(edge padding adds no false edge for the network to spend latent bits on), cut into blocks, and
the decoded blocks are reassembled and cropped.  A block keeps all the image's channels, so a codec
can hand an RGB block whole to an RGB model or plane by plane to a grey one.
"""

from __future__ import annotations

import numpy as np

BLOCK = 32


def block_grid(rows: int, cols: int, block: int = BLOCK) -> tuple[int, int]:
    """Blocks down and across that cover ``rows`` x ``cols``."""
    return -(-rows // block), -(-cols // block)


def to_blocks(image: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """(rows, cols, channels) -> (blocks_down * blocks_across, channels, block, block), in raster order."""
    rows, cols, channels = image.shape
    down, across = block_grid(rows, cols, block)
    padded = np.pad(image, ((0, down * block - rows), (0, across * block - cols), (0, 0)), mode="edge")
    tiles = padded.reshape(down, block, across, block, channels).transpose(0, 2, 4, 1, 3)
    return tiles.reshape(down * across, channels, block, block)


def from_blocks(blocks: np.ndarray, rows: int, cols: int, channels: int, block: int = BLOCK) -> np.ndarray:
    """Inverse of :func:`to_blocks`: reassemble and crop to (rows, cols, channels)."""
    down, across = block_grid(rows, cols, block)
    tiles = np.asarray(blocks).reshape(down, across, channels, block, block).transpose(0, 3, 1, 4, 2)
    return tiles.reshape(down * block, across * block, channels)[:rows, :cols]
