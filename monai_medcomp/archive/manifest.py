"""The archive manifest: one SQLite file that is the truth of what is archived.

Per series it keeps the source's UIDs, instance count, bytes and digest; the codec and target; where the
copy is, its bytes and digest; how it verified; when and how long; or why it failed.  A series counts as
archived only once its row says ``done``, which the client writes after the task's copy was verified
and put in place, in one transaction: a run killed at any moment loses no finished series, and the next
run redoes only what is not ``done``.

Several runs may share a manifest (two terminals, two machines with one shared disk that locks, a run
started again while the first still runs).  A run works on a series only after claiming it: one
``UPDATE`` that succeeds only while nobody else holds the series, so two runs never code the same series.
A claim is a lease that the run renews while it works; a claim whose lease ran out, or whose run is a
process of this machine that no longer exists, is free again, so a killed run's series are not stuck.
Every claim is logged in ``attempts``, which is how a test (or an auditor) checks that no series was
worked on twice.

Keep the manifest on a local disk of the machine that runs ``medcomp archive`` (SQLite's locking is not
reliable over NFS); the output and the workers can be anywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ..errors import MedCompError
from .sources import SeriesRef, Skipped
from .task import SeriesResult

SCHEMA_VERSION = 1
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, source TEXT NOT NULL,
    destination TEXT NOT NULL, job TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    key TEXT PRIMARY KEY, study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, modality TEXT,
    instances INTEGER, status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    owner TEXT, lease_until REAL, attempts INTEGER NOT NULL DEFAULT 0,
    codec TEXT NOT NULL, target TEXT, source_bytes INTEGER, source_digest TEXT,
    output TEXT, output_bytes INTEGER, output_digest TEXT, output_files INTEGER, verification TEXT,
    notes TEXT, error TEXT, seconds REAL, worker TEXT, finished REAL, run TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, started REAL NOT NULL, finished REAL, workers INTEGER,
    cluster TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL, run TEXT NOT NULL, started REAL NOT NULL, finished REAL, outcome TEXT);
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


def owner_id() -> str:
    """Who holds a claim: this machine, this process, and a token for this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_gone(owner: str | None) -> bool:
    """Whether ``owner`` was a process of this machine that has ended (its claims are free at once)."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


@dataclasses.dataclass
class Row:
    """One series as the manifest holds it."""

    key: str
    study_uid: str
    series_uid: str
    modality: str
    instances: int | None
    status: str
    owner: str | None
    attempts: int
    codec: str
    target: str | None
    source_bytes: int | None
    output: str | None
    output_bytes: int | None
    output_digest: str | None
    verification: dict[str, Any] | None
    error: str | None
    seconds: float | None
    worker: str | None
    finished: float | None
    run: str | None


class Manifest:
    """An open manifest; ``with Manifest(path) as m`` closes it."""

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise MedCompError(f"no archive manifest at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise MedCompError(f"{self.path} is not an archive manifest ({error})") from None

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the write lock from its start, so a check and its update are one step."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- the job ------------------------------------------------------------------------------------------

    def bind(self, source: str, destination: str, job: dict[str, Any]) -> None:
        """Tie the manifest to one job; a manifest made for another source, destination or coding is refused."""
        wanted = (source, destination, json.dumps(job, sort_keys=True))
        with self._write() as db:
            row = db.execute("SELECT version, source, destination, job FROM job").fetchone()
            if row is None:
                db.execute("INSERT INTO job VALUES (1, ?, ?, ?, ?, ?)", (SCHEMA_VERSION, *wanted, time.time()))
                return
        if row[0] != SCHEMA_VERSION:
            raise MedCompError(f"{self.path}: manifest version {row[0]}, this MedComp reads version {SCHEMA_VERSION}")
        for name, had, asked in zip(("source", "destination", "coding"), row[1:], wanted):
            if had != asked:
                raise MedCompError(f"{self.path} is the manifest of another job: its {name} is {had}, not {asked} "
                                   "(use another --manifest)")

    def job(self) -> tuple[str, str, dict[str, Any]] | None:
        row = self.db.execute("SELECT source, destination, job FROM job").fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    # --- planning -----------------------------------------------------------------------------------------

    def plan(self, refs: list[SeriesRef], skipped: list[Skipped], codec: str, target: str | None) -> None:
        """Add the series found (those already known keep their state) and the files skipped this time."""
        with self._write() as db:
            db.executemany("INSERT OR IGNORE INTO series (key, study_uid, series_uid, modality, instances, status, "
                           "codec, target) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                           [(ref.key, ref.study_uid, ref.series_uid, ref.modality, ref.instances, codec, target)
                            for ref in refs])
            db.execute("DELETE FROM skipped")
            db.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?)", [(s.path, s.reason) for s in skipped])

    # --- runs and claims ----------------------------------------------------------------------------------

    def start_run(self, owner: str, workers: int, cluster: str) -> str:
        run = owner.rsplit(":", 1)[-1]
        with self._write() as db:
            db.execute("INSERT INTO runs (id, owner, started, workers, cluster) VALUES (?, ?, ?, ?, ?)",
                       (run, owner, time.time(), workers, cluster))
        return run

    def finish_run(self, run: str, outcome: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET finished = ?, outcome = ? WHERE id = ?", (time.time(), outcome, run))

    def claim(self, key: str, owner: str, lease: float) -> str | None:
        """Claim ``key`` for ``owner``; None on success, else why not (done, or held by a live run)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT status, owner, lease_until FROM series WHERE key = ?", (key,)).fetchone()
            if row is None:
                return "not in the manifest"
            status, holder, lease_until = row
            if status == DONE:
                return "done"
            if status == RUNNING and (lease_until or 0) > now and not _owner_gone(holder):
                return f"held by {holder}"
            db.execute("UPDATE series SET status = 'running', owner = ?, lease_until = ?, attempts = attempts + 1 "
                       "WHERE key = ?", (owner, now + lease, key))
            db.execute("INSERT INTO attempts (key, run, started) VALUES (?, ?, ?)",
                       (key, owner.rsplit(":", 1)[-1], now))
        return None

    def renew(self, owner: str, lease: float) -> None:
        with self._write() as db:
            db.execute("UPDATE series SET lease_until = ? WHERE owner = ? AND status = 'running'",
                       (time.time() + lease, owner))

    def release(self, owner: str) -> int:
        """Give back every series ``owner`` still holds (an interrupted run): they are pending again."""
        with self._write() as db:
            db.execute("UPDATE attempts SET finished = ?, outcome = 'released' WHERE finished IS NULL AND key IN "
                       "(SELECT key FROM series WHERE owner = ? AND status = 'running')", (time.time(), owner))
            return db.execute("UPDATE series SET status = 'pending', owner = NULL, lease_until = NULL "
                              "WHERE owner = ? AND status = 'running'", (owner,)).rowcount

    def record(self, owner: str, result: SeriesResult) -> bool:
        """Write a task's result, if ``owner`` still holds the series; False if its claim was lost."""
        now, run = time.time(), owner.rsplit(":", 1)[-1]
        status = DONE if result.ok else FAILED
        with self._write() as db:
            updated = db.execute(
                "UPDATE series SET status = ?, owner = NULL, lease_until = NULL, source_bytes = ?, source_digest = ?, "
                "instances = ?, output = ?, output_bytes = ?, output_digest = ?, output_files = ?, verification = ?, "
                "notes = ?, error = ?, seconds = ?, worker = ?, finished = ?, run = ? "
                "WHERE key = ? AND owner = ? AND status = 'running'",
                (status, result.source_bytes, result.source_digest, result.instances, result.output,
                 result.output_bytes, result.output_digest, result.output_files,
                 json.dumps(result.verification) if result.verification else None,
                 json.dumps(result.notes) if result.notes else None, result.reason, result.seconds, result.worker,
                 now, run, result.key, owner)).rowcount
            db.execute("UPDATE attempts SET finished = ?, outcome = ? WHERE key = ? AND run = ? AND finished IS NULL",
                       (now, status if updated else "claim lost", result.key, run))
        return bool(updated)

    # --- reading ------------------------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        columns = [field.name for field in dataclasses.fields(Row)]
        rows = []
        for values in self.db.execute(f"SELECT {', '.join(columns)} FROM series ORDER BY key"):
            row = Row(*values)
            row.verification = json.loads(row.verification) if row.verification else None
            rows.append(row)
        return rows

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM series WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def running(self) -> set[str]:
        """Series UIDs some run holds now."""
        return {row[0] for row in self.db.execute("SELECT series_uid FROM series WHERE status = 'running'")}

    def skipped(self) -> list[Skipped]:
        return [Skipped(*row) for row in self.db.execute("SELECT path, reason FROM skipped ORDER BY path")]

    def runs(self) -> list[tuple[str, float, float | None, int | None, str | None]]:
        return list(self.db.execute("SELECT id, started, finished, workers, outcome FROM runs ORDER BY started"))

    def attempts(self) -> list[tuple[str, str, str | None]]:
        return list(self.db.execute("SELECT key, run, outcome FROM attempts ORDER BY started"))
