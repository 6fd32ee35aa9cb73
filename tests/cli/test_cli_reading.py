"""Choosing what to read from the command line, and damaged or undecodable sources said as such."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from monai_medcomp import api

CT = Path(get_testdata_file("CT_small.dcm"))
MR = Path(get_testdata_file("MR_small.dcm"))
EXAMPLE_4D = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"


def one_line(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_a_folder_of_two_series_needs_and_takes_series_uid(tmp_path, cli):
    folder = tmp_path / "two series"
    folder.mkdir()
    shutil.copy(CT, folder / "ct.dcm")
    shutil.copy(MR, folder / "mr.dcm")
    code, _, err = cli("compress", folder, tmp_path / "out.mcz", "--quiet")
    one_line(code, err, "2 series", "--series-uid UID")
    mr_uid = pydicom.dcmread(MR).SeriesInstanceUID
    code, out, _ = cli("compress", folder, tmp_path / "mr.mcz", "--series-uid", mr_uid, "--quiet")
    assert code == 0
    np.testing.assert_array_equal(api.decompress(tmp_path / "mr.mcz").array[0], pydicom.dcmread(MR).pixel_array)


def test_a_4d_nifti_needs_and_takes_volume_index(tmp_path, cli):
    code, _, err = cli("compress", EXAMPLE_4D, tmp_path / "out.mcz", "--quiet")
    one_line(code, err, "volumes", "--volume-index N")
    assert cli("compress", EXAMPLE_4D, tmp_path / "v1.mcz", "--volume-index", 1, "--quiet")[0] == 0
    expected = np.asarray(nib.load(EXAMPLE_4D).dataobj.get_unscaled())[..., 1]
    np.testing.assert_array_equal(api.decompress(tmp_path / "v1.mcz").array, expected.transpose(2, 1, 0))


def test_an_option_for_another_kind_of_file_is_refused(tmp_path, cli):
    code, _, err = cli("compress", CT, tmp_path / "out.mcz", "--volume-index", 0, "--quiet")
    one_line(code, err, "--volume-index does not apply")


def test_a_truncated_dicom_is_reported_as_truncated(tmp_path, cli):
    data = CT.read_bytes()
    for cut, words in ((len(data) // 2, ("truncated", "13303 of the 32768 bytes")),
                       (1000, ("truncated", "CT Image Storage", "holds no Pixel Data"))):
        (tmp_path / "cut.dcm").write_bytes(data[:cut])
        code, _, err = cli("compress", tmp_path / "cut.dcm", tmp_path / "out.mcz", "--quiet")
        one_line(code, err, *words)
    assert not (tmp_path / "out.mcz").exists()


def test_a_compressed_source_no_plugin_decodes_names_its_syntax_and_the_plugin(tmp_path):
    """Run where no JPEG 2000 decoding plugin is available (pydicom's decoder is left with none)."""
    script = textwrap.dedent(f"""
        import sys
        from pydicom.pixels import get_decoder
        from pydicom.uid import JPEG2000Lossless
        get_decoder(JPEG2000Lossless)._available.clear()  # as where neither pylibjpeg-openjpeg nor Pillow is
        from monai_medcomp.cli import main
        sys.exit(main(["compress", {get_testdata_file("MR_small_jp2klossless.dcm")!r}, {str(tmp_path / "o.mcz")!r},
                       "--quiet"]))
    """)
    process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    line = one_line(process.returncode, process.stderr, "JPEG 2000 Image Compression (Lossless Only)",
                    "1.2.840.10008.1.2.4.90", "no installed plugin decodes it")
    assert "pylibjpeg" in line or "gdcm" in line
