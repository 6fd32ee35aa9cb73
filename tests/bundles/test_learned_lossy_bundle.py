"""The learned_lossy bundle's network is the codec's context model: on a real slice it picks the classes the codec
computes in integers, and returns their token tables, from the bundle's own weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from monai_medcomp.codecs import get_codec
from monai_medcomp.codecs.learned_lossy import QuantisedPlane, band_context, band_order, step_for
from monai_medcomp.codecs.wavelet_context import CLASS_THRESHOLDS, activity_classes, band_passes, level_group
from monai_medcomp.data import load_sample
from monai_medcomp.networks import WaveletContextModel

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "learned_lossy"


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    """The bundle's network with ``models/model.pt`` loaded strictly (test_bundles builds it from its config)."""
    net = WaveletContextModel()
    net.load_state_dict(torch.load(BUNDLE / "models" / "model.pt", weights_only=True), strict=True)
    return net.eval()


def test_network_gives_the_codecs_classes_and_tables_on_a_real_slice(network):
    """Every phase of every detail band of a 12-bit MR slice at the default quality, as the encoder sees them."""
    model, _ = get_codec("learned-lossy").context_model()
    plane = QuantisedPlane.of(load_sample("mr_emri_small").array[4].astype(np.float64), step_for(75.0, 12))
    seen, groups = set(), set()
    for index, band in band_order(plane.levels):
        values = plane.details[index][band]
        context = band_context(plane.details, index, band, values.shape)
        for phase, mask in band_passes(values.shape):
            group = (level_group(plane.levels - index), band, phase)
            features = context.features(np.abs(values), phase, mask)
            weights = model.weights[group]
            inputs = torch.from_numpy(features.T.astype(np.float32))
            for offset in (0, -5, 7):  # offsets the encoder may store, clipped at both ends of the classes
                expected = activity_classes(features, weights, offset)
                np.testing.assert_array_equal(network.classes(inputs, group, offset).numpy(), expected)
            expected = activity_classes(features, weights)
            with torch.no_grad():
                probabilities = network(inputs.double(), group)
            np.testing.assert_allclose(probabilities.numpy(), model.tables[expected], rtol=1e-12)
            seen.update(expected.tolist())
            groups.add(group)
    assert len(groups) == 27  # three levels: every level group, band and phase
    assert len(seen) > 10  # the classes really vary over the slice


def test_state_is_exactly_the_bundle_weights(network):
    assert list(network.state_dict()) == ["weights", "tables"]
    assert network.weights.dtype == torch.int64 and network.tables.dtype == torch.float64
    np.testing.assert_array_equal(network.thresholds.numpy(), CLASS_THRESHOLDS)


def test_network_uses_its_constructor_group_and_the_features_dtype(network):
    features = torch.randint(0, 50, (6, 5)).float()
    chosen = WaveletContextModel(group=(1, 2, 0))
    chosen.load_state_dict(network.state_dict())
    with torch.no_grad():
        output = chosen(features)
        assert torch.equal(output, network(features, (1, 2, 0)))
    assert output.dtype == torch.float32 and torch.allclose(output.sum(dim=1), torch.ones(6))


@pytest.mark.parametrize("call, message", [
    (lambda net: net(torch.zeros(2, 4)), r"expected \(batch, 5\) features"),
    (lambda net: net(torch.zeros(2, 5), (3, 0, 0)), "group is"),
    (lambda net: WaveletContextModel(spatial_dims=3), "spatial_dims must be 2"),
])
def test_network_refuses_what_the_codec_never_computes(network, call, message):
    with pytest.raises(ValueError, match=message):
        call(network)
