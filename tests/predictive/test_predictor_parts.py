"""The parts of the predictive engine: network shapes, exact integer inference, the wavefront order."""

import numpy as np
import pytest
import torch

from monai_medcomp.codecs import get_codec
from monai_medcomp.codecs.causal import CausalContext, CodingPlanes, wavefronts
from monai_medcomp.codecs.integer_mlp import FRACTION_BITS, IntegerMLP
from monai_medcomp.codecs.mlp_predictor import MLPHuffmanOptions, build_model, quantise
from monai_medcomp.data import load_sample
from monai_medcomp.networks import CausalPredictorMLP
from monai_medcomp.weights import load_weights


def test_network_forward_shape():
    net = CausalPredictorMLP(in_channels=60, out_channels=3, hidden_channels=(32, 16))
    assert net(torch.zeros(5, 3, 64)).shape == (5, 3)
    assert net(torch.zeros(5, 1, 60)).shape == (5, 1)  # grey images use the first network
    assert [layer.in_features for layer in net.linear_layers(2)] == [64, 32, 16]
    assert net(torch.zeros(2, 3, 64)).abs().max() < 1e-6  # a flat neighbourhood keeps the reference


def test_context_of_60_is_the_half_disc_and_causal():
    context = CausalContext(60)
    dy, dx = context.offsets.T
    assert len(set(zip(dy, dx))) == 60 and ((dy < 0) | ((dy == 0) & (dx < 0))).all()
    assert (dy ** 2 + dx ** 2).max() == 37 and context.pad == (6, 6, 6) and context.slope == 7


def test_a_slope_limit_swaps_the_steep_neighbours_for_the_next_nearest():
    """learned-lossless's large-plane context: the 24 nearest but (-1, 3), which would need slope 4, and (-1, -4)."""
    nearest, limited = (set(map(tuple, CausalContext(24, limit).offsets.tolist())) for limit in (None, 3))
    assert CausalContext(24).slope == 4 and CausalContext(24, 3).slope == 3
    assert nearest - limited == {(-1, 3)} and limited - nearest == {(-1, -4)}
    np.testing.assert_array_equal(CausalContext(12, 3).offsets, CausalContext(12).offsets)  # already within slope 3


@pytest.mark.parametrize("context", [CausalContext(60), CausalContext(24, 3)], ids=["60", "24 slope 3"])
def test_every_neighbour_is_coded_on_an_earlier_wavefront(context):
    rows, cols = 17, 23
    step = np.empty(rows * cols, dtype=int)
    for t, raster in enumerate(wavefronts(context, rows, cols)):
        step[raster] = t
    step = step.reshape(rows, cols)
    for dy, dx in context.offsets:
        r, c = np.mgrid[max(0, -dy):rows, max(0, -dx):min(cols, cols - dx)]
        assert (step[r + dy, c + dx] < step[r, c]).all()


def _integer_reference(net: IntegerMLP, features: np.ndarray, shift: int) -> np.ndarray:
    """The same arithmetic in Python integers (arbitrary precision): what float64 must reproduce exactly."""
    weights = [w.astype(np.int64).astype(object) for w in net.weights]
    biases = [b.astype(np.int64).astype(object) for b in net.biases]

    def output_sum(x, shift):
        x = np.clip((x.dot(weights[0]) + biases[0] * (1 << shift)) // (1 << shift), 0, 1 << 30)
        for w, b in zip(weights[1:-1], biases[1:]):
            x = np.clip((x.dot(w) + b * (1 << FRACTION_BITS)) // (1 << FRACTION_BITS), 0, 1 << 30)
        return x.dot(weights[-1])[:, 0]

    acc = output_sum(features.astype(object), shift) - output_sum(np.zeros((1, features.shape[1]), dtype=object), 0)
    scale = 2 * FRACTION_BITS - shift  # round half up of acc / 2**scale
    return np.array([(a * 2 + (1 << scale)) // (1 << (scale + 1)) if scale >= 0 else a << -scale for a in acc])


@pytest.mark.parametrize("shift", [0, 3, 16])
def test_float64_inference_is_exact_integer_arithmetic(shift):
    state, _ = load_weights("mlp_huffman")
    predictor = quantise(build_model(MLPHuffmanOptions(), 1, state), [shift])
    rng = np.random.default_rng(shift)
    features = rng.integers(-(1 << 16) + 1, 1 << 16, (500, 60)) >> rng.integers(0, 16, (500, 1))
    ours = predictor.nets[0].predict(features, shift)
    np.testing.assert_array_equal(ours.astype(np.int64), _integer_reference(predictor.nets[0], features, shift))


def test_quantised_network_follows_the_float_network():
    state, _ = load_weights("mlp_huffman")
    model = build_model(MLPHuffmanOptions(), 1, state)
    image = load_sample("ct_693").array[0, 200:264, 200:264].astype(np.int64) + 2000
    planes = CodingPlanes(CausalContext(60), 64, 64, 1, 13)
    planes.fill(image[..., None])
    features, _ = planes.features(planes.positions(np.arange(64 * 64)), 0)
    features = np.clip(features, -64, 64)  # the clipped range at shift 4
    with torch.no_grad():
        expected = model.nets[0](torch.from_numpy(features / 16.0).float())[:, 0].numpy() * 16
    got = quantise(model, [4]).nets[0].predict(features, 4)
    assert np.abs(got - expected).max() <= 2.0


def test_weights_are_recorded_in_the_header():
    codec = get_codec("mlp-huffman")
    _, sha = load_weights("mlp_huffman")
    assert codec.weights_info() == {"name": "mlp_huffman", "sha256": sha}
