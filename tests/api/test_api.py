"""The Python API on real volumes: figures from real bytes, geometry kept, partial decodes placed right."""

import numpy as np
import pytest

import monai_medcomp as mc
from monai_medcomp.data import load_sample
from monai_medcomp.errors import MedCompError


@pytest.fixture(scope="module")
def mr_volume():
    return load_sample("mr_emri_small")


def test_figures_count_the_real_file(tmp_path, mr_volume):
    result = mc.compress(mr_volume, tmp_path / "mr.mcz", codec="jpegls")
    size = (tmp_path / "mr.mcz").stat().st_size
    assert result.nbytes == size
    assert result.bpp == pytest.approx(size * 8 / mr_volume.array.size)
    assert result.ratio == pytest.approx(mr_volume.array.nbytes / size)
    assert result.space_saving == pytest.approx(1 - size / mr_volume.array.nbytes)


def test_geometry_and_metadata_survive(mr_volume):
    volume = mc.decompress(mc.compress(mr_volume, codec="jpeg2000"))
    assert np.array_equal(volume.array, mr_volume.array)
    assert volume.dtype == mr_volume.dtype and volume.bits_stored == mr_volume.bits_stored
    assert np.allclose(volume.lps_affine, mr_volume.lps_affine)
    assert volume.metadata["format"] == mr_volume.metadata["format"]
    assert volume.metadata["compression"]["lossless"] is True


def test_partial_decode_places_slices_where_they_were(mr_volume):
    result = mc.compress(mr_volume, codec="jpegls")
    part = mc.decompress(result, slices=[4, 5, 6])
    assert np.array_equal(part.array, mr_volume.array[4:7])
    expected_origin = mr_volume.lps_affine @ np.array([0, 0, 4, 1])
    assert np.allclose(part.origin, expected_origin[:3])


def test_array_input_and_explicit_params():
    array = np.random.default_rng(1).integers(-500, 1500, (2, 33, 47), dtype=np.int16)
    result = mc.compress(array, codec="jpegls", params={"near": 3})
    decoded = mc.decompress(result).array
    assert np.abs(decoded.astype(int) - array).max() <= 3
    assert result.header.lossless is False


def test_params_and_target_together_are_refused():
    with pytest.raises(MedCompError, match="not both"):
        mc.compress(np.zeros((4, 4), np.uint8), codec="jpeg", params={"quality": 50}, psnr=40)


def test_info_reads_only_the_header(tmp_path, mr_volume):
    mc.compress(mr_volume, tmp_path / "mr.mcz", codec="png")
    details = mc.info(tmp_path / "mr.mcz")
    assert details["codec"] == "png" and details["num_chunks"] == 10 and details["shape"] == [10, 64, 64]
    assert details["container_overhead_bytes"] < 0.05 * details["file_bytes"]


def test_decoder_options_without_an_output_are_refused(mr_volume):
    """A mistyped keyword (``params=`` for ``decode_params=``) must not be ignored silently."""
    result = mc.compress(mr_volume, None, "jpegls")
    with pytest.raises(TypeError, match="no output path"):
        mc.decompress(result.data, params={"stages": 1})
