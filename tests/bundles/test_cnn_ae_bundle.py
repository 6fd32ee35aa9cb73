"""The cnn_ae MONAI bundle: metadata against the shipped schema, network shapes, and inference on real images."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

from monai_medcomp import api
from monai_medcomp.bundle_workflows import run_inference
from monai_medcomp.data import get_sample, load_sample
from monai_medcomp.errors import OutputExistsError
from monai_medcomp.metrics import psnr

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "cnn_ae"
SCHEMA = BUNDLE / "configs" / "meta_schema.json"
META = BUNDLE / "configs" / "metadata.json"
INFERENCE = BUNDLE / "configs" / "inference.json"


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """emri_small written as NIfTI, CT 693 as its DICOM file, and a file that is no image."""
    folder = tmp_path_factory.mktemp("dataset")
    api.write(load_sample("mr_emri_small"), folder / "emri_small.nii.gz")
    shutil.copy(get_sample("ct_693").path(), folder / "693_UNCR.dcm")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def bundle_run(dataset_dir, tmp_path_factory):
    """``python -m monai.bundle run`` as the bundle's README gives it, from the bundle folder."""
    output_dir = tmp_path_factory.mktemp("run") / "eval"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
               "--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf",
               "--dataset_dir", str(dataset_dir), "--output_dir", str(output_dir), "--device", "$'cpu'"]
    done = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(output_dir / "metrics.csv", newline="") as f:
        rows = {row["image"]: row for row in csv.DictReader(f)}
    return output_dir, rows, done.stdout + done.stderr


def test_metadata_passes_the_shipped_schema():
    verify_metadata(meta_file=str(META), filepath=str(SCHEMA))


def test_metadata_missing_a_required_field_fails(tmp_path):
    broken = json.loads(META.read_text())
    del broken["network_data_format"]
    (tmp_path / "metadata.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError):
        verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(SCHEMA))


def test_network_in_out_and_weights_load():
    verify_net_in_out(net_id="network_def", meta_file=str(META), config_file=str(INFERENCE), device="cpu", n=2)
    parser = ConfigParser()
    parser.read_config(str(INFERENCE))
    network = parser.get_parsed_content("network_def")
    state = torch.load(BUNDLE / "models" / "model.pt", weights_only=True)["network"]
    network.load_state_dict(state, strict=True)
    blocks = torch.rand(3, 1, 32, 32)
    assert network(blocks).shape == blocks.shape


def test_run_writes_containers_reconstructions_and_csv(bundle_run, dataset_dir):
    output_dir, rows, _ = bundle_run
    for name, source in (("693_UNCR", "693_UNCR.dcm"), ("emri_small", "emri_small.nii.gz")):
        row = rows[source]
        assert row["status"] == "ok" and row["codec"] == "cnn-ae"
        original = api.read(dataset_dir / source)
        decoded = api.decompress(output_dir / f"{name}.mcz")
        reconstruction = api.read(output_dir / f"{name}_reconstruction.nii.gz")
        np.testing.assert_array_equal(reconstruction.array, decoded.array)
        np.testing.assert_allclose(reconstruction.spacing, original.spacing, rtol=1e-6)
        assert float(row["psnr"]) == pytest.approx(psnr(original.array, decoded.array,
                                                        bits_stored=original.bits_stored), abs=1e-6)
        size = (output_dir / f"{name}.mcz").stat().st_size
        assert int(row["compressed_bytes"]) == size
        assert float(row["bpp"]) == pytest.approx(size * 8 / original.array.size)
        assert 20 < float(row["psnr"]) < 80 and 0.5 < float(row["bpp"]) < 1.0


def test_config_workflow_has_every_inference_property(dataset_dir, tmp_path):
    """The model-zoo's own check: ConfigWorkflow initialize / run / finalize with no property missing."""
    workflow = ConfigWorkflow(config_file=str(INFERENCE), meta_file=str(META), workflow_type="inference",
                              bundle_root=str(BUNDLE), dataset_dir=str(dataset_dir),
                              output_dir=str(tmp_path / "eval"), device="$'cpu'")
    workflow.initialize()
    assert workflow.check_properties() == []
    assert len(workflow.dataset) == 3
    workflow.run()
    workflow.finalize()
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "693_UNCR.mcz", "693_UNCR_reconstruction.nii.gz", "emri_small.mcz", "emri_small_reconstruction.nii.gz",
        "metrics.csv"]


def test_run_matches_the_psnr_the_metadata_states(bundle_run):
    _, rows, _ = bundle_run
    stated = json.loads(META.read_text())["eval_metrics"]["per_image"]["ct_693"]
    assert float(rows["693_UNCR.dcm"]["psnr"]) == pytest.approx(stated["psnr_db"], abs=0.5)
    assert float(rows["693_UNCR.dcm"]["bpp"]) == pytest.approx(stated["bpp"], abs=0.01)


def test_unreadable_file_is_reported_and_skipped(bundle_run):
    output_dir, rows, log = bundle_run
    assert rows["notes.txt"]["status"].startswith("skipped:")
    assert "skipped notes.txt" in log
    assert not list(output_dir.glob("notes*"))


def test_existing_outputs_are_never_overwritten(bundle_run, dataset_dir):
    output_dir, _, _ = bundle_run
    before = {path.name: path.read_bytes() for path in output_dir.iterdir()}
    with pytest.raises(OutputExistsError):
        run_inference(dataset_dir, output_dir, "cnn-ae")
    fresh = output_dir.parent / "again"
    fresh.mkdir()
    (fresh / "693_UNCR.mcz").write_bytes(b"kept")
    rows = {row["image"]: row for row in run_inference(dataset_dir, fresh, "cnn-ae", bundle_root=BUNDLE)}
    assert rows["693_UNCR.dcm"]["status"].startswith("skipped:") and rows["emri_small.nii.gz"]["status"] == "ok"
    assert (fresh / "693_UNCR.mcz").read_bytes() == b"kept"
    assert {path.name: path.read_bytes() for path in output_dir.iterdir()} == before


def test_bundle_without_weights_is_named_and_its_images_skipped(dataset_dir, tmp_path):
    copy = tmp_path / "downloaded" / "cnn_ae"
    shutil.copytree(BUNDLE / "configs", copy / "configs")
    rows = run_inference(dataset_dir, tmp_path / "out", "cnn-ae", bundle_root=copy)
    statuses = {row["image"]: row["status"] for row in rows}
    assert "bundle 'cnn_ae' has no weights" in statuses["693_UNCR.dcm"]
    assert "bundle 'cnn_ae' has no weights" in statuses["emri_small.nii.gz"]
    assert not list((tmp_path / "out").glob("*.mcz"))
