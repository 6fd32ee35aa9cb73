"""learned-lossy refuses what it cannot code and never returns silently wrong pixels: float data, damaged,
truncated or altered chunks, chunk headers that do not fit the image, bad parameters in a file, and files coded
with other weights all fail with one clear error.

Chunk layout (see the codec's module docstring): version u8, planes u8, bits u8, levels u8, step f64, weights
SHA-256 prefix (8 bytes), side information, u32 word count + ANS words, BLAKE2b-64 pixel digest, CRC-32."""

import dataclasses
import struct

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.codecs.learned_lossy import BUNDLE, ContextModel
from monai_medcomp.container import ContainerReader, encode_container
from monai_medcomp.errors import ChecksumError, CodecError, MissingWeightsError, UnsupportedDataError
from monai_medcomp.metrics import psnr
from monai_medcomp.weights import WEIGHTS_FILE, state_bytes

CODEC = "learned-lossy"
HEAD = 20  # version, planes, bits, levels, step, SHA-256 prefix
STEP = slice(4, 12)


@pytest.fixture(scope="module")
def ct_region(images):
    return images.region("ct_693")


@pytest.fixture(scope="module")
def coded(ct_region):
    """The CT region as a file, and its one chunk."""
    result = api.compress(ct_region, codec=CODEC, quality=70)
    return result.data, result.encoded.chunks[0]


def test_float_data_is_refused(ct_region):
    with pytest.raises(UnsupportedDataError, match="float"):
        api.compress(ct_region.array.astype(np.float32), codec=CODEC, quality=70)
    with pytest.raises(UnsupportedDataError, match="float"):
        get_codec(CODEC).encode(ct_region.array.astype(np.float64), PixelFormat(bits=12), {"quality": 70.0})


