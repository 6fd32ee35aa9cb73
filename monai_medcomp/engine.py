"""Runs a codec over a Volume chunk by chunk: shift to unsigned, batch, encode on a device or a thread pool.

The engine owns the one convention every codec relies on: pixels arrive as unsigned integers
``array - offset`` where ``offset`` is the volume's minimum, at the precision (bits) that the
range ``max - min`` really needs.  Signed data (negative HU) is therefore never an error, and a
12-bit image is coded as 12-bit whatever its container dtype.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .codecs import Codec, PixelFormat
from .container import DIGEST_SIZE, Header, encode_container
from .errors import ChecksumError, CodecError, MedCompError, UnsupportedDataError
from .volume import Volume

ChunkReader = Callable[[int], bytes]
DigestReader = Callable[[int], "bytes | None"]


@dataclasses.dataclass
class EncodedVolume:
    """The result of encoding: what goes into a ``.mcz`` file, before it is written."""

    header: Header
    metadata: dict[str, Any]
    chunks: list[bytes]
    digests: list[bytes] | None = None  # of each chunk's pixels, for lossless files

    def to_bytes(self) -> bytes:
        return encode_container(self.header, self.metadata, self.chunks, self.digests)

    @property
    def num_pixels(self) -> int:
        return int(np.prod(self.header.shape[:3]))


def pixel_format(volume: Volume) -> tuple[int, PixelFormat]:
    """The offset (volume minimum) and the unsigned format the codec will see."""
    low, high = int(volume.array.min()), int(volume.array.max())
    bits = max(1, (high - low).bit_length())
    return low, PixelFormat(bits=bits, channels=volume.channels)


def _unsigned_twin(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"u{dtype.itemsize}")


def _wrapped(offset: int, dtype: np.dtype) -> np.generic:
    """``offset`` modulo 2**bits of ``dtype``: adding it in unsigned arithmetic is exact where the result fits."""
    return dtype.type(offset % (1 << (8 * dtype.itemsize)))


def to_unsigned(array: np.ndarray, offset: int, fmt: PixelFormat) -> np.ndarray:
    """``array - offset`` in one pass of wrapping unsigned arithmetic (exact: the result is in [0, 2**bits))."""
    twin = _unsigned_twin(array.dtype)
    return (array.view(twin) - _wrapped(offset, twin)).astype(fmt.dtype, copy=False)


def from_unsigned(array: np.ndarray, header: Header) -> np.ndarray:
    """Undo the shift; lossy results are first clipped to what the original dtype and range allow."""
    dtype = np.dtype(header.dtype)
    if not header.lossless:
        info = np.iinfo(dtype)
        low = max(header.offset, int(info.min))
        high = min(header.offset + (1 << header.precision) - 1, int(info.max))
        return np.clip(np.asarray(array, dtype=np.int64) + header.offset, low, high).astype(dtype)
    highest = int(np.iinfo(dtype).max) - header.offset
    if array.size and int(array.max()) > highest:  # the original values all fit: these cannot be them
        raise ChecksumError(f"decoded values up to {int(array.max())} do not fit {header.dtype} above the offset "
                            f"{header.offset} (the header's offset or dtype is damaged)")
    twin = _unsigned_twin(dtype)
    return (np.asarray(array).astype(twin, copy=False) + _wrapped(header.offset, twin)).view(dtype)


def pixel_digest(slab: np.ndarray, fmt: PixelFormat) -> bytes:
    """BLAKE2b-128 of a slab's unsigned pixels as the codec sees them (``fmt.dtype``, little-endian): what a
    lossless chunk must decode to, checked on decoding whatever the codec's own checks say."""
    pixels = np.ascontiguousarray(slab, dtype=fmt.dtype.newbyteorder("<"))
    return hashlib.blake2b(pixels.tobytes(), digest_size=DIGEST_SIZE).digest()


