"""Canonical Huffman coding of integer symbols, vectorised with numpy (no per-symbol Python loop).

A block is coded as its code table (the code length of every symbol up to the largest one used,
zlib-compressed) followed by the bitstream cut into byte-aligned segments of ``SEGMENT`` symbols.
Because the code is canonical, the lengths alone rebuild it.  Decoding finds, for every bit
position at once, the codeword that would start there, then follows the chain of codeword starts
from bit 0 by pointer doubling: ``log2(SEGMENT)`` vectorised gathers instead of one step per symbol.
"""

from __future__ import annotations

import heapq
import struct
import zlib

import numpy as np

from ..errors import CodecError

MAX_CODE_LENGTH = 24  # a 24-bit window plus a 7-bit shift still fits a 32-bit read
SEGMENT = 1 << 16
_U32 = struct.Struct("<I")


def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code lengths for symbol ``counts`` (0 for unused symbols), at most MAX_CODE_LENGTH bits.

    Lengths over the limit are avoided the way JPEG encoders do: halve the counts and rebuild.
    """
    counts = np.asarray(counts, dtype=np.int64)
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), dtype=np.uint8)
    if len(used) == 1:
        lengths[used] = 1
        return lengths
    weights = counts[used]
    while True:
        depth = _tree_depths(weights)
        if depth.max(initial=0) <= MAX_CODE_LENGTH:
            lengths[used] = depth
            return lengths
        weights = (weights + 1) // 2


def _tree_depths(weights: np.ndarray) -> np.ndarray:
    """Depth of every leaf in the Huffman tree of ``weights`` (loops over the alphabet, not the data)."""
    parent = np.zeros(2 * len(weights) - 1, dtype=np.int64)
    heap = [(int(w), i) for i, w in enumerate(weights)]
    heapq.heapify(heap)
    node = len(weights)
    while len(heap) > 1:
        w1, a = heapq.heappop(heap)
        w2, b = heapq.heappop(heap)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (w1 + w2, node))
        node += 1
    depth = np.zeros(len(parent), dtype=np.int64)
    for child in range(len(parent) - 2, -1, -1):  # parents are numbered after their children
        depth[child] = depth[parent[child]] + 1
    return depth[:len(weights)]


class CanonicalCode:
    """The canonical code given by per-symbol lengths: codes ordered by (length, symbol)."""

    def __init__(self, lengths: np.ndarray):
        self.lengths = np.asarray(lengths, dtype=np.uint8)
        if self.lengths.max(initial=0) > MAX_CODE_LENGTH:
            raise CodecError("Huffman table has a code longer than the coder allows (damaged table)")
        self.symbols = np.lexsort((np.arange(len(self.lengths)), self.lengths))
        self.symbols = self.symbols[self.lengths[self.symbols] > 0]
        per_length = np.bincount(self.lengths[self.symbols], minlength=MAX_CODE_LENGTH + 1).astype(np.int64)
        per_length[0] = 0
        first = np.zeros(MAX_CODE_LENGTH + 2, dtype=np.int64)
        for length in range(1, MAX_CODE_LENGTH + 1):
            first[length] = (first[length - 1] + per_length[length - 1]) << 1
        if first[MAX_CODE_LENGTH] + per_length[MAX_CODE_LENGTH] > (1 << MAX_CODE_LENGTH):
            raise CodecError("Huffman table lengths do not form a prefix code (damaged table)")
        self.first_code = first[:MAX_CODE_LENGTH + 1]
        self.first_index = np.concatenate([[0], np.cumsum(per_length)])[:MAX_CODE_LENGTH + 1]
        shift = MAX_CODE_LENGTH - np.arange(MAX_CODE_LENGTH + 1)
        # exclusive upper bound of the codes of each length, left-aligned in a MAX_CODE_LENGTH window
        self.limit = (self.first_code + per_length) << shift
        self.codes = np.zeros(len(self.lengths), dtype=np.int64)
        ranks = np.arange(len(self.symbols)) - self.first_index[self.lengths[self.symbols]]
        self.codes[self.symbols] = self.first_code[self.lengths[self.symbols]] + ranks

    @classmethod
    def for_symbols(cls, symbols: np.ndarray) -> "CanonicalCode":
        return cls(code_lengths(np.bincount(symbols)))

    def table_bytes(self) -> bytes:
        return _U32.pack(len(self.lengths)) + zlib.compress(self.lengths.tobytes(), 9)

    @classmethod
    def from_table_bytes(cls, data: bytes) -> "CanonicalCode":
        (size,) = _U32.unpack_from(data)
        lengths = np.frombuffer(zlib.decompress(data[_U32.size:]), dtype=np.uint8)
        if len(lengths) != size:
            raise CodecError("Huffman table has the wrong size (damaged table)")
        return cls(lengths)

    def encode_segment(self, symbols: np.ndarray) -> bytes:
        """Pack the codewords of ``symbols`` MSB-first into whole bytes."""
        lengths = self.lengths[symbols].astype(np.int64)
        aligned = (self.codes[symbols] << (32 - lengths)).astype(">u4")
        bits = np.unpackbits(aligned.view(np.uint8).reshape(-1, 4), axis=1)
        return np.packbits(bits[np.arange(32) < lengths[:, None]]).tobytes()

    def decode_segment(self, data: bytes, count: int) -> np.ndarray:
        """Decode ``count`` symbols from byte-aligned ``data``."""
        nbits = 8 * len(data)
        padded = np.frombuffer(data + b"\0" * 4, dtype=np.uint8).astype(np.uint64)
        position = np.arange(nbits, dtype=np.int64)
        byte = position >> 3
        word = (padded[byte] << 24) | (padded[byte + 1] << 16) | (padded[byte + 2] << 8) | padded[byte + 3]
        window = ((word << (position & 7).astype(np.uint64)) & 0xFFFFFFFF) >> np.uint64(32 - MAX_CODE_LENGTH)
        window = window.astype(np.int64)
        length = np.searchsorted(self.limit, window, side="right")
        valid = length <= MAX_CODE_LENGTH
        length = np.minimum(length, MAX_CODE_LENGTH)
        rank = (window >> (MAX_CODE_LENGTH - length)) - self.first_code[length] + self.first_index[length]
        valid &= (rank >= 0) & (rank < len(self.symbols)) & (position + length <= nbits)
        # jump[p]: where the codeword starting at bit p ends; nbits marks the end, nbits + 1 a dead end
        jump = np.append(np.where(valid, position + length, nbits + 1), [nbits, nbits + 1])
        starts = np.zeros(1, dtype=np.int64)
        while len(starts) < count:  # starts holds the first 2**i codeword starts; jump skips 2**i codewords
            starts = np.concatenate([starts, jump[starts]])
            jump = jump[jump]
        starts = starts[:count]
        if nbits == 0 or starts[-1] >= nbits or not valid[starts].all():
            raise CodecError("Huffman bitstream ends early or holds an invalid codeword (damaged data)")
        return self.symbols[rank[starts]]


def huffman_encode(symbols: np.ndarray) -> bytes:
    """Code non-negative integer ``symbols`` with their own canonical Huffman table."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    if len(symbols) == 0:
        return b""
    code = CanonicalCode.for_symbols(symbols)
    table = code.table_bytes()
    segments = [code.encode_segment(symbols[i:i + SEGMENT]) for i in range(0, len(symbols), SEGMENT)]
    sizes = b"".join(_U32.pack(len(s)) for s in segments)
    return _U32.pack(len(table)) + table + sizes + b"".join(segments)


def huffman_decode(data: bytes, count: int) -> np.ndarray:
    """Decode ``count`` symbols written by :func:`huffman_encode`."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        (table_size,) = _U32.unpack_from(data)
        pos = _U32.size + table_size
        code = CanonicalCode.from_table_bytes(data[_U32.size:pos])
        nseg = -(-count // SEGMENT)
        sizes = struct.unpack_from(f"<{nseg}I", data, pos)
    except (struct.error, zlib.error) as error:
        raise CodecError(f"damaged Huffman block: {error}") from None
    pos += 4 * nseg
    out = []
    for index, size in enumerate(sizes):
        out.append(code.decode_segment(data[pos:pos + size], min(SEGMENT, count - index * SEGMENT)))
        pos += size
    if pos != len(data):
        raise CodecError("Huffman block has the wrong length (damaged data)")
    return np.concatenate(out)
