"""The compiled core of ``learned-lossless`` chunk versions 5 to 7: one pass per slab, pixel by pixel.

Each pixel is predicted as in :mod:`.context_model` (the slab's least-squares coefficients per
band, on the causal neighbours and the previous plane's 3x3, relative to the median reference) and
gets the learned scale level of its neighbourhood.  Its residual (or, near-lossless, its quantised
residual) is binarised (zero?, sign, the octave of its magnitude in unary, the bits below the
leading one; a sign or octave the pixel's range rules out is not coded) and every decision is coded
with a probability learned while coding, pixel by pixel, instead of a Laplace or Gaussian fitted
and stored per slab.  Four adaptive models give a probability for each decision, chosen by the
decision and by four views of the pixel: the learned scale level, the nearest four errors, the
local gradients, and which of the five nearest neighbours lie above, at or below the prediction
(the zero flag also sees how far the prediction is from an integer, the sign which way it was
rounded and the signs of the left and upper errors).  A logistic mixer, one per kind of decision,
weighs the four by how well each has done (the stretch / squash of PAQ-class coders, in integer
tables).  A model's probability moves by 1 / (n + 2) after its first n decisions, then at
two fixed rates averaged (fast and slow), so a rare context learns quickly and a frequent one settles.

Measured on the training pool against one model per scale context: two fixed rates and the count
warm-up -1.7 %, the second and third model mixed -2.3 %, the sign contexts -0.5 %, then the
neighbour pattern -2.0 % (exact equality matters: patterns with a tolerance, or against the median
reference, gain less).  Tried and left out: a model on the previous plane's errors (-0.1 %), one on
the farther and previous-plane neighbours' pattern (-0.15 %), secondary estimation of the mixed
probability (-0.2 %), CALIC-style bias cancellation per band and texture (worse), an online NLMS
stage on the least-squares prediction (worse), blending it with other predictors by their recent
errors (+0.7 %), finer or two-dimensional scale contexts (worse: too few pixels per context).

Version 6 (training pool -2.4 % against version 5, both with the current encoder) adds four things:
a fifth view, how far the least-squares prediction lies from the median reference in quarter octaves
(-0.58 %: where two predictors disagree the pixel is harder); the octave coded from the octave of the
pixel's scale level, first whether it reaches that start, then in unary up or down from it, instead of
in unary from zero (-0.27 %, and fewer decisions on noisy images: cr_rg1's coding pass -9 %); the
bits below the two mixed ones coded at one half instead of by adaptive models (0.0 %, cr_rg1 -18 %);
and, lossless, CALIC's binary mode: where the six nearest neighbours hold at most two values (text,
graphics, flat background), whether the pixel is the left neighbour's value, then the other one's,
before the residual is coded (-1.5 %; us_palette -10 %, us_8bit -2.7 %).  Version 5 chunks decode
through the same loop with four views, no binary mode, the octave from zero and the lower bits' models.

Version 7 (training pool -0.80 %, lossless) changes two things.  The third view is the predicted value's
top 8 bits (all of them in 8-bit data) instead of the local gradients, which the scale level already
sees: noise that grows with the signal, and histograms with gaps, such as 8-bit ultrasound whose grey
map skips values (us_8bit, an evaluation image, -5.8 %).  And the binary mode remembers, for each
arrangement of the 24 nearest neighbours, the value that followed it last (a hashed table): its decisions
see whether that value is the one in question, so repeated glyphs and graphics cost fewer bits (-0.28 %,
us_palette -1.9 %; keyed on 6 or 12 neighbours -0.16 % and -0.23 %).  With the memory, 64 intensity
contexts gave -0.47 % in all, 128 -0.60 %, 256 -0.80 % and 1,024 -0.77 %.  The memory costs only where
the binary mode runs (us_8bit decodes about 7 % slower).  The bits below the two mixed ones, still at one
half, are coded up to eight at a time (:func:`encode_direct`): the same size, cr_rg1 codes about 5 % faster.

Why a hand-written binary range coder (the LZMA scheme, 32-bit range, carry through a cached
byte) rather than constriction: the probability of each decision depends on the decision before,
so the coder must be called once per binary decision from inside the compiled loop, and
constriction has no entry point that compiled (numba) code can call.

Everything is integer arithmetic on decoded pixels, so every machine and thread count decodes the
same pixels; the chunk's digest checks it.  numba compiles these functions on first use and keeps
the machine code in its cache.  The coding helpers are inlined into the slab loop and the encoder
grows its output once per pixel rather than returning it from every decision (ct_693: decode 83 ->
67 ms, the coding pass 94 -> 73 ms; the bytes are the same).
"""

from __future__ import annotations

import numba
import numpy as np

from .context_model import BAND_STATISTICS

