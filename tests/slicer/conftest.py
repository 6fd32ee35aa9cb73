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


# An import blocker for the requirements check in test_install.py: with MEDCOMP_BLOCKED_IMPORTS set to
# top-level module names separated by commas, those modules cannot be found in this test run, as in a
# Slicer where the module never installed them.  It is in place before any test module imports the
# library; a blocked module that something imported even earlier (a pytest plugin) fails the run.

import os  # noqa: E402

BLOCKED_IMPORTS_VARIABLE = "MEDCOMP_BLOCKED_IMPORTS"


class WithoutBlocked:
    """A ``sys.meta_path`` finder that finds nothing under the blocked top-level names.

    Every finder is wrapped, so a blocked module looks absent exactly as an uninstalled one does:
    ``import`` raises ModuleNotFoundError and ``importlib.util.find_spec`` returns None (torch probes
    optional packages that way).
    """

    def __init__(self, finder, names):
        self.finder, self.names = finder, names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            return None
        return self.finder.find_spec(fullname, path, target)

    def __getattr__(self, name):  # invalidate_caches, find_distributions, ...
        return getattr(self.finder, name)


def install_import_blocker(names):
    """Block ``names`` from now on; refuse when one of them is imported already."""
    names = frozenset(names)
    already = sorted(name for name in names if name in sys.modules)
    if already:
        raise RuntimeError(f"{BLOCKED_IMPORTS_VARIABLE}: {', '.join(already)} imported before the blocker "
                           "(by a pytest plugin?); disable that plugin with -p no:NAME")
    sys.meta_path[:] = [WithoutBlocked(finder, names) if hasattr(finder, "find_spec") else finder
                        for finder in sys.meta_path]


if os.environ.get(BLOCKED_IMPORTS_VARIABLE):
    install_import_blocker(name for name in os.environ[BLOCKED_IMPORTS_VARIABLE].split(",") if name)


# With MEDCOMP_IMPORTED_REPORT set to a file name, the run writes there (JSON) the file of every top-level
# module it imported, and which top-level names the library or the module's own code imported by name (an
# ``import`` statement in monai_medcomp or MedCompLib): test_install.py checks from that that each requirement
# is one the module's code paths import, not one only some other package tries optionally.

IMPORTED_REPORT_VARIABLE = "MEDCOMP_IMPORTED_REPORT"
MEDCOMP_PACKAGES = ("monai_medcomp", "MedCompLib")
imported_by_medcomp = set()


def record_imports():
    """Wrap ``__import__`` to note the absolute imports made by code in MEDCOMP_PACKAGES."""
    import builtins

    original = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals and str(globals.get("__name__", "")).partition(".")[0] in MEDCOMP_PACKAGES:
            imported_by_medcomp.add(name.partition(".")[0])
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = recording_import


def write_imported_report(report):
    import json

    modules = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items()) if "." not in name}
    Path(report).write_text(json.dumps({"modules": modules, "imported_by_medcomp": sorted(imported_by_medcomp)},
                                       indent=1, sort_keys=True), encoding="utf-8")


if os.environ.get(IMPORTED_REPORT_VARIABLE):
    import atexit

    record_imports()
    atexit.register(write_imported_report, os.environ[IMPORTED_REPORT_VARIABLE])  # once the whole run is over
