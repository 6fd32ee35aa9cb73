"""Apply, as the module runs it: real sample volumes in MRML nodes, compressed, decoded and measured."""

import time

import numpy as np
import pytest
import slicer.util

from MedCompLib.jobs import Cancelled, ChunkCounter, run_in_background
from MedCompLib.logic import CompressionOptions, compress_node, figure_rows, fill_table
from MedCompLib.nodes import BITS_STORED_ATTRIBUTE, volume_from_node
from monai_medcomp.codecs import codec_names, get_codec
from monai_medcomp.data import load_sample
from monai_medcomp.errors import MedCompError, RateControlError, UnsupportedDataError
from monai_medcomp.weights import bundles_from


def stacked_ct(slices):
    """The 693 CT slice shifted a little per slice: a real-looking int16 volume of ``slices`` slices."""
    ct = load_sample("ct_693")
    return ct.with_array(np.concatenate([np.roll(ct.array, 3 * k, axis=2) for k in range(slices)]))


def arrays(*nodes):
    return [np.array(slicer.util.arrayFromVolume(node)) for node in nodes]


@pytest.mark.parametrize("sample", ["ct_693", "mr_example4d"])
def test_lossless_jpegls_keeps_voxels_and_geometry(sample, add_volume, assert_same_geometry, scene):
    node = add_volume(load_sample(sample))
    reports = []
    outcome = compress_node(node, CompressionOptions("jpegls"), report=lambda *r: reports.append(r) or True)

    original, reconstructed, error = arrays(node, outcome.reconstructed_node, outcome.error_node)
    assert reconstructed.dtype == original.dtype
    np.testing.assert_array_equal(reconstructed, original)
    assert not error.any() and error.shape == original.shape
    assert_same_geometry(outcome.reconstructed_node, node)
    assert_same_geometry(outcome.error_node, node)
    assert outcome.reconstructed_node.GetClassName() == "vtkMRMLScalarVolumeNode"
    shown, input_shown = outcome.reconstructed_node.GetDisplayNode(), node.GetDisplayNode()
    assert (shown.GetWindow(), shown.GetLevel()) == (input_shown.GetWindow(), input_shown.GetLevel())
    figures = outcome.figures
    assert figures["lossless"] and figures["max_abs_error"] == 0 and figures["psnr"] == np.inf
    assert figures["bpp"] == pytest.approx(outcome.result.nbytes * 8 / original.size)
    slices = original.shape[0]
    assert reports[-1] == (2 * slices, 2 * slices, "done")  # every slice encoded and decoded, counted once

    table = scene.AddNewNodeByClass("vtkMRMLTableNode")
    fill_table(table, figure_rows(figures))
    assert table.GetNumberOfColumns() == 2
    assert {table.GetCellText(row, 0): table.GetCellText(row, 1) for row in range(table.GetNumberOfRows())}[
        "max abs error"] == "0"


@pytest.mark.parametrize("sample, codec, target, value", [
    ("ct_693", "jpeg", "quality", 60),
    ("mr_emri_small", "jpeg2000", "psnr", 50.0),
])
def test_lossy_reports_the_psnr_of_the_node_arrays(sample, codec, target, value, add_volume, assert_same_geometry):
    node = add_volume(load_sample(sample))
    outcome = compress_node(node, CompressionOptions(codec, target, value, ssim=True))

    original, reconstructed, error = arrays(node, outcome.reconstructed_node, outcome.error_node)
    np.testing.assert_array_equal(error, reconstructed.astype(np.int64) - original)
    peak = 2 ** int(node.GetAttribute(BITS_STORED_ATTRIBUTE)) - 1
    mse = np.mean((reconstructed.astype(np.float64) - original) ** 2)
    figures = outcome.figures
    assert figures["psnr"] == pytest.approx(10 * np.log10(peak ** 2 / mse), rel=1e-9)
    assert figures["max_abs_error"] == np.abs(error).max() > 0
    assert not figures["lossless"] and 0 < figures["ssim"] < 1
    error_shown = outcome.error_node.GetDisplayNode()
    assert (error_shown.GetWindow(), error_shown.GetLevel()) == (2 * figures["max_abs_error"], 0)
    if target == "psnr":
        assert figures["psnr"] >= value - 0.2
    assert_same_geometry(outcome.reconstructed_node, node)


