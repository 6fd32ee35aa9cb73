"""The probability model of ``learned-lossless``: per-pixel Laplace or Gaussian distributions from causal context.

A slab is a stack of *planes* (the slices of a volume, or the colour channels of an RGB slice) coded
one after another; every plane but the first also sees the plane before it.  For each pixel:

* **mean**: a linear predictor on 24 near causal neighbours in the plane (the 24 nearest but one,
  :func:`causal_context`; the 12 nearest in small planes, where more coefficients cost more than they
  gain) and, from the second
  plane on, the 3x3 co-located neighbourhood of the previous plane, all taken relative to the
  JPEG-LS median reference.  Pixels fall into bands by local gradient activity and direction, and
  each band has its own coefficients, fitted per slab by iteratively reweighted least squares
  (towards least absolute error, closer to the code length than least squares), then refitted with
  each first-plane pixel's error in units of its predicted scale, and stored in Q12.
* **scale**: a learned log-scale regression on the integer log-magnitudes of nearby residuals and
  gradients (and of the previous plane's residual), pretrained on the training pool
  (``bundles/learned_lossless``).  Its output only ranks pixels into *scale classes*; each slab
  stores the scale, bias and family (Laplace, or Gaussian where the residual is mostly noise, as in
  radiographs and CT air) that code its own pixels of each class best.

Everything the distribution depends on is integer arithmetic on decoded pixels, and its parameters
are dyadic fractions or float16 table entries, so the decoder hands the entropy coder exactly the
floats the encoder did.  The decoder rebuilds pixels one wavefront at a time; planes run together,
each a fixed number of wavefronts behind the one before, so a slab needs few steps more than a slice.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator

import numpy as np

from .causal import CausalContext, clamp, med_reference, median_edge

LARGE_PLANE = 1 << 16  # pixels per plane from which the larger causal context pays for its coefficients
# Wavefronts advance this many columns per row: a plane decodes in cols + 3 * (rows - 1) steps, a fifth
# fewer than the 24 nearest neighbours' slope of 4 takes (grey mean 3.646 -> 3.647 bpp; ct_693 decodes ~30 % faster).
WAVEFRONT_SLOPE = 3
PREVIOUS_PLANE = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.int64)
COEFFICIENT_BITS = 12  # Q12 fixed point of the linear predictor
BIAS_UNIT = 16  # class biases are stored in 1/16 of a grey level
SCALE_FLOOR = 1 / 64
SCALE_FEATURES_2D = 13
SCALE_FEATURES_3D = SCALE_FEATURES_2D + 3
LOG_UNIT = 8  # integer logarithms are in 1/8 octave
IRLS_ROUNDS = 4


@functools.lru_cache(maxsize=1)
def log_table() -> np.ndarray:
    """``ilog(v) ~ 8 * log2(1 + v)`` for v in 0..2**17: octave plus the 3 bits after the leading one (exact)."""
    t = np.arange(1, (1 << 17) + 2, dtype=np.int64)
    octave = np.frexp(t)[1].astype(np.int64) - 1  # the exponent of an integer is exact
    mantissa = np.where(octave >= 3, t >> np.maximum(octave - 3, 0), t << np.maximum(3 - octave, 0)) - LOG_UNIT
    return LOG_UNIT * octave + mantissa


def ilog(values: np.ndarray) -> np.ndarray:
    return log_table()[np.minimum(np.abs(values), 1 << 17)]


@dataclasses.dataclass
class ScaleWeights:
    """The pretrained log-scale regression: Q8 integer weights and bias, for first and later planes."""

    first: np.ndarray  # (SCALE_FEATURES_2D + 1,) int64, last entry the bias
    later: np.ndarray  # (SCALE_FEATURES_3D + 1,)

    def level(self, features: np.ndarray, has_previous: bool) -> np.ndarray:
        """Predicted log2-scale of each pixel in 1/8 octave (integers)."""
        weights = self.later if has_previous else self.first
        return (ilog(features) @ weights[:-1] + weights[-1]) >> 8


def row_sums(table: np.ndarray) -> np.ndarray:
    """Sum of each row, in the table's dtype: np.einsum is several times faster than ``sum(axis=1)``
    over a few dozen columns."""
    return np.einsum("ij->i", table)


# |gradients| (W-NW, N-NW, NE-N, W-WW, N-NN) times this: activity, 2 x the change along the row, 3 x down the column
BAND_STATISTICS = np.array([[1, 0, 3], [1, 2, 0], [1, 2, 0], [1, 2, 0], [1, 0, 3]], dtype=np.int64)


def activity(gradients: np.ndarray) -> np.ndarray:
    """Sum of absolute local gradients: picks the predictor band, from decoded values only."""
    return np.abs(gradients) @ BAND_STATISTICS[:, 0]


def band_of(edges: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Predictor band: activity band times three directions (0: mostly change along the row, 2: mostly
    down the column, 1: neither).  The two direction tests cannot both hold, so their difference picks it;
    one product gives all three statistics, which matters on the decoder's small wavefronts."""
    total, across, down = (np.abs(gradients) @ BAND_STATISTICS).T  # total: activity(gradients)
    return band_index(edges, total, 1 + (down > 2 * across).astype(np.int64) - (across > 2 * down))


