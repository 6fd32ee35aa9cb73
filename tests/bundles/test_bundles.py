"""Every learned codec's MONAI bundle: shipped-schema metadata, network shapes and weights, the inference workflow
on a real image at the figures its metadata states, and (once, on cheap bundles) evaluate.json and train.json."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata, verify_net_in_out

from monai_medcomp import api
from monai_medcomp.bundle_configs import BUNDLES, bundle_files
from monai_medcomp.codecs import get_codec
from monai_medcomp.data import get_sample
from monai_medcomp.entropy.factorized import PRIOR_BINS
from monai_medcomp.errors import OutputExistsError
from monai_medcomp.metrics import psnr

REPO = Path(__file__).resolve().parents[2]
FOLDERS = sorted(path.parent.parent.name for path in (REPO / "bundles").glob("*/configs/metadata.json"))
IMAGE, IMAGE_FILE = "mr_emri_small", "emri_small.dcm"  # evaluation image, 10 x 64 x 64, 12-bit MR
VERSION_FIELDS = ("monai_version", "pytorch_version", "numpy_version", "required_packages_version")


def configs(folder: str) -> Path:
    return REPO / "bundles" / folder / "configs"


def stated(folder: str, codec: str) -> dict:
    """What the bundle's metadata states for the test image with ``codec`` (its own or an override)."""
    metrics = json.loads((configs(folder) / "metadata.json").read_text())["eval_metrics"]
    return metrics.get("overrides", {}).get(codec, metrics)["per_image"][IMAGE]


def example_batch(folder: str) -> tuple[torch.Tensor, tuple[int, ...]]:
    """A batch the bundle's network takes, and the shape of its output: causal contexts (mlp_huffman), integer log
    scale features of later slices (learned_lossless), integer context features of wavelet coefficients
    (learned_lossy) or image blocks (the autoencoders and GANs)."""
    if folder == "mlp_huffman":
        return torch.rand(3, 3, 64), (3, 3)
    if folder == "learned_lossless":
        return torch.randint(0, 137, (3, 16)).float(), (3, 1)
    if folder == "learned_lossy":
        return torch.randint(0, 64, (3, 5)).float(), (3, 80)
    blocks = torch.rand(3, 1, 64, 32)
    return blocks, tuple(blocks.shape)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The fine-tuning codecs run many tiny steps: on busy shared cores one thread is many times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """The evaluation image as its DICOM file (so its bit depth is the one measured) and a file that is no image."""
    folder = tmp_path_factory.mktemp("dataset")
    shutil.copy(get_sample(IMAGE).path(), folder / IMAGE_FILE)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_every_bundle_folder_is_generated_from_the_table():
    assert FOLDERS == sorted(bundle.folder for bundle in BUNDLES)


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda bundle: bundle.folder)
def test_bundle_files_match_their_generator(bundle):
    """The committed files are what bundle_configs writes from benchmarks/ (installed versions aside)."""
    for relative, text in bundle_files(bundle, REPO).items():
        committed = (REPO / "bundles" / bundle.folder / relative).read_text()
        if relative == "configs/metadata.json":
            text, committed = ({k: v for k, v in json.loads(t).items() if k not in VERSION_FIELDS}
                               for t in (text, committed))
        assert committed == text, f"bundles/{bundle.folder}/{relative}: run python -m monai_medcomp.bundle_configs"


@pytest.mark.parametrize("folder", FOLDERS)
def test_metadata_passes_the_shipped_schema(folder):
    verify_metadata(meta_file=str(configs(folder) / "metadata.json"),
                    filepath=str(configs(folder) / "meta_schema.json"))


@pytest.mark.parametrize("folder", FOLDERS)
def test_network_in_out_and_weights_load(folder):
    inference = str(configs(folder) / "inference.json")
    verify_net_in_out(net_id="network_def", meta_file=str(configs(folder) / "metadata.json"), config_file=inference,
                      device="cpu", n=2)
    parser = ConfigParser()
    parser.read_config(inference)
    network = parser.get_parsed_content("network_def").eval()
    state = torch.load(REPO / "bundles" / folder / "models" / "model.pt", weights_only=True)
    network.load_state_dict(state.get("network", state), strict=True)
    inputs, shape = example_batch(folder)
    with torch.no_grad():
        output = network(inputs)
    assert output.shape == shape
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("folder", FOLDERS)
def test_metadata_references_exist(folder):
    metadata = json.loads((configs(folder) / "metadata.json").read_text())
    for reference in metadata["references"]:
        assert (REPO / reference.removeprefix("MedComp ")).is_file(), reference


INFERENCE_CASES = [(folder, None) for folder in FOLDERS] + [("gan_ae_l2_wgan", "gan-ae-ft")]


