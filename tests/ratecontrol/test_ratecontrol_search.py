"""Target parsing and the search itself, on a real CT slice with small codecs whose behaviour is known.

The quantiser codecs below are real lossy codecs (uniform scalar quantiser + zlib): their rate and
error move with the step exactly as a codec's knob should, so each search path can be checked
against a direct encode.
"""

import math
import zlib

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp.codecs import Codec, Knob
from monai_medcomp.engine import encode_volume
from monai_medcomp.errors import MedCompError, RateControlError
from monai_medcomp.metrics import max_abs_error, psnr
from monai_medcomp.ratecontrol import MAX_TRIALS, Target, choose_params, container_bpp, decode_in_memory
from monai_medcomp.volume import Volume


class Quantiser(Codec):
    """Floor(x / step), zlib; decodes to the middle of each step.  Step 1 is exact."""

    name = "quantiser-test"
    lossy = True
    knob = Knob("step", 1.0, 400.0, higher_is_better=False, integer=False)

    def default_params(self):
        return {"step": self.knob.low}

    def encode(self, slab, fmt, params):
        return zlib.compress(np.floor(slab / params["step"]).astype(np.int32).tobytes(), 6)

    def decode(self, data, shape, fmt, params):
        index = np.frombuffer(zlib.decompress(data), np.int32).reshape(shape)
        return np.clip(np.floor((index + 0.5) * params["step"]), 0, fmt.max_value).astype(fmt.dtype)


class IntegerQuantiser(Quantiser):
    name = "integer-quantiser-test"
    knob = Knob("step", 1, 6, higher_is_better=False, integer=True)


class CoarseQuantiser(Quantiser):
    """Never finer than a step of 8: it cannot keep the error below 4."""

    name = "coarse-quantiser-test"
    knob = Knob("step", 8.0, 400.0, higher_is_better=False, integer=False)


class Zlib(Codec):
    """Lossless only, no knob."""

    name = "zlib-test"
    lossless = True

    def encode(self, slab, fmt, params):
        return zlib.compress(slab.tobytes(), 6)

    def decode(self, data, shape, fmt, params):
        return np.frombuffer(zlib.decompress(data), fmt.dtype).reshape(shape)


@pytest.fixture(scope="module")
def ct():
    dataset = pydicom.dcmread(get_testdata_file("693_UNCR.dcm"))
    return Volume(dataset.pixel_array, bits_stored=int(dataset.BitsStored))


def decoded(codec, encoded):
    return decode_in_memory(encoded, codec, {"workers": 1})


def target_record(encoded):
    return encoded.header.extra["target"]


def test_at_most_one_target():
    assert Target.from_options() is None
    assert Target.from_options(bpp=1.5) == Target("bpp", 1.5)
    assert Target.from_options(quality=0) == Target("quality", 0)
    with pytest.raises(MedCompError, match="at most one target.*bpp.*psnr"):
        Target.from_options(bpp=1.0, psnr=40)


@pytest.mark.parametrize("kind, value", [("bpp", -1), ("psnr", 0), ("max_error", 1.5), ("max_error", -1),
                                         ("bpp", math.nan), ("quality", "high"), ("ratio", 3)])
def test_bad_targets_are_refused(kind, value):
    with pytest.raises(MedCompError, match=kind):
        Target(kind, value)


def test_quality_sets_the_knob(ct):
    codec = Quantiser()
    encoded = choose_params(codec, ct, Target("quality", 16))
    assert encoded.header.params["step"] == 16.0
    assert target_record(encoded)["achieved"] == 16.0
    with pytest.raises(RateControlError, match="outside.*step range 1 to 400"):
        choose_params(codec, ct, Target("quality", 1000))


@pytest.mark.parametrize("kind, value", [("quality", 50), ("bpp", 2.0), ("psnr", 50)])
def test_a_codec_without_a_knob_refuses_lossy_targets(ct, kind, value):
    with pytest.raises(RateControlError, match="zlib-test.*no quality setting"):
        choose_params(Zlib(), ct, Target(kind, value))


