"""The library pitfalls DESIGN.md lists, each checked where it would bite."""

import imagecodecs
import jpeg_ls
import numpy as np
import openjpeg
import pytest

from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.errors import UnsupportedDataError

LOSSY = [("jpeg2000", {"bpp": 1.0}), ("htj2k", {"qstep": 0.05}), ("jpegxl", {"distance": 3.0}),
         ("jpeg", {"quality": 50}), ("kmeans", {"codebook": 16}), ("bttc", {"tolerance": 30})]


def random_plane(bits, shape=(64, 64), channels=1, seed=0):
    fmt = PixelFormat(bits, channels)
    shape = shape + ((3,) if channels == 3 else ())
    return np.random.default_rng(seed).integers(0, fmt.max_value + 1, shape).astype(fmt.dtype), fmt


def test_jpegls_writes_the_true_bit_depth_of_ct(ct):
    plane, fmt = ct
    ours = get_codec("jpegls").encode(plane[np.newaxis], fmt, {"near": 0})
    assert jpeg_ls.decode_buffer(ours)[1]["bits_per_sample"] == fmt.bits == 13
    assert len(ours) <= len(imagecodecs.jpegls_encode(plane))


@pytest.mark.parametrize("bits", [2, 5, 8, 9, 12, 13, 16])
def test_jpegls_declares_every_bit_depth(bits):
    plane, fmt = random_plane(bits)
    for near in (0, 1):
        data = get_codec("jpegls").encode(plane[np.newaxis], fmt, {"near": near})
        assert jpeg_ls.decode_buffer(data)[1]["bits_per_sample"] == bits


@pytest.mark.parametrize("params", [{}, {"bpp": 2.0}])
@pytest.mark.parametrize("bits", [1, 7, 9, 12, 13, 15, 16])
def test_jpeg2000_declares_the_true_bit_depth(params, bits):
    """Never less (that truncates); shallow data is declared at 8 bits, where OpenJPEG's buffer suffices."""
    plane, fmt = random_plane(bits)
    data = get_codec("jpeg2000").encode(plane[np.newaxis], fmt, params)
    assert openjpeg.get_parameters(data)["precision"] == max(bits, 8)


@pytest.mark.parametrize("name, params", LOSSY)
@pytest.mark.parametrize("bits, channels", [(8, 1), (12, 1), (16, 1), (8, 3)])
def test_no_wrap_around_at_the_ends_of_the_range(kit, name, params, bits, channels):
    """Blocks at the maximum next to blocks at zero, crossed by stripes: the edges overshoot.

    A decoder that casts an overshoot into the container turns the maximum into ~0 (HTJ2K did).
    """
    fmt = PixelFormat(bits, channels)
    plane = np.zeros((64, 64), dtype=fmt.dtype)
    plane[:, 32:] = fmt.max_value
    plane[16:48:4] = fmt.max_value - plane[16:48:4]
    if channels == 3:
        plane = np.stack([plane] * 3, axis=-1)  # grey in RGB: colour transforms add no chroma blur
    codec = get_codec(name)
    decoded, _ = kit.code(codec, plane, fmt, {**codec.default_params(), **params})
    middle = fmt.max_value // 2
    assert not np.any((plane == fmt.max_value) & (decoded < middle))
    assert not np.any((plane == 0) & (decoded > middle))


@pytest.mark.parametrize("bits", [13, 15, 16])
def test_jpeg_keeps_data_deeper_than_12_bits(kit, bits):
    """12-bit JPEG would clip everything above 4095; deeper data loses low bits instead."""
    rows, cols = np.mgrid[0:96, 0:96]
    fmt = PixelFormat(bits)
    plane = ((rows * cols) / (95 * 95) * fmt.max_value).astype(fmt.dtype)  # smooth ramp up to the maximum
    decoded, _ = kit.code(get_codec("jpeg"), plane, fmt, {"quality": 95})
    assert decoded.max() > fmt.max_value - (fmt.max_value >> 6)
    assert kit.psnr(plane, decoded, bits) > 45


def test_jpeg_keeps_real_15_bit_radiograph(kit):
    plane, fmt = kit.plane("RG1_UNCR.dcm")
    assert fmt.bits == 15 and plane.max() > 4095
    decoded, _ = kit.code(get_codec("jpeg"), plane, fmt, {"quality": 90})
    assert kit.psnr(plane, decoded, fmt.bits) > 40
    assert abs(float(decoded.mean()) - float(plane.mean())) < 16


def test_htj2k_quality_step_means_the_same_at_every_depth(kit):
    """The step is relative to the data's range, not to the 8- or 16-bit container it travels in."""
    rows, cols = np.mgrid[0:64, 0:64]
    ramp = np.sin(rows / 7.0) * np.cos(cols / 5.0) * 0.5 + 0.5
    quality = []
    for bits in (8, 12, 16):
        fmt = PixelFormat(bits)
        plane = np.round(ramp * fmt.max_value).astype(fmt.dtype)
        decoded, _ = kit.code(get_codec("htj2k"), plane, fmt, {"qstep": 0.01})
        quality.append(kit.psnr(plane, decoded, bits))
    assert max(quality) - min(quality) < 3


def test_jpeg2000_lossy_refuses_tiny_images_clearly(kit):
    plane, fmt = random_plane(12, shape=(20, 64))
    codec = get_codec("jpeg2000")
    with pytest.raises(UnsupportedDataError, match="at least 32x32"):
        codec.encode(plane[np.newaxis], fmt, {"bpp": 1.0})
    decoded, _ = kit.code(codec, plane, fmt, {})
    assert np.array_equal(decoded, plane)


@pytest.mark.parametrize("name", ["jpegls", "jpeg2000", "htj2k", "jpegxl", "ljpeg", "png", "bttc", "kmeans", "jpeg"])
def test_unsupported_formats_raise_clearly(name):
    codec = get_codec(name)
    with pytest.raises(UnsupportedDataError, match="channel"):
        codec.encode(np.zeros((1, 4, 4, 2), np.uint8), PixelFormat(8, 2), codec.default_params())
    with pytest.raises(UnsupportedDataError, match="at most 16-bit"):
        codec.encode(np.zeros((1, 4, 4), np.uint16), PixelFormat(17), codec.default_params())