PROBABILITY_BITS = 16
ONE = 1 << PROBABILITY_BITS
MIN_PROBABILITY = 32  # no decision costs more than 11 bits
FAST_RATE, SLOW_RATE = 5, 8  # shifts of the two settled adaptation rates: 2**-5 and 2**-8
WARM_UP = 1 << SLOW_RATE  # decisions counted with rate 1 / (n + 2) before the fixed rates take over
SCALE_CONTEXTS = 64
SCALE_CONTEXT_WIDTH = 4  # scale levels (1/8 octave) per context: half an octave
SCALE_CONTEXT_OFFSET = 40  # level -40 (scale 2**-5) is context 0
LOCAL_WIDTH = 4  # the error and gradient contexts: half an octave each
PATTERN_NEIGHBOURS = 5  # W, N, NW, NE, WW against the prediction: 3**5 patterns per quarter of the scale levels
INTENSITY_CONTEXTS = 256  # the predicted value's top 8 bits (all of them in 8-bit data)
# each view's models are a band of rows of one table: the scale level, nearest errors and gradients have 64
# contexts each, the pattern 4 * 3**5, the disagreement 64 and the intensity 256
NEAR_ROWS, GRADIENT_ROWS, PATTERN_ROWS = SCALE_CONTEXTS, 2 * SCALE_CONTEXTS, 3 * SCALE_CONTEXTS
DISAGREEMENT_ROWS = PATTERN_ROWS + 4 * 3 ** PATTERN_NEIGHBOURS
INTENSITY_ROWS = DISAGREEMENT_ROWS + SCALE_CONTEXTS
MODEL_ROWS = INTENSITY_ROWS + INTENSITY_CONTEXTS
TOP_RANGE = 1 << 24
PIXEL_ROOM = 256  # bytes: a pixel codes at most 2 + 2 * 18 decisions of at most 11 bits each
REACHES, UP, DOWN, DONE = 0, 1, 2, 3  # the octave's decisions (version 5 starts at 0 and goes UP)
ENCODE, DECODE, ANALYSE = 0, 1, 2  # ANALYSE: the pixels, errors and levels of ENCODE, without coding
# the binary mode's memory (version 7): the value last seen after each arrangement of the 24 nearest neighbours,
# in a table of 2**16 hashed arrangements, each with a second hash that checks it
MEMORY_BITS = 16
MEMORY_NEIGHBOURS = 24
# random odd multipliers (below 2**31) of the neighbours' relative values and of the reference: the key's, the
# check's.  Part of the format: a chunk's memory slots depend on them.
KEY_MULTIPLIERS, CHECK_MULTIPLIERS = np.array([
    [0x78f2a545, 0x500320d5, 0x5793354b, 0x72d7e6df, 0x4a057cb1, 0x6349ab2f, 0x6ab513a1, 0x1cd396d5, 0x071ba8a3,
     0x266bd94d, 0x247d139b, 0x6fd0996b, 0x74d0d639, 0x00ac8893, 0x3ff9036f, 0x691e0347, 0x10d30caf, 0x66065efd,
     0x0f3e1c91, 0x3be54ae3, 0x6881ee25, 0x26c9c43d, 0x2bb9a943, 0x23a37351, 0x5c179f79],
    [0x209f910f, 0x7ec762c9, 0x38f842a9, 0x3d33fb8f, 0x4095098f, 0x4a90c447, 0x46d90051, 0x413591b5, 0x7f6c8da5,
     0x676186b1, 0x6575f21d, 0x59a297db, 0x4fa391a9, 0x2ba6bcb7, 0x7e963f01, 0x3bad70f5, 0x1b8f3c45, 0x6c2bd291,
     0x1481d3f3, 0x6dc0e5b7, 0x4e67b29f, 0x0eaeee0d, 0x059fe447, 0x38edda05, 0x04912bdf]], dtype=np.int64)
BINARY_SLOTS = 9  # three decisions, each seen with three states of the memory


SQUASH_KNOTS = np.array([1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348,
                         3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094], dtype=np.int64)
MIXER_SHIFT = 11  # the mixer learns at 2**-11 of input times error
# models mixed per decision: scale level, nearest errors, gradients, neighbour pattern (version 5 mixes these
# four) and the least-squares prediction's distance from the median reference
VERSION_5_VIEWS, VIEWS = 4, 5


@numba.njit(cache=True, inline="always")
def squash(d: int) -> int:
    """4096 / (1 + e**-(d / 256)) by interpolation between integer knots."""
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    i = (d >> 7) + 16
    return (SQUASH_KNOTS[i] * (128 - w) + SQUASH_KNOTS[i + 1] * w + 64) >> 7


def stretch_table() -> np.ndarray:
    """The inverse of :func:`squash` over 12-bit probabilities (integers only, so the same on every machine)."""
    table = np.full(4096, 2047, dtype=np.int64)
    start = 0
    for d in range(-2047, 2048):
        value = squash.py_func(d)  # plain Python: importing the module compiles nothing
        table[start:value + 1] = d
        start = max(start, value + 1)
    return table


