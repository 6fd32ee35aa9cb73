"""mlp-huffman: bit-exact round trips on real images and edge cases, exact decoding, clear errors."""

import struct
import zlib

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from monai_medcomp import api
from monai_medcomp.cli import main as cli_main
from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.codecs.predictive import Chunk
from monai_medcomp.container import ContainerReader, encode_container
from monai_medcomp.data import load_sample
from monai_medcomp.engine import decode_chunks, encode_volume
from monai_medcomp.errors import CodecError, MedCompError, MissingWeightsError, UnsupportedDataError
from monai_medcomp.volume import Volume

FAST = {"epochs": 1}


def round_trip(volume: Volume, params: dict | None = None):
    codec = get_codec("mlp-huffman")
    encoded = encode_volume(volume, codec, None if params is None else {**codec.default_params(), **params})
    data = encoded.to_bytes()
    with ContainerReader(data) as reader:
        decoded = decode_chunks(reader.header, reader.read_chunk, codec)
    return encoded, data, decoded


def crop(name: str, rows: slice, cols: slice, slices: slice = slice(0, 1)) -> Volume:
    volume = load_sample(name)
    return volume.with_array(volume.array[slices, rows, cols])


@pytest.fixture(scope="module")
def ct_crop():
    return crop("ct_693", slice(200, 296), slice(180, 300))  # signed 14-bit head CT


@pytest.mark.parametrize("name, rows, cols, slices", [
    ("ct_693", slice(200, 296), slice(180, 300), slice(0, 1)),
    ("ct_explicit_vr_un", slice(150, 230), slice(150, 250), slice(0, 1)),  # signed, 16 bits stored
    ("us_8bit", slice(300, 380), slice(400, 500), slice(0, 1)),
    ("us_rgb", slice(200, 260), slice(250, 330), slice(0, 1)),
    ("mr_emri_small", slice(None), slice(None), slice(0, 3)),
])
def test_real_images_round_trip_bit_exact(name, rows, cols, slices):
    volume = crop(name, rows, cols, slices)
    encoded, data, decoded = round_trip(volume)  # defaults: pretrained start, short fine-tuning
    np.testing.assert_array_equal(decoded, volume.array)
    assert decoded.dtype == volume.array.dtype
    assert encoded.header.lossless and encoded.header.weights["name"] == "mlp_huffman"
    payload_bits = 8 * sum(len(chunk) for chunk in encoded.chunks)
    assert payload_bits < volume.array.size * volume.array.dtype.itemsize * 8


def test_beats_a_plain_previous_pixel_coder_on_ct(ct_crop):
    """The learned predictor must do better than coding the left-neighbour difference."""
    encoded, _, _ = round_trip(ct_crop)
    pixels = ct_crop.array.astype(np.int64)[0]
    diff = np.diff(pixels, axis=1, prepend=0).ravel()
    p = np.unique(diff, return_counts=True)[1] / diff.size
    assert 8 * len(encoded.chunks[0]) / diff.size < -(p * np.log2(p)).sum()


def test_scratch_start_stores_its_weights(ct_crop):
    _, scratch_data, decoded = round_trip(ct_crop, {"start": "scratch", "epochs": 2})
    np.testing.assert_array_equal(decoded, ct_crop.array)
    encoded, _, _ = round_trip(ct_crop, {"start": "scratch", "epochs": 2})
    chunk = Chunk.from_bytes(encoded.chunks[0], 1)
    assert chunk.mode == "scratch" and len(chunk.weights) > 500  # ~2500 parameters, counted in the file


EDGE_SHAPES = [(1, 1), (1, 9), (9, 1), (7, 13), (2, 1, 1)]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize("shape", EDGE_SHAPES)
def test_edge_cases(dtype, shape):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(sum(shape))
    for array in (rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype),  # dtype min and max
                  np.full(shape, info.min, dtype=dtype), np.full(shape, info.max, dtype=dtype)):
        if array.size > 1:
            array.flat[0], array.flat[-1] = info.min, info.max
        _, _, decoded = round_trip(Volume(array), FAST)
        np.testing.assert_array_equal(decoded, Volume(array).array)


def test_rgb_edge_case_and_odd_size():
    array = np.random.default_rng(3).integers(0, 256, (1, 5, 7, 3), dtype=np.uint8)
    array[0, 0, 0] = (0, 255, 0)
    _, _, decoded = round_trip(Volume(array), FAST)
    np.testing.assert_array_equal(decoded, array)


