"""``--slices`` selections the volume cannot give, and output piped into a reader that stops early."""

import os
import subprocess
import sys

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.cli import main

MR_VOLUME = get_testdata_file("emri_small.dcm")  # 10 frames


@pytest.fixture(scope="module")
def mcz(tmp_path_factory):
    path = tmp_path_factory.mktemp("mcz") / "mr.mcz"
    assert main(["compress", MR_VOLUME, str(path), "--codec", "jpegls", "--quiet"]) == 0
    return path


def decompress(capsys, mcz, output, slices):
    code = main(["decompress", str(mcz), str(output), "--slices", slices, "--quiet"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("slices, words", [
    ("10", ["slice 10", "10 slices"]),
    ("3,12", ["slice 12", "10 slices"]),
    ("8-99999999999", ["slice 10", "10 slices"]),  # refused at the first index outside, never listed whole
    ("-1", ["'-1'"]),
    ("2--1", ["'2--1'"]),
    ("5-3", ["5-3", "backwards"]),
    ("1,1", ["slice 1", "twice"]),
    ("0-3,2", ["slice 2", "twice"]),
    ("", ["''"]),
    ("1,,2", ["''"]),
    ("x", ["'x'"]),
])
def test_a_selection_the_volume_cannot_give_is_one_line(mcz, tmp_path, capsys, slices, words):
    code, err = decompress(capsys, mcz, tmp_path / "out.nii.gz", slices)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert not list(tmp_path.iterdir())


def test_a_valid_selection_decodes_those_slices_in_order(mcz, tmp_path, capsys):
    code, _ = decompress(capsys, mcz, tmp_path / "out.nii.gz", " 9, 0-1 ")
    assert code == 0
    np.testing.assert_array_equal(api.read(tmp_path / "out.nii.gz").array, api.read(MR_VOLUME).array[[9, 0, 1]])


def test_a_reader_that_stops_early_ends_the_listing_quietly():
    """``medcomp codecs | head -1``: no "Broken pipe", no traceback, the status of a tool that SIGPIPE ended."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line written at once, so the writer meets the closed pipe
    process = subprocess.Popen([sys.executable, "-m", "monai_medcomp", "codecs"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    assert process.stdout.readline().startswith(b"codec ")
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err, err
