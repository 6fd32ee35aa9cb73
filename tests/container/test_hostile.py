"""Crafted .mcz files whose checksums are all right: the reader checks what they say before using it.

Each case is a real file (a crop of the CT evaluation image, coded by a real codec) re-packed with one
field changed and every CRC recomputed, as an attacker or a broken tool would write it.
"""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from monai_medcomp import api, cli
from monai_medcomp.container import FORMAT_VERSION, ContainerReader, pack_container
from monai_medcomp.data import load_sample
from monai_medcomp.engine import decode_chunks
from monai_medcomp.codecs import get_codec
from monai_medcomp.errors import ChecksumError, ContainerError, MedCompError


@pytest.fixture(scope="module")
def ct():
    """Three 48x40 slices of real CT (one slice repeated with small changes), signed 16-bit."""
    plane = load_sample("ct_693").array[0, 200:248, 200:240]
    return np.stack([plane, plane[::-1], plane[:, ::-1]]).astype(np.int16)


@pytest.fixture(scope="module")
def coded(ct):
    return api.compress(ct, codec="jpeg2000")


def parts(data):
    """Header JSON, metadata JSON, chunks and pixel digests of a valid file."""
    with ContainerReader(data) as reader:
        chunks = [reader.read_chunk(i) for i in range(len(reader.chunks))]
        return reader.header.to_json(), reader.metadata, chunks, [reader.pixel_digest(i) for i in range(len(chunks))]


def repacked(data, header=None, metadata=None, chunks=None, **options):
    head, meta, old_chunks, digests = parts(data)
    return pack_container(head if header is None else header, meta if metadata is None else metadata,
                          old_chunks if chunks is None else chunks, digests, **options)


def with_field(data, field, value):
    head = parts(data)[0]
    if value is KeyError:
        del head[field]
    else:
        head[field] = value
    return repacked(data, header=head)


