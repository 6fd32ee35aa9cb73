"""`medcomp bench --images` on the user's own files: their rate-distortion curves, with the PSNR in their window."""

import json
import math
import shutil

import matplotlib.image
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.cli import main

CT = get_testdata_file("693_UNCR.dcm")


def test_bench_draws_the_curves_of_a_users_file(tmp_path, capsys):
    mine = tmp_path / "my scan.dcm"
    shutil.copy(CT, mine)
    code = main(["bench", "--images", str(mine), "--codecs", "jpeg2000", "--no-lossless", "--no-speed",
                 "--points", "3", "--out", str(tmp_path / "b"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "b" / "lossy.json").read_text())
    assert report["windows"]["my_scan"] == {"center": 40.0, "width": 100.0, "low": -10.0, "high": 90.0,
                                            "source": "the file's own"}
    points = report["curves"]["my_scan"]["jpeg2000"]
    assert len(points) == 3
    original = pydicom.dcmread(CT).pixel_array.astype(np.float64) - 1024
    for point in points:
        decoded = api.decompress(api.compress(api.read(mine), codec="jpeg2000", params=point["params"]).data)
        clipped = np.clip(decoded.array[0] - 1024.0, -10, 90) - np.clip(original, -10, 90)
        assert point["psnr_window"] == pytest.approx(10 * math.log10(100 ** 2 / np.mean(clipped ** 2)))
        assert point["psnr_window"] < point["psnr"]
    plot = matplotlib.image.imread(tmp_path / "b" / "rd_my_scan.png")
    assert plot.shape[1] >= 1200  # three panels: PSNR, PSNR in the window, SSIM
    assert "| PSNR dB | PSNR in window dB |" in (tmp_path / "b" / "lossy.md").read_text()


def test_neither_a_file_nor_a_sample_is_one_line(tmp_path, capsys):
    code = main(["bench", "--images", str(tmp_path / "missing.dcm"), "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such file or folder" in err
