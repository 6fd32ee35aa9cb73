"""The learned context model of ``learned-lossy``: which distribution each quantised wavelet coefficient gets.

A coefficient's magnitude is coded as a *token* (JPEG XL's hybrid integer: 0..15 directly, larger values
as their bit length and next bit, the remaining low bits sent raw); its sign is sent raw, or, where a
plane predicts its signed indices (:class:`Prediction`), in a context of that prediction.  The token's
distribution is one of :data:`NUM_CLASSES` learned tables, picked by the coefficient's *activity*: a
learned weighted sum of magnitudes already decoded around it (parent band, sibling bands of the same
level, and inside its own band the neighbours of earlier phases).  Each band is coded in three phases,
the 2 x 2 polyphase components (even, even), then (odd, odd), then the rest, so that every phase is
decoded at once with NumPy while later phases still see their four nearest neighbours.  The weights
are learned on the training pool; a plane may bring its own (:func:`fit_group_weights`).

Everything that selects a distribution is integer arithmetic on integers (magnitudes, Q8 weights,
integer class thresholds): encoder and decoder pick the same tables on any machine.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

NUM_CLASSES = 128
DIRECT_BITS = 4
MANTISSA_BITS = 1
DIRECT_TOKENS = 1 << DIRECT_BITS  # magnitudes below this are tokens of their own
MAX_MAGNITUDE_BITS = 36  # bit length of the largest magnitude a token can code
NUM_TOKENS = DIRECT_TOKENS + ((MAX_MAGNITUDE_BITS - DIRECT_BITS) << MANTISSA_BITS)
RAW_PART_BITS = 12  # raw low bits are sent in parts of at most this many bits
PHASES = 3
ORIENTATIONS = 3  # LH, HL, HH
LEVEL_GROUPS = 3  # finest level, second level, all coarser levels
FEATURES = 5  # neighbours of earlier phases, parent, parent 3 x 3, siblings, bias
SIGNED_FEATURES = 3  # the two opposite pairs of earlier-phase neighbours, parent
SIGN_MAGNITUDES, SIGN_REMAINDERS = 3, 8
SIGN_CONTEXTS = SIGN_MAGNITUDES * SIGN_REMAINDERS
WEIGHT_SCALE = 256  # activity weights are Q8
CLASSES_PER_OCTAVE = 8
# Activity thresholds (Q8) between classes: class c holds activities of about 2^(c / CLASSES_PER_OCTAVE) - 1.
CLASS_THRESHOLDS = np.array([round((2 ** (c / CLASSES_PER_OCTAVE) - 1) * WEIGHT_SCALE)
                             for c in range(1, NUM_CLASSES)], dtype=np.int64)


def level_group(level: int) -> int:
    """Weight group of a detail level (1 = finest)."""
    return min(level, LEVEL_GROUPS) - 1


def to_tokens(magnitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens, raw low bits and their bit counts of non-negative integer magnitudes."""
    values = magnitudes.astype(np.int64)
    length = np.zeros(values.shape, dtype=np.int64)
    big = values >= DIRECT_TOKENS
    length[big] = np.floor(np.log2(values[big])).astype(np.int64) + 1
    # float log2 can round up just below a power of two: settle the bit length exactly
    length[big] -= (values[big] >> (length[big] - 1)) == 0
    length[big] += (values[big] >> length[big]) > 0
    raw_bits = np.where(big, length - 1 - MANTISSA_BITS, 0)
    mantissa = (values >> raw_bits) & ((1 << MANTISSA_BITS) - 1)
    tokens = np.where(big, DIRECT_TOKENS + ((length - DIRECT_BITS - 1) << MANTISSA_BITS) + mantissa, values)
    raw = np.where(big, values & ((np.int64(1) << raw_bits) - 1), 0)
    return tokens, raw, raw_bits


def raw_bit_counts(tokens: np.ndarray) -> np.ndarray:
    """How many raw low bits follow each token."""
    return np.where(tokens >= DIRECT_TOKENS, ((tokens - DIRECT_TOKENS) >> MANTISSA_BITS) + DIRECT_BITS - MANTISSA_BITS, 0)


