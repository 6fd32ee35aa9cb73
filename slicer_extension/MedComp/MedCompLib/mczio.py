"""``.mcz`` files in Slicer's Add Data and Save dialogs: the logic of the scripted file reader and writer.

Slicer wraps a Python class with ``description``/``fileType``/``extensions``/``canLoadFile``/``load``
(and ``canWriteObject``/``write``) in a ``qSlicerScriptedFileReader``/``Writer``; the module's
``MedCompFileReader``/``MedCompFileWriter`` are these classes.  They take the scene as an argument so
that tests drive them against a real MRML scene outside the application.

The library is imported on first load or save, not at import: Slicer registers readers at startup,
before the module has had a chance to install its dependencies, and asks ``canWriteObject`` of every
node each time the Save Data dialog opens.

A node read from or written to a ``.mcz`` file keeps that file as its storage node's file name, as
Slicer's own ``SlicerScriptedFileReaderWriterTest`` does for its custom extension: a scene saved in the
same pass then names the file that was written, not a default ``.nrrd`` that never was.  Slicer's
volume storage node cannot read ``.mcz``, so when such a scene is opened :func:`load_mcz_volumes`
fills those volumes from their files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from .nodeclasses import NODE_CLASSES

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
            remember_file(node, path)
        except Exception:
            self.scene.RemoveNode(node)
            raise
        if self.parent is not None:
            self.parent.loadedNodes = [node.GetID()]
        return True


class MczFileWriter:
    """Saves a scalar, label map or RGB volume node as ``.mcz`` with the codec ``codec()`` names at that moment.

    ``codec`` is asked at every write (the module passes its "last codec used" setting), because Slicer
    makes the writer once at start-up.  A label map is only written with a lossless codec.
    """

    def __init__(self, parent: Any = None, scene: Any = None, codec: Callable[[], str] = lambda: DEFAULT_WRITE_CODEC):
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
        return obj is not None and obj.GetClassName() in NODE_CLASSES

    def write(self, properties: dict[str, Any]) -> bool:
        """Slicer's save dialog has already asked before replacing a file, so the write may overwrite."""
        from monai_medcomp import api
        from monai_medcomp.codecs import get_codec
        from monai_medcomp.errors import MedCompError

        from .logic import CompressionOptions, check_label_map
        from .nodes import volume_from_node

        node = self.scene.GetNodeByID(properties["nodeID"])
        path = Path(properties["fileName"])
        codec = properties.get("codec") or self.codec()
        try:
            check_label_map(node.GetClassName(), get_codec(codec), CompressionOptions(codec))
            api.compress(volume_from_node(node), path, codec=codec, force=True)
        except (MedCompError, OSError) as error:
            self.error = report_failure(self.parent, f"cannot save {node.GetName()}: {error}")
            return False
        remember_file(node, path)
        if self.parent is not None:
            self.parent.writtenNodes = [node.GetID()]
        return True


def remember_file(node: Any, path: Path) -> None:
    """Make ``path`` the node's storage file, so a scene saved with the node names the ``.mcz`` file."""
    if node.GetStorageNode() is None:
        node.AddDefaultStorageNode()
    node.GetStorageNode().SetFileName(str(path))


def load_mcz_volumes(scene: Any) -> list[str]:
    """Fill every volume of a just-opened scene whose storage file is a ``.mcz``; return what failed.

    Slicer's volume storage node tried and failed to read those files (it logs that); the library
    decodes them here, checksums and all.  A file that fails is named in the returned messages and its
    node is left empty, as Slicer leaves a volume whose file it cannot read.
    """
    from monai_medcomp import api
    from monai_medcomp.errors import MedCompError

    from .nodes import update_node_from_volume

    failures = []
    volumes = scene.GetNodesByClass("vtkMRMLVolumeNode")
    for index in range(volumes.GetNumberOfItems()):
        node = volumes.GetItemAsObject(index)
        storage = node.GetStorageNode()
        file_name = storage.GetFileName() if storage is not None else None
        if not file_name or Path(file_name).suffix.lower() != ".mcz" or node.GetClassName() not in NODE_CLASSES:
            continue
        try:
            update_node_from_volume(node, api.decompress(file_name))
        except (MedCompError, OSError) as error:
            failures.append(report_failure(None, f"cannot load {node.GetName()} from {file_name}: {error}"))
    return failures
