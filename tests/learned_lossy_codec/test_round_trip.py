"""learned-lossy through real .mcz files: the decoded volume has the input's shape, dtype, value range and geometry
for 8-bit, 12-bit, signed CT, RGB, odd and tiny images and a volume; PSNR and size rise with quality, and a high
quality keeps every pixel within a few values of the input."""

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs import wavelet
from monai_medcomp.metrics import max_abs_error, psnr

CODEC = "learned-lossy"
NAMES = ["us_8bit", "mr2", "ct_693", "us_rgb", "mr_emri_small"]
QUALITIES = (20, 50, 80, 95)
# At quality 95 the step is below half a grey level: the grey crops measured exact, RGB a max error of 1 (through the
# colour transform, PSNR 73 dB).
HIGH_QUALITY, HIGH_QUALITY_MAX_ERROR, HIGH_QUALITY_PSNR = 95, 2, 60.0


def round_trip(volume, tmp_path, quality):
    """Compress to a file at ``quality``, decode it; check what every lossy file must keep."""
    path = tmp_path / "lossy.mcz"
    result = api.compress(volume, path, codec=CODEC, quality=quality, force=True)
    decoded = api.decompress(path)
    header = result.header
    assert decoded.array.dtype == volume.array.dtype and decoded.array.shape == volume.array.shape
    assert decoded.bits_stored == volume.bits_stored
    # the value range the engine coded: [offset, offset + 2^precision - 1], never a wrapped value
    assert header.offset <= decoded.array.min() and decoded.array.max() <= header.offset + (1 << header.precision) - 1
    return result, decoded


@pytest.mark.parametrize("name", NAMES)
def test_file_round_trip_keeps_shape_dtype_range_and_geometry(name, images, tmp_path):
    volume = images.region(name)
    result, decoded = round_trip(volume, tmp_path, 70)
    header = result.header
    assert not header.lossless and header.params == {"quality": 70.0}
    assert header.weights["name"] == "learned_lossy" and len(header.weights["sha256"]) == 64
    assert len(result.encoded.chunks) == volume.num_slices  # slice by slice
    low, high = int(volume.array.min()), int(volume.array.max())
    assert header.offset == low and header.precision == (high - low).bit_length()  # the true bit depth
    np.testing.assert_allclose(decoded.spacing, volume.spacing)
    np.testing.assert_allclose(decoded.origin, volume.origin)
    np.testing.assert_allclose(decoded.direction, volume.direction)
    assert decoded.metadata["sample"] == name
    assert psnr(volume.array, decoded.array, bits_stored=volume.bits_stored) > 40  # measured 49.6 (RGB) to 83.2
    assert result.nbytes < result.raw_nbytes


def test_signed_ct_keeps_its_negative_values(images, tmp_path):
    volume = images.region("ct_693")
    assert volume.array.dtype == np.int16 and volume.array.min() == -2000 and volume.array.max() > 1000
    result, decoded = round_trip(volume, tmp_path, 80)
    assert result.header.offset == -2000 and result.header.precision == 12
    padding = volume.array == -2000
    assert padding.any() and np.abs(decoded.array[padding].astype(np.int64) + 2000).max() <= 3  # measured 1
    assert max_abs_error(volume.array, decoded.array) <= 6  # measured 2


def test_rgb_keeps_each_channel(images, tmp_path):
    volume = images.region("us_rgb")
    assert volume.array.shape == (1, 96, 96, 3)
    _, decoded = round_trip(volume, tmp_path, 80)
    for channel in range(3):
        original, restored = volume.array[..., channel], decoded.array[..., channel]
        assert np.ptp(original) > 100 and psnr(original, restored, bits_stored=8) > 45  # measured 54.3 to 56.8


def test_volume_codes_every_slice(images, tmp_path):
    volume = images.region("mr_emri_small")
    assert volume.array.shape == (4, 64, 64)
    result, decoded = round_trip(volume, tmp_path, 80)
    assert result.header.slices_per_chunk == 1 and len(result.encoded.chunks) == 4
    assert (psnr(volume.array, decoded.array, bits_stored=12, per_slice=True) > 70).all()  # measured 80.5 to 80.8
    np.testing.assert_array_equal(api.decompress(result.data, slices=[2]).array, decoded.array[2:3])


@pytest.mark.parametrize("name, rows, cols, levels", [
    pytest.param("mr2", 1, 1, 0, id="1x1"), pytest.param("mr2", 3, 200, 0, id="3x200"),
    pytest.param("mr2", 200, 3, 0, id="200x3"), pytest.param("mr2", 15, 15, 0, id="15x15"),
    pytest.param("mr2", 16, 16, 1, id="16x16"), pytest.param("mr2", 37, 53, 2, id="37x53"),
    pytest.param("us_8bit", 53, 37, 2, id="53x37-8bit"), pytest.param("us_rgb", 37, 53, 2, id="37x53-rgb")])
@pytest.mark.parametrize("quality", [50, HIGH_QUALITY])
def test_odd_and_tiny_images(name, rows, cols, levels, quality, images, tmp_path):
    """Sides below 16 pixels get no wavelet level at all: the image is coded as its approximation band."""
    volume = images.corner(name, rows, cols)
    assert wavelet.levels_for((rows, cols)) == levels
    _, decoded = round_trip(volume, tmp_path, quality)
    if quality == HIGH_QUALITY:
        assert max_abs_error(volume.array, decoded.array) <= HIGH_QUALITY_MAX_ERROR


@pytest.mark.parametrize("name", NAMES[:4])  # the slices of the volume code like the 2-D images
def test_psnr_and_size_rise_with_quality(name, images):
    volume = images.region(name)
    sizes, scores = [], []
    for quality in QUALITIES:
        result = api.compress(volume, codec=CODEC, quality=quality)
        decoded = api.decompress(result.data).array
        sizes.append(result.nbytes)
        scores.append(psnr(volume.array, decoded, bits_stored=volume.bits_stored))
    assert all(a < b for a, b in zip(sizes, sizes[1:])), sizes
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] - scores[0] > 20  # quality 20 measured 24 to 50 dB; 95: 73 dB (RGB) or exact
    assert scores[-1] >= HIGH_QUALITY_PSNR
    assert max_abs_error(volume.array, decoded) <= HIGH_QUALITY_MAX_ERROR
