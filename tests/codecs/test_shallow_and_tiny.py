"""Every classical codec on what stresses a codec's bookkeeping rather than its modelling: 1- and 2-bit
images (noise and two-level), and images of a few pixels, lossless and lossy, through the engine.

A codec either codes such an image (a lossless one exactly) or refuses it with a clear
UnsupportedDataError; no library error gets through.
"""

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import get_codec
from monai_medcomp.errors import UnsupportedDataError

# Each codec's default (lossless where it can be) and a lossy or near-lossless setting; JPEG 2000's
# 24 bpp is a compression ratio of 1, the untruncated 9/7 stream.
SETTINGS = [("jpeg2000", None), ("jpeg2000", {"bpp": 0.5}), ("jpeg2000", {"bpp": 24.0}),
            ("htj2k", None), ("htj2k", {"qstep": 0.05}), ("jpegxl", None), ("jpegxl", {"effort": 7, "distance": 2.0}),
            ("jpeg", None), ("jpeg", {"quality": 50, "subsampling": "420"}), ("jpegls", None), ("jpegls", {"near": 1}),
            ("ljpeg", None), ("png", None)]


def shallow_images():
    """1-bit noise, two-level images at the ends of a 2-bit range, grey and RGB, 128 x 128."""
    rng = np.random.default_rng(24)
    noise = rng.integers(0, 2, (1, 128, 128)).astype(np.uint8)
    two_level = (rng.integers(0, 2, (1, 128, 128, 3)) * 3).astype(np.uint8)
    signed = (rng.integers(0, 2, (1, 128, 128)) - 1).astype(np.int16)  # -1 and 0
    return {"1-bit noise": noise, "2-bit two-level RGB": two_level, "signed two-level": signed}


def tiny_images():
    """1x1, 1xN, Nx1 and 3x2 images of 1, 2 and 12 bits, grey and RGB."""
    rng = np.random.default_rng(6)
    images = {}
    for shape in [(1, 1), (1, 9), (9, 1), (3, 2)]:
        for bits, dtype in [(1, np.uint8), (2, np.uint8), (12, np.uint16)]:
            for tail in [(), (3,)]:
                name = f"{shape[0]}x{shape[1]}{' RGB' if tail else ''} {bits}-bit"
                images[name] = rng.integers(0, 1 << bits, (1,) + shape + tail).astype(dtype)
    return images


def check_round_trip(name, params, array):
    codec = get_codec(name)
    try:
        result = api.compress(array, codec=name, params=params, workers=1)
    except UnsupportedDataError as error:
        assert name == "jpeg2000" and "at least 32x32" in str(error)  # the one refusal these images meet
        return
    decoded = api.decompress(result, workers=1).array
    assert decoded.shape == array.shape and decoded.dtype == array.dtype
    bound = codec.guaranteed_max_error(result.params)
    error = np.abs(decoded.astype(np.int64) - array)
    if bound is not None:
        assert error.max() <= bound
    low, bits = int(array.min()), max(1, int(array.max() - array.min()).bit_length())
    assert decoded.min() >= low and decoded.max() <= low + (1 << bits) - 1  # inside the range that was coded


@pytest.mark.parametrize("name, params", SETTINGS)
@pytest.mark.parametrize("image", list(shallow_images()))
def test_shallow_images(name, params, image):
    check_round_trip(name, params, shallow_images()[image])


@pytest.mark.parametrize("name, params", SETTINGS)
def test_tiny_images(name, params):
    for image, array in tiny_images().items():
        check_round_trip(name, params, array)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("params", [None, {"bpp": 2.0}])
def test_jpeg2000_two_level_image_from_the_issue(seed, params):
    """OpenJPEG sized its buffer at 1.4 bits per declared bit: 1-bit noise codes larger than that."""
    array = np.random.default_rng(seed).integers(0, 2, (1, 128, 128)).astype(np.uint8)
    result = api.compress(array, codec="jpeg2000", params=params, workers=1)
    decoded = api.decompress(result, workers=1).array
    assert decoded.dtype == np.uint8 and decoded.shape == array.shape
    if params is None:
        assert np.array_equal(decoded, array)


def test_jpeg2000_rgb_that_openjpeg_colour_transform_codes_wrongly_round_trips():
    """Found by the property round trips (seed 0): OpenJPEG's reversible colour transform coded slice 1 of
    this two-level RGB volume into a codestream that decodes to other pixels.  The pixel digest refused it
    on decoding; now the encoder checks RGB codestreams and codes such a plane without the transform."""
    from monai_medcomp.bench.roundtrips import VolumeSpec

    volume = VolumeSpec(dtype="int16", slices=3, rows=27, cols=27, channels=3, bits=8, low=-16251,
                        pattern="two-level", seed=568).array()
    np.testing.assert_array_equal(api.decompress(api.compress(volume, codec="jpeg2000").data).array, volume)
