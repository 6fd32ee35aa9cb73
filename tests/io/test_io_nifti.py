"""NIfTI: stored integers, the header written back as it was, 4D and colour data."""

import nibabel as nib
import numpy as np
import pytest

from monai_medcomp.errors import UnsupportedDataError
from monai_medcomp.io import read_volume, write_volume


def raw_header(path):
    """The header as stored on disk (nibabel's loaded header moves scl_slope/inter into the data proxy)."""
    with nib.openers.ImageOpener(path) as f:
        return type(nib.load(path).header).from_fileobj(f)


def test_example4d_first_volume_round_trip(nibabel_file, tmp_path):
    source = nibabel_file("example4d.nii.gz")
    original = nib.load(source)
    volume = read_volume(source, volume_index=0)
    assert volume.array.shape == (24, 96, 128) and volume.dtype == np.int16
    write_volume(volume, tmp_path / "first.nii.gz")
    written = nib.load(tmp_path / "first.nii.gz")
    assert np.array_equal(np.asarray(written.dataobj.get_unscaled()), np.asarray(original.dataobj.get_unscaled())[..., 0])
    assert np.array_equal(written.affine, original.affine)
    before, after = raw_header(source), raw_header(tmp_path / "first.nii.gz")
    differing = [key for key in before.keys() if np.asarray(before[key]).tobytes() != np.asarray(after[key]).tobytes()]
    assert differing == ["dim"]  # one volume of the two
    assert list(after["dim"][:4]) == [3, 128, 96, 24]
    assert [e.content for e in after.extensions] == [e.content for e in before.extensions]


def test_scaled_data_keeps_stored_integers_and_scl_fields(nibabel_file, tmp_path):
    source = nibabel_file("functional.nii")
    volume = read_volume(source, volume_index=7)
    stored = np.asarray(nib.load(source).dataobj.get_unscaled())[..., 7]
    assert np.array_equal(volume.array, stored.transpose(2, 1, 0))
    assert volume.metadata["rescale"]["slope"] == pytest.approx(0.0754069686)
    write_volume(volume, tmp_path / "f.nii")
    written = nib.load(tmp_path / "f.nii")
    assert np.array_equal(np.asarray(written.dataobj.get_unscaled()), stored)
    assert raw_header(tmp_path / "f.nii").get_slope_inter() == raw_header(source).get_slope_inter()


def test_nifti2_stays_nifti2(nibabel_file, tmp_path):
    volume = read_volume(nibabel_file("example_nifti2.nii.gz"), volume_index=1)
    write_volume(volume, tmp_path / "two.nii.gz")
    written = nib.load(tmp_path / "two.nii.gz")
    assert isinstance(written, nib.Nifti2Image)
    assert np.array_equal(np.asarray(written.dataobj.get_unscaled()).transpose(2, 1, 0), volume.array)


def test_big_endian_file_reads_in_native_order(nibabel_file):
    volume = read_volume(nibabel_file("anatomical.nii"))
    assert volume.dtype.isnative and volume.dtype == np.int16
    expected = np.asarray(nib.load(nibabel_file("anatomical.nii")).dataobj.get_unscaled()).transpose(2, 1, 0)
    assert np.array_equal(volume.array, expected)


def test_4d_image_needs_a_volume_index(nibabel_file):
    with pytest.raises(UnsupportedDataError, match="volume_index"):
        read_volume(nibabel_file("example4d.nii.gz"))


def test_float_nifti_is_refused(nibabel_file):
    with pytest.raises(UnsupportedDataError, match="floating-point"):
        read_volume(nibabel_file("reoriented_anat_moved.nii"))


def test_rgb_volume_goes_through_rgb24(dicom_file, tmp_path):
    volume = read_volume(dicom_file("US1_UNCR.dcm"))
    write_volume(volume, tmp_path / "rgb.nii.gz")
    assert nib.load(tmp_path / "rgb.nii.gz").get_data_dtype().names == ("R", "G", "B")
    assert np.array_equal(read_volume(tmp_path / "rgb.nii.gz").array, volume.array)


def test_dicom_rescale_becomes_scl_fields(dicom_file, tmp_path):
    write_volume(read_volume(dicom_file("693_UNCR.dcm")), tmp_path / "ct.nii.gz")
    assert raw_header(tmp_path / "ct.nii.gz").get_slope_inter() == (1.0, -1024.0)
    assert read_volume(tmp_path / "ct.nii.gz").array.min() == -2000
