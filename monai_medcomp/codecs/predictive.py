"""Lossless predictive coding, and its seed configuration ``mlp-huffman`` (the paper's method).

The engine has two swappable parts: a *predictor* that maps the integer features of a pixel's causal
context (:mod:`.causal`) to an exact integer prediction, and a *residual coder* for the prediction
errors.  Predictions are rounded, clamped to the pixel range, and the residual is taken modulo the
range (then zig-zag mapped), so its alphabet has exactly the size of the value range.  The encoder
knows every pixel and predicts all of them in a few large vectorised blocks; the decoder rebuilds
the image one wavefront at a time with the very same code, and checks a digest of its predictions
against the encoder's so that a numerical difference can never pass as pixels.

``mlp-huffman``: the predictor is a small ReLU MLP per channel (:class:`CausalPredictorMLP`) on 60
neighbours, trained with MSE by Adam on the image being coded, then quantised (:mod:`.integer_mlp`);
its weights go into the chunk and count in the file size.  It starts either from scratch or from
the pretrained bundle ``mlp_huffman`` (then the chunk stores only the fine-tuning delta, or nothing
when the bundle weights alone code the slice smaller).  Residuals are canonical-Huffman coded per
slice and channel, with the code table stored.

Chunk layout (little-endian): version u8, mode u8, channels u8, context size u8, hidden layer count
u8 and widths u8 each, one input-scale shift u8 per channel, [bundle SHA-256 prefix, 8 bytes,
unless mode is scratch], then length-prefixed (u32)
sections: stored weights, one residual block per channel; then an 8-byte BLAKE2b digest of the
predictions and a CRC-32 of everything before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from ..entropy.huffman import huffman_decode, huffman_encode
from ..errors import CodecError, MissingWeightsError, UnsupportedDataError
from ..weights import find_weights
from .base import Codec, PixelFormat, register
from .causal import CausalContext, CodingPlanes, wavefronts
from .integer_mlp import MAX_SHIFT
from .mlp_predictor import (BUNDLE, CODEC, SHA_PREFIX, MLPHuffmanOptions, MLPPredictor, PretrainedBundle,
                            build_model, fit_model, input_shift, pack_weights, quantise, training_data,
                            training_pixels, unpack_weights)
from .reproductions import REPRODUCTIONS

CHUNK_VERSION = 1
MODES = ("pretrained", "finetuned", "scratch")  # what a chunk's weights section holds: nothing, a delta, all
DIGEST_SIZE = 8
ENCODE_BLOCK = 1 << 15  # pixels predicted per vectorised block when encoding
_U32 = struct.Struct("<I")


class Predictor(Protocol):
    """Exact integer prediction offsets (from the reference) for ``features`` of colour ``channel``."""

    def predict(self, channel: int, features: np.ndarray) -> np.ndarray: ...


class ResidualCoder(Protocol):
    """Entropy coding of residual symbols in [0, 2**bits)."""

    def encode(self, symbols: np.ndarray) -> bytes: ...

    def decode(self, data: bytes, count: int) -> np.ndarray: ...


class HuffmanResidualCoder:
    """Canonical Huffman code per block, its table stored (the paper's entropy coder)."""

    def encode(self, symbols: np.ndarray) -> bytes:
        return huffman_encode(symbols)

    def decode(self, data: bytes, count: int) -> np.ndarray:
        return huffman_decode(data, count)


def to_symbols(values: np.ndarray, predictions: np.ndarray, bits: int) -> np.ndarray:
    """Residuals modulo 2**bits, centred and zig-zagged: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ..."""
    half = 1 << (bits - 1)
    residual = ((values - predictions + half) & ((1 << bits) - 1)) - half
    return np.where(residual >= 0, 2 * residual, -2 * residual - 1)


def from_symbols(symbols: np.ndarray, predictions: np.ndarray, bits: int) -> np.ndarray:
    residual = (symbols >> 1) ^ -(symbols & 1)
    return (predictions + residual) & ((1 << bits) - 1)


def predict_positions(planes: CodingPlanes, positions: np.ndarray, predictor: Predictor, max_value: int,
                      settle: Callable[[int, np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """Predict every channel at ``positions``; ``settle(channel, predictions)`` returns the true pixels.

    The encoder's ``settle`` reads the known pixels, the decoder's decodes them from the residuals and
    writes them into ``planes``: both sides share every arithmetic step of the prediction.
    """
    earlier: list[tuple[np.ndarray, np.ndarray]] = []
    predictions = []
    for channel in range(planes.channels):
        features, reference = planes.features(positions, channel, earlier)
        offset = predictor.predict(channel, features).astype(np.int64)
        prediction = np.clip(reference + offset, 0, max_value)
        earlier.append((settle(channel, prediction), reference))
        predictions.append(prediction)
    return predictions


def predict_image(planes: CodingPlanes, predictor: Predictor, max_value: int) -> np.ndarray:
    """Encoder side: predictions (channels, pixels) of a fully known image, in raster order."""
    count = planes.rows * planes.cols
    out = np.empty((planes.channels, count), dtype=np.int64)
    for start in range(0, count, ENCODE_BLOCK):
        raster = np.arange(start, min(start + ENCODE_BLOCK, count))
        positions = planes.positions(raster)

        def known(channel: int, _: np.ndarray) -> np.ndarray:
            return planes.values[channel][positions]

        out[:, raster] = predict_positions(planes, positions, predictor, max_value, known)
    return out


def reconstruct(planes: CodingPlanes, predictor: Predictor, symbols: np.ndarray, bits: int) -> np.ndarray:
    """Decoder side: rebuild ``planes`` from residual symbols (channels, pixels); return the predictions."""
    predictions = np.empty_like(symbols)
    max_value = (1 << bits) - 1
    for raster in wavefronts(planes.context, planes.rows, planes.cols):
        positions = planes.positions(raster)

        def decode(channel: int, prediction: np.ndarray) -> np.ndarray:
            values = from_symbols(symbols[channel, raster], prediction, bits)
            planes.values[channel][positions] = values
            return values

        predictions[:, raster] = predict_positions(planes, positions, predictor, max_value, decode)
    return predictions


def prediction_digest(predictions: np.ndarray) -> bytes:
    return hashlib.blake2b(predictions.astype("<u2").tobytes(), digest_size=DIGEST_SIZE).digest()


def _sections(parts: Sequence[bytes]) -> bytes:
    return b"".join(_U32.pack(len(p)) + p for p in parts)


def _read_sections(data: bytes, pos: int, count: int) -> list[bytes]:
    parts = []
    for _ in range(count):
        (size,) = _U32.unpack_from(data, pos)
        parts.append(data[pos + _U32.size:pos + _U32.size + size])
        pos += _U32.size + size
    if pos != len(data):
        raise CodecError("mlp-huffman chunk has the wrong length (damaged data)")
    return parts


@dataclasses.dataclass
class Chunk:
    """One coded slice: its network's shape, how its weights are stored, the residuals, the digest."""

    mode: str
    context: int
    hidden: tuple[int, ...]
    shifts: list[int]
    bundle_sha: bytes
    weights: bytes
    residuals: list[bytes]
    digest: bytes

    def to_bytes(self) -> bytes:
        head = struct.pack("<BBBBB", CHUNK_VERSION, MODES.index(self.mode), len(self.shifts), self.context,
                           len(self.hidden)) + bytes(self.hidden) + bytes(self.shifts)
        if self.mode != "scratch":
            head += self.bundle_sha
        body = head + _sections([self.weights, *self.residuals]) + self.digest
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, channels: int) -> "Chunk":
        if len(data) < 5 + DIGEST_SIZE + _U32.size:
            raise CodecError("mlp-huffman chunk is truncated")
        body, (crc,) = data[:-_U32.size], _U32.unpack(data[-_U32.size:])
        if zlib.crc32(body) != crc:
            raise CodecError("mlp-huffman chunk checksum mismatch: its stored weights, code tables or "
                             "residuals are damaged")
        version, mode, stored_channels, context, layers = struct.unpack_from("<BBBBB", body)
        if version != CHUNK_VERSION:
            raise CodecError(f"mlp-huffman chunk version {version} is not supported (this build reads "
                             f"{CHUNK_VERSION})")
        if mode >= len(MODES) or stored_channels != channels:
            raise CodecError("mlp-huffman chunk header does not match the image (damaged data)")
        hidden = tuple(body[5:5 + layers])
        pos = 5 + layers + channels
        shifts = list(body[5 + layers:pos])
        sha = b""
        if MODES[mode] != "scratch":
            sha, pos = body[pos:pos + SHA_PREFIX], pos + SHA_PREFIX
        parts = _read_sections(body[:-DIGEST_SIZE], pos, 1 + channels)
        return cls(MODES[mode], context, hidden, shifts, sha, parts[0], parts[1:], body[-DIGEST_SIZE:])

    @property
    def nbytes(self) -> int:
        return len(self.to_bytes())


@dataclasses.dataclass
class Candidate:
    """A way to store the predictor of one slice: its mode, the predictor and the bytes it costs."""

    mode: str
    predictor: MLPPredictor
    weights: bytes = b""
    bundle_sha: bytes = b""


@register
class MLPHuffmanCodec(Codec):
    """The paper's lossless method: per-image MLP prediction on 60 causal neighbours, Huffman residuals."""

    name = CODEC
    bundle_name = BUNDLE
    lossless = True
    uses_torch = True
    description = REPRODUCTIONS[CODEC].describe(
        "lossless: per-slice MLP predictor on a 60-pixel causal context + canonical Huffman")

    def __init__(self) -> None:
        self.bundle = PretrainedBundle()
        self.residual_coder: ResidualCoder = HuffmanResidualCoder()

    def default_params(self) -> dict[str, Any]:
        return MLPHuffmanOptions().to_params()

    def weights_info(self, fmt: PixelFormat | None = None) -> dict[str, str] | None:
        try:
            return find_weights(BUNDLE).info()
        except MissingWeightsError:
            return None

    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        return self._encode(slab, fmt, params, None)

    def encode_batch(self, slabs: Sequence[np.ndarray], fmt: PixelFormat, params: dict[str, Any],
                     device: Any = None) -> list[bytes]:
        return [self._encode(slab, fmt, params, device) for slab in slabs]

    def _encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any], device: Any) -> bytes:
        options = MLPHuffmanOptions.from_params(params)
        image = _as_image(slab, fmt)
        rows, cols, channels = image.shape
        planes = CodingPlanes(CausalContext(options.context), rows, cols, channels, fmt.bits)
        planes.fill(image)
        best = None
        for candidate in self._candidates(planes, options, device):
            predictions = predict_image(planes, candidate.predictor, fmt.max_value)
            symbols = to_symbols(image.reshape(-1, channels).T, predictions, fmt.bits)
            chunk = Chunk(candidate.mode, options.context, options.hidden, candidate.predictor.shifts,
                          candidate.bundle_sha, candidate.weights, [self.residual_coder.encode(s) for s in symbols],
                          prediction_digest(predictions))
            if best is None or chunk.nbytes < best.nbytes:
                best = chunk
        return best.to_bytes()

    def _candidates(self, planes: CodingPlanes, options: MLPHuffmanOptions, device: Any) -> list[Candidate]:
        """Scratch: the fitted network.  Pretrained: the bundle as is, and fine-tuned (stored as a delta)."""
        data = training_data(planes, training_pixels(planes.rows, planes.cols, options.seed))
        shifts = [input_shift(targets) for _, targets in data]
        if options.start == "scratch":
            model = build_model(options, planes.channels)
            fit_model(model, data, shifts, options, device)
            fitted = quantise(model, shifts)
            return [Candidate("scratch", fitted, pack_weights(fitted.to_vector()))]
        state, _ = self.bundle.load()
        model = build_model(options, planes.channels, state)
        base = quantise(model, shifts)
        sha = self.bundle.sha_prefix()
        candidates = [Candidate("pretrained", base, bundle_sha=sha)]
        if options.training_epochs > 0:
            fit_model(model, data, shifts, options, device)
            tuned = quantise(model, shifts)
            candidates.append(Candidate("finetuned", tuned, pack_weights(tuned.to_vector() - base.to_vector()), sha))
        return candidates

    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        rows, cols = int(shape[1]), int(shape[2])
        channels = fmt.channels
        chunk = Chunk.from_bytes(data, channels)
        options = MLPHuffmanOptions(context=chunk.context, hidden=chunk.hidden)  # the chunk describes its network
        options.check()
        predictor = self._stored_predictor(chunk, options, channels)
        symbols = np.stack([self.residual_coder.decode(block, rows * cols) for block in chunk.residuals])
        planes = CodingPlanes(CausalContext(options.context), rows, cols, channels, fmt.bits)
        predictions = reconstruct(planes, predictor, symbols, fmt.bits)
        if prediction_digest(predictions) != chunk.digest:
            raise CodecError("mlp-huffman decoder predictions differ from the encoder's (digest mismatch): "
                             "this machine computes the network differently or the stored weights were altered")
        image = np.stack([planes.values[c].reshape(-1, planes.width)[planes.top:, planes.left:planes.left + cols]
                          for c in range(channels)], axis=-1)
        return image.reshape(tuple(shape)).astype(fmt.dtype)

    def _stored_predictor(self, chunk: Chunk, options: MLPHuffmanOptions, channels: int) -> MLPPredictor:
        if any(shift > MAX_SHIFT for shift in chunk.shifts):
            raise CodecError("mlp-huffman chunk has an invalid input scale (damaged data)")
        if chunk.mode == "scratch":
            shapes = [options.layer_shapes(c) for c in range(channels)]
            return MLPPredictor.from_vector(unpack_weights(chunk.weights), shapes, chunk.shifts)
        base = self.bundle.predictor(options, chunk.shifts, chunk.bundle_sha)
        if chunk.mode == "pretrained":
            return base
        shapes = [net.shapes for net in base.nets]
        return MLPPredictor.from_vector(base.to_vector() + unpack_weights(chunk.weights), shapes, chunk.shifts)


def _as_image(slab: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """The one slice of ``slab`` as (rows, cols, channels) int64, after checking what the engine promised."""
    slab = np.asarray(slab)
    if slab.dtype.kind not in "ui":
        raise UnsupportedDataError(f"mlp-huffman codes integer pixels, not {slab.dtype.name} data")
    if slab.ndim not in (3, 4) or slab.shape[0] != 1:
        raise UnsupportedDataError(f"mlp-huffman codes one slice at a time, got a slab of shape {slab.shape}")
    image = slab[0].astype(np.int64).reshape(slab.shape[1], slab.shape[2], fmt.channels)
    if image.min() < 0 or image.max() > fmt.max_value:
        raise UnsupportedDataError(f"mlp-huffman got pixels outside 0..{fmt.max_value} for {fmt.bits}-bit data")
    return image
