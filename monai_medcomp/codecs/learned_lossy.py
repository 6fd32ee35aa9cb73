"""``learned-lossy``: wavelet coefficients coded with a learned context model, at the image's true bit depth.

Each slice (RGB: after JPEG 2000's irreversible colour transform, each of Y, Cb, Cr) goes through the
CDF 9/7 wavelet (:mod:`.wavelet`); each band is quantised with one step, ``step / band norm``, so every
band's error costs the same in the image, with a dead zone (rounding offset :data:`ROUNDING`) and
reconstruction :data:`RECONSTRUCTION` of a step above the bin's lower edge.  The magnitudes are coded
with constriction's ANS coder under the learned context model of :mod:`.wavelet_context` (weights and
token tables from the ``learned_lossy`` bundle).  The model adapts to each image: per plane the
encoder keeps the cheapest of the bundle's activity weights, the plane's own least-squares weights,
and those plus a *prediction* of each signed index from its neighbours and parent (:class:`PlaneModel`:
subtracted, or only giving the signs their contexts); it stores one class offset per band and phase;
and encoder and decoder both add the tokens of every coded pass to the tables' counts
(:class:`AdaptiveTables`), so the finest bands are coded with what the coarser ones taught.  The
encoder then moves each index one step towards zero where that saves more bits than it costs in
squared error (:data:`LAGRANGE`), under the very tables the decoder will use.  The approximation band
is coded as row and column differences with one chosen table.  The design and what each step
measured: ``docs/learned_lossy.md``.

One knob, ``quality`` (0 to 100, continuous): step = 2 ^ ((bits + 2) x (100 - quality) / 100 - 2), so
the PSNR rises about 6 dB for each 100 / (bits + 2) points of quality.

Exact decoding: the tables a symbol is coded with are chosen by integer arithmetic only, their
frequencies are the learned table x 256 (exact) plus integer counts, and the inverse wavelet is
element-wise IEEE arithmetic; the chunk still carries a BLAKE2b-64 digest of the
decoded pixels, which the decoder checks, so a machine that computed anything differently reports it.

Chunk layout (little-endian): version u8, planes u8, bits u8, levels u8, step f64, bundle SHA-256
prefix (8 bytes), per plane: approximation table u8, model flags u8 (1: own activity weights follow,
2: prediction weights follow, 4: the prediction only gives signs their contexts), the activity weights
(3 x 3 x 3 x 5 i8, Q6) and prediction weights (3 x 3 x 3 x 3 i8, Q6) that the flags announce, and one
i8 class offset per level, band and phase (coarsest level first, bands LH, HL, HH, phases in coding
order); u32 count + ANS words (u32), BLAKE2b-64 digest of the decoded pixels, CRC-32 of all before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import math
import struct
import zlib
from typing import Any, Callable, Sequence

import constriction
import numpy as np

from ..errors import CodecError, MissingWeightsError, UnsupportedDataError
from . import wavelet
from .base import BundleWeights, Codec, Knob, PixelFormat, register
from .wavelet_context import (FEATURES, LEVEL_GROUPS, NUM_CLASSES, NUM_TOKENS, ORIENTATIONS, PHASES,
                              RAW_PART_BITS, SIGN_CONTEXTS, SIGNED_FEATURES, WEIGHT_SCALE, BandContext, Prediction,
                              activity_classes, band_passes, fit_group_weights, from_tokens, level_group,
                              raw_bit_counts, to_tokens)

BUNDLE = "learned_lossy"
CHUNK_VERSION = 1
SHA_PREFIX = 8
DIGEST_SIZE = 8
ROUNDING = 0.35  # dead zone: |q| = floor(|c| / step + ROUNDING)
RECONSTRUCTION = 0.12  # |c| = (|q| + RECONSTRUCTION) x step for q != 0
MIN_STEP, MAX_STEP = 2.0 ** -2, 2.0 ** 17
OFFSETS = range(-24, 24)  # class offsets the encoder may choose per band and phase
LAGRANGE = 0.12  # squared error (in steps) one bit is worth: about 2 ln 2 / 12, the high-rate slope
SIGN_PRIOR_COUNT = 2.0  # signs each side of a sign context before the chunk's own count
PRIOR_COUNT = 256.0  # symbols the learned table of a class is worth against the chunk's own counts
IMAGE_WEIGHT_SCALE = 64  # a plane's own weights are stored as Q6 int8
_STORED_UNIT = WEIGHT_SCALE // IMAGE_WEIGHT_SCALE  # a stored weight's unit, in Q8
_HEAD = struct.Struct("<BBBBd8s")
_U32 = struct.Struct("<I")
# JPEG 2000's irreversible colour transform (ITU-T T.800 Annex G) and its inverse
_ICT = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_ICT_INVERSE = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]])


def step_for(quality: float, bits: int) -> float:
    """The quantiser step (in pixel values) that ``quality`` means for ``bits``-bit data: 2^bits at 0, a quarter
    of a grey level at 100 (the 4:1 end of noisy 16-bit scans needs steps below one)."""
    return float(min(max(2.0 ** ((bits + 2) * (100.0 - quality) / 100.0 - 2), MIN_STEP), MAX_STEP))


@dataclasses.dataclass(frozen=True)
class ContextModel:
    """The learned part: activity weights per level group, band and phase (Q8), and the token tables."""

    weights: np.ndarray  # (LEVEL_GROUPS, ORIENTATIONS, PHASES, FEATURES) int64
    tables: np.ndarray  # (NUM_CLASSES, NUM_TOKENS) float64, rows sum to 1

    @classmethod
    def from_state(cls, state: Any, where: Any) -> "ContextModel":
        try:
            weights = state["weights"].numpy().astype(np.int64)
            tables = state["tables"].numpy().astype(np.float64)
        except (KeyError, AttributeError, TypeError):
            raise MissingWeightsError(f"the {BUNDLE} weights at {where} are not a learned-lossy context model") from None
        if (weights.shape != (LEVEL_GROUPS, ORIENTATIONS, PHASES, FEATURES) or tables.shape != (NUM_CLASSES, NUM_TOKENS)
                or not np.isfinite(tables).all() or (tables <= 0).any()):
            raise MissingWeightsError(f"the {BUNDLE} weights at {where} do not fit this codec version")
        return cls(weights, tables / tables.sum(axis=1, keepdims=True))

    def state(self) -> dict[str, Any]:
        import torch

        return {"weights": torch.from_numpy(self.weights.astype(np.int64)),
                "tables": torch.from_numpy(self.tables.astype(np.float64))}

    def cost(self) -> np.ndarray:
        """Bits of each token under each class, (NUM_CLASSES, NUM_TOKENS)."""
        return -np.log2(self.tables)


# --- the symbol stream -------------------------------------------------------------------------------------

class AdaptiveTables:
    """The token tables as this chunk goes: the learned tables, worth :data:`PRIOR_COUNT` symbols per class,
    plus the counts of every token coded so far (updated after each pass, by encoder and decoder alike)."""

    def __init__(self, model: ContextModel) -> None:
        self.prior = model.tables * PRIOR_COUNT
        self.counts = np.zeros((NUM_CLASSES, NUM_TOKENS))
        self.sign_counts = np.full((SIGN_CONTEXTS, 2), SIGN_PRIOR_COUNT)

    def probabilities(self, table: int) -> np.ndarray:
        return self.prior[table] + self.counts[table]

    def sign_probabilities(self, context: int) -> np.ndarray:
        return self.sign_counts[context].copy()

    def cost(self) -> np.ndarray:
        """Bits of each token under each class now, (NUM_CLASSES, NUM_TOKENS)."""
        frequencies = self.prior + self.counts
        return np.log2(frequencies.sum(axis=1, keepdims=True)) - np.log2(frequencies)

    def update_signs(self, contexts: np.ndarray, negative: np.ndarray) -> None:
        self.sign_counts += np.bincount(contexts * 2 + negative, minlength=2 * SIGN_CONTEXTS).reshape(SIGN_CONTEXTS, 2)

    def update(self, classes: np.ndarray, tokens: np.ndarray) -> None:
        self.counts += np.bincount(classes * NUM_TOKENS + tokens,
                                   minlength=NUM_CLASSES * NUM_TOKENS).reshape(NUM_CLASSES, NUM_TOKENS)


class SymbolWriter:
    """Collects symbols in decoding order; :meth:`finish` codes them (ANS is a stack: last in, first out)."""

    def __init__(self, model: ContextModel) -> None:
        self.model = model
        self.tables = AdaptiveTables(model)
        self._ops: list[tuple[Any, np.ndarray, np.ndarray | None]] = []

    def _grouped(self, symbols: np.ndarray, groups: np.ndarray, probabilities: Callable[[int], np.ndarray]) -> None:
        """Each group's symbols under the categorical distribution ``probabilities(group)``, groups in order."""
        for group in np.unique(groups):
            model = constriction.stream.model.Categorical(probabilities(int(group)), perfect=False)
            self._ops.append((model, symbols[groups == group].astype(np.int32), None))

    def tokens(self, tokens: np.ndarray, classes: np.ndarray) -> None:
        self._grouped(tokens, classes, self.tables.probabilities)
        self.tables.update(classes, tokens)

    def signs(self, negative: np.ndarray, contexts: np.ndarray) -> None:
        """Signs (1: negative) coded with the chunk's adaptive sign counts of their contexts."""
        self._grouped(negative, contexts, self.tables.sign_probabilities)
        self.tables.update_signs(contexts, negative)

    def raw(self, values: np.ndarray, bits: np.ndarray) -> None:
        """Raw bits (``bits[i]`` low bits of ``values[i]``), in parts of at most RAW_PART_BITS."""
        uniform = constriction.stream.model.Uniform()
        used = bits > 0
        low_bits = np.minimum(bits[used], RAW_PART_BITS)
        self._ops.append((uniform, (values[used] & ((1 << low_bits) - 1)).astype(np.int32),
                          (1 << low_bits).astype(np.int32)))
        high = bits[used] > RAW_PART_BITS
        self._ops.append((uniform, (values[used][high] >> RAW_PART_BITS).astype(np.int32),
                          (1 << (bits[used][high] - RAW_PART_BITS)).astype(np.int32)))

    def finish(self) -> bytes:
        encoder = constriction.stream.stack.AnsCoder()
        for family, symbols, parameters in reversed(self._ops):
            if symbols.size:
                if parameters is None:
                    encoder.encode_reverse(symbols, family)
                else:
                    encoder.encode_reverse(symbols, family, parameters)
        return encoder.get_compressed().astype("<u4").tobytes()


