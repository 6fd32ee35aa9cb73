"""Latent symbols of the lossy learned codecs: fixed-rate bit packing, or ANS under a learned factorised prior.

The paper stores its latents raw (fixed rate).  The optional entropy coding models every latent
channel as independent of the others and of position (a *factorised* prior, as in Ballé et al.'s
"factorized prior" model): one density per channel over the continuous latent in [0, 1], learned
as a histogram of the trained encoder's outputs on the training pool and stored with the weights.
A coder for ``levels`` quantisation levels integrates that density over each level's interval, so
one prior serves every bit depth.  Probabilities are computed in float64 by numpy from stored
values only, so encoder and decoder build bit-identical models; constriction does the ANS coding.
"""

from __future__ import annotations

import numpy as np

from ..errors import CodecError

PRIOR_BINS = 1024
UNIFORM_FLOOR = 1e-3  # share of a uniform distribution mixed in, so no level has probability zero


def pack_fixed(symbols: np.ndarray, bits: int) -> bytes:
    """Symbols in [0, 2**bits) written with exactly ``bits`` bits each, most significant first."""
    values = np.asarray(symbols, dtype=np.uint32).ravel()
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    return np.packbits(((values[:, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def unpack_fixed(data: bytes, bits: int, count: int) -> np.ndarray:
    if len(data) * 8 < bits * count:
        raise CodecError("latent section is truncated")
    planes = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:bits * count].reshape(count, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.int64)
    return planes.astype(np.int64) @ weights


def fit_prior(latents: np.ndarray) -> np.ndarray:
    """Histogram (channels, PRIOR_BINS) of continuous latents (N, channels, ...) in [0, 1]: the learned prior."""
    channels = latents.shape[1]
    values = np.moveaxis(np.asarray(latents, dtype=np.float64), 1, 0).reshape(channels, -1)
    edges = np.linspace(0.0, 1.0, PRIOR_BINS + 1)
    return np.stack([np.histogram(np.clip(v, 0.0, 1.0), edges)[0] + 1.0 for v in values])  # add-one smoothing


def level_probabilities(histogram: np.ndarray, levels: int) -> np.ndarray:
    """Probability of each of ``levels`` quantisation levels k (interval (k +- 1/2) / (levels - 1)) per channel."""
    histogram = np.asarray(histogram, dtype=np.float64)
    cdf = np.concatenate([np.zeros((histogram.shape[0], 1)), np.cumsum(histogram, axis=1)], axis=1)
    cdf /= cdf[:, -1:]
    bin_edges = np.linspace(0.0, 1.0, histogram.shape[1] + 1)
    cuts = np.clip((np.arange(levels + 1) - 0.5) / (levels - 1), 0.0, 1.0)
    mass = np.diff(np.stack([np.interp(cuts, bin_edges, row) for row in cdf]), axis=1)
    return (1 - UNIFORM_FLOOR) * mass + UNIFORM_FLOOR / levels


def _models(histogram: np.ndarray, levels: int) -> list:
    import constriction

    return [constriction.stream.model.Categorical(p, perfect=False) for p in level_probabilities(histogram, levels)]


def encode_factorized(symbols: np.ndarray, histogram: np.ndarray, levels: int) -> bytes:
    """ANS-code integer latents (N, channels, ...) channel by channel under the prior."""
    import constriction

    by_channel = np.moveaxis(np.asarray(symbols), 1, 0).reshape(symbols.shape[1], -1).astype(np.int32)
    coder = constriction.stream.stack.AnsCoder()
    for row, model in reversed(list(zip(by_channel, _models(histogram, levels)))):
        coder.encode_reverse(row, model)
    return coder.get_compressed().astype("<u4").tobytes()


def decode_factorized(data: bytes, histogram: np.ndarray, levels: int, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_factorized` for latents of ``shape`` (N, channels, ...)."""
    import constriction

    if len(data) % 4:
        raise CodecError("entropy-coded latent section is damaged (length not a multiple of 4)")
    channels, per_channel = shape[1], int(np.prod(shape)) // shape[1]
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    rows = [np.asarray(coder.decode(model, per_channel)) for model in _models(histogram, levels)]
    return np.moveaxis(np.stack(rows).reshape(channels, shape[0], *shape[2:]), 0, 1).astype(np.int64)
