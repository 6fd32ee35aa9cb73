"""The learned-lossy benchmark on real crops: rate search, BD-rates, the 16:1 table, speed, exactness, report files."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from monai_medcomp.bench import learned_lossy, seed_lossy
from monai_medcomp.codecs import get_codec
from monai_medcomp.data import load_sample
from monai_medcomp.errors import OutputExistsError

SEED_REPORT = Path(__file__).parents[2] / "benchmarks" / "seed_lossy.json"


def crop(name: str, rows: slice, cols: slice, slices: slice = slice(None)):
    volume = load_sample(name)
    return dataclasses.replace(volume, array=volume.array[slices, rows, cols].copy())


@pytest.fixture(scope="module")
def crops():
    return {"ct_693": crop("ct_693", slice(200, 264), slice(200, 264)),
            "mr_example4d": crop("mr_example4d", slice(16, 80), slice(32, 96), slice(10, 12)),
            "us_rgb": crop("us_rgb", slice(150, 214), slice(250, 314))}


def test_search_spreads_learned_lossy_over_the_targets_with_rising_rates():
    volume = crop("ct_693", slice(168, 296), slice(168, 296))
    targets = learned_lossy.target_rates(volume, 4)
    assert targets[0] == pytest.approx(14 / 4) and targets[-1] == pytest.approx(14 / 40)
    search = learned_lossy.RateSearch(volume, get_codec("learned-lossy"))
    points = learned_lossy.sweep(search, targets)
    assert len(points) == 4 and len(search.rates) <= 2 + 4 * learned_lossy.MAX_STEPS
    rates, knobs = [p["payload_bpp"] for p in points], [p["knob"] for p in points]
    assert rates == sorted(rates) and knobs == sorted(knobs) and len(set(knobs)) == 4
    psnrs = [p["psnr"] for p in points]
    assert psnrs == sorted(psnrs) and all(0 < p["ms_ssim"] <= 1 + 1e-6 for p in points)  # float32: 1.0000001
    for point in points:  # near its target (a jump in the rate may keep it off the 2 %), or at the end of the knob
        assert (abs(point["payload_bpp"] / point["target_bpp"] - 1) <= learned_lossy.REACHED
                or point["knob"] in (0.0, 100.0))


def test_bd_rate_of_a_curve_against_itself_is_zero_on_both_quality_scales(crops):
    volume = crops["ct_693"]
    search = learned_lossy.RateSearch(volume, get_codec("jpeg2000"))
    curves = {"jpeg2000": learned_lossy.sweep(search, learned_lossy.target_rates(volume, 3))}
    assert learned_lossy.bd_against(curves, "jpeg2000", "jpeg2000") == pytest.approx(0, abs=1e-9)
    assert learned_lossy.bd_against(curves, "jpeg2000", "jpeg2000", learned_lossy.ms_ssim_curve) == pytest.approx(
        0, abs=1e-9)
    assert learned_lossy.bd_against(curves, "learned-lossy", "jpeg2000") is None
    assert learned_lossy.ms_ssim_db(0.9) == pytest.approx(10) and math.isinf(learned_lossy.ms_ssim_db(1.0))


def test_main_measures_everything_and_writes_both_reports(crops, tmp_path, monkeypatch):
    monkeypatch.setattr(learned_lossy, "load_sample", lambda name: crops[name])
    argv = ["--out", str(tmp_path), "--images", "mr_example4d", "us_rgb", "--points", "2",
            "--repeats", "1", "--seed", str(SEED_REPORT)]
    assert learned_lossy.main(argv) == 0
    report = json.loads((tmp_path / "learned_lossy.json").read_text())
    assert report["run"]["command"].endswith("--images mr_example4d us_rgb --points 2 --repeats 1 "
                                             f"--seed {SEED_REPORT}")
    images = report["images"]
    assert {n: r["color"] for n, r in images.items()} == {"mr_example4d": "grey", "us_rgb": "rgb"}
    assert images["mr_example4d"]["slices"] == 2
    for image in images.values():
        assert list(image["curves"]) == list(learned_lossy.SWEPT) and not image["skipped"]
        assert set(image["bd_rate"]) == {*learned_lossy.ANCHORS, learned_lossy.MS_SSIM_COLUMN}
        assert set(image["at_ratio"]) == set(learned_lossy.AT_RATIO)
        for points in image["curves"].values():
            rates = [p["payload_bpp"] for p in points]
            assert rates == sorted(rates) and len(rates) >= 2
    assert report["mean_bd_rate"]["jpeg2000"]["mean"] == images["mr_example4d"]["bd_rate"]["jpeg2000"]  # grey only
    seed_images = json.loads(SEED_REPORT.read_text())["images"]
    best = report["seed"]["codec"]
    assert best == seed_lossy.best_codec(seed_images, seed_lossy.LEARNED, "grey")
    assert report["seed"]["images"]["mr_example4d"]["psnr"] == seed_images["mr_example4d"]["codecs"][best]["psnr"]
    speed = report["speed"]["codecs"]
    assert list(speed) == ["learned-lossy", "jpeg2000"] and all(r["encode_mbps"] > 0 < r["decode_mbps"]
                                                                  for r in speed.values())
    assert [r["image"] for r in report["exactness"]] == list(learned_lossy.EXACT_IMAGES)
    assert all(r["equal"] and len(r["digests"]) >= 2 for r in report["exactness"])
    text = (tmp_path / "learned_lossy.md").read_text()
    for heading in ("## BD-rate of learned-lossy, grey evaluation images", "## BD-rate of learned-lossy, RGB",
                    "## At 16:1", "### grey: PSNR (dB)", "### rgb: SSIM", "## Speed, one core", "## Exactness"):
        assert heading in text
    assert f"{best} (seed)" in text and "| mr_example4d | 2 |" in text
    with pytest.raises(OutputExistsError):
        learned_lossy.main(argv)
