"""The module against the rules of Slicer's own code that it relies on.

Slicer cannot run here, so each rule is stated as Slicer's source states it (tag v5.10.0, the oldest
release the module supports; the same code in v5.8.1 unless noted) and the module's files are checked
against it: the parameter class and the panel's ``.ui`` (read, not imported: ``MedComp.py`` needs the
Slicer application), the scripted reader and writer classes, and the error and progress helpers.
"""

import ast
import inspect
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import slicer

import MedCompLib
from MedCompLib import install
from MedCompLib.jobs import Cancelled
from MedCompLib.mczio import MczFileReader, MczFileWriter
from MedCompLib.nodeclasses import NODE_CLASSES

MODULE_DIR = Path(MedCompLib.__file__).resolve().parents[1]
MODULE = ast.parse((MODULE_DIR / "MedComp.py").read_text(encoding="utf-8"))
UI = ElementTree.parse(MODULE_DIR / "Resources" / "UI" / "MedComp.ui")


def module_class(name):
    return next(node for node in MODULE.body if isinstance(node, ast.ClassDef) and node.name == name)


def parameters():
    """``{name: (type name, [annotation names])}`` of MedCompParameterNode, e.g. ``("float", ["WithinRange"])``."""
    found = {}
    for statement in module_class("MedCompParameterNode").body:
        if isinstance(statement, ast.AnnAssign):
            annotation = statement.annotation
            if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Annotated":
                base, *extras = annotation.slice.elts
                found[statement.target.id] = (ast.unparse(base), [ast.unparse(extra.func) for extra in extras])
            else:
                found[statement.target.id] = (ast.unparse(annotation), [])
    return found


def ui_property(widget, name):
    element = widget.find(f"property[@name='{name}']")
    return None if element is None else element[0].text


def bound_widgets():
    """``{parameter name: (widget class, widget element)}`` of every widget with a SlicerParameterName."""
    return {ui_property(widget, "SlicerParameterName"): (widget.get("class"), widget)
            for widget in UI.iter("widget") if ui_property(widget, "SlicerParameterName")}


def test_every_bound_widget_names_a_parameter():
    """wrapper.py ``connectGui``: widgets are matched to parameters by their SlicerParameterName property."""
    assert set(bound_widgets()) <= set(parameters())


def test_combo_boxes_bound_to_strings_carry_a_choice():
    """guiConnectors.py ``QComboBoxToStringableConnector.create``: a QComboBox bound to a str, int, float or
    bool without a ``Choice`` annotation raises RuntimeError, so connectGui fails in setup() and enter()."""
    for name, (widget_class, _) in bound_widgets().items():
        type_name, annotations = parameters()[name]
        if widget_class in ("QComboBox", "ctkComboBox") and type_name in ("str", "int", "float", "bool"):
            assert "Choice" in annotations, f"{name} is bound to a {widget_class} without Choice"


def test_the_codec_list_is_bound_by_hand():
    """guiConnectors.py ``QComboBoxToStringableConnector.__init__`` clears the combo box and refills it with
    the Choice items as plain text: the registry's codec list and its tooltips would be lost.  The codec
    combo box is therefore not bound by name; the widget connects its signal itself."""
    codec_box = next(widget for widget in UI.iter("widget") if widget.get("name") == "codecComboBox")
    assert ui_property(codec_box, "SlicerParameterName") is None
    assert parameters()["codec"] == ("str", [])
    connected = [ast.unparse(call) for call in ast.walk(module_class("MedCompWidget")) if isinstance(call, ast.Call)
                 and ast.unparse(call.func) == "self.ui.codecComboBox.connect"]
    assert connected, "the codec combo box is connected to nothing"


@pytest.mark.parametrize("widget_types", [("QSpinBox", "QSlider"), ("QDoubleSpinBox", "ctkDoubleSpinBox")])
def test_spin_boxes_are_bounded(widget_types):
    """guiConnectors.py ``QSliderOrSpinBoxToIntConnector.__init__`` and
    ``QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector.__init__``: without ``WithinRange`` (or both
    ``Minimum`` and ``Maximum``) the connector sets the range to -2**31..2**31-1 or -inf..+inf, replacing the
    ``.ui``'s own."""
    for name, (widget_class, _) in bound_widgets().items():
        if widget_class in widget_types:
            _, annotations = parameters()[name]
            assert "WithinRange" in annotations or {"Minimum", "Maximum"} <= set(annotations), name


@pytest.mark.parametrize("parameter", ["inputVolume", "reconstructedVolume", "errorVolume"])
def test_volume_selectors_list_every_kind_of_volume_medcomp_codes(parameter):
    """guiConnectors.py ``qMRMLNodeComboBoxToNodeConnector.__init__`` sets ``nodeTypes`` from the parameter's
    annotation; whether subclasses are listed stays the ``.ui``'s ``showChildNodeTypes``.  Label maps and RGB
    volumes must be listed, or the combo box shows "(create new)" while the parameter holds a hidden node."""
    widget_class, widget = bound_widgets()[parameter]
    assert widget_class == "qMRMLNodeComboBox"
    type_name, _ = parameters()[parameter]
    children_shown = ui_property(widget, "showChildNodeTypes") == "true"
    annotated = getattr(slicer, type_name)
    for node_class in NODE_CLASSES:
        listed = node_class == type_name or (children_shown and issubclass(getattr(slicer, node_class), annotated))
        assert listed, f"{node_class} is not listed by the {parameter} selector"


