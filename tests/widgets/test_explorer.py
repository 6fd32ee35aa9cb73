"""The explorer's widget state in plain pytest (no kernel: ipywidgets' comms are inert here).

Real images: pydicom-data's 693_UNCR.dcm (CT, 512x512, signed 14-bit) and emri_small.dcm (MR volume,
10 frames of 64x64).  Every figure the explorer shows is checked against the library itself
(``api.compress`` / ``decompress`` and ``metrics.quality_report``) for the same settings.
"""

import csv
import html
import math
import threading

import numpy as np
import pytest

from monai_medcomp import api, metrics
from monai_medcomp.codecs.reproductions import REPRODUCTIONS
from monai_medcomp.data import get_sample
from monai_medcomp.errors import OutputExistsError, UnknownCodecError
from monai_medcomp.windows import PRESETS

from medcomp_widgets import RateQualityExplorer, render
from medcomp_widgets.background import LatestOnly
from medcomp_widgets.measure import slice_volume
from medcomp_widgets.sources import load_volume

CURVE_POINTS = 3  # short curves keep the tests fast; the notebook uses the default


@pytest.fixture(scope="module")
def ct_path():
    return get_sample("ct_693").path()


@pytest.fixture(scope="module")
def mr_path():
    return get_sample("mr_emri_small").path()


@pytest.fixture
def explorer(ct_path):
    explorer = RateQualityExplorer(ct_path, codecs=["jpegls", "jpeg"], curve_points=CURVE_POINTS).wait()
    yield explorer
    explorer.close()


def library_figures(volume, codec, **target):
    """What the library itself reports for one setting."""
    result = api.compress(volume, codec=codec, **target)
    decoded = api.decompress(result.data)
    return result, decoded.array, metrics.quality_report(volume, decoded.array, result.nbytes)


def assert_matches_library(point, volume, **target):
    result, reconstruction, report = library_figures(volume, point.codec, **target)
    assert point.data == result.data  # the same file, byte for byte
    np.testing.assert_array_equal(point.reconstruction, reconstruction)
    assert point.file_bpp == report["bpp"]
    assert point.ratio == report["compression_ratio"]
    assert point.space_saving == report["space_saving"]
    assert point.psnr == report["psnr"]
    assert point.ssim == pytest.approx(report["ssim"], abs=1e-6)
    assert point.max_abs_error == report["max_abs_error"]
    payload = sum(len(chunk) for chunk in result.encoded.chunks)
    assert point.payload_bpp == payload * 8 / volume.array[0].size


def test_figures_match_the_library_for_the_same_settings(explorer, ct_path):
    volume = api.read(ct_path)
    assert set(explorer.points) == {"jpegls", "jpeg"}
    near = explorer.controls["jpegls"].value.value
    quality = explorer.controls["jpeg"].value.value
    assert_matches_library(explorer.points["jpegls"], volume, quality=near)
    assert_matches_library(explorer.points["jpeg"], volume, quality=quality)
    assert explorer.points["jpegls"].max_abs_error <= near  # near-lossless holds its bound
    assert 0 < explorer.points["jpeg"].encode_seconds and 0 < explorer.points["jpeg"].decode_seconds
    table = explorer.figures.value
    for point in explorer.points.values():
        assert f"{point.file_bpp:.3g}" in table and f"{point.psnr:.4g}" in table
    assert {len(curve) for curve in explorer.curves.values()} == {CURVE_POINTS}
    assert explorer.progress.value == explorer.progress.max and explorer.progress.bar_style == "success"
    assert explorer.status.value == "slice 0: 2 codecs measured" and not explorer.busy
    assert explorer.plot_png.startswith(b"\x89PNG") and explorer.plot_view.value == explorer.plot_png
    for view in (explorer.original_view, explorer.reconstruction_view, explorer.error_view):
        assert bytes(view.value).startswith(b"\x89PNG")


