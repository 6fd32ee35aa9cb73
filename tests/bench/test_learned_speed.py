"""The learned codecs' speed report on a real CT crop: figures that agree with the API, and both report files."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from monai_medcomp import api
from monai_medcomp.bench import learned_speed
from monai_medcomp.data import load_sample
from monai_medcomp.errors import OutputExistsError
from monai_medcomp.metrics import psnr


@pytest.fixture(scope="module")
def ct_crop():
    volume = load_sample(learned_speed.IMAGE)
    return dataclasses.replace(volume, array=volume.array[:, 200:296, 200:296].copy())


def test_figures_match_a_round_trip_and_the_thread_count_is_restored(ct_crop):
    threads = torch.get_num_threads()
    results = learned_speed.run(ct_crop, ["cnn-rnn-ae", "cnn-ae-ft"], repeats=2)
    assert torch.get_num_threads() == threads
    result = api.compress(ct_crop, codec="cnn-rnn-ae")
    row = results["cnn-rnn-ae"]
    assert row["bpp"] == result.bpp
    decoded = api.decompress(result.data).array
    assert row["psnr"] == pytest.approx(psnr(ct_crop.array, decoded, bits_stored=ct_crop.bits_stored))
    assert row["runs"] == 2 and not row["fine_tuned"] and row["meets_target"] in (True, False)
    assert 0 < row["encode_seconds"] and 0 < row["decode_seconds"]
    assert results["cnn-ae-ft"]["fine_tuned"] and results["cnn-ae-ft"]["meets_target"] is None


def test_main_writes_markdown_and_json_and_keeps_existing_reports(ct_crop, tmp_path, monkeypatch):
    monkeypatch.setattr(learned_speed, "load_sample", lambda name: ct_crop)
    argv = ["--out", str(tmp_path), "--codecs", "gan-wgan", "--repeats", "1"]
    assert learned_speed.main(argv) == 0
    report = json.loads((tmp_path / "learned_lossy_speed.json").read_text())
    assert list(report["codecs"]) == ["gan-wgan"] and report["shape"] == [1, 96, 96]
    assert report["run"]["command"].endswith("--codecs gan-wgan --repeats 1")
    table = (tmp_path / "learned_lossy_speed.md").read_text()
    assert "| gan-wgan |" in table and "median of 1 runs" in table
    with pytest.raises(OutputExistsError):
        learned_speed.main(argv)
