"""What `medcomp compress` says after a lossy run, and how it says it: figures checked against numpy on the
decoded pixels, one line per rate-control pass, warnings as one line; `--version` and the licence."""

import math
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import __version__, api
from monai_medcomp.cli import main

CT = get_testdata_file("693_UNCR.dcm")  # head CT, signed 14-bit, intercept -1024, window 40/100
ROOT = Path(__file__).resolve().parents[2]


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return float(match[1])


def hu(stored):
    ds = pydicom.dcmread(CT)
    return stored.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def check_figures(out, original, decoded, window, threshold):
    """The printed figures against numpy on the pixels the output decodes to."""
    error = hu(decoded) - hu(original)
    assert number(r"PSNR ([\d.]+) dB over the full 14-bit", out) == pytest.approx(
        10 * math.log10(16383 ** 2 / np.mean(error ** 2)), abs=0.006)
    assert number(r"RMSE ([\d.]+) HU", out) == pytest.approx(np.sqrt(np.mean(error ** 2)), abs=0.006)
    assert number(r"max \|error\| ([\d.]+) HU", out) == np.abs(error).max()
    assert number(r"([\d.]+) % of pixels off by more than", out) == pytest.approx(
        100 * np.mean(np.abs(error) > threshold), abs=0.006)
    center, width = window
    low, high = center - width / 2, center + width / 2
    clipped = np.mean((np.clip(hu(decoded), low, high) - np.clip(hu(original), low, high)) ** 2)
    assert number(r"in window [-\d./]+ HU \([^)]*\): PSNR ([\d.]+) dB", out) == pytest.approx(
        10 * math.log10(width ** 2 / clipped), abs=0.006)


def test_lossy_mcz_prints_figures_in_hu_and_window_and_one_line_per_pass(tmp_path, cli):
    code, out, err = cli("compress", CT, tmp_path / "ct.mcz", "--codec", "jpeg2000", "--psnr", "50")
    assert code == 0
    original = pydicom.dcmread(CT).pixel_array
    check_figures(out, original, api.decompress(tmp_path / "ct.mcz").array, (40, 100), 5)
    assert "in window 40/100 HU (the file's own)" in out and "more than 5 HU" in out
    passes = number(r"reached [\d.]+ dB in (\d+) passes", out)
    lines = err.strip().splitlines()
    assert [int(re.match(r"jpeg2000 pass (\d+): bpp=", line)[1]) for line in lines] == list(range(1, int(passes) + 1))
    assert "chunk" not in err  # no progress bar restarting from 0 at every pass


def test_window_and_threshold_options_change_the_figures(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "ct.mcz", "--codec", "jpegxl", "--quality", "1",
                       "--window", "brain", "--hu-threshold", "2", "--quiet")
    assert code == 0 and "in window 40/80 HU (brain)" in out and "more than 2 HU" in out
    check_figures(out, pydicom.dcmread(CT).pixel_array, api.decompress(tmp_path / "ct.mcz").array, (40, 80), 2)


def test_lossy_dicom_prints_the_figures_of_the_files_written(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "ct.dcm", "--codec", "jpeg2000", "--quality", "0.5",
                       "--window=-600/1500", "--quiet")
    assert code == 0 and "DICOM jpeg2000-lossy" in out and "pixels a DICOM reader decodes" in out
    check_figures(out, pydicom.dcmread(CT).pixel_array, pydicom.dcmread(tmp_path / "ct.dcm").pixel_array,
                  (-600, 1500), 5)


def test_lossless_prints_no_figures(tmp_path, cli):
    code, out, err = cli("compress", CT, tmp_path / "ct.mcz")
    assert code == 0 and "lossless" in out and "PSNR" not in out and "pass" not in err


def test_a_library_warning_is_one_clean_line(tmp_path, cli):
    # bad_sequence.dcm's UIDs and a short string break their VRs: pydicom warns while reading
    code, _, err = cli("compress", get_testdata_file("bad_sequence.dcm"), tmp_path / "b.mcz", "--quiet")
    lines = err.strip().splitlines()
    assert code == 0 and lines
    assert all(line.startswith("medcomp compress: warning: ") for line in lines), err
    assert "UserWarning" not in err and ".py:" not in err and "Invalid value for VR UI" in err


def test_version_and_licence(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0 and capsys.readouterr().out.strip() == f"medcomp {__version__}"
    licence = (ROOT / "LICENSE").read_text()
    assert licence == (ROOT / "bundles" / "learned_lossy" / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert 'license="Apache-2.0"' in (ROOT / "setup.py").read_text()
