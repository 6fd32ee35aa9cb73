"""learned-lossless refuses what it cannot code and never returns silently wrong pixels: float data, damaged
or truncated chunks, bad parameters, and files coded with other weights all fail with one clear error."""

import struct
import zlib

import numpy as np
import pytest
import torch

from monai_medcomp import api
from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.container import ContainerReader, encode_container
from monai_medcomp.errors import (ChecksumError, CodecError, MedCompError, MissingWeightsError,
                                  UnsupportedDataError)
from monai_medcomp.weights import WEIGHTS_FILE, weights_path

CODEC = "learned-lossless"


@pytest.fixture(scope="module")
def ct_region(images):
    return images.crop("ct_693", slice(160, 224), slice(160, 240))


@pytest.fixture(scope="module")
def coded(ct_region):
    """The CT region as a file, and its one chunk."""
    result = api.compress(ct_region, codec=CODEC)
    return result.data, result.encoded.chunks[0]


def with_chunk(data: bytes, chunk: bytes) -> bytes:
    """The same file with its chunk replaced (the container's own checksums made to match)."""
    with ContainerReader(data) as reader:
        return encode_container(reader.header, reader.metadata, [chunk], [reader.pixel_digest(0)])


def recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_float_data_is_refused(ct_region):
    with pytest.raises(UnsupportedDataError, match="float"):
        api.compress(ct_region.array.astype(np.float32), codec=CODEC)
    with pytest.raises(UnsupportedDataError, match="float"):
        get_codec(CODEC).encode(ct_region.array.astype(np.float64), PixelFormat(bits=13), {})


def test_flipped_byte_in_a_chunk_fails_its_checksum(coded):
    data, chunk = coded
    damaged = bytearray(chunk)
    damaged[len(chunk) // 2] ^= 0x10
    with pytest.raises(CodecError, match="checksum"):
        api.decompress(with_chunk(data, bytes(damaged)))
    file_damage = bytearray(data)
    file_damage[len(data) - len(chunk) // 2] ^= 0x10  # the same damage in a written file: the container names it
    with pytest.raises(ChecksumError, match="chunk 0"):
        api.decompress(bytes(file_damage))


@pytest.mark.parametrize("keep", [-9, 12], ids=["last-bytes-lost", "header-only"])
def test_truncated_chunk(coded, keep):
    data, chunk = coded
    with pytest.raises(CodecError, match="checksum|truncated"):
        api.decompress(with_chunk(data, chunk[:keep]))


def test_pixels_that_differ_from_the_encoders_are_reported(coded):
    """A chunk whose checksum matches but whose decoded pixels do not (the digest catches it)."""
    data, chunk = coded
    body = bytearray(chunk[:-4])
    body[-1] ^= 0x01  # last byte of the stored digest of the encoder's pixels
    with pytest.raises(CodecError, match="digest"):
        api.decompress(with_chunk(data, recrc(bytes(body))))


def test_negative_max_error_is_refused(ct_region):
    with pytest.raises(MedCompError, match="max_error"):
        api.compress(ct_region, codec=CODEC, max_error=-1)
    with pytest.raises(CodecError, match="max_error"):
        api.compress(ct_region, codec=CODEC, params={"max_error": -2, "slab": 8})


@pytest.mark.parametrize("slab", [0, -1, 65, 2.5, "8", None])
def test_invalid_slab_is_refused(ct_region, slab):
    with pytest.raises(CodecError, match="slab"):
        api.compress(ct_region, codec=CODEC, params={"max_error": 0, "slab": slab})


def bundle_with_other_weights(root):
    """A copy of the learned_lossless bundle whose scale regression differs by one step of its bias."""
    state = torch.load(weights_path("learned_lossless"), weights_only=True)
    state["scale_first"][-1] += 1
    path = root / "learned_lossless" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return root


def test_file_coded_with_other_weights_is_refused(coded, ct_region, tmp_path, monkeypatch):
    data, _ = coded
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(bundle_with_other_weights(tmp_path)))
    with pytest.raises(MissingWeightsError, match="learned_lossless"):
        api.decompress(data)
    other = api.compress(ct_region, codec=CODEC)  # coded with the other weights ...
    np.testing.assert_array_equal(api.decompress(other.data).array, ct_region.array)
    monkeypatch.delenv("MEDCOMP_BUNDLES")
    with pytest.raises(MissingWeightsError, match="learned_lossless"):  # ... and read with the shipped ones
        api.decompress(other.data)
