"""A bundle run as a user types it (``python -m monai.bundle run`` in a subprocess, from the bundle folder):
a mistake ends in one line, and training shows its progress."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monai_medcomp.data import get_sample

REPO = Path(__file__).resolve().parents[2]


def bundle_run(folder: str, config: str, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", f"configs/{config}", "--meta_file",
               "configs/metadata.json", "--logging_file", "configs/logging.conf", *arguments]
    return subprocess.run(command, cwd=REPO / "bundles" / folder, capture_output=True, text=True, timeout=300)


def ends_in_one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    """Failed, no traceback, and the last line of stderr is the error with ``words`` in it."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(word in last for word in words), done.stderr[-2000:]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    shutil.copy(get_sample("mr_emri_small").path(), folder / "emri_small.dcm")
    return folder


@pytest.mark.parametrize("config", ["inference.json", "train.json"])
def test_default_arguments_end_in_one_line(config):
    """Without --dataset_dir the bundle's placeholder folder does not exist: the line says what to give."""
    done = bundle_run("cnn_ae", config)
    ends_in_one_line(done, "dataset_dir", "is not a folder", "--dataset_dir")


def test_training_shows_progress_and_a_rerun_ends_in_one_line(dataset_dir, tmp_path):
    arguments = ("--dataset_dir", str(dataset_dir), "--output_dir", str(tmp_path / "trained"),
                 "--budget", "{'epochs': 3}")
    done = bundle_run("mlp_huffman", "train.json", *arguments)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "read emri_small.dcm: 10x64x64, 12-bit" in log
    assert re.findall(r"training mlp-huffman: (\d)/3 epochs", log) == ["1", "2", "3"]
    assert f"wrote {tmp_path / 'trained' / 'models' / 'model.pt'}" in log
    weights = (tmp_path / "trained" / "models" / "model.pt").read_bytes()

    again = bundle_run("mlp_huffman", "train.json", *arguments)
    ends_in_one_line(again, "already exists", "--output_dir", "--force true")
    assert (tmp_path / "trained" / "models" / "model.pt").read_bytes() == weights
