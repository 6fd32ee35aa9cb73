"""The scale model's pretraining: a few seconds on small pool images give weights the codec loads and that
code better than an untrained model; what it writes never overwrites an existing file."""

import numpy as np
import pytest
import torch

from monai_medcomp import api
from monai_medcomp.data import load_sample
from monai_medcomp.training import learned_lossless as training
from monai_medcomp.weights import WEIGHTS_FILE

CODEC = "learned-lossless"


@pytest.fixture(scope="module")
def pool():
    return [(name, load_sample(name)) for name in ("mr_small", "ct_small")]


def test_pretraining_learns_a_scale_model_the_codec_uses(pool, tmp_path, monkeypatch, images):
    examples, labels = training.pool_examples(pool, slab_size=8, seed=0)
    rows = np.concatenate(examples[False])
    untrained = training.fit_weights(rows, training.SCALE_FEATURES_2D, seed=0, steps=0)[1]
    state, summary = training.pretrain(images=pool, steps=150)
    assert labels == ["mr_small", "ct_small"] and summary["images"] == labels
    assert summary["scale_first"]["bits_per_pixel"] < untrained - 0.2
    assert state["scale_first"].shape == (training.SCALE_FEATURES_2D + 1,)
    assert state["scale_later"].shape == (training.SCALE_FEATURES_3D + 1,)

    path = tmp_path / "learned_lossless" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(training.weights_bytes(state))
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(tmp_path))
    volume = images.crop("ct_693", slice(200, 264), slice(200, 264))
    result = api.compress(volume, codec=CODEC)
    assert result.header.weights["sha256"] != ""
    np.testing.assert_array_equal(api.decompress(result.data).array, volume.array)


def test_command_line_refuses_to_overwrite(tmp_path, monkeypatch, pool, capsys):
    monkeypatch.setattr(training, "pool_volumes", lambda: iter(pool))
    out, report = tmp_path / "model.pt", tmp_path / "training.md"
    assert training.main(["--out", str(out), "--report", str(report), "--steps", "5"]) == 0
    state = torch.load(out, weights_only=True)
    assert set(state) == {"scale_first", "scale_later"}
    assert "--steps 5" in report.read_text() and "mr_small" in report.read_text()
    weights = out.read_bytes()
    monkeypatch.setattr(training, "pretrain", None)  # refused before any training
    assert training.main(["--out", str(out), "--steps", "5"]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == weights
