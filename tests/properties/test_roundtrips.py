"""Property round trips in CI: the benchmark's strategy and checks, with few, small examples.

``python -m monai_medcomp.bench.roundtrips`` runs the same properties at 10,000 cases per codec.
"""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monai_medcomp.bench import roundtrips
from monai_medcomp.bench.roundtrips import VolumeSpec, round_trip_failure, volume_specs
from monai_medcomp.errors import CodecError, UnsupportedDataError
from monai_medcomp.volume import Volume

# (examples, largest side) per codec: the learned codecs cost 0.1 to 2 s a case, the others milliseconds.
BUDGET = {"mlp-huffman": (3, 8), "learned-lossless": (12, 16)}
DEFAULT_BUDGET = (60, roundtrips.MAX_SIDE)


def check_property(codec, max_errors):
    """Run the round trip of ``codec`` over the CI budget's examples; a documented refusal passes."""
    examples, side = BUDGET.get(codec, DEFAULT_BUDGET)

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(volume_specs(max_side=side, max_slices=2 if codec in BUDGET else roundtrips.MAX_SLICES), max_errors)
    def case(spec, max_error):
        try:
            failure = round_trip_failure(codec, spec, max_error)
        except UnsupportedDataError:
            return
        assert failure is None, f"{codec} on VolumeSpec(**{dataclasses.asdict(spec)}), max_error={max_error}: {failure}"

    case()


@pytest.mark.parametrize("codec", roundtrips.lossless_codecs())
def test_lossless_codecs_return_every_bit(codec):
    check_property(codec, st.none())


@pytest.mark.parametrize("codec", roundtrips.near_lossless_codecs())
def test_max_error_is_kept(codec):
    check_property(codec, st.sampled_from(roundtrips.MAX_ERRORS))


def test_the_properties_cover_the_codecs_they_promise():
    assert {"jpegls", "jpeg2000", "htj2k", "jpegxl", "ljpeg", "png", "bttc"} <= set(roundtrips.lossless_codecs())
    assert {"jpegls", "bttc"} <= set(roundtrips.near_lossless_codecs())
    assert "jpeg" not in roundtrips.lossless_codecs() and "jpeg2000" not in roundtrips.near_lossless_codecs()


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(volume_specs())
def test_specs_rebuild_the_same_volume_inside_its_dtype(spec):
    """A failure's spec is all it takes to rebuild its volume; values never wrap around the dtype."""
    array = spec.array()
    info = np.iinfo(spec.dtype)
    assert array.dtype == spec.dtype and array.shape == spec.shape
    assert info.min <= spec.low and spec.low + (1 << spec.bits) - 1 <= info.max
    assert spec.low <= array.min() and int(array.max()) <= spec.low + (1 << spec.bits) - 1
    assert np.array_equal(VolumeSpec(**json.loads(json.dumps(dataclasses.asdict(spec)))).array(), array)
    assert spec.volume().bits_stored <= info.bits


def test_compare_names_the_first_difference():
    original = Volume(np.array([[[-5, 0], [7, 100]]], np.int16), bits_stored=8)
    assert roundtrips.compare(original, original, 0) is None
    off = original.with_array(original.array + np.array([[[0, 0], [3, 0]]], np.int16))
    assert roundtrips.compare(original, off, 3) is None
    assert roundtrips.compare(original, off, 2) == "1 pixels off by more than 2, the worst by 3 at (0, 1, 0): 10 for 7"
    assert "bits_stored 9" in roundtrips.compare(original, original.with_array(original.array, bits_stored=9), 0)
    assert "uint8" in roundtrips.compare(original, Volume(original.array.astype(np.uint8) * 0), 0)


def test_refusals_are_counted_apart_from_failures(monkeypatch):
    spec = VolumeSpec("uint8", 1, 2, 3, 1, 4, 0, "noise", 7)
    tally = roundtrips.PropertyTally()
    monkeypatch.setattr(roundtrips.api, "compress", lambda *a, **k: (_ for _ in ()).throw(UnsupportedDataError("no")))
    tally.record("png", spec, None)
    monkeypatch.setattr(roundtrips.api, "compress", lambda *a, **k: (_ for _ in ()).throw(CodecError("broken")))
    tally.record("png", spec, 3)
    assert tally.cases == 2 and tally.refused == {"no": 1}
    assert tally.failures == [{"spec": dataclasses.asdict(spec), "max_error": 3, "failure": "CodecError: broken"}]


def test_command_writes_the_report(tmp_path):
    assert roundtrips.main(["--cases", "4", "--seed", "3", "--out", str(tmp_path), "--codecs", "png", "jpegls"]) == 0
    report = json.loads((tmp_path / "roundtrips.json").read_text())
    assert set(report["codecs"]) == {"png", "jpegls"} and set(report["codecs"]["jpegls"]) == {"lossless", "max_error"}
    assert report["cases"] == 12 and report["failures"] == 0 and report["seed"] == 3
    markdown = (tmp_path / "roundtrips.md").read_text()
    assert "--cases 4 --seed 3" in markdown and "| jpegls | max_error | 4 | 0 | 0 |" in markdown


def test_command_refuses_codecs_no_property_applies_to(tmp_path, capsys):
    with pytest.raises(SystemExit):
        roundtrips.main(["--cases", "1", "--out", str(tmp_path), "--codecs", "jpeg"])
    assert "no property applies to jpeg" in capsys.readouterr().err and not list(tmp_path.iterdir())
