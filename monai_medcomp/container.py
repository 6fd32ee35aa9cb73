"""The ``.mcz`` file: a small header, the source metadata, an index of independently decodable chunks.

Layout (all integers little-endian; ``docs/format.md`` is the reference)::

    prelude   16 bytes  magic b"\\x89MCZ", version u16, flags u16, header length u32, header CRC-32 u32
    header    zlib-compressed UTF-8 JSON: codec, parameters, dtype, shape, bits, offset, geometry, chunks
    metadata  u32 length, u32 CRC-32, zlib-compressed UTF-8 JSON of the source file's metadata
    index     u32 chunk count N, N x (u32 length, u32 CRC-32 of position + payload[, 16-byte pixel digest
              in lossless files]), u32 CRC-32 of the index
    chunks    N payloads back to back

A chunk covers ``slices_per_chunk`` consecutive slices, so one slice is read by seeking to its chunk
without touching the rest.  Every section carries a CRC-32 and the header and metadata pass one schema
(``container_schema``) before anything uses them: damage is reported with the section, field or chunk it
hit, never decoded into silently wrong pixels.  A lossless file also records a digest of each chunk's
decoded pixels, so it can only ever decode to the pixels it was made from.  Version 1 files (no
position in the chunk CRC, no pixel digests) still read.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import struct
import threading
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

import numpy as np

from .container_schema import SchemaError, check_header, check_metadata
from .errors import ChecksumError, ContainerError
from .fileio import atomic_write

MAGIC = b"\x89MCZ"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
KNOWN_FLAGS = 0  # no flag is defined yet: a set bit means a format this reader does not know
DIGEST_SIZE = 16  # BLAKE2b-128 of a chunk's decoded pixels (version 2, lossless files)
MAX_HEADER_JSON = 1 << 20  # the header inflates to a few hundred bytes
MAX_METADATA_JSON = 1 << 28  # a long DICOM series' headers inflate to megabytes, never to this
_PRELUDE = struct.Struct("<4sHHII")
_SECTION = struct.Struct("<II")
_COUNT = struct.Struct("<I")
_ENTRY = struct.Struct("<II")
_DIGEST_ENTRY = struct.Struct(f"<II{DIGEST_SIZE}s")


@dataclasses.dataclass
class Header:
    """Everything needed to decode the chunks and rebuild the Volume (plain JSON values)."""

    codec: str
    params: dict[str, Any]
    dtype: str
    shape: list[int]
    bits_stored: int
    offset: int
    precision: int
    geometry: dict[str, Any]
    slices_per_chunk: int = 1
    lossless: bool = True
    codec_version: str = ""
    weights: dict[str, str] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def raw_nbytes(self) -> int:
        """Size of the original stored integers, the denominator of every ratio."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    @property
    def num_chunks(self) -> int:
        return -(-self.shape[0] // self.slices_per_chunk)

    def chunk_slices(self, chunk: int) -> range:
        """The slice indices that chunk number ``chunk`` holds."""
        start = chunk * self.slices_per_chunk
        return range(start, min(start + self.slices_per_chunk, self.shape[0]))

    def chunk_of_slice(self, index: int) -> int:
        if not 0 <= index < self.shape[0]:
            raise IndexError(f"slice {index} is out of range for a volume of {self.shape[0]} slices")
        return index // self.slices_per_chunk

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> "Header":
        """A Header from JSON that :func:`check_header` accepts (:class:`ContainerError` naming the field otherwise)."""
        return cls(**check_header(value))


def entry_struct(version: int, lossless: bool) -> struct.Struct:
    """An index entry: length and CRC-32, and from version 2 in a lossless file the pixel digest too
    (lossy files carry none, so their overhead stays that of version 1)."""
    return _DIGEST_ENTRY if version > 1 and lossless else _ENTRY


def chunk_crc(version: int, number: int, payload: bytes) -> int:
    """The CRC-32 stored for chunk ``number``: from version 2 it covers the chunk's position too, so two
    chunks swapped in a file fail their checks instead of decoding into swapped slices."""
    if version == 1:
        return zlib.crc32(payload)
    return zlib.crc32(payload, zlib.crc32(_COUNT.pack(number)))


def _pack_json(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"), 9)


def _inflate(data: bytes, limit: int, what: str) -> bytes:
    """zlib-inflate a section, refusing one that inflates beyond ``limit`` (a zlib bomb) before it does."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, limit)
    except zlib.error as error:
        raise ContainerError(f"damaged {what}: {error}") from None
    if inflater.unconsumed_tail:
        raise ContainerError(f"damaged {what}: it inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ContainerError(f"damaged {what}: the zlib stream is incomplete or followed by other bytes")
    return text


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _unpack_json(data: bytes, limit: int, what: str) -> Any:
    text = _inflate(data, limit, what)
    try:
        return json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ContainerError(f"damaged {what}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError, and integers too long to convert
        raise ContainerError(f"damaged {what}: {error}") from None


def pack_container(header_json: Any, metadata_json: Any, chunks: Sequence[bytes],
                   digests: Sequence[bytes] | None = None, *, version: int = FORMAT_VERSION, flags: int = 0) -> bytes:
    """The bytes of a ``.mcz`` file holding these JSON values and chunks, with every length and CRC right
    and nothing checked: :func:`encode_container` for real files, this alone to craft test files.  The
    entries carry ``digests`` (zeros where missing) when the header says lossless, as the reader expects."""
    head = _pack_json(header_json)
    meta = _pack_json(metadata_json)
    entry = entry_struct(version, isinstance(header_json, dict) and header_json.get("lossless") is True)
    digests = [None] * len(chunks) if digests is None else digests
    out = io.BytesIO()
    out.write(_PRELUDE.pack(MAGIC, version, flags, len(head), zlib.crc32(head)))
    out.write(head)
    out.write(_SECTION.pack(len(meta), zlib.crc32(meta)))
    out.write(meta)
    index = _COUNT.pack(len(chunks)) + b"".join(
        entry.pack(len(chunk), chunk_crc(version, number, chunk),
                   *([digest or bytes(DIGEST_SIZE)] if entry is _DIGEST_ENTRY else []))
        for number, (chunk, digest) in enumerate(zip(chunks, digests)))
    out.write(index)
    out.write(_COUNT.pack(zlib.crc32(index)))
    for chunk in chunks:
        out.write(chunk)
    return out.getvalue()


def encode_container(header: Header, metadata: dict[str, Any], chunks: Sequence[bytes],
                     digests: Sequence[bytes] | None = None) -> bytes:
    """Serialise a complete ``.mcz`` file into bytes; ``digests``, the decoded pixels' digests per chunk,
    are required for a lossless header.  Header and metadata pass the reader's checks first, so nothing
    is written that could not be read back."""
    if len(chunks) != header.num_chunks:
        raise ValueError(f"{len(chunks)} chunks given, header expects {header.num_chunks}")
    if header.lossless and (digests is None or len(digests) != len(chunks)):
        raise ValueError("a lossless container needs one pixel digest per chunk")
    if digests is not None and any(len(digest) != DIGEST_SIZE for digest in digests):
        raise ValueError(f"pixel digests are {DIGEST_SIZE} bytes")
    head = header.to_json()
    check_header(head)
    check_metadata(metadata)
    return pack_container(head, metadata, chunks, digests if header.lossless else None)


def write_container(path: str | os.PathLike, header: Header, metadata: dict[str, Any], chunks: Sequence[bytes],
                    digests: Sequence[bytes] | None = None, force: bool = False) -> int:
    """Write a ``.mcz`` file atomically; return its size in bytes."""
    data = encode_container(header, metadata, chunks, digests)
    atomic_write(path, data, force=force)
    return len(data)


@dataclasses.dataclass(frozen=True)
class ChunkEntry:
    offset: int
    length: int
    crc32: int
    digest: bytes | None = None


class ContainerReader:
    """Random access to a ``.mcz`` file or bytes: the header at once, chunks on demand, each checked."""

    def __init__(self, source: str | os.PathLike | bytes | BinaryIO):
        self._lock = threading.Lock()
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._file: BinaryIO = io.BytesIO(bytes(source))
            self.name = "<bytes>"
        elif hasattr(source, "read"):
            self._file = source  # type: ignore[assignment]
            self.name = getattr(source, "name", "<stream>")
        else:
            self.name = str(source)
            try:
                self._file = open(source, "rb")
            except OSError as error:
                raise ContainerError(f"cannot open {self.name}: {error.strerror}") from None
        try:
            self._read_sections()
        except BaseException:
            self.close()
            raise

    def _read_exact(self, size: int, what: str) -> bytes:
        """``size`` bytes, after checking that the file still holds them: a length field is never an allocation."""
        left = self._end - self._file.tell()
        if size > left:
            raise ContainerError(f"{self.name}: truncated file (the {what} needs {size} bytes, {max(left, 0)} remain)")
        data = self._file.read(size)
        if len(data) != size:
            raise ContainerError(f"{self.name}: truncated file (ends inside the {what})")
        return data

    def _read_sections(self) -> None:
        """Prelude, header, metadata and index, each checked (checksum, then schema) before the next is read."""
        start = self._file.tell()
        self._end = self._file.seek(0, io.SEEK_END)
        self._file.seek(start)
        prelude = self._file.read(_PRELUDE.size)
        if len(prelude) < 4 or prelude[:4] != MAGIC:
            raise ContainerError(f"{self.name}: not a .mcz file (wrong magic bytes)")
        if len(prelude) != _PRELUDE.size:
            raise ContainerError(f"{self.name}: truncated file (ends inside the prelude)")
        _, version, flags, head_len, head_crc = _PRELUDE.unpack(prelude)
        if version > FORMAT_VERSION:
            raise ContainerError(f"{self.name}: format version {version} is newer than this MedComp reads "
                                 f"({FORMAT_VERSION}); upgrade monai_medcomp")
        if version not in READABLE_VERSIONS:
            raise ContainerError(f"{self.name}: invalid format version {version}")
        if flags & ~KNOWN_FLAGS:
            raise ContainerError(f"{self.name}: unknown flags 0x{flags:04x} (a newer or damaged file)")
        self.version = version
        head = self._read_exact(head_len, "header")
        if zlib.crc32(head) != head_crc:
            raise ChecksumError(f"{self.name}: header checksum mismatch (the header is damaged)")
        self.header = self._checked(Header.from_json, _unpack_json(head, MAX_HEADER_JSON, "header"))
        meta_len, meta_crc = _SECTION.unpack(self._read_exact(_SECTION.size, "metadata length"))
        meta = self._read_exact(meta_len, "metadata")
        if zlib.crc32(meta) != meta_crc:
            raise ChecksumError(f"{self.name}: metadata checksum mismatch (the source metadata is damaged)")
        self.metadata = self._checked(check_metadata, _unpack_json(meta, MAX_METADATA_JSON, "metadata"))
        count_bytes = self._read_exact(_COUNT.size, "chunk index")
        (count,) = _COUNT.unpack(count_bytes)
        if count != self.header.num_chunks:
            raise ContainerError(f"{self.name}: chunk index lists {count} chunks, header expects "
                                 f"{self.header.num_chunks} (the index is damaged)")
        entry = entry_struct(version, self.header.lossless)
        entries = self._read_exact(count * entry.size, "chunk index")
        (index_crc,) = _COUNT.unpack(self._read_exact(_COUNT.size, "chunk index"))
        if zlib.crc32(count_bytes + entries) != index_crc:
            raise ChecksumError(f"{self.name}: chunk index checksum mismatch (the index is damaged)")
        offset = self._file.tell()
        self.chunks: list[ChunkEntry] = []
        for length, crc, *digest in entry.iter_unpack(entries):
            self.chunks.append(ChunkEntry(offset, length, crc, digest[0] if digest else None))
            offset += length
        self.size = offset
        if self._end < offset:
            raise ContainerError(f"{self.name}: truncated file ({self._end} bytes, index needs {offset}); "
                                 f"chunks from {self._first_missing_chunk(self._end)} on are missing")
        if self._end > offset:
            raise ContainerError(f"{self.name}: {self._end - offset} unexpected bytes after the last chunk")
        self.overhead = offset - sum(c.length for c in self.chunks) - meta_len

    def _checked(self, check: Callable[[Any], Any], value: Any) -> Any:
        """``check(value)``, its error prefixed with the file's name."""
        try:
            return check(value)
        except SchemaError as error:
            raise error.in_file(self.name) from None

    def _first_missing_chunk(self, size: int) -> int:
        return next(i for i, c in enumerate(self.chunks) if c.offset + c.length > size)

    def read_chunk(self, index: int) -> bytes:
        """The payload of chunk ``index``, after checking its CRC-32 (and, from version 2, its position)."""
        if not 0 <= index < len(self.chunks):
            raise IndexError(f"chunk {index} is out of range ({len(self.chunks)} chunks)")
        entry = self.chunks[index]
        with self._lock:  # the engine reads chunks from a thread pool; seek + read must not interleave
            self._file.seek(entry.offset)
            data = self._read_exact(entry.length, f"chunk {index}")
        if chunk_crc(self.version, index, data) != entry.crc32:
            slices = self.header.chunk_slices(index)
            raise ChecksumError(f"{self.name}: chunk {index} (slices {slices.start}-{slices.stop - 1}) "
                                f"checksum mismatch (the chunk is damaged or not in its place)")
        return data

    def pixel_digest(self, index: int) -> bytes | None:
        """The digest of chunk ``index``'s decoded pixels, where the file has one (version 2, lossless)."""
        return self.chunks[index].digest

    def close(self) -> None:
        if hasattr(self, "_file"):
            self._file.close()

    def __enter__(self) -> "ContainerReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def is_container(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the ``.mcz`` magic bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def container_size(path: str | os.PathLike) -> int:
    return Path(path).stat().st_size
