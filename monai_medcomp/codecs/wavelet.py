"""The CDF 9/7 wavelet (JPEG 2000's irreversible transform) by lifting, in float64 NumPy.

Why by hand: PyWavelets' non-expansive mode is periodic (wrap-around costs bits at every border),
and JPEG 2000 libraries do not expose their coefficients.  Lifting with whole-sample symmetric
extension keeps ``N`` samples per axis for any length, even or odd, like JPEG 2000 Part 1.

Determinism: the inverse uses only element-wise IEEE additions and multiplications (NumPy never
fuses them), so the same quantised coefficients give the same samples on every machine and with
any thread count.  The band gains the quantiser needs are constants (:data:`SYNTHESIS_NORMS`), not
computed at run time.
"""

from __future__ import annotations

import numpy as np

ALPHA = -1.586134342059924
BETA = -0.052980118572961
GAMMA = 0.882911075530934
DELTA = 0.443506852043971
K = 1.230174104914001
MAX_LEVELS = 8
MIN_SIDE = 16  # a level needs at least this many samples on each axis

# L2 norm of the image that a unit coefficient synthesises, per level (1 = finest) and band
# (LH, HL, HH), and of the coarsest approximation after ``levels`` levels: measured once on a
# 2048 x 2048 impulse, far from any border, and rounded, so that encoder and decoder agree exactly.
SYNTHESIS_NORMS = (
    (1.011286, 1.011286, 0.520218),
    (1.996812, 1.996812, 0.967216),
    (4.183367, 4.183367, 2.079256),
    (8.534116, 8.534116, 4.300482),
    (17.166726, 17.166726, 8.686724),
    (34.385202, 34.385202, 17.418849),
    (68.796663, 68.796663, 34.860786),
    (137.606512, 137.606512, 69.733172),
)
APPROXIMATION_NORMS = (1.965907, 4.12241, 8.416744, 16.935572, 33.924927, 67.877165, 135.768047, 271.542961)


def levels_for(shape: tuple[int, int]) -> int:
    """Decomposition levels for an image: as many as keep every band at least :data:`MIN_SIDE` / 2 wide."""
    side, levels = min(shape), 0
    while levels < MAX_LEVELS and side >= MIN_SIDE:
        side = (side + 1) // 2
        levels += 1
    return levels


def _neighbours(even: np.ndarray, odd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mirrored neighbours lifting needs along axis 0: the even sample right of each odd one, and the
    odd samples left and right of each even one (whole-sample symmetric extension)."""
    right_even = np.empty_like(odd)
    right_even[: len(even) - 1] = even[1:]
    if len(odd) == len(even):
        right_even[-1] = even[-1]
    left_odd = np.empty_like(even)
    left_odd[0] = odd[0]
    left_odd[1:] = odd[: len(even) - 1]
    right_odd = np.empty_like(even)
    right_odd[: len(odd)] = odd
    if len(even) > len(odd):
        right_odd[-1] = odd[-1]
    return right_even, left_odd, right_odd


def _predict(even: np.ndarray, odd: np.ndarray, weight: float) -> np.ndarray:
    right_even, _, _ = _neighbours(even, odd)
    return weight * (even[: len(odd)] + right_even)


def _update(even: np.ndarray, odd: np.ndarray, weight: float) -> np.ndarray:
    _, left_odd, right_odd = _neighbours(even, odd)
    return weight * (left_odd + right_odd)


def analyse_axis0(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split along axis 0 into low-pass (ceil(N/2)) and high-pass (floor(N/2)) halves."""
    even, odd = x[0::2].copy(), x[1::2].copy()
    odd += _predict(even, odd, ALPHA)
    even += _update(even, odd, BETA)
    odd += _predict(even, odd, GAMMA)
    even += _update(even, odd, DELTA)
    return even / K, odd * K


def synthesise_axis0(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The exact inverse of :func:`analyse_axis0`."""
    even, odd = low * K, high / K
    even = even - _update(even, odd, DELTA)
    odd = odd - _predict(even, odd, GAMMA)
    even = even - _update(even, odd, BETA)
    odd = odd - _predict(even, odd, ALPHA)
    out = np.empty((len(even) + len(odd),) + even.shape[1:], dtype=np.float64)
    out[0::2], out[1::2] = even, odd
    return out


Bands = tuple[np.ndarray, np.ndarray, np.ndarray]  # LH (high across columns), HL, HH


def forward(image: np.ndarray, levels: int) -> tuple[np.ndarray, list[Bands]]:
    """The approximation and each level's detail bands, coarsest level first."""
    approximation = np.asarray(image, dtype=np.float64)
    details: list[Bands] = []
    for _ in range(levels):
        low, high = analyse_axis0(approximation)
        ll, lh = (band.T for band in analyse_axis0(low.T))
        hl, hh = (band.T for band in analyse_axis0(high.T))
        details.append((lh, hl, hh))
        approximation = ll
    return approximation, details[::-1]


def inverse(approximation: np.ndarray, details: list[Bands]) -> np.ndarray:
    """The image from the approximation and detail bands (coarsest first), as :func:`forward` gives them."""
    image = approximation
    for lh, hl, hh in details:
        low = synthesise_axis0(image.T, lh.T).T
        high = synthesise_axis0(hl.T, hh.T).T
        image = synthesise_axis0(low, high)
    return image


def band_shapes(shape: tuple[int, int], levels: int) -> tuple[tuple[int, int], list[list[tuple[int, int]]]]:
    """The approximation's shape and each level's (LH, HL, HH) shapes, coarsest first, as :func:`forward`
    gives them, without transforming (what a decoder allocates)."""
    rows, cols = shape
    levels_out = []
    for _ in range(levels):
        low_rows, high_rows, low_cols, high_cols = (rows + 1) // 2, rows // 2, (cols + 1) // 2, cols // 2
        levels_out.append([(low_rows, high_cols), (high_rows, low_cols), (high_rows, high_cols)])
        rows, cols = low_rows, low_cols
    return (rows, cols), levels_out[::-1]


def band_norm(level: int, band: int) -> float:
    """Synthesis norm of detail ``band`` (0 LH, 1 HL, 2 HH) at ``level`` (1 = finest)."""
    return SYNTHESIS_NORMS[level - 1][band]


def approximation_norm(levels: int) -> float:
    return APPROXIMATION_NORMS[levels - 1] if levels else 1.0
