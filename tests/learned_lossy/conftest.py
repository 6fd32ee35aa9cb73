"""Shared images for the lossy learned codec tests: real samples, cropped to keep the suite fast."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from monai_medcomp.data import load_sample
from monai_medcomp.volume import Volume


def crop(volume: Volume, rows: int, cols: int) -> Volume:
    return dataclasses.replace(volume, array=volume.array[:1, :rows, :cols].copy())


@pytest.fixture(scope="session")
def ct_crop() -> Volume:
    """Signed 16-bit head CT (real HU values), a 160x200 window through the head: edge blocks are padded."""
    volume = load_sample("ct_693")
    return dataclasses.replace(volume, array=volume.array[:, 180:340, 150:350].copy())


@pytest.fixture(scope="session")
def us_crop() -> Volume:
    """8-bit grey ultrasound."""
    return crop(load_sample("us_8bit"), 128, 128)


@pytest.fixture(scope="session")
def rgb_crop() -> Volume:
    """RGB ultrasound."""
    volume = load_sample("us_rgb")
    return dataclasses.replace(volume, array=volume.array[:, 100:196, 150:278].copy())


@pytest.fixture(autouse=True)
def one_thread():
    """Tests run on one torch thread unless they say otherwise (the machine is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
