"""The ``.mcz`` file: a small header, the source metadata, an index of independently decodable chunks.

Layout (all integers little-endian; ``docs/format.md`` is the reference)::

    prelude   16 bytes  magic b"\\x89MCZ", version u16, flags u16, header length u32, header CRC-32 u32
    header    zlib-compressed UTF-8 JSON: codec, parameters, dtype, shape, bits, offset, geometry, chunks
    metadata  u32 length, u32 CRC-32, zlib-compressed UTF-8 JSON of the source file's metadata
    index     u32 chunk count N, N x (u32 length, u32 CRC-32), u32 CRC-32 of the index
    chunks    N payloads back to back

A chunk covers ``slices_per_chunk`` consecutive slices, so one slice is read by seeking to its chunk
without touching the rest.  Every section carries a CRC-32: damage is reported with the section or
chunk it hit, never decoded into silently wrong pixels.
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
from typing import Any, BinaryIO, Sequence

import numpy as np

from .errors import ChecksumError, ContainerError
from .fileio import atomic_write

MAGIC = b"\x89MCZ"
FORMAT_VERSION = 1
_PRELUDE = struct.Struct("<4sHHII")
_SECTION = struct.Struct("<II")
_COUNT = struct.Struct("<I")


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
    def from_json(cls, value: dict[str, Any]) -> "Header":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING} - set(value)
        if missing:
            raise ContainerError(f"container header lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in value.items() if k in names})


def _pack_json(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"), 9)


def _unpack_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(zlib.decompress(data).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ContainerError(f"damaged {what}: {error}") from None


def encode_container(header: Header, metadata: dict[str, Any], chunks: Sequence[bytes]) -> bytes:
    """Serialise a complete ``.mcz`` file into bytes."""
    if len(chunks) != header.num_chunks:
        raise ValueError(f"{len(chunks)} chunks given, header expects {header.num_chunks}")
    head = _pack_json(header.to_json())
    meta = _pack_json(metadata)
    out = io.BytesIO()
    out.write(_PRELUDE.pack(MAGIC, FORMAT_VERSION, 0, len(head), zlib.crc32(head)))
    out.write(head)
    out.write(_SECTION.pack(len(meta), zlib.crc32(meta)))
    out.write(meta)
    index = _COUNT.pack(len(chunks)) + b"".join(_SECTION.pack(len(c), zlib.crc32(c)) for c in chunks)
    out.write(index)
    out.write(_COUNT.pack(zlib.crc32(index)))
    for chunk in chunks:
        out.write(chunk)
    return out.getvalue()


def write_container(path: str | os.PathLike, header: Header, metadata: dict[str, Any], chunks: Sequence[bytes],
                    force: bool = False) -> int:
    """Write a ``.mcz`` file atomically; return its size in bytes."""
    data = encode_container(header, metadata, chunks)
    atomic_write(path, data, force=force)
    return len(data)


@dataclasses.dataclass(frozen=True)
class ChunkEntry:
    offset: int
    length: int
    crc32: int


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
        data = self._file.read(size)
        if len(data) != size:
            raise ContainerError(f"{self.name}: truncated file (ends inside the {what})")
        return data

    def _read_sections(self) -> None:
        prelude = self._file.read(_PRELUDE.size)
        if len(prelude) < 4 or prelude[:4] != MAGIC:
            raise ContainerError(f"{self.name}: not a .mcz file (wrong magic bytes)")
        if len(prelude) != _PRELUDE.size:
            raise ContainerError(f"{self.name}: truncated file (ends inside the prelude)")
        _, version, _flags, head_len, head_crc = _PRELUDE.unpack(prelude)
        if version > FORMAT_VERSION:
            raise ContainerError(f"{self.name}: format version {version} is newer than this MedComp reads "
                                 f"({FORMAT_VERSION}); upgrade monai_medcomp")
        if version < 1:
            raise ContainerError(f"{self.name}: invalid format version {version}")
        head = self._read_exact(head_len, "header")
        if zlib.crc32(head) != head_crc:
            raise ChecksumError(f"{self.name}: header checksum mismatch (the header is damaged)")
        self.header = Header.from_json(_unpack_json(head, "header"))
        meta_len, meta_crc = _SECTION.unpack(self._read_exact(_SECTION.size, "metadata length"))
        meta = self._read_exact(meta_len, "metadata")
        if zlib.crc32(meta) != meta_crc:
            raise ChecksumError(f"{self.name}: metadata checksum mismatch (the source metadata is damaged)")
        self.metadata = _unpack_json(meta, "metadata")
        count_bytes = self._read_exact(_COUNT.size, "chunk index")
        (count,) = _COUNT.unpack(count_bytes)
        if count != self.header.num_chunks:
            raise ContainerError(f"{self.name}: chunk index lists {count} chunks, header expects "
                                 f"{self.header.num_chunks} (the index is damaged)")
        entries = self._read_exact(count * _SECTION.size, "chunk index")
        (index_crc,) = _COUNT.unpack(self._read_exact(_COUNT.size, "chunk index"))
        if zlib.crc32(count_bytes + entries) != index_crc:
            raise ChecksumError(f"{self.name}: chunk index checksum mismatch (the index is damaged)")
        offset = self._file.tell()
        self.chunks: list[ChunkEntry] = []
        for length, crc in _SECTION.iter_unpack(entries):
            self.chunks.append(ChunkEntry(offset, length, crc))
            offset += length
        self.size = offset
        self._file.seek(0, io.SEEK_END)
        actual = self._file.tell()
        if actual < offset:
            raise ContainerError(f"{self.name}: truncated file ({actual} bytes, index needs {offset}); "
                                 f"chunks from {self._first_missing_chunk(actual)} on are missing")
        if actual > offset:
            raise ContainerError(f"{self.name}: {actual - offset} unexpected bytes after the last chunk")
        self.overhead = offset - sum(c.length for c in self.chunks) - meta_len

    def _first_missing_chunk(self, size: int) -> int:
        return next(i for i, c in enumerate(self.chunks) if c.offset + c.length > size)

    def read_chunk(self, index: int) -> bytes:
        """The payload of chunk ``index``, after checking its CRC-32."""
        if not 0 <= index < len(self.chunks):
            raise IndexError(f"chunk {index} is out of range ({len(self.chunks)} chunks)")
        entry = self.chunks[index]
        with self._lock:  # the engine reads chunks from a thread pool; seek + read must not interleave
            self._file.seek(entry.offset)
            data = self._read_exact(entry.length, f"chunk {index}")
        if zlib.crc32(data) != entry.crc32:
            slices = self.header.chunk_slices(index)
            raise ChecksumError(f"{self.name}: chunk {index} (slices {slices.start}-{slices.stop - 1}) "
                                f"checksum mismatch (the chunk is damaged)")
        return data

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