READER_METHODS = {"description": 0, "fileType": 0, "extensions": 0, "load": 1}
WRITER_METHODS = {"description": 0, "fileType": 0, "extensions": 1, "write": 1}


@pytest.mark.parametrize("role, base, methods, either", [
    ("FileReader", MczFileReader, READER_METHODS, ("canLoadFile", "canLoadFileConfidence")),
    ("FileWriter", MczFileWriter, WRITER_METHODS, ("canWriteObject", "canWriteObjectConfidence")),
])
def test_scripted_reader_and_writer_are_found_and_called(role, base, methods, either):
    """qSlicerScriptedFileReader.cxx / qSlicerScriptedFileWriter.cxx (Base/QTCore) ``setPythonSource``: the class
    is the module file's name + "FileReader" / "FileWriter", made with one argument (the C++ object);
    ``declareMethod`` lists the methods called by name, each with the arguments counted here (one file path
    for canLoadFile, one node for canWriteObject and the writer's extensions, one property map for load
    and write).  A missing method falls back to the default silently, so a typo is never reported."""
    declared = module_class(f"MedComp{role}")
    assert [ast.unparse(b) for b in declared.bases] == [base.__name__]
    overridden = {f.name: len(f.args.args) - 1 for f in declared.body if isinstance(f, ast.FunctionDef)}
    for method, arguments in {**methods, either[0]: 1}.items():
        count = overridden.get(method, len(inspect.signature(getattr(base, method)).parameters) - 1)
        assert count == arguments, f"{role}.{method} takes {count} arguments"
    if "__init__" in overridden:
        assert overridden["__init__"] == 1
    else:
        _, parent, *rest = inspect.signature(base.__init__).parameters.values()
        assert all(p.default is not inspect.Parameter.empty for p in rest)


def test_the_writer_asks_for_its_codec_when_it_writes():
    """qSlicerScriptedLoadableModule.cxx ``registerIO``: the writer object is made once, at module set-up;
    a codec read in ``__init__`` would stay the start-up one for the whole session."""
    init = next(f for f in module_class("MedCompFileWriter").body if isinstance(f, ast.FunctionDef)
                and f.name == "__init__")
    call = next(c for c in ast.walk(init) if isinstance(c, ast.Call) and ast.unparse(c.func).endswith("__init__"))
    codec = next(keyword.value for keyword in call.keywords if keyword.arg == "codec")
    assert isinstance(codec, ast.Name), "the writer must get a function to call at write time, not a value"


def test_cancel_is_not_reported_as_an_error():
    """util.py ``tryWithErrorDisplay``: every ``Exception`` raised in its block is shown in an error box
    (then re-raised).  Cancel is the user's choice, not a failure."""
    assert not issubclass(Cancelled, Exception)


def test_the_progress_dialog_is_modal():
    """util.py ``createProgressDialog`` makes a QProgressDialog that is modeless unless asked (it sets only
    minimumDuration, maximum, value, title and label, then the keyword arguments given): without
    ``windowModality`` the panel stays live during a run (a second Apply, a changed input)."""
    calls = [c for c in ast.walk(module_class("MedCompWidget")) if isinstance(c, ast.Call)
             and ast.unparse(c.func) == "slicer.util.createProgressDialog"]
    assert calls and all("windowModality" in {k.arg for k in c.keywords} for c in calls)


@pytest.mark.parametrize("slicer_release, python, supported", [
    ("5.8.1", (3, 9, 10), False),
    ("5.10.0", (3, 12, 10), True),
])
def test_supported_slicer_releases_follow_their_python(slicer_release, python, supported):
    """CMakeLists.txt ``Slicer_REQUIRED_PYTHON_VERSION``: 3.9.10 in v5.8.1, 3.12.10 in v5.10.0."""
    reason = install.unsupported_python_reason(python)
    assert (reason is None) == supported
    if not supported:
        assert "5.10" in reason and "3.9" in reason


def test_the_self_test_checks_its_installation_and_names_its_codecs():
    """A self-test (``Slicer --testing``) must fail when the installation did not happen, and must not
    depend on the user's saved write codec (Reload and Test runs in the user's own settings)."""
    test_class = module_class("MedCompTest")
    source = ast.unparse(test_class)
    assert "self.assertTrue(ensureDependencies()" in source
    save_calls = [c for c in ast.walk(test_class) if isinstance(c, ast.Call) and ast.unparse(c.func).endswith("saveNodes")]
    for call in save_calls:
        properties = next(n for n in ast.walk(test_class) if isinstance(n, ast.Assign)
                          and ast.unparse(n.targets[0]) == ast.unparse(call.args[1]))
        assert "'codec'" in ast.unparse(properties.value)
