"""The `medcomp` command end to end on real files: round trips, and one clear line for every bad input."""

import subprocess
import sys

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp.cli import main

CT = get_testdata_file("693_UNCR.dcm")
MR_VOLUME = get_testdata_file("emri_small.dcm")


def assert_one_line_error(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


def test_dicom_lossless_round_trip_keeps_pixels_and_tags(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "ct.mcz", "--codec", "jpegls", "--quiet")
    assert code == 0 and "lossless" in out
    code, _, _ = cli("decompress", tmp_path / "ct.mcz", tmp_path / "ct.dcm", "--quiet")
    assert code == 0
    original, restored = pydicom.dcmread(CT), pydicom.dcmread(tmp_path / "ct.dcm")
    assert np.array_equal(original.pixel_array, restored.pixel_array)
    for keyword in ("PatientName", "SOPInstanceUID", "ImagePositionPatient", "PixelSpacing", "BitsStored",
                    "RescaleIntercept", "WindowCenter"):
        if keyword in original:
            assert restored[keyword].value == original[keyword].value, keyword


def test_multiframe_to_nifti_and_info(tmp_path, cli):
    mcz = tmp_path / "mr.mcz"
    assert cli("compress", MR_VOLUME, mcz, "--codec", "jpeg2000", "--quiet")[0] == 0
    code, out, _ = cli("info", mcz)
    assert code == 0 and "jpeg2000" in out and "[10, 64, 64]" in out
    assert cli("decompress", mcz, tmp_path / "mr.nii.gz", "--quiet")[0] == 0
    data = np.asarray(nib.load(tmp_path / "mr.nii.gz").dataobj.get_unscaled())
    assert np.array_equal(np.transpose(data, (2, 1, 0)), pydicom.dcmread(MR_VOLUME).pixel_array)


def test_single_slice_is_decoded_alone(tmp_path, cli):
    mcz = tmp_path / "mr.mcz"
    cli("compress", MR_VOLUME, mcz, "--codec", "jpegls", "--quiet")
    assert cli("decompress", mcz, tmp_path / "slice.png", "--slices", "7", "--quiet")[0] == 0
    import imagecodecs
    assert np.array_equal(imagecodecs.imread(tmp_path / "slice.png"), pydicom.dcmread(MR_VOLUME).pixel_array[7])


def test_codecs_lists_every_codec_with_abilities(cli):
    code, out, _ = cli("codecs")
    assert code == 0
    for name in ("jpegls", "jpeg2000", "htj2k", "jpegxl", "jpeg", "ljpeg", "png", "bttc", "kmeans"):
        assert any(line.split()[0] == name for line in out.splitlines()[1:]), name
    assert "near-lossless" in out
    rows = out.splitlines()
    below_cnn_ae = rows[next(i for i, row in enumerate(rows) if row.split()[0] == "cnn-ae") + 1]
    assert "reproduction of the paper's CNN-AE, not a recommendation" in below_cnn_ae and "dB below JPEG 2000" in below_cnn_ae


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run([sys.executable, "-m", "monai_medcomp", "codecs"], capture_output=True, text=True)
    assert result.returncode == 0 and "jpegls" in result.stdout


def test_unknown_codec(tmp_path, cli):
    code, _, err = cli("compress", CT, tmp_path / "x.mcz", "--codec", "jpeg3000", "--quiet")
    assert_one_line_error(code, err, "unknown codec", "jpeg3000", "jpegls")
    assert not (tmp_path / "x.mcz").exists()


def test_a_path_the_file_system_refuses_is_one_line(tmp_path, cli):
    code, _, err = cli("compress", tmp_path / ("x" * 300), tmp_path / "x.mcz", "--codec", "jpegls", "--quiet")
    assert_one_line_error(code, err, "file name too long")
    assert not (tmp_path / "x.mcz").exists()


def test_float_data_is_refused(tmp_path, cli):
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((8, 8, 2)).astype(np.float32), np.eye(4)),
             tmp_path / "float.nii.gz")
    code, _, err = cli("compress", tmp_path / "float.nii.gz", tmp_path / "x.mcz", "--quiet")
    assert_one_line_error(code, err, "float")
    assert not (tmp_path / "x.mcz").exists()


