"""Each scale class is coded with a Laplace or a Gaussian, whichever is shorter: noise-dominated classes
(radiograph and CT noise, NM counts) are closer to a Gaussian.  Within a decoding step the two families
go through the ANS stack in a fixed order, so the decoder pops exactly what the encoder pushed."""

import constriction
import numpy as np
import pytest
from scipy.special import ndtr

from monai_medcomp import api
from monai_medcomp.codecs.context_model import fit_classes, quantised_bits
from monai_medcomp.codecs.learned_lossless import Chunk, Distributions, ans_read, ans_write

CODEC = "learned-lossless"


def test_each_class_takes_the_family_its_residuals_follow():
    """Class 0 holds Gaussian residuals, class 1 Laplace ones of the same spread."""
    rng = np.random.default_rng(7)
    count = 4096
    error = np.round(np.concatenate([rng.normal(0, 6, count), rng.laplace(0, 6, count)])).astype(np.int64)
    level = np.repeat([0, 1], count)
    reach = (np.full(2 * count, -1000), np.full(2 * count, 1000))
    classes = fit_classes(level, error, np.zeros(2 * count), 1, 1, rng, reach)
    np.testing.assert_array_equal(classes.gaussian, [True, False])
    assert 5 < classes.scales[0] < 7 and 5 < classes.scales[1] < 7  # the standard deviation, the Laplace scale


def test_gaussian_code_length_is_what_the_coder_writes():
    rng = np.random.default_rng(3)
    count, top = 20000, 255
    codes = np.clip(np.round(rng.normal(128, 5, count)), 0, top).astype(np.int64)
    means, scales = rng.uniform(127.5, 128.5, count), np.full(count, 5.0)
    fitted = quantised_bits(codes, means, scales, np.zeros(count), np.full(count, top), ndtr).sum()
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(codes.astype(np.int32), constriction.stream.model.QuantizedGaussian(0, top), means, scales)
    assert abs(32 * coder.get_compressed().size - fitted) < 0.005 * fitted + 64


def test_mixed_steps_pop_what_was_pushed():
    """Random families inside each step, steps of uneven sizes (one of a single pixel)."""
    rng = np.random.default_rng(11)
    sizes = np.array([1, 7, 300, 64, 2, 500])
    count, top = int(sizes.sum()), 1023
    families = (constriction.stream.model.QuantizedLaplace(0, top), constriction.stream.model.QuantizedGaussian(0, top))
    distributions = Distributions(rng.uniform(100, 900, count), rng.uniform(0.5, 40, count), rng.random(count) < 0.4)
    codes = np.clip(np.round(distributions.means + rng.normal(0, 1, count) * distributions.scales), 0, top)
    encoder = constriction.stream.stack.AnsCoder()
    ans_write(encoder, families, codes.astype(np.int64), distributions, sizes)
    decoder = constriction.stream.stack.AnsCoder(encoder.get_compressed())
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        step = Distributions(distributions.means[part], distributions.scales[part], distributions.gaussian[part])
        np.testing.assert_array_equal(ans_read(decoder, families, step), codes[part])
        start += size
    assert decoder.is_empty()


@pytest.mark.parametrize("max_error", [0, 1])
def test_ct_with_both_families_round_trips(max_error, images):
    """A CT crop whose slab uses both families: bit-exact, or within the bound."""
    original = images.crop("ct_693", slice(100, 300), slice(0, 256))
    result = api.compress(original, codec=CODEC, max_error=max_error or None)
    gaussian = Chunk.from_bytes(result.encoded.chunks[0]).model.classes.gaussian
    assert gaussian.any() and not gaussian.all()
    decoded = api.decompress(result)
    assert np.abs(decoded.array.astype(np.int64) - original.array).max() == max_error