def from_tokens(tokens: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Magnitudes from tokens and their raw low bits (the inverse of :func:`to_tokens`)."""
    tokens = tokens.astype(np.int64)
    big = tokens >= DIRECT_TOKENS
    raw_bits = np.maximum(raw_bit_counts(tokens), 0)
    mantissa = (tokens - DIRECT_TOKENS) & ((1 << MANTISSA_BITS) - 1)
    coded = (((np.int64(1) << MANTISSA_BITS) | mantissa) << raw_bits) | raw
    return np.where(big, coded, tokens)


def phase_masks(shape: tuple[int, int]) -> list[np.ndarray]:
    """The three coding phases of a band: (even, even), (odd, odd), and the rest."""
    rows = (np.arange(shape[0]) % 2)[:, None]
    cols = (np.arange(shape[1]) % 2)[None, :]
    first = (rows == 0) & (cols == 0)
    second = (rows == 1) & (cols == 1)
    return [first, second, ~(first | second)]


def _shifted(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``out[i, j] = values[i + rows, j + cols]``, zero outside."""
    out = np.zeros_like(values)
    height, width = values.shape
    out[max(-rows, 0): height - max(rows, 0), max(-cols, 0): width - max(cols, 0)] = \
        values[max(rows, 0): height + min(rows, 0), max(cols, 0): width + min(cols, 0)]
    return out


def _box_sum(values: np.ndarray) -> np.ndarray:
    """Sum over the 3 x 3 window around each position (zero outside)."""
    rows = sum(_shifted(values, r, 0) for r in (-1, 0, 1))
    return sum(_shifted(rows, 0, c) for c in (-1, 0, 1))


def _fitted(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``values`` cropped or zero-padded to ``shape`` (bands of one level differ by one on odd sizes)."""
    out = np.zeros(shape, dtype=np.int64)
    rows, cols = min(shape[0], values.shape[0]), min(shape[1], values.shape[1])
    out[:rows, :cols] = values[:rows, :cols]
    return out


def _upsampled(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return _fitted(np.repeat(np.repeat(values, 2, axis=0), 2, axis=1), shape)


NEIGHBOURS = {1: ((-1, -1), (-1, 1), (1, -1), (1, 1)), 2: ((-1, 0), (1, 0), (0, -1), (0, 1))}
# the same neighbours as two opposite pairs (one per direction), whose signed sums predict a coefficient
PAIRS = {phase: (offsets[:2], offsets[2:]) if phase == 2 else ((offsets[0], offsets[3]), (offsets[1], offsets[2]))
         for phase, offsets in NEIGHBOURS.items()}


@dataclasses.dataclass
class BandContext:
    """What is known about a band before its phases are decoded: its parent and the magnitudes of its siblings."""

    parent: np.ndarray
    parent_box: np.ndarray
    siblings: np.ndarray
    parent_signed: np.ndarray

    @classmethod
    def of(cls, shape: tuple[int, int], parent: np.ndarray | None, siblings: list[np.ndarray]) -> "BandContext":
        """``parent``: the signed indices of the parent band (None at the coarsest level)."""
        zero = np.zeros(shape, dtype=np.int64)
        sibling_sum = sum((_fitted(np.abs(s), shape) for s in siblings), zero)
        if parent is None:
            return cls(zero, zero, sibling_sum, zero)
        magnitudes = np.abs(parent)
        return cls(_upsampled(magnitudes, shape), _upsampled(_box_sum(magnitudes), shape), sibling_sum,
                   _upsampled(parent, shape))

    def features(self, magnitudes: np.ndarray, phase: int, mask: np.ndarray) -> np.ndarray:
        """Integer features (FEATURES, n) of the coefficients of ``phase``; ``magnitudes`` holds the earlier
        phases of the band (later ones are never read)."""
        near = (sum(_shifted(magnitudes, r, c) for r, c in NEIGHBOURS[phase]) if phase in NEIGHBOURS
                else np.zeros_like(magnitudes))
        ones = np.ones(int(mask.sum()), dtype=np.int64)
        return np.stack([near[mask], self.parent[mask], self.parent_box[mask], self.siblings[mask], ones])

    def signed_features(self, values: np.ndarray, phase: int, mask: np.ndarray) -> np.ndarray:
        """Integer features (SIGNED_FEATURES, n) that predict the signed index: the sums of the two opposite
        pairs of earlier-phase neighbours, and the parent."""
        if phase in PAIRS:
            pairs = [sum(_shifted(values, r, c) for r, c in pair)[mask] for pair in PAIRS[phase]]
        else:
            pairs = [np.zeros(int(mask.sum()), dtype=np.int64)] * 2
        return np.stack(pairs + [self.parent_signed[mask]])


@dataclasses.dataclass
class Prediction:
    """A pass's predicted signed indices: rounded to integers (what the coder subtracts), and the Q8 remainder,
    which says which sign a residual of the rounding more likely has."""

    rounded: np.ndarray
    remainder: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray, weights: np.ndarray, subtract: bool = True) -> "Prediction":
        """The prediction, truncated towards zero (a weak one then costs nothing); with ``subtract`` False it only
        informs the signs (nothing is subtracted)."""
        fixed = weights.astype(np.int64) @ features
        rounded = np.sign(fixed) * (np.abs(fixed) >> 8) if subtract else np.zeros_like(fixed)
        return cls(rounded, fixed - (rounded << 8))

    def sign_contexts(self, magnitudes: np.ndarray) -> np.ndarray:
        """Context of each non-zero residual's sign: its magnitude (1, 2, more) and its remainder's eighth."""
        span = 2 * WEIGHT_SCALE  # a truncated prediction's remainder lies within one unit either side
        eighth = np.clip(((self.remainder + span // 2) * SIGN_REMAINDERS) // span, 0, SIGN_REMAINDERS - 1)
        return (np.clip(magnitudes, 1, SIGN_MAGNITUDES) - 1) * SIGN_REMAINDERS + eighth


def activity_classes(features: np.ndarray, weights: np.ndarray, offset: int = 0) -> np.ndarray:
    """Class of each coefficient from its features and the Q8 ``weights`` of its band and phase."""
    activity = np.maximum(weights.astype(np.int64) @ features, 0)
    classes = np.searchsorted(CLASS_THRESHOLDS, activity, side="right") + offset
    return np.clip(classes, 0, NUM_CLASSES - 1)


def fit_group_weights(samples: dict[tuple[int, int, int], list[tuple[np.ndarray, np.ndarray]]],
                      count: int = FEATURES) -> np.ndarray:
    """Q8 weights by least squares of each coefficient's target (its magnitude, or its signed index) on its
    ``count`` features, per group (level group, band, phase); zero for groups without samples."""
    weights = np.zeros((LEVEL_GROUPS, ORIENTATIONS, PHASES, count), dtype=np.int64)
    for group, parts in samples.items():
        features = np.concatenate([f for f, _ in parts], axis=1).astype(np.float64).T
        targets = np.concatenate([t for _, t in parts]).astype(np.float64)
        solution, *_ = np.linalg.lstsq(features, targets, rcond=None)
        weights[group] = np.round(solution * WEIGHT_SCALE).astype(np.int64)
    return weights


def band_passes(shape: tuple[int, int]) -> Iterator[tuple[int, np.ndarray]]:
    for phase, mask in enumerate(phase_masks(shape)):
        if mask.any():
            yield phase, mask