class SymbolReader:
    """Reads what :class:`SymbolWriter` wrote, in the same order."""

    def __init__(self, model: ContextModel, words: bytes) -> None:
        self.model = model
        self.tables = AdaptiveTables(model)
        self._decoder = constriction.stream.stack.AnsCoder(np.frombuffer(words, "<u4").astype(np.uint32))

    def _grouped(self, groups: np.ndarray, probabilities: Callable[[int], np.ndarray]) -> np.ndarray:
        out = np.zeros(groups.shape, dtype=np.int64)
        for group in np.unique(groups):
            where = groups == group
            model = constriction.stream.model.Categorical(probabilities(int(group)), perfect=False)
            out[where] = self._decoder.decode(model, int(where.sum()))
        return out

    def tokens(self, classes: np.ndarray) -> np.ndarray:
        out = self._grouped(classes, self.tables.probabilities)
        self.tables.update(classes, out)
        return out

    def signs(self, contexts: np.ndarray) -> np.ndarray:
        out = self._grouped(contexts, self.tables.sign_probabilities)
        self.tables.update_signs(contexts, out)
        return out

    def raw(self, bits: np.ndarray) -> np.ndarray:
        uniform = constriction.stream.model.Uniform()
        values = np.zeros(bits.shape, dtype=np.int64)
        used = bits > 0
        low_bits = np.minimum(bits[used], RAW_PART_BITS)
        low = self._read(uniform, (1 << low_bits).astype(np.int32))
        high_bits = bits[used][bits[used] > RAW_PART_BITS] - RAW_PART_BITS
        high = np.zeros(low.shape, dtype=np.int64)
        high[bits[used] > RAW_PART_BITS] = self._read(uniform, (1 << high_bits).astype(np.int32))
        values[used] = low | (high << RAW_PART_BITS)
        return values

    def _read(self, family: Any, sizes: np.ndarray) -> np.ndarray:
        if not sizes.size:
            return np.zeros(0, dtype=np.int64)
        return self._decoder.decode(family, sizes).astype(np.int64)

    def exhausted(self) -> bool:
        return self._decoder.is_empty()


