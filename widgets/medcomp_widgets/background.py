"""Run the explorer's work off the UI thread, newest request first.

One worker thread does the work, so codecs and the result cache are never used from two threads at
once.  Each request gets a generation number; a newer request supersedes the older ones, which stop at
their next check (a single encode in progress finishes, and its result still lands in the cache).
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable

Superseded = Callable[[], bool]
Job = Callable[[Superseded], None]


class LatestOnly:
    """A single background worker where only the most recent job matters."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="medcomp-explorer")
        self._lock = threading.Lock()
        self._generation = 0
        self._future: concurrent.futures.Future | None = None

    def submit(self, job: Job) -> concurrent.futures.Future:
        """Queue ``job(superseded)``; ``superseded()`` turns true as soon as another job is submitted."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._future = self._executor.submit(job, lambda: generation != self._generation)
            return self._future

    def wait(self, timeout: float | None = None) -> None:
        """Block until the latest job is done (for scripts and tests); re-raises what the job raised."""
        with self._lock:
            future = self._future
        if future is not None:
            future.result(timeout)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._future is not None and not self._future.done()

    def shutdown(self) -> None:
        with self._lock:
            self._generation += 1  # whatever is queued sees itself superseded
        self._executor.shutdown(wait=False, cancel_futures=True)