def test_moving_a_target_updates_the_model_and_the_figures(explorer, ct_path):
    volume = api.read(ct_path)
    before = explorer.points["jpeg"]
    explorer.viewed.value = "jpeg"
    explorer.wait()
    table, reconstruction_view = explorer.figures.value, explorer.reconstruction_view.value
    explorer.controls["jpeg"].value.value = 20
    explorer.wait()
    after = explorer.points["jpeg"]
    assert after.params["quality"] == 20 and after.file_bpp < before.file_bpp and after.psnr < before.psnr
    assert_matches_library(after, volume, quality=20)
    assert explorer.figures.value != table and "quality=20" in explorer.figures.value
    assert explorer.reconstruction_view.value != reconstruction_view

    explorer.controls["jpegls"].set_target("max_error", 3)
    explorer.wait()
    bounded = explorer.points["jpegls"]
    assert bounded.params["near"] == 3 and 0 < bounded.max_abs_error <= 3
    assert_matches_library(bounded, volume, max_error=3)

    explorer.controls["jpegls"].set_target("psnr", 70.0)
    explorer.wait()
    aimed = explorer.points["jpegls"]
    assert aimed.error is None and aimed.psnr == pytest.approx(70.0, abs=1.0)
    assert "psnr=70" in explorer.figures.value


def test_choosing_codecs_and_the_viewed_one(explorer):
    explorer.controls["jpegxl"].selected.value = True
    explorer.wait()
    assert set(explorer.points) == {"jpegls", "jpegxl", "jpeg"}
    assert "jpegxl" in explorer.viewed.options and "medcomp-row-jpegxl" in explorer.figures.value
    assert len(explorer.curves["jpegxl"]) == CURVE_POINTS
    shown = explorer.reconstruction_view.value
    explorer.viewed.value = "jpegxl"
    explorer.wait()
    assert explorer.reconstruction_view.value != shown
    explorer.controls["jpegxl"].selected.value = False
    explorer.wait()
    assert set(explorer.points) == {"jpegls", "jpeg"} and explorer.viewed.value in ("jpegls", "jpeg")
    assert "medcomp-row-jpegxl" not in explorer.figures.value


def test_lossless_codec_is_exact_and_drawn_above_the_curves(ct_path):
    explorer = RateQualityExplorer(ct_path, codecs=["png", "jpeg"], curve_points=CURVE_POINTS).wait()
    try:
        point = explorer.points["png"]
        assert point.lossless and math.isinf(point.psnr) and "inf (exact)" in explorer.figures.value
        assert explorer.controls["png"].kind.disabled and len(explorer.curves["png"]) == 1
        np.testing.assert_array_equal(point.reconstruction, api.read(ct_path).array)
    finally:
        explorer.close()


def test_slice_slider_measures_the_chosen_slice(mr_path):
    volume = api.read(mr_path)
    explorer = RateQualityExplorer(mr_path, codecs=["jpeg2000"], curve_points=CURVE_POINTS).wait()
    try:
        assert explorer.slice.max == volume.num_slices - 1 and explorer.slice.layout.display is None
        original = explorer.original_view.value
        explorer.slice.value = 7
        explorer.wait()
        rate = explorer.controls["jpeg2000"].value.value
        assert_matches_library(explorer.points["jpeg2000"], slice_volume(volume, 7), quality=rate)
        np.testing.assert_array_equal(slice_volume(volume, 7).array, volume.array[7:8])
        assert explorer.original_view.value != original
        measured = len(explorer._cache)
        explorer.slice.value = 3
        explorer.wait()
        explorer.slice.value = 7
        explorer.wait()
        assert len(explorer._cache) == measured + 1 + CURVE_POINTS  # slice 3 measured once, slice 7 cached
    finally:
        explorer.close()


def test_a_failing_setting_shows_its_error_and_the_rest_keeps_working(explorer):
    explorer.controls["jpeg2000"].selected.value = True
    explorer.controls["jpeg2000"].set_target("psnr", 20.0)  # far below what its rate range reaches on this CT
    explorer.wait()
    failed = explorer.points["jpeg2000"]
    assert failed.error and "out of reach" in failed.error and math.isnan(failed.psnr)
    assert "error: psnr 20 is out of reach" in explorer.figures.value
    assert explorer.points["jpeg"].error is None and explorer.points["jpegls"].error is None
    explorer.viewed.value = "jpeg2000"
    explorer.wait()
    assert bytes(explorer.reconstruction_view.value).startswith(b"\x89PNG")  # the message, drawn in its place
    explorer.controls["jpeg"].value.value = 90
    explorer.wait()
    assert explorer.points["jpeg"].params["quality"] == 90 and explorer.message.value == ""


