"""Since chunk version 2 every pixel is coded over the values it can take, so the tails beyond black and white
cost nothing; files of older versions (1: no
fold, 2: Laplace only, 3: the large planes' 24 nearest neighbours without the slope limit of version 4, 4: ANS
with per-slab scale classes, before the compiled core of version 5; 5: four views, the octave in unary from
zero) must still decode, and version 6's own fixtures too."""

from pathlib import Path

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import learned_lossless
from monai_medcomp.codecs.learned_lossless import CHUNK_VERSION
from monai_medcomp.container import ContainerReader
from monai_medcomp.errors import CodecError

DATA = Path(__file__).parent / "data"
CODEC = "learned-lossless"
# Written by the version 1 to 7 codecs from these crops of evaluation images; the files of versions 5 to 7 pin
# the compiled core's output for each, so that a change to it (or to numba's arithmetic) that would break stored
# files fails here.
US_DARK_SPECKLE = ("us_8bit", slice(0, 1), slice(200, 248), slice(470, 534))  # 58 % black pixels
MR_SLAB = ("mr_example4d", slice(10, 13), slice(30, 62), slice(40, 80))  # three slices, one slab
US_LARGE = ("us_8bit", slice(0, 1), slice(0, 256), slice(256, 512))  # a plane large enough for 24 neighbours
STORED_FILES = ([(f"v{version}_{name}.mcz", region, max_error) for version in (1, 2)
                for name, region, max_error in [("us_lossless", US_DARK_SPECKLE, 0), ("mr_volume_lossless", MR_SLAB, 0),
                                                ("mr_volume_max_error_2", MR_SLAB, 2)]]
               + [(f"v{version}_us_large_{kind}.mcz", US_LARGE, max_error) for version in (3, 4, 5, 6, 7)
                  for kind, max_error in (("lossless", 0), ("max_error_2", 2))]
               + [(f"v{version}_mr_volume_{kind}.mcz", MR_SLAB, max_error) for version in (4, 5, 6, 7)
                  for kind, max_error in (("lossless", 0), ("max_error_2", 2))])


def crop(images, name, slices, rows, cols):
    return images.crop(name, rows, cols, slices)


@pytest.mark.parametrize("filename, region, max_error", STORED_FILES, ids=[f for f, _, _ in STORED_FILES])
def test_stored_files_of_every_version_decode(filename, region, max_error, images):
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
    """58 % of the crop is black next to speckle: coding only the values a pixel can take (since version 5: no sign
    where one side is out of range, the octave code stopping at the largest reachable) saves over a tenth of
    version 1's bytes (version 7 measured 708 against 831 bytes), even on a crop this small for its adaptive models."""
    with ContainerReader(DATA / "v1_us_lossless.mcz") as reader:
        version_1 = reader.read_chunk(0)
    now = api.compress(crop(images, *US_DARK_SPECKLE), codec=CODEC).encoded.chunks[0]
    assert (version_1[0], now[0]) == (1, CHUNK_VERSION)
    assert len(now) < 0.9 * len(version_1)


def test_text_and_speckle_cost_less_than_in_version_6(images):
    """Version 7 remembers which value followed each arrangement of the neighbours in the binary mode (repeated
    glyphs) and sees the predicted value (an 8-bit histogram with gaps): the crop of annotation text and speckle
    measured 6,424 against version 6's 6,494 bytes, whole file."""
    now = api.compress(crop(images, *US_LARGE), codec=CODEC).data
    assert len(now) < len((DATA / "v6_us_large_lossless.mcz").read_bytes()) - 50


def test_a_version_3_file_read_with_the_version_4_context_fails_its_digest(monkeypatch):
    """The fixture really exercises the old neighbour rule: read with version 4's, its pixels come out wrong,
    and the chunk's digest says so instead of returning them."""
    rule = learned_lossless.chunk_context
    monkeypatch.setattr(learned_lossless, "chunk_context", lambda version, size: rule(CHUNK_VERSION, size))
    with pytest.raises(CodecError, match="digest mismatch"):
        api.decompress((DATA / "v3_us_large_lossless.mcz").read_bytes())