def test_flipped_byte_in_a_chunk_fails_its_checksum(coded, chunks):
    data, chunk = coded
    damaged = bytearray(chunk)
    damaged[len(chunk) // 2] ^= 0x10
    with pytest.raises(CodecError, match="checksum mismatch"):
        api.decompress(chunks.replace(data, bytes(damaged)))
    file_damage = bytearray(data)
    file_damage[len(data) - len(chunk) // 2] ^= 0x10  # the same damage in a written file: the container names it
    with pytest.raises(ChecksumError, match="chunk 0"):
        api.decompress(bytes(file_damage))


def test_any_changed_byte_behind_a_valid_checksum_is_caught(coded, chunks):
    """Side information, ANS words or digest altered and the CRC-32 recomputed: every change fails one of the
    decoder's own checks (a table out of range, symbols left over, the length, the pixel digest)."""
    data, chunk = coded
    body = chunk[:-4]
    for position in np.linspace(HEAD, len(body) - 1, 40).astype(int):  # spread over all that follows the header
        altered = bytearray(body)
        altered[position] ^= 1 << position % 8
        with pytest.raises(CodecError, match="learned-lossy"):
            api.decompress(chunks.replace(data, chunks.resealed(bytes(altered))))


@pytest.mark.parametrize("keep", [-9, 12, 0], ids=["last-bytes-lost", "header-only", "empty"])
def test_truncated_chunk(coded, chunks, keep):
    data, chunk = coded
    with pytest.raises(CodecError, match="checksum|truncated"):
        api.decompress(chunks.replace(data, chunk[:keep]))


def test_altered_digest_is_reported(coded, chunks):
    """A chunk whose checksum matches but whose stored digest is not that of the pixels it decodes to."""
    data, chunk = coded
    body = bytearray(chunk[:-4])
    body[-1] ^= 0x01  # last byte of the digest
    with pytest.raises(CodecError, match=r"decoded pixels differ from the encoder's \(digest mismatch\)"):
        api.decompress(chunks.replace(data, chunks.resealed(bytes(body))))


def test_other_step_decodes_to_other_pixels_and_is_reported(coded, chunks):
    """A valid step of another quality, re-sealed: the chunk decodes, but not to the pixels the encoder made."""
    data, chunk = coded
    body = bytearray(chunk[:-4])
    (step,) = struct.unpack("<d", body[STEP])
    body[STEP] = struct.pack("<d", step * 1.25)
    with pytest.raises(CodecError, match="digest mismatch"):
        api.decompress(chunks.replace(data, chunks.resealed(bytes(body))))


@pytest.mark.parametrize("offset, value, message", [
    pytest.param(0, 2, "version 2 is not supported", id="version"),
    pytest.param(1, 3, "header does not match the image", id="planes"),
    pytest.param(2, 16, "header does not match the image", id="bits"),
    pytest.param(3, 2, "header does not match the image", id="fewer-levels"),
    pytest.param(3, 9, "header does not match the image", id="more-levels"),
])
def test_chunk_header_that_does_not_fit_the_image_is_refused(coded, chunks, offset, value, message):
    data, chunk = coded
    body = bytearray(chunk[:-4])
    assert body[offset] != value
    body[offset] = value
    with pytest.raises(CodecError, match=message):
        api.decompress(chunks.replace(data, chunks.resealed(bytes(body))))


@pytest.mark.parametrize("step", [float("nan"), float("inf"), 0.0, -1.0, 2.0 ** 40])
def test_invalid_step_is_refused(coded, chunks, step):
    data, chunk = coded
    body = bytearray(chunk[:-4])
    body[STEP] = struct.pack("<d", step)
    with pytest.raises(CodecError, match="invalid step"):
        api.decompress(chunks.replace(data, chunks.resealed(bytes(body))))


def test_word_count_that_does_not_fit_the_chunk_is_refused(coded, chunks):
    data, chunk = coded
    body = bytearray(chunk[:-4])
    # the u32 word count sits right before its words and the 8-byte digest: the one place where it says so
    position = next(p for p in range(HEAD, len(body) - 12)
                    if 4 * struct.unpack_from("<I", body, p)[0] == len(body) - 12 - p)
    struct.pack_into("<I", body, position, struct.unpack_from("<I", body, position)[0] - 1)
    with pytest.raises(CodecError, match="length does not match its word count"):
        api.decompress(chunks.replace(data, chunks.resealed(bytes(body))))


@pytest.mark.parametrize("quality", [-1, 100.5, 1e9, "70", True, [70]])
def test_quality_outside_its_range_or_not_a_number_is_refused(coded, ct_region, quality):
    """Refused when asked for, and when read from a file (whose parameters are untrusted)."""
    with pytest.raises(CodecError, match="parameter 'quality' must be"):
        api.compress(ct_region, codec=CODEC, params={"quality": quality})
    data, _ = coded
    with ContainerReader(data) as reader:
        header = dataclasses.replace(reader.header, params={"quality": quality})
        crafted = encode_container(header, reader.metadata, [reader.read_chunk(0)])
    with pytest.raises(CodecError, match="parameter 'quality' must be"):
        api.decompress(crafted)


def bundle_with_other_weights(root):
    """A copy of the learned_lossy bundle whose activity weights differ by one Q8 step."""
    shipped, _ = get_codec(CODEC).context_model()
    other = ContextModel(shipped.weights + 1, shipped.tables)
    path = root / BUNDLE / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(state_bytes(other.state()))
    return root


def test_file_coded_with_other_weights_names_the_weights_it_needs(coded, ct_region, tmp_path):
    data, _ = coded
    shipped_sha = api.info(data)["weights"]["sha256"]
    other_bundles = bundle_with_other_weights(tmp_path)
    with pytest.raises(MissingWeightsError, match=rf"encoded with \(learned_lossy sha256 {shipped_sha[:12]}"):
        api.decompress(data, bundles=other_bundles)
    other = api.compress(ct_region, codec=CODEC, quality=70, bundles=other_bundles)  # coded with the other weights
    other_sha = other.header.weights["sha256"]
    assert other_sha != shipped_sha
    quality = [psnr(ct_region.array, api.decompress(coded_with, bundles=folder).array, bits_stored=14)
               for coded_with, folder in ((other.data, other_bundles), (data, None))]
    assert quality[0] == pytest.approx(quality[1], abs=1.0)  # the other weights decode the same quality
    with pytest.raises(MissingWeightsError, match=rf"encoded with \(learned_lossy sha256 {other_sha[:12]}"):
        api.decompress(other.data)  # ... and read with the shipped ones
