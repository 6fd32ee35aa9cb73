"""MedComp: compress a loaded volume slice by slice with any MedComp codec, see what it cost, read and write .mcz.

The classes here only wire Slicer's widgets, dialogs and dependency installation to ``MedCompLib``,
which holds the logic and runs (and is tested) without the GUI.  The rules of Slicer's own code this
file relies on are listed, with their source, in the project's ``tests/slicer/test_slicer_rules.py``.
"""

import importlib.util
import logging
import os
from typing import Annotated, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from MedCompLib import install
from MedCompLib.mczio import DEFAULT_WRITE_CODEC, FILE_TYPE, MczFileReader, MczFileWriter

TARGET_CHOICES = ["codec default", "quality", "bpp", "psnr", "max_error"]  # MedCompLib.logic.TARGET_CHOICES
DEVICE_CHOICES = ["auto", "cpu", "cuda"]
WRITE_CODEC_SETTING = "MedComp/WriteCodec"
MODULE_DIR = os.path.dirname(os.path.abspath(__file__))


#
# Dependencies: installed on first use, the way Slicer asks (never at import time)
#


def dependenciesPresent() -> bool:
    """Whether monai_medcomp can be imported (checked without importing it: that loads the codecs)."""
    return importlib.util.find_spec("monai_medcomp") is not None


def reportFailure(title: str, message: str) -> None:
    """An error box for the user (only the log in --testing mode, where nobody can close a box)."""
    logging.error("%s %s", title, message)
    if not slicer.app.testingEnabled():
        slicer.util.errorDisplay(f"{title}\n\n{message}")


def ensureDependencies() -> bool:
    """Install what MedComp needs when it is missing; True when the library can be imported.

    PyTorch comes from the PyTorch extension only; the library from this extension's own files; its
    other packages from the package index, never replacing what Slicer already has.  In --testing mode
    nothing is asked and nothing is downloaded.
    """
    if dependenciesPresent():
        return True
    testing = slicer.app.testingEnabled()
    try:
        reason = install.unsupported_python_reason()
        if reason:
            raise install.InstallError(reason)
        if not testing and not slicer.util.confirmOkCancelDisplay(
                "MedComp needs PyTorch (from the PyTorch extension) and its own library with a few packages "
                "(imagecodecs, constriction, ...). Install them now? This may take a few minutes."):
            return False
        with slicer.util.displayPythonShell(not testing):
            install.ensure_torch(offline=testing)
            install.run_install(slicer.util.pip_install, MODULE_DIR, offline=testing)
    except install.InstallError as error:
        reportFailure("MedComp is not ready.", str(error))
        return False
    importlib.invalidate_caches()
    if not dependenciesPresent():
        reportFailure("MedComp is not ready.", "the installation ended, but monai_medcomp still cannot be imported; "
                      "restart Slicer and try again")
        return False
    return True


def savedWriteCodec() -> str:
    """The codec the .mcz writer uses: the last one applied in the module (lossless JPEG-LS until then)."""
    return str(slicer.app.settings().value(WRITE_CODEC_SETTING, DEFAULT_WRITE_CODEC))


#
# MedComp
#


