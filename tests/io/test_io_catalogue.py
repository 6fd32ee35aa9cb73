"""The sample-image catalogue: every image loads offline as declared, and training never sees evaluation data."""

import socket

import numpy as np
import pytest
from skimage.transform import resize

from monai_medcomp.data import (CATALOGUE, evaluation_images, get_sample, load_sample, select,
                                training_images)
from monai_medcomp.errors import MedCompError
from monai_medcomp.io import read_volume

EVALUATION = ["ct_693", "ct_explicit_vr_un", "mr2", "mr_siemens_overlays", "cr_rg1", "cr_rg3", "nm_jpeg2000",
              "us_8bit", "us_rgb", "mr_emri_small", "mr_example4d"]


def no_network(*args, **kwargs):
    raise AssertionError("a sample image tried to use the network")


@pytest.fixture(scope="module")
def loaded():
    """Every catalogued image, loaded with the network cut off."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", no_network)
        patch.setattr(socket, "create_connection", no_network)
        patch.setenv("HF_HUB_OFFLINE", "1")
        return {sample.name: sample.load() for sample in CATALOGUE}


def thumbnail(volume):
    """The middle slice in grey, 64x64, normalised: resized or re-encoded copies of an image correlate ~1."""
    plane = volume.array[volume.num_slices // 2].astype(float)
    if plane.ndim == 3:
        plane = plane.mean(axis=-1)
    small = resize(plane, (64, 64), anti_aliasing=True)
    return (small - small.mean()) / (small.std() or 1.0)


def similarity(a, b):
    return float(np.mean(a * b))


@pytest.fixture(scope="module")
def thumbnails(loaded):
    return {name: thumbnail(volume) for name, volume in loaded.items()}


def test_every_image_loads_offline_as_declared(loaded):
    for sample in CATALOGUE:
        volume = loaded[sample.name]
        assert volume.metadata["sample"] == sample.name
        assert (volume.channels == 3) == (sample.color == "rgb"), sample.name
        assert (volume.num_slices > 1) == (sample.shape == "volume"), sample.name
        assert volume.array.max() > volume.array.min(), f"{sample.name} is blank"


def test_evaluation_set_is_the_design_set():
    assert [s.name for s in evaluation_images()] == EVALUATION
    assert len({s.name for s in CATALOGUE}) == len(CATALOGUE)
    assert {s.source for s in training_images()} == {"pydicom-data", "pydicom", "nibabel", "nilearn", "scikit-image"}


def test_filters(loaded):
    assert [s.name for s in evaluation_images(color="rgb")] == ["us_rgb"]
    assert [s.name for s in evaluation_images(shape="volume")] == ["mr_emri_small", "mr_example4d"]
    assert all(loaded[s.name].channels == 3 for s in training_images(color="rgb"))
    assert len(select()) == len(CATALOGUE)
    with pytest.raises(MedCompError, match="unknown color"):
        select(color="colour")


def test_example4d_is_its_first_volume(nibabel_file):
    assert np.array_equal(load_sample("mr_example4d").array,
                          read_volume(nibabel_file("example4d.nii.gz"), volume_index=0).array)


def test_unknown_name():
    with pytest.raises(MedCompError, match="unknown sample image 'ct_999'"):
        get_sample("ct_999")


def test_no_training_image_is_a_copy_of_an_evaluation_image(thumbnails, dicom_file):
    # The check itself must see a known copy: pydicom's examples_rgb_color is US1_UNCR at half size.
    halved = thumbnail(read_volume(dicom_file("examples_rgb_color.dcm")))
    assert similarity(halved, thumbnails["us_rgb"]) > 0.95
    for train in training_images():
        for test in evaluation_images():
            assert similarity(thumbnails[train.name], thumbnails[test.name]) < 0.95, (train.name, test.name)


def test_no_training_image_comes_from_an_evaluation_study(loaded):
    def study(name):
        dicom = loaded[name].metadata.get("dicom")
        return dicom["files"][0]["dataset"].get("0020000D", {}).get("Value", [None])[0] if dicom else None

    evaluation_studies = {study(s.name) for s in evaluation_images()} - {None}
    assert len(evaluation_studies) >= 9
    assert not {study(s.name) for s in training_images()} & evaluation_studies