def resolve_device(device: Any = None) -> Any:
    """``None``/``"auto"`` -> CUDA when torch sees a GPU, else CPU.  Imports torch only when asked."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _progress(items: Iterable[Any], total: int, enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, unit="chunk", leave=False)


def _batched(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _run_chunks(codec: Codec, work: Sequence[Any], single: Callable[[Any], Any],
                batch: Callable[[Sequence[Any]], list[Any]], batch_size: int, workers: int | None,
                progress: bool, desc: str) -> list[Any]:
    """Torch codecs: batches on their device.  Others: a thread pool (imagecodecs releases the GIL)."""
    results: list[Any] = []
    if codec.uses_torch:
        batches = list(_batched(work, batch_size))
        for group in _progress(batches, len(batches), progress, desc):
            results.extend(batch(group))
        return results
    workers = workers or default_workers()
    if workers == 1 or len(work) == 1:
        return [single(item) for item in _progress(work, len(work), progress, desc)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(_progress(pool.map(single, work), len(work), progress, desc))


def _codec_failure(codec: Codec, action: str, error: Exception) -> CodecError:
    return CodecError(f"codec {codec.name!r} failed to {action}: {error}")


def encode_volume(volume: Volume, codec: Codec, params: dict[str, Any] | None = None, *, device: Any = None,
                  batch_size: int = 16, workers: int | None = None, progress: bool = False) -> EncodedVolume:
    """Encode every chunk of ``volume`` with ``codec`` and return header, metadata and chunks."""
    params = dict(codec.default_params() if params is None else params)
    codec.check_params(params)
    offset, fmt = pixel_format(volume)
    codec.check_format(fmt)
    unsigned = to_unsigned(volume.array, offset, fmt)
    step = codec.slices_per_chunk(params)
    slabs = [unsigned[start:start + step] for start in range(0, volume.num_slices, step)]
    torch_device = resolve_device(device) if codec.uses_torch else None
    try:
        chunks = _run_chunks(codec, slabs, lambda slab: codec.encode(slab, fmt, params),
                             lambda group: codec.encode_batch(group, fmt, params, device=torch_device),
                             batch_size, workers, progress, f"encode {codec.name}")
    except MedCompError:
        raise
    except Exception as error:  # a library error becomes one clear line naming the codec
        raise _codec_failure(codec, "encode", error) from error
    header = Header(codec=codec.name, params=params, dtype=volume.dtype.name, shape=list(volume.array.shape),
                    bits_stored=volume.bits_stored, offset=offset, precision=fmt.bits, geometry=volume.geometry(),
                    slices_per_chunk=step, lossless=codec.is_lossless(params), codec_version=codec.version,
                    weights=codec.weights_info(fmt))
    digests = [pixel_digest(slab, fmt) for slab in slabs] if header.lossless else None
    return EncodedVolume(header=header, metadata=volume.metadata, chunks=chunks, digests=digests)


def header_format(header: Header) -> PixelFormat:
    channels = header.shape[3] if len(header.shape) == 4 else 1
    return PixelFormat(bits=header.precision, channels=channels)


def _check_digests(header: Header, chunk_ids: Sequence[int], slabs: Sequence[np.ndarray], fmt: PixelFormat,
                   digests: DigestReader) -> None:
    for chunk, slab in zip(chunk_ids, slabs):
        expected = digests(chunk)
        if expected is not None and pixel_digest(slab, fmt) != expected:
            slices = header.chunk_slices(chunk)
            raise ChecksumError(f"chunk {chunk} (slices {slices.start}-{slices.stop - 1}) decodes to other pixels "
                                "than it was made from (pixel digest mismatch: the chunk is damaged)")


def decode_chunks(header: Header, read_chunk: ChunkReader, codec: Codec, chunk_ids: Sequence[int] | None = None, *,
                  device: Any = None, batch_size: int = 16, workers: int | None = None,
                  progress: bool = False, digests: DigestReader | None = None) -> np.ndarray:
    """Decode the chunks ``chunk_ids`` (all by default) into the original dtype, slices stacked in order.

    ``digests`` (``ContainerReader.pixel_digest``) gives each chunk's recorded pixel digest, checked when
    the header says lossless: a lossless file never decodes to pixels other than the ones it was made from.
    """
    chunk_ids = list(range(header.num_chunks) if chunk_ids is None else chunk_ids)
    codec.check_params(header.params)
    fmt = header_format(header)
    shapes = [[len(header.chunk_slices(i))] + list(header.shape[1:]) for i in chunk_ids]
    torch_device = resolve_device(device) if codec.uses_torch else None

    def one(item: tuple[int, list[int]]) -> np.ndarray:
        return codec.decode(read_chunk(item[0]), item[1], fmt, header.params)

    def many(group: Sequence[tuple[int, list[int]]]) -> list[np.ndarray]:
        return codec.decode_batch([read_chunk(i) for i, _ in group], [s for _, s in group], fmt, header.params,
                                  device=torch_device)

    try:
        slabs = _run_chunks(codec, list(zip(chunk_ids, shapes)), one, many, batch_size, workers, progress,
                            f"decode {codec.name}")
    except MedCompError:
        raise
    except Exception as error:
        raise _codec_failure(codec, "decode", error) from error
    for slab, shape in zip(slabs, shapes):
        if tuple(slab.shape) != tuple(shape):
            raise CodecError(f"codec {codec.name!r} decoded shape {tuple(slab.shape)}, expected {tuple(shape)}")
    if digests is not None and header.lossless:
        _check_digests(header, chunk_ids, slabs, fmt, digests)
    if not slabs:
        raise UnsupportedDataError("no chunks selected")
    return from_unsigned(np.concatenate(slabs, axis=0), header)
