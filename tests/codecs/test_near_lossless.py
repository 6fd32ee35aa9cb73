"""Near-lossless coding keeps |error| <= the promised bound on real images, exactly as promised."""

import numpy as np
import pytest

from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.volume import Volume


@pytest.mark.parametrize("name, bounds", [("jpegls", [1, 2, 4]), ("bttc", [1, 4, 16])])
def test_bound_on_full_ct_slice(kit, ct, name, bounds):
    plane, fmt = ct
    codec = get_codec(name)
    _, lossless_bpp = kit.code(codec, plane, fmt, codec.default_params())
    rates = [lossless_bpp]
    for bound in bounds:
        params = codec.with_max_error(bound)
        decoded, bpp = kit.code(codec, plane, fmt, params)
        assert 0 < kit.max_error(plane, decoded) <= codec.guaranteed_max_error(params) == bound
        rates.append(bpp)
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == len(rates)


@pytest.mark.parametrize("name", ["jpegls", "bttc"])
def test_bound_through_the_engine_in_original_units(kit, name):
    volume = kit.volume("693_UNCR.dcm")
    codec = get_codec(name)
    encoded, decoded = kit.engine_round_trip(volume, codec, codec.with_max_error(2))
    assert not encoded.header.lossless
    assert decoded.dtype == np.int16 and kit.max_error(volume.array, decoded) <= 2


@pytest.mark.parametrize("name", ["jpegls", "bttc"])
def test_bound_on_rgb_ultrasound(kit, name):
    plane, fmt = kit.plane("US1_UNCR.dcm", (slice(150, 250), slice(250, 377)))
    codec = get_codec(name)
    decoded, _ = kit.code(codec, plane, fmt, codec.with_max_error(3))
    assert 0 < kit.max_error(plane, decoded) <= 3


@pytest.mark.parametrize("name", ["jpegls", "bttc"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12, 16])
def test_bound_on_tiny_and_shallow_images(kit, name, bits):
    """Includes NEARs beyond what JPEG-LS allows at that depth and images too small for pyjpegls."""
    codec = get_codec(name)
    fmt = PixelFormat(bits)
    rng = np.random.default_rng(bits)
    for shape in [(1, 1), (2, 3), (1, 40), (31, 17)]:
        plane = rng.integers(0, fmt.max_value + 1, shape).astype(fmt.dtype)
        for bound in (1, 3, 300):
            decoded, _ = kit.code(codec, plane, fmt, codec.with_max_error(bound))
            assert kit.max_error(plane, decoded) <= bound, f"{shape} at {bits} bits, bound {bound}"


@pytest.mark.parametrize("name", ["jpegls", "bttc"])
def test_bound_at_dtype_extremes(kit, name):
    """A reconstruction may overshoot the range; the engine clips it back without breaking the bound."""
    info = np.iinfo(np.int16)
    array = np.tile(np.array([[info.min, info.max], [info.max, info.min]], dtype=np.int16), (1, 20, 20))
    codec = get_codec(name)
    _, decoded = kit.engine_round_trip(Volume(array), codec, codec.with_max_error(4))
    assert kit.max_error(array, decoded) <= 4
