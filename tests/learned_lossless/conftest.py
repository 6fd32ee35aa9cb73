"""Real sample images for the ``learned-lossless`` tests, loaded once and handed out by the ``images`` fixture
(test modules cannot import a conftest)."""

import functools

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from monai_medcomp.data import load_sample
from monai_medcomp.volume import Volume

class Images:
    """Evaluation images by catalogue name, and crops of them for edge cases."""

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def load(name: str) -> Volume:
        return load_sample(name)

    @classmethod
    def crop(cls, name: str, rows: slice, cols: slice, slices: slice = slice(0, 1)) -> Volume:
        volume = cls.load(name)
        return volume.with_array(np.ascontiguousarray(volume.array[slices, rows, cols]))


def assert_same_geometry(decoded: Volume, original: Volume) -> None:
    assert decoded.array.dtype == original.array.dtype and decoded.array.shape == original.array.shape
    np.testing.assert_allclose(decoded.spacing, original.spacing)
    np.testing.assert_allclose(decoded.origin, original.origin)
    np.testing.assert_allclose(decoded.direction, original.direction)
    assert decoded.bits_stored == original.bits_stored


@pytest.fixture(scope="session")
def images():
    return Images


@pytest.fixture(scope="session")
def same_geometry():
    return assert_same_geometry


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    """The encoder's least-squares fits run on one BLAS thread: on a busy shared machine OpenBLAS threads wait
    on each other and the same fits take ten times longer.  Tests that compare thread counts raise it locally."""
    with threadpool_limits(limits=1):
        yield
