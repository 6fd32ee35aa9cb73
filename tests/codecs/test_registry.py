"""The registry and the uniform shape every classical codec and baseline shares."""

import json

import pytest

from monai_medcomp.codecs import Codec, codec_names, get_codec
from monai_medcomp.errors import CodecError, MedCompError, UnknownCodecError

NAMES = ["jpegls", "jpeg2000", "htj2k", "jpegxl", "jpeg", "ljpeg", "png", "bttc", "kmeans"]


def is_json(value):
    return json.loads(json.dumps(value)) == value


def test_every_codec_is_registered_under_its_name():
    assert set(NAMES) <= set(codec_names())
    for name in NAMES:
        codec = get_codec(name)
        assert isinstance(codec, Codec) and codec.name == name and codec.available


def test_unknown_codec_names_the_known_ones():
    with pytest.raises(UnknownCodecError) as raised:
        get_codec("nope")
    message = str(raised.value)
    assert isinstance(raised.value, MedCompError) and "'nope'" in message
    assert all(name in message for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_uniform_shape(name):
    codec = get_codec(name)
    params = codec.default_params()
    assert is_json(params)
    assert codec.is_lossless(params) == codec.lossless, "the default is lossless exactly where the codec can be"
    assert codec.version and codec.version != "1"
    assert codec.slab_size == 1 and codec.max_bits == 16 and codec.channels == (1, 3)
    # A quality knob exactly where there is a quality to choose.
    assert (codec.knob is not None) == (codec.lossy or codec.near_lossless)
    if codec.knob is not None:
        assert is_json(codec.with_knob(codec.knob.high)) and codec.knob.name in codec.with_knob(codec.knob.low)


@pytest.mark.parametrize("name", ["jpegls", "bttc"])
def test_near_lossless_codecs_promise_their_bound(name):
    codec = get_codec(name)
    assert codec.near_lossless and codec.knob.higher_is_better is False
    for bound in (0, 1, 4):
        params = codec.with_max_error(bound)
        assert codec.guaranteed_max_error(params) == bound
        assert codec.is_lossless(params) == (bound == 0)
    with pytest.raises(CodecError):
        codec.with_max_error(-1)


@pytest.mark.parametrize("name", ["jpeg2000", "htj2k", "jpegxl", "jpeg", "ljpeg", "png", "kmeans"])
def test_other_codecs_promise_no_bound(name):
    codec = get_codec(name)
    with pytest.raises(CodecError):
        codec.with_max_error(2)
    if codec.lossy:
        knob = codec.knob
        worst = codec.with_knob(knob.low if knob.higher_is_better else knob.high)
        assert not codec.is_lossless(worst) and codec.guaranteed_max_error(worst) is None
