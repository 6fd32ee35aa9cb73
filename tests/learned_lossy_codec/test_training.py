"""Fitting the context model: seconds on two small training-pool images give a model of the codec's shapes that
codes an evaluation image, the same model every time; the command writes weights the codec loads and a record."""

import hashlib

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs.learned_lossy import BUNDLE, ContextModel
from monai_medcomp.codecs.wavelet_context import FEATURES, LEVEL_GROUPS, NUM_CLASSES, NUM_TOKENS, ORIENTATIONS, PHASES
from monai_medcomp.data import load_sample, training_images
from monai_medcomp.metrics import psnr
from monai_medcomp.training import learned_lossy as training
from monai_medcomp.weights import WEIGHTS_FILE, read_state, state_bytes

CODEC = "learned-lossy"
POOL = {"ct_small": (slice(0, 128), slice(0, 128)), "photo_chelsea": (slice(100, 196), slice(150, 246))}


@pytest.fixture(scope="module")
def pool():
    """A grey CT and an RGB photograph of the training pool (never an evaluation image)."""
    assert set(POOL) <= {sample.name for sample in training_images()}
    pairs = []
    for name, (rows, cols) in POOL.items():
        volume = load_sample(name)
        pairs.append((name, volume.with_array(np.ascontiguousarray(volume.array[:1, rows, cols]))))
    return pairs


@pytest.fixture(scope="module")
def fitted(pool):
    return training.fit(images=pool)


def test_fit_gives_a_model_of_the_codecs_shapes(fitted):
    model, summary = fitted
    assert model.weights.shape == (LEVEL_GROUPS, ORIENTATIONS, PHASES, FEATURES) and model.weights.dtype == np.int64
    assert model.tables.shape == (NUM_CLASSES, NUM_TOKENS) and (model.tables > 0).all()
    np.testing.assert_allclose(model.tables.sum(axis=1), 1.0)
    assert summary["images"] == list(POOL) and summary["coefficients"] > 10_000
    assert model.weights.any()  # the fit found activity weights, not only the smoothed tables


def test_fitted_model_codes_an_evaluation_image(fitted, images, tmp_path):
    """Written as a bundle, the model codes the CT region at about the shipped model's PSNR and size (a model fitted
    on these two crops measured within 0.1 dB and 3 %)."""
    model, _ = fitted
    path = tmp_path / BUNDLE / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(state_bytes(model.state()))
    volume = images.region("ct_693")
    result = api.compress(volume, codec=CODEC, quality=70, bundles=tmp_path)
    assert result.header.weights == {"name": BUNDLE, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    shipped = api.compress(volume, codec=CODEC, quality=70)
    quality = [psnr(volume.array, api.decompress(coded_with.data, bundles=folder).array, bits_stored=14)
               for coded_with, folder in ((result, tmp_path), (shipped, None))]
    assert quality[0] == pytest.approx(quality[1], abs=1.0)
    assert result.payload_nbytes < 1.2 * shipped.payload_nbytes


def test_fit_is_deterministic(pool, fitted):
    model, _ = fitted
    again, _ = training.fit(images=pool)
    assert state_bytes(again.state()) == state_bytes(model.state())


def test_command_writes_weights_the_codec_loads_and_refuses_to_overwrite(pool, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(training, "pool_volumes", lambda: iter(pool))
    out, report = tmp_path / "model.pt", tmp_path / "training.md"
    assert training.main(["--out", str(out), "--report", str(report)]) == 0
    loaded = ContextModel.from_state(read_state(out), str(out))
    assert loaded.weights.shape == (LEVEL_GROUPS, ORIENTATIONS, PHASES, FEATURES)
    text = report.read_text()
    assert hashlib.sha256(out.read_bytes()).hexdigest() in text and "photo_chelsea" in text
    weights = out.read_bytes()
    monkeypatch.setattr(training, "fit", None)  # refused before any fitting
    assert training.main(["--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == weights
