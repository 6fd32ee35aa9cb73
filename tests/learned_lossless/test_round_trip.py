"""learned-lossless through real .mcz files: bit-exact on every evaluation image, the error bound of the
near-lossless mode on every evaluation image, and the same pixels whatever the thread count."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from monai_medcomp import api
from monai_medcomp.data import evaluation_images
from monai_medcomp.metrics import max_abs_error

CODEC = "learned-lossless"
EVALUATION = [sample.name for sample in evaluation_images()]
# Radiographs of 1955x1841 and 1760x1760: the near-lossless test codes a 512x512 region of each.
NEAR_LOSSLESS_CROPS = {"cr_rg1": (slice(700, 1212), slice(660, 1172)), "cr_rg3": (slice(620, 1132), slice(620, 1132))}


@pytest.mark.parametrize("name", EVALUATION)
def test_lossless_file_round_trip_is_bit_exact_and_keeps_geometry(name, images, same_geometry, tmp_path):
    volume = images.load(name)
    path = tmp_path / f"{name}.mcz"
    result = api.compress(volume, path, codec=CODEC)
    assert result.header.lossless and result.params == {"max_error": 0, "slab": 32}
    assert result.header.weights["name"] == "learned_lossless"
    decoded = api.decompress(path)
    np.testing.assert_array_equal(decoded.array, volume.array)
    same_geometry(decoded, volume)
    assert decoded.metadata["sample"] == name
    assert result.nbytes < result.raw_nbytes  # every evaluation image really compresses


@pytest.mark.parametrize("max_error", [1, 2, 4])
@pytest.mark.parametrize("name", EVALUATION)
def test_near_lossless_error_bound_holds_for_every_pixel(name, max_error, images, same_geometry, tmp_path):
    """|decoded - original| <= max_error everywhere (per channel for RGB).

    cr_rg1 and cr_rg3 are cropped to the 512x512 region ``NEAR_LOSSLESS_CROPS`` names, to keep the
    suite fast; the lossless test above codes them whole.
    """
    volume = images.crop(name, *NEAR_LOSSLESS_CROPS[name]) if name in NEAR_LOSSLESS_CROPS else images.load(name)
    path = tmp_path / "near.mcz"
    result = api.compress(volume, path, codec=CODEC, params={"max_error": max_error, "slab": 8})
    assert not result.header.lossless
    decoded = api.decompress(path)
    same_geometry(decoded, volume)
    assert max_abs_error(volume.array, decoded.array) <= max_error
    lossless = api.compress(volume, codec="jpegls").nbytes
    assert result.nbytes < lossless  # the allowed error is spent on fewer bytes


def test_max_error_target_records_the_bound_it_reached(images):
    volume = images.load("mr_emri_small")
    result = api.compress(volume, codec=CODEC, max_error=2)
    assert result.params["max_error"] == 2
    assert result.header.extra["target"]["achieved"] <= 2
    assert max_abs_error(volume.array, api.decompress(result.data).array) <= 2


def test_same_file_and_pixels_with_one_or_two_workers_and_any_thread_count(images, tmp_path):
    """Encoding with 1 or 2 engine workers writes the same file; decoding it gives the same pixels whatever
    the worker and BLAS thread counts, and decoding it twice gives the same volume."""
    volume = images.load("mr_example4d")  # 24 slices: 3 slabs, coded in parallel with 2 workers
    params = {"max_error": 2, "slab": 8}  # near-lossless, so the pixels are the codec's own reconstruction
    one = api.compress(volume, codec=CODEC, params=params, workers=1)
    two = api.compress(volume, codec=CODEC, params=params, workers=2)
    assert one.data == two.data
    path = tmp_path / "example4d.mcz"
    path.write_bytes(one.data)
    first = api.decompress(path, workers=1).array
    with threadpool_limits(limits=2):
        second = api.decompress(path, workers=2).array
        third = api.decompress(path, workers=2).array
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, third)
    assert 0 < max_abs_error(volume.array, first) <= 2


def test_near_lossless_rate_falls_as_the_bound_grows_on_a_nearly_flat_image(images):
    """Whole-body NM is nearly all background, so its symbols are almost all zero: scale classes fitted on other
    numbers than the coder's (the residual quantised without the integer prediction's rounding) once made
    D = 2 cost more than D = 1 there."""
    nm = images.load("nm_jpeg2000")
    sizes = [api.compress(nm, codec=CODEC, max_error=d).nbytes for d in (1, 2, 4)]
    assert sizes[0] > sizes[1] > sizes[2], sizes


def test_near_lossless_never_costs_more_than_lossless_on_a_sparse_histogram(images):
    """8-bit ultrasound stored in 16 bits (every value a multiple of 257) uses 256 of 65,536 values: lossless codes
    their ranks, while an error bound of a few grey levels cannot use them and once cost four times the bytes.
    The encoder keeps the exact chunk, which is within any bound."""
    us = images.crop("us_8bit", slice(0, 256), slice(256, 512))
    wide = us.with_array(us.array.astype(np.uint16) * 257)
    lossless = api.compress(wide, codec=CODEC)
    bounded = api.compress(wide, codec=CODEC, max_error=2)
    assert bounded.nbytes <= lossless.nbytes + 64  # the same chunk; the file header records the other setting
    np.testing.assert_array_equal(api.decompress(bounded.data).array, wide.array)
