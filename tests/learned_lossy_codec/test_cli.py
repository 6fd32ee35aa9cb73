"""`medcomp compress --codec learned-lossy` with `--quality`, `--psnr` and `--bpp`, and `medcomp decompress`, on a
real DICOM file and a NIfTI file; a target out of reach and a file made with other weights are one-line errors."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.cli import main
from monai_medcomp.codecs import get_codec
from monai_medcomp.codecs.learned_lossy import BUNDLE, ContextModel
from monai_medcomp.metrics import psnr
from monai_medcomp.weights import WEIGHTS_FILE, state_bytes

MR = get_testdata_file("emri_small.dcm")  # 10 frames of 64x64, 12 bits stored


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def nifti(images, tmp_path_factory):
    """A slice of the MR volume as a NIfTI file (which records no bits stored: read back, it is 16-bit)."""
    path = tmp_path_factory.mktemp("nifti") / "mr.nii.gz"
    api.write(images.crop("mr_emri_small", slice(0, 64), slice(0, 64), slice(4, 5)), path)
    return path


def test_quality_round_trip_on_dicom(tmp_path, capsys):
    mcz = tmp_path / "mr.mcz"
    code, out, err = run(capsys, "compress", MR, mcz, "--codec", "learned-lossy", "--quality", "70", "--quiet")
    assert code == 0, err
    assert "learned-lossy (lossy)" in out and '"quality": 70.0' in out and "target quality 70" in out
    code, _, err = run(capsys, "decompress", mcz, tmp_path / "mr.dcm", "--quiet")
    assert code == 0, err
    original = pydicom.dcmread(MR).pixel_array
    restored = pydicom.dcmread(tmp_path / "mr.dcm")
    assert restored.pixel_array.shape == original.shape and restored.pixel_array.dtype == original.dtype
    assert restored.LossyImageCompression == "01"
    assert 60 < psnr(original, restored.pixel_array, bits_stored=12) < 90  # measured 74.2 dB


@pytest.mark.parametrize("option, value, said", [("--psnr", 85.0, "target PSNR 85 dB: reached"),
                                                 ("--bpp", 5.0, "target rate 5 bpp: reached")])  # NIfTI: 16 bits stored
def test_targets_round_trip_on_nifti(option, value, said, nifti, tmp_path, capsys):
    mcz = tmp_path / "mr.mcz"
    code, out, err = run(capsys, "compress", nifti, mcz, "--codec", "learned-lossy", option, value, "--quiet")
    assert code == 0, err
    assert said in out
    code, _, err = run(capsys, "decompress", mcz, tmp_path / "mr.nii.gz", "--quiet")
    assert code == 0, err
    original, restored = api.read(nifti), api.read(tmp_path / "mr.nii.gz")
    assert restored.array.shape == original.array.shape and restored.array.dtype == original.array.dtype
    if option == "--psnr":
        assert psnr(original.array, restored.array, bits_stored=original.bits_stored) == pytest.approx(value, abs=0.2)
    else:
        assert mcz.stat().st_size * 8 / original.array.size == pytest.approx(value, rel=0.05)


def test_target_out_of_reach_is_one_line(nifti, tmp_path, capsys):
    code, _, err = run(capsys, "compress", nifti, tmp_path / "mr.mcz", "--codec", "learned-lossy", "--psnr", "5",
                       "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "psnr 5 is out of reach for codec 'learned-lossy'" in err and "dB" in err
    assert not (tmp_path / "mr.mcz").exists()


def test_other_weights_are_named_in_one_line(nifti, tmp_path, capsys):
    mcz = tmp_path / "mr.mcz"
    assert run(capsys, "compress", nifti, mcz, "--codec", "learned-lossy", "--quality", "70", "--quiet")[0] == 0
    shipped, _ = get_codec("learned-lossy").context_model()
    path = tmp_path / "bundles" / BUNDLE / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(state_bytes(ContextModel(shipped.weights, shipped.tables[::-1].copy()).state()))
    code, _, err = run(capsys, "decompress", mcz, tmp_path / "mr.nii.gz", "--bundles", tmp_path / "bundles", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"({BUNDLE} sha256 {api.info(mcz)['weights']['sha256'][:12]}" in err
    assert not (tmp_path / "mr.nii.gz").exists()
