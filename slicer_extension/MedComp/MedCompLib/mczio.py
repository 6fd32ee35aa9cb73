"""``.mcz`` files in Slicer's Add Data and Save dialogs: the logic of the scripted file reader and writer.

Slicer wraps a Python class with ``description``/``fileType``/``extensions``/``canLoadFile``/``load``
(and ``canWriteObject``/``write``) in a ``qSlicerScriptedFileReader``/``Writer``; the module's
``MedCompFileReader``/``MedCompFileWriter`` are these classes.  They take the scene as an argument so
that tests drive them against a real MRML scene outside the application.

The library is imported on first load or save, not at import: Slicer registers readers at startup,
before the module has had a chance to install its dependencies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

FILE_TYPE = "MedCompVolumeFile"
DESCRIPTION = "MedComp compressed volume"
EXTENSIONS = [f"{DESCRIPTION} (*.mcz)"]
DEFAULT_WRITE_CODEC = "jpegls"  # lossless: saving must not change the voxels unless the user asks


def _default_scene() -> Any:
    import slicer

    return slicer.mrmlScene


def report_failure(parent: Any, message: str) -> str:
    """Slicer shows a reader's or writer's user messages in its error dialog; the log keeps them too."""
    logging.error(message)
    messages = getattr(parent, "userMessages", None)
    if callable(messages):
        import vtk

        messages().AddMessage(vtk.vtkCommand.ErrorEvent, message)
    return message


class MczFileReader:
    """Loads a ``.mcz`` file as a volume node of the kind it was saved from, with its geometry."""

    def __init__(self, parent: Any = None, scene: Any = None):
        self.parent = parent
        self.scene = scene if scene is not None else _default_scene()
        self.error = ""

    def description(self) -> str:
        return DESCRIPTION

    def fileType(self) -> str:
        return FILE_TYPE

    def extensions(self) -> list[str]:
        return EXTENSIONS

    def canLoadFile(self, filePath: str) -> bool:
        return Path(filePath).suffix.lower() == ".mcz"

    def load(self, properties: dict[str, Any]) -> bool:
        """Decode the whole file first; only a volume that decoded cleanly becomes a node."""
        from monai_medcomp import api
        from monai_medcomp.errors import MedCompError

        from .nodes import node_class_for, show_default, update_node_from_volume

        path = Path(properties["fileName"])
        try:
            volume = api.decompress(path)
        except (MedCompError, OSError) as error:
            self.error = report_failure(self.parent, str(error))  # the library's message names the file
            return False
        name = properties.get("name") or path.name[: -len(path.suffix)]
        node = self.scene.AddNewNodeByClass(node_class_for(volume), self.scene.GenerateUniqueName(name))
        try:
            update_node_from_volume(node, volume)
            show_default(node)
        except Exception:
            self.scene.RemoveNode(node)
            raise
        if self.parent is not None:
            self.parent.loadedNodes = [node.GetID()]
        return True


class MczFileWriter:
    """Saves a scalar, label map or RGB volume node as ``.mcz`` with ``codec`` (lossless JPEG-LS by default)."""

    def __init__(self, parent: Any = None, scene: Any = None, codec: str = DEFAULT_WRITE_CODEC):
        self.parent = parent
        self.scene = scene if scene is not None else _default_scene()
        self.codec = codec
        self.error = ""

    def description(self) -> str:
        return DESCRIPTION

    def fileType(self) -> str:
        return FILE_TYPE

    def extensions(self, obj: Any) -> list[str]:
        return EXTENSIONS

    def canWriteObject(self, obj: Any) -> bool:
        from .nodes import NODE_CLASSES

        return obj is not None and obj.GetClassName() in NODE_CLASSES

    def write(self, properties: dict[str, Any]) -> bool:
        """Slicer's save dialog has already asked before replacing a file, so the write may overwrite."""
        from monai_medcomp import api
        from monai_medcomp.errors import MedCompError

        from .nodes import volume_from_node

        node = self.scene.GetNodeByID(properties["nodeID"])
        path = Path(properties["fileName"])
        codec = properties.get("codec") or self.codec
        try:
            api.compress(volume_from_node(node), path, codec=codec, force=True)
        except (MedCompError, OSError) as error:
            self.error = report_failure(self.parent, f"cannot save {node.GetName()}: {error}")
            return False
        if self.parent is not None:
            self.parent.writtenNodes = [node.GetID()]
        return True
