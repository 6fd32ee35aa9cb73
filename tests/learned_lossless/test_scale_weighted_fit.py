"""The encoder refits the predictor with every first-plane pixel's error counted in units of its predicted
Laplace scale: noisy pixels must not pick the coefficients that quiet ones are coded with."""

import numpy as np

from monai_medcomp.codecs.context_model import COEFFICIENT_BITS, SlabPlanes, fit_linear
from monai_medcomp.codecs.learned_lossless import scale_confidence


def test_weighted_fit_follows_the_confident_pixels():
    """Quiet pixels follow one predictor, ten times as many noisy ones another: with weights 1 / scale the
    fit is the quiet pixels' predictor, unweighted it is pulled towards the noisy ones'."""
    rng = np.random.default_rng(5)
    quiet, noisy = 2000, 20000
    features = rng.normal(0, 50, (quiet + noisy, 3))
    quiet_weights, noisy_weights = np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.2, 0.7])
    target = np.concatenate([features[:quiet] @ quiet_weights + rng.laplace(0, 1, quiet),
                             features[quiet:] @ noisy_weights + rng.laplace(0, 100, noisy)])
    scale = np.concatenate([np.full(quiet, 1.0), np.full(noisy, 100.0)])
    weighted = fit_linear(features, target, rng, 1 / scale)[:-1] / (1 << COEFFICIENT_BITS)
    plain = fit_linear(features, target, rng)[:-1] / (1 << COEFFICIENT_BITS)
    assert np.abs(weighted - quiet_weights).max() < 0.02
    assert np.abs(plain - quiet_weights).max() > 0.2


def test_confidence_is_one_over_the_scale_on_the_first_plane_only():
    planes = SlabPlanes(2, 4, 5, 12)
    positions = np.concatenate([planes.all_positions(0), planes.all_positions(1)])
    levels = np.tile(np.array([-16, 0, 8, 24, 40]), 8)  # 1/8 octave: scales 1/4, 1, 2, 8, 32
    confidence = scale_confidence(planes, positions, levels)
    first = confidence[planes.all_positions(0)]
    np.testing.assert_allclose(first, 1 / np.tile([1, 1, 2, 8, 32], 4))  # scales below one count as one
    np.testing.assert_array_equal(confidence[planes.all_positions(1)], 1.0)
    outside = np.setdiff1d(np.arange(len(confidence)), positions)
    np.testing.assert_array_equal(confidence[outside], 1.0)