@pytest.mark.parametrize("folder, codec", INFERENCE_CASES, ids=[f"{f}-{c or 'own'}" for f, c in INFERENCE_CASES])
def test_inference_workflow_reaches_the_stated_figures(folder, codec, dataset_dir, tmp_path):
    """The model-zoo's check (initialize / run / finalize, no property missing), then the outputs against the
    metadata: lossless bit-exact, lossy within 0.5 dB of the stated PSNR."""
    overrides = {"codec": codec} if codec else {}
    workflow = ConfigWorkflow(config_file=str(configs(folder) / "inference.json"),
                              meta_file=str(configs(folder) / "metadata.json"), workflow_type="inference",
                              bundle_root=str(REPO / "bundles" / folder), dataset_dir=str(dataset_dir),
                              output_dir=str(tmp_path / "eval"), device="$'cpu'", **overrides)
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    rows = {row["image"]: row for row in read_csv(tmp_path / "eval" / "metrics.csv")}
    assert rows["notes.txt"]["status"].startswith("skipped:")
    row = rows[IMAGE_FILE]
    assert row["status"] == "ok"
    original = api.read(dataset_dir / IMAGE_FILE)
    decoded = api.decompress(tmp_path / "eval" / "emri_small.mcz")
    reconstruction = api.read(tmp_path / "eval" / "emri_small_reconstruction.nii.gz")
    np.testing.assert_array_equal(reconstruction.array, decoded.array)
    figures = stated(folder, codec or row["codec"])
    if get_codec(row["codec"]).lossless:
        assert figures["bit_exact"]
        np.testing.assert_array_equal(decoded.array, original.array)
        assert float(row["max_abs_error"]) == 0
    else:
        measured = psnr(original.array, decoded.array, bits_stored=original.bits_stored)
        assert float(row["psnr"]) == pytest.approx(measured, abs=1e-6)
        assert measured == pytest.approx(figures["psnr_db"], abs=0.5)
    # the same image and codec: the file differs from the benchmark's only by the source metadata it carries
    assert float(row["bpp"]) == pytest.approx(figures["bpp"], rel=0.02)


def refuses_to_overwrite(folder: str, name: str, **overrides) -> None:
    """Running ``name`` again stops on the existing output (MONAI wraps the error in a RuntimeError)."""
    with pytest.raises(RuntimeError) as raised:
        run_config(folder, name, **overrides)
    assert isinstance(raised.value.__cause__, OutputExistsError)


def run_config(folder: str, name: str, **overrides) -> None:
    workflow = ConfigWorkflow(config_file=str(configs(folder) / name), meta_file=str(configs(folder) / "metadata.json"),
                              workflow_type=None, bundle_root=str(REPO / "bundles" / folder), **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def test_evaluate_config_compares_with_jpeg2000_at_the_same_rate(dataset_dir, tmp_path):
    run_config("gan_wgan", "evaluate.json", dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "rd"))
    rows = read_csv(tmp_path / "rd" / "rate_distortion.csv")
    by_codec = {row["codec"]: row for row in rows if row["image"] == IMAGE_FILE}
    assert sorted(by_codec) == ["gan-wgan", "jpeg", "jpeg2000"]
    own, reference = by_codec["gan-wgan"], by_codec["jpeg2000"]
    assert own["status"] == reference["status"] == "ok"
    assert float(own["psnr"]) == pytest.approx(stated("gan_wgan", "gan-wgan")["psnr_db"], abs=0.5)
    assert float(reference["file_bpp"]) == pytest.approx(float(own["file_bpp"]), rel=0.05)
    assert 30 < float(reference["psnr"]) < 60 and 0 < float(reference["max_abs_error"])
    # JPEG's quality range cannot go down to ~1 bpp on this small 12-bit image: reported, not fatal
    assert by_codec["jpeg"]["status"].startswith("skipped:") and "out of reach" in by_codec["jpeg"]["status"]
    assert [row["status"] for row in rows if row["image"] == "notes.txt"][0].startswith("skipped:")
    before = (tmp_path / "rd" / "rate_distortion.csv").read_bytes()
    refuses_to_overwrite("gan_wgan", "evaluate.json", dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "rd"))
    assert (tmp_path / "rd" / "rate_distortion.csv").read_bytes() == before


@pytest.mark.parametrize("folder, budget", [("mlp_huffman", {"epochs": 1}), ("cnn_ae", {"steps": 4}),
                                            ("learned_lossless", {"steps": 4}), ("learned_lossy", {})])
def test_train_config_writes_weights_that_load_into_the_network(folder, budget, dataset_dir, tmp_path):
    run_config(folder, "train.json", dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "trained"), budget=budget)
    weights = tmp_path / "trained" / "models" / "model.pt"
    state = torch.load(weights, weights_only=True)
    parser = ConfigParser()
    parser.read_config(str(configs(folder) / "inference.json"))
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(state.get("network", state), strict=True)
    if folder == "mlp_huffman":  # the grey network learned (it starts at zero); the colour ones saw no RGB image
        assert network.linear_layers(0)[-1].weight.abs().sum() > 0
        assert not network.linear_layers(1)[-1].weight.any()
    elif folder == "learned_lossless":  # both regressions moved from zero: the 10-slice image has later slices
        assert network.scale_first[:-1].any() and network.scale_later[:-1].any()
    elif folder == "learned_lossy":  # every level group of the 64x64 slices was fitted; each class has a distribution
        assert all(network.weights[group].any() for group in range(3))
        assert torch.allclose(network.tables.sum(dim=1), torch.ones(network.tables.shape[0], dtype=torch.float64))
    else:  # the latent prior of the optional entropy coding: one smoothed histogram per latent channel
        assert state["prior"].shape == (1, 2, PRIOR_BINS) and bool((state["prior"] >= 1).all())
    before = weights.read_bytes()
    refuses_to_overwrite(folder, "train.json", dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "trained"),
                         budget=budget)
    assert weights.read_bytes() == before
