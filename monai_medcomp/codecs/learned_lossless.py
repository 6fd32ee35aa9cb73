"""``learned-lossless``: a probabilistic predictive codec with inter-slice context and a near-lossless mode.

Each pixel gets a Laplace or Gaussian distribution from :mod:`.context_model` (least-squares mean
fitted per slab, learned scale classes, the family chosen per class) and is coded with it by
constriction's ANS coder.  A chunk is a slab of up to ``slab_size`` slices (or an RGB slice, its
channels as planes), decodable on its own.

Near-lossless (``max_error`` D > 0): the residual from the integer prediction is quantised with step
2D + 1 inside the prediction loop, so every pixel is within D of the original by construction and
later predictions see the reconstructed pixels, as the decoder does.  Lossless data that uses at
most half of its value range is first mapped to the ranks of the values it uses (the table of
used values is stored), which codes sparse histograms (rescaled 8-bit data in 16 bits, masks) cheaply.
Lossless RGB with at most ``MAX_PALETTE`` colours (grey ultrasound with coloured overlays) is also coded
as one plane of palette indices, greys first; the encoder keeps whichever of that and the colour
transform comes out shorter.

Chunk versions 5 to 7 (7 written now) code a slab in one compiled pass, pixel by pixel
(:mod:`.adaptive_core`): the same fitted predictor and learned scale level, but the residual's
distribution in each scale class is learned while coding by adaptive binary models instead of a
Laplace or Gaussian fitted per slab, and its bytes come from a range coder.  They carry no class
table (class count 0).  Version 6 mixes a fifth view, codes the residual's octave from the octave
of its scale and, lossless, first tries the neighbours' values where they hold at most two
(:mod:`.adaptive_core`).  Version 7 sees the predicted value in place of the gradients, and its
binary mode remembers the value that last followed each arrangement of the neighbours.  Versions 5
and 6 still decode with the same core.

Versions 1 to 4 still decode.  Their ANS coder sees each pixel's quantised residual shifted so that
the lowest value the pixel can take has code 0 (from version 2): the tails beyond the pixel range fold
into the boundary codes.  Version 1 coded over a symmetric range, versions 1 and 2 with Laplace
classes only, and versions 1 to 3 read the 24 nearest neighbours in large planes (wavefronts of
slope 4, where versions 4 and later use slope 3).

Chunk layout (little-endian): version u8, flags u8 (1: ranked values, 2: colour transform,
4: palette), max_error u16, bits u8, planes u16, class width u8, first class i16, class count u16,
bundle SHA-256 prefix (8 bytes), [rows u32, columns u32: from version 5], causal context size u8, predictor band count u8 and band edges
(i32 each), predictor coefficients (Q12 i16, three directions per band; the first-plane set, then
the later-plane set if planes > 1), class scales (float16), biases (i8) and families (one bit per
class, 1: Gaussian, np.packbits order; from version 3; none from version 5), [u32 length + zlib
bitmap of used values, or zlib of the palette's colours], u32 length + the coded stream (ANS u32
words up to version 4, range-coder bytes from version 5), BLAKE2b-64 digest of the decoded planes,
CRC-32 of all before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import struct
import zlib
from typing import Any, Callable, NamedTuple, Sequence

import constriction
import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import CodecError, MissingWeightsError, UnsupportedDataError
from . import adaptive_core
from .base import BundleWeights, Codec, Knob, PixelFormat, register
from .causal import CausalContext, clamp
from .classical import ErrorBoundKnob
from .context_model import (COEFFICIENT_BITS, LOG_UNIT, PREVIOUS_PLANE, SCALE_FEATURES_2D, SCALE_FEATURES_3D,
                            WAVEFRONT_SLOPE, LinearPredictor, ScaleClasses, ScaleWeights, SlabPlanes,
                            band_index, fit_linear, log_table, schedule)

BUNDLE = "learned_lossless"
CHUNK_VERSION = 7
# 1: residuals over a symmetric range, without the censoring of version 2; 1 and 2: Laplace only;
# 1 to 3: the 24-neighbour context is the 24 nearest, without the slope limit of version 4;
# 1 to 4: ANS with per-slab scale classes (decoded wavefront by wavefront in numpy); 5: the compiled core;
# 6: a fifth view, the octave from the scale's octave, the low bits at one half, a binary mode (adaptive_core);
# 7: the predicted value in place of the gradients, the binary mode's memory, the low bits eight at a time
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6, 7)
COMPILED = 5
SHA_PREFIX = 8
DIGEST_SIZE = 8
BLOCK = 1 << 16  # pixels per vectorised block of :func:`analyse`
SEED = 0
MAX_BANDS = 16
MAX_SLAB = 64
FIT_SAMPLE = 1 << 17  # pixels per predictor band of a fit, at most
FIRST_FIT_SAMPLE = 1 << 12  # of the lossless encoder's first fit, which gives only scales and a start
RANKED, COLOUR_TRANSFORM, PALETTE = 1, 2, 4  # chunk flags
MAX_PALETTE = 1 << 12
TABLES = RANKED | PALETTE  # flags whose chunks carry a value table
CONTEXT_SIZES = (12, 24)
_HEAD = struct.Struct("<BBHBHBhH")
# the class table of versions 5 to 7
NO_CLASSES = ScaleClasses(1, 0, np.zeros(0, np.float16), np.zeros(0, np.int8), np.zeros(0, bool))
_U32 = struct.Struct("<I")
_SIZE = struct.Struct("<II")  # rows, columns (from version 5)


def chunk_context(version: int, size: int) -> CausalContext:
    """The causal context a chunk's predictor reads: slope-limited (:data:`WAVEFRONT_SLOPE`) from version 4."""
    return CausalContext(size, WAVEFRONT_SLOPE if version >= 4 else None)


