"""Metrics against independent computations on real images: hand formulas, scikit-image's SSIM."""

import json
import math

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from skimage.metrics import structural_similarity

from monai_medcomp import metrics
from monai_medcomp.errors import UnsupportedDataError
from monai_medcomp.volume import Volume


def dicom_pixels(name):
    dataset = pydicom.dcmread(get_testdata_file(name))
    return dataset.pixel_array, int(dataset.BitsStored)


@pytest.fixture(scope="module")
def ct():
    """693_UNCR: one 512x512 signed CT slice, 14 bits stored."""
    return dicom_pixels("693_UNCR.dcm")


def noisy(array, sigma, bits, seed=0):
    """``array`` plus rounded Gaussian noise, clipped to the range the stored bits allow."""
    low, high = Volume(array, bits_stored=bits).value_range
    noise = np.random.default_rng(seed).normal(0, sigma, array.shape).round()
    return np.clip(array.astype(np.int64) + noise, low, high).astype(array.dtype)


def skimage_ssim(a, b, bits, **kwargs):
    return structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=(1 << bits) - 1,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False, **kwargs)


def test_psnr_matches_hand_formula_on_signed_random_data():
    rng = np.random.default_rng(1)
    original = rng.integers(-2048, 2048, (3, 40, 50)).astype(np.int16)
    reconstruction = np.clip(original + rng.integers(-30, 31, original.shape), -2048, 2047).astype(np.int16)
    diff = original.astype(np.float64) - reconstruction.astype(np.float64)
    by_hand = 10 * math.log10(4095 ** 2 / np.mean(diff ** 2))
    per_slice_by_hand = [10 * math.log10(4095 ** 2 / np.mean(d ** 2)) for d in diff]

    assert metrics.psnr(original, reconstruction, bits_stored=12) == pytest.approx(by_hand, abs=1e-9)
    assert metrics.psnr(original, reconstruction, bits_stored=12, per_slice=True) == pytest.approx(per_slice_by_hand)
    assert metrics.mse(original, reconstruction) == pytest.approx(np.mean(diff ** 2))
    assert metrics.max_abs_error(original, reconstruction) == int(np.abs(diff).max())


def test_volume_psnr_pools_the_error_not_the_decibels():
    original = np.zeros((2, 16, 16), np.uint8)
    reconstruction = original.copy()
    reconstruction[0] = 10  # slice 0 wrong everywhere, slice 1 exact
    assert metrics.psnr(original, reconstruction, per_slice=True).tolist() == [pytest.approx(20 * math.log10(25.5)),
                                                                               math.inf]
    assert metrics.psnr(original, reconstruction) == pytest.approx(10 * math.log10(255 ** 2 / 50))


def test_errors_do_not_wrap_at_the_dtype_limits():
    original = np.full((1, 4, 4), -128, np.int8)
    reconstruction = np.full((1, 4, 4), 127, np.int8)
    assert metrics.max_abs_error(original, reconstruction) == 255
    assert metrics.mse(original, reconstruction) == 255 ** 2
    assert metrics.psnr(original, reconstruction) == pytest.approx(0.0)


def test_float_reconstructions_are_not_truncated():
    original = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    reconstruction = original + 0.75  # e.g. a network's output before rounding
    assert metrics.max_abs_error(original, reconstruction) == 0.75
    assert metrics.psnr(original, reconstruction) == pytest.approx(10 * math.log10(255 ** 2 / 0.75 ** 2))


def test_peak_defaults_to_the_true_bit_depth_and_accepts_255(ct):
    array, bits = ct
    degraded = noisy(array, 20, bits)
    true_depth = metrics.psnr(array, degraded, bits_stored=bits)
    container_depth = metrics.psnr(array, degraded)
    eight_bit_form = metrics.psnr(array, degraded, peak=255)
    assert container_depth - true_depth == pytest.approx(20 * math.log10(65535 / 16383))
    assert true_depth - eight_bit_form == pytest.approx(20 * math.log10(16383 / 255))
    grey8 = np.random.default_rng(2).integers(0, 256, (1, 32, 32)).astype(np.uint8)
    assert metrics.psnr(grey8, 255 - grey8) == metrics.psnr(grey8, 255 - grey8, peak=255)


