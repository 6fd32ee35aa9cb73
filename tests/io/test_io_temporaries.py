"""Temporary files and folders: our own naming, gone after SIGTERM, removed by a later run when their process
died; a written series folder gets the user's umask like any new folder."""

import os
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.io import read_volume, write_volume

CT = get_testdata_file("CT_small.dcm")
MR_FRAMES = get_testdata_file("emri_small.dcm")
OURS = re.compile(r"\..+\.medcomp-(\d+)-[a-z0-9_]{8}(\..*)?")
# Runs the real command in a child process, pausing it inside the write (after ``target``'s real call) until
# the test sends SIGTERM: no timing luck, the signal always arrives while a temporary exists.
CHILD = """
import pathlib, runpy, sys, time
{import_owner}
real = getattr(owner, {name!r})
mark = pathlib.Path(sys.argv[1])

def paused(*args, **kwargs):
    real(*args, **kwargs)
    mark.touch()
    time.sleep(300)

setattr(owner, {name!r}, paused)
sys.argv = ["medcomp"] + sys.argv[2:]
runpy.run_module("monai_medcomp", run_name="__main__")
"""


@pytest.fixture
def umask():
    """Set the process umask for one test."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_series_folder_gets_the_users_umask(mask, umask, tmp_path):
    umask(mask)
    write_volume(read_volume(MR_FRAMES), tmp_path / "series")
    assert stat.S_IMODE((tmp_path / "series").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tmp_path / "series" / "slice_0001.dcm").stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_sigterm_while_writing_leaves_no_temporary(command, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if command == "compress":  # the .mcz bytes go to a temporary file, then move into place
        script = CHILD.format(import_owner="from pathlib import Path as owner", name="write_bytes")
        args = ["compress", CT, out / "ct.mcz", "--codec", "jpegls"]
    else:  # a series folder is staged slice by slice: pause after the first slice
        script = CHILD.format(import_owner="import monai_medcomp.io.dicom as owner", name="_save")
        mcz = tmp_path / "in.mcz"
        api.compress(MR_FRAMES, mcz, "jpegls")
        args = ["decompress", mcz, out / "series"]
    mark = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", script, str(mark), *map(str, args), "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the child never reached the write"
        temporaries = [p.name for p in out.iterdir()]
        assert len(temporaries) == 1 and OURS.fullmatch(temporaries[0]), temporaries
        assert int(OURS.fullmatch(temporaries[0])[1]) == child.pid
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    assert list(out.iterdir()) == []


@pytest.fixture
def dead_pid():
    """The process id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_a_dead_process_are_removed_by_the_next_write(dead_pid, tmp_path):
    stale_file = tmp_path / f".ct.mcz.medcomp-{dead_pid}-abcd_123.mcz"
    stale_folder = tmp_path / f".series.medcomp-{dead_pid}-x1y2z3w4.tmp"
    running = tmp_path / f".ct.mcz.medcomp-{os.getppid()}-abcdefgh.mcz"  # its writer is still alive
    others = [tmp_path / ".ct.mcz.k2j3h4g5", tmp_path / f"notes.medcomp-{dead_pid}-abcdefgh.txt",
              tmp_path / f".ct.mcz.medcomp-{dead_pid}-short.mcz"]
    stale_folder.mkdir()
    (stale_folder / "slice_0001.dcm").write_bytes(b"half")
    for path in [stale_file, running, *others]:
        path.write_bytes(b"left over")
    api.compress(CT, tmp_path / "ct.mcz", "jpegls")
    assert not stale_file.exists() and not stale_folder.exists()
    assert running.exists() and all(path.exists() for path in others)
    assert np.array_equal(api.decompress(tmp_path / "ct.mcz").array, read_volume(CT).array)


def test_stale_temporaries_elsewhere_are_left_alone(dead_pid, tmp_path):
    (tmp_path / "out").mkdir()
    elsewhere = tmp_path / f".ct.mcz.medcomp-{dead_pid}-abcdefgh.mcz"
    elsewhere.write_bytes(b"not in the output's folder")
    api.compress(CT, tmp_path / "out" / "ct.mcz", "jpegls")
    assert elsewhere.exists()
