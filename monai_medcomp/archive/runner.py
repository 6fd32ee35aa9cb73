"""Running an archive job on Dask distributed: find the series, claim them, one task each, record the results.

The client (this process) holds all the state: it finds the series, claims each one in the manifest just
before submitting its task, renews its claims while tasks run, and records each result as it arrives.
Only a window of series (twice the cluster's threads) is claimed at a time, so other runs on the same
manifest share the rest of the work instead of waiting for a run that claimed everything.

Dask re-runs a task whose worker died on another worker (up to ``distributed.scheduler.allowed-failures``
times); an interrupted run (Ctrl-C, SIGTERM) cancels its tasks and gives its claims back; a run killed
outright leaves claims that free themselves (see :mod:`.manifest`).  By default the cluster is a local one,
one single-threaded worker process per core; ``scheduler`` names any running Dask scheduler instead.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm.auto import tqdm

from ..errors import MedCompError
from .destinations import FolderDestination, open_destination
from .dicomweb import is_url
from .job import Job
from .manifest import DONE, Manifest, owner_id
from .report import Report
from .sources import Filters, SeriesRef, find_series
from .task import SeriesResult, archive_series, reason

LEASE_SECONDS = 120.0
MANIFEST_NAME = "archive-manifest.sqlite"
SCHEDULER_TIMEOUT = "20s"


def _location(place: str) -> str:
    """A source or destination as the manifest records it: a URL without its last slash, or an absolute path."""
    return place.rstrip("/") if is_url(place) else str(Path(place).resolve())


def _check_places(source: str, destination: str) -> None:
    if is_url(source) or is_url(destination):
        return
    src, dst = Path(source).resolve(), Path(destination).resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise MedCompError(f"the source {source} and the destination {destination} overlap: archive into a folder "
                           "outside the source (its outputs would be archived again, or replace its files)")


def default_manifest(destination: str) -> Path:
    if is_url(destination):
        raise MedCompError("a DICOMweb destination needs --manifest PATH (a file on a local disk)")
    return Path(destination) / MANIFEST_NAME


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded processes, as the archive runs them.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers to hand freed memory back sooner;
    for the archive's tasks, which allocate and free whole images, it costs 17 to 20 % of their speed
    (measured on 2 cores: 10 series of 8 CT slices of 512 x 512 through the archive task in one process
    take 4.1 to 4.3 s with it, 3.6 s without), so the workers keep glibc's default.  A cluster of one's
    own (``--scheduler``) is configured by its owner.
    """
    import dask
    from distributed import LocalCluster

    if workers < 1:
        raise MedCompError(f"--workers must be at least 1, got {workers}")
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    with cluster:
        yield cluster


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: str | None, log: Callable[[str], None]) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster of ``workers`` processes."""
    from distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except OSError as error:
            raise MedCompError(f"cannot reach the Dask scheduler {scheduler} ({error})") from None
        with client:
            client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT)
            log(f"Dask: scheduler {scheduler}, {_threads(client)} worker threads; dashboard {client.dashboard_link}")
            yield client
        return
    count = (os.cpu_count() or 1) if workers is None else workers
    with local_cluster(count) as cluster, Client(cluster) as client:
        log(f"Dask: local cluster of {count} worker process(es); dashboard {client.dashboard_link}")
        yield client


def _threads(client: Any) -> int:
    return sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values())


def _outcome(future: Any, ref: SeriesRef) -> SeriesResult:
    """The task's result, or a failure naming what went wrong outside it (a worker lost too often)."""
    try:
        return future.result()
    except Exception as error:
        return SeriesResult(ref.key, ok=False, reason=f"the task failed: {reason(error)}")


