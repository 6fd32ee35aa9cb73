"""The learned-lossless benchmark on crops of real images: figures that agree with the API, the error bound
checked, the issue's goals judged from the measured ratios, and both report files."""

import json

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.bench import learned_lossless as bench
from monai_medcomp.data import get_sample
from monai_medcomp.errors import OutputExistsError

CROPS = {"ct_693": (slice(0, 1), slice(200, 264), slice(180, 260)),
         "us_rgb": (slice(0, 1), slice(200, 248), slice(250, 314)),
         "mr_emri_small": (slice(0, 4), slice(16, 48), slice(16, 48))}
THIN = ("mni152_t1", (slice(90, 96), slice(100, 132), slice(80, 112)))  # the thin-slice volume, from the training pool


@pytest.fixture(scope="module")
def crops(images):
    return {name: images.load(name).with_array(np.ascontiguousarray(images.load(name).array[region]))
            for name, region in {**CROPS, THIN[0]: THIN[1]}.items()}


@pytest.fixture(scope="module")
def report(crops, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("bench")
    monkeypatch_module.setattr(bench, "evaluation_images", lambda: [get_sample(name) for name in CROPS])
    monkeypatch_module.setattr(bench, "load_sample", lambda name: crops[name])
    monkeypatch_module.setattr(bench, "SPEED_IMAGES", ("ct_693",))
    monkeypatch_module.setattr(bench, "LOSSLESS_SETTINGS", bench.LOSSLESS_SETTINGS[:3])  # the slow mlp-huffman out
    assert bench.main(["--out", str(out), "--repeats", "1"]) == 0
    return out, json.loads((out / "learned_lossless.json").read_text()), (out / "learned_lossless.md").read_text()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_lossless_figures_are_the_apis_and_exact(report, crops):
    _, results, _ = report
    lossless = results["lossless"]
    assert set(lossless["images"]) == {"ct_693", "mr_emri_small"} and set(results["rgb"]["images"]) == {"us_rgb"}
    ct = lossless["images"]["ct_693"]
    assert ct["bpp"]["learned-lossless"] == api.compress(crops["ct_693"], codec="learned-lossless").bpp
    assert ct["ratio"] == pytest.approx(ct["bpp"]["learned-lossless"] / ct["bpp"]["jpegxl effort=9"])
    mean = lossless["mean"]
    assert mean["ratio"] == pytest.approx(mean["bpp"]["learned-lossless"] / mean["bpp"]["jpegxl effort=9"])
    assert all(row["exact"] for row in results["lossless_rows"] + results["rgb_rows"])
    assert set(lossless["modalities"]) == {"CT", "MR"}


def test_volumes_near_lossless_speed_and_goals(report):
    _, results, _ = report
    volume = results["volumes"]["volumes"]["mr_emri_small"]
    assert volume["inter_slice_gain"] == pytest.approx(volume["slab"] / volume["single"])
    for bound in ("1", "2", "4"):
        rows = results["near_lossless"][bound]["rows"]
        assert {r["codec"] for r in rows} == {"learned-lossless", "jpegls"}
        assert all(r["max_error"] <= int(bound) for r in rows)
    (speed_ct, speed_jxl) = results["speed"]
    assert speed_ct["setting"] == "learned-lossless" and speed_jxl["setting"] == "jpegxl effort=9"
    assert speed_ct["encode_mbps"] == pytest.approx(speed_ct["raw_bytes"] / speed_ct["encode_seconds"] / 1e6)
    goals = {g["goal"]: g for g in results["targets"]}
    required = goals["mean grey bpp below JPEG-XL effort 9 (required)"]
    assert required["measured"] == results["lossless"]["mean"]["ratio"]
    assert required["reached"] == (required["measured"] < 1)
    assert all(goals[f"near-lossless D = {b}: largest absolute error"]["reached"] for b in (1, 2, 4))
    thin = results["volumes"]["volumes"][THIN[0]]  # coded in slabs, alone and by JPEG-XL, like the evaluation volumes
    assert thin["ratio"] == pytest.approx(thin["slab"] / thin["reference"])
    one, two = results["parallel"]
    assert (one["image"], one["workers"], two["workers"]) == (THIN[0], 1, 2)
    speedup = goals[f"decode speed-up on {THIN[0]} with two workers"]
    assert speedup["measured"] == pytest.approx(two["decode_mbps"] / one["decode_mbps"])
    worst = max(results["lossless"]["images"].values(), key=lambda entry: entry["ratio"])["ratio"]
    assert [g["measured"] for g in results["targets"] if g["goal"].startswith("every grey image")] == [worst]
    assert goals["RGB against JPEG-XL effort 9"]["measured"] == results["rgb"]["mean"]["ratio"]


def test_markdown_states_how_it_was_made_and_keeps_existing_reports(report):
    out, results, text = report
    assert f"`python -m monai_medcomp.bench.learned_lossless --out {out} --repeats 1`" in text
    assert results["run"]["date"] in text and "no GPU was measured" in text
    for heading in ("Goals of the issue", "Lossless, grey", "Lossless, RGB", "Volumes", "Near-lossless, D = 4",
                    "Speed, one core", "Speed, one and two workers"):
        assert f"## {heading}" in text
    with pytest.raises(OutputExistsError):
        bench.main(["--out", str(out), "--repeats", "1"])