def test_identical_images_give_infinite_psnr_zero_error_and_unit_ssim(ct):
    array, bits = ct
    constant = np.full((2, 24, 24), 7, np.uint16)
    for image, depth in ((array, bits), (constant, 12)):
        assert metrics.psnr(image, image.copy(), bits_stored=depth) == math.inf
        assert metrics.max_abs_error(image, image.copy()) == 0
        assert metrics.ssim(image, image.copy(), bits_stored=depth) == pytest.approx(1.0, abs=1e-6)
        assert metrics.ms_ssim(image, image.copy(), bits_stored=depth) == pytest.approx(1.0, abs=1e-6)


def test_ssim_agrees_with_scikit_image_on_real_ct(ct):
    array, bits = ct
    for sigma in (3, 30, 200):
        degraded = noisy(array, sigma, bits)
        ours = metrics.ssim(array[None], degraded[None], bits_stored=bits)
        assert ours == pytest.approx(skimage_ssim(array, degraded, bits), abs=1e-4)
        assert ours < 1.0


def test_rgb_ssim_is_the_mean_of_the_channels():
    array, bits = dicom_pixels("US1_UNCR.dcm")  # (480, 640, 3) uint8 ultrasound
    degraded = noisy(array, 8, bits)
    ours = metrics.ssim(array[None], degraded[None], bits_stored=bits)
    per_channel = [skimage_ssim(array[..., c], degraded[..., c], bits) for c in range(3)]
    assert ours == pytest.approx(np.mean(per_channel), abs=1e-4)
    assert metrics.bits_per_pixel(480 * 640, array[None].shape) == 8.0  # an RGB pixel counts once


def test_ms_ssim_falls_as_noise_rises_on_a_real_image(ct):
    array, bits = ct
    values = [metrics.ms_ssim(array, noisy(array, sigma, bits), bits_stored=bits) for sigma in (2, 20, 100, 400)]
    assert all(later < earlier for earlier, later in zip(values, values[1:]))
    assert 0 < values[-1] < values[0] < 1


def test_small_images_use_fewer_ms_ssim_scales_or_nan(ct):
    array, bits = ct
    assert [metrics.ms_ssim_scales(n, n) for n in (512, 176, 120, 64, 30, 12, 10)] == [5, 5, 4, 3, 2, 1, 0]
    crop = array[200:264, 200:264]
    degraded = noisy(crop, 50, bits)
    assert 0 < metrics.ms_ssim(crop, degraded, bits_stored=bits) < 1
    tiny = array[:8, :8]
    assert math.isnan(metrics.ms_ssim(tiny, noisy(tiny, 50, bits), bits_stored=bits))
    assert math.isnan(metrics.ssim(tiny, noisy(tiny, 50, bits), bits_stored=bits))


def test_size_figures():
    assert metrics.bits_per_pixel(1000, (2, 10, 50)) == 8.0
    assert metrics.num_pixels((1, 10, 10, 3)) == 100
    assert metrics.compression_ratio(1000, 250) == 4.0
    assert metrics.space_saving(1000, 250) == 0.75


def test_mismatched_shapes_are_refused():
    with pytest.raises(UnsupportedDataError, match="shape"):
        metrics.psnr(np.zeros((2, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(UnsupportedDataError, match="bits_stored"):
        metrics.psnr(np.zeros((8, 8)), np.zeros((8, 8)))


def test_quality_report_of_a_real_multiframe_mr():
    array, bits = dicom_pixels("emri_small.dcm")  # 10 frames of 64x64, 12 bits
    volume = Volume(array, bits_stored=bits)
    degraded = noisy(array, 4, bits)
    degraded[3] = array[3]  # one exact slice
    report = metrics.quality_report(volume, degraded, compressed_nbytes=20480)

    diff = array.astype(np.float64) - degraded
    assert report["psnr"] == pytest.approx(10 * math.log10(4095 ** 2 / np.mean(diff ** 2)))
    assert report["max_abs_error"] == int(np.abs(diff).max())
    assert report["bpp"] == pytest.approx(20480 * 8 / array.size)
    assert report["compression_ratio"] == pytest.approx(array.nbytes / 20480)
    assert report["space_saving"] == pytest.approx(1 - 20480 / array.nbytes)
    per_slice = report["per_slice"]
    assert {len(values) for values in per_slice.values()} == {10}
    assert per_slice["psnr"][3] == math.inf and per_slice["max_abs_error"][3] == 0
    assert report["ssim"] == pytest.approx(np.mean(per_slice["ssim"]))
    assert per_slice["ssim"][3] == pytest.approx(1.0, abs=1e-6) and min(per_slice["ssim"]) < 1
    assert json.loads(json.dumps(report))["per_slice"]["max_abs_error"] == per_slice["max_abs_error"]
