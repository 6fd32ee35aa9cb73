"""Variable rate: the quality knob, and rate control's bpp and PSNR targets reached through the API, measured on
the file a user would store; a target out of reach names the range the quality knob can reach."""

import re

import pytest

from monai_medcomp import api
from monai_medcomp.errors import RateControlError
from monai_medcomp.metrics import max_abs_error, psnr
from monai_medcomp.ratecontrol import BPP_TOLERANCE, PSNR_TOLERANCE

CODEC = "learned-lossy"
CT = (slice(128, 384), slice(128, 384))  # 256x256 of the head CT: the container's header is a small part of a file


@pytest.fixture(scope="module")
def ct(images):
    return images.crop("ct_693", *CT)


def test_quality_is_the_knob(ct):
    results = {quality: api.compress(ct, codec=CODEC, quality=quality) for quality in (0, 37.5, 100)}
    for quality, result in results.items():
        assert result.params == {"quality": quality}
        assert result.header.extra["target"] == {"kind": "quality", "value": quality, "achieved": quality,
                                                 "encodes": 1}
    assert results[0].nbytes < results[37.5].nbytes < results[100].nbytes
    with pytest.raises(RateControlError, match="quality 150 is outside codec 'learned-lossy''s quality range 0 to 100"):
        api.compress(ct, codec=CODEC, quality=150)


@pytest.mark.parametrize("name, bpp", [("ct", 1.5), ("us_rgb", 8.0)])
def test_bpp_of_the_file_within_tolerance(name, bpp, ct, images):
    volume = ct if name == "ct" else images.region(name)
    result = api.compress(volume, codec=CODEC, bpp=bpp)
    achieved = result.nbytes * 8 / result.num_pixels
    assert achieved == pytest.approx(bpp, rel=BPP_TOLERANCE)
    assert 0 < result.params["quality"] < 100
    assert api.decompress(result.data).array.shape == volume.array.shape
    target = result.header.extra["target"]
    assert target["kind"] == "bpp" and target["value"] == bpp
    # the record is settled on the final file, to a byte (as tests/ratecontrol asks of the classical codecs)
    assert target["achieved"] == pytest.approx(achieved, abs=8 / result.num_pixels + 1e-6)


@pytest.mark.parametrize("name, target", [("ct", 75.0), ("us_8bit", 45.0)])
def test_psnr_of_the_decoded_file_within_tolerance(name, target, ct, images):
    volume = ct if name == "ct" else images.region(name)
    result = api.compress(volume, codec=CODEC, psnr=target)
    achieved = psnr(volume.array, api.decompress(result.data).array, bits_stored=volume.bits_stored)
    assert achieved == pytest.approx(target, abs=PSNR_TOLERANCE)
    assert result.header.extra["target"]["achieved"] == pytest.approx(achieved)


def test_max_error_target_holds_on_every_pixel(images):
    volume = images.region("ct_693")
    result = api.compress(volume, codec=CODEC, max_error=4)
    measured = max_abs_error(volume.array, api.decompress(result.data).array)
    assert measured == result.header.extra["target"]["achieved"] <= 4


@pytest.mark.parametrize("kind, value, unit", [("bpp", 30.0, "bpp"), ("bpp", 0.01, "bpp"), ("psnr", 5.0, "dB")])
def test_target_out_of_reach_names_the_reachable_range(kind, value, unit, images):
    """The range is what the knob's two ends give (the top end of PSNR is infinite where it decodes exactly)."""
    volume = images.region("ct_693")
    with pytest.raises(RateControlError) as raised:
        api.compress(volume, codec=CODEC, **{kind: value})
    message = str(raised.value)
    match = re.fullmatch(rf"{kind} {value:g} is out of reach for codec 'learned-lossy' on this image: its quality "
                         rf"range gives ([\d.]+) to ([\d.]+|inf) {unit}", message)
    assert match, message
    ends = [api.compress(volume, codec=CODEC, params={"quality": quality}) for quality in (0.0, 100.0)]
    if kind == "bpp":
        reached = [end.nbytes * 8 / end.num_pixels for end in ends]
    else:
        reached = [psnr(volume.array, api.decompress(end.data).array, bits_stored=volume.bits_stored) for end in ends]
    # a bpp range counts the few bytes of the target record the file would carry (on this crop about 2 %)
    assert [float(g) for g in match.groups()] == pytest.approx(reached, rel=3e-2 if kind == "bpp" else 1e-3)
