"""A folder tree archived into a folder on a real Dask cluster: layout, verification, manifest, report, re-runs,
bad input (a damaged file, a full disk), and the command's messages."""

import argparse
import os
import sqlite3
import subprocess

import numpy as np
import pydicom
import pytest

from monai_medcomp import api
from monai_medcomp.archive import Job, archive
from monai_medcomp.archive.destinations import STAGING
from monai_medcomp.archive.manifest import Manifest
from monai_medcomp.archive.cli import add_parser
from monai_medcomp.archive.runner import MANIFEST_NAME
from monai_medcomp.errors import MedCompError
from monai_medcomp.errors import run_command as command_status
from monai_medcomp.ratecontrol import Target


def _run(source, out, cluster, job=None, **options):
    return archive(str(source), str(out), job=job or Job.create(), scheduler=cluster.scheduler_address,
                   progress=False, log=lambda line: None, **options)


def _pixels(paths):
    arrays = [pydicom.dcmread(path).pixel_array for path in sorted(paths)]
    return np.concatenate([array.reshape(-1, *array.shape[-2:]) for array in arrays])


def _rows(manifest):
    with Manifest(manifest) as book:
        return {row.key: row for row in book.rows()}


def test_tree_archived_by_study_and_series_verified_and_source_untouched(tree, tmp_path, cluster, studies):
    root, series = tree
    before = studies.fingerprint(root)
    report = _run(root, tmp_path / "out", cluster)
    assert studies.fingerprint(root) == before  # read, never written, never touched
    assert report.count("done") == 3 and not report.failures
    assert sorted(item.path.rsplit("/", 1)[-1] for item in report.skipped) == ["README.txt", "thumbnail.png"]
    rows = _rows(tmp_path / "out" / MANIFEST_NAME)
    for key, files in series.items():
        row = rows[key]
        copy = tmp_path / "out" / key  # STUDY_UID/SERIES_UID
        written = sorted(path for path in copy.iterdir())
        assert row.output == str(copy) and row.instances == len(files) == len(written)
        assert row.verification == {"kind": "lossless", "max_error": 0, "psnr": None}
        assert row.source_bytes == sum(path.stat().st_size for path in files)
        assert row.output_bytes == sum(path.stat().st_size for path in written) and row.output_digest
        assert {pydicom.dcmread(path).file_meta.TransferSyntaxUID for path in written} == {"1.2.840.10008.1.2.4.80"}
        assert np.array_equal(_pixels(written), _pixels(files))
    assert not (tmp_path / "out" / STAGING).exists()
    assert "3 done, 0 failed" in report.text() and "ratio" in report.text()


def test_rerun_skips_done_and_retries_failed_and_a_damaged_file_is_one_failure(tree, tmp_path, cluster):
    root, series = tree
    ct_key = next(key for key, files in series.items() if len(files) == 3)
    damaged = series[ct_key][1]
    original = damaged.read_bytes()
    damaged.write_bytes(original[:len(original) - 5000])  # pixel data cut short
    (root / "junk.dcm").write_bytes(bytes(128) + b"DICM" + b"\xff" * 40)  # a DICOM prefix, then garbage
    out = tmp_path / "out"
    report = _run(root, out, cluster)
    assert report.count("done") == 2 and [row.key for row in report.failures] == [ct_key]
    assert damaged.name in report.failures[0].error and not (out / ct_key).exists()
    assert any(item.path.endswith("junk.dcm") for item in report.skipped)  # listed, whatever pydicom made of it
    text = report.text()
    assert f"{ct_key}: " in text and "failures (1)" in text

    damaged.write_bytes(original)
    again = _run(root, out, cluster)
    assert again.count("done") == 3
    with Manifest(out / MANIFEST_NAME) as book:
        attempts = [key for key, _, _ in book.attempts()]
    assert sorted(attempts) == sorted(list(series) + [ct_key])  # the done ones were not touched again


@pytest.mark.parametrize("codec, target, kind", [("jpegls", Target("max_error", 2), "near-lossless"),
                                                 ("jpeg2000", Target("psnr", 55.0), "lossy"),
                                                 ("png", None, "lossless")])
