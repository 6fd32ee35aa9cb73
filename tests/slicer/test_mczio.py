"""The scripted .mcz reader and writer, driven as Slicer drives them, against a real MRML scene."""

import numpy as np
import pytest
import slicer.util

from MedCompLib.mczio import FILE_TYPE, MczFileReader, MczFileWriter
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
    assert MczFileWriter(SlicerParent(), scene, codec="htj2k").write({"nodeID": node.GetID(), "fileName": str(path)})
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