def test_outputs_refill_the_nodes_the_user_picked(add_volume, scene, count_volumes):
    node = add_volume(load_sample("mr_emri_small"))
    first = compress_node(node, CompressionOptions("jpegls"))
    before = count_volumes()
    second = compress_node(node, CompressionOptions("jpegls", "max_error", 2), reconstructed_node=first.reconstructed_node,
                           error_node=first.error_node)
    assert count_volumes() == before
    assert second.reconstructed_node is first.reconstructed_node
    assert 0 < second.figures["max_abs_error"] <= 2
    assert np.abs(arrays(second.error_node)[0]).max() == second.figures["max_abs_error"]


def test_cancel_midway_leaves_no_node(add_volume, scene, count_volumes):
    node = add_volume(stacked_ct(24))
    before = count_volumes()
    seen = []

    def cancel_after_a_few_slices(done, total, phase):
        seen.append((done, total))
        return done < 3

    with pytest.raises(Cancelled):
        compress_node(node, CompressionOptions("jpeg2000", workers=1), report=cancel_after_a_few_slices)
    assert count_volumes() == before
    done, total = seen[-1]
    assert 3 <= done < total


def test_learned_codec_runs_in_torch_batches(add_volume):
    mr = load_sample("mr_emri_small")
    node = add_volume(mr.with_array(mr.array[3:6, 16:48, 16:48]))  # a small crop: the learned coder is slow on CPU
    reports = []
    outcome = compress_node(node, CompressionOptions("mlp-huffman", device="cpu", batch_size=2),
                            report=lambda *r: reports.append(r) or True)
    original, reconstructed = arrays(node, outcome.reconstructed_node)
    np.testing.assert_array_equal(reconstructed, original)
    assert reports[-1][:2] == (6, 6)  # 3 slices encoded and decoded in batches of 2, each slice counted once


def test_rgb_vector_volume_round_trips(add_volume, assert_same_geometry):
    node = add_volume(load_sample("us_rgb"), "vtkMRMLVectorVolumeNode")
    outcome = compress_node(node, CompressionOptions("jpegls"))
    original, reconstructed, error = arrays(node, outcome.reconstructed_node, outcome.error_node)
    assert original.shape[-1] == 3
    np.testing.assert_array_equal(reconstructed, original)
    assert outcome.error_node.GetClassName() == "vtkMRMLVectorVolumeNode" and error.shape == original.shape
    assert_same_geometry(outcome.reconstructed_node, node)


def test_label_map_only_lossless(add_volume, count_volumes):
    labels = load_sample("mr_emri_small")
    labels = labels.with_array((labels.array // 100).astype(np.uint8), bits_stored=8)
    node = add_volume(labels, "vtkMRMLLabelMapVolumeNode")
    before = count_volumes()
    with pytest.raises(UnsupportedDataError, match="label map volume must be coded losslessly"):
        compress_node(node, CompressionOptions("jpeg2000", "psnr", 40))
    assert count_volumes() == before
    outcome = compress_node(node, CompressionOptions("png"))
    assert outcome.reconstructed_node.GetClassName() == "vtkMRMLLabelMapVolumeNode"
    np.testing.assert_array_equal(*arrays(outcome.reconstructed_node, node))


def test_bad_input_is_refused_clearly_and_adds_nothing(scene, count_volumes, add_volume):
    floats = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "float")
    slicer.util.updateVolumeFromArray(floats, np.zeros((2, 8, 8), np.float32))
    two_components = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "uv")
    slicer.util.updateVolumeFromArray(two_components, np.zeros((2, 8, 8, 2), np.uint8))
    mr = add_volume(load_sample("mr_emri_small"))
    before = count_volumes()
    with pytest.raises(UnsupportedDataError, match="floating-point"):
        compress_node(floats, CompressionOptions())
    with pytest.raises(UnsupportedDataError, match="RGB"):
        compress_node(two_components, CompressionOptions())
    with pytest.raises(UnsupportedDataError, match="no input volume"):
        compress_node(None, CompressionOptions())
    with pytest.raises(MedCompError, match="unknown codec 'nope'"):
        compress_node(mr, CompressionOptions("nope"))
    with pytest.raises(RateControlError, match="out of reach"):  # raised in the background thread, seen here
        compress_node(mr, CompressionOptions("jpeg2000", "bpp", 0.001))
    assert count_volumes() == before