def test_near_lossless_lossy_and_mcz_copies_verify_as_asked(tree, tmp_path, cluster, codec, target, kind):
    root, series = tree
    report = _run(root, tmp_path / "out", cluster, Job.create(codec, target))
    assert report.count("done") == 3, report.text()
    for row in report.done:
        assert row.verification["kind"] in (kind, "lossless")
        if target is not None and target.kind == "max_error":
            assert row.verification["max_error"] <= 2
        if target is not None and target.kind == "psnr":
            assert row.verification["psnr"] >= 55.0 - 0.2
    if codec == "png":  # no DICOM transfer syntax: a .mcz per series, decoded bit for bit
        for key, files in series.items():
            (mcz,) = (tmp_path / "out" / key).iterdir()
            assert mcz.suffix == ".mcz"
            assert np.array_equal(api.decompress(mcz).array.reshape(-1, *_pixels(files).shape[-2:]), _pixels(files))
    assert kind in report.text() or kind == "lossless"


def test_another_jobs_manifest_and_overlapping_folders_are_refused(tree, tmp_path, cluster):
    root, _ = tree
    _run(root, tmp_path / "out", cluster)
    with pytest.raises(MedCompError, match="manifest of another job: its coding"):
        _run(root, tmp_path / "out", cluster, Job.create("htj2k"))
    with pytest.raises(MedCompError, match="overlap"):
        _run(root, root / "inside", cluster)


@pytest.fixture
def small_disk(tmp_path):
    """A 384 KiB tmpfs (mount needs root, as `make test` runs in CI); without it the test fails with a message."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.fail("the full-disk test mounts a small tmpfs, which needs root (run the tests as root, as CI does)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.fail(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_fails_the_series_that_do_not_fit_and_the_others_complete(tree, tmp_path, cluster, studies,
                                                                             small_disk):
    root, series = tree
    big, _ = studies.write_series(root / "big", studies.slices("mr2", 1, studies.generate_uid(), "C"), "mr2.dcm")
    report = _run(root, small_disk / "archive", cluster, manifest=tmp_path / "manifest.sqlite")
    assert [row.key for row in report.failures] == [big]
    assert "No space left on device" in report.failures[0].error
    assert report.count("done") == 3
    assert not (small_disk / "archive" / big).exists() and not (small_disk / "archive" / STAGING).exists()


def _command(*args):
    """``medcomp archive ARGS`` in this process, under the command's error handling; its exit status."""
    parser = argparse.ArgumentParser(prog="medcomp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["archive", *args])
    return command_status("medcomp archive", lambda: parsed.func(parsed))


def test_command_report_and_messages(tree, tmp_path, program, capsys):
    root, _ = tree
    out = tmp_path / "out"
    done = program(str(root), str(out), "--workers", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Dask: local cluster of 2 worker process(es); dashboard http" in done.stdout
    assert "series: 3 done, 0 failed" in done.stdout
    assert _command("--report", str(out / MANIFEST_NAME)) == 0
    assert capsys.readouterr().out.strip() in done.stdout
    (tmp_path / "bad.sqlite").write_bytes(b"not a database" * 100)
    for args, message in [(("--report", str(tmp_path / "none.sqlite")), "no archive manifest at"),
                          (("--report", str(tmp_path / "bad.sqlite")), "is not an archive manifest"),
                          ((str(root),), "give SOURCE and DEST"),
                          ((str(root), str(out), "--dates", "2020"), "a date range is YYYYMMDD-YYYYMMDD"),
                          ((str(root), str(out), "--modality", "CT"), "filter a DICOMweb source"),
                          ((str(root), str(out), "--codec", "nope"), "unknown codec"),
                          ((str(root), "http://127.0.0.1:9/dicom-web", "--codec", "png"), "stores DICOM")]:
        assert _command(*args) == 2
        error = capsys.readouterr().err
        assert error.startswith("medcomp archive: error: ") and message in error and error.count("\n") == 1, error
    assert sqlite3.connect(out / MANIFEST_NAME).execute("SELECT COUNT(*) FROM series").fetchone() == (3,)
