"""Lossy codecs: exact shape and dtype back, more quality for more bits, settings that do what they say."""

import numpy as np
import pytest

from monai_medcomp import metrics
from monai_medcomp.codecs import get_codec

# (codec, parameters for lower quality, parameters for higher quality)
SETTINGS = [("jpeg2000", {"bpp": 0.5}, {"bpp": 2.0}),
            ("htj2k", {"qstep": 0.02}, {"qstep": 0.002}),
            ("jpegxl", {"distance": 4.0}, {"distance": 1.0}),
            ("jpeg", {"quality": 30}, {"quality": 90}),
            ("kmeans", {"codebook": 8}, {"codebook": 128}),
            ("bttc", {"tolerance": 64}, {"tolerance": 4})]
IMAGES = [("693_UNCR.dcm", (slice(150, 310), slice(120, 264))),  # 13-bit CT
          ("RG1_UNCR.dcm", (slice(900, 1060), slice(800, 944))),  # 15-bit CR
          ("JPGLosslessP14SV1_1s_1f_8b.dcm", (slice(300, 460), slice(400, 544))),  # 8-bit US
          ("US1_UNCR.dcm", (slice(150, 310), slice(250, 394)))]  # RGB US


@pytest.mark.parametrize("name, worse, better", SETTINGS)
@pytest.mark.parametrize("image, crop", IMAGES)
def test_more_quality_costs_more_bits(kit, name, worse, better, image, crop):
    codec = get_codec(name)
    plane, fmt = kit.plane(image, crop)
    low_params, high_params = ({**codec.default_params(), **p} for p in (worse, better))
    assert not codec.is_lossless(low_params) and not codec.is_lossless(high_params)
    low, low_bpp = kit.code(codec, plane, fmt, low_params)
    high, high_bpp = kit.code(codec, plane, fmt, high_params)
    low_psnr, high_psnr = kit.psnr(plane, low, fmt.bits), kit.psnr(plane, high, fmt.bits)
    assert 15 < low_psnr < high_psnr and 0 < low_bpp < high_bpp < 16 * fmt.channels


@pytest.mark.parametrize("name, worse, better", SETTINGS)
def test_full_ct_slice_through_the_engine(kit, name, worse, better):
    volume = kit.volume("693_UNCR.dcm")
    codec = get_codec(name)
    encoded, decoded = kit.engine_round_trip(volume, codec, {**codec.default_params(), **better})
    assert not encoded.header.lossless
    assert decoded.shape == volume.array.shape and decoded.dtype == volume.array.dtype
    assert metrics.psnr(volume.array, decoded, bits_stored=13) > 40


@pytest.mark.parametrize("target", [0.25, 1.0, 2.0])
def test_jpeg2000_reaches_a_bpp_natively(kit, ct, target):
    plane, fmt = ct
    codec = get_codec("jpeg2000")
    _, bpp = kit.code(codec, plane, fmt, codec.with_knob(target))
    assert 0.9 * target <= bpp <= 1.02 * target


def test_jpeg2000_rgb_rate_counts_all_channels(kit):
    plane, fmt = kit.plane("US1_UNCR.dcm")
    codec = get_codec("jpeg2000")
    _, bpp = kit.code(codec, plane, fmt, codec.with_knob(1.0))
    assert 0.9 <= bpp <= 1.02


def test_jpegxl_effort_is_a_setting(kit, ct):
    plane, fmt = ct
    codec = get_codec("jpegxl")
    assert codec.default_params()["effort"] == 7
    sizes = set()
    for effort in (1, 7):
        decoded, bpp = kit.code(codec, plane, fmt, {"effort": effort})
        assert np.array_equal(decoded, plane)
        sizes.add(bpp)
    assert len(sizes) == 2


def test_ljpeg_picks_the_best_predictor(kit, ct):
    plane, fmt = ct
    codec = get_codec("ljpeg")
    _, best = kit.code(codec, plane, fmt, codec.default_params())
    forced = [kit.code(codec, plane, fmt, {"predictor": p})[1] for p in range(1, 8)]
    assert best == min(forced) < max(forced)