@pytest.mark.parametrize("make_source, words", [
    (lambda tmp: tmp / "missing.dcm", "no such file"),
    (lambda tmp: (tmp / "notes.txt").write_text("not an image") and tmp / "notes.txt", "unrecognised image format"),
    (lambda tmp: np.zeros((4, 8, 8), dtype=np.float32), "unsupported pixel data type float32"),
])
def test_bad_input_is_a_message_inside_the_widget(tmp_path, make_source, words):
    explorer = RateQualityExplorer(make_source(tmp_path))
    assert explorer.volume is None
    assert "cannot explore this source" in explorer.message.value and words in explorer.message.value
    assert explorer.widget.children == (explorer.message,)
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()


def test_a_4d_nifti_names_the_explorer_argument_that_picks_a_volume():
    path = get_sample("mr_example4d").path()
    explorer = RateQualityExplorer(path)
    assert explorer.volume is None and "volume_index=" in explorer.message.value
    explorer = RateQualityExplorer(path, codecs=["png"], curve_points=1, volume_index=1).wait()
    try:
        np.testing.assert_array_equal(explorer.volume.array, api.read(path, volume_index=1).array)
    finally:
        explorer.close()


def test_an_unknown_codec_name_is_refused_with_the_known_ones(ct_path):
    with pytest.raises(UnknownCodecError, match="unknown codec 'jpeg3000'"):
        RateQualityExplorer(ct_path, codecs=["jpeg3000"])


def test_metatensor_source_keeps_values_and_geometry(ct_path):
    from monai.transforms import LoadImage

    tensor = LoadImage(image_only=True, reader="PydicomReader")(str(ct_path))  # rescaled to HU, float32
    stored = api.read(ct_path)
    volume = load_volume(tensor)
    rescale = stored.metadata["rescale"]
    np.testing.assert_array_equal(volume.array, stored.array * rescale["slope"] + rescale["intercept"])
    assert volume.dtype == np.int16
    np.testing.assert_allclose(volume.spacing[:2], stored.spacing[:2])
    np.testing.assert_allclose(volume.origin, stored.origin)
    np.testing.assert_allclose(volume.direction, stored.direction)


def test_exports_write_the_shown_result_points_and_plot(explorer, tmp_path):
    explorer.viewed.value = "jpeg"
    explorer.wait()
    saved = explorer.save_result(tmp_path / "ct_jpeg.mcz")
    np.testing.assert_array_equal(api.decompress(saved).array, explorer.points["jpeg"].reconstruction)
    explorer.save_points(tmp_path / "rd.csv")
    rows = list(csv.DictReader((tmp_path / "rd.csv").open()))
    assert len(rows) == 2 * CURVE_POINTS + 2
    current = [r for r in rows if r["role"] == "current" and r["codec"] == "jpeg"]
    assert float(current[0]["psnr"]) == explorer.points["jpeg"].psnr
    explorer.save_plot(tmp_path / "rd.png")
    assert (tmp_path / "rd.png").read_bytes() == explorer.plot_png
    with pytest.raises(OutputExistsError):
        explorer.save_plot(tmp_path / "rd.png")
    explorer.output_dir.value = str(tmp_path)
    explorer._save_result_clicked(None)
    assert "saved" in explorer.message.value and (tmp_path / "693_UNCR_slice0_jpeg.mcz").is_file()
    explorer._save_result_clicked(None)  # a second click refuses to overwrite, and says so in the widget's words
    assert "not saved" in explorer.message.value and "already exists" in explorer.message.value
    assert "tick \u201coverwrite\u201d" in explorer.message.value and "--force" not in explorer.message.value
    explorer.overwrite.value = True
    explorer._save_result_clicked(None)
    assert explorer.message.value.startswith("saved ")


def test_a_newer_request_supersedes_the_pending_ones():
    runner = LatestOnly()
    started, release = threading.Event(), threading.Event()
    seen = {}

    def job(name):
        def run(superseded):
            if name == "first":
                started.set()
                release.wait(10)
            seen[name] = superseded()
        return run

    runner.submit(job("first"))
    started.wait(10)
    runner.submit(job("second"))
    runner.submit(job("third"))
    release.set()
    runner.wait(10)
    assert seen == {"first": True, "second": True, "third": False}
    runner.shutdown()


