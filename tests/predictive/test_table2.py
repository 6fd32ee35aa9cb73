"""The Table 2 benchmark script on one small real image: every codec exact, reports written."""

import json

from monai_medcomp.bench.table2 import SETTINGS, run_table2


def test_table2_on_a_small_volume(tmp_path):
    results = run_table2(tmp_path, images=["mr_emri_small"], progress=False)
    summary = results["summary"]
    assert all(summary["exact"].values())
    assert summary["mean"]["MLP pretrained"] < summary["mean"]["lossless JPEG"]
    written = json.loads((tmp_path / "seed_table2.json").read_text())
    assert written["rows"][0]["image"] == "mr_emri_small"
    text = (tmp_path / "seed_table2.md").read_text()
    assert "python -m monai_medcomp.bench.table2" in text
    assert all(column in text for column, _, _ in SETTINGS)
    assert results["residual_entropy"]["mlp"] < results["residual_entropy"]["median_predictor"]
