"""MetaImage and NRRD through ITK (an optional extra): pixels and geometry back, a clear error without ITK."""

import sys

import numpy as np
import pytest

from monai_medcomp.errors import MedCompError
from monai_medcomp.io import read_volume, write_volume

itk = pytest.importorskip("itk")


@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
@pytest.mark.parametrize("sample", [("dicom", "693_UNCR.dcm"), ("dicom", "US1_UNCR.dcm"),
                                    ("dicom", "MR2_UNCR.dcm"), ("nifti", "example4d.nii.gz")])
def test_round_trip_keeps_pixels_and_geometry(suffix, sample, dicom_file, nibabel_file, tmp_path):
    kind, name = sample
    volume = read_volume(dicom_file(name)) if kind == "dicom" else read_volume(nibabel_file(name), volume_index=0)
    write_volume(volume, tmp_path / f"image{suffix}", compression=True)
    back = read_volume(tmp_path / f"image{suffix}")
    assert back.metadata["format"] == "itk"
    assert back.dtype == volume.dtype and np.array_equal(back.array, volume.array)
    assert np.allclose(back.lps_affine, volume.lps_affine, atol=1e-6)


def test_itk_reads_what_it_wrote_in_lps(nibabel_file, tmp_path):
    volume = read_volume(nibabel_file("example4d.nii.gz"), volume_index=0)
    write_volume(volume, tmp_path / "mr.nrrd")
    image = itk.imread(str(tmp_path / "mr.nrrd"))
    assert np.allclose(image.GetOrigin(), volume.origin)
    assert np.allclose(itk.array_from_matrix(image.GetDirection()), volume.direction)
    assert np.array_equal(itk.array_from_image(image), volume.array)


def test_own_string_fields_are_written_back(dicom_file, tmp_path):
    volume = read_volume(dicom_file("CT_small.dcm"))
    write_volume(volume, tmp_path / "ct.nrrd")
    first = read_volume(tmp_path / "ct.nrrd")
    first.metadata["itk"]["Reviewer"] = "second reader"
    write_volume(first, tmp_path / "again.nrrd")
    assert read_volume(tmp_path / "again.nrrd").metadata["itk"]["Reviewer"] == "second reader"


def test_missing_itk_is_a_clear_error(dicom_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "itk", None)  # what an environment without the [itk] extra looks like
    with pytest.raises(MedCompError, match=r"pip install monai_medcomp\[itk\]"):
        write_volume(read_volume(dicom_file("CT_small.dcm")), tmp_path / "ct.mha")
    assert not (tmp_path / "ct.mha").exists()
