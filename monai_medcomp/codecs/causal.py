"""The causal neighbourhood of predictive coding: which pixels a prediction may see, and in what order.

Pixels are coded in raster order, so a pixel may look at rows above and at pixels to its left.  The
context of size ``n`` is the ``n`` nearest such pixels (Euclidean distance; for 60 it is the half
disc of radius sqrt(37), the shape of the paper's Figure 2).  Features are the context minus a
reference prediction (the LOCO-I median edge detector of JPEG-LS), so that one network serves
any brightness.  Border rule: a neighbour outside the image contributes 0 (it equals the
reference); the reference falls back to the left pixel on the first row, the pixel above in the
first column and mid-range for the first pixel.  RGB: the reference of a later channel adds the
previous channel's reference error at the same pixel (so a grey pixel in an RGB image is predicted
exactly), and channel ``c`` also sees the already coded channels of the pixel through ``2 * c``
extra features.

Decoding cannot predict a whole row at once (a pixel needs its left neighbours), but every pixel
on the wavefront ``col + slope * row = t`` has its whole context coded before step ``t``, so the
decoder runs one vectorised step per wavefront instead of one per pixel.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator, Sequence

import numpy as np


def inter_channel_features(channel: int) -> int:
    """Extra features of colour channel ``channel``: earlier channels of the same pixel."""
    return 2 * channel


@dataclasses.dataclass(frozen=True)
class CausalContext:
    """The ``size`` nearest already-coded neighbours as (row, col) offsets, nearest first.

    ``slope_limit`` (if set) leaves out the neighbours above that only wavefronts steeper than it
    could decode (those at ``dx >= slope_limit * -dy``), so that :attr:`slope` stays within it.
    """

    size: int
    slope_limit: int | None = None

    @functools.cached_property
    def offsets(self) -> np.ndarray:
        radius = int(np.ceil(np.sqrt(self.size))) + 1
        candidates = [(dy, dx) for dy in range(-radius, 1) for dx in range(-radius, radius + 1)
                      if self._allowed(dy, dx)]
        candidates.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, -o[0], o[1]))
        return np.array(candidates[:self.size], dtype=np.int64)

    def _allowed(self, dy: int, dx: int) -> bool:
        if dy == 0:
            return dx < 0
        return dy < 0 and (self.slope_limit is None or dx < -self.slope_limit * dy)

    @property
    def pad(self) -> tuple[int, int, int]:
        """Rows above and columns left and right that the context reaches outside the image."""
        offsets = self.offsets
        return int(-offsets[:, 0].min()), int(max(0, -offsets[:, 1].min())), int(max(0, offsets[:, 1].max()))

    @property
    def slope(self) -> int:
        """Smallest s such that every neighbour of (r, c) lies on an earlier wavefront c + s * r."""
        above = self.offsets[self.offsets[:, 0] < 0]
        return int(np.floor((above[:, 1] / -above[:, 0]).max())) + 1 if len(above) else 1

    def index(self, dy: int, dx: int) -> int:
        return int(np.flatnonzero((self.offsets[:, 0] == dy) & (self.offsets[:, 1] == dx))[0])


def clamp(values: np.ndarray, low: np.ndarray | int, high: np.ndarray | int) -> np.ndarray:
    """``values`` limited to ``low .. high``: np.clip's per-call checks cost more than the work on a wavefront."""
    return np.minimum(np.maximum(values, low), high)


def median_edge(west: np.ndarray, north: np.ndarray, north_west: np.ndarray) -> np.ndarray:
    """The LOCO-I median edge detector of a pixel whose left and upper neighbours are inside the image."""
    return clamp(west + north - north_west, np.minimum(west, north), np.maximum(west, north))


def med_reference(west: np.ndarray, north: np.ndarray, north_west: np.ndarray, has_west: np.ndarray,
                  has_north: np.ndarray, mid: int) -> np.ndarray:
    """The LOCO-I median edge detector, with the border fallbacks of the module docstring."""
    median = median_edge(west, north, north_west)
    return np.where(has_west & has_north, median, np.where(has_west, west, np.where(has_north, north, mid)))


class CodingPlanes:
    """The pixels coded so far, zero-padded so that every context offset is one flat index away."""

    def __init__(self, context: CausalContext, rows: int, cols: int, channels: int, bits: int):
        if context.size < 3:
            raise ValueError("a causal context needs at least the left, upper and upper-left neighbours")
        self.context, self.rows, self.cols, self.channels = context, rows, cols, channels
        self.mid, self.max_value = 1 << (bits - 1), (1 << bits) - 1
        top, left, right = context.pad
        self.top, self.left = top, left
        self.width = left + cols + right
        self.values = np.zeros((channels, (top + rows) * self.width), dtype=np.int64)
        inside = np.zeros((top + rows, self.width), dtype=bool)
        inside[top:, left:left + cols] = True
        self.inside = inside.ravel()
        self.flat_offsets = context.offsets[:, 0] * self.width + context.offsets[:, 1]
        self.neighbours = [context.index(0, -1), context.index(-1, 0), context.index(-1, -1)]

    def positions(self, raster: np.ndarray) -> np.ndarray:
        """Flat padded positions of raster indices ``row * cols + col``."""
        row, col = np.divmod(raster, self.cols)
        return (row + self.top) * self.width + col + self.left

    def fill(self, image: np.ndarray) -> None:
        """Load a whole (rows, cols, channels) image: the encoder knows every pixel from the start."""
        for channel in range(self.channels):
            self.values[channel].reshape(-1, self.width)[self.top:, self.left:self.left + self.cols] = image[..., channel]

    def features(self, positions: np.ndarray, channel: int,
                 earlier: Sequence[tuple[np.ndarray, np.ndarray]] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Integer features (n, size + 2 * channel) and references (n,) of ``channel`` at ``positions``.

        ``earlier`` holds (values, references) of the channels already coded at the same positions.
        """
        index = positions[:, None] + self.flat_offsets[None, :]
        near = self.values[channel][index]
        inside = self.inside[index]
        west, north, north_west = (near[:, i] for i in self.neighbours)
        has_west, has_north = inside[:, self.neighbours[0]], inside[:, self.neighbours[1]]
        reference = med_reference(west, north, north_west, has_west, has_north, self.mid)
        if earlier:  # colour: add the previous channel's reference error (exact on grey pixels)
            values, their_reference = earlier[-1]
            reference = np.clip(reference + values - their_reference, 0, self.max_value)
        columns = [np.where(inside, near - reference[:, None], 0)]
        for values, their_reference in earlier:
            columns.append(np.stack([values - reference, values - their_reference], axis=1))
        return np.concatenate(columns, axis=1), reference


def wavefronts(context: CausalContext, rows: int, cols: int) -> Iterator[np.ndarray]:
    """Raster indices of the pixels on each wavefront, in coding order."""
    row, col = np.divmod(np.arange(rows * cols, dtype=np.int64), cols)
    step = col + context.slope * row
    order = np.argsort(step, kind="stable")
    bounds = np.searchsorted(step[order], np.arange(int(step.max()) + 2))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop > start:
            yield order[start:stop]