def write_magnitudes(writer: SymbolWriter, signed: np.ndarray, classes: np.ndarray,
                     prediction: Prediction | None = None) -> None:
    """Tokens under their classes, then raw low bits, then the signs of the non-zero values."""
    tokens, raw, raw_bits = to_tokens(np.abs(signed))
    writer.tokens(tokens, classes)
    writer.raw(raw, raw_bits)
    negative = (signed < 0).astype(np.int64)
    if prediction is None:
        writer.raw(negative, (signed != 0).astype(np.int64))
    else:
        nonzero = signed != 0
        writer.signs(negative[nonzero], prediction.sign_contexts(np.abs(signed))[nonzero])


def read_magnitudes(reader: SymbolReader, classes: np.ndarray, prediction: Prediction | None = None) -> np.ndarray:
    tokens = reader.tokens(classes)
    magnitudes = from_tokens(tokens, reader.raw(raw_bit_counts(tokens)))
    if prediction is None:
        negative = reader.raw((magnitudes != 0).astype(np.int64))
    else:
        nonzero = magnitudes != 0
        negative = np.zeros(magnitudes.shape, dtype=np.int64)
        negative[nonzero] = reader.signs(prediction.sign_contexts(magnitudes)[nonzero])
    return np.where(negative == 1, -magnitudes, magnitudes)


