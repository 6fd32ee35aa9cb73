"""Long library work off the GUI thread, with progress counted in coded chunks and a Cancel that is honoured.

The engine codes chunks on a thread pool (or in batches on a torch device) and knows nothing of
progress dialogs.  :func:`watch` hands it a copy of the codec whose encode/decode calls count each
chunk and stop at the next chunk once cancelled; :func:`run_in_background` runs the work in a thread
while the calling (GUI) thread polls the count, so Qt is only ever touched from the thread that owns it.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any, Callable, TypeVar

from monai_medcomp.codecs import Codec

Result = TypeVar("Result")
Report = Callable[[int, "int | None", str], bool]
POLL_SECONDS = 0.02


class Cancelled(BaseException):
    """The user pressed Cancel; nothing was added to the scene.

    Not an ``Exception``, for the reason ``asyncio.CancelledError`` is not one: a cancel is not a failure.
    Slicer's ``slicer.util.tryWithErrorDisplay`` shows an error box for every ``Exception`` raised in its
    block (``Base/Python/slicer/util.py``, v5.10.0), and generic ``except Exception`` clean-ups in the
    engine must not swallow it.
    """


class ChunkCounter:
    """Chunks coded so far, the phase they belong to, and whether the user asked to stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.done = 0
        self.phase = "starting"

    def start_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def check(self) -> None:
        """Raise :class:`Cancelled` once the user asked to stop (called before each chunk)."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled by the user")

    def add(self, chunks: int) -> None:
        with self._lock:
            self.done += chunks

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


def _counted(method: Callable[..., Any], counter: ChunkCounter, size: Callable[[Any], int]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(first: Any, *args: Any, **kwargs: Any) -> Any:
        counter.check()
        result = method(first, *args, **kwargs)
        counter.add(size(first))
        return result

    return wrapper


def watch(codec: Codec, counter: ChunkCounter) -> Codec:
    """A copy of ``codec`` that reports each coded chunk to ``counter`` and stops when it is cancelled.

    The engine calls ``encode``/``decode`` per chunk for thread-pool codecs and ``encode_batch``/
    ``decode_batch`` per batch for torch codecs; exactly those calls are wrapped, so nothing counts twice.
    """
    watched = copy.copy(codec)
    if codec.uses_torch:
        watched.encode_batch = _counted(codec.encode_batch, counter, len)
        watched.decode_batch = _counted(codec.decode_batch, counter, len)
    else:
        watched.encode = _counted(codec.encode, counter, lambda _: 1)
        watched.decode = _counted(codec.decode, counter, lambda _: 1)
    return watched


def run_in_background(work: Callable[[], Result], counter: ChunkCounter, report: Report | None = None,
                      total: int | None = None) -> Result:
    """Run ``work()`` in a thread; call ``report(done, total, phase)`` from this thread until it ends.

    ``report`` returning False cancels: the work stops before its next chunk and :class:`Cancelled`
    is raised here.  Until the chunk under way ends (a whole batch on a device), ``report`` goes on being
    called with the phase ``"cancelling"``, so the caller's GUI stays responsive and says why it waits.  ``total`` is None when the number of chunks is not known in advance (a
    rate-control search).  Errors raised by the work are raised here unchanged.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed to the calling thread, which re-raises it
            outcome["error"] = error

    thread = threading.Thread(target=target, name="MedComp", daemon=True)
    thread.start()
    while thread.is_alive():
        if report is not None:
            phase = "cancelling" if counter.cancelled else counter.phase
            if report(counter.done, total, phase) is False:
                counter.cancel()
        thread.join(POLL_SECONDS)
    if "error" in outcome:
        raise outcome["error"]
    if counter.cancelled:
        raise Cancelled("cancelled by the user")
    if report is not None:
        report(counter.done, total, "done")
    return outcome["result"]