def coefficient_counts(context_size: int) -> tuple[int, int]:
    """Coefficients per band of first planes and of later planes (which add the previous plane's 3x3)."""
    return context_size + 1, context_size + len(PREVIOUS_PLANE) + 1


def round_prediction(fixed: np.ndarray, max_value: int) -> np.ndarray:
    return clamp((fixed + (1 << (COEFFICIENT_BITS - 1))) >> COEFFICIENT_BITS, 0, max_value)


@dataclasses.dataclass
class SlabModel:
    """Everything a chunk stores about how its pixels were predicted.

    The coder sees *codes*: a pixel's symbol (its quantised residual) plus the code of the lowest
    value it can take, so that every code lies in ``0 .. top`` and constriction's quantiser folds the
    tails beyond the pixel range into the boundary codes.  A pixel predicted near black
    (or white) then costs what its censored distribution says, not the mass of values that cannot
    occur.  Chunks of version 1 coded the residual over a symmetric range without that fold.
    """

    predictor: LinearPredictor
    classes: ScaleClasses
    step: int  # 2 * max_error + 1
    censored: bool = True

    def symbol_distribution(self, fixed: np.ndarray, levels: np.ndarray, max_value: int
                            ) -> tuple[np.ndarray, np.ndarray, Distributions]:
        """Integer predictions, code offsets, and the distribution of each pixel's code."""
        prediction = round_prediction(fixed, max_value)
        scales, biases, gaussian = self.classes.lookup(levels)
        offsets = self.offsets(prediction)
        means = ((fixed - (prediction << COEFFICIENT_BITS)) / (1 << COEFFICIENT_BITS) + biases) / self.step
        return prediction, offsets, Distributions(means + offsets, scales / self.step, gaussian)

    def offsets(self, prediction: np.ndarray) -> np.ndarray:
        return code_offsets(prediction, self.step) if self.censored else np.zeros_like(prediction)

    def ans_models(self, max_value: int) -> tuple[Any, Any]:
        """The quantised Laplace and Gaussian over the codes a pixel can take."""
        if self.censored:
            low, high = 0, top_code(max_value, self.step)
        else:
            high = max_value // self.step + 1
            low = -high
        model = constriction.stream.model
        return model.QuantizedLaplace(low, high), model.QuantizedGaussian(low, high)


@dataclasses.dataclass
class Distributions:
    """Mean, scale and family (True: Gaussian, False: Laplace) of each pixel's code."""

    means: np.ndarray
    scales: np.ndarray
    gaussian: np.ndarray


def ans_read(decoder: Any, families: tuple[Any, Any], distributions: Distributions) -> np.ndarray:
    """The codes of one decoding step, popped as :func:`ans_write` pushed them."""
    gaussian = distributions.gaussian
    laplace = len(gaussian) - int(np.count_nonzero(gaussian))
    if laplace in (0, len(gaussian)):  # one family, as most steps are: no reordering
        return decoder.decode(families[laplace == 0], distributions.means, distributions.scales).astype(np.int64)
    order = np.argsort(gaussian, kind="stable")  # the Laplace pixels, then the Gaussian ones
    codes = np.empty(len(gaussian), dtype=np.int64)
    for family, part in zip(families, (order[:laplace], order[laplace:])):
        if len(part):
            codes[part] = decoder.decode(family, distributions.means[part], distributions.scales[part])
    return codes


