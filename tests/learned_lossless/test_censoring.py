"""Since chunk version 2 every pixel is coded over the values it can take, so the tails beyond black and white
fold into the boundary codes; the scale fit must count exactly those bits, and files of older versions (1: no
fold, 2: Laplace only, 3: the large planes' 24 nearest neighbours without the slope limit of version 4) must
still decode."""

from pathlib import Path

import constriction
import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import learned_lossless
from monai_medcomp.codecs.context_model import quantised_bits
from monai_medcomp.codecs.learned_lossless import CHUNK_VERSION, code_offsets, top_code
from monai_medcomp.container import ContainerReader
from monai_medcomp.errors import CodecError

DATA = Path(__file__).parent / "data"
CODEC = "learned-lossless"
# Written by the version 1, 2 and 3 codecs from these crops of evaluation images.
US_DARK_SPECKLE = ("us_8bit", slice(0, 1), slice(200, 248), slice(470, 534))  # 58 % black pixels
MR_SLAB = ("mr_example4d", slice(10, 13), slice(30, 62), slice(40, 80))  # three slices, one slab
US_LARGE = ("us_8bit", slice(0, 1), slice(0, 256), slice(256, 512))  # a plane large enough for 24 neighbours
OLDER_FILES = ([(f"v{version}_{name}.mcz", region, max_error) for version in (1, 2)
                for name, region, max_error in [("us_lossless", US_DARK_SPECKLE, 0), ("mr_volume_lossless", MR_SLAB, 0),
                                                ("mr_volume_max_error_2", MR_SLAB, 2)]]
               + [("v3_us_large_lossless.mcz", US_LARGE, 0), ("v3_us_large_max_error_2.mcz", US_LARGE, 2)])


def crop(images, name, slices, rows, cols):
    return images.crop(name, rows, cols, slices)


@pytest.mark.parametrize("step", [1, 5])
def test_fitted_code_length_is_what_the_coder_writes(step):
    """Pixels predicted at or near black and white: the fit's folded-tail bits equal constriction's stream."""
    rng = np.random.default_rng(3)
    max_value, count = 255, 20000
    prediction = rng.choice([0, 1, 3, 250, 255], count)
    values = np.clip(prediction + np.round(rng.laplace(0, 4, count)), 0, max_value).astype(np.int64)
    half = (step - 1) // 2
    error = values - prediction
    symbols = np.sign(error) * ((np.abs(error) + half) // step)
    offsets = code_offsets(prediction, step)
    codes = symbols + offsets
    assert codes.min() >= 0 and codes.max() <= top_code(max_value, step)
    means = rng.uniform(-0.5, 0.5, count) / step
    scales = np.full(count, 4.0 / step)
    fitted = quantised_bits(symbols, means, scales, -offsets, top_code(max_value, step) - offsets).sum()
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(codes.astype(np.int32), constriction.stream.model.QuantizedLaplace(
        0, top_code(max_value, step)), means + offsets, scales)
    written = 32 * coder.get_compressed().size
    assert abs(written - fitted) < 0.005 * fitted + 64
    unfolded = quantised_bits(symbols, means, scales, np.full(count, -10 ** 6), np.full(count, 10 ** 6)).sum()
    assert written < 0.85 * unfolded  # the boundary pixels are where the fold pays


@pytest.mark.parametrize("filename, region, max_error", OLDER_FILES, ids=[f for f, _, _ in OLDER_FILES])
def test_older_files_still_decode(filename, region, max_error, images):
    with ContainerReader(DATA / filename) as reader:
        assert reader.read_chunk(0)[0] == int(filename[1])  # the chunk version the file is named after
    data = (DATA / filename).read_bytes()
    original = crop(images, *region)
    decoded = api.decompress(data)  # the chunk's digest of the encoder's pixels is checked on the way
    assert decoded.array.dtype == original.array.dtype and decoded.array.shape == original.array.shape
    if max_error == 0:
        np.testing.assert_array_equal(decoded.array, original.array)
    assert np.abs(decoded.array.astype(np.int64) - original.array).max() <= max_error


def test_dark_speckle_costs_less_than_in_version_1(images):
    """58 % of the crop is black next to speckle: folding the tails saves over a tenth of version 1's bytes."""
    with ContainerReader(DATA / "v1_us_lossless.mcz") as reader:
        version_1 = reader.read_chunk(0)
    now = api.compress(crop(images, *US_DARK_SPECKLE), codec=CODEC).encoded.chunks[0]
    assert (version_1[0], now[0]) == (1, CHUNK_VERSION)
    assert len(now) < 0.9 * len(version_1)


def test_a_version_3_file_read_with_the_version_4_context_fails_its_digest(monkeypatch):
    """The fixture really exercises the old neighbour rule: read with version 4's, its pixels come out wrong,
    and the chunk's digest says so instead of returning them."""
    rule = learned_lossless.chunk_context
    monkeypatch.setattr(learned_lossless, "chunk_context", lambda version, size: rule(CHUNK_VERSION, size))
    with pytest.raises(CodecError, match="digest mismatch"):
        api.decompress((DATA / "v3_us_large_lossless.mcz").read_bytes())
