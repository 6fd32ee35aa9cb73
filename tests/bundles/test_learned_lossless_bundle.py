"""The learned_lossless bundle's network is the codec's scale regression: on a real volume it gives the levels the
codec computes in integers, from the bundle's own weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from monai_medcomp.bundle_configs import BUNDLES, SCALE_FEATURES, eval_metrics, main
from monai_medcomp.codecs import get_codec
from monai_medcomp.codecs.context_model import SCALE_FEATURES_2D, SCALE_FEATURES_3D, SlabPlanes, ilog
from monai_medcomp.codecs.learned_lossless import analyse, fit_predictor, plane_kinds
from monai_medcomp.data import load_sample
from monai_medcomp.errors import MedCompError
from monai_medcomp.networks import LaplaceScaleRegression

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "learned_lossless"


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    """The bundle's network with ``models/model.pt`` loaded strictly (test_bundles builds it from its config)."""
    net = LaplaceScaleRegression(spatial_dims=3, in_channels=SCALE_FEATURES_2D, later_channels=SCALE_FEATURES_3D)
    net.load_state_dict(torch.load(BUNDLE / "models" / "model.pt", weights_only=True), strict=True)
    return net.eval()


def test_network_gives_the_codecs_integer_levels_on_a_real_volume(network):
    """First and later slices of an 8-slice slab of the 12-bit MR volume, every pixel: floor(forward) == level."""
    array = load_sample("mr_emri_small").array[:8].astype(np.int64)
    array -= array.min()
    planes = SlabPlanes(*array.shape, bits=int(array.max()).bit_length())
    planes.fill(array)
    analyse(planes, fit_predictor(planes, np.random.default_rng(0)))  # the residuals the features read
    weights, _ = get_codec("learned-lossless").scale_weights()
    kinds = plane_kinds(planes)
    assert [has_previous for _, has_previous in kinds] == [False, True]
    for positions, has_previous in kinds:
        features = planes.scale_features(positions, planes.value_context(positions, has_previous))
        expected = weights.level(features, has_previous)
        with torch.no_grad():
            levels = network(torch.as_tensor(ilog(features), dtype=torch.float32))
        assert levels.shape == (len(positions), 1)
        np.testing.assert_array_equal(torch.floor(levels[:, 0]).long().numpy(), expected)
        assert len(np.unique(expected)) > 10  # the levels really vary over the image


def test_network_refuses_a_batch_with_another_number_of_features(network):
    with pytest.raises(ValueError, match="13 or 16 features"):
        network(torch.zeros(2, 14))


def test_metadata_names_every_feature_of_the_codec():
    assert len(SCALE_FEATURES) == SCALE_FEATURES_3D


def test_generator_needs_the_measured_benchmark(tmp_path, capsys):
    """No figures are made up: without its benchmark file a bundle's metadata cannot be written, nor any file."""
    (bundle,) = [b for b in BUNDLES if b.folder == "learned_lossless"]
    with pytest.raises(MedCompError, match="learned_lossless.json, which does not exist"):
        eval_metrics(bundle, tmp_path / "benchmarks")
    assert main(["--root", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_network_scripts_for_monai_ckpt_export(network):
    """``ckpt_export`` saves a TorchScript module: the scripted network must compute the same levels."""
    features = torch.randint(0, 137, (32, SCALE_FEATURES_3D)).float()
    with torch.no_grad():
        assert torch.equal(torch.jit.script(network)(features), network(features))