def band_index(edges: np.ndarray, activity: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The band of an activity (between ``edges``) and a direction (0 to 2)."""
    return 3 * np.searchsorted(edges, activity, side="right") + direction


@dataclasses.dataclass
class ValueContext:
    """What the decoded values around a set of pixels say: predictor features, reference, gradients."""

    relative: np.ndarray  # (n, features): neighbours - reference (0 outside the image)
    reference: np.ndarray  # (n,) median edge detector
    gradients: np.ndarray  # (n, 5): W-NW, N-NW, NE-N, W-WW, N-NN
    previous: np.ndarray | None  # (n,): previous plane's co-located value - reference
    neighbours: np.ndarray  # (n, causal size): flat positions of the causal neighbours


@dataclasses.dataclass
class LinearPredictor:
    """Q12 coefficients on (neighbours - reference) plus a Q12 intercept, one row per band (:func:`band_of`).

    ``edges`` splits :func:`activity` into ``len(edges) + 1`` activity bands, each split again by
    gradient direction: flat, textured and edge regions want different weights.
    """

    edges: np.ndarray  # (activity bands - 1,) int64
    first: np.ndarray  # (3 * activity bands, context size + 1) int64
    later: np.ndarray  # (3 * activity bands, context size + 9 + 1) int64

    def fixed_point(self, context: ValueContext, has_previous: bool) -> np.ndarray:
        """The prediction in Q12."""
        weights = (self.later if has_previous else self.first)[band_of(self.edges, context.gradients)]
        return ((context.reference << COEFFICIENT_BITS) + np.einsum("ij,ij->i", context.relative, weights[:, :-1])
                + weights[:, -1])


def causal_context(plane_pixels: int) -> CausalContext:
    """The 24 nearest causal neighbours for large planes, the 12 nearest for small ones, those of
    the 24 that need wavefronts steeper than :data:`WAVEFRONT_SLOPE` (one: three columns right of
    the pixel above) replaced by the next nearest."""
    return CausalContext(24 if plane_pixels >= LARGE_PLANE else 12, WAVEFRONT_SLOPE)


class SlabPlanes:
    """Decoded (or known) pixels and prediction residuals of a slab, padded so neighbours are one index away."""

    def __init__(self, planes: int, rows: int, cols: int, bits: int, context: CausalContext | None = None):
        self.causal = causal_context(rows * cols) if context is None else context
        top, left, right = self.causal.pad
        self.top, self.left = max(top, 1), max(left, 1)
        self.width = self.left + cols + max(right, 1)
        self.height = self.top + rows + 1
        self.plane_size = self.height * self.width
        self.planes, self.rows, self.cols = planes, rows, cols
        self.mid, self.max_value = 1 << (bits - 1), (1 << bits) - 1
        # int32 (values have at most 17 bits): the neighbourhood gathers move half the bytes of int64
        self.values = np.zeros(planes * self.plane_size, dtype=np.int32)
        self.errors = np.zeros(planes * self.plane_size, dtype=np.int32)  # |pixel - integer prediction|
        inside = np.zeros((self.height, self.width), dtype=bool)
        inside[self.top:self.top + rows, self.left:self.left + cols] = True
        self.inside = np.tile(inside.ravel(), planes)
        # pixels whose whole causal context lies inside the image (most of them) skip the border masks
        interior = np.zeros_like(inside)
        interior[self.top + top:self.top + rows, self.left + left:self.left + cols - right] = True
        self.interior = np.tile(interior.ravel(), planes)
        self.offsets = self.causal.offsets[:, 0] * self.width + self.causal.offsets[:, 1]
        self.previous = PREVIOUS_PLANE[:, 0] * self.width + PREVIOUS_PLANE[:, 1] - self.plane_size
        w, n, nw = (self.causal.index(*o) for o in ((0, -1), (-1, 0), (-1, -1)))
        ne, ww, nn = (self.causal.index(*o) for o in ((-1, 1), (0, -2), (-2, 0)))
        self.named = np.array([w, n, nw, ne, ww, nn])  # context indices of the six nearest, by name
        # ValueContext.gradients = relative[:, first] - relative[:, second]: W-NW, N-NW, NE-N, W-WW, N-NN
        self.gradient_pairs = np.array([[w, n, ne, w, n], [nw, nw, n, ww, nn]])

    def positions(self, plane: int, raster: np.ndarray) -> np.ndarray:
        row, col = np.divmod(raster, self.cols)
        return plane * self.plane_size + (row + self.top) * self.width + col + self.left

    def all_positions(self, plane: int) -> np.ndarray:
        rows = np.arange(self.top, self.top + self.rows, dtype=np.int64)[:, None] * self.width
        return (plane * self.plane_size + rows + np.arange(self.left, self.left + self.cols)).ravel()

    def view(self, buffer: np.ndarray) -> np.ndarray:
        """(planes, rows, cols) view of ``values`` or ``errors`` without the padding."""
        shaped = buffer.reshape(self.planes, self.height, self.width)
        return shaped[:, self.top:self.top + self.rows, self.left:self.left + self.cols]

    def fill(self, image: np.ndarray) -> None:
        self.view(self.values)[...] = image

    def value_context(self, positions: np.ndarray, has_previous: bool) -> ValueContext:
        """The value context of pixels at ``positions`` (all first planes, or all later planes)."""
        neighbours = positions[:, None] + self.offsets[None, :]
        near = self.values[neighbours]
        w, n, nw = (near[:, i] for i in self.named[:3])
        reference = median_edge(w, n, nw)
        border = np.flatnonzero(~self.interior[positions])
        if len(border):  # only they can miss a neighbour: the fallbacks and the zeroed features
            inside = self.inside[neighbours[border]]
            reference[border] = med_reference(w[border], n[border], nw[border], inside[:, self.named[0]],
                                              inside[:, self.named[1]], self.mid)
        relative = near - reference[:, None]
        if len(border):
            relative[border] = np.where(inside, relative[border], 0)
        gradients = relative[:, self.gradient_pairs[0]] - relative[:, self.gradient_pairs[1]]
        previous = None
        if has_previous:
            index = positions[:, None] + self.previous[None, :]
            centre = self.values[positions - self.plane_size]
            before = np.where(self.inside[index], self.values[index], centre[:, None])
            relative = np.concatenate([relative, before - reference[:, None]], axis=1)
            previous = centre - reference
        return ValueContext(relative, reference, gradients, previous, neighbours)

    def scale_features(self, positions: np.ndarray, context: ValueContext) -> np.ndarray:
        """Residual magnitudes around the pixels (zero outside the image): the six nearest one by one and
        sums over the 12 and 24 nearest; the gradients; for later planes the previous plane's residual,
        its 3x3 sum, and the previous value's difference from the reference."""
        errors = self.errors[context.neighbours]
        columns = [errors[:, self.named], context.gradients,
                   row_sums(errors[:, :12])[:, None], row_sums(errors)[:, None]]
        if context.previous is not None:
            around = self.errors[positions[:, None] + self.previous[None, :]]
            columns.append(np.stack([self.errors[positions - self.plane_size], row_sums(around), context.previous],
                                    axis=1))
        return np.concatenate(columns, axis=1)


def schedule(planes: SlabPlanes) -> Iterator[tuple[np.ndarray, int]]:
    """Decoding steps: (positions, how many belong to the first plane) with every context already decoded.

    Plane ``k`` processes its ``t``-th (non-empty) wavefront at step ``t + k * lag``: the previous
    plane's 3x3 neighbourhood of a pixel lies at most ``slope + 1`` wavefronts later, so at most
    ``lag - 1`` non-empty fronts later, all decoded by then.
    """
    slope = planes.causal.slope
    lag = slope + 2
    row, col = np.divmod(np.arange(planes.rows * planes.cols, dtype=np.int64), planes.cols)
    front = col + slope * row
    order = np.argsort(front, kind="stable")
    bounds = np.searchsorted(front[order], np.arange(int(front.max()) + 2))
    fronts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]  # narrow images leave gaps
    # each plane's positions in wavefront order, laid out once: a step takes slices of them
    laid_out = [planes.positions(plane, order) for plane in range(planes.planes)]
    for step in range(len(fronts) + lag * (planes.planes - 1)):
        # the planes k with 0 <= step - k * lag < len(fronts)
        active = range(max(0, -(-(step - len(fronts) + 1) // lag)), min(planes.planes - 1, step // lag) + 1)
        if active:  # planes of fewer fronts than ``lag`` leave idle steps
            parts = [laid_out[plane][fronts[step - plane * lag]] for plane in active]
            yield (parts[0] if len(parts) == 1 else np.concatenate(parts)), len(parts[0]) if active.start == 0 else 0


@dataclasses.dataclass
class ScaleClasses:
    """Per-slab scale (float16), bias (1/16 grey level) and family of each scale class ``lo .. lo + n - 1``.

    A class is ``level // width``; ``width`` (in 1/8 octave) is chosen per slab so that the table
    stays small next to the pixels it serves.
    """

    width: int
    lo: int
    scales: np.ndarray  # float16
    biases: np.ndarray  # int8
    gaussian: np.ndarray  # bool: the class is coded with a Gaussian of that standard deviation, not a Laplace

    @functools.cached_property
    def _float_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The scales and biases (in grey levels) as float64, converted once rather than per wavefront."""
        return self.scales.astype(np.float64), self.biases.astype(np.float64) / BIAS_UNIT

    def lookup(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = clamp(level // self.width - self.lo, 0, len(self.scales) - 1)
        scales, biases = self._float_tables
        return scales[k], biases[k], self.gaussian[k]














def weighted_least_squares(design: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Normal equations with a tiny ridge (far faster than an SVD for a few dozen columns); the products in the
    design's precision, the solve in float64."""
    weighted = design * weight[:, None].astype(design.dtype)
    gram = (weighted.T @ design).astype(np.float64)
    ridge = 1e-9 * max(float(np.trace(gram)), 1.0) / len(gram)
    return np.linalg.solve(gram + ridge * np.eye(len(gram)), (weighted.T @ target).astype(np.float64))


def fit_linear(features: np.ndarray, target: np.ndarray, rng: np.random.Generator, prior: np.ndarray | None = None,
               sample: int = 1 << 17, start: np.ndarray | None = None) -> np.ndarray:
    """Least-squares Q12 coefficients of ``target`` on ``features``, and a zero intercept.

    Iteratively reweighted towards least absolute error, each pixel's error counted in units of
    ``prior`` (default 1): with ``prior`` = 1 / its Laplace scale, that is the code length, so
    quiet pixels are not drowned by noisy ones.  The rounds converge slowly (eight instead of four:
    training pool -0.6 %), so ``start`` (Q12 coefficients of an earlier fit) lets a refit continue
    them.  No fitted intercept: a flat neighbourhood then predicts its own value exactly, which
    keeps uniform backgrounds nearly free.  Float32 features (the encoder's sample: its products
    in float32, twice as fast, the bytes the same within 0.01 %) are fitted in float32.
    """
    if len(target) < 4 * features.shape[1]:  # too few pixels to fit: the median reference alone
        return np.zeros(features.shape[1] + 1, dtype=np.int64)
    prior = np.ones(len(target)) if prior is None else prior
    if len(target) > sample:
        keep = rng.choice(len(target), sample, replace=False)
        features, target, prior = features[keep], target[keep], prior[keep]
    precision = np.float32 if features.dtype == np.float32 else np.float64
    design, target = np.asarray(features, dtype=precision), target.astype(precision)
    if start is None:
        coefficients = weighted_least_squares(design, target, prior)
    else:
        coefficients = start[:-1] / (1 << COEFFICIENT_BITS)
    for _ in range(IRLS_ROUNDS):
        weight = prior / np.maximum(np.abs(target - design @ coefficients.astype(precision)), 1.0)
        coefficients = weighted_least_squares(design, target, weight)
    limit = (1 << 15) - 1  # stored as int16: |coefficient| < 8
    quantised = np.clip(np.round(coefficients * (1 << COEFFICIENT_BITS)), -limit, limit).astype(np.int64)
    return np.append(quantised, 0)
