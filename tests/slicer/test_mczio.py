"""The scripted .mcz reader and writer, driven as Slicer drives them, against a real MRML scene."""

import subprocess
import sys
import textwrap

from pathlib import Path

import numpy as np
import pytest
import slicer.util

import MedCompLib

from MedCompLib.mczio import FILE_TYPE, MczFileReader, MczFileWriter, load_mcz_volumes
from MedCompLib.nodes import BITS_STORED_ATTRIBUTE
from monai_medcomp import api
from monai_medcomp.data import load_sample


class SlicerParent:
    """What qSlicerScriptedFileReader/Writer hand the Python class: node lists and user messages."""

    def __init__(self):
        self.loadedNodes, self.writtenNodes = [], []
        self.messages = slicer.vtkMRMLMessageCollection()

    def userMessages(self):
        return self.messages


@pytest.mark.parametrize("sample, node_class", [
    ("mr_example4d", "vtkMRMLScalarVolumeNode"),
    ("ct_693", "vtkMRMLScalarVolumeNode"),
    ("us_rgb", "vtkMRMLVectorVolumeNode"),
])
def test_write_then_load_gives_the_same_node(sample, node_class, scene, add_volume, assert_same_geometry, tmp_path):
    node = add_volume(load_sample(sample), node_class)
    writer_parent, reader_parent = SlicerParent(), SlicerParent()
    writer, reader = MczFileWriter(writer_parent, scene), MczFileReader(reader_parent, scene)
    assert writer.canWriteObject(node) and writer.fileType() == reader.fileType() == FILE_TYPE
    path = tmp_path / "volume.mcz"

    assert writer.write({"nodeID": node.GetID(), "fileName": str(path)})
    assert writer_parent.writtenNodes == [node.GetID()]
    assert reader.canLoadFile(str(path)) and "*.mcz" in reader.extensions()[0]
    assert reader.load({"fileName": str(path)})

    loaded = scene.GetNodeByID(reader_parent.loadedNodes[0])
    assert loaded.GetName() == "volume" and loaded.GetClassName() == node_class
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), slicer.util.arrayFromVolume(node))
    assert slicer.util.arrayFromVolume(loaded).dtype == slicer.util.arrayFromVolume(node).dtype
    assert_same_geometry(loaded, node)
    assert loaded.GetAttribute(BITS_STORED_ATTRIBUTE) == node.GetAttribute(BITS_STORED_ATTRIBUTE)


def test_writer_uses_the_chosen_codec_and_keeps_label_maps(scene, add_volume, tmp_path):
    labels = load_sample("mr_example4d")
    labels = labels.with_array((labels.array // 200).astype(np.int16))
    node = add_volume(labels, "vtkMRMLLabelMapVolumeNode")
    path = tmp_path / "labels.mcz"
    assert MczFileWriter(SlicerParent(), scene, codec=lambda: "htj2k").write({"nodeID": node.GetID(),
                                                                              "fileName": str(path)})
    assert api.info(path)["codec"] == "htj2k"
    parent = SlicerParent()
    assert MczFileReader(parent, scene).load({"fileName": str(path), "name": "labels again"})
    loaded = scene.GetNodeByID(parent.loadedNodes[0])
    assert loaded.GetClassName() == "vtkMRMLLabelMapVolumeNode" and loaded.GetName() == "labels again"
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), labels.array)


def test_damaged_file_gives_a_clear_error_and_adds_nothing(scene, add_volume, count_volumes, tmp_path, caplog):
    node = add_volume(load_sample("mr_emri_small"))
    path = tmp_path / "damaged.mcz"
    assert MczFileWriter(None, scene).write({"nodeID": node.GetID(), "fileName": str(path)})
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF  # inside the last chunk
    path.write_bytes(bytes(data))
    not_mcz = tmp_path / "notes.mcz"
    not_mcz.write_text("not a MedComp file")
    before = count_volumes()

    for damaged, cause in ((path, "chunk 9 (slices 9-9) checksum mismatch"), (not_mcz, "not a .mcz file")):
        parent = SlicerParent()
        reader = MczFileReader(parent, scene)
        assert reader.load({"fileName": str(damaged)}) is False
        assert damaged.name in reader.error and cause in reader.error
        assert reader.error in caplog.text
        assert parent.messages.GetNumberOfMessages() == 1 and parent.messages.GetNthMessageText(0) == reader.error
        assert parent.loadedNodes == []
    assert count_volumes() == before