def test_max_error_a_lossy_codec_cannot_guarantee(tmp_path, cli):
    code, _, err = cli("compress", CT, tmp_path / "x.mcz", "--codec", "jpeg", "--max-error", "0", "--quiet")
    assert_one_line_error(code, err, "jpeg")
    assert not (tmp_path / "x.mcz").exists()


@pytest.fixture
def ct_mcz(tmp_path, cli):
    path = tmp_path / "ct.mcz"
    assert cli("compress", CT, path, "--quiet")[0] == 0
    return path


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[: len(b) // 2], ["truncated"]),
    (lambda b: b"GIF8" + b[4:], ["not a .mcz file"]),
    (lambda b: b[:4] + b"\x09\x00" + b[6:], ["version 9"]),
    (lambda b: b[:-10] + bytes([b[-10] ^ 1]) + b[-9:], ["chunk 0", "checksum"]),
])
def test_damaged_container(tmp_path, cli, ct_mcz, damage, words):
    damaged = tmp_path / "damaged.mcz"
    damaged.write_bytes(damage(ct_mcz.read_bytes()))
    code, _, err = cli("decompress", damaged, tmp_path / "out.nii.gz", "--quiet")
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "out.nii.gz").exists()


def test_existing_output_refused_unless_force(tmp_path, cli, ct_mcz):
    before = ct_mcz.read_bytes()
    code, _, err = cli("compress", CT, ct_mcz, "--codec", "png", "--quiet")
    assert_one_line_error(code, err, "exists", "--force")
    assert ct_mcz.read_bytes() == before
    assert cli("compress", CT, ct_mcz, "--codec", "png", "--force", "--quiet")[0] == 0
    assert ct_mcz.read_bytes() != before


def test_input_is_never_overwritten(tmp_path, cli, ct_mcz):
    before = ct_mcz.read_bytes()
    code, _, err = cli("decompress", ct_mcz, ct_mcz, "--force", "--quiet")
    assert_one_line_error(code, err, "input")
    assert ct_mcz.read_bytes() == before


def test_dicom_without_pixel_data(tmp_path, cli):
    ds = pydicom.dcmread(CT)
    del ds.PixelData
    ds.save_as(tmp_path / "nopixels.dcm")
    code, _, err = cli("compress", tmp_path / "nopixels.dcm", tmp_path / "x.mcz", "--quiet")
    assert_one_line_error(code, err, "pixel data")
    assert not (tmp_path / "x.mcz").exists()


def test_conflicting_targets_are_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", str(CT), str(tmp_path / "x.mcz"), "--bpp", "2", "--psnr", "40"])
    assert exit_info.value.code == 2


def test_progressive_file_decodes_with_fewer_stages(tmp_path, cli):
    from monai_medcomp.metrics import psnr

    mcz = tmp_path / "ct.mcz"
    assert cli("compress", CT, mcz, "--codec", "cnn-rnn-ae", "--quiet")[0] == 0
    original = pydicom.dcmread(CT).pixel_array
    quality = []
    for stages in (1, 2, 3):
        out = tmp_path / f"stages{stages}.nii.gz"
        assert cli("decompress", mcz, out, "--stages", stages, "--quiet")[0] == 0
        decoded = np.transpose(np.asarray(nib.load(out).dataobj.get_unscaled()), (2, 1, 0))[0]
        quality.append(psnr(original, decoded, bits_stored=14))
    assert quality[0] < quality[1] < quality[2]
    code, _, err = cli("decompress", mcz, tmp_path / "bad.nii.gz", "--stages", "4", "--quiet")
    assert_one_line_error(code, err, "stages")
