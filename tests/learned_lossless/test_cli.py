"""`medcomp compress --codec learned-lossless --max-error D` and `medcomp decompress` on a real DICOM file."""

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from monai_medcomp.cli import main

CT = get_testdata_file("693_UNCR.dcm")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_near_lossless_round_trip_keeps_the_bound(tmp_path, capsys):
    mcz = tmp_path / "ct.mcz"
    code, out, err = run(capsys, "compress", CT, mcz, "--codec", "learned-lossless", "--max-error", "2", "--quiet")
    assert code == 0, err
    assert "learned-lossless (lossy)" in out and '"max_error": 2' in out and "target max error 2: reached 2" in out
    code, _, err = run(capsys, "decompress", mcz, tmp_path / "ct.dcm", "--quiet")
    assert code == 0, err
    original = pydicom.dcmread(CT).pixel_array.astype(np.int64)
    restored = pydicom.dcmread(tmp_path / "ct.dcm").pixel_array.astype(np.int64)
    assert restored.shape == original.shape
    assert 0 < np.abs(restored - original).max() <= 2


def test_lossless_by_default_and_bad_slab_is_one_line(tmp_path, capsys):
    mcz = tmp_path / "ct.mcz"
    code, out, _ = run(capsys, "compress", CT, mcz, "--codec", "learned-lossless", "--quiet")
    assert code == 0 and "learned-lossless (lossless)" in out
    run(capsys, "decompress", mcz, tmp_path / "ct.dcm", "--quiet")
    assert np.array_equal(pydicom.dcmread(tmp_path / "ct.dcm").pixel_array, pydicom.dcmread(CT).pixel_array)
    code, _, err = run(capsys, "compress", CT, tmp_path / "bad.mcz", "--codec", "learned-lossless",
                       "--param", "slab=0", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "slab" in err
