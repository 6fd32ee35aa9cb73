"""Real sample images as the channel-first MetaTensors MONAI pipelines hand to transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImage

from monai_medcomp.data import get_sample, load_sample


def channel_first(volume_array: np.ndarray, spatial_dims: int) -> np.ndarray:
    """The Volume layout (slices, rows, cols[, 3]) in MONAI's (C, i, j[, k]) order, written out by hand."""
    if spatial_dims == 2:
        plane = volume_array[0]
        return plane.T[np.newaxis] if plane.ndim == 2 else plane.transpose(2, 1, 0)
    return volume_array.T[np.newaxis]


@pytest.fixture(name="channel_first")
def channel_first_fixture():
    return channel_first


@pytest.fixture(scope="session")
def ct_volume():
    return load_sample("ct_693")


@pytest.fixture(scope="session")
def mr_volume():
    return load_sample("mr_example4d")


@pytest.fixture
def ct_loaded():
    """CT 693 as MONAI's LoadImage gives it: rescaled to HU, float32, RAS affine."""
    path = str(get_sample("ct_693").path())
    return LoadImage(image_only=True, ensure_channel_first=True, reader="PydicomReader")(path)


@pytest.fixture
def mr_image(mr_volume):
    """The MR volume as a float32 (1, 128, 96, 24) MetaTensor with its RAS affine and a filename."""
    array = channel_first(mr_volume.array, 3).astype(np.float32)
    return MetaTensor(torch.from_numpy(np.ascontiguousarray(array)), affine=torch.from_numpy(mr_volume.ras_affine),
                      meta={"filename_or_obj": "example4d.nii.gz"})


@pytest.fixture
def ct_image(ct_volume):
    """The CT slice as stored int16 in a (1, 512, 512) MetaTensor."""
    array = np.ascontiguousarray(channel_first(ct_volume.array, 2))
    return MetaTensor(torch.from_numpy(array), affine=torch.from_numpy(ct_volume.ras_affine),
                      meta={"filename_or_obj": "693_UNCR.dcm"})