BAD_FIELDS = [
    ("slices_per_chunk", 0), ("slices_per_chunk", -1), ("slices_per_chunk", 1.5), ("slices_per_chunk", True),
    ("shape", 8), ("shape", [3, 48]), ("shape", [3, 48, 40, 2]), ("shape", [0, 48, 40]), ("shape", [3, "48", 40]),
    ("shape", [3, 1 << 40, 40]), ("dtype", "x"), ("dtype", "float32"), ("dtype", None), ("geometry", None),
    ("geometry", {"spacing": [1, 1], "origin": [0, 0, 0], "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1]}),
    ("geometry", {"spacing": [1, 1, "1"], "origin": [0, 0, 0], "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1]}),
    ("offset", "x"), ("offset", 1 << 20), ("offset", None), ("precision", 0), ("precision", 17), ("precision", 9.0),
    ("bits_stored", 0), ("bits_stored", 32), ("params", []), ("params", "x"), ("lossless", "yes"),
    ("weights", {"name": "../../etc", "sha256": "0" * 64}), ("weights", {"name": "cnn_ae", "sha256": "z"}),
    ("extra", None), ("codec", 7), ("codec", "../x"), ("codec", KeyError), ("shape", KeyError),
    ("unknown", 1),
]


@pytest.mark.parametrize("field, value", BAD_FIELDS, ids=[f"{f}={v!r}"[:40] for f, v in BAD_FIELDS])
def test_bad_header_field_is_named(coded, field, value):
    crafted = with_field(coded.data, field, value)
    with pytest.raises(ContainerError, match=f"invalid {field}|invalid header: unknown field"):
        api.info(crafted)
    with pytest.raises(ContainerError):
        api.decompress(crafted)


def test_fields_must_agree(coded):
    head = parts(coded.data)[0]
    uint8 = dict(head, dtype="uint8", precision=12, bits_stored=8, offset=0)
    with pytest.raises(ContainerError, match="invalid precision: 12 bits do not fit uint8"):
        api.info(repacked(coded.data, header=uint8))
    negative = dict(head, dtype="uint16", offset=-5)
    with pytest.raises(ContainerError, match="invalid offset"):
        api.info(repacked(coded.data, header=negative))
    more_chunks = dict(head, slices_per_chunk=2)  # the index still lists three chunks
    with pytest.raises(ContainerError, match="chunk index lists 3 chunks, header expects 2"):
        api.info(repacked(coded.data, header=more_chunks))


@pytest.mark.parametrize("metadata, field", [([], "metadata"), ("x", "metadata"), ({"dicom": []}, "metadata.dicom"),
                                             ({"dicom": {"files": {}}}, "metadata.dicom.files"),
                                             ({"dicom": {"files": [{"filename": 3}]}}, r"metadata.dicom.files\[0\]"),
                                             ({"rescale": {"slope": "x"}}, "metadata.rescale.slope"),
                                             ({"itk": {"a": 1}}, "metadata.itk"), ({"nifti": 1}, "metadata.nifti")])
def test_bad_metadata_is_named(coded, metadata, field):
    crafted = repacked(coded.data, metadata=metadata)
    with pytest.raises(ContainerError, match=f"invalid {field}"):
        api.info(crafted)


@pytest.mark.parametrize("section", ["header", "metadata"])
def test_deep_nesting_is_refused(coded, section):
    head, meta, chunks, digests = parts(coded.data)
    deep = b"[" * 100_000 + b"]" * 100_000
    body = zlib.compress(deep)
    if section == "header":
        data = b"\x89MCZ" + struct.pack("<HHII", FORMAT_VERSION, 0, len(body), zlib.crc32(body)) + body
    else:
        data = repacked(coded.data)
        head_len = struct.unpack_from("<I", data, 8)[0]
        data = data[:16 + head_len] + struct.pack("<II", len(body), zlib.crc32(body)) + body
    with pytest.raises(ContainerError, match=f"damaged {section}: JSON nested too deeply"):
        ContainerReader(data)


def test_non_numbers_are_refused(coded):
    head = parts(coded.data)[0]
    head["geometry"]["origin"] = [0, 0, float("nan")]  # json.dumps writes NaN, which is not JSON
    with pytest.raises(ContainerError, match="damaged header: NaN is not a JSON number"):
        api.info(repacked(coded.data, header=head))


def test_zlib_bomb_is_refused_before_it_inflates(coded):
    bomb = zlib.compress(b"[" + b" " * (300 << 20) + b"]", 9)  # 300 MB of JSON in about 300 KB
    data = b"\x89MCZ" + struct.pack("<HHII", FORMAT_VERSION, 0, len(bomb), zlib.crc32(bomb)) + bomb
    tracemalloc.start()
    with pytest.raises(ContainerError, match="inflates to more than"):
        ContainerReader(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize("position", ["header", "metadata", "count"])
def test_huge_length_fields_are_checked_against_the_file(coded, position):
    data = bytearray(coded.data)
    head_len = struct.unpack_from("<I", data, 8)[0]
    meta_len = struct.unpack_from("<I", data, 16 + head_len)[0]
    offset = {"header": 8, "metadata": 16 + head_len, "count": 16 + head_len + 8 + meta_len}[position]
    struct.pack_into("<I", data, offset, 0xFFFFFFFF)
    tracemalloc.start()
    with pytest.raises(ContainerError, match="truncated|header expects"):
        api.info(bytes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20


def test_huge_chunk_count_with_a_matching_header(coded):
    head = dict(parts(coded.data)[0], shape=[1 << 24, 48, 40])
    data = pack_container(head, {}, [])
    data = data[:-8] + struct.pack("<I", 1 << 24) + data[-4:]  # the count the header asks for, no entries
    with pytest.raises(ContainerError, match="truncated"):
        ContainerReader(data)


def test_unknown_flags_are_refused(coded):
    with pytest.raises(ContainerError, match="unknown flags 0x0004"):
        api.info(repacked(coded.data, flags=4))


def swap_first_two_chunks(data, entry_size):
    """Chunks 0 and 1 (of equal length) swapped with their index entries, and the index CRC recomputed."""
    head_len = struct.unpack_from("<I", data, 8)[0]
    index = 16 + head_len + 8 + struct.unpack_from("<I", data, 16 + head_len)[0]
    count = struct.unpack_from("<I", data, index)[0]
    entries = [data[index + 4 + n * entry_size:index + 4 + (n + 1) * entry_size] for n in range(count)]
    entries[0], entries[1] = entries[1], entries[0]
    body = data[index:index + 4] + b"".join(entries)
    start = index + len(body) + 4
    length = struct.unpack_from("<I", entries[0])[0]
    first, second = data[start:start + length], data[start + length:start + 2 * length]
    return data[:index] + body + struct.pack("<I", zlib.crc32(body)) + second + first + data[start + 2 * length:]


def test_swapped_chunks_are_caught(coded):
    """Two equal-length chunks swapped in the file, index and all: from version 2 each CRC covers the
    chunk's position, so the swap is caught where version 1 decoded the slices swapped."""
    head, meta, _, _ = parts(coded.data)
    head = dict(head, lossless=False)  # no pixel digests: the position-bound CRC alone must catch it
    chunks = [b"AAAAAAAA", b"BBBBBBBB", b"CCCC"]
    reader = ContainerReader(swap_first_two_chunks(pack_container(head, meta, chunks), 8))
    assert reader.read_chunk(2) == b"CCCC"
    for index in (0, 1):
        with pytest.raises(ChecksumError, match=f"chunk {index} .*not in its place"):
            reader.read_chunk(index)
    version_1 = ContainerReader(swap_first_two_chunks(pack_container(head, meta, chunks, version=1), 8))
    assert [version_1.read_chunk(i) for i in range(3)] == [b"BBBBBBBB", b"AAAAAAAA", b"CCCC"]  # what v1 missed


def test_version_1_files_still_decode(ct, coded):
    head, meta, chunks, _ = parts(coded.data)
    version_1 = pack_container(head, meta, chunks, version=1)
    with ContainerReader(version_1) as reader:
        assert reader.version == 1 and reader.pixel_digest(0) is None
    np.testing.assert_array_equal(api.decompress(version_1).array, ct)


def silently_altered_chunk(data):
    """A change to chunk 0 that JPEG 2000 decodes without complaint into other pixels, with its CRC
    recomputed: found by trying byte changes in order (deterministic for a given file)."""
    with ContainerReader(data) as reader:
        header, chunk = reader.header, reader.read_chunk(0)
    codec = get_codec(header.codec)
    original = decode_chunks(header, lambda i: chunk, codec, [0])
    for position in range(len(chunk) // 2, len(chunk)):
        altered = bytearray(chunk)
        altered[position] ^= 0x01
        try:
            pixels = decode_chunks(header, lambda i: bytes(altered), codec, [0])
        except MedCompError:
            continue
        if not np.array_equal(pixels, original):
            return bytes(altered)
    raise AssertionError("no silent alteration found")


def test_altered_lossless_chunk_with_recomputed_crc_is_caught(coded):
    head, meta, chunks, digests = parts(coded.data)
    altered = silently_altered_chunk(coded.data)
    crafted = pack_container(head, meta, [altered, *chunks[1:]], digests)
    with pytest.raises(ChecksumError, match=r"chunk 0 \(slices 0-0\) decodes to other pixels .*pixel digest"):
        api.decompress(crafted)
    np.testing.assert_array_equal(api.decompress(crafted, slices=[1, 2]).array, api.decompress(coded.data).array[1:])


def test_crafted_file_ends_in_one_line_and_exit_2(coded, tmp_path, capsys):
    path = tmp_path / "crafted.mcz"
    path.write_bytes(with_field(coded.data, "slices_per_chunk", 0))
    for command in (["info", str(path)], ["decompress", str(path), str(tmp_path / "out.nii.gz")]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "invalid slices_per_chunk" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.mcz"]


@pytest.mark.parametrize("codec, params, message", [
    ("kmeans", {"block": 1.5}, "'block' must be an integer"), ("kmeans", {"block": True}, "'block' must be an integer"),
    ("kmeans", {"block": 0}, "'block' must be from 1 to 64"), ("bttc", {"tolerance": -1}, "from 0 to 4095"),
    ("jpegxl", {"effort": "7"}, "'effort' must be an integer"), ("jpeg2000", {"bpp": "x"}, "finite number")])
def test_codec_parameters_from_a_file_are_checked(ct, codec, params, message):
    """A file's codec parameters steer its decoder: the wrong type or range is refused, never decoded."""
    coded = api.compress(ct[:1], codec=codec)
    head = parts(coded.data)[0]
    crafted = repacked(coded.data, header=dict(head, params={**head["params"], **params}))
    with pytest.raises(MedCompError, match=message):
        api.decompress(crafted)


def test_lossless_offset_that_overflows_the_dtype_is_refused():
    """Values that cannot be the original ones (above the dtype once the offset is added) are an error,
    never wrapped round to small values."""
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    coded = api.compress(image, codec="png")
    crafted = with_field(coded.data, "offset", 1)
    with pytest.raises(ChecksumError, match="do not fit uint8 above the offset 1"):
        api.decompress(crafted)
