"""A series whose slices are unevenly spaced is never averaged into a one-spacing format."""

import numpy as np
import pydicom
import pytest

from monai_medcomp import api
from monai_medcomp.errors import UnsupportedDataError
from monai_medcomp.io import read_volume, write_volume
from monai_medcomp.io.slice_spacing import uneven_slices


@pytest.fixture
def series(nibabel_file, tmp_path):
    """A real MR volume (24 slices 2.2 mm apart) written as a DICOM series folder."""
    folder = tmp_path / "series"
    write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), folder)
    return folder


def move_slice(folder, index, millimetres):
    """Move one slice of the series along the slice axis, as a scanner's table would."""
    files = sorted(folder.iterdir(), key=lambda path: pydicom.dcmread(path, stop_before_pixels=True).InstanceNumber)
    ds = pydicom.dcmread(files[index])
    normal = np.cross(*np.reshape(np.asarray(ds.ImageOrientationPatient, float), (2, 3)))
    ds.ImagePositionPatient = [f"{v:.6f}" for v in np.asarray(ds.ImagePositionPatient, float) + millimetres * normal]
    ds.save_as(files[index])


@pytest.mark.parametrize("suffix, format_name", [(".nii.gz", "NIfTI"), (".mha", "ITK image format")])
def test_uneven_series_is_refused_for_one_spacing_formats(series, tmp_path, suffix, format_name):
    move_slice(series, 10, 1.0)
    volume = read_volume(series)
    out = tmp_path / f"volume{suffix}"
    with pytest.raises(UnsupportedDataError) as raised:
        write_volume(volume, out)
    message = str(raised.value)
    assert "not evenly spaced" in message and "gaps from 1.2 to 3.2 mm" in message and format_name in message
    assert "write DICOM instead" in message
    assert not out.exists()


def test_uneven_series_keeps_every_position_in_dicom_and_through_mcz(series, tmp_path):
    move_slice(series, 10, 1.0)
    volume = read_volume(series)
    api.compress(volume, tmp_path / "series.mcz", codec="jpegls")
    decoded = api.decompress(tmp_path / "series.mcz")
    assert uneven_slices(decoded) is not None  # the source positions travel in the .mcz metadata
    write_volume(decoded, tmp_path / "again")
    again = read_volume(tmp_path / "again")
    positions = sorted(float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2])
                       for p in (tmp_path / "again").iterdir())
    source = sorted(float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in series.iterdir())
    np.testing.assert_allclose(positions, source, atol=1e-4)
    np.testing.assert_array_equal(again.array, volume.array)


def test_even_series_and_small_rounding_write_nifti(series, tmp_path):
    move_slice(series, 10, 0.005)  # below the 0.01 mm a decimal string position may be off by
    volume = read_volume(series)
    assert uneven_slices(volume) is None
    write_volume(volume, tmp_path / "volume.nii.gz")
    assert np.allclose(read_volume(tmp_path / "volume.nii.gz").lps_affine, volume.lps_affine, atol=1e-3)
