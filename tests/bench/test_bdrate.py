"""BD-rate against cases with a known answer: a curve shifted in rate by a known factor."""

import math

import numpy as np
import pytest

from monai_medcomp.bench.bdrate import bd_rate, monotone_curve

RATES = np.array([0.1, 0.25, 0.5, 1.0, 2.0, 4.0])
PSNR = 32.0 + 6.0 * np.log2(RATES / 0.1) - 0.3 * np.log2(RATES / 0.1) ** 2  # concave, like a real codec


def points(rates, psnr):
    return list(zip(rates, psnr))


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_identical_curves_give_zero(method):
    assert bd_rate(points(RATES, PSNR), points(RATES, PSNR), method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("factor", [0.8, 1.25, 0.5])
def test_rate_scaled_curve_gives_that_percentage(method, factor):
    assert bd_rate(points(RATES, PSNR), points(RATES * factor, PSNR), method) == pytest.approx(
        100 * (factor - 1), abs=1e-6)


def test_partial_overlap_uses_the_shared_psnr_range():
    # The test codec only reaches the upper half of the anchor's PSNR range, at 30 % fewer bits; the
    # shorter curve's interpolant bends slightly differently near its ends.
    test = points(RATES[2:] * 0.7, PSNR[2:])
    assert bd_rate(points(RATES, PSNR), test) == pytest.approx(-30.0, abs=0.1)


def test_curves_without_common_psnr_have_no_bd_rate():
    assert bd_rate(points(RATES, PSNR), points(RATES, PSNR + 100)) is None
    assert bd_rate(points(RATES, PSNR), points(RATES[:1], PSNR[:1])) is None


def test_cubic_fit_needs_four_points():
    assert bd_rate(points(RATES[:3], PSNR[:3]), points(RATES[:3] * 0.9, PSNR[:3]), "cubic") is None
    assert bd_rate(points(RATES[:3], PSNR[:3]), points(RATES[:3] * 0.9, PSNR[:3]), "pchip") == pytest.approx(-10.0)


def test_monotone_curve_drops_lossless_and_dominated_points():
    measured = [(2.0, 40.0), (0.5, 30.0), (3.0, 39.0), (4.0, math.inf), (1.0, 35.0), (1.0, 34.0), (0.0, 20.0)]
    rates, psnr = monotone_curve(measured)
    assert rates.tolist() == [0.5, 1.0, 2.0]
    assert psnr.tolist() == [30.0, 35.0, 40.0]