def test_same_pixels_whatever_the_thread_count(ct_crop):
    with threadpool_limits(1):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            encoded, data, _ = round_trip(ct_crop)
        finally:
            torch.set_num_threads(threads)
    codec = get_codec("mlp-huffman")
    with ContainerReader(data) as reader:
        with threadpool_limits(2):
            two = decode_chunks(reader.header, reader.read_chunk, codec)
        with threadpool_limits(1):
            one = decode_chunks(reader.header, reader.read_chunk, codec)
    np.testing.assert_array_equal(one, ct_crop.array)
    np.testing.assert_array_equal(two, ct_crop.array)


def rebuilt(encoded, chunk: bytes, reseal: bool) -> bytes:
    """The file with chunk 0 replaced; ``reseal`` recomputes the chunk's own CRC as an attacker would."""
    if reseal:
        chunk = chunk[:-4] + struct.pack("<I", zlib.crc32(chunk[:-4]))
    return encode_container(encoded.header, encoded.metadata, [chunk, *encoded.chunks[1:]], encoded.digests)


@pytest.fixture(scope="module")
def scratch_encoded(ct_crop):
    return round_trip(ct_crop, {"start": "scratch", "epochs": 1})[0]


WEIGHTS_START = 5 + 2 + 1 + 4  # version..layers, widths 32 and 16, one input shift, the weights section's length


def test_damaged_weights_fail_the_chunk_checksum(scratch_encoded):
    chunk = bytearray(scratch_encoded.chunks[0])
    chunk[WEIGHTS_START + 20] ^= 0x10
    with pytest.raises(CodecError, match="checksum mismatch"):
        api.decompress(rebuilt(scratch_encoded, bytes(chunk), reseal=False))


def test_altered_weights_fail_the_prediction_digest(scratch_encoded):
    """Weights changed consistently (valid deflate stream, CRC resealed): predictions differ -> digest error."""
    chunk = Chunk.from_bytes(scratch_encoded.chunks[0], 1)
    vector = np.frombuffer(zlib.decompress(chunk.weights), dtype="<u4").copy()
    vector[-1] += 256  # the output bias moves by one normalised unit
    chunk.weights = zlib.compress(vector.tobytes())
    with pytest.raises(CodecError, match="digest mismatch"):
        api.decompress(rebuilt(scratch_encoded, chunk.to_bytes(), reseal=True))


def test_damaged_residuals_fail_the_chunk_checksum(scratch_encoded):
    chunk = bytearray(scratch_encoded.chunks[0])
    chunk[-20] ^= 0x01
    with pytest.raises(CodecError, match="checksum mismatch"):
        api.decompress(rebuilt(scratch_encoded, bytes(chunk), reseal=False))


def test_file_from_other_pretrained_weights_is_refused(ct_crop):
    encoded = round_trip(ct_crop, {"epochs": 0})[0]
    chunk = Chunk.from_bytes(encoded.chunks[0], 1)
    assert chunk.mode == "pretrained" and chunk.weights == b""
    chunk.bundle_sha = bytes(8)
    with pytest.raises(MissingWeightsError, match="install the bundle"):
        api.decompress(rebuilt(encoded, chunk.to_bytes(), reseal=True))


def test_float_images_are_rejected():
    with pytest.raises(UnsupportedDataError, match="floating-point"):
        Volume(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(UnsupportedDataError, match="float32"):
        get_codec("mlp-huffman").encode(np.zeros((1, 4, 4), np.float32), PixelFormat(8), {})


def test_lossy_target_is_refused(ct_crop):
    with pytest.raises(MedCompError):
        api.compress(ct_crop, codec="mlp-huffman", psnr=40.0)


@pytest.mark.parametrize("params, message", [
    ({"start": "midway"}, "start"), ({"epochs": -1}, "epochs"), ({"hidden": [0]}, "hidden"),
    ({"context": 2}, "context"), ({"speed": 3}, "does not take"),
    ({"start": "pretrained", "hidden": [8]}, "pretrained"),
])
def test_bad_parameters_are_named(ct_crop, params, message):
    with pytest.raises(CodecError, match=message):
        encode_volume(ct_crop, get_codec("mlp-huffman"), {**get_codec("mlp-huffman").default_params(), **params})


def test_cli_round_trip(tmp_path):
    from pydicom.data import get_testdata_file

    source = get_testdata_file("emri_small.dcm")
    assert cli_main(["compress", source, str(tmp_path / "e.mcz"), "--codec", "mlp-huffman", "--quiet"]) == 0
    assert cli_main(["decompress", str(tmp_path / "e.mcz"), str(tmp_path / "e.nii.gz"), "--quiet"]) == 0
    np.testing.assert_array_equal(api.read(tmp_path / "e.mcz").array, api.read(source).array)
    assert api.info(tmp_path / "e.mcz")["codec"] == "mlp-huffman"
