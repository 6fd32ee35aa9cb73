"""Damaged and crafted .mcz files of every codec family end in a MedCompError or the right pixels.

The campaign here is the first seeds of ``python -m monai_medcomp.bench.robustness`` (same cases, same
replay commands); the other tests check that the harness itself can tell each bad outcome.
"""

import dataclasses

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.bench import fuzzing, robustness
from monai_medcomp.errors import CodecError, ContainerError

SEEDS_PER_CODEC_AND_KIND = 8


def test_fuzz_campaign_has_no_bad_outcomes():
    specs = robustness.campaign_specs(fuzzing.FAMILIES, fuzzing.KINDS, SEEDS_PER_CODEC_AND_KIND, seed=0)
    records = robustness.run_cases(specs, workers=2)
    assert len(records) == len(specs) == 520
    bad = [f"{r['outcome']} {r['codec']} {r['kind']} {r['seed']}: {r['message']} "
           f"({robustness.Spec(r['codec'], r['kind'], r['seed']).replay})" for r in records if robustness.is_bad(r)]
    assert not bad, "\n".join(bad)
    assert {r["outcome"] for r in records} >= {"refused", "exact"}


def test_crafted_htj2k_codestream_that_crashed_openjph_is_refused():
    """The campaign's one crash (a lossless chunk altered, its CRC recomputed): OpenJPH's decoder died with
    a segmentation fault; the codestream is now decoded by OpenJPEG, which refuses it."""
    (record,) = robustness.run_cases([robustness.Spec("htj2k", "chunk", 456)], workers=1)
    assert record["outcome"] == "refused", record["message"]


def test_parts_pack_back_to_the_same_file_and_version_1_still_decodes():
    source = fuzzing.sources("jpegls")[0]
    parts = fuzzing.Parts.of(source.data)
    assert parts.pack() == source.data
    assert len(parts.chunks) == 3 and len(parts.digests) == 3
    version_1 = dataclasses.replace(parts, version=1).pack()
    assert fuzzing.Parts.of(version_1).digests is None
    assert fuzzing.layout(version_1).entry_size == 8
    assert np.array_equal(api.decompress(version_1, workers=1).array, source.expected)


@pytest.mark.parametrize("kind", fuzzing.KINDS)
def test_cases_are_rebuilt_exactly_from_their_seed(kind, tmp_path):
    cases = [fuzzing.make_case("png", kind, seed, tmp_path) for seed in range(6)]
    again = [fuzzing.make_case("png", kind, seed, tmp_path) for seed in range(6)]
    assert [(c.data, c.note) for c in cases] == [(c.data, c.note) for c in again]
    assert len({c.data for c in cases}) > 1
    assert all(c.data != c.source.data for c in cases if c.detectable)


def test_changed_pixels_are_wrong_only_where_the_format_can_tell():
    case = fuzzing.make_case("png", "chunk", 0, None)
    changed = case.source.expected.copy()
    changed.flat[0] ^= 1
    assert robustness._pixels(case, case.source.expected)[0] == "exact"
    assert robustness._pixels(dataclasses.replace(case, detectable=True), changed)[0] == "wrong-pixels"
    assert robustness._pixels(dataclasses.replace(case, detectable=False), changed)[0] == "rewritten"
    assert robustness._pixels(case, case.source.expected.astype(np.int32))[0] != "exact"


def test_failures_are_classified_by_what_was_raised():
    try:
        try:
            raise MemoryError()
        except MemoryError as error:
            raise CodecError("codec failed to decode") from error
    except CodecError as wrapped:
        assert robustness._failure(wrapped)[0] == "memory"
    assert robustness._failure(ContainerError("damaged header"))[0] == "refused"
    assert robustness._failure(TypeError("x"))[0] == "traceback"


def test_files_outside_the_output_and_a_changed_input_are_escapes(tmp_path):
    source = tmp_path / "input.mcz"
    source.write_bytes(b"data")
    target = tmp_path / "a" / "b" / "out" / "series"
    target.mkdir(parents=True)
    (target / "slice_0001.dcm").write_bytes(b"")
    assert robustness._escapes(tmp_path, source, b"data", target) == []
    (target / "sub").mkdir()
    (tmp_path / "a" / "x.dcm").write_bytes(b"")
    source.write_bytes(b"other")
    assert robustness._escapes(tmp_path, source, b"data", target) == [
        "a/b/out/series/sub", "a/x.dcm", "the input file changed"]


def test_a_case_over_its_time_limit_is_a_hang_and_the_next_case_still_runs():
    specs = [robustness.Spec("png", "header", 0), robustness.Spec("png", "header", 1)]
    records = robustness.run_cases(specs, workers=1, timeout=0.0)
    assert [r["outcome"] for r in records][0] == "hang"
    assert len(records) == 2
