"""Nothing lost, nothing done twice: a worker killed mid-task, a run killed or interrupted, two runs on one
manifest; on a real ``distributed.LocalCluster`` of 2 worker processes."""

import os
import signal
import sqlite3
import threading
import time

import pydicom
from distributed import Client

from monai_medcomp.archive import Job, archive
from monai_medcomp.archive.destinations import STAGING
from monai_medcomp.archive.manifest import Manifest
from monai_medcomp.archive.runner import MANIFEST_NAME

SLOW_CODEC = "jpegxl"  # about 0.7 s per 512 x 512 slice here: tasks last long enough to be caught running
WAIT_SECONDS = 90


def _slow_tree(root, studies, series, slices=2):
    """``series`` CT series of ``slices`` 512 x 512 slices each; their keys."""
    study = studies.generate_uid()
    return [studies.write_series(root / f"series {n}", studies.slices("ct_693", slices, study, "P"), "{}.dcm")[0]
            for n in range(series)]


def _query(manifest, sql):
    with sqlite3.connect(manifest, timeout=30) as db:
        return db.execute(sql).fetchall()


def _count(manifest, status):
    """Series in ``status``; 0 while the run has not made its manifest yet."""
    try:
        return _query(manifest, f"SELECT COUNT(*) FROM series WHERE status = '{status}'")[0][0]
    except sqlite3.OperationalError:  # no file, or no table yet
        return 0


def _wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _complete_copies(out, keys, slices):
    """Every series folder in the output holds all its files, each a readable DICOM file: no half outputs."""
    present = [key for key in keys if (out / key).exists()]
    for key in present:
        files = list((out / key).iterdir())
        assert len(files) == slices and all(pydicom.dcmread(path).SeriesInstanceUID for path in files)
    return present


def _resume(root, out, cluster):
    return archive(str(root), str(out), job=Job.create(SLOW_CODEC), scheduler=cluster.scheduler_address,
                   progress=False, log=lambda line: None)


def test_a_worker_killed_mid_task_has_its_series_done_elsewhere(tmp_path, cluster, studies):
    root, out = tmp_path / "source", tmp_path / "out"
    slow = _slow_tree(root, studies, 1, slices=4)[0]
    _slow_tree(root, studies, 2)
    finished = {}
    runner = threading.Thread(target=lambda: finished.update(report=_resume(root, out, cluster)))
    with Client(cluster.scheduler_address) as client:
        runner.start()
        prefix = f"archive-{slow.split('/')[1]}-"

        def executing():
            keys = client.run(lambda dask_worker: [str(task.key) for task in dask_worker.state.executing])
            return next((worker for worker, running in keys.items() if any(k.startswith(prefix) for k in running)),
                        None)

        _wait_for(executing, "the slow series to run")
        worker = executing()
        killed = client.run(os.getpid, workers=[worker])[worker]
        os.kill(killed, signal.SIGKILL)
        runner.join(WAIT_SECONDS)
    report = finished["report"]
    assert report.count("done") == 3 and not report.failures, report.text()
    row = next(row for row in report.rows if row.key == slow)
    assert not row.worker.endswith(f":{killed}") and row.attempts == 1  # Dask ran it again on the other worker
    assert _complete_copies(out, [row.key for row in report.rows], 2) and not (out / STAGING).exists()


def test_a_killed_run_keeps_its_finished_series_and_the_next_run_resumes(tmp_path, cluster, studies, start_program):
    root, out = tmp_path / "source", tmp_path / "out"
    keys = _slow_tree(root, studies, 5)
    manifest = out / MANIFEST_NAME
    process = start_program(str(root), str(out), "--codec", SLOW_CODEC, "--workers", "2", "--quiet")
    _wait_for(lambda: _count(manifest, "done") >= 1, "a first finished series")
    os.killpg(process.pid, signal.SIGKILL)  # the client and its cluster, as when the machine is lost
    process.wait()
    done_before = {key for (key,) in _query(manifest, "SELECT key FROM series WHERE status = 'done'")}
    present = _complete_copies(out, keys, 2)
    assert done_before <= set(present)

    report = _resume(root, out, cluster)
    assert report.count("done") == 5, report.text()
    with Manifest(manifest) as book:
        attempts = book.attempts()
    assert all([k for k, _, _ in attempts].count(key) == 1 for key in done_before)  # finished work is not redone
    assert _complete_copies(out, keys, 2) == keys and not (out / STAGING).exists()


def test_an_interrupted_run_gives_its_claims_back(tmp_path, cluster, studies, start_program):
    root, out = tmp_path / "source", tmp_path / "out"
    _slow_tree(root, studies, 4)
    manifest = out / MANIFEST_NAME
    process = start_program(str(root), str(out), "--codec", SLOW_CODEC, "--scheduler", cluster.scheduler_address,
                            "--quiet")
    _wait_for(lambda: _count(manifest, "running") >= 1, "the run to claim its first series")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 130 and "medcomp archive: interrupted" in output, output
    assert _query(manifest, "SELECT COUNT(*) FROM series WHERE status = 'running'") == [(0,)]
    assert _query(manifest, "SELECT outcome FROM runs") == [("interrupted",)]
    with Client(cluster.scheduler_address) as client:  # let the cancelled tasks that were running end
        _wait_for(lambda: not any(client.processing().values()), "the cluster to be idle")
    assert _resume(root, out, cluster).count("done") == 4


def test_two_runs_on_one_manifest_never_do_the_same_series(tmp_path, cluster, studies, start_program):
    root, out = tmp_path / "source", tmp_path / "out"
    keys = _slow_tree(root, studies, 12)
    manifest = out / MANIFEST_NAME
    first = start_program(str(root), str(out), "--codec", SLOW_CODEC, "--scheduler", cluster.scheduler_address,
                          "--quiet")
    _wait_for(lambda: _count(manifest, "running") >= 1, "the first run to claim its first series")
    second = _resume(root, out, cluster)  # a second process on the same manifest, while the first one works
    output = first.communicate(timeout=WAIT_SECONDS)[0]
    assert first.returncode in (0, 1), output
    assert second.count("done") == 12 or second.count("running") > 0, second.text()
    assert _query(manifest, "SELECT COUNT(*) FROM series WHERE status = 'done'") == [(12,)]
    attempts = _query(manifest, "SELECT key, run FROM attempts")
    assert sorted(key for key, _ in attempts) == sorted(keys)  # each series claimed, and coded, once
    assert len({run for _, run in attempts}) == 2, output  # and both runs did part of the work
    assert not (out / STAGING).exists()
