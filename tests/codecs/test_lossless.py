"""Lossless codecs return every input bit for bit: real images, every bit depth, odd shapes, RGB."""

import numpy as np
import pytest

from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.volume import Volume

LOSSLESS = ["jpegls", "jpeg2000", "htj2k", "jpegxl", "ljpeg", "png", "bttc"]
# A crop of every grey evaluation image: keeps the suite fast while covering 8 to 15 bits.
EVALUATION = ["explicit_VR-UN.dcm", "MR2_UNCR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "RG1_UNCR.dcm",
              "RG3_UNCR.dcm", "JPEG2000_UNC.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"]
CROP = (slice(200, 296), slice(150, 231))  # 96 x 81: odd, not a multiple of any block size


def edge_planes(bits, channels=1):
    """1x1, 1xN, Nx1, odd, constant and min/max planes of ``bits``-bit samples."""
    fmt = PixelFormat(bits, channels)
    rng = np.random.default_rng(bits)
    tail = (channels,) if channels == 3 else ()
    planes = [rng.integers(0, fmt.max_value + 1, shape + tail, endpoint=False) for shape in [(1, 1), (1, 19), (23, 1),
                                                                                           (13, 7)]]
    planes.append(np.full((6, 5) + tail, fmt.max_value))
    planes.append(np.zeros((4, 4) + tail))
    extremes = np.zeros((8, 9) + tail)
    extremes[::2, 1::2] = extremes[1::2, ::2] = fmt.max_value  # the two ends of the range side by side
    planes.append(extremes)
    return fmt, [plane.astype(fmt.dtype) for plane in planes]


@pytest.mark.parametrize("name", LOSSLESS)
def test_full_ct_slice_through_the_engine(kit, name):
    volume = kit.volume("693_UNCR.dcm")
    encoded, decoded = kit.engine_round_trip(volume, get_codec(name))
    assert encoded.header.lossless and encoded.header.precision == 13
    assert decoded.dtype == np.int16 and np.array_equal(decoded, volume.array)
    assert sum(map(len, encoded.chunks)) < volume.array.nbytes / 2


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("image", EVALUATION)
def test_evaluation_image_crops(kit, name, image):
    plane, fmt = kit.plane(image, CROP)
    decoded, _ = kit.code(get_codec(name), plane, fmt, get_codec(name).default_params())
    assert np.array_equal(decoded, plane)


@pytest.mark.parametrize("name", LOSSLESS)
def test_rgb_ultrasound(kit, name):
    plane, fmt = kit.plane("US1_UNCR.dcm", (slice(100, 227), slice(200, 351)))
    assert fmt == PixelFormat(8, 3)
    decoded, _ = kit.code(get_codec(name), plane, fmt, get_codec(name).default_params())
    assert np.array_equal(decoded, plane)


@pytest.mark.parametrize("name", LOSSLESS)
def test_multiframe_mr_through_the_engine(kit, name):
    volume = kit.volume("emri_small.dcm")
    assert volume.num_slices == 10
    _, decoded = kit.engine_round_trip(volume, get_codec(name))
    assert np.array_equal(decoded, volume.array)


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("bits", range(1, 17))
def test_every_bit_depth_and_shape(kit, name, bits):
    codec = get_codec(name)
    fmt, planes = edge_planes(bits)
    for plane in planes:
        decoded, _ = kit.code(codec, plane, fmt, codec.default_params())
        assert np.array_equal(decoded, plane), f"{plane.shape} at {bits} bits"


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("bits", [8, 16])
def test_rgb_edge_shapes(kit, name, bits):
    codec = get_codec(name)
    fmt, planes = edge_planes(bits, channels=3)
    for plane in planes:
        decoded, _ = kit.code(codec, plane, fmt, codec.default_params())
        assert np.array_equal(decoded, plane), f"{plane.shape} at {bits} bits"


@pytest.mark.parametrize("name", LOSSLESS)
@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_dtype_extremes_through_the_engine(kit, name, dtype):
    info = np.iinfo(dtype)
    array = np.array([[[info.min, info.max, 0], [info.max, info.min, 1], [-1 if info.min else 2, 7, info.max]]],
                     dtype=dtype)
    _, decoded = kit.engine_round_trip(Volume(array), get_codec(name))
    assert decoded.dtype == array.dtype and np.array_equal(decoded, array)
