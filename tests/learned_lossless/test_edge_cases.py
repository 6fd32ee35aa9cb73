"""learned-lossless on the shapes and value ranges that break predictive coders: tiny and thin images, flat
and 1-bit data, the full 16-bit range, signed types, RGB, volumes cut into uneven slabs, one-slice reads."""

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs.learned_lossless import LearnedLosslessCodec
from monai_medcomp.container import ContainerReader
from monai_medcomp.metrics import max_abs_error

CODEC = "learned-lossless"
CT_REGION = (slice(128, 224), slice(0, 120))  # head CT 693_UNCR: padding (-2000), air, skin, bone


def round_trip(volume, tmp_path, max_error=0, slab=8):
    path = tmp_path / "edge.mcz"
    result = api.compress(volume, path, codec=CODEC, params={"max_error": max_error, "slab": slab}, force=True)
    decoded = api.decompress(path)
    assert decoded.array.dtype == volume.array.dtype and decoded.array.shape == volume.array.shape
    return result, decoded.array


@pytest.mark.parametrize("max_error", [0, 2])
@pytest.mark.parametrize("rows, cols", [pytest.param(1, 1, id="1x1"), pytest.param(1, 37, id="1xN"),
                                        pytest.param(37, 1, id="Nx1"),
                                        pytest.param(2, 2, id="2x2"), pytest.param(3, 5, id="3x5")])
def test_tiny_and_thin_images(rows, cols, max_error, images, tmp_path):
    volume = images.crop("ct_693", slice(250, 250 + rows), slice(240, 240 + cols))
    _, decoded = round_trip(volume, tmp_path, max_error)
    assert max_abs_error(volume.array, decoded) <= max_error
    if max_error == 0:
        np.testing.assert_array_equal(decoded, volume.array)


def test_constant_image_is_exact_and_nearly_free(images, tmp_path):
    ct = images.crop("ct_693", *CT_REGION)
    volume = ct.with_array(np.full_like(ct.array, ct.array[0, 0, 0]))
    result, decoded = round_trip(volume, tmp_path)
    np.testing.assert_array_equal(decoded, volume.array)
    assert result.payload_nbytes * 50 < result.raw_nbytes


def test_one_bit_mask(images, tmp_path):
    ct = images.crop("ct_693", slice(128, 256), slice(0, 256))
    volume = ct.with_array((ct.array > 1100).astype(np.uint8), bits_stored=1)  # bone mask of the CT
    assert set(np.unique(volume.array)) == {0, 1}
    result, decoded = round_trip(volume, tmp_path)
    np.testing.assert_array_equal(decoded, volume.array)
    assert result.header.precision == 1 and result.payload_nbytes * 8 < volume.array.size / 4


def test_full_16_bit_range(images, tmp_path):
    mr = images.crop("mr2", slice(400, 496), slice(400, 528))  # 12-bit MR stretched to 0..65535
    stretched = (mr.array.astype(np.int64) - mr.array.min()) * 65535 // int(np.ptp(mr.array))
    volume = mr.with_array(stretched.astype(np.uint16), bits_stored=16)
    assert volume.array.min() == 0 and volume.array.max() == 65535
    result, decoded = round_trip(volume, tmp_path)
    np.testing.assert_array_equal(decoded, volume.array)
    assert result.header.precision == 16
    _, near = round_trip(volume, tmp_path, max_error=4)
    assert max_abs_error(volume.array, near) <= 4


def test_signed_int16_with_negative_values(images, tmp_path):
    volume = images.crop("ct_693", *CT_REGION)
    assert volume.array.dtype == np.int16 and volume.array.min() < 0 < volume.array.max()
    _, decoded = round_trip(volume, tmp_path)
    np.testing.assert_array_equal(decoded, volume.array)


def test_int8(images, tmp_path):
    us = images.crop("us_8bit", slice(300, 380), slice(400, 500))
    volume = us.with_array((us.array.astype(np.int16) - 128).astype(np.int8))
    assert volume.array.min() < 0 < volume.array.max()
    _, decoded = round_trip(volume, tmp_path)
    np.testing.assert_array_equal(decoded, volume.array)


@pytest.mark.parametrize("max_error", [0, 1])
def test_uint8_rgb(max_error, images, tmp_path):
    volume = images.crop("us_rgb", slice(200, 260), slice(250, 330))
    assert volume.array.shape == (1, 60, 80, 3) and volume.array.dtype == np.uint8
    _, decoded = round_trip(volume, tmp_path, max_error)
    assert max_abs_error(volume.array, decoded) <= max_error  # per channel
    if max_error == 0:
        np.testing.assert_array_equal(decoded, volume.array)


@pytest.mark.parametrize("slab", [1, 3, 8])
def test_volume_in_slabs_that_do_not_divide_it(slab, images, tmp_path):
    volume = images.load("mr_emri_small")  # 10 slices: slabs of 3 and 8 leave a short last one
    result, decoded = round_trip(volume, tmp_path, slab=slab)
    np.testing.assert_array_equal(decoded, volume.array)
    assert result.header.slices_per_chunk == slab and len(result.encoded.chunks) == -(-10 // slab)


def test_one_slice_is_read_by_decoding_only_its_slab(images, tmp_path, monkeypatch):
    volume = images.load("mr_emri_small")  # 10 slices: chunks of 8 and 2
    path = tmp_path / "volume.mcz"
    api.compress(volume, path, codec=CODEC, params={"slab": 8})
    chunks_read, slabs_decoded = [], []
    read_chunk, decode = ContainerReader.read_chunk, LearnedLosslessCodec.decode

    def counted_read(reader, index):
        chunks_read.append(index)
        return read_chunk(reader, index)

    def counted_decode(codec, data, shape, *rest):
        slabs_decoded.append(list(shape))
        return decode(codec, data, shape, *rest)

    monkeypatch.setattr(ContainerReader, "read_chunk", counted_read)
    monkeypatch.setattr(LearnedLosslessCodec, "decode", counted_decode)
    decoded = api.decompress(path, slices=[3])
    np.testing.assert_array_equal(decoded.array, volume.array[3:4])
    np.testing.assert_allclose(decoded.origin, volume.slice_origin(3))
    assert chunks_read == [0] and slabs_decoded == [[8, 64, 64]]
    chunks_read.clear()
    slabs_decoded.clear()
    np.testing.assert_array_equal(api.decompress(path, slices=[9]).array, volume.array[9:10])
    assert chunks_read == [1] and slabs_decoded == [[2, 64, 64]]
