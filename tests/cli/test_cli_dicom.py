"""`medcomp compress ... OUT.dcm|OUTDIR` and `medcomp decompress X.mcz OUT --transfer-syntax`: DICOM in a standard
compressed transfer syntax, and one clear line for every request that cannot be met."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp.cli import build_parser

CT = get_testdata_file("693_UNCR.dcm")
MR_VOLUME = get_testdata_file("emri_small.dcm")


def one_line_error(cli, *args):
    code, _, err = cli(*args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_format_is_inferred_from_the_output(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "ct.dcm", "--quiet")
    assert code == 0 and "DICOM jpegls (1.2.840.10008.1.2.4.80, lossless)" in out
    ds = pydicom.dcmread(tmp_path / "ct.dcm")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(CT).pixel_array)
    assert ds.SOPInstanceUID == pydicom.dcmread(CT).SOPInstanceUID  # lossless: the same image
    code, out, _ = cli("compress", CT, tmp_path / "ct.mcz", "--quiet")
    assert code == 0 and "DICOM" not in out and (tmp_path / "ct.mcz").read_bytes()[:4] != b"\0" * 4
    code, _, _ = cli("compress", CT, tmp_path / "forced.dcm", "--format", "mcz", "--quiet")
    assert code == 0 and not (tmp_path / "forced.dcm").read_bytes()[128:132] == b"DICM"


def test_multiframe_file_or_series_folder_and_near_lossless_target(tmp_path, cli):
    original = pydicom.dcmread(MR_VOLUME).pixel_array.astype(int)
    code, out, _ = cli("compress", MR_VOLUME, tmp_path / "mr.dcm", "--codec", "jpegls", "--max-error", "2",
                       "--quiet")
    assert code == 0 and "jpegls-near" in out and "max error 2" in out
    ds = pydicom.dcmread(tmp_path / "mr.dcm")
    assert ds.NumberOfFrames == 10 and ds.LossyImageCompression == "01"
    assert np.abs(ds.pixel_array - original).max() <= 2
    code, out, _ = cli("compress", MR_VOLUME, tmp_path / "mr", "--codec", "htj2k", "--quiet")
    assert code == 0 and "10 files" in out
    files = sorted((tmp_path / "mr").iterdir())
    assert np.array_equal(np.stack([pydicom.dcmread(f).pixel_array for f in files]), original)


def test_transfer_syntax_alone_picks_its_codec(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "ct.dcm", "--transfer-syntax", "rle", "--quiet")
    assert code == 0 and "DICOM rle" in out
    code, out, _ = cli("compress", CT, tmp_path / "j.dcm", "--transfer-syntax", "jpeg2000-lossy",
                       "--psnr", "60", "--quiet")
    assert code == 0 and "PSNR" in out and "jpeg2000" in out


@pytest.mark.parametrize("args,words", [
    (["--codec", "cnn-ae"], ["codec cnn-ae has no standard DICOM transfer syntax", "its home is .mcz"]),
    (["--codec", "png"], ["codec png has no standard DICOM transfer syntax"]),
    (["--codec", "jpegls", "--transfer-syntax", "jpeg2000"], ["carries codec jpeg2000", "not codec jpegls"]),
    (["--codec", "jpegls", "--transfer-syntax", "jpegls", "--max-error", "2"], ["lossless only", "jpegls-near"]),
    (["--codec", "jpeg"], ["jpeg-extended", "cannot hold signed data"]),
    (["--transfer-syntax", "jpeg-ls"], ["unknown DICOM transfer syntax"]),
    (["--transfer-syntax", "rle", "--psnr", "40"], ["takes no parameters or target"]),
])
def test_requests_dicom_cannot_meet_are_one_line(tmp_path, cli, args, words):
    err = one_line_error(cli, "compress", CT, tmp_path / "x.dcm", *args, "--quiet")
    for word in words:
        assert word in err
    assert not (tmp_path / "x.dcm").exists()


def test_transfer_syntax_needs_dicom_output(tmp_path, cli):
    assert "DICOM output only" in one_line_error(cli, "compress", CT, tmp_path / "x.mcz", "--transfer-syntax",
                                                  "rle", "--quiet")


def test_decompress_writes_a_lossless_syntax_and_refuses_a_lossy_one(tmp_path, cli):
    assert cli("compress", MR_VOLUME, tmp_path / "mr.mcz", "--codec", "jpeg2000", "--quiet")[0] == 0
    code, _, _ = cli("decompress", tmp_path / "mr.mcz", tmp_path / "mr.dcm", "--transfer-syntax", "htj2k",
                     "--quiet")
    assert code == 0
    ds = pydicom.dcmread(tmp_path / "mr.dcm")
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201"
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(MR_VOLUME).pixel_array)
    err = one_line_error(cli, "decompress", tmp_path / "mr.mcz", tmp_path / "lossy.dcm", "--transfer-syntax",
                         "jpeg2000-lossy", "--quiet")
    assert "is lossy" in err and "compress from the source instead" in err
    err = one_line_error(cli, "decompress", tmp_path / "mr.mcz", tmp_path / "mr.nii.gz", "--transfer-syntax",
                         "jpegls", "--quiet")
    assert "DICOM output only" in err


def test_help_tells_the_dicom_path():
    parser = build_parser()
    compress = parser._subparsers._group_actions[0].choices["compress"].format_help()
    decompress = parser._subparsers._group_actions[0].choices["decompress"].format_help()
    for text in ("--transfer-syntax", "--format", "home is .mcz", "jpegls-near", "htj2k-rpcl"):
        assert text in " ".join(compress.split())
    assert "a lossy one is refused" in " ".join(decompress.split())


def test_explicit_parameters_join_the_codec_defaults(tmp_path, cli):
    code, out, _ = cli("compress", CT, tmp_path / "jxl.dcm", "--codec", "jpegxl", "--param", "effort=3",
                       "--quiet")
    assert code == 0 and "DICOM jpegxl (1.2.840.10008.1.2.4.110, lossless)" in out and '"effort": 3' in out
    code, out, _ = cli("compress", CT, tmp_path / "j2k.dcm", "--transfer-syntax", "jpeg2000-lossy", "--param",
                       "bpp=2", "--quiet")
    assert code == 0 and "jpeg2000-lossy" in out and '"bpp": 2' in out
