"""Rate control with the real codecs on a real CT slice (pydicom-data 693_UNCR, signed, 14 bits stored).

Every result is written to .mcz bytes, read back and decoded, and the figures are measured on that
file: the target must hold for what a user would actually store.
"""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.codecs import get_codec
from monai_medcomp.container import ContainerReader
from monai_medcomp.engine import decode_chunks
from monai_medcomp.errors import MedCompError, RateControlError
from monai_medcomp.ratecontrol import Target, choose_params
from monai_medcomp.volume import Volume


@pytest.fixture(scope="module")
def ct():
    dataset = pydicom.dcmread(get_testdata_file("693_UNCR.dcm"))
    return Volume(dataset.pixel_array, bits_stored=int(dataset.BitsStored))


def stored(codec_name, volume, target):
    """Reach ``target``, then return the file's size, header and decoded pixels."""
    codec = get_codec(codec_name)
    data = choose_params(codec, volume, target).to_bytes()
    with ContainerReader(data) as reader:
        return len(data), reader.header, decode_chunks(reader.header, reader.read_chunk, codec)


def measured_psnr(original, decoded, bits):
    diff = original.astype(np.float64) - decoded.astype(np.float64)
    return 10 * np.log10(((1 << bits) - 1) ** 2 / np.mean(diff ** 2))


def measured_max_error(original, decoded):
    return int(np.abs(original.astype(np.int64) - decoded.astype(np.int64)).max())


@pytest.mark.parametrize("codec, bpp", [("jpeg", 1.0), ("jpeg2000", 0.5), ("htj2k", 2.0), ("jpegxl", 1.0),
                                        ("jpegls", 1.0)])
def test_bpp_of_the_file_within_five_percent(ct, codec, bpp):
    size, header, _ = stored(codec, ct, Target("bpp", bpp))
    achieved = size * 8 / ct.array.size
    assert achieved == pytest.approx(bpp, rel=0.05)
    assert header.extra["target"]["kind"] == "bpp" and header.extra["target"]["value"] == bpp
    assert header.extra["target"]["achieved"] == pytest.approx(achieved, abs=8 / ct.array.size + 1e-6)  # a byte
    assert not header.lossless


@pytest.mark.parametrize("codec, psnr", [("jpeg", 65.0), ("jpeg2000", 60.0), ("htj2k", 60.0), ("jpegxl", 65.0)])
def test_psnr_within_two_tenths_of_a_decibel(ct, codec, psnr):
    _, header, decoded = stored(codec, ct, Target("psnr", psnr))
    achieved = measured_psnr(ct.array, decoded, ct.bits_stored)
    assert achieved == pytest.approx(psnr, abs=0.2)
    assert header.extra["target"]["achieved"] == pytest.approx(achieved)


@pytest.mark.parametrize("bound", [1, 2, 4])
def test_jpegls_max_error_is_exact_by_construction(ct, bound):
    _, header, decoded = stored("jpegls", ct, Target("max_error", bound))
    assert header.params["near"] == bound
    assert header.extra["target"]["encodes"] == 1  # no search: near-lossless mode
    assert measured_max_error(ct.array, decoded) == header.extra["target"]["achieved"] <= bound


@pytest.mark.parametrize("codec, bound", [("jpeg2000", 2), ("jpeg2000", 10), ("jpeg", 10), ("htj2k", 3)])
def test_max_error_by_bisection_holds_on_every_voxel(ct, codec, bound):
    size, header, decoded = stored(codec, ct, Target("max_error", bound))
    assert measured_max_error(ct.array, decoded) == header.extra["target"]["achieved"] <= bound
    assert not header.lossless  # a lossy setting passed and beat the lossless size
    lossless_size, _, _ = stored("jpegls", ct, Target("max_error", 0))
    assert size < lossless_size


def test_max_error_zero_uses_the_lossless_default(ct):
    _, header, decoded = stored("jpeg2000", ct, Target("max_error", 0))
    assert header.lossless and header.params == get_codec("jpeg2000").default_params()
    assert np.array_equal(decoded, ct.array)


def test_quality_is_the_codecs_own_knob(ct):
    _, header, _ = stored("jpeg", ct, Target("quality", 50))
    assert header.params["quality"] == 50 and header.extra["target"]["achieved"] == 50


def test_jpeg_cannot_guarantee_a_small_max_error(ct):
    # 12-bit JPEG drops two of the 14 bits: even quality 100 misses by more than 2.
    with pytest.raises(RateControlError, match="codec 'jpeg' cannot guarantee max error 2"):
        choose_params(get_codec("jpeg"), ct, Target("max_error", 2))


@pytest.mark.parametrize("codec, target", [("png", Target("quality", 50)), ("ljpeg", Target("bpp", 2.0)),
                                           ("png", Target("psnr", 50))])
def test_lossless_only_codecs_refuse_lossy_targets(ct, codec, target):
    with pytest.raises(RateControlError, match=f"codec '{codec}' has no quality setting"):
        choose_params(get_codec(codec), ct, target)


@pytest.mark.parametrize("codec, target, unit", [("jpeg2000", Target("bpp", 30.0), "bpp"),
                                                 ("jpeg", Target("psnr", 40.0), "dB")])
def test_targets_out_of_reach_give_the_reachable_range(ct, codec, target, unit):
    with pytest.raises(RateControlError, match=rf"out of reach for codec '{codec}'.*gives [\d.]+ to [\d.]+ {unit}"):
        choose_params(get_codec(codec), ct, target)


def test_targets_through_the_api_and_a_file(ct, tmp_path):
    path = tmp_path / "ct.mcz"
    api.compress(ct, path, codec="jpeg2000", max_error=5)
    restored = api.decompress(path)
    assert measured_max_error(ct.array, restored.array) <= 5
    assert api.info(path)["extra"]["target"]["kind"] == "max_error"
    with pytest.raises(MedCompError, match="at most one target"):
        api.compress(ct, codec="jpeg", bpp=1.0, psnr=40.0)