def test_codec_without_weights_gives_a_clear_message(add_volume, count_volumes, tmp_path):
    node = add_volume(load_sample("mr_emri_small"))
    before = count_volumes()
    with bundles_from(tmp_path):  # an empty bundles folder: the learned codecs have no weights
        missing = [name for name in codec_names() if not get_codec(name).available]
        assert "learned-lossy" in missing
        with pytest.raises(MedCompError, match="not available"):
            compress_node(node, CompressionOptions("learned-lossy"))
    assert count_volumes() == before


def test_bit_depth_of_an_unlabelled_node_is_what_its_values_need(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    slicer.util.updateVolumeFromArray(node, np.array([[[-2048, 2047]]], np.int16))
    assert volume_from_node(node).bits_stored == 12
    slicer.util.updateVolumeFromArray(node, np.array([[[-2049, 0]]], np.int16))
    assert volume_from_node(node).bits_stored == 13
    slicer.util.updateVolumeFromArray(node, np.array([[[0, 4095]]], np.uint16))
    assert volume_from_node(node).bits_stored == 12


def test_the_gui_keeps_being_served_after_cancel_until_the_batch_ends():
    """After Cancel the work finishes its chunk under way; meanwhile the GUI is still polled, told why it waits."""
    counter = ChunkCounter()
    phases = []

    def report(done, total, phase):
        phases.append(phase)
        return False  # Cancel pressed at once

    def one_long_batch():
        counter.start_phase("encoding")
        time.sleep(0.5)  # a device batch that cannot be interrupted
        counter.check()

    with pytest.raises(Cancelled):
        run_in_background(one_long_batch, counter, report)
    assert phases.count("cancelling") >= 5  # polled every 20 ms while the batch ran


def test_an_output_must_fit_the_input_and_never_be_the_input(add_volume, scene, count_volumes):
    grey = add_volume(load_sample("mr_emri_small"))
    rgb = add_volume(load_sample("us_rgb"), "vtkMRMLVectorVolumeNode", "rgb")
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    before = count_volumes()
    with pytest.raises(UnsupportedDataError, match="cannot be the input volume"):
        compress_node(grey, CompressionOptions("jpegls"), reconstructed_node=grey)
    with pytest.raises(UnsupportedDataError, match="needs an RGB vector volume"):
        compress_node(rgb, CompressionOptions("jpegls"), reconstructed_node=grey)
    with pytest.raises(UnsupportedDataError, match="error volume labels is a vtkMRMLLabelMapVolumeNode"):
        compress_node(grey, CompressionOptions("jpegls"), error_node=labels)
    assert count_volumes() == before
    np.testing.assert_array_equal(arrays(grey)[0], load_sample("mr_emri_small").array)


@pytest.mark.parametrize("removed", ["input", "output"])
def test_a_volume_removed_while_the_work_runs_gets_nothing_added(removed, add_volume, scene, count_volumes):
    node = add_volume(stacked_ct(6))
    picked = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "picked output")
    victim = node if removed == "input" else picked
    before = count_volumes()

    def remove_on_first_report(done, total, phase):
        if victim.GetScene() is not None:
            scene.RemoveNode(victim)
        return True

    with pytest.raises(MedCompError, match="was removed from the scene while MedComp ran"):
        compress_node(node, CompressionOptions("jpegls"), report=remove_on_first_report, reconstructed_node=picked)
    assert count_volumes() == before - 1
