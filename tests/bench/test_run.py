"""A tiny real benchmark: one small evaluation image (10 MR frames of 64x64), two codecs, every report file."""

import json

import matplotlib.image
import pytest

from monai_medcomp import api
from monai_medcomp.bench import run_bench
from monai_medcomp.data import load_sample
from monai_medcomp.errors import OutputExistsError

IMAGE = "mr_emri_small"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    results = run_bench(out, images=[IMAGE], codecs=["jpegls", "jpeg2000"], points=4, repeats=1, progress=False)
    return out, results


def test_lossless_json_reports_exact_round_trips_and_real_sizes(bench):
    out, _ = bench
    report = json.loads((out / "lossless.json").read_text())
    rows = {row["setting"]: row for row in report["rows"]}
    assert set(rows) == {"jpegls", "jpeg2000"}
    volume = load_sample(IMAGE)
    for name, row in rows.items():
        assert row["exact_slices"] == row["slices"] == 10 and row["failed_slices"] == []
        # the file size is what compress really writes, and its parts add up
        assert row["file_bytes"] == api.compress(volume, codec=name).nbytes
        assert row["file_bytes"] == row["payload_bytes"] + row["container_overhead_bytes"] + row["metadata_bytes"]
        assert row["file_bpp"] == pytest.approx(row["file_bytes"] * 8 / (10 * 64 * 64))
        assert row["metadata_bytes"] > 0  # the DICOM header travels with the pixels
    # JPEG 2000 goes through the very same imagecodecs call; JPEG-LS declares the true 12 bits, not 16
    assert rows["jpeg2000"]["library"]["bpp_ratio"] == 1.0
    assert rows["jpegls"]["library"]["bpp_ratio"] == 1.0  # the same CharLS call at the true bit depth
    assert all(row["library"]["exact"] for row in rows.values())
    assert report["summary"]["jpegls"]["exact_slices"] == 10


def test_lossy_json_has_measured_curves_and_bd_rates(bench):
    out, _ = bench
    report = json.loads((out / "lossy.json").read_text())
    curves = report["curves"][IMAGE]
    assert set(curves) == {"jpegls", "jpeg2000"}
    for point in curves["jpegls"]:
        assert point["max_abs_error"] <= point["knob"]  # near-lossless bound holds
    j2k = sorted(curves["jpeg2000"], key=lambda p: p["payload_bpp"])
    assert j2k[0]["psnr"] < j2k[-1]["psnr"] and j2k[0]["ssim"] < j2k[-1]["ssim"]
    assert report["bd_rate"][IMAGE]["jpeg2000"] == pytest.approx(0.0, abs=1e-9)
    assert isinstance(report["bd_rate"][IMAGE]["jpegls"], float)


def test_markdown_states_command_machine_and_date(bench):
    out, results = bench
    for name in ("lossless.md", "lossy.md"):
        text = (out / name).read_text()
        assert f"`medcomp bench --out {out} --images {IMAGE} --codecs jpegls jpeg2000 --points 4 --repeats 1`" in text
        assert f"{results['run']['machine']['cpus']} cores" in text and results["run"]["date"] in text
    assert "| mr_emri_small |" in (out / "lossless.md").read_text()
    assert f"rd_{IMAGE}.png" in (out / "lossy.md").read_text()


def test_plot_is_a_real_png(bench):
    out, _ = bench
    image = matplotlib.image.imread(out / f"rd_{IMAGE}.png")
    assert image.shape[0] >= 300 and image.shape[1] >= 800


def test_existing_reports_are_not_overwritten_without_force(bench):
    out, _ = bench
    with pytest.raises(OutputExistsError, match="lossless.json"):
        run_bench(out, images=[IMAGE], codecs=["jpegls"], lossy=False, progress=False)