STRETCH = stretch_table()


@numba.njit(cache=True, inline="always")
def mixed_probability(table: np.ndarray, views: np.ndarray, slot: int, weights: np.ndarray,
                      inputs: np.ndarray) -> int:
    """P(bit = 1) in 1 / 4096: the stretched probabilities of the decision's model in each view, mixed."""
    count = len(views)
    dot = 256 * weights[count]  # the constant input
    inputs[count] = 256
    for k in range(count):
        inputs[k] = STRETCH[probability(table[views[k], slot]) >> 4]
        dot += weights[k] * inputs[k]
    return squash(dot >> 16)


@numba.njit(cache=True, inline="always")
def train_mixer(weights: np.ndarray, inputs: np.ndarray, p12: int, bit: int) -> None:
    error = (bit << 12) - p12
    for i in range(len(inputs)):
        weights[i] += (inputs[i] * error) >> MIXER_SHIFT


@numba.njit(cache=True, inline="always")
def clamped(p: int) -> int:
    """``p`` (in 1 / 65536) kept where no decision costs more than 11 bits."""
    return min(max(p, MIN_PROBABILITY), ONE - MIN_PROBABILITY)


@numba.njit(cache=True, inline="always")
def probability(model: np.ndarray) -> int:
    """P(bit = 1) in 1 / 65536, the mean of the fast and slow estimates."""
    return clamped((model[0] + model[1]) >> 1)


@numba.njit(cache=True, inline="always")
def adapt(model: np.ndarray, bit: int) -> None:
    target = ONE if bit else 0
    n = model[2]
    if n < WARM_UP:
        model[0] += (target - model[0]) // min(n + 2, 1 << FAST_RATE)
        model[1] += (target - model[1]) // (n + 2)
        model[2] = n + 1
    else:
        model[0] += (target - model[0]) >> FAST_RATE
        model[1] += (target - model[1]) >> SLOW_RATE


@numba.njit(cache=True)
def shift_low(state: np.ndarray, out: np.ndarray) -> None:
    """Move the top byte of ``low`` out, resolving a pending carry (the LZMA range encoder's ShiftLow).

    ``state``: low, range, cache, cache size, bytes written.  ``out`` has room (:func:`with_room`).
    """
    low = state[0]
    if low < 0xFF000000 or low >= (1 << 32):
        carry = low >> 32
        temp = state[2]
        while True:
            out[state[4]] = (temp + carry) & 0xFF
            state[4] += 1
            temp = 0xFF
            state[3] -= 1
            if state[3] == 0:
                break
        state[2] = (low >> 24) & 0xFF
    state[3] += 1
    state[0] = (low & 0x00FFFFFF) << 8