class _Drive:
    """Claims, submits and records, a window at a time, renewing claims while tasks run."""

    def __init__(self, client: Any, manifest: Manifest, job: Job, destination: str, owner: str, lease: float):
        self.client, self.manifest, self.job, self.destination = client, manifest, job, destination
        self.owner, self.lease = owner, lease
        self.window = max(2, 2 * _threads(client))
        self.held: list[str] = []  # series another run is working on
        self.renewed = time.monotonic()

    def _renew(self) -> None:
        if time.monotonic() - self.renewed > self.lease / 4:
            self.manifest.renew(self.owner, self.lease)
            self.renewed = time.monotonic()

    def run(self, refs: list[SeriesRef], progress: bool) -> None:
        from distributed import wait

        todo = collections.deque(refs)
        in_flight: dict[Any, SeriesRef] = {}
        bar = tqdm(total=len(refs), unit="series", desc="archive", disable=not progress, dynamic_ncols=True)
        try:
            while todo or in_flight:
                while todo and len(in_flight) < self.window:
                    ref = todo.popleft()
                    refused = self.manifest.claim(ref.key, self.owner, self.lease)
                    if refused is None:
                        future = self.client.submit(archive_series, ref, self.job, self.destination, pure=False,
                                                    key=f"archive-{ref.series_uid}-{uuid.uuid4().hex[:8]}")
                        in_flight[future] = ref
                        continue
                    if refused != DONE:
                        self.held.append(ref.key)
                    bar.update(1)
                try:
                    finished = wait(list(in_flight), timeout=self.lease / 4, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    finished = set()
                self._renew()
                for future in finished:
                    ref = in_flight.pop(future)
                    result = _outcome(future, ref)
                    if not self.manifest.record(self.owner, result):
                        self.held.append(ref.key)
                    bar.update(1)
                    if not result.ok:
                        bar.write(f"failed {ref.key}: {result.reason}")
        finally:
            bar.close()
            for future in in_flight:
                future.cancel()


def archive(source: str, destination: str, *, job: Job | None = None, manifest: str | os.PathLike | None = None,
            filters: Filters | None = None, workers: int | None = None, scheduler: str | None = None,
            lease: float = LEASE_SECONDS, progress: bool = True, log: Callable[[str], None] = print) -> Report:
    """Archive every series of ``source`` (a folder tree or a DICOMweb root) into ``destination`` (a folder or a
    DICOMweb root) as ``job`` says, on Dask; return the report of the manifest.

    Running it again with the same manifest skips what is done and retries what failed.
    """
    job = job or Job()
    filters = filters or Filters()
    _check_places(source, destination)
    dest = open_destination(destination, job.dicom)
    path = Path(manifest) if manifest is not None else default_manifest(destination)
    if lease <= 0:
        raise MedCompError(f"the lease must be a positive number of seconds, got {lease}")
    with Manifest(path, create=True) as book:
        book.bind(_location(source), _location(destination), job.describe())
        refs, skipped = find_series(source, filters)
        target = job.describe()["target"]
        book.plan(refs, skipped, job.codec, f"{target['kind']} {target['value']}" if target else None)
        todo = [ref for ref in refs if book.status(ref.key) != DONE]
        log(f"found {len(refs)} series ({sum(ref.instances or 0 for ref in refs)} instances) in {source}, "
            f"{len(refs) - len(todo)} already archived; {len(skipped)} files skipped")
        if todo:
            _run(book, todo, job, dest, destination, workers, scheduler, lease, progress, log)
        return Report.of(book)


def _run(book: Manifest, todo: list[SeriesRef], job: Job, dest: Any, destination: str, workers: int | None,
         scheduler: str | None, lease: float, progress: bool, log: Callable[[str], None]) -> None:
    owner = owner_id()
    target = str(Path(destination).resolve()) if isinstance(dest, FolderDestination) else destination
    with dask_client(workers, scheduler, log) as client:
        run = book.start_run(owner, _threads(client), scheduler or "local")
        drive = _Drive(client, book, job, target, owner, lease)
        outcome = "interrupted"
        try:
            drive.run(todo, progress)
            outcome = "finished"
        finally:
            book.release(owner)
            dest.tidy(book.running)
            book.finish_run(run, outcome)
    if drive.held:
        log(f"{len(drive.held)} series are held by another run on this manifest; it archives them")
