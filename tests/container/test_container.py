"""The .mcz container: layout, random access, and a clear error for damage to every section."""

import dataclasses
import struct
import zlib

import numpy as np
import pytest

from monai_medcomp.container import (FORMAT_VERSION, MAGIC, ContainerReader, Header, encode_container,
                                     pack_container, write_container)
from monai_medcomp.errors import ChecksumError, ContainerError, OutputExistsError


def make_header(slices=3, per_chunk=1):
    return Header(codec="test", params={"a": 1}, dtype="int16", shape=[slices, 4, 5], bits_stored=12, offset=-5,
                  precision=12, geometry={"spacing": [1, 1, 2], "origin": [0, 0, 0], "direction": list(np.eye(3).ravel())},
                  slices_per_chunk=per_chunk)


CHUNKS = [b"first chunk", b"", b"third chunk payload"]
DIGESTS = [bytes([n]) * 16 for n in range(1, 4)]
METADATA = {"format": "dicom", "PatientName": "Anon^Test"}


def digests(count):
    return [bytes([n % 256]) * 16 for n in range(count)]


@pytest.fixture
def blob():
    return encode_container(make_header(), METADATA, CHUNKS, DIGESTS)


def sections(blob):
    """Byte ranges of each section, computed independently of the reader."""
    head_len = struct.unpack_from("<I", blob, 8)[0]
    meta_start = 16 + head_len
    meta_len = struct.unpack_from("<I", blob, meta_start)[0]
    index_start = meta_start + 8 + meta_len
    index_len = 4 + 24 * len(CHUNKS) + 4
    return {"magic": (0, 4), "version": (4, 6), "header": (16, 16 + head_len),
            "metadata": (meta_start + 8, meta_start + 8 + meta_len), "index": (index_start, index_start + index_len),
            "chunks": (index_start + index_len, len(blob))}


def test_round_trip_and_random_access(blob):
    reader = ContainerReader(blob)
    assert reader.header == make_header()
    assert reader.metadata == METADATA
    assert [reader.read_chunk(i) for i in (2, 0, 1)] == [CHUNKS[2], CHUNKS[0], CHUNKS[1]]
    assert [reader.pixel_digest(i) for i in range(3)] == DIGESTS
    assert reader.size == len(blob)
    assert reader.overhead == len(blob) - sum(map(len, CHUNKS)) - (sections(blob)["metadata"][1] - sections(blob)["metadata"][0])


def test_slab_chunks_map_slices():
    header = make_header(slices=5, per_chunk=2)
    assert header.num_chunks == 3
    assert [list(header.chunk_slices(i)) for i in range(3)] == [[0, 1], [2, 3], [4]]
    assert header.chunk_of_slice(3) == 1
    with pytest.raises(IndexError):
        header.chunk_of_slice(5)


def test_wrong_chunk_count_is_refused():
    with pytest.raises(ValueError):
        encode_container(make_header(), METADATA, CHUNKS[:2], DIGESTS[:2])


def flip(blob, position):
    data = bytearray(blob)
    data[position] ^= 0x40
    return bytes(data)


def test_wrong_magic(blob):
    with pytest.raises(ContainerError, match="not a .mcz file"):
        ContainerReader(b"PK\x03\x04" + blob[4:])


def test_future_version(blob):
    data = bytearray(blob)
    struct.pack_into("<H", data, 4, FORMAT_VERSION + 1)
    with pytest.raises(ContainerError, match="newer"):
        ContainerReader(bytes(data))


@pytest.mark.parametrize("section, message", [("header", "header checksum"), ("metadata", "metadata checksum"),
                                              ("index", "index")])
def test_damaged_section_is_named(blob, section, message):
    start, stop = sections(blob)[section]
    with pytest.raises(ContainerError, match=message):
        ContainerReader(flip(blob, (start + stop) // 2))


def test_damaged_chunk_is_named_and_others_still_decode(blob):
    start, _ = sections(blob)["chunks"]
    damaged = flip(blob, start + len(CHUNKS[0]) + 3)  # inside the third chunk (the second is empty)
    reader = ContainerReader(damaged)
    assert reader.read_chunk(0) == CHUNKS[0]
    with pytest.raises(ChecksumError, match=r"chunk 2 \(slices 2-2\)"):
        reader.read_chunk(2)


@pytest.mark.parametrize("section", ["magic", "header", "metadata", "index", "chunks"])
def test_truncated_inside_every_section(blob, section):
    start, stop = sections(blob)[section]
    with pytest.raises(ContainerError, match="truncated|not a .mcz"):
        ContainerReader(blob[:(start + stop) // 2])


def test_truncation_names_first_missing_chunk(blob):
    with pytest.raises(ContainerError, match="chunks from 2 on are missing"):
        ContainerReader(blob[:-1])


def test_trailing_bytes_refused(blob):
    with pytest.raises(ContainerError, match="unexpected bytes"):
        ContainerReader(blob + b"\0")


def test_header_crc_valid_but_content_not_json(blob):
    garbage = zlib.compress(b"not json")
    data = MAGIC + struct.pack("<HHII", FORMAT_VERSION, 0, len(garbage), zlib.crc32(garbage)) + garbage
    with pytest.raises(ContainerError, match="damaged header"):
        ContainerReader(data)


def test_write_is_atomic_and_refuses_existing(tmp_path):
    path = tmp_path / "out.mcz"
    size = write_container(path, make_header(), METADATA, CHUNKS, DIGESTS)
    assert path.stat().st_size == size
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_container(path, make_header(), {}, CHUNKS, DIGESTS)
    assert path.read_bytes() == before
    write_container(path, make_header(), {}, CHUNKS, DIGESTS, force=True)
    assert ContainerReader(path).metadata == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mcz"]


def test_missing_file_is_a_container_error(tmp_path):
    with pytest.raises(ContainerError, match="cannot open"):
        ContainerReader(tmp_path / "absent.mcz")


def test_chunks_read_from_many_threads_stay_intact(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    chunks = [bytes([i]) * (1000 + 37 * i) for i in range(64)]
    header = make_header(slices=64)
    path = tmp_path / "many.mcz"
    write_container(path, header, METADATA, chunks, digests(64))
    with ContainerReader(path) as reader, ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            assert list(pool.map(reader.read_chunk, range(64))) == chunks


def test_lossy_files_carry_no_pixel_digest():
    """Only lossless files record pixel digests: a lossy file's index entries stay 8 bytes, as in version 1."""
    lossy = dataclasses.replace(make_header(), lossless=False)
    blob = encode_container(lossy, METADATA, CHUNKS)
    with ContainerReader(blob) as reader:
        assert [reader.pixel_digest(i) for i in range(3)] == [None] * 3
    assert len(blob) == len(pack_container(lossy.to_json(), METADATA, CHUNKS, version=1))
