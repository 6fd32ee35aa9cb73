"""PNG and TIFF: 8- and 16-bit, grey and RGB, real images, bit for bit."""

import imagecodecs
import numpy as np
import pytest
import tifffile

from monai_medcomp.errors import MedCompError, UnsupportedDataError
from monai_medcomp.io import read_volume, write_volume


@pytest.mark.parametrize("name, dtype", [("JPGLosslessP14SV1_1s_1f_8b.dcm", np.uint8), ("MR2_UNCR.dcm", np.uint16),
                                         ("US1_UNCR.dcm", np.uint8)])
def test_png_round_trip(name, dtype, dicom_file, tmp_path):
    volume = read_volume(dicom_file(name))
    write_volume(volume, tmp_path / "image.png")
    assert imagecodecs.png_decode((tmp_path / "image.png").read_bytes()).dtype == dtype
    back = read_volume(tmp_path / "image.png")
    assert back.dtype == dtype and back.metadata["format"] == "png"
    assert np.array_equal(back.array, volume.array)


@pytest.mark.parametrize("name", ["693_UNCR.dcm", "emri_small.dcm", "US1_UNCR.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_tiff_round_trip_keeps_geometry_and_bit_depth(name, dicom_file, tmp_path):
    volume = read_volume(dicom_file(name))
    write_volume(volume, tmp_path / "image.tif", compression="zlib")
    back = read_volume(tmp_path / "image.tif")
    assert np.array_equal(back.array, volume.array)
    assert back.bits_stored == volume.bits_stored
    assert np.allclose(back.lps_affine, volume.lps_affine)


def test_plain_rgb_tiff_from_another_program_reads_as_rgb(dicom_file, tmp_path):
    rgb = read_volume(dicom_file("US1_UNCR.dcm")).array[0]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_volume(tmp_path / "planar.tif").array[0], rgb)


def test_png_of_signed_data_is_a_preview_unless_exact_is_asked(dicom_file, tmp_path):
    ct = read_volume(dicom_file("693_UNCR.dcm"))
    with pytest.raises(UnsupportedDataError, match="unsigned"):
        write_volume(ct, tmp_path / "exact.png", exact=True)
    with pytest.raises(MedCompError, match="10 slices"):
        write_volume(read_volume(dicom_file("emri_small.dcm")), tmp_path / "mr.png")
    assert list(tmp_path.iterdir()) == []
    write_volume(ct, tmp_path / "ct.png")  # an 8-bit preview in the file's own window, 40/100 HU
    hu = ct.array[0].astype(np.float64) - 1024
    expected = np.clip(np.floor((hu + 10) * 255 / 100 + 0.5), 0, 255).astype(np.uint8)
    assert np.array_equal(imagecodecs.png_decode((tmp_path / "ct.png").read_bytes()), expected)
