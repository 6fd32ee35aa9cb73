"""LPS/RAS consistency: a voxel lands at the same place in the patient whatever the file format.

nibabel's own DICOM reader (``nibabel.nicom.dicomwrappers``) is the independent reference: its affine maps
(row, column, slice) indices to LPS millimetres.
"""

import warnings

import nibabel as nib
import numpy as np
import pytest

from monai_medcomp.io import read_volume, write_volume

with warnings.catch_warnings():  # nibabel warns that its DICOM readers are young; plain image geometry is solid
    warnings.simplefilter("ignore", UserWarning)
    from nibabel.nicom import dicomwrappers

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def corners(rows, cols):
    return [(0, 0), (cols - 1, 0), (0, rows - 1), (cols - 1, rows - 1)]


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR2_UNCR.dcm"])
def test_nifti_from_a_dicom_file_puts_pixels_where_nibabel_does(name, dicom_file, tmp_path):
    volume = read_volume(dicom_file(name))
    write_volume(volume, tmp_path / "slice.nii.gz")
    nifti_affine = nib.load(tmp_path / "slice.nii.gz").affine
    reference = dicomwrappers.wrapper_from_file(str(dicom_file(name))).affine
    _, rows, cols = volume.array.shape
    for i, j in corners(rows, cols):  # i: column, j: row
        assert np.allclose(nifti_affine @ [i, j, 0, 1], LPS_TO_RAS @ reference @ [j, i, 0, 1], atol=1e-3)


def test_nifti_from_a_dicom_series_puts_every_slice_where_nibabel_does(nibabel_file, tmp_path):
    write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "series")
    series = read_volume(tmp_path / "series")
    write_volume(series, tmp_path / "series.nii.gz")
    nifti_affine = nib.load(tmp_path / "series.nii.gz").affine
    _, rows, cols = series.array.shape
    for k, entry in enumerate(series.metadata["dicom"]["files"]):
        reference = dicomwrappers.wrapper_from_file(str(tmp_path / "series" / entry["filename"])).affine
        for i, j in corners(rows, cols):
            assert np.allclose(nifti_affine @ [i, j, k, 1], LPS_TO_RAS @ reference @ [j, i, 0, 1], atol=1e-3)


def test_oblique_left_handed_nifti_survives_dicom_and_back(nibabel_file, tmp_path):
    source = nibabel_file("example4d.nii.gz")
    write_volume(read_volume(source, volume_index=0), tmp_path / "series")
    write_volume(read_volume(tmp_path / "series"), tmp_path / "back.nii.gz")
    assert np.allclose(nib.load(tmp_path / "back.nii.gz").affine, nib.load(source).affine, atol=1e-4)


def test_volume_geometry_is_nibabels_affine_in_lps(nibabel_file):
    source = nibabel_file("example4d.nii.gz")
    volume = read_volume(source, volume_index=0)
    assert np.allclose(volume.ras_affine, nib.load(source).affine)
    assert volume.spacing == pytest.approx(nib.load(source).header.get_zooms()[:3])