# --- quantisation and the plane coder ------------------------------------------------------------------------

def quantise(coefficients: np.ndarray, step: float, rounding: float = ROUNDING) -> np.ndarray:
    return (np.sign(coefficients) * np.floor(np.abs(coefficients) / step + rounding)).astype(np.int64)


def dequantise(indices: np.ndarray, step: float, reconstruction: float = RECONSTRUCTION) -> np.ndarray:
    return np.sign(indices) * (np.abs(indices) + reconstruction) * step


def approximation_residual(indices: np.ndarray) -> np.ndarray:
    """Differences down the columns, and along the first row: the approximation band's DPCM."""
    residual = indices.copy()
    residual[1:] -= indices[:-1]
    residual[0, 1:] -= indices[0, :-1]
    return residual


def approximation_from_residual(residual: np.ndarray) -> np.ndarray:
    out = residual.copy()
    out[0] = np.cumsum(out[0])
    return np.cumsum(out, axis=0)


@dataclasses.dataclass
class QuantisedPlane:
    """One plane's quantised wavelet coefficients: the approximation and the detail bands, coarsest first."""

    approximation: np.ndarray
    details: list[list[np.ndarray]]
    scaled: list[list[np.ndarray]] | None = None  # the encoder's detail coefficients in steps, before rounding

    @property
    def levels(self) -> int:
        return len(self.details)

    @classmethod
    def of(cls, plane: np.ndarray, step: float) -> "QuantisedPlane":
        levels = wavelet.levels_for(plane.shape)
        approximation, details = wavelet.forward(plane, levels)
        scaled = [[values / band_step(step, levels, index, band) for band, values in enumerate(bands)]
                  for index, bands in enumerate(details)]
        return cls(quantise(approximation, step / wavelet.approximation_norm(levels), 0.5),
                   [[quantise(values, 1.0) for values in bands] for bands in scaled], scaled)

    def reconstruct(self, step: float) -> np.ndarray:
        levels = self.levels
        approximation = self.approximation * (step / wavelet.approximation_norm(levels))
        details = [tuple(dequantise(values, band_step(step, levels, index, band)) for band, values in enumerate(bands))
                   for index, bands in enumerate(self.details)]
        return wavelet.inverse(approximation, details)  # type: ignore[arg-type]


def band_step(step: float, levels: int, index: int, band: int) -> float:
    """The quantiser step of detail ``band`` of level ``index`` (coarsest first): every band's error costs the same
    in the image."""
    return step / wavelet.band_norm(levels - index, band)


def band_order(levels: int) -> list[tuple[int, int]]:
    """(index, band) in coding order: coarsest level first, then LH, HL, HH."""
    return [(index, band) for index in range(levels) for band in range(ORIENTATIONS)]


def band_context(details: list[list[np.ndarray]], index: int, band: int, shape: tuple[int, int]) -> BandContext:
    parent = details[index - 1][band] if index > 0 else None
    return BandContext.of(shape, parent, [details[index][b] for b in range(band)])


def offset_bits(classes: np.ndarray, tokens: np.ndarray, cost: np.ndarray) -> tuple[int, float]:
    """The class offset that codes these tokens in the fewest bits (found from their joint histogram), and the bits."""
    used, rows = np.unique(classes, return_inverse=True)
    counts = np.bincount(rows.ravel() * NUM_TOKENS + tokens, minlength=len(used) * NUM_TOKENS)
    bits_as = counts.reshape(len(used), NUM_TOKENS).astype(np.float64) @ cost.T  # [c, d]: class c coded as d
    classes_at = np.clip(used[:, None] + np.array(OFFSETS)[None, :], 0, NUM_CLASSES - 1)
    bits = bits_as[np.arange(len(used))[:, None], classes_at].sum(axis=0)
    best = int(np.argmin(bits))
    return OFFSETS[best], float(bits[best])