def test_writer_asks_for_the_codec_at_every_write(scene, add_volume, tmp_path):
    """Slicer makes the writer once at start-up; the codec picked in the module later must still be used."""
    node = add_volume(load_sample("mr_emri_small"))
    setting = ["jpegls"]
    writer = MczFileWriter(SlicerParent(), scene, codec=lambda: setting[0])
    for codec in ("jpegls", "jpeg2000"):
        setting[0] = codec
        path = tmp_path / f"{codec}.mcz"
        assert writer.write({"nodeID": node.GetID(), "fileName": str(path)})
        assert api.info(path)["codec"] == codec


def test_label_map_is_never_saved_with_a_lossy_codec(scene, add_volume, tmp_path):
    labels = load_sample("mr_example4d")
    node = add_volume(labels.with_array((labels.array // 200).astype(np.int16)), "vtkMRMLLabelMapVolumeNode")
    parent = SlicerParent()
    writer = MczFileWriter(parent, scene, codec=lambda: "jpeg")
    path = tmp_path / "labels.mcz"
    assert writer.write({"nodeID": node.GetID(), "fileName": str(path)}) is False
    assert "label map" in writer.error and "losslessly" in writer.error
    assert parent.messages.GetNumberOfMessages() == 1 and parent.writtenNodes == []
    assert not path.exists()


def test_writer_answers_the_save_dialog_before_the_library_is_installed(tmp_path):
    """canWriteObject runs for every node whenever Save Data opens, before the module installed anything."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["monai_medcomp"] = None  # not installed: any import of it raises ImportError
        sys.path.insert(0, {str(Path(MedCompLib.__file__).parents[1])!r})
        import slicer
        from MedCompLib.mczio import MczFileWriter
        scene = slicer.vtkMRMLScene()
        writer = MczFileWriter(None, scene)
        kinds = [writer.canWriteObject(scene.AddNewNodeByClass(c)) for c in
                 ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode", "vtkMRMLVectorVolumeNode",
                  "vtkMRMLModelNode")]
        print(kinds)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[True, True, True, False]"


def test_scene_saved_with_a_mcz_volume_names_that_file_and_opens_again(scene, add_volume, assert_same_geometry,
                                                                       tmp_path):
    node = add_volume(load_sample("ct_693"))
    path = tmp_path / "ct.mcz"
    assert MczFileWriter(SlicerParent(), scene).write({"nodeID": node.GetID(), "fileName": str(path)})
    scene.SetRootDirectory(str(tmp_path))
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    saved = (tmp_path / "scene.mrml").read_text()
    assert 'fileName="ct.mcz"' in saved and ".nrrd" not in saved

    reopened = slicer.vtkMRMLScene()
    reopened.SetURL(str(tmp_path / "scene.mrml"))
    reopened.Import()  # Slicer's volume storage node cannot read .mcz and says so; the module fills it after
    assert load_mcz_volumes(reopened) == []
    loaded = reopened.GetFirstNodeByName(node.GetName())
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), slicer.util.arrayFromVolume(node))
    assert_same_geometry(loaded, node)

    path.write_bytes(path.read_bytes()[:-40])  # a truncated file is named, and its volume stays empty
    again = slicer.vtkMRMLScene()
    again.SetURL(str(tmp_path / "scene.mrml"))
    again.Import()
    failures = load_mcz_volumes(again)
    assert len(failures) == 1 and "ct.mcz" in failures[0]