@numba.njit(cache=True, inline="always")  # once per pixel: no call unless the output grows
def with_room(state: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out``, grown if the bytes pending and those of one more pixel might not fit (a pixel's decisions write
    well under ``PIXEL_ROOM`` bytes)."""
    if state[4] + state[3] + PIXEL_ROOM <= len(out):
        return out
    grown = np.empty(2 * len(out) + state[3] + PIXEL_ROOM, dtype=np.uint8)
    grown[:state[4]] = out[:state[4]]
    return grown


@numba.njit(cache=True, inline="always")
def encode_with(state: np.ndarray, out: np.ndarray, p: int, bit: int) -> None:
    bound = (state[1] >> PROBABILITY_BITS) * clamped(p)
    if bit:
        state[1] = bound
    else:
        state[0] += bound
        state[1] -= bound
    renormalise(state, out)


@numba.njit(cache=True, inline="always")
def renormalise(state: np.ndarray, out: np.ndarray) -> None:
    """Shift bytes out while the range is below 2**24."""
    while state[1] < TOP_RANGE:
        state[1] <<= 8
        shift_low(state, out)


@numba.njit(cache=True, inline="always")
def encode_bit(state: np.ndarray, out: np.ndarray, model: np.ndarray, bit: int) -> None:
    encode_with(state, out, probability(model), bit)
    adapt(model, bit)


@numba.njit(cache=True, inline="always")
def encode_mixed(state: np.ndarray, out: np.ndarray, table: np.ndarray, views: np.ndarray, slot: int,
                 weights: np.ndarray, inputs: np.ndarray, bit: int) -> None:
    """Code ``bit`` with the mixed probability of the models ``table[views[k], slot]`` of the views ``k``."""
    p12 = mixed_probability(table, views, slot, weights, inputs)
    encode_with(state, out, p12 << 4, bit)
    learn(table, views, slot, weights, inputs, p12, bit)


@numba.njit(cache=True, inline="always")
def decode_bit(state: np.ndarray, data: np.ndarray, model: np.ndarray) -> int:
    """``state``: code, range, read position.  Bytes past the end read as 0; :func:`code_slab` stops there."""
    bit = decode_with(state, data, probability(model))
    adapt(model, bit)
    return bit


@numba.njit(cache=True, inline="always")
def decode_mixed(state: np.ndarray, data: np.ndarray, table: np.ndarray, views: np.ndarray, slot: int,
                 weights: np.ndarray, inputs: np.ndarray) -> int:
    p12 = mixed_probability(table, views, slot, weights, inputs)
    bit = decode_with(state, data, p12 << 4)
    learn(table, views, slot, weights, inputs, p12, bit)
    return bit


@numba.njit(cache=True, inline="always")
def learn(table: np.ndarray, views: np.ndarray, slot: int, weights: np.ndarray, inputs: np.ndarray, p12: int,
          bit: int) -> None:
    """After a mixed decision: the mixer and the decision's model in every view learn its outcome."""
    train_mixer(weights, inputs, p12, bit)
    for k in range(len(views)):
        adapt(table[views[k], slot], bit)


@numba.njit(cache=True, inline="always")
def encode_direct(state: np.ndarray, out: np.ndarray, value: int, count: int) -> None:
    """The ``count`` low bits of ``value`` at one half each, up to eight in one division of the range (LZMA
    codes its direct bits one by one): no branch to mispredict per random bit."""
    while count > 0:
        k = min(count, 8)
        count -= k
        part = state[1] >> k
        state[0] += ((value >> count) & ((1 << k) - 1)) * part
        state[1] = part
        renormalise(state, out)


@numba.njit(cache=True, inline="always")
def decode_direct(state: np.ndarray, data: np.ndarray, count: int) -> int:
    value = 0
    while count > 0:
        k = min(count, 8)
        count -= k
        part = state[1] >> k
        digit = min(state[0] // part, (1 << k) - 1)  # more only in a damaged stream
        state[0] -= digit * part
        state[1] = part
        value = (value << k) | digit
        refill(state, data)
    return value


@numba.njit(cache=True, inline="always")
def decode_with(state: np.ndarray, data: np.ndarray, p: int) -> int:
    bound = (state[1] >> PROBABILITY_BITS) * clamped(p)
    if state[0] < bound:
        state[1] = bound
        bit = 1
    else:
        state[0] -= bound
        state[1] -= bound
        bit = 0
    refill(state, data)
    return bit


@numba.njit(cache=True, inline="always")
def refill(state: np.ndarray, data: np.ndarray) -> None:
    """Read bytes into the code while the range is below 2**24 (the decoder's side of :func:`renormalise`)."""
    while state[1] < TOP_RANGE:
        state[1] <<= 8
        byte = data[state[2]] if state[2] < len(data) else 0
        state[0] = ((state[0] << 8) | byte) & 0xFFFFFFFF
        state[2] += 1


@numba.njit(cache=True, inline="always")
def median_reference(values: np.ndarray, inside: np.ndarray, interior: bool, pos: int, offsets: np.ndarray,
                     named: np.ndarray, mid: int) -> int:
    """The LOCO-I median edge detector with :mod:`.causal`'s border fallbacks."""
    w, n, nw = values[pos + offsets[named[0]]], values[pos + offsets[named[1]]], values[pos + offsets[named[2]]]
    reference = min(max(w + n - nw, min(w, n)), max(w, n))
    if not interior:
        has_w, has_n = inside[pos + offsets[named[0]]], inside[pos + offsets[named[1]]]
        if not has_w and has_n:
            reference = n
        elif has_w and not has_n:
            reference = w
        elif not has_w and not has_n:
            reference = mid
    return reference


@numba.njit(cache=True)
def fill_context(values: np.ndarray, inside: np.ndarray, interior: bool, pos: int, has_previous: bool,
                 plane_size: int, offsets: np.ndarray, previous: np.ndarray, reference: int,
                 relative: np.ndarray) -> int:
    """Neighbours - reference into ``relative`` (0 outside the image; the previous plane's 3x3 after the
    in-plane ones, the centre standing in for those outside); returns how many features it wrote."""
    size = len(offsets)
    for j in range(size):
        q = pos + offsets[j]
        relative[j] = values[q] - reference if interior or inside[q] else 0
    if not has_previous:
        return size
    centre = values[pos - plane_size]
    for j in range(len(previous)):
        q = pos + previous[j]
        relative[size + j] = (values[q] if inside[q] else centre) - reference
    return size + len(previous)


@numba.njit(cache=True, inline="always")
def band_and_gradients(relative: np.ndarray, pairs: np.ndarray, edges: np.ndarray, gradients: np.ndarray
                       ) -> tuple[int, int]:
    """:func:`.context_model.band_of` for one pixel, and its activity; fills ``gradients`` (W-NW, N-NW, NE-N,
    W-WW, N-NN)."""
    total = across = down = 0
    for j in range(5):
        gradients[j] = relative[pairs[0, j]] - relative[pairs[1, j]]
        magnitude = abs(gradients[j])
        total += magnitude * BAND_STATISTICS[j, 0]
        across += magnitude * BAND_STATISTICS[j, 1]
        down += magnitude * BAND_STATISTICS[j, 2]
    direction = 1 + (1 if down > 2 * across else 0) - (1 if across > 2 * down else 0)
    return 3 * np.searchsorted(edges, total, side="right") + direction, total


@numba.njit(cache=True, nogil=True)
def value_contexts(values: np.ndarray, inside: np.ndarray, interior: np.ndarray, positions: np.ndarray,
                   has_previous: bool, plane_size: int, offsets: np.ndarray, previous: np.ndarray,
                   named: np.ndarray, pairs: np.ndarray, mid: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a fit needs of known pixels: relative contexts (float32, exact for 17-bit values: the least-squares
    design), references, activities and gradient directions (:func:`band_and_gradients` without edges)."""
    features = len(offsets) + (len(previous) if has_previous else 0)
    design = np.empty((len(positions), features), dtype=np.float32)
    reference = np.empty(len(positions), dtype=np.int64)
    activity = np.empty(len(positions), dtype=np.int64)
    direction = np.empty(len(positions), dtype=np.int64)
    relative = np.zeros(features, dtype=np.int64)
    gradients = np.zeros(5, dtype=np.int64)
    no_edges = np.zeros(0, dtype=np.int64)
    for i in range(len(positions)):
        pos = positions[i]
        reference[i] = median_reference(values, inside, interior[pos], pos, offsets, named, mid)
        fill_context(values, inside, interior[pos], pos, has_previous, plane_size, offsets, previous, reference[i],
                     relative)
        direction[i], activity[i] = band_and_gradients(relative, pairs, no_edges, gradients)
        for j in range(features):
            design[i, j] = relative[j]
    return design, reference, activity, direction


@numba.njit(cache=True, inline="always")
def octave_of(symbol: int) -> int:
    """floor(log2(symbol)) of a positive symbol: the position of its leading one."""
    octave = 0
    while symbol >> (octave + 1):
        octave += 1
    return octave


@numba.njit(cache=True, inline="always")
def octave_decision(phase: int, j: int, octaves: int) -> tuple[int, int]:
    """The model slot and mixer set of the octave's next decision: does it reach the start octave ``j``
    (``REACHES``), is it above ``j`` (``UP``), or below it (``DOWN``)."""
    if phase == REACHES:
        return 2 * octaves + j, 7
    return (j, 2) if phase == UP else (octaves + j, 6)


@numba.njit(cache=True, inline="always")
def next_octave_decision(phase: int, j: int, bit: int) -> tuple[int, int]:
    """After a decision: up from the start if it reached it, else down from the one below; a 0 going up or
    down ends the code (``DONE``), and the octave is then ``j``."""
    if phase == REACHES:
        return (j, UP) if bit else (j - 1, DOWN)
    if not bit:
        return j, DONE
    return (j + 1, UP) if phase == UP else (j - 1, DOWN)


@numba.njit(cache=True, inline="always")
def memory_key(relative: np.ndarray, reference: int, count: int) -> tuple[int, int]:
    """The memory's slot for the values of the ``count`` nearest neighbours, and a second hash that checks it
    (a collision only costs bits: encoder and decoder make the same one).  Sums of independent products
    without overflow (25 products of values below 2**18 and multipliers below 2**31); the key is bits 16 to 31
    of its sum, which every lower bit of every product reaches."""
    if count == MEMORY_NEIGHBOURS:  # a constant trip count, which the compiler unrolls: a third of the time
        key, check = multiplied_sums(relative, MEMORY_NEIGHBOURS)
    else:
        key, check = multiplied_sums(relative, count)
    key += reference * KEY_MULTIPLIERS[MEMORY_NEIGHBOURS]
    check += reference * CHECK_MULTIPLIERS[MEMORY_NEIGHBOURS]
    return (key >> (32 - MEMORY_BITS)) & ((1 << MEMORY_BITS) - 1), check & 0xFFFFFFFF


@numba.njit(cache=True, inline="always")
def multiplied_sums(relative: np.ndarray, count: int) -> tuple[int, int]:
    key = check = 0
    for j in range(count):
        key += relative[j] * KEY_MULTIPLIERS[j]
        check += relative[j] * CHECK_MULTIPLIERS[j]
    return key, check


@numba.njit(cache=True, inline="always")
def binary_slot(decision: int, remembered: int, value: int) -> int:
    """The binary mode's model slot: its decision (the left value where the neighbours hold one value or two, the
    other one) and what the memory says of the value in question (nothing, the same, another)."""
    return 3 * decision + (0 if remembered < 0 else 1 if remembered == value else 2)


@numba.njit(cache=True, nogil=True)
def code_slab(mode: int, values: np.ndarray, original: np.ndarray, errors: np.ndarray, levels: np.ndarray,
              inside: np.ndarray, interior: np.ndarray, shape: np.ndarray, offsets: np.ndarray, named: np.ndarray,
              pairs: np.ndarray, previous: np.ndarray, edges: np.ndarray, first: np.ndarray, later: np.ndarray,
              scale_first: np.ndarray, scale_later: np.ndarray, log_table: np.ndarray, bits: int, step: int,
              data: np.ndarray, version: int) -> tuple[np.ndarray, int]:
    """Code (``ENCODE``: ``original`` into bytes) or decode (``DECODE``: ``data`` into ``values``) one slab.

    ``shape``: planes, rows, cols, plane size, padded width, top and left padding.  ``values`` ends
    holding the decoded (reconstructed) pixels in both modes, ``errors`` their |pixel - prediction|
    and ``levels`` each pixel's scale level (slab order).  ``step`` = 2 * max_error + 1.  Returns
    the coded bytes (empty unless encoding) and the bytes of ``data`` read.  A decoder never reads
    past the bytes the encoder wrote, so a decode that does stops at the end of that row: the
    stream is damaged or shorter than the pixels it claims, and the caller refuses it.
    """
    planes, rows, cols, plane_size, width, top, left = shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6]
    max_value = (1 << bits) - 1
    mid = 1 << (bits - 1)
    half = (step - 1) // 2
    octaves = bits + 1
    step_level = log_table[step - 1]  # 8 log2(step): the scale level of one quantisation step
    match_models, zero_models, sign_models, octave_models, mantissa_models, low_models = new_models(bits, mode != ANALYSE)
    relative = np.zeros(len(offsets) + len(previous), dtype=np.int64)
    gradients = np.zeros(5, dtype=np.int64)
    features = np.zeros(16, dtype=np.int64)
    views = np.zeros(VERSION_5_VIEWS if version == 5 else VIEWS, dtype=np.int64)
    inputs = np.zeros(len(views) + 1, dtype=np.int64)  # and a constant
    signs = np.zeros(len(values), dtype=np.int8)
    remembering = version >= 7 and step == 1 and mode != ANALYSE
    memory_value = np.zeros(1 << MEMORY_BITS if remembering else 1, dtype=np.int32)
    memory_check = np.full(len(memory_value), -1, dtype=np.int64)
    key = check = 0
    # weight sets: [0, distance] zero, [1, rounding] sign, [2, digit] octave, [3 + prefix, octave] mantissa,
    # from version 6 [6, digit] the octave's digits below its start, [7, start] its first digit, [8, slot] the
    # binary mode
    mixers = np.zeros((9, max(octaves, BINARY_SLOTS), len(inputs)), dtype=np.int64)
    mixers[:, :, :len(views)] = (1 << 16) // len(views)  # each view's stretch at an equal weight
    state = np.zeros(5, dtype=np.int64)
    out = np.empty(1 << 16, dtype=np.uint8)
    if mode != DECODE:
        state[1], state[3] = 0xFFFFFFFF, 1
    else:
        state[1] = 0xFFFFFFFF
        for _ in range(5):
            state[0] = ((state[0] << 8) | (data[state[2]] if state[2] < len(data) else 0)) & 0xFFFFFFFF
            state[2] += 1
    index = 0
    for plane in range(planes):
        has_previous = plane > 0
        coefficients = later if has_previous else first
        weights = scale_later if has_previous else scale_first
        for row in range(rows):
            for col in range(cols):
                pos = plane * plane_size + (row + top) * width + col + left
                inner = interior[pos]
                reference = median_reference(values, inside, inner, pos, offsets, named, mid)
                count = fill_context(values, inside, inner, pos, has_previous, plane_size, offsets, previous,
                                     reference, relative)
                band, activity = band_and_gradients(relative, pairs, edges, gradients)
                fixed = (reference << 12) + coefficients[band, count]
                for j in range(count):
                    fixed += relative[j] * coefficients[band, j]
                prediction = min(max((fixed + 2048) >> 12, 0), max_value)
                # the learned scale level (ScaleWeights.level of the same features)
                total12 = 0
                total = 0
                for j in range(len(offsets)):
                    e = errors[pos + offsets[j]]
                    total += e
                    if j < 12:
                        total12 += e
                for j in range(6):
                    features[j] = errors[pos + offsets[named[j]]]
                for j in range(5):
                    features[6 + j] = gradients[j]
                features[11], features[12] = total12, total
                used = 13
                if has_previous:
                    around = 0
                    for j in range(len(previous)):
                        around += errors[pos + previous[j]]
                    features[13] = errors[pos - plane_size]
                    features[14] = around
                    features[15] = values[pos - plane_size] - reference
                    used = 16
                level = weights[used]
                for j in range(used):
                    level += log_table[min(abs(features[j]), 1 << 17)] * weights[j]
                level >>= 8
                levels[index] = level
                index += 1
                if mode != ANALYSE:  # the views and ranges only matter to the coder
                    context = min(max((level + SCALE_CONTEXT_OFFSET) // SCALE_CONTEXT_WIDTH, 0), SCALE_CONTEXTS - 1)
                    near = features[0] + features[1] + features[2] + features[3]
                    # the views: scale level, nearest four errors, gradient activity (half octaves each; from version 7
                    # the predicted value instead), and the five nearest neighbours above, at or below the prediction
                    # with the scale level's quarter
                    views[0] = context
                    views[1] = NEAR_ROWS + min(log_table[min(near, 1 << 17)] // LOCAL_WIDTH, SCALE_CONTEXTS - 1)
                    if version >= 7:  # the predicted value (from version 7 in place of the gradients)
                        views[2] = INTENSITY_ROWS + ((prediction * INTENSITY_CONTEXTS) >> bits)
                    else:
                        views[2] = GRADIENT_ROWS + min(log_table[min(activity, 1 << 17)] // LOCAL_WIDTH, SCALE_CONTEXTS - 1)
                    pattern = context * 4 // SCALE_CONTEXTS
                    for j in range(PATTERN_NEIGHBOURS):
                        v = relative[named[j]] + reference
                        pattern = 3 * pattern + (2 if v > prediction else 1 if v == prediction else 0)
                    views[3] = PATTERN_ROWS + pattern
                    if version >= 6:  # how far the least-squares prediction strays from the median (quarter octaves)
                        disagreement = abs(fixed - (reference << 12)) >> 10
                        views[4] = DISAGREEMENT_ROWS + min(log_table[min(disagreement, 1 << 17)] // 2, SCALE_CONTEXTS - 1)
                    offset = fixed - (prediction << 12)
                    rounding = min(max((offset + 2048) >> 10, 0), 3)
                    distance = min(abs(offset) >> 9, 3)
                    # the sign also sees the signs of the left and upper neighbours' errors
                    sided = 9 * rounding + 3 * (signs[pos + offsets[named[0]]] + 1) + signs[pos + offsets[named[1]]] + 1
                    # the largest symbol each sign can reach from this prediction: a sign that cannot occur
                    # is not coded, and the octave's unary code stops at the largest octave left
                    below, above = (prediction + half) // step, (max_value - prediction + half) // step
                    # binary mode (from version 6, lossless): where the six nearest neighbours hold at most two values
                    # (text, graphics, flat background), whether the pixel is the left one's, then the other's
                    first_value = relative[named[0]] + reference
                    second_value = first_value
                    distinct = 1
                    for j in range(1, 6):
                        v = relative[named[j]] + reference
                        if v != first_value and v != second_value:
                            second_value = v if distinct == 1 else second_value
                            distinct += 1
                    binary = version >= 6 and step == 1 and distinct <= 2
                    remembered = -1  # version 7: the value that followed these neighbours last time
                    if remembering and binary:
                        key, check = memory_key(relative, reference, min(MEMORY_NEIGHBOURS, len(offsets)))
                        if memory_check[key] == check:
                            remembered = memory_value[key]
                matched = -1  # the neighbour value the binary mode gave the pixel
                # the symbol: encode (and analyse) quantise the known pixel, decode reads it bit by bit
                if mode != DECODE:
                    error = original[pos] - prediction
                    symbol = (abs(error) + half) // step
                    negative = 1 if error < 0 else 0
                if mode == ENCODE:
                    out = with_room(state, out)
                    for candidate in range(distinct if binary else 0):  # one call site: each one compiles inline
                        guess = first_value if candidate == 0 else second_value
                        slot = binary_slot(distinct - 1 if candidate == 0 else 2, remembered, guess)
                        hit = 1 if original[pos] == guess else 0
                        encode_mixed(state, out, match_models, views, slot, mixers[8, slot], inputs, hit)
                        if hit:
                            matched = guess
                            break
                    if matched >= 0:
                        symbol = 0
                    elif below or above:
                        encode_mixed(state, out, zero_models, views, distance, mixers[0, distance], inputs, 1 if symbol == 0 else 0)
                    if symbol:
                        if below and above:
                            encode_mixed(state, out, sign_models, views, sided, mixers[1, rounding], inputs, negative)
                        highest = octave_of(below if negative else above)
                        octave = octave_of(symbol)
                        start = min(max((level - step_level) >> 3, 0), highest) if version >= 6 else 0
                        j, phase = start, (REACHES if start else UP)
                        while phase != DONE and ((j < highest) if phase == UP else (j >= 1)):
                            if phase == REACHES:
                                bit = 1 if octave >= start else 0
                            else:
                                bit = 1 if (j < octave if phase == UP else octave < j) else 0
                            slot, kind = octave_decision(phase, j, octaves)
                            encode_mixed(state, out, octave_models, views, slot, mixers[kind, j], inputs, bit)
                            j, phase = next_octave_decision(phase, j, bit)
                        prefix = 0
                        for b in range(octave - 1, -1, -1):
                            bit = (symbol >> b) & 1
                            if octave - 1 - b < 2:
                                encode_mixed(state, out, mantissa_models, views, 3 * octave + prefix, mixers[3 + prefix, octave], inputs, bit)
                                prefix = 1 + bit
                            elif version == 5:
                                encode_bit(state, out, low_models[octave, b], bit)
                            elif version == 6:
                                encode_with(state, out, ONE // 2, bit)
                            else:  # the bits left, at one half each, in one step
                                encode_direct(state, out, symbol & ((1 << (b + 1)) - 1), b + 1)
                                break
                elif mode == DECODE:
                    symbol = 0
                    negative = 0
                    for candidate in range(distinct if binary else 0):
                        guess = first_value if candidate == 0 else second_value
                        slot = binary_slot(distinct - 1 if candidate == 0 else 2, remembered, guess)
                        if decode_mixed(state, data, match_models, views, slot, mixers[8, slot], inputs):
                            matched = guess
                            break
                    if matched < 0 and (below or above) and not decode_mixed(state, data, zero_models, views, distance, mixers[0, distance], inputs):
                        if below and above:
                            negative = decode_mixed(state, data, sign_models, views, sided, mixers[1, rounding], inputs)
                        else:
                            negative = 0 if above else 1
                        highest = octave_of(below if negative else above)
                        start = min(max((level - step_level) >> 3, 0), highest) if version >= 6 else 0
                        j, phase = start, (REACHES if start else UP)
                        while phase != DONE and ((j < highest) if phase == UP else (j >= 1)):
                            slot, kind = octave_decision(phase, j, octaves)
                            bit = decode_mixed(state, data, octave_models, views, slot, mixers[kind, j], inputs)
                            j, phase = next_octave_decision(phase, j, bit)
                        octave = j
                        symbol = 1
                        prefix = 0
                        for b in range(octave - 1, -1, -1):
                            if octave - 1 - b < 2:
                                bit = decode_mixed(state, data, mantissa_models, views, 3 * octave + prefix, mixers[3 + prefix, octave], inputs)
                                prefix = 1 + bit
                            elif version == 5:
                                bit = decode_bit(state, data, low_models[octave, b])
                            elif version == 6:
                                bit = decode_with(state, data, ONE // 2)
                            else:
                                symbol = (symbol << (b + 1)) | decode_direct(state, data, b + 1)
                                break
                            symbol = (symbol << 1) | bit
                value = prediction + (-symbol if negative else symbol) * step
                value = min(max(value, 0), max_value) if matched < 0 else matched
                values[pos] = value
                errors[pos] = abs(value - prediction)
                signs[pos] = 1 if value > prediction else -1 if value < prediction else 0
                if remembering and binary:
                    memory_value[key], memory_check[key] = value, check
            if mode == DECODE and state[2] > len(data):
                return out[:0], state[2]
    if mode != ENCODE:
        return out[:0], state[2]
    out = with_room(state, out)
    for _ in range(5):
        shift_low(state, out)
    return out[:state[4]], 0


@numba.njit(cache=True)
def new_models(bits: int, coding: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive binary models, each (fast estimate, slow estimate, count), per view row (the views' bands of
    ``MODEL_ROWS``) and slot: the binary mode's (:func:`binary_slot`: is the pixel the left neighbour's value,
    where the neighbours hold one value or two; is it the other one's; each by what the memory says), is the
    symbol zero (slot: the prediction's distance from an integer), its sign (rounding and neighbour error
    signs), the unary digits of its octave (digit; from version 6 also octaves + digit below the start and
    2 * octaves + start for the first), the two bits below its leading one (octave and prefix); and, unmixed
    (version 5), the lower bits (octave, bit).  int32: the estimates are at most 2**16 and the counts 2**8, and the tables stay in
    cache.  Empty unless ``coding``."""
    octaves = bits + 1
    rows = MODEL_ROWS if coding else 0
    match = np.zeros((rows, BINARY_SLOTS, 3), dtype=np.int32)
    zero = np.zeros((rows, 4, 3), dtype=np.int32)
    sign = np.zeros((rows, 36, 3), dtype=np.int32)
    octave = np.zeros((rows, 3 * octaves, 3), dtype=np.int32)
    mantissa = np.zeros((rows, 3 * octaves, 3), dtype=np.int32)
    low = np.zeros((octaves if coding else 0, octaves, 3), dtype=np.int32)
    for models in (match.reshape(-1, 3), zero.reshape(-1, 3), sign.reshape(-1, 3), octave.reshape(-1, 3),
                   mantissa.reshape(-1, 3), low.reshape(-1, 3)):
        models[:, 0] = ONE // 2
        models[:, 1] = ONE // 2
    return match, zero, sign, octave, mantissa, low
