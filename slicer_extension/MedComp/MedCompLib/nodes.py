"""MRML volume nodes <-> MedComp Volumes, geometry kept exactly.

MRML keeps a volume's geometry as spacing, origin and IJK-to-RAS directions, the image as a VTK array
indexed ``(k, j, i)``; a Volume keeps the same pixels ``(slices, rows, cols)`` with LPS geometry.  The
two differ only by the sign of the first two world axes, so converting never rounds a number.

What MRML has no place for, the true bit depth (the PSNR peak) and the source file's metadata, rides
along as node attributes, so a volume read from a ``.mcz`` file and written again loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import slicer.util

from monai_medcomp.errors import UnsupportedDataError
from monai_medcomp.volume import Volume

from .nodeclasses import NODE_CLASSES, SCALAR, VECTOR

BITS_STORED_ATTRIBUTE = "MedComp.BitsStored"
METADATA_ATTRIBUTE = "MedComp.Metadata"
LPS_RAS_FLIP = np.array([-1.0, -1.0, 1.0])


def check_node(node: Any) -> str:
    """The node's class if MedComp can code it (grey, label map or RGB volume), else a clear error."""
    if node is None:
        raise UnsupportedDataError("no input volume selected")
    if node.GetClassName() not in NODE_CLASSES:
        raise UnsupportedDataError(f"{node.GetName()} is a {node.GetClassName()}: MedComp codes scalar, label map "
                                   "and RGB vector volumes")
    image = node.GetImageData()
    if image is None:
        raise UnsupportedDataError(f"volume {node.GetName()} holds no image data")
    components = image.GetNumberOfScalarComponents()
    if node.GetClassName() == VECTOR and components != 3:
        raise UnsupportedDataError(f"vector volume {node.GetName()} has {components} components: MedComp codes "
                                   "RGB (3 components) only")
    return node.GetClassName()


def bits_for_values(array: np.ndarray) -> int:
    """The fewest bits that hold every value of ``array`` (two's complement for signed dtypes)."""
    low, high = int(array.min()), int(array.max())
    if array.dtype.kind == "u":
        return max(1, high.bit_length())
    return max(high, -low - 1).bit_length() + 1


def node_bits_stored(node: Any, array: np.ndarray) -> int:
    """The bit depth recorded on the node (from a ``.mcz`` file), else the fewest bits its values need."""
    recorded = node.GetAttribute(BITS_STORED_ATTRIBUTE)
    bits = int(recorded) if recorded else bits_for_values(array)
    return min(bits, array.dtype.itemsize * 8)


def volume_from_node(node: Any) -> Volume:
    """A Volume holding a copy of the node's voxels, its exact geometry, bit depth and metadata."""
    node_class = check_node(node)
    array = np.array(slicer.util.arrayFromVolume(node))
    directions = np.eye(3)
    node.GetIJKToRASDirections(directions)
    metadata = json.loads(node.GetAttribute(METADATA_ATTRIBUTE) or "{}")
    metadata["slicer"] = {"node_class": node_class, "name": node.GetName()}
    return Volume(array, spacing=node.GetSpacing(), origin=np.asarray(node.GetOrigin()) * LPS_RAS_FLIP,
                  direction=directions * LPS_RAS_FLIP[:, np.newaxis], bits_stored=node_bits_stored(node, array),
                  metadata=metadata)


def node_class_for(volume: Volume) -> str:
    """The node class a volume came from when it says so, else grey or RGB by its channels."""
    recorded = volume.metadata.get("slicer", {}).get("node_class")
    if recorded in NODE_CLASSES and (recorded == VECTOR) == (volume.channels == 3):
        return recorded
    return VECTOR if volume.channels == 3 else SCALAR


def set_geometry(node: Any, volume: Volume) -> None:
    """Give ``node`` the Volume's spacing, origin and directions (LPS -> RAS by sign flips only)."""
    node.SetSpacing(*volume.spacing)
    node.SetOrigin(*(np.asarray(volume.origin) * LPS_RAS_FLIP))
    node.SetIJKToRASDirections(volume.direction * LPS_RAS_FLIP[:, np.newaxis])


def update_node_from_volume(node: Any, volume: Volume) -> Any:
    """Give ``node`` the Volume's voxels, geometry, bit depth and metadata; return it."""
    slicer.util.updateVolumeFromArray(node, volume.array)
    set_geometry(node, volume)
    node.SetAttribute(BITS_STORED_ATTRIBUTE, str(volume.bits_stored))
    node.SetAttribute(METADATA_ATTRIBUTE, json.dumps({k: v for k, v in volume.metadata.items() if k != "slicer"}))
    return node


def update_error_node(node: Any, error: np.ndarray, like: Volume) -> Any:
    """Give ``node`` an error array (any signed integer type) on the geometry of ``like``."""
    slicer.util.updateVolumeFromArray(node, error)
    set_geometry(node, like)
    return node


def show_default(node: Any) -> None:
    """Slicer's default display (automatic window/level from the histogram) for a node that has none."""
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()


def _grey_display(node: Any, window: float, level: float, color_node_id: str = "vtkMRMLColorTableNodeGrey") -> None:
    """Attach a display with a fixed window/level: no histogram of a large volume is computed."""
    display = node.GetScene().AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
    display.AutoWindowLevelOff()
    display.SetWindowLevel(window, level)
    display.SetAndObserveColorNodeID(color_node_id)
    node.SetAndObserveDisplayNodeID(display.GetID())


def show_like(node: Any, like: Any) -> None:
    """Display a grey ``node`` with the window/level and colours of ``like``, so the two compare at a glance."""
    shown = like.GetDisplayNode()
    if node.GetDisplayNode() is not None or node.GetClassName() != SCALAR or shown is None:
        return show_default(node)
    _grey_display(node, shown.GetWindow(), shown.GetLevel(), shown.GetColorNodeID() or "vtkMRMLColorTableNodeGrey")


def show_error(node: Any, max_abs_error: int) -> None:
    """Grey error map centred on 0 (mid grey), black and white at -/+ the largest error."""
    if node.GetDisplayNode() is not None or node.GetClassName() != SCALAR:
        return show_default(node)
    _grey_display(node, max(2 * max_abs_error, 1), 0)