Group = tuple[int, int, int]  # level group, band, phase
Samples = dict[Group, list[tuple[np.ndarray, np.ndarray]]]


@dataclasses.dataclass
class PassSample:
    """One pass of a band as the coder sees it: magnitude and signed features, and the signed indices."""

    group: Group
    features: np.ndarray
    signed_features: np.ndarray
    values: np.ndarray


def pass_samples(plane: QuantisedPlane) -> list[PassSample]:
    samples = []
    for index, band in band_order(plane.levels):
        values = plane.details[index][band]
        context = band_context(plane.details, index, band, values.shape)
        for phase, mask in band_passes(values.shape):
            samples.append(PassSample((level_group(plane.levels - index), band, phase),
                                      context.features(np.abs(values), phase, mask),
                                      context.signed_features(values, phase, mask), values[mask]))
    return samples


def residuals(sample: PassSample, predictor: np.ndarray | None) -> np.ndarray:
    """What the coder codes for a pass: the signed indices, less their prediction when one is subtracted."""
    return (sample.values if predictor is None
            else sample.values - Prediction.of(sample.signed_features, predictor[sample.group]).rounded)


def sign_bits(negative: np.ndarray, contexts: np.ndarray) -> float:
    """Bits of signs under one static probability per context (what the adaptive sign counts approach)."""
    counts = np.bincount(contexts * 2 + negative, minlength=2 * SIGN_CONTEXTS).reshape(SIGN_CONTEXTS, 2) + 0.5
    return float(-(counts * np.log2(counts / counts.sum(axis=1, keepdims=True))).sum())


def activity_samples(samples: list[PassSample], predictor: np.ndarray | None = None) -> Samples:
    """(features, coded magnitudes) of every pass, by the group whose activity weights it uses."""
    grouped: Samples = {}
    for sample in samples:
        grouped.setdefault(sample.group, []).append((sample.features, np.abs(residuals(sample, predictor))))
    return grouped


def prediction_samples(samples: list[PassSample]) -> Samples:
    """(signed features, signed indices) of every pass, by group."""
    grouped: Samples = {}
    for sample in samples:
        grouped.setdefault(sample.group, []).append((sample.signed_features, sample.values))
    return grouped


def stored_weights(weights: np.ndarray) -> np.ndarray:
    """Q8 weights as a chunk stores them: rounded to Q6 int8 (and scaled back to Q8)."""
    return np.clip(np.round(weights / _STORED_UNIT), -128, 127).astype(np.int64) * _STORED_UNIT


@dataclasses.dataclass
class PlaneModel:
    """How a plane's detail indices are modelled: activity weights (None: the bundle's) and prediction weights
    (None: no prediction), both the plane's own when present."""

    activity: np.ndarray | None = None
    predictor: np.ndarray | None = None
    subtract: bool = True  # whether the prediction is subtracted, or only gives the signs their contexts

    def side_bits(self) -> int:
        return 8 * sum(w.size for w in (self.activity, self.predictor) if w is not None)

    def prediction(self, features: np.ndarray, group: Group) -> Prediction | None:
        return None if self.predictor is None else Prediction.of(features, self.predictor[group], self.subtract)

    def estimated_bits(self, samples: list[PassSample], bundle: np.ndarray, cost: np.ndarray) -> float:
        """Bits of tokens (best offset per pass), signs and side information under ``cost``."""
        activity = bundle if self.activity is None else self.activity
        bits = float(self.side_bits())
        negative, contexts = [], []
        for sample in samples:
            prediction = self.prediction(sample.signed_features, sample.group)
            coded = sample.values - (0 if prediction is None else prediction.rounded)
            classes = activity_classes(sample.features, activity[sample.group])
            bits += offset_bits(classes, to_tokens(np.abs(coded))[0], cost)[1]
            if prediction is None:
                bits += np.count_nonzero(coded)
            else:
                nonzero = coded != 0
                negative.append((coded[nonzero] < 0).astype(np.int64))
                contexts.append(prediction.sign_contexts(np.abs(coded))[nonzero])
        if negative:
            bits += sign_bits(np.concatenate(negative), np.concatenate(contexts))
        return bits

    @classmethod
    def choose(cls, samples: list[PassSample], bundle: np.ndarray, cost: np.ndarray) -> "PlaneModel":
        """The cheapest of: the bundle's activity weights; the plane's own; the plane's own with a prediction
        that only gives the signs their contexts; and with a prediction that is subtracted."""
        predictor = stored_weights(fit_group_weights(prediction_samples(samples), SIGNED_FEATURES))
        own = stored_weights(fit_group_weights(activity_samples(samples)))
        candidates = [cls(), cls(own), cls(own, predictor, subtract=False),
                      cls(stored_weights(fit_group_weights(activity_samples(samples, predictor))), predictor)]
        return min(candidates, key=lambda model: model.estimated_bits(samples, bundle, cost))