def test_codecs_come_in_groups_with_the_standard_three_ticked(ct_path):
    explorer = RateQualityExplorer(ct_path, curve_points=CURVE_POINTS)
    try:
        assert [n for n, c in explorer.controls.items() if c.selected.value] == ["jpegls", "jpeg2000", "jpegxl"]
        titles = explorer.groups.titles
        assert titles[0] == "standard codecs (7)" and titles[1] == "MedComp's own (2)"
        assert titles[2] == f"paper reproductions, not recommendations ({len(REPRODUCTIONS)})"
        assert explorer.groups.selected_index == 0  # the group of the ticked codecs is the one open
        reproductions = explorer.groups.children[2]
        assert "behind JPEG 2000" in reproductions.children[0].value
        rows = {control.widget: name for name, control in explorer.controls.items()}
        in_group = [rows[row] for row in reproductions.children[1:]]
        assert sorted(in_group) == sorted(REPRODUCTIONS)
        # each says how far it measured from JPEG 2000: in place of a slider, or under the row of one with a knob
        assert REPRODUCTIONS["cnn-ae"].distance in explorer.controls["cnn-ae"].value.value
        assert REPRODUCTIONS["bttc"].distance in explorer.controls["bttc"].widget.children[1].value
    finally:
        explorer.close()


def test_a_ticked_reproduction_is_labelled_in_the_table_and_the_plot(explorer):
    explorer.controls["cnn-ae"].selected.value = True
    explorer.wait()
    assert explorer.points["cnn-ae"].error is None
    table = explorer.figures.value
    assert "cnn-ae (paper reproduction)" in table
    assert f"title='{html.escape(REPRODUCTIONS['cnn-ae'].label, quote=True)}'" in table
    assert "jpegls (paper reproduction)" not in table
    legend = render.rd_figure(explorer.curves, explorer.points, list(explorer.controls)).axes[0].get_legend()
    assert {text.get_text() for text in legend.get_texts()} == {"jpegls", "jpeg", "cnn-ae (paper reproduction)"}


@pytest.mark.parametrize("kind", ["psnr", "bpp", "max_error"])
def test_a_new_target_starts_where_the_codec_is_on_this_image(explorer, kind):
    control = explorer.controls["jpeg"]
    before = explorer.points["jpeg"]
    control.kind.value = kind
    start = control.value.value
    expected = {"psnr": round(before.psnr, 1), "bpp": before.file_bpp, "max_error": before.max_abs_error}[kind]
    assert start == pytest.approx(expected, rel=0.03)
    explorer.wait()
    after = explorer.points["jpeg"]
    assert after.error is None  # within reach by construction
    reached = {"psnr": after.psnr, "bpp": after.file_bpp, "max_error": after.max_abs_error}[kind]
    assert reached == pytest.approx(expected, rel=0.05)


def test_window_presets_for_ct_and_the_psnr_in_the_window(explorer):
    display = explorer.display
    assert display.preset.value == "the file's (40/100)" and display.limits == (-10, 90)  # 693_UNCR's own
    assert list(display.preset.options) == ["the file's (40/100)", *(f"{name} ({c:g}/{w:g})" for name, (c, w)
                                                                      in PRESETS.items()), "auto", "custom"]
    volume, point = api.read(explorer._source), explorer.points["jpeg"]
    units = explorer.units
    in_brain = metrics.windowed_psnr(volume.array, point.reconstruction, -10, 90, slope=units.slope,
                                     intercept=units.intercept)
    assert f"{in_brain:.4g}" in explorer.figures.value and in_brain < point.psnr  # a brain window shows more
    original = explorer.original_view.value
    display.choose("bone (400/1800)")
    explorer.wait()
    assert display.limits == (-500, 1300) and explorer.original_view.value != original
    in_bone = metrics.windowed_psnr(volume.array, point.reconstruction, -500, 1300, slope=units.slope,
                                    intercept=units.intercept)
    assert f"{in_bone:.4g}" in explorer.figures.value and in_bone > in_brain
    display.level.value = 300
    explorer.wait()
    assert display.preset.value == "custom" and display.limits == (-600, 1200)


def test_a_volume_without_a_window_of_its_own_starts_at_auto(mr_path):
    explorer = RateQualityExplorer(mr_path, codecs=["jpegls"], curve_points=CURVE_POINTS)
    try:
        assert list(explorer.display.preset.options) == ["auto", "custom"] and explorer.display.preset.value == "auto"
        assert explorer.units.name == "stored value"
    finally:
        explorer.close()
