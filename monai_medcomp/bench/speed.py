"""Timing a codec through MedComp's API beside the bare library call it wraps.

The machines this runs on are shared and noisy, so every figure is the best of ``repeats`` runs and
ours and the bare library's runs are interleaved in the same loop: a burst of load from elsewhere
hits both, and their ratio stays meaningful even when the absolute MB/s do not.  Both sides run on
one thread (``workers=1``) so that the ratio compares the code, not the thread pool.  Runs that
take longer than ``REPEAT_BUDGET_SECONDS`` are not repeated: noise hardly moves a long run, and a
slow codec (a learned one, JPEG-XL at effort 9 on a radiograph) would otherwise dominate the bench.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from .. import api
from ..codecs import Codec
from ..volume import Volume
from .library import BareCodec, BareResult, unsigned_slices

T = TypeVar("T")

REPEAT_BUDGET_SECONDS = 10.0


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """One torch thread and one BLAS thread, so that speeds mean one core; the previous counts come back."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """Wall-clock seconds of one call, and its result."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def megabytes_per_second(nbytes: int, seconds: float) -> float | None:
    """Throughput in MB/s (10^6 bytes) of raw pixel data; None when nothing was timed."""
    return nbytes / seconds / 1e6 if 0 < seconds < math.inf else None


@dataclasses.dataclass
class Measurement:
    """One codec on one volume: our container and decoded volume, best times, and the bare library's."""

    result: api.CompressionResult
    decoded: Volume
    encode_seconds: float
    decode_seconds: float
    runs: int
    bare: BareResult | None = None

    @property
    def raw_nbytes(self) -> int:
        return self.result.raw_nbytes

    @property
    def encode_mbps(self) -> float | None:
        return megabytes_per_second(self.raw_nbytes, self.encode_seconds)

    @property
    def decode_mbps(self) -> float | None:
        return megabytes_per_second(self.raw_nbytes, self.decode_seconds)


def measure(volume: Volume, codec: Codec, params: dict[str, Any], repeats: int = 1,
            bare: BareCodec | None = None) -> Measurement:
    """Compress and decompress ``volume`` up to ``repeats`` times (the bare library alongside); keep the best times."""
    slices = unsigned_slices(volume) if bare is not None else None
    encode_best = decode_best = bare_encode_best = bare_decode_best = math.inf
    bare_streams: list[bytes] = []
    bare_decoded: list[Any] = []
    runs = 0
    started = time.perf_counter()
    while runs < max(1, repeats) and (runs == 0 or time.perf_counter() - started < REPEAT_BUDGET_SECONDS):
        runs += 1
        seconds, result = timed(api.compress, volume, codec=codec, params=params, workers=1)
        encode_best = min(encode_best, seconds)
        if bare is not None:
            seconds, bare_streams = timed(bare.encode_slices, slices, params)
            bare_encode_best = min(bare_encode_best, seconds)
        seconds, decoded = timed(api.decompress, result.data, workers=1)
        decode_best = min(decode_best, seconds)
        if bare is not None:
            seconds, bare_decoded = timed(bare.decode_slices, bare_streams)
            bare_decode_best = min(bare_decode_best, seconds)
    bare_result = None
    if bare is not None:
        bare_result = BareResult(library=bare.library, nbytes=sum(len(s) for s in bare_streams),
                                 encode_seconds=bare_encode_best, decode_seconds=bare_decode_best,
                                 exact=all(np.array_equal(plane, out) for (plane, _), out in zip(slices, bare_decoded)))
    return Measurement(result, decoded, encode_best, decode_best, runs, bare_result)
