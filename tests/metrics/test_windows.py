"""Display windows, units and the figures measured in them, against numpy on real CT, MR and US images."""

import math

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import metrics
from monai_medcomp.data import load_sample
from monai_medcomp.errors import MedCompError
from monai_medcomp.figures import measure, summary_lines
from monai_medcomp.windows import PRESETS, Window, display_window, file_window, parse_window, quality_window, units_of


@pytest.fixture(scope="module")
def ct():
    """693_UNCR: a 512x512 head CT, signed, 14 bits stored, intercept -1024, its own window 40/100."""
    return load_sample("ct_693")


def noisy(volume, sigma, seed=0):
    low, high = volume.value_range
    noise = np.random.default_rng(seed).normal(0, sigma, volume.array.shape).round()
    return np.clip(volume.array.astype(np.int64) + noise, low, high).astype(volume.dtype)


def hu(stored):
    """693_UNCR's rescale, read with pydicom rather than through MedComp."""
    ds = pydicom.dcmread(get_testdata_file("693_UNCR.dcm"))
    return stored.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def numpy_windowed_psnr(a, b, center, width):
    low, high = center - width / 2, center + width / 2
    error = np.mean((np.clip(hu(a), low, high) - np.clip(hu(b), low, high)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(width ** 2 / error)


@pytest.mark.parametrize("text, expected", [
    ("40/80", (40, 80, "--window")), (" -600 / 1500 ", (-600, 1500, "--window")), ("brain", (40, 80, "brain")),
    ("Lung", (-600, 1500, "lung")), ("12.5/3.5", (12.5, 3.5, "--window"))])
def test_window_text_and_presets(text, expected):
    window = parse_window(text)
    assert (window.center, window.width, window.source) == expected
    assert window.low == expected[0] - expected[1] / 2 and window.high == expected[0] + expected[1] / 2


def test_presets_are_the_usual_ct_windows():
    assert PRESETS == {"brain": (40, 80), "subdural": (75, 215), "bone": (400, 1800), "lung": (-600, 1500),
                       "abdomen": (40, 400)}


@pytest.mark.parametrize("text", ["40", "40/0", "40/-80", "brian", "40/80/2", ""])
def test_bad_windows_are_one_clear_error(text):
    with pytest.raises(MedCompError, match="window"):
        parse_window(text)


def test_the_files_own_window_units_and_modality(ct):
    assert file_window(ct) == Window(40.0, 100.0, "the file's own")
    assert units_of(ct).name == "HU" and units_of(ct).intercept == -1024.0
    several = load_sample("ct_bad_sequence")  # WindowCenter [40, 450], WindowWidth [350, 1500]: the first pair
    assert file_window(several) == Window(40.0, 350.0, "the file's own")
    mr = load_sample("mr2")  # MR, rescale slope 3.774114, window 1000/2000 in rescaled values
    assert not units_of(mr).ct and units_of(mr).name == "rescaled value" and units_of(mr).slope == 3.774114
    assert file_window(mr) == Window(1000.0, 2000.0, "the file's own")
    nifti = load_sample("mr_example4d")
    assert file_window(nifti) is None and quality_window(nifti) is None
    assert units_of(nifti, ct=True).ct  # --ct: a NIfTI CT cannot say so itself
    assert quality_window(ct.with_array(ct.array, metadata={"modality": "CT"})) == Window(40, 400, "abdomen, the "
                                                                                           "CT default")


def test_display_maps_the_window_to_8_bits(ct):
    window = parse_window("brain")
    shown = window.display(units_of(ct)(ct.array))
    expected = np.clip(np.floor((hu(ct.array) - 0) * 255 / 80 + 0.5), 0, 255).astype(np.uint8)
    assert shown.dtype == np.uint8 and np.array_equal(shown, expected)
    assert display_window(load_sample("us_rgb")) == Window(127.5, 255, "8-bit values as they are")
    emri = load_sample("mr_emri_small")
    assert (display_window(emri).low, display_window(emri).high) == (emri.array.min(), emri.array.max())


def test_windowed_psnr_matches_numpy_and_follows_the_window(ct):
    reconstruction = noisy(ct, 20)
    for name in ("brain", "bone", "lung"):
        center, width = PRESETS[name]
        value = metrics.windowed_psnr(ct.array, reconstruction, center - width / 2, center + width / 2,
                                      slope=1.0, intercept=-1024.0)
        assert value == pytest.approx(numpy_windowed_psnr(ct.array, reconstruction, center, width), abs=1e-9)
    brain = metrics.windowed_psnr(ct.array, reconstruction, 0, 80, intercept=-1024.0)
    bone = metrics.windowed_psnr(ct.array, reconstruction, -500, 1300, intercept=-1024.0)
    full = metrics.psnr(ct.array, reconstruction, bits_stored=14)
    assert brain < bone < full  # the same error against a narrower range of values


def test_an_error_outside_the_window_is_invisible_in_it(ct):
    bone = hu(ct.array) > 1000
    reconstruction = ct.array + np.where(bone, 50, 0).astype(np.int16)
    assert bone.any()
    assert math.isinf(metrics.windowed_psnr(ct.array, reconstruction, 0, 80, intercept=-1024.0))
    assert math.isfinite(metrics.windowed_psnr(ct.array, reconstruction, -500, 1300, intercept=-1024.0))
    assert math.isfinite(metrics.psnr(ct.array, reconstruction, bits_stored=14))


def test_rmse_and_share_above_match_numpy(ct):
    reconstruction = noisy(ct, 6, seed=3)
    error = ct.array.astype(np.int64) - reconstruction
    assert metrics.rmse(ct.array, reconstruction) == pytest.approx(np.sqrt(np.mean(error ** 2.0)))
    for threshold in (0, 5, 10.5):
        assert metrics.share_above(ct.array, reconstruction, threshold) == np.mean(np.abs(error) > threshold)


def test_measure_reports_every_figure_in_hu(ct):
    reconstruction = noisy(ct, 8, seed=1)
    figures = measure(ct, reconstruction, window="brain", hu_threshold=10)
    error = hu(reconstruction) - hu(ct.array)
    assert figures["units"] == "HU" and figures["peak"] == 2 ** 14 - 1
    assert figures["psnr"] == pytest.approx(10 * math.log10(16383 ** 2 / np.mean(error ** 2)))
    assert figures["psnr_window"] == pytest.approx(numpy_windowed_psnr(ct.array, reconstruction, 40, 80))
    assert figures["window"] == {"center": 40.0, "width": 80.0, "low": 0.0, "high": 80.0, "source": "brain"}
    assert figures["rmse_hu"] == pytest.approx(np.sqrt(np.mean(error ** 2)))
    assert figures["max_abs_error_hu"] == np.abs(error).max()
    assert figures["share_above_hu_threshold"] == np.mean(np.abs(error) > 10) and figures["hu_threshold"] == 10
    own = measure(ct, reconstruction)["window"]  # no --window: the file's own
    assert (own["center"], own["width"], own["source"]) == (40.0, 100.0, "the file's own")
    lines = "\n".join(summary_lines(figures))
    assert f"RMSE {figures['rmse_hu']:.2f} HU" in lines and "off by more than 10 HU" in lines
    assert "in window 40/80 HU (brain)" in lines


def test_measure_without_hu_or_window():
    us = load_sample("us_rgb")  # RGB ultrasound: no rescale, no window, not CT
    figures = measure(us, noisy(us, 3))
    assert figures["units"] == "stored value" and "window" not in figures and "rmse_hu" not in figures
    assert math.isinf(measure(us, us.array)["psnr"]) and "lossless" in summary_lines(measure(us, us.array))[0]
