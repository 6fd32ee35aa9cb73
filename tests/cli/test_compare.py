"""`medcomp compare` on real images: the pictures exist at the right size and show the right pixels, and the
JSON holds the figures numpy computes from the decoded files."""

import json
import math

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import api
from monai_medcomp.compare import OUTPUTS, figure_size

CT = get_testdata_file("693_UNCR.dcm")
MR_VOLUME = get_testdata_file("emri_small.dcm")  # 10 frames of 64x64, 12-bit, no window


def png(path):
    return imagecodecs.png_decode(path.read_bytes())


def test_compare_a_lossy_ct_mcz(tmp_path, cli):
    assert cli("compress", CT, tmp_path / "ct.mcz", "--codec", "jpeg2000", "--psnr", "50", "--quiet")[0] == 0
    code, out, _ = cli("compare", CT, tmp_path / "ct.mcz", "--out", tmp_path / "check", "--window", "brain")
    assert code == 0 and "compare.png: slice 0 of 1" in out and "window 40/80 HU (brain)" in out
    original = pydicom.dcmread(CT).pixel_array.astype(np.float64) - 1024
    decoded = api.decompress(tmp_path / "ct.mcz").array[0].astype(np.float64) - 1024
    report = json.loads((tmp_path / "check" / "figures.json").read_text())
    error = decoded - original
    volume = report["volume"]
    assert volume["psnr"] == pytest.approx(10 * math.log10(16383 ** 2 / np.mean(error ** 2)))
    clipped = np.clip(decoded, 0, 80) - np.clip(original, 0, 80)
    assert volume["psnr_window"] == pytest.approx(10 * math.log10(80 ** 2 / np.mean(clipped ** 2)))
    assert volume["rmse_hu"] == pytest.approx(np.sqrt(np.mean(error ** 2)))
    assert volume["max_abs_error_hu"] == np.abs(error).max()
    assert volume["share_above_hu_threshold"] == pytest.approx(np.mean(np.abs(error) > 5))
    assert report["slice"]["index"] == 0 and report["slice"]["psnr"] == pytest.approx(volume["psnr"])
    size = (tmp_path / "ct.mcz").stat().st_size
    assert report["size"] == {"compressed_bytes": size, "original_bytes": 512 * 512 * 2,
                              "bpp": size * 8 / 512 ** 2, "ratio": 512 * 512 * 2 / size}
    # the panels at the slice's size, in the window (black at 0 HU, white at 80 HU); the error map in colour
    for name, values in (("original.png", original), ("reconstruction.png", decoded)):
        assert np.array_equal(png(tmp_path / "check" / name),
                              np.clip(np.floor((values - 0) * 255 / 80 + 0.5), 0, 255).astype(np.uint8))
    assert png(tmp_path / "check" / "error.png").shape == (512, 512, 3)
    picture = png(tmp_path / "check" / "compare.png")
    assert picture.shape[:2] == figure_size(api.read(CT))[::-1] and picture.shape[1] > 3 * 512  # one to one


def test_compare_a_dicom_series_medcomp_wrote_at_a_chosen_slice(tmp_path, cli):
    assert cli("compress", MR_VOLUME, tmp_path / "mr", "--codec", "jpegls", "--max-error", "3",
               "--quiet")[0] == 0
    code, out, _ = cli("compare", MR_VOLUME, tmp_path / "mr", "--out", tmp_path / "check", "--slice", "7")
    assert code == 0 and "slice 7 of 10" in out
    original = pydicom.dcmread(MR_VOLUME).pixel_array.astype(np.int64)
    files = sorted((tmp_path / "mr").iterdir())
    decoded = np.stack([pydicom.dcmread(f).pixel_array for f in files]).astype(np.int64)
    report = json.loads((tmp_path / "check" / "figures.json").read_text())
    assert report["volume"]["max_abs_error"] == np.abs(decoded - original).max() <= 3
    assert report["slice"]["max_abs_error"] == np.abs(decoded[7] - original[7]).max()
    slice_error = decoded[7] - original[7]
    assert report["slice"]["psnr"] == pytest.approx(10 * math.log10(4095 ** 2 / np.mean(slice_error ** 2)))
    assert "window" not in report["volume"] and "rmse_hu" not in report["volume"]  # an MR without a window
    assert report["size"]["compressed_bytes"] == sum(f.stat().st_size for f in files)
    shown = report["display_window"]  # the range of the values
    assert (shown["low"], shown["high"]) == (original.min(), original.max())
    for name in OUTPUTS[1:4]:
        assert png(tmp_path / "check" / name).shape[:2] == (64, 64)
    assert png(tmp_path / "check" / "compare.png").shape[0] >= 256  # a small slice is drawn larger


@pytest.mark.parametrize("extra, words", [
    (["--slice", "10"], ["--slice 10 is outside the volume", "10 slices"]),
    (["--window", "40"], ["--window expects CENTER/WIDTH"]),
])
def test_mistakes_are_one_line_and_write_nothing(tmp_path, cli, extra, words):
    cli("compress", MR_VOLUME, tmp_path / "mr.mcz", "--quiet")
    code, _, err = cli("compare", MR_VOLUME, tmp_path / "mr.mcz", "--out", tmp_path / "check", *extra)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert all(word in err for word in words), err
    assert not (tmp_path / "check").exists() or not any((tmp_path / "check").iterdir())


def test_another_image_or_an_existing_output_is_refused(tmp_path, cli):
    cli("compress", MR_VOLUME, tmp_path / "mr.mcz", "--quiet")
    code, _, err = cli("compare", CT, tmp_path / "mr.mcz", "--out", tmp_path / "check")
    assert code == 2 and "not a compression of this image" in err
    assert cli("compare", MR_VOLUME, tmp_path / "mr.mcz", "--out", tmp_path / "check")[0] == 0
    code, _, err = cli("compare", MR_VOLUME, tmp_path / "mr.mcz", "--out", tmp_path / "check")
    assert code == 2 and "already exists" in err
