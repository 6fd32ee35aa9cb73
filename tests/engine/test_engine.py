"""The engine's conventions, independent of any real codec: offset, precision, chunks, clipping."""

import numpy as np
import pytest

from monai_medcomp.codecs import Codec, PixelFormat
from monai_medcomp.container import ContainerReader
from monai_medcomp.engine import decode_chunks, encode_volume, from_unsigned, pixel_format
from monai_medcomp.errors import CodecError, UnsupportedDataError
from monai_medcomp.volume import Volume


class RawCodec(Codec):
    """Stores the unsigned pixels as they are, recording what the engine handed it."""

    name = "raw-test"
    lossless = True
    seen: list

    def __init__(self, slab_size=1, overshoot=0):
        self.slab_size = slab_size
        self.overshoot = overshoot
        self.seen = []

    def is_lossless(self, params):
        return self.overshoot == 0

    def encode(self, slab, fmt, params):
        self.seen.append((slab.shape, slab.dtype, fmt))
        return slab.tobytes()

    def decode(self, data, shape, fmt, params):
        values = np.frombuffer(data, dtype=fmt.dtype).reshape(shape).astype(np.int64) + self.overshoot
        return np.clip(values, 0, np.iinfo(fmt.dtype).max).astype(fmt.dtype)


def round_trip(volume, codec, chunk_ids=None):
    encoded = encode_volume(volume, codec, {})
    reader = ContainerReader(encoded.to_bytes())
    return encoded, decode_chunks(reader.header, reader.read_chunk, codec, chunk_ids, workers=2)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_dtype_extremes_round_trip(dtype):
    info = np.iinfo(dtype)
    array = np.array([[[info.min, info.max], [0, 1]]], dtype=dtype)
    encoded, decoded = round_trip(Volume(array), RawCodec())
    assert decoded.dtype == array.dtype and np.array_equal(decoded, array)
    assert encoded.header.precision == info.bits


def test_signed_ct_is_coded_at_the_precision_its_range_needs():
    array = np.array([[[-2000, 2492], [0, 7]]], dtype=np.int16)
    offset, fmt = pixel_format(Volume(array, bits_stored=14))
    assert offset == -2000 and fmt == PixelFormat(bits=13, channels=1)


def test_constant_image_uses_one_bit():
    codec = RawCodec()
    array = np.full((2, 3, 3), -7, dtype=np.int16)
    encoded, decoded = round_trip(Volume(array), codec)
    assert np.array_equal(decoded, array)
    assert codec.seen[0][2].bits == 1


def test_slabs_become_chunks_and_any_chunk_decodes_alone():
    array = np.arange(5 * 2 * 3, dtype=np.uint16).reshape(5, 2, 3)
    codec = RawCodec(slab_size=2)
    encoded, decoded = round_trip(Volume(array), codec, chunk_ids=[2, 0])
    assert len(encoded.chunks) == 3 and encoded.header.slices_per_chunk == 2
    assert np.array_equal(decoded, array[[4, 0, 1]])
    assert sorted(shape for shape, _, _ in codec.seen) == [(1, 2, 3), (2, 2, 3), (2, 2, 3)]


def test_rgb_reaches_the_codec_with_three_channels():
    array = np.random.default_rng(0).integers(0, 256, (1, 4, 5, 3), dtype=np.uint8)
    codec = RawCodec()
    _, decoded = round_trip(Volume(array), codec)
    assert np.array_equal(decoded, array) and codec.seen[0][2].channels == 3


def test_lossy_overshoot_is_clipped_to_the_original_range():
    array = np.array([[[10, 200], [250, 255]]], dtype=np.uint8)
    encoded, decoded = round_trip(Volume(array), RawCodec(overshoot=40))
    assert decoded.max() <= 255 and decoded.min() >= 10
    header = encoded.header
    assert np.array_equal(from_unsigned(np.array([0, 255]), header), np.array([10, 255], dtype=np.uint8))


def test_codec_refusing_a_format_is_reported():
    class GreyOnly(RawCodec):
        channels = (1,)

    with pytest.raises(UnsupportedDataError, match="3-channel"):
        encode_volume(Volume(np.zeros((1, 2, 2, 3), np.uint8)), GreyOnly(), {})


def test_library_failures_become_codec_errors():
    class Broken(RawCodec):
        def encode(self, slab, fmt, params):
            raise RuntimeError("library exploded")

    with pytest.raises(CodecError, match="raw-test.*library exploded"):
        encode_volume(Volume(np.zeros((2, 2, 2), np.uint8)), Broken(), {})


@pytest.mark.parametrize("array", [np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int32),
                                   np.zeros((2, 2), np.uint32), np.zeros((2, 2), bool)])
def test_volume_refuses_what_cannot_be_coded_exactly(array):
    with pytest.raises(UnsupportedDataError, match="unsupported pixel data type"):
        Volume(array)


def test_volume_geometry_affines_are_consistent():
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    volume = Volume(np.zeros((3, 4, 5), np.int16), spacing=(0.5, 0.7, 2.0), origin=(10, -20, 30), direction=direction)
    again = Volume.from_lps_affine(volume.array, volume.lps_affine)
    assert np.allclose(again.direction, direction) and np.allclose(again.spacing, (0.5, 0.7, 2.0))
    assert np.allclose(volume.ras_affine[:2], -volume.lps_affine[:2])