@dataclasses.dataclass
class PlaneSide:
    """What a plane's symbols need besides the bundle: the approximation's table, the plane's model, and one
    class offset per pass."""

    table: int
    model: PlaneModel
    offsets: list[int]

    def to_bytes(self) -> bytes:
        flags = ((self.model.activity is not None) | (self.model.predictor is not None) << 1
                 | (self.model.predictor is not None and not self.model.subtract) << 2)
        stored = [(w // _STORED_UNIT).astype(np.int8).tobytes()
                  for w in (self.model.activity, self.model.predictor) if w is not None]
        return bytes([self.table, flags]) + b"".join(stored) + np.array(self.offsets, dtype=np.int8).tobytes()

    @classmethod
    def parse(cls, body: bytes, position: int, levels: int) -> tuple["PlaneSide", int]:
        def take(size: int) -> bytes:
            if position + size > len(body):
                raise CodecError("learned-lossy chunk is truncated")
            return body[position: position + size]

        def weights(count: int) -> np.ndarray:
            shape = (LEVEL_GROUPS, ORIENTATIONS, PHASES, count)
            stored = np.frombuffer(take(int(np.prod(shape))), dtype=np.int8).astype(np.int64).reshape(shape)
            return stored * _STORED_UNIT

        table, flags = take(2)
        position += 2
        if table >= NUM_CLASSES or flags > 7 or flags & 4 and not flags & 2:
            raise CodecError(f"learned-lossy chunk has an invalid plane header ({table}, {flags}) (damaged data)")
        model = PlaneModel()
        if flags & 1:
            model.activity = weights(FEATURES)
            position += model.activity.size
        if flags & 2:
            model.predictor = weights(SIGNED_FEATURES)
            model.subtract = not flags & 4
            position += model.predictor.size
        passes = levels * ORIENTATIONS * PHASES
        offsets = np.frombuffer(take(passes), dtype=np.int8).astype(int).tolist()
        return cls(int(table), model, offsets), position + passes


def rate_distortion_choice(scaled: np.ndarray, values: np.ndarray, prediction: np.ndarray | int,
                           classes: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Each index, or the one next to it towards zero where that costs less squared error (in steps) plus
    :data:`LAGRANGE` x bits under the tables the decoder will use."""
    target, magnitudes = np.abs(scaled), np.abs(values)

    def lagrangian(candidate: np.ndarray) -> np.ndarray:
        coded = np.sign(values) * candidate - prediction
        tokens, _, raw_bits = to_tokens(np.abs(coded))
        error = target - np.where(candidate > 0, candidate + RECONSTRUCTION, 0)
        return error * error + LAGRANGE * (cost[classes, tokens] + raw_bits + (coded != 0))

    lower = np.maximum(magnitudes - 1, 0)
    return np.where((magnitudes > 0) & (lagrangian(lower) < lagrangian(magnitudes)), np.sign(values) * lower, values)


def encode_plane(writer: SymbolWriter, plane: QuantisedPlane) -> PlaneSide:
    """Write one plane's symbols under the cheapest :class:`PlaneModel`; return the side information."""
    cost = writer.tables.cost()
    model = PlaneModel.choose(pass_samples(plane), writer.model.weights, cost)
    activity = writer.model.weights if model.activity is None else model.activity
    residual = approximation_residual(plane.approximation).ravel()
    tokens = to_tokens(np.abs(residual))[0]
    side = PlaneSide(int(np.argmin(cost[:, tokens].sum(axis=1))), model, [])
    write_magnitudes(writer, residual, np.full(residual.shape, side.table))
    for index, band in band_order(plane.levels):
        values = plane.details[index][band]
        context = band_context(plane.details, index, band, values.shape)
        magnitudes = np.abs(values)
        for phase, mask in band_passes(values.shape):
            group = (level_group(plane.levels - index), band, phase)
            classes = activity_classes(context.features(magnitudes, phase, mask), activity[group])
            prediction = model.prediction(context.signed_features(values, phase, mask), group)
            rounded = 0 if prediction is None else prediction.rounded
            cost = writer.tables.cost()
            offset, _ = offset_bits(classes, to_tokens(np.abs(values[mask] - rounded))[0], cost)
            side.offsets.append(offset)
            classes = np.clip(classes + offset, 0, NUM_CLASSES - 1)
            if plane.scaled is not None:
                values[mask] = rate_distortion_choice(plane.scaled[index][band][mask], values[mask], rounded,
                                                      classes, cost)
                magnitudes[mask] = np.abs(values[mask])
            write_magnitudes(writer, values[mask] - rounded, classes, prediction)
    return side


def decode_plane(reader: SymbolReader, shape: tuple[int, int], levels: int, side: PlaneSide) -> QuantisedPlane:
    activity = reader.model.weights if side.model.activity is None else side.model.activity
    offsets = iter(side.offsets)
    approximation_shape, detail_shapes = wavelet.band_shapes(shape, levels)
    size = approximation_shape[0] * approximation_shape[1]
    residual = read_magnitudes(reader, np.full(size, side.table))
    details: list[list[np.ndarray]] = [[np.zeros(s, dtype=np.int64) for s in level] for level in detail_shapes]
    for index, band in band_order(levels):
        values = details[index][band]
        context = band_context(details, index, band, values.shape)
        magnitudes = np.zeros(values.shape, dtype=np.int64)
        for phase, mask in band_passes(values.shape):
            group = (level_group(levels - index), band, phase)
            classes = activity_classes(context.features(magnitudes, phase, mask), activity[group], next(offsets))
            prediction = side.model.prediction(context.signed_features(values, phase, mask), group)
            values[mask] = read_magnitudes(reader, classes, prediction)
            if prediction is not None:
                values[mask] += prediction.rounded
            magnitudes[mask] = np.abs(values[mask])
    return QuantisedPlane(approximation_from_residual(residual.reshape(approximation_shape)), details)


# --- pixels in and out ----------------------------------------------------------------------------------------

def to_planes(slab: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """(planes, rows, cols) float64: grey as is, RGB as Y, Cb, Cr (JPEG 2000's irreversible transform)."""
    image = np.asarray(slab)
    if image.dtype.kind not in "ui":
        raise UnsupportedDataError(f"learned-lossy codes integer pixels, not {image.dtype.name} data")
    if image.size and (image.min() < 0 or image.max() > fmt.max_value):
        raise UnsupportedDataError(f"learned-lossy got pixels outside 0..{fmt.max_value} for {fmt.bits}-bit data")
    pixels = image[0].astype(np.float64)
    if fmt.channels == 3:
        centred = pixels - (fmt.max_value + 1) / 2
        return np.moveaxis(centred @ _ICT.T, -1, 0)
    return pixels[None]


def from_planes(planes: np.ndarray, shape: Sequence[int], fmt: PixelFormat) -> np.ndarray:
    if fmt.channels == 3:
        pixels = np.moveaxis(planes, 0, -1) @ _ICT_INVERSE.T + (fmt.max_value + 1) / 2
    else:
        pixels = planes[0]
    return np.clip(np.rint(pixels), 0, fmt.max_value).astype(fmt.dtype).reshape(tuple(shape))


def pixel_digest(pixels: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=DIGEST_SIZE).digest()


# --- the codec -------------------------------------------------------------------------------------------------

@register
class LearnedLossyCodec(BundleWeights, Codec):
    """Variable-rate lossy coding: CDF 9/7 wavelet, dead-zone quantiser, learned context model, ANS."""

    name = "learned-lossy"
    bundle_name = BUNDLE
    lossy = True
    knob = Knob("quality", 0, 100, higher_is_better=True, integer=False, linear=True,
                description="0 to 100: the step falls from 2^bits to 1/4 grey level, about 0.06 dB x (bits + 2) a point")
    description = ("lossy: CDF 9/7 wavelet, dead-zone quantiser, learned context model of the coefficients "
                   "(activity classes and token tables from the training pool), ANS (constriction)")

    @property
    def version(self) -> str:
        return f"chunk {CHUNK_VERSION}, constriction {importlib.metadata.version('constriction')}"

    def default_params(self) -> dict[str, Any]:
        return {self.knob.name: 60.0}

    def context_model(self, sha_prefix: bytes | None = None) -> tuple[ContextModel, bytes]:
        """The bundle's context model; with ``sha_prefix``, refuse weights other than the recorded ones."""
        model, found = self.loaded_weights(ContextModel.from_state, sha_prefix)
        return model, bytes.fromhex(found.sha256)[:SHA_PREFIX]

    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        planes = to_planes(slab, fmt)
        step = step_for(float(params.get(self.knob.name, self.default_params()[self.knob.name])), fmt.bits)
        model, sha = self.context_model()
        writer = SymbolWriter(model)
        levels = wavelet.levels_for(planes.shape[1:])
        quantised = [QuantisedPlane.of(plane, step) for plane in planes]
        sides = b"".join(encode_plane(writer, plane).to_bytes() for plane in quantised)
        decoded = from_planes(np.stack([plane.reconstruct(step) for plane in quantised]), slab.shape, fmt)
        words = writer.finish()
        body = (_HEAD.pack(CHUNK_VERSION, len(planes), fmt.bits, levels, step, sha) + sides
                + _U32.pack(len(words) // 4) + words + pixel_digest(decoded))
        return body + _U32.pack(zlib.crc32(body))

    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        chunk = Chunk.parse(data, shape, fmt)
        model, _ = self.context_model(chunk.sha)
        reader = SymbolReader(model, chunk.words)
        rows, cols = int(shape[1]), int(shape[2])
        planes = [decode_plane(reader, (rows, cols), chunk.levels, side).reconstruct(chunk.step) for side in chunk.sides]
        if not reader.exhausted():
            raise CodecError("learned-lossy chunk has symbols left over after decoding (damaged data)")
        decoded = from_planes(np.stack(planes), shape, fmt)
        if pixel_digest(decoded) != chunk.digest:
            raise CodecError("learned-lossy decoded pixels differ from the encoder's (digest mismatch): this "
                             "machine computes the model differently or the chunk was altered")
        return decoded


@dataclasses.dataclass
class Chunk:
    """A chunk's fields, each checked against the image it claims to code before it is used."""

    levels: int
    step: float
    sha: bytes
    sides: list[PlaneSide]
    words: bytes
    digest: bytes

    @classmethod
    def parse(cls, data: bytes, shape: Sequence[int], fmt: PixelFormat) -> "Chunk":
        data = bytes(data)
        if len(data) < _HEAD.size + _U32.size * 2 + DIGEST_SIZE:
            raise CodecError("learned-lossy chunk is truncated")
        body, crc = data[:-4], _U32.unpack(data[-4:])[0]
        if zlib.crc32(body) != crc:
            raise CodecError("learned-lossy chunk checksum mismatch (damaged data)")
        version, planes, bits, levels, step, sha = _HEAD.unpack_from(body)
        if version != CHUNK_VERSION:
            raise CodecError(f"learned-lossy chunk version {version} is not supported (this MedComp reads "
                             f"{CHUNK_VERSION})")
        expected_levels = wavelet.levels_for((int(shape[1]), int(shape[2])))
        if planes != fmt.channels or bits != fmt.bits or levels != expected_levels or int(shape[0]) != 1:
            raise CodecError("learned-lossy chunk header does not match the image (damaged data)")
        if not (math.isfinite(step) and MIN_STEP <= step <= MAX_STEP):
            raise CodecError(f"learned-lossy chunk has an invalid step {step!r} (damaged data)")
        position, sides = _HEAD.size, []
        for _ in range(planes):
            side, position = PlaneSide.parse(body, position, levels)
            sides.append(side)
        if position + _U32.size + DIGEST_SIZE > len(body):
            raise CodecError("learned-lossy chunk is truncated")
        (count,) = _U32.unpack_from(body, position)
        position += _U32.size
        if position + 4 * count + DIGEST_SIZE != len(body):
            raise CodecError("learned-lossy chunk length does not match its word count (damaged data)")
        words = body[position: position + 4 * count]
        return cls(levels, step, sha, sides, words, body[position + 4 * count:])
