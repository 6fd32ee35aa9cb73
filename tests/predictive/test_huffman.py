"""Canonical Huffman coding of residual symbols: exact round trips, code lengths, damage detection."""

import numpy as np
import pytest

from monai_medcomp.entropy.huffman import (MAX_CODE_LENGTH, SEGMENT, CanonicalCode, code_lengths, huffman_decode,
                                           huffman_encode)
from monai_medcomp.errors import CodecError


@pytest.mark.parametrize("symbols", [
    np.zeros(1, dtype=np.int64),
    np.full(1000, 7),
    np.array([0, 1, 0, 0, 65535]),
    np.random.default_rng(0).geometric(0.05, SEGMENT * 2 + 17) - 1,  # several segments, a short last one
])
def test_round_trip(symbols):
    data = huffman_encode(symbols)
    np.testing.assert_array_equal(huffman_decode(data, len(symbols)), symbols)


def test_size_is_close_to_the_entropy():
    symbols = np.random.default_rng(1).geometric(0.2, 100_000) - 1
    p = np.bincount(symbols) / len(symbols)
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum()
    bits_per_symbol = 8 * len(huffman_encode(symbols)) / len(symbols)
    assert entropy <= bits_per_symbol < entropy + 0.05


def test_code_lengths_are_limited_and_complete():
    counts = np.array([1, 1] + [int(1.6 ** k) for k in range(1, 45)])  # Fibonacci-like: unlimited depth > 40
    lengths = code_lengths(counts)
    assert lengths.max() <= MAX_CODE_LENGTH
    assert np.isclose((2.0 ** -lengths.astype(float)).sum(), 1.0)  # Kraft equality: a full prefix code
    symbols = np.repeat(np.arange(len(counts)), np.minimum(counts, 50))
    np.testing.assert_array_equal(huffman_decode(huffman_encode(symbols), len(symbols)), symbols)


def test_codes_are_canonical():
    code = CanonicalCode(np.array([2, 1, 3, 3], dtype=np.uint8))
    assert [format(int(code.codes[s]), f"0{code.lengths[s]}b") for s in range(4)] == ["10", "0", "110", "111"]


def test_damaged_stream_is_an_error_not_garbage():
    symbols = np.random.default_rng(2).geometric(0.3, 5000) - 1
    data = huffman_encode(symbols)
    with pytest.raises(CodecError):
        huffman_decode(data[:-3], len(symbols))
    with pytest.raises(CodecError):
        huffman_decode(data + b"\0", len(symbols))
    with pytest.raises(CodecError):
        huffman_decode(data[:4] + b"\xff" * 8 + data[12:], len(symbols))  # the code table