def test_a_lossless_codec_meets_any_max_error_with_its_default(ct):
    encoded = choose_params(Zlib(), ct, Target("max_error", 3))
    assert encoded.header.lossless and target_record(encoded)["achieved"] == 0
    assert np.array_equal(decoded(Zlib(), encoded), ct.array)


@pytest.mark.parametrize("codec", [Quantiser(), IntegerQuantiser()])
@pytest.mark.parametrize("bound", [0, 3, 40])
def test_max_error_by_bisection_holds_exactly(ct, codec, bound):
    encoded = choose_params(codec, ct, Target("max_error", bound))
    measured = max_abs_error(ct.array, decoded(codec, encoded))
    assert measured <= bound
    assert target_record(encoded)["achieved"] == measured
    assert target_record(encoded)["encodes"] <= MAX_TRIALS


def test_max_error_search_finds_a_cheap_setting(ct):
    codec = Quantiser()
    step = choose_params(codec, ct, Target("max_error", 40)).header.params["step"]
    coarser = encode_volume(ct, codec, codec.with_knob(step * 1.1))
    assert step > 40  # a step of 2E+1 keeps |error| <= E; the search must not settle far below it
    assert max_abs_error(ct.array, decoded(codec, coarser)) > 40


def test_max_error_out_of_reach_is_refused(ct):
    with pytest.raises(RateControlError, match="coarse-quantiser-test.*cannot guarantee max error 2"):
        choose_params(CoarseQuantiser(), ct, Target("max_error", 2))


@pytest.mark.parametrize("bpp", [0.8, 2.0, 4.5])
def test_bpp_within_five_percent(ct, bpp):
    encoded = choose_params(Quantiser(), ct, Target("bpp", bpp))
    achieved = len(encoded.to_bytes()) * 8 / ct.array.size
    assert achieved == pytest.approx(bpp, rel=0.05)
    assert target_record(encoded)["achieved"] == pytest.approx(achieved, abs=8 / ct.array.size + 1e-6)  # a byte


@pytest.mark.parametrize("target", [45.0, 60.0])
def test_psnr_within_a_fifth_of_a_decibel(ct, target):
    codec = Quantiser()
    encoded = choose_params(codec, ct, Target("psnr", target))
    measured = psnr(ct.array, decoded(codec, encoded), bits_stored=ct.bits_stored)
    assert measured == pytest.approx(target, abs=0.2)
    assert target_record(encoded)["achieved"] == pytest.approx(measured)


def test_integer_steps_too_coarse_for_the_tolerance_give_the_closest_rate_below(ct):
    codec = IntegerQuantiser()
    rates = {step: container_bpp(encode_volume(ct, codec, codec.with_knob(step))) for step in (2, 3)}
    target = math.sqrt(rates[2] * rates[3])  # between two steps, more than 5% from both
    assert rates[2] > target * 1.05 and rates[3] < target * 0.95
    with pytest.warns(UserWarning, match="cannot reach bpp"):
        encoded = choose_params(codec, ct, Target("bpp", target))
    assert encoded.header.params["step"] == 3
    assert "closest" in target_record(encoded)["note"]


@pytest.mark.parametrize("codec, kind, value, unit", [(Quantiser(), "bpp", 0.01, "bpp"), (Quantiser(), "bpp", 40, "bpp"),
                                                     (CoarseQuantiser(), "psnr", 100, "dB")])
def test_targets_out_of_reach_name_the_reachable_range(ct, codec, kind, value, unit):
    with pytest.raises(RateControlError, match=rf"out of reach for codec '{codec.name}'.* to .* {unit}"):
        choose_params(codec, ct, Target(kind, value))


def test_a_psnr_above_every_lossy_setting_is_met_by_an_exact_setting(ct):
    codec = Quantiser()
    with pytest.warns(UserWarning, match="cannot reach psnr 200"):
        encoded = choose_params(codec, ct, Target("psnr", 200))
    assert np.array_equal(decoded(codec, encoded), ct.array)
    assert target_record(encoded)["achieved"] == math.inf
