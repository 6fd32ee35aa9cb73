"""PNG and JPEG output of `medcomp decompress`: previews of signed CT in a window, exact where asked and possible,
and the README's `decompress ct.mcz slice40.png --slices 40` on a CT series that has a slice 40."""

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


CT = get_testdata_file("693_UNCR.dcm")  # signed 14-bit, intercept -1024, window 40/100
MR = get_testdata_file("MR2_UNCR.dcm")  # unsigned 12-bit in 16


def windowed(hu, center, width):
    return np.clip(np.floor((hu - (center - width / 2)) * 255 / width + 0.5), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory):
    """A 48-slice CT series from the real 693_UNCR slice: each slice shifted sideways, 5 mm apart, one file each."""
    folder = tmp_path_factory.mktemp("ct_series")
    source = pydicom.dcmread(CT)
    for index in range(48):
        ds = pydicom.dcmread(CT)
        ds.PixelData = np.roll(source.pixel_array, 3 * index, axis=1).tobytes()
        ds.ImagePositionPatient = [*source.ImagePositionPatient[:2], float(source.ImagePositionPatient[2]) + 5 * index]
        ds.InstanceNumber = index + 1
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(folder / f"ct{index:03d}.dcm")
    return folder, source.pixel_array


def test_the_readme_example_on_a_ct_series(ct_series, tmp_path, cli):
    folder, pixels = ct_series
    assert cli("compress", folder, tmp_path / "ct.mcz", "--codec", "jpegls", "--quiet")[0] == 0
    code, out, _ = cli("decompress", tmp_path / "ct.mcz", tmp_path / "slice40.png", "--slices", "40",
                       "--quiet")
    assert code == 0 and "8-bit preview in window 40/100 HU (the file's own)" in out
    expected = windowed(np.roll(pixels, 120, axis=1).astype(np.float64) - 1024, 40, 100)
    assert np.array_equal(imagecodecs.png_decode((tmp_path / "slice40.png").read_bytes()), expected)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_preset_window_and_jpeg(tmp_path, cli, suffix):
    cli("compress", CT, tmp_path / "ct.mcz", "--quiet")
    code, out, _ = cli("decompress", tmp_path / "ct.mcz", tmp_path / f"bone{suffix}", "--window", "bone",
                       "--quiet")
    assert code == 0 and "window 400/1800 HU (bone)" in out
    shown = imagecodecs.imread(tmp_path / f"bone{suffix}")
    expected = windowed(pydicom.dcmread(CT).pixel_array.astype(np.float64) - 1024, 400, 1800)
    assert shown.dtype == np.uint8 and shown.shape == (512, 512)
    if suffix == ".png":
        assert np.array_equal(shown, expected)
    else:  # JPEG at quality 95: close to the preview, not equal
        assert np.abs(shown.astype(int) - expected).mean() < 1.5


def test_unsigned_16_bit_png_stays_exact(tmp_path, cli):
    cli("compress", MR, tmp_path / "mr.mcz", "--quiet")
    for options in ([], ["--exact"]):
        code, out, _ = cli("decompress", tmp_path / "mr.mcz", tmp_path / "mr.png", *options, "--force",
                           "--quiet")
        assert code == 0 and "the stored values, exact" in out
        back = imagecodecs.png_decode((tmp_path / "mr.png").read_bytes())
        assert back.dtype == np.uint16 and np.array_equal(back, pydicom.dcmread(MR).pixel_array)
    # asked for, the same MR is a preview in its own window (1000/2000 in rescaled values)
    code, out, _ = cli("decompress", tmp_path / "mr.mcz", tmp_path / "look.png", "--window", "1000/2000",
                       "--quiet")
    assert code == 0 and imagecodecs.png_decode((tmp_path / "look.png").read_bytes()).dtype == np.uint8


@pytest.mark.parametrize("output, options, words", [
    ("ct.png", ["--exact"], ["PNG stores unsigned pixels only", "leave out --exact"]),
    ("ct.jpg", ["--exact"], ["JPEG is lossy"]),
    ("ct.png", ["--exact", "--window", "brain"], ["not both"]),
    ("ct.nii.gz", ["--window", "brain"], ["apply to .png and .jpg output"]),
])
def test_previews_refused_in_one_line(tmp_path, cli, output, options, words):
    cli("compress", CT, tmp_path / "ct.mcz", "--quiet")
    code, _, err = cli("decompress", tmp_path / "ct.mcz", tmp_path / output, *options, "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and all(word in err for word in words), err
    assert not (tmp_path / output).exists()