def code_offsets(prediction: np.ndarray, step: int) -> np.ndarray:
    """Code of symbol 0: minus the symbol that value 0 quantises to, so the lowest reachable code is 0."""
    return (prediction + (step - 1) // 2) // step


def top_code(max_value: int, step: int) -> int:
    """The highest code a pixel can reach: that of ``max_value``, at most ceil(max_value / step)."""
    return (max_value + step - 1) // step


def predict(planes: SlabPlanes, predictor: LinearPredictor, weights: ScaleWeights, positions: np.ndarray,
            has_previous: bool) -> tuple[np.ndarray, np.ndarray]:
    """Q12 predictions and scale levels of pixels whose context is decoded."""
    context = planes.value_context(positions, has_previous)
    fixed = predictor.fixed_point(context, has_previous)
    return fixed, weights.level(planes.scale_features(positions, context), has_previous)


def run_schedule(planes: SlabPlanes, predictor: LinearPredictor, weights: ScaleWeights,
                 settle: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> None:
    """Rebuild the slab wavefront by wavefront; ``settle(positions, fixed, levels)`` returns their pixels
    and integer predictions.

    The decoder's ``settle`` decodes symbols, the near-lossless encoder's quantises the known pixels:
    both then see exactly the same reconstructed neighbourhoods.
    """
    for positions, first in schedule(planes):
        if first in (0, len(positions)):  # one plane kind
            fixed, levels = predict(planes, predictor, weights, positions, first == 0)
        else:
            parts = (predict(planes, predictor, weights, positions[:first], False),
                     predict(planes, predictor, weights, positions[first:], True))
            fixed, levels = (np.concatenate(r) for r in zip(*parts))
        values, prediction = settle(positions, fixed, levels)
        planes.values[positions] = values
        planes.errors[positions] = np.abs(values - prediction)


def plane_kinds(planes: SlabPlanes) -> list[tuple[np.ndarray, bool]]:
    """All pixel positions of the first plane, and of the later ones (which see a previous plane)."""
    kinds = [(planes.all_positions(0), False)]
    if planes.planes > 1:
        kinds.append((np.concatenate([planes.all_positions(k) for k in range(1, planes.planes)]), True))
    return kinds


def blocks(positions: np.ndarray) -> list[np.ndarray]:
    return [positions[i:i + BLOCK] for i in range(0, len(positions), BLOCK)]


def predictor_bands(pixels: int) -> int:
    """More activity bands for larger slabs, whose coefficient tables cost relatively less."""
    return int(np.clip(pixels // (1 << 15), 1, MAX_BANDS))


@dataclasses.dataclass
class BandSample:
    """One plane kind's sampled pixels grouped by predictor band (each band in slab order)."""

    positions: np.ndarray
    design: np.ndarray  # float32 value contexts (neighbours - reference), the least-squares design
    reference: np.ndarray
    bounds: np.ndarray  # band b holds rows bounds[b] .. bounds[b + 1]


@dataclasses.dataclass
class FitSample:
    """The pixels a predictor is fitted on, per plane kind, and the activity band edges.

    It depends only on ``planes.values``, so the lossless encoder's two fits share one sample.
    """

    kinds: list[BandSample]
    edges: np.ndarray

    @property
    def bands(self) -> int:
        return 3 * (len(self.edges) + 1)

    @classmethod
    def of(cls, planes: SlabPlanes, rng: np.random.Generator) -> "FitSample":
        kinds = plane_kinds(planes)
        positions = [p if len(p) <= 1 << 17 else np.sort(rng.choice(p, 1 << 17, replace=False)) for p, _ in kinds]
        contexts = [known_context(planes, p, has_previous) for p, (_, has_previous) in zip(positions, kinds)]
        activity_bands = predictor_bands(sum(len(p) for p, _ in kinds))
        quantiles = np.arange(1, activity_bands) / activity_bands
        edges = np.unique(np.quantile(contexts[0].activity, quantiles).astype(np.int64))
        fit = cls([], edges)
        for sample, context in zip(positions, contexts):
            band = context.band(edges)
            order = np.argsort(band, kind="stable")  # each band's pixels in slab order, as a mask would give them
            bounds = np.searchsorted(band[order], np.arange(fit.bands + 1))
            fit.kinds.append(BandSample(sample[order], context.design[order], context.reference[order], bounds))
        return fit


class KnownContext(NamedTuple):
    """Known pixels' float32 relative contexts, references, activities and gradient directions."""

    design: np.ndarray
    reference: np.ndarray
    activity: np.ndarray
    direction: np.ndarray

    def band(self, edges: np.ndarray) -> np.ndarray:
        """:func:`.context_model.band_of` of each pixel."""
        return band_index(edges, self.activity, self.direction)


def known_context(planes: SlabPlanes, positions: np.ndarray, has_previous: bool) -> KnownContext:
    """What :meth:`SlabPlanes.value_context` gives of pixels whose neighbours are known, computed by the compiled
    core (a fit's sample in a few ms)."""
    return KnownContext(*adaptive_core.value_contexts(
        planes.values, planes.inside, planes.interior, positions, has_previous, planes.plane_size, planes.offsets,
        planes.previous, planes.named, planes.gradient_pairs, planes.mid))


def fit_predictor(planes: SlabPlanes, rng: np.random.Generator, targets: np.ndarray | None = None,
                  confidence: np.ndarray | None = None, sample: FitSample | None = None,
                  start: LinearPredictor | None = None, band_sample: int = FIT_SAMPLE) -> LinearPredictor:
    """Coefficients per predictor band, fitted on a sample of the slab's pixels.

    The contexts come from ``planes.values``; ``targets`` (default: the same values) are the pixels
    to predict, the originals when the contexts are near-lossless reconstructions.  ``confidence``
    (by position, default 1) weighs each pixel's error in the fit (:func:`scale_confidence`).
    ``sample`` (default: drawn from ``rng``) must have been drawn from the current ``planes.values``;
    each band fits at most ``band_sample`` of its pixels.  ``start``: a fit on the same sample whose
    reweighting rounds this one continues (band by band) instead of starting from least squares.
    """
    targets = planes.values if targets is None else targets
    confidence = np.ones(len(planes.values)) if confidence is None else confidence
    sample = FitSample.of(planes, rng) if sample is None else sample
    coefficients = []
    starts = [None, None] if start is None else [start.first, start.later]
    for kind, started in zip(sample.kinds, starts):
        target = targets[kind.positions] - kind.reference
        weight = confidence[kind.positions]
        coefficients.append(np.stack([
            fit_linear(kind.design[a:b], target[a:b], rng, weight[a:b], band_sample,
                       None if started is None or not started[band].any() else started[band])
            for band, (a, b) in enumerate(zip(kind.bounds[:-1], kind.bounds[1:]))]))
    if len(coefficients) == 1:
        later = coefficient_counts(planes.causal.size)[1]
        coefficients.append(np.zeros((sample.bands, later), dtype=np.int64))
    return LinearPredictor(sample.edges, *coefficients)


def scale_confidence(planes: SlabPlanes, positions: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """1 / the predicted Laplace scale of the first-plane pixels at ``positions``, 1 elsewhere.

    A Laplace residual costs |r| / scale bits (up to a constant), so a predictor fitted with these
    weights minimises the code length rather than letting the noisiest pixels pick the coefficients
    (ct_693 -3%, near-lossless up to -10%).  Scales under one grey level count as one.  Later
    planes keep the plain fit: weighted, the small MR volumes came out slightly larger (example4d +0.3%).
    """
    confidence = np.ones(len(planes.values))
    first = positions < planes.plane_size
    confidence[positions[first]] = 2.0 ** (-np.maximum(levels[first], 0) / LOG_UNIT)
    return confidence


def run_core(mode: int, planes: SlabPlanes, predictor: LinearPredictor, weights: ScaleWeights, step: int,
             original: np.ndarray | None = None, data: np.ndarray | None = None, planes_coded: int | None = None,
             version: int = CHUNK_VERSION) -> tuple[bytes, np.ndarray]:
    """One pass of the compiled core over the slab's first ``planes_coded`` (default: all) planes
    (:func:`.adaptive_core.code_slab`): the coded bytes (when encoding ``original``) and every pixel's scale
    level in slab order; ``planes.values`` ends holding the decoded pixels, ``planes.errors`` their errors.
    A stream that runs out before its pixels do is refused."""
    coded = planes.planes if planes_coded is None else planes_coded
    shape = np.array([coded, planes.rows, planes.cols, planes.plane_size, planes.width, planes.top,
                      planes.left], dtype=np.int64)
    levels = np.empty(coded * planes.rows * planes.cols, dtype=np.int64)
    words, read = adaptive_core.code_slab(
        mode, planes.values, planes.values if original is None else original, planes.errors, levels, planes.inside,
        planes.interior, shape, planes.offsets, planes.named, planes.gradient_pairs, planes.previous,
        predictor.edges, predictor.first, predictor.later, weights.first, weights.later, log_table(),
        planes.max_value.bit_length(), step, np.zeros(0, np.uint8) if data is None else data, version)
    if data is not None and read > len(data):
        raise CodecError(f"learned-lossless chunk is damaged: its coded stream ({len(data)} bytes) ends before "
                         f"the {planes.planes}x{planes.rows}x{planes.cols} pixels it declares")
    return words.tobytes(), levels


def encode_compiled(planes: SlabPlanes, weights: ScaleWeights, step: int) -> tuple[LinearPredictor, bytes]:
    """Fit, predict every pixel once, refit weighted by the scales that pass gives (:func:`scale_confidence`), code.

    Lossless, the first fit needs only a few thousand pixels per band (it gives the scales and a start),
    the pass only the first plane (the only one weighted), and the refit continues the first fit's
    reweighting rounds on the same sample (training pool -0.6 %, as much as eight rounds from scratch).
    Near-lossless, the refit reads the first pass's reconstructed neighbourhoods (they carry the
    quantisation noise the decoder will see) and predicts the original pixels.  ``planes.values``
    ends holding the decoded pixels.
    """
    original = planes.values.copy()
    sample = FitSample.of(planes, np.random.default_rng(SEED))
    lossless = step == 1
    coded = 1 if lossless else planes.planes
    predictor = fit_predictor(planes, np.random.default_rng(SEED), sample=sample,
                              band_sample=FIRST_FIT_SAMPLE if lossless else FIT_SAMPLE)
    _, levels = run_core(adaptive_core.ANALYSE, planes, predictor, weights, step, original, planes_coded=coded)
    confidence = scale_confidence(planes, np.concatenate([planes.all_positions(k) for k in range(coded)]), levels)
    if lossless:
        predictor = fit_predictor(planes, np.random.default_rng(SEED), confidence=confidence, sample=sample,
                                  start=predictor)
    else:
        predictor = fit_predictor(planes, np.random.default_rng(SEED), original, confidence)
    words, _ = run_core(adaptive_core.ENCODE, planes, predictor, weights, step, original)
    return predictor, words


def analyse(planes: SlabPlanes, predictor: LinearPredictor) -> np.ndarray:
    """Every pixel known (the scale regression's training): Q12 predictions in slab order; fills ``planes.errors``."""
    fixed_points = []
    for positions, has_previous in plane_kinds(planes):
        for block in blocks(positions):
            fixed = predictor.fixed_point(planes.value_context(block, has_previous), has_previous)
            planes.errors[block] = np.abs(planes.values[block] - round_prediction(fixed, planes.max_value))
            fixed_points.append(fixed)
    return np.concatenate(fixed_points)


def digest(planes: SlabPlanes) -> bytes:
    return hashlib.blake2b(planes.view(planes.values).astype("<u4").tobytes(), digest_size=DIGEST_SIZE).digest()


@dataclasses.dataclass
class ValueRanks:
    """The values a slab uses, when coding their ranks is worth it."""

    used: np.ndarray  # sorted unique values
    max_value: int  # of the values before ranking

    @classmethod
    def worth_it(cls, image: np.ndarray, max_value: int) -> "ValueRanks | None":
        used = np.flatnonzero(np.bincount(image.ravel(), minlength=max_value + 1))  # a sort's result, without the sort
        return cls(used, max_value) if 2 * len(used) <= max_value + 1 else None

    @property
    def bits(self) -> int:
        return max(1, int(len(self.used) - 1).bit_length())

    def to_bytes(self) -> bytes:
        bitmap = np.zeros(self.max_value + 1, dtype=bool)
        bitmap[self.used] = True
        return zlib.compress(np.packbits(bitmap).tobytes(), 9)

    @classmethod
    def from_bytes(cls, data: bytes, max_value: int) -> "ValueRanks":
        try:
            bitmap = np.unpackbits(np.frombuffer(zlib.decompress(data), dtype=np.uint8))[:max_value + 1]
        except zlib.error as error:
            raise CodecError(f"learned-lossless value table is damaged ({error})") from None
        return cls(np.flatnonzero(bitmap), max_value)


@dataclasses.dataclass
class Palette:
    """The colours of an RGB slab, greys first, each group in (R, G, B) order.

    Grey ultrasound with coloured overlays then codes as its grey plane (index = rank among the greys)
    with the few colours above it, where the colour transform pays for two colour-difference planes.
    """

    colours: np.ndarray  # (n, 3) int64
    max_value: int

    @classmethod
    def of(cls, planes: np.ndarray, max_value: int) -> "Palette | None":
        """The palette of (slices * 3, rows, cols) planes, or None when they use more than ``MAX_PALETTE`` colours."""
        pixels = rgb_pixels(planes)
        keys, first = np.unique(cls.key(pixels, max_value), return_index=True)
        if not 0 < len(keys) <= MAX_PALETTE:
            return None
        colours = pixels[first]
        grey = np.ptp(colours, axis=1) == 0
        return cls(np.concatenate([colours[grey], colours[~grey]]), max_value)

    @staticmethod
    def key(pixels: np.ndarray, max_value: int) -> np.ndarray:
        """One integer per (R, G, B) row, in the same order."""
        shift = max_value.bit_length()
        return (pixels[:, 0] << (2 * shift)) | (pixels[:, 1] << shift) | pixels[:, 2]

    @property
    def bits(self) -> int:
        return max(1, int(len(self.colours) - 1).bit_length())

    def indices(self, planes: np.ndarray) -> np.ndarray:
        """(slices, rows, cols) palette indices of (slices * 3, rows, cols) planes."""
        keys = self.key(self.colours, self.max_value)
        order = np.argsort(keys)
        found = order[np.searchsorted(keys[order], self.key(rgb_pixels(planes), self.max_value))]
        return found.reshape(-1, *planes.shape[1:])

    def colour_planes(self, indices: np.ndarray) -> np.ndarray:
        """(slices * 3, rows, cols) planes from palette indices."""
        if indices.size and indices.max() >= len(self.colours):
            raise CodecError("learned-lossless palette is shorter than its indices (damaged data)")
        pixels = self.colours[indices]  # (slices, rows, cols, 3)
        return np.moveaxis(pixels, -1, 1).reshape(-1, *indices.shape[1:])

    def to_bytes(self) -> bytes:
        return zlib.compress(self.colours.astype(self.dtype(self.max_value)).tobytes(), 9)

    @classmethod
    def from_bytes(cls, data: bytes, max_value: int) -> "Palette":
        try:
            colours = np.frombuffer(zlib.decompress(data), cls.dtype(max_value)).astype(np.int64)
        except zlib.error as error:
            raise CodecError(f"learned-lossless palette is damaged ({error})") from None
        if colours.size == 0 or colours.size % 3 or colours.max() > max_value:
            raise CodecError("learned-lossless palette is damaged (wrong size or values)")
        return cls(colours.reshape(-1, 3), max_value)

    @staticmethod
    def dtype(max_value: int) -> str:
        return "u1" if max_value < 256 else "<u2"


def rgb_pixels(planes: np.ndarray) -> np.ndarray:
    """(pixels, 3) rows of (slices * 3, rows, cols) planes."""
    return np.moveaxis(planes.reshape(-1, 3, *planes.shape[1:]), 1, -1).reshape(-1, 3)


def _sections(parts: Sequence[bytes]) -> bytes:
    return b"".join(_U32.pack(len(p)) + p for p in parts)


@dataclasses.dataclass
class Chunk:
    flags: int
    max_error: int
    bits: int
    planes: int
    model: SlabModel
    sha: bytes
    table: bytes  # the used values (RANKED) or the palette (PALETTE)
    words: bytes
    digest: bytes
    context: CausalContext  # the predictor's neighbours: stored as its size, its rule given by the version
    version: int = CHUNK_VERSION
    size: tuple[int, int] | None = None  # rows and columns of its planes (from version 5)

    def to_bytes(self) -> bytes:
        classes, predictor = self.model.classes, self.model.predictor
        coefficients = [predictor.first] + ([predictor.later] if self.planes > 1 else [])
        body = (_HEAD.pack(self.version, self.flags, self.max_error, self.bits, self.planes, classes.width,
                           classes.lo, len(classes.scales)) + self.sha
                + (_SIZE.pack(*self.size) if self.version >= COMPILED else b"")
                + bytes([self.context.size, len(predictor.edges) + 1])
                + predictor.edges.astype("<i4").tobytes()
                + b"".join(c.astype("<i2").tobytes() for c in coefficients)
                + classes.scales.astype("<f2").tobytes() + classes.biases.astype("i1").tobytes()
                + np.packbits(classes.gaussian).tobytes()
                + (_sections([self.table]) if self.flags & TABLES else b"") + _sections([self.words]) + self.digest)
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Chunk":
        try:
            return cls._parse(data)
        except (ValueError, IndexError, struct.error):  # a length field that points past the end
            raise CodecError("learned-lossless chunk has the wrong layout (damaged data)") from None

    @classmethod
    def _parse(cls, data: bytes) -> "Chunk":
        if len(data) < _HEAD.size + SHA_PREFIX + DIGEST_SIZE + 2 * _U32.size:
            raise CodecError("learned-lossless chunk is truncated")
        body, (crc,) = data[:-_U32.size], _U32.unpack(data[-_U32.size:])
        if zlib.crc32(body) != crc:
            raise CodecError("learned-lossless chunk checksum mismatch: the chunk is damaged")
        version, flags, max_error, bits, planes, width, lo, count = _HEAD.unpack_from(body)
        if version not in READABLE_VERSIONS:
            raise CodecError(f"learned-lossless chunk version {version} is not supported (this build reads "
                             f"versions {', '.join(map(str, READABLE_VERSIONS))})")
        pos = _HEAD.size
        sha, pos = body[pos:pos + SHA_PREFIX], pos + SHA_PREFIX
        plane_size = None
        if version >= COMPILED:
            plane_size, pos = _SIZE.unpack_from(body, pos), pos + _SIZE.size
        context_size, bands = body[pos], body[pos + 1]
        if context_size not in CONTEXT_SIZES or bands == 0 or (version >= COMPILED and count):
            raise CodecError("learned-lossless chunk header is damaged (context size or band count)")
        edges = np.frombuffer(body, "<i4", bands - 1, pos + 2).astype(np.int64)
        pos += 2 + 4 * (bands - 1)
        first, later = coefficient_counts(context_size)
        coefficients = []
        for size in [first] + ([later] if planes > 1 else []):
            coefficients.append(np.frombuffer(body, "<i2", 3 * bands * size, pos).astype(np.int64).reshape(-1, size))
            pos += 2 * 3 * bands * size
        if len(coefficients) == 1:
            coefficients.append(np.zeros((3 * bands, later), dtype=np.int64))
        scales = np.frombuffer(body, "<f2", count, pos).astype(np.float16)
        biases = np.frombuffer(body, "i1", count, pos + 2 * count).astype(np.int8)
        pos += 3 * count
        gaussian = np.zeros(count, dtype=bool)
        if version >= 3:
            family_bytes = (count + 7) // 8
            gaussian = np.unpackbits(np.frombuffer(body, np.uint8, family_bytes, pos), count=count).astype(bool)
            pos += family_bytes
        sections = []
        while pos < len(body) - DIGEST_SIZE:
            (size,) = _U32.unpack_from(body, pos)
            sections.append(body[pos + _U32.size:pos + _U32.size + size])
            pos += _U32.size + size
        if pos != len(body) - DIGEST_SIZE or len(sections) != 1 + bool(flags & TABLES) or width == 0:
            raise CodecError("learned-lossless chunk has the wrong layout (damaged data)")
        model = SlabModel(LinearPredictor(edges, *coefficients), ScaleClasses(width, lo, scales, biases, gaussian),
                          2 * max_error + 1, censored=version >= 2)
        table = sections[0] if flags & TABLES else b""
        return cls(flags, max_error, bits, planes, model, sha, table, sections[-1], body[-DIGEST_SIZE:],
                   chunk_context(version, context_size), version, plane_size)


def scale_weights_from(state: Any, path: Any) -> ScaleWeights:
    """The two scale regressions of a ``learned_lossless`` state dict, or an error naming the file."""
    try:
        first, later = (state[key].numpy().astype(np.int64) for key in ("scale_first", "scale_later"))
    except (KeyError, AttributeError, TypeError):
        first = later = np.zeros(0, dtype=np.int64)
    if first.shape != (SCALE_FEATURES_2D + 1,) or later.shape != (SCALE_FEATURES_3D + 1,):
        raise MissingWeightsError(f"the {BUNDLE} weights at {path} do not fit this codec version "
                                  f"(expected scale_first and scale_later of {SCALE_FEATURES_2D + 1} and "
                                  f"{SCALE_FEATURES_3D + 1} values)")
    return ScaleWeights(first, later)


@register
class LearnedLosslessCodec(ErrorBoundKnob, BundleWeights, Codec):
    """Lossless (or |error| <= max_error) coding of slabs: fitted prediction, learned scale contexts, and
    distributions learned pixel by pixel in a compiled core."""

    name = "learned-lossless"
    bundle_name = BUNDLE
    lossless = True
    slab_size = 32  # adaptive models and inter-slice context gain up to 32 slices (mni152_t1 -3 % against 8)
    knob = Knob("max_error", 0, 255, higher_is_better=False,
                description="largest allowed |error| per pixel; 0 is lossless")
    description = ("lossless / near-lossless: least-squares context prediction with inter-slice context, "
                   "learned scale contexts, adaptive binary models mixed per pixel, range coding (numba core)")

    @property
    def version(self) -> str:
        return f"chunk {CHUNK_VERSION}, numba {importlib.metadata.version('numba')}"

    def default_params(self) -> dict[str, Any]:
        return {self.knob.name: 0, "slab": self.slab_size}

    def slices_per_chunk(self, params: dict[str, Any]) -> int:
        """``slab`` slices per chunk share inter-slice context; 1 codes every slice on its own."""
        slab = params.get("slab", self.slab_size)
        if not isinstance(slab, int) or not 1 <= slab <= MAX_SLAB:
            raise CodecError(f"learned-lossless slab must be an integer from 1 to {MAX_SLAB}, got {slab!r}")
        return slab

    def scale_weights(self, sha_prefix: bytes | None = None) -> tuple[ScaleWeights, bytes]:
        """The bundle's scale regression; with ``sha_prefix``, refuse weights other than the recorded ones."""
        scale, found = self.loaded_weights(scale_weights_from, sha_prefix)
        return scale, bytes.fromhex(found.sha256)[:SHA_PREFIX]

    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        max_error = self.knob_value(params)
        if max_error < 0:
            raise CodecError(f"max_error must be >= 0, got {max_error}")
        weights, sha = self.scale_weights()
        return min((self.encode_prepared(prepared, weights, sha) for prepared in preparations(slab, fmt, max_error)),
                   key=len)

    def encode_prepared(self, prepared: "PreparedSlab", weights: ScaleWeights, sha: bytes) -> bytes:
        max_error = prepared.max_error
        planes = SlabPlanes(*prepared.image.shape, prepared.bits)
        planes.fill(prepared.image)
        # The engine already codes slabs in parallel; BLAS threads on top only fight for the cores.
        with threadpool_limits(limits=1, user_api="blas"):
            predictor, words = encode_compiled(planes, weights, 2 * max_error + 1)
        model = SlabModel(predictor, NO_CLASSES, 2 * max_error + 1)
        chunk = Chunk(prepared.flags, max_error, prepared.bits, planes.planes, model, sha, prepared.table(), words,
                      digest(planes), planes.causal, size=(planes.rows, planes.cols))
        return chunk.to_bytes()

    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        chunk = Chunk.from_bytes(data)
        expected_planes = int(shape[0]) * (1 if chunk.flags & PALETTE else fmt.channels)
        if chunk.planes != expected_planes or not 1 <= chunk.bits <= 17:
            raise CodecError("learned-lossless chunk header does not match the image (damaged data)")
        if chunk.size is not None and chunk.size != (int(shape[1]), int(shape[2])):
            raise CodecError(f"learned-lossless chunk holds {chunk.size[0]}x{chunk.size[1]} planes but the file "
                             f"header says {int(shape[1])}x{int(shape[2])} (damaged data)")
        weights, _ = self.scale_weights(chunk.sha)
        planes = SlabPlanes(chunk.planes, int(shape[1]), int(shape[2]), chunk.bits, chunk.context)
        if chunk.version >= COMPILED:
            run_core(adaptive_core.DECODE, planes, chunk.model.predictor, weights, chunk.model.step,
                     data=np.frombuffer(chunk.words, np.uint8).copy(),  # writable: the encoder's array type
                     version=chunk.version)
        else:
            decode_wavefronts(chunk, planes, weights)
        if digest(planes) != chunk.digest:
            raise CodecError("learned-lossless decoded pixels differ from the encoder's (digest mismatch): this "
                             "machine computes the model differently or the chunk was altered")
        image = planes.view(planes.values)
        colour = bool(chunk.flags & COLOUR_TRANSFORM)
        if chunk.flags & RANKED:
            image = ValueRanks.from_bytes(chunk.table, (1 << value_bits(fmt, colour)) - 1).used[image]
        if colour:
            image = inverse_colour_transform(image, fmt.max_value)
        if chunk.flags & PALETTE:
            image = Palette.from_bytes(chunk.table, fmt.max_value).colour_planes(image)
        return from_planes(image, shape, fmt)


def decode_wavefronts(chunk: Chunk, planes: SlabPlanes, weights: ScaleWeights) -> None:
    """Chunks of versions 1 to 4: ANS-coded symbols, decoded one wavefront at a time."""
    decoder = constriction.stream.stack.AnsCoder(np.frombuffer(chunk.words, "<u4").astype(np.uint32))
    families = chunk.model.ans_models(planes.max_value)

    def settle(positions: np.ndarray, fixed: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prediction, offsets, distributions = chunk.model.symbol_distribution(fixed, levels, planes.max_value)
        symbols = ans_read(decoder, families, distributions) - offsets
        return clamp(prediction + symbols * chunk.model.step, 0, planes.max_value), prediction

    run_schedule(planes, chunk.model.predictor, weights, settle)


@dataclasses.dataclass
class PreparedSlab:
    """The planes the model codes, their bit depth, and how to undo the preparation."""

    image: np.ndarray
    bits: int
    colour: bool
    ranks: "ValueRanks | None"
    palette: "Palette | None" = None
    max_error: int = 0

    @property
    def flags(self) -> int:
        return ((RANKED if self.ranks is not None else 0) | (COLOUR_TRANSFORM if self.colour else 0)
                | (PALETTE if self.palette is not None else 0))

    def table(self) -> bytes:
        """The value table the chunk carries (used values or palette), if any."""
        for table in (self.ranks, self.palette):
            if table is not None:
                return table.to_bytes()
        return b""


def preparations(slab: np.ndarray, fmt: PixelFormat, max_error: int) -> list[PreparedSlab]:
    """The ways of coding a slab worth trying: :func:`prepare`'s; palette indices for lossless RGB with few colours;
    and, near-lossless, the lossless ranks of a sparse histogram, exact and so within any bound (8-bit data
    stored in 16 bits: us_aloka_16bit at D = 2 is 5.2 bpp near-lossless, 1.4 bpp lossless)."""
    options = [prepare(slab, fmt, max_error)]
    if max_error > 0:
        exact = prepare(slab, fmt, 0)
        if exact.ranks is not None:
            options.append(exact)
    if fmt.channels == 3 and max_error == 0:
        planes = as_planes(slab, fmt)
        palette = Palette.of(planes, fmt.max_value)
        if palette is not None:
            options.append(PreparedSlab(palette.indices(planes), palette.bits, False, None, palette))
    return options


def prepare(slab: np.ndarray, fmt: PixelFormat, max_error: int) -> PreparedSlab:
    """The planes the model codes: colour-transformed when lossless RGB, ranked when that pays."""
    image = as_planes(slab, fmt)
    colour = fmt.channels == 3 and max_error == 0  # a per-channel error bound needs the RGB planes
    if colour:
        image = colour_transform(image, fmt.max_value)
    bits = value_bits(fmt, colour)
    ranks = ValueRanks.worth_it(image, (1 << bits) - 1) if max_error == 0 else None
    if ranks is not None:
        image, bits = np.searchsorted(ranks.used, image), ranks.bits
    return PreparedSlab(image, bits, colour, ranks, max_error=max_error)


def value_bits(fmt: PixelFormat, colour: bool) -> int:
    """Bits of the coded values: one more for the colour-difference planes."""
    return fmt.bits + 1 if colour else fmt.bits


def colour_transform(planes: np.ndarray, max_value: int) -> np.ndarray:
    """JPEG 2000's reversible colour transform on (R, G, B) planes: Y, B - G and R - G (made non-negative).

    Grey pixels have zero colour differences, so the difference planes of grey-looking colour data
    (ultrasound with coloured overlays) cost almost nothing.
    """
    r, g, b = (planes.reshape(-1, 3, *planes.shape[1:])[:, k] for k in range(3))
    luma = (r + 2 * g + b) >> 2
    return np.stack([luma, b - g + max_value, r - g + max_value], axis=1).reshape(planes.shape)


def inverse_colour_transform(planes: np.ndarray, max_value: int) -> np.ndarray:
    luma, blue, red = (planes.reshape(-1, 3, *planes.shape[1:])[:, k] for k in range(3))
    blue, red = blue - max_value, red - max_value
    g = luma - ((blue + red) >> 2)
    return np.stack([red + g, g, blue + g], axis=1).reshape(planes.shape)


def as_planes(slab: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """(slices * channels, rows, cols) int64 planes in coding order: slice by slice, channel by channel."""
    slab = np.asarray(slab)
    if slab.dtype.kind not in "ui":
        raise UnsupportedDataError(f"learned-lossless codes integer pixels, not {slab.dtype.name} data")
    image = slab.astype(np.int64)
    if image.size and (image.min() < 0 or image.max() > fmt.max_value):
        raise UnsupportedDataError(f"learned-lossless got pixels outside 0..{fmt.max_value} for {fmt.bits}-bit data")
    if fmt.channels == 3:
        image = np.moveaxis(image, -1, 1).reshape(-1, image.shape[1], image.shape[2])
    return image


def from_planes(image: np.ndarray, shape: Sequence[int], fmt: PixelFormat) -> np.ndarray:
    if fmt.channels == 3:
        image = np.moveaxis(image.reshape(int(shape[0]), 3, int(shape[1]), int(shape[2])), 1, -1)
    return image.reshape(tuple(shape)).astype(fmt.dtype)


def compile_core() -> None:
    """Compile the numba core now, through a round trip of a small slab, so that numba's cache holds it before
    the first real compression (``make install`` runs this; otherwise the first use compiles it)."""
    codec, fmt = LearnedLosslessCodec(), PixelFormat(bits=8)
    image = (np.arange(2 * 48 * 40).reshape(2, 48, 40) * 7 % 251).astype(np.uint8)
    for max_error in (0, 1):
        data = codec.encode(image, fmt, {"max_error": max_error})
        decoded = codec.decode(data, image.shape, fmt, {})
        if np.abs(decoded.astype(np.int64) - image).max() > max_error:
            raise CodecError("the compiled learned-lossless core does not round-trip on this machine")
