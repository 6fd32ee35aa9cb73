"""The decoder computes exactly what the encoder did: a file decodes to the same pixels with one or two engine
workers, with one or two BLAS threads and twice in a row, and encoding writes the same bytes every time."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from monai_medcomp import api

CODEC = "learned-lossy"


def two_slices_or_rgb(images, name):
    """Two MR slices are two chunks, coded in parallel by two workers; the RGB slice goes through the colour
    transform's matrix products, which BLAS may split over threads."""
    if name == "mr_emri_small":
        return images.crop(name, slice(0, 64), slice(0, 64), slice(2, 4))
    return images.region(name)


@pytest.mark.parametrize("name", ["mr_emri_small", "us_rgb"])
def test_same_pixels_with_one_or_two_workers_and_threads(name, images, tmp_path):
    volume = two_slices_or_rgb(images, name)
    path = tmp_path / f"{name}.mcz"
    api.compress(volume, path, codec=CODEC, quality=80, workers=1)
    with threadpool_limits(limits=1):
        first = api.decompress(path, workers=1).array
    with threadpool_limits(limits=2):
        second = api.decompress(path, workers=2).array
        third = api.decompress(path, workers=2).array
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, third)
    assert not np.array_equal(first, volume.array)  # lossy: the pixels compared are the codec's own


@pytest.mark.parametrize("name", ["mr_emri_small", "us_rgb"])
def test_encoding_is_deterministic(name, images):
    volume = two_slices_or_rgb(images, name)
    one = api.compress(volume, codec=CODEC, quality=60, workers=1)
    with threadpool_limits(limits=2):
        two = api.compress(volume, codec=CODEC, quality=60, workers=2)
    again = api.compress(volume, codec=CODEC, quality=60, workers=1)
    assert one.data == two.data == again.data
