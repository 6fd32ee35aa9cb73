"""A trained MLP turned into integer arithmetic that every machine computes identically.

Floating-point networks give slightly different outputs on another thread count, BLAS or device,
and one differing prediction breaks lossless decoding.  Here weights are integers (``FRACTION_BITS``
fractional bits), activations are floored integers clipped to ``ACTIVATION_LIMIT``, and the inputs
are integer pixel differences.  The products are computed with float64 matrix products, which are
exact because every partial sum is an integer below 2**52 (checked for the actual weights), so
the result does not depend on summation order, blocking or threads.

Scaling: inputs are pixel differences ``d``; the float network was trained on ``d / 2**shift``.
The first layer's sum is in units of 2**-(FRACTION_BITS + shift) normalised units, hidden
activations in 2**-FRACTION_BITS, the last layer's sum in 2**-(2 * FRACTION_BITS).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..errors import CodecError

FRACTION_BITS = 7
WEIGHT_LIMIT = (1 << 15) - 1
BIAS_LIMIT = (1 << 31) - 1
ACTIVATION_LIMIT = 1 << 30
INPUT_LIMIT = 1 << 16  # pixels and their differences stay below 16 bits
EXACT_LIMIT = 1 << 52  # float64 represents every integer below 2**53; keep a margin for the rounding term
MAX_SHIFT = 16  # inputs are normalised by at most 2**16, the whole pixel range


def parameter_count(shapes: Sequence[tuple[int, int]]) -> int:
    """Weights of every layer plus biases of the hidden layers (the output layer has none)."""
    return sum(rows * cols for rows, cols in shapes) + sum(cols for _, cols in shapes[:-1])


@dataclasses.dataclass
class IntegerMLP:
    """Integer weights (in, out) of each layer, biases of the hidden layers, ReLU between layers.

    Like :class:`~monai_medcomp.networks.AnchoredMLP`, the output is taken relative to the output for
    an all-zero input (``origin``), so a flat neighbourhood predicts an offset of exactly 0.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def __post_init__(self) -> None:
        self.weights = [np.asarray(w, dtype=np.float64) for w in self.weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in self.biases]
        if len(self.weights) < 2 or len(self.biases) != len(self.weights) - 1:
            raise CodecError("the integer MLP needs hidden layers with biases and an output layer without")
        bound = INPUT_LIMIT
        for layer, w in enumerate(self.weights):
            bias = np.abs(self.biases[layer]).max(initial=0) if layer < len(self.biases) else 0
            bias_scale = 1 << (MAX_SHIFT if layer == 0 else FRACTION_BITS)
            if bound * np.abs(w).sum(axis=0).max(initial=0) + bias * bias_scale >= EXACT_LIMIT:
                raise CodecError(f"layer {layer} of the predictor could exceed exact float64 integers")
            bound = ACTIVATION_LIMIT
        # the first layer's floor(bias * 2**shift / 2**shift) is the bias whatever the shift
        self.origin = self._output_sum(np.zeros((1, self.weights[0].shape[0])), 0)

    @classmethod
    def quantise(cls, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> "IntegerMLP":
        """From float (out, in) weights, as torch's ``nn.Linear`` stores them, and hidden-layer biases."""
        scale = float(1 << FRACTION_BITS)
        return cls([np.clip(np.round(np.asarray(w, np.float64).T * scale), -WEIGHT_LIMIT, WEIGHT_LIMIT) for w in weights],
                   [np.clip(np.round(np.asarray(b, np.float64) * scale), -BIAS_LIMIT, BIAS_LIMIT) for b in biases])

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [w.shape for w in self.weights]

    def to_vector(self) -> np.ndarray:
        """Every parameter as one int64 vector, layer by layer: weights, then biases."""
        parts = [p.ravel() for w, b in zip(self.weights, self.biases) for p in (w, b)] + [self.weights[-1].ravel()]
        return np.concatenate(parts).astype(np.int64)

    @classmethod
    def from_vector(cls, vector: np.ndarray, shapes: Sequence[tuple[int, int]]) -> "IntegerMLP":
        if len(vector) != parameter_count(shapes):
            raise CodecError(f"stored predictor has {len(vector)} parameters, the network needs "
                             f"{parameter_count(shapes)}")
        weights, biases, pos = [], [], 0
        for layer, (rows, cols) in enumerate(shapes):
            weights.append(vector[pos:pos + rows * cols].reshape(rows, cols))
            pos += rows * cols
            if layer < len(shapes) - 1:
                biases.append(vector[pos:pos + cols])
                pos += cols
        return cls(weights, biases)

    def _output_sum(self, x: np.ndarray, shift: int) -> np.ndarray:
        """The output layer's integer sum, in units of 2**(shift - 2 * FRACTION_BITS) pixels."""
        acc = x @ self.weights[0] + self.biases[0] * float(1 << shift)
        x = np.clip(np.floor(acc / float(1 << shift)), 0, ACTIVATION_LIMIT)
        for w, b in zip(self.weights[1:-1], self.biases[1:]):
            acc = x @ w + b * float(1 << FRACTION_BITS)
            x = np.clip(np.floor(acc / float(1 << FRACTION_BITS)), 0, ACTIVATION_LIMIT)
        return (x @ self.weights[-1])[:, 0]

    def predict(self, features: np.ndarray, shift: int) -> np.ndarray:
        """Predicted pixel offsets (integers, as float64) from integer ``features`` at scale 2**shift."""
        if not 0 <= shift <= MAX_SHIFT:
            raise CodecError(f"predictor input scale 2**{shift} is out of range")
        acc = self._output_sum(np.asarray(features, dtype=np.float64), shift) - self.origin
        return np.floor(acc * 2.0 ** (shift - 2 * FRACTION_BITS) + 0.5)  # scaling by 2**n is exact