class MedComp(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MedComp"
        self.parent.categories = ["Utilities"]
        self.parent.dependencies = []
        self.parent.contributors = ["MedComp developers"]
        self.parent.helpText = """
Compresses the selected volume slice by slice with a classical or learned MedComp codec (on the GPU when
there is one), shows the reconstruction beside the original with its error map and a table of figures
(bits per voxel, ratio, PSNR, SSIM, max error, times), and saves the result as a .mcz file.
.mcz files load by drag and drop or Add Data like any other volume.
"""
        self.parent.acknowledgementText = """
Built on MONAI, PyTorch, imagecodecs and pydicom.
"""
        slicer.app.connect("startupCompleted()", observeSceneImports)


def observeSceneImports() -> None:
    """Fill the .mcz volumes of every scene opened from now on (Slicer's storage node cannot read them)."""
    slicer.mrmlScene.AddObserver(slicer.mrmlScene.EndImportEvent, onSceneImported)


def onSceneImported(caller, event) -> None:
    if not dependenciesPresent():
        return  # nothing to fill unless a .mcz was saved, which needed the library
    from MedCompLib.mczio import load_mcz_volumes

    failures = load_mcz_volumes(slicer.mrmlScene)
    if failures:
        reportFailure("MedComp could not load every .mcz volume of the scene.", "\n".join(failures))


#
# .mcz in Slicer's Add Data and Save dialogs (Slicer finds these classes by their names)
#


class MedCompFileReader(MczFileReader):
    def load(self, properties):
        return ensureDependencies() and MczFileReader.load(self, properties)


class MedCompFileWriter(MczFileWriter):
    def __init__(self, parent):
        MczFileWriter.__init__(self, parent, codec=savedWriteCodec)

    def write(self, properties):
        return ensureDependencies() and MczFileWriter.write(self, properties)


#
# MedCompParameterNode
#


@parameterNodeWrapper
class MedCompParameterNode:
    """What the panel shows: input, codec and target, device and batch size, and the output nodes.

    ``codec`` is bound to its combo box by hand: its items come from the codec registry, with tooltips.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    codec: str = "jpegls"
    target: Annotated[str, Choice(TARGET_CHOICES)] = "codec default"
    targetValue: Annotated[float, WithinRange(0.0, 100000.0)] = 40.0
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"
    batchSize: Annotated[int, WithinRange(1, 1024)] = 16
    computeSsim: bool = True
    reconstructedVolume: vtkMRMLScalarVolumeNode
    errorVolume: vtkMRMLScalarVolumeNode
    figuresTable: vtkMRMLTableNode


#
# MedCompWidget
#


class MedCompWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._lastOutcome = None
        self._running = False
        self._stopRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedComp.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MedCompLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.saveButton.connect("clicked(bool)", self.onSaveButton)
        self.ui.installButton.connect("clicked(bool)", self.onInstallButton)
        self.ui.codecComboBox.connect("currentIndexChanged(int)", self.onCodecChosen)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)

    def onSceneStartClose(self, caller, event) -> None:
        self._stopRequested = self._running  # a run under way stops at its next slice and adds nothing
        self.setParameterNode(None)
        self._lastOutcome = None

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self._fillCodecList()
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[MedCompParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            self._updateGui()

    def _fillCodecList(self) -> None:
        """The registry's codecs, each with what it can do; filled once the library is installed."""
        self.ui.installButton.visible = not dependenciesPresent()
        if self.ui.codecComboBox.count or not dependenciesPresent():
            return
        wasBlocked = self.ui.codecComboBox.blockSignals(True)
        for name, capabilities, available in self.logic.codecs():
            self.ui.codecComboBox.addItem(name)
            index = self.ui.codecComboBox.count - 1
            note = capabilities if available else f"{capabilities}; not available here (weights or library missing)"
            self.ui.codecComboBox.setItemData(index, note, qt.Qt.ToolTipRole)
        self.ui.codecComboBox.blockSignals(wasBlocked)

    def onCodecChosen(self, index: int) -> None:
        if self._parameterNode and index >= 0:
            self._parameterNode.codec = self.ui.codecComboBox.itemText(index)

    def _showCodec(self) -> None:
        """The combo box shows the parameter node's codec (without writing it back)."""
        wasBlocked = self.ui.codecComboBox.blockSignals(True)
        self.ui.codecComboBox.currentIndex = self.ui.codecComboBox.findText(self._parameterNode.codec)
        self.ui.codecComboBox.blockSignals(wasBlocked)

    def _updateGui(self, caller=None, event=None) -> None:
        """Apply is enabled only for an input and a codec that can run here, and not during a run."""
        if self._parameterNode:
            self._showCodec()
        reason = self.logic.cannotApplyReason(self._parameterNode) if self._parameterNode else "no parameters"
        if self._running:
            reason = "MedComp is already running"
        self.ui.applyButton.enabled = reason is None
        self.ui.applyButton.toolTip = reason or "Compress the input volume and show the reconstruction"
        self.ui.codecInfoLabel.text = self.logic.codecSummary(self._parameterNode.codec) if self._parameterNode else ""
        self.ui.targetValueSpinBox.enabled = bool(self._parameterNode) and self._parameterNode.target != "codec default"
        self.ui.saveButton.enabled = self._lastOutcome is not None and not self._running
        self.ui.figuresTableView.setMRMLTableNode(self._parameterNode.figuresTable if self._parameterNode else None)

    def onInstallButton(self) -> None:
        if ensureDependencies():
            self.initializeParameterNode()

    def onApplyButton(self) -> None:
        if self._running or not ensureDependencies():
            return
        from MedCompLib.jobs import Cancelled

        self._fillCodecList()
        dialog = slicer.util.createProgressDialog(windowTitle="MedComp", labelText="Compressing...", maximum=0,
                                                  windowModality=qt.Qt.ApplicationModal)

        def report(done, total, phase):
            dialog.maximum = total or 0  # 0: busy indicator while a rate-control search runs
            dialog.value = done
            if phase == "cancelling":
                dialog.labelText = "Cancelling: finishing the slices under way..."
            else:
                dialog.labelText = f"{phase.capitalize()}: {done} slices coded" + (f" of {total}" if total else "")
            slicer.app.processEvents()
            return not (dialog.wasCanceled or self._stopRequested)

        self._running, self._stopRequested = True, False
        self._updateGui()
        try:
            with slicer.util.tryWithErrorDisplay("Compression failed.", waitCursor=True):
                outcome = self.logic.process(self._parameterNode, report)
                self._lastOutcome = outcome
                slicer.app.settings().setValue(WRITE_CODEC_SETTING, self._parameterNode.codec)
                slicer.util.setSliceViewerLayers(background=self._parameterNode.inputVolume,
                                                 foreground=outcome.reconstructed_node,
                                                 foregroundOpacity=0.5, fit=True)
        except Cancelled:  # not an Exception: tryWithErrorDisplay shows no box for it
            slicer.util.showStatusMessage("MedComp: cancelled, nothing was added to the scene", 5000)
        except Exception:  # already shown to the user by tryWithErrorDisplay
            logging.exception("MedComp: compression failed")
        finally:
            self._running = False
            dialog.close()
            self._updateGui()

    def onSaveButton(self) -> None:
        path = qt.QFileDialog.getSaveFileName(self.parent, "Save compressed volume", "", "MedComp volume (*.mcz)")
        if not path:
            return
        if not path.lower().endswith(".mcz"):
            path += ".mcz"
        with slicer.util.tryWithErrorDisplay("Saving failed.", waitCursor=True):
            self.logic.save(self._lastOutcome, path)  # the file dialog already confirmed any overwrite
            slicer.util.showStatusMessage(f"MedComp: saved {path}", 5000)


#
# MedCompLogic
#


class MedCompLogic(ScriptedLoadableModuleLogic):
    """The module's entry points for scripts and the panel; the work is in ``MedCompLib.logic``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return MedCompParameterNode(super().getParameterNode())

    @staticmethod
    def codecs():
        """(name, capabilities, available) of every registered codec."""
        from monai_medcomp.codecs import codec_names, get_codec

        return [(name, get_codec(name).capabilities(), get_codec(name).available) for name in codec_names()]

    @staticmethod
    def codecSummary(name: str) -> str:
        """What the codec can do and what its quality setting means ("" before the library is installed)."""
        try:
            from monai_medcomp.codecs import get_codec

            codec = get_codec(name)
        except (ImportError, KeyError):  # not installed yet, or a name the registry does not know
            return ""
        knob = f"; quality setting: {codec.knob.name} ({codec.knob.description})" if codec.knob else ""
        return f"{codec.capabilities()}{knob}"

    @staticmethod
    def cannotApplyReason(parameters) -> Optional[str]:
        """Why Apply cannot run with these parameters, or None when it can."""
        if not parameters.inputVolume:
            return "Select an input volume"
        try:
            from MedCompLib.logic import usable_codec
            from monai_medcomp.errors import MedCompError
        except ImportError:
            return None  # Apply offers to install the dependencies
        try:
            usable_codec(parameters.codec)
        except MedCompError as error:
            return str(error)
        return None

    @staticmethod
    def options(parameters):
        from MedCompLib.logic import CompressionOptions

        return CompressionOptions(codec=parameters.codec, target=parameters.target, value=parameters.targetValue,
                                  device=parameters.device, batch_size=parameters.batchSize,
                                  ssim=parameters.computeSsim)

    def process(self, parameters, report=None):
        """Compress ``parameters.inputVolume``; fill (or create) the output nodes and the figures table."""
        from MedCompLib.logic import compress_node, figure_rows, fill_table

        outcome = compress_node(parameters.inputVolume, self.options(parameters), report,
                                reconstructed_node=parameters.reconstructedVolume,
                                error_node=parameters.errorVolume)
        parameters.reconstructedVolume = outcome.reconstructed_node
        parameters.errorVolume = outcome.error_node
        if not parameters.figuresTable:
            parameters.figuresTable = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "MedComp figures")
        fill_table(parameters.figuresTable, figure_rows(outcome.figures))
        logging.info("MedComp: %s", ", ".join(f"{k}={v}" for k, v in figure_rows(outcome.figures)))
        return outcome

    @staticmethod
    def save(outcome, path: str) -> None:
        from MedCompLib.logic import save_result

        save_result(outcome.result, path, force=True)


#
# MedCompTest
#


class MedCompTest(ScriptedLoadableModuleTest):
    """Slicer's own runner: the logic on a real sample volume in the application's scene.

    Runs offline (``Slicer --testing``): the library is installed from this extension's own files when
    missing, and every codec is named explicitly, so the user's saved choices play no part.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()
        self.assertTrue(ensureDependencies(), "MedComp's dependencies are missing and could not be installed "
                                              "offline; see the log")

    def runTest(self):
        self.setUp()
        self.test_lossless_round_trip_keeps_voxels_and_geometry()
        self.setUp()
        self.test_mcz_reader_and_writer()

    def _sampleNode(self):
        from MedCompLib.nodes import update_node_from_volume
        from monai_medcomp.data import load_sample

        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "MR")
        return update_node_from_volume(node, load_sample("mr_example4d"))

    def test_lossless_round_trip_keeps_voxels_and_geometry(self):
        import numpy as np

        self.delayDisplay("Lossless JPEG-LS on an MR volume")
        logic = MedCompLogic()
        parameters = logic.getParameterNode()
        parameters.inputVolume = self._sampleNode()
        parameters.codec = "jpegls"
        parameters.target = "codec default"
        outcome = logic.process(parameters)
        original = slicer.util.arrayFromVolume(parameters.inputVolume)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(outcome.reconstructed_node), original)
        self.assertFalse(slicer.util.arrayFromVolume(outcome.error_node).any())
        inputMatrix, outputMatrix = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
        parameters.inputVolume.GetIJKToRASMatrix(inputMatrix)
        outcome.reconstructed_node.GetIJKToRASMatrix(outputMatrix)
        np.testing.assert_array_equal(slicer.util.arrayFromVTKMatrix(outputMatrix),
                                      slicer.util.arrayFromVTKMatrix(inputMatrix))
        self.assertEqual(parameters.figuresTable.GetNumberOfRows(), 13)
        self.delayDisplay("Test passed")

    def test_mcz_reader_and_writer(self):
        import numpy as np

        self.delayDisplay("Save as .mcz and load it back")
        node = self._sampleNode()
        path = os.path.join(slicer.app.temporaryPath, "MedCompTest.mcz")
        if os.path.exists(path):
            os.remove(path)
        properties = {"nodeID": node.GetID(), "fileName": path, "codec": "jpegls"}
        self.assertTrue(slicer.app.coreIOManager().saveNodes(FILE_TYPE, properties))
        self.assertEqual(node.GetStorageNode().GetFileName(), path)
        loaded = slicer.util.loadNodeFromFile(path, FILE_TYPE)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(loaded), slicer.util.arrayFromVolume(node))
        self.delayDisplay("Test passed")
