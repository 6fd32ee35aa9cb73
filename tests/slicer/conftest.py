"""The Slicer module's logic against a real MRML scene (PyPI's slicer-core), outside the Slicer application."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install -e '.[slicer]')")

MODULE_DIR = Path(__file__).resolve().parents[2] / "slicer_extension" / "MedComp"
sys.path.insert(0, str(MODULE_DIR))


@pytest.fixture
def scene():
    import slicer

    return slicer.vtkMRMLScene()


@pytest.fixture
def add_volume(scene):
    """Put a Volume into the scene as a node of the given class (what loading a file in Slicer gives)."""
    from MedCompLib.nodes import show_default, update_node_from_volume

    def add(volume, node_class="vtkMRMLScalarVolumeNode", name="input"):
        node = update_node_from_volume(scene.AddNewNodeByClass(node_class, name), volume)
        show_default(node)
        return node

    return add


@pytest.fixture
def count_volumes(scene):
    """How many volume nodes the scene holds (to check that a failed run added none)."""
    return lambda: scene.GetNodesByClass("vtkMRMLVolumeNode").GetNumberOfItems()


def geometry(node):
    import slicer.util
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    directions = np.eye(3)
    node.GetIJKToRASDirections(directions)
    return {"ijk_to_ras": slicer.util.arrayFromVTKMatrix(matrix), "spacing": node.GetSpacing(),
            "origin": node.GetOrigin(), "directions": directions,
            "dimensions": node.GetImageData().GetDimensions()}


@pytest.fixture
def assert_same_geometry():
    """Exact equality of IJK-to-RAS, spacing, origin, directions and dimensions of two nodes."""

    def check(node, reference):
        got, expected = geometry(node), geometry(reference)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)

    return check
