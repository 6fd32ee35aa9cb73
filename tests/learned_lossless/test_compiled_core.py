"""The compiled core (chunk versions 5 and 6): its contexts are the numpy model's, its range coder returns every decision
it was given at about their information content, and a slab decodes to the encoder's pixels."""

import dataclasses

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import adaptive_core, get_codec
from monai_medcomp.codecs.base import PixelFormat
from monai_medcomp.codecs.context_model import SlabPlanes, activity, band_of
from monai_medcomp.codecs.learned_lossless import CHUNK_VERSION, Chunk, compile_core, known_context
from monai_medcomp.container import ContainerReader
from monai_medcomp.errors import CodecError

CODEC = "learned-lossless"


@pytest.mark.parametrize("size", [(3, 40, 48), (2, 300, 260)])  # 12 neighbours, then 24
def test_compiled_contexts_equal_the_numpy_model(size, images):
    """Every pixel, border ones included, of first and later planes of a real volume crop."""
    volume = images.crop("mr_example4d", slice(0, size[1]), slice(0, size[2]), slice(8, 8 + size[0]))
    image = volume.array.astype(np.int64) - int(volume.array.min())
    planes = SlabPlanes(*image.shape, int(image.max()).bit_length())
    planes.fill(image)
    for plane, has_previous in ((0, False), (1, True)):
        positions = planes.all_positions(plane)
        expected = planes.value_context(positions, has_previous)
        known = known_context(planes, positions, has_previous)
        np.testing.assert_array_equal(known.reference, expected.reference)
        np.testing.assert_array_equal(known.design, expected.relative)
        np.testing.assert_array_equal(known.activity, activity(expected.gradients))
        edges = np.quantile(known.activity, [0.25, 0.5, 0.75]).astype(np.int64)
        np.testing.assert_array_equal(known.band(edges), band_of(edges, expected.gradients))


def test_range_coder_returns_every_decision_at_about_its_information_content():
    rng = np.random.default_rng(5)
    bits = (rng.random(200_000) < 0.07).astype(np.int64)  # 0.366 bits of information each
    model = np.array([adaptive_core.ONE // 2, adaptive_core.ONE // 2, 0], dtype=np.int32)
    state, out = np.array([0, 0xFFFFFFFF, 0, 1, 0], dtype=np.int64), np.empty(16, dtype=np.uint8)
    for bit in bits:
        out = adaptive_core.with_room(state, out)
        adaptive_core.encode_bit(state, out, model, bit)
    out = adaptive_core.with_room(state, out)
    for _ in range(5):
        adaptive_core.shift_low(state, out)
    data = out[:state[4]].copy()
    entropy = -(0.07 * np.log2(0.07) + 0.93 * np.log2(0.93)) * len(bits) / 8
    assert entropy < len(data) < 1.02 * entropy
    model[:] = (adaptive_core.ONE // 2, adaptive_core.ONE // 2, 0)
    read = np.array([0, 0xFFFFFFFF, 0], dtype=np.int64)
    for _ in range(5):
        read[0] = (read[0] << 8) | data[read[2]]
        read[2] += 1
    decoded = [adaptive_core.decode_bit(read, data, model) for _ in range(len(bits))]
    np.testing.assert_array_equal(decoded, bits)


@pytest.mark.parametrize("max_error", [0, 3])
def test_files_are_written_as_version_7_and_decode_to_the_encoders_pixels(max_error, images, tmp_path):
    original = images.crop("ct_693", slice(100, 300), slice(0, 256))
    path = tmp_path / "ct.mcz"
    api.compress(original, path, codec=CODEC, max_error=max_error or None)
    with ContainerReader(path) as reader:
        chunk = Chunk.from_bytes(reader.read_chunk(0))
    assert CHUNK_VERSION == chunk.version == 7 and len(chunk.model.classes.scales) == 0
    decoded = api.decompress(path).array.astype(np.int64)
    assert np.abs(decoded - original.array).max() == max_error  # the bound is reached, never passed


def test_a_header_declaring_other_planes_than_the_chunk_is_refused_at_once(images):
    """A fuzzed file header once declared 65,536 rows for a 2 KB file and decoded for 36 s before its digest
    refused it; since version 5 a chunk records its planes' size, so the mismatch is refused before decoding."""
    crop = images.crop("us_8bit", slice(0, 32), slice(0, 32))
    chunk = api.compress(crop, codec=CODEC).encoded.chunks[0]
    codec, fmt = get_codec(CODEC), PixelFormat(bits=8)
    np.testing.assert_array_equal(codec.decode(chunk, (1, 32, 32), fmt, {})[0], crop.array[0])
    with pytest.raises(CodecError, match="holds 32x32 planes but the file header says 65536x32"):
        codec.decode(chunk, (1, 65536, 32), fmt, {})


def test_a_stream_that_ends_before_its_pixels_is_refused(images):
    """A consistent chunk (checksum recomputed) whose coded stream was cut: the decoder notices when it reads past
    the end, which a whole stream never does, instead of decoding the rest from nothing."""
    original = images.crop("ct_693", slice(100, 300), slice(0, 256))
    chunk = Chunk.from_bytes(api.compress(original, codec=CODEC).encoded.chunks[0])
    cut = dataclasses.replace(chunk, words=chunk.words[:len(chunk.words) // 3]).to_bytes()
    with pytest.raises(CodecError, match="coded stream .* ends before the 1x200x256 pixels it declares"):
        get_codec(CODEC).decode(cut, (1, 200, 256), PixelFormat(bits=original.bits_stored or 16), {})


def test_the_install_steps_compilation_round_trips():
    """``make install`` compiles the core through this round trip (lossless and D = 1) and stops if it fails."""
    compile_core()
