"""Every bundle zipped, served over HTTP on 127.0.0.1, downloaded with ``monai.bundle.download`` and run.

The downloaded copy must reproduce what its own ``metadata.json`` states: lossless bundles give the
image back bit for bit, lossy ones its PSNR within 0.5 dB, with the downloaded weights.
"""

from __future__ import annotations

import csv
import functools
import http.server
import json
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from monai.bundle import ConfigWorkflow, download

from monai_medcomp import api
from monai_medcomp.bundle_archive import build_archives, main
from monai_medcomp.bundle_workflows import RECONSTRUCTION_SUFFIX, image_stem, weights_from
from monai_medcomp.codecs import get_codec
from monai_medcomp.data import get_sample
from monai_medcomp.errors import OutputExistsError
from monai_medcomp.metrics import psnr
from monai_medcomp.weights import weights_path

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
RUNNABLE = sorted(folder.name for folder in BUNDLES.iterdir() if (folder / "configs" / "inference.json").is_file())
PSNR_TOLERANCE_DB = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``make bundles``' zips served from a local HTTP server; yields its base URL."""
    zips = tmp_path_factory.mktemp("zips")
    build_archives(BUNDLES, zips)
    handler = functools.partial(_QuietHandler, directory=str(zips))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def _smallest_stated_image(metadata: dict) -> str:
    """The evaluation image of ``eval_metrics.per_image`` with the fewest pixels (keeps the run short).

    Only images whose shipped file is the whole image count: the bundle reads the file itself, so
    the bit depth that sets the PSNR peak is the one the metadata was measured with.
    """
    per_image = metadata["eval_metrics"]["per_image"]
    whole_files = [key for key in per_image if get_sample(key).volume_index is None]
    return min(whole_files, key=lambda key: (int(np.prod(per_image[key]["shape"])), key))


def test_archives_put_the_bundle_folder_at_the_top_and_are_reproducible(tmp_path):
    first = build_archives(BUNDLES, tmp_path / "a")
    second = build_archives(BUNDLES, tmp_path / "b")
    assert [p.name for p in first] == [f"{f.name}.zip" for f in sorted(BUNDLES.iterdir())
                                       if (f / "configs" / "metadata.json").is_file()]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
        names = zipfile.ZipFile(a).namelist()
        bundle = a.stem
        assert names == sorted(names) and all(name.startswith(f"{bundle}/") for name in names)
        assert {f"{bundle}/configs/metadata.json", f"{bundle}/models/model.pt"} <= set(names)
    before = first[0].read_bytes()
    with pytest.raises(OutputExistsError):
        build_archives(BUNDLES, tmp_path / "a")
    assert first[0].read_bytes() == before


def test_run_outputs_stay_out_and_the_command_refuses_to_overwrite(tmp_path, capsys):
    bundles = tmp_path / "bundles"
    shutil.copytree(BUNDLES / "cnn_ae", bundles / "cnn_ae")
    (bundles / "cnn_ae" / "eval").mkdir()
    (bundles / "cnn_ae" / "eval" / "metrics.csv").write_text("image,status\n")  # a default-output_dir run
    (bundles / "cnn_ae" / "configs" / ".inference.json.swp").write_bytes(b"editor")
    (bundles / "notes").mkdir()  # no configs/metadata.json: not a bundle
    out = tmp_path / "dist"
    assert main(["--bundles", str(bundles), "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["cnn_ae.zip"]
    names = zipfile.ZipFile(out / "cnn_ae.zip").namelist()
    assert "cnn_ae/models/model.pt" in names and not [n for n in names if "eval/" in n or "/." in n]
    before = (out / "cnn_ae.zip").read_bytes()
    assert main(["--bundles", str(bundles), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["--bundles", str(bundles), "--out", str(out), "--force"]) == 0
    assert (out / "cnn_ae.zip").read_bytes() == before


@pytest.mark.parametrize("bundle", RUNNABLE)
@pytest.mark.filterwarnings("ignore:No hash value provided")  # download(url=...) takes no hash; the zip is ours
def test_downloaded_bundle_runs_and_reproduces_its_metadata(bundle, server, tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    download(name=bundle, url=f"{server}/{bundle}.zip", bundle_dir=str(tmp_path / "downloads"), progress=False)
    assert (tmp_path / "downloads" / f"{bundle}.zip").is_file()
    root = tmp_path / "downloads" / bundle
    configs = root / "configs"
    metadata = json.loads((configs / "metadata.json").read_text())
    image = _smallest_stated_image(metadata)
    dataset_dir = tmp_path / "dataset"
    dataset_dir.mkdir()
    source = get_sample(image).path()
    shutil.copy(source, dataset_dir / source.name)
    original = api.read(source)

    output_dir = tmp_path / "eval"
    workflow = ConfigWorkflow(config_file=str(configs / "inference.json"), meta_file=str(configs / "metadata.json"),
                              workflow_type="inference", bundle_root=str(root), dataset_dir=str(dataset_dir),
                              output_dir=str(output_dir), device="$'cpu'")
    workflow.initialize()
    workflow.run()
    workflow.finalize()

    with weights_from(workflow.parser.get_parsed_content("bundle_root")):  # what the evaluator ran under
        assert weights_path(bundle).resolve() == (root / "models" / "model.pt").resolve()  # not the repository's
    with open(output_dir / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "ok", row["status"]
    reconstruction = api.read(output_dir / f"{image_stem(source)}{RECONSTRUCTION_SUFFIX}").array
    if get_codec(workflow.parser.get_parsed_content("codec")).lossless:
        np.testing.assert_array_equal(reconstruction, original.array)
        assert float(row["max_abs_error"]) == 0
    else:
        measured = psnr(original.array, reconstruction, bits_stored=original.bits_stored)
        assert float(row["psnr"]) == pytest.approx(measured, abs=1e-6)
        stated = metadata["eval_metrics"]["per_image"][image]["psnr_db"]
        assert float(row["psnr"]) == pytest.approx(stated, abs=PSNR_TOLERANCE_DB)
