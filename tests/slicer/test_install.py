"""How the MedComp module installs what it needs into Slicer's Python (MedCompLib/install.py), for real.

pip really runs here; it installs only with ``--target`` a temporary folder (never into this venv) and
offline.  The requirements file is checked by running the module's tests against what Slicer 5.10.0 ships
(``make slicer-packages``) with every other dependency of the library made unimportable.
"""

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import slicer.util

from MedCompLib import install
from MedCompLib.install import InstallError

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "slicer_extension" / "MedComp"
REQUIREMENTS = MODULE_DIR / "Resources" / "requirements.txt"
SLICER_PINS = Path(__file__).with_name("slicer-5.10-packages.txt")
SLICER_PACKAGES = REPO / "build" / "slicer-5.10-packages"
ABSENT = "medcomp-test-absent-package"  # a name no index or wheel folder holds


def pip_into(target):
    """``slicer.util.pip_install`` as Slicer 5.10.0 has it (``python -m pip install *args``, raising
    CalledProcessError when pip fails; Base/Python/slicer/util.py), into the folder ``target``."""

    def pip_install(arguments):
        assert type(arguments) is list  # pip_install takes a str or a list, nothing else
        subprocess.run([sys.executable, "-m", "pip", "install", "--target", str(target), *arguments],
                       check=True, cwd=target.parent)

    return pip_install


def fake_module(tmp_path, requirements, wheel=True):
    """A module folder outside any checkout: its own requirements and, when ``wheel``, a (broken) library wheel."""
    module_dir = tmp_path / "extension" / "MedComp"
    (module_dir / "Resources").mkdir(parents=True)
    (module_dir / "Resources" / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    if wheel:
        (module_dir / "Resources" / "wheels").mkdir()
        (module_dir / "Resources" / "wheels" / "monai_medcomp-0.1.0-py3-none-any.whl").write_bytes(b"not a zip")
    return module_dir


@contextlib.contextmanager
def pip_arguments(module_dir, offline=False):
    """The pip argument lists of the install steps, while their constraints file exists."""
    with install.install_steps(module_dir, offline) as steps:
        yield [arguments for _, arguments in steps]


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


# -- step (b): the library itself -----------------------------------------------------------------------------

CHECK_INSTALLED = """
import json, monai_medcomp
from monai_medcomp import weights
from monai_medcomp.codecs import codec_names, get_codec
print(json.dumps({"file": monai_medcomp.__file__, "weights": str(weights.weights_path("learned_lossy")),
                  "unavailable": [name for name in codec_names() if not get_codec(name).available]}))
"""


@pytest.mark.timeout(300)
def test_library_installs_offline_from_the_checkout_and_finds_its_weights(tmp_path):
    assert install.missing_requirements(REQUIREMENTS) == []  # this venv has them all: only step (b) runs
    target = tmp_path / "site"
    ran = install.run_install(pip_into(target), MODULE_DIR, offline=True)
    assert ran == [["--no-deps", "--no-index", "--no-build-isolation", str(REPO)]]
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("MEDCOMP_BUNDLES", None)
    result = subprocess.run([sys.executable, "-c", CHECK_INSTALLED], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert Path(found["file"]).is_relative_to(target), found
    assert Path(found["weights"]).is_relative_to(target), found  # the bundles travel inside the package
    assert found["unavailable"] == []  # every learned codec finds its weights


def test_library_source_is_the_extension_wheel_else_the_checkout(tmp_path):
    assert install.library_source(MODULE_DIR) == REPO
    module_dir = fake_module(tmp_path, [])
    (module_dir / "Resources" / "wheels" / "monai_medcomp-0.10.0-py3-none-any.whl").write_bytes(b"")
    assert install.library_source(module_dir).name == "monai_medcomp-0.10.0-py3-none-any.whl"  # the newest
    with pip_arguments(module_dir) as steps:
        assert steps == [["--no-deps", "--no-index", str(module_dir / "Resources" / "wheels" /
                                                           "monai_medcomp-0.10.0-py3-none-any.whl")]]


def test_missing_library_source_names_both_places(tmp_path):
    module_dir = fake_module(tmp_path, [], wheel=False)
    with pytest.raises(InstallError) as raised:
        install.library_source(module_dir)
    message = str(raised.value)
    assert str(module_dir / "Resources" / "wheels") in message and "monai_medcomp-*.whl" in message
    assert f"at {tmp_path.resolve()} " in message and "setup.py" in message  # the checkout two folders up
    with pytest.raises(InstallError, match="cannot find the monai_medcomp library"):
        install.run_install(pip_into(tmp_path / "site"), module_dir, offline=True)


# -- step (a): the module's requirements, with everything installed pinned ------------------------------------

def test_constraints_pin_every_installed_distribution(tmp_path):
    module_dir = fake_module(tmp_path, [f"{ABSENT}>=1.0", "numpy>=1.0"])
    with pip_arguments(module_dir) as steps:
        (flag, constraints_file, *wanted), library = steps
        assert flag == "--constraint" and wanted == [f"{ABSENT}>=1.0"]
        assert library[:2] == ["--no-deps", "--no-index"]
        lines = Path(constraints_file).read_text(encoding="utf-8").splitlines()
    assert not Path(constraints_file).exists()  # gone with the with-block
    pinned = {name: version.lstrip("=") for name, version in (line.split("==", 1) for line in lines)}
    installed = {}
    for distribution in importlib.metadata.distributions():
        installed.setdefault(normalise(distribution.metadata["Name"]), distribution.version)
    assert pinned == installed
    for name in ("numpy", "scipy", "pydicom", "pillow", "torch", "setuptools"):  # what Slicer and PyTorch bring
        assert pinned[name] == importlib.metadata.version(name)


def test_requirements_already_installed_add_no_step(tmp_path):
    # names spelled as pip allows: any case, "_" or "." for "-"
    module_dir = fake_module(tmp_path, ["# comment", "", "NumPy>=1.0", "pylibjpeg_openjpeg>=2.3", "Scikit.Learn"])
    assert install.missing_requirements(module_dir / "Resources" / "requirements.txt") == []
    with pip_arguments(module_dir) as steps:
        assert len(steps) == 1 and steps[0][0] == "--no-deps"


def test_offline_adds_no_index_to_the_requirements_step(tmp_path):
    module_dir = fake_module(tmp_path, [ABSENT])
    with pip_arguments(module_dir, offline=True) as steps:
        assert steps[0][:2] == ["--no-index", "--constraint"] and steps[0][-1] == ABSENT
    with pip_arguments(module_dir) as steps:
        assert "--no-index" not in steps[0]


def test_an_installed_requirement_too_old_is_named_not_replaced(tmp_path):
    module_dir = fake_module(tmp_path, ["numpy>=999.1"])
    with pytest.raises(InstallError, match=rf"numpy {np.__version__} \(MedComp needs 999.1 or later\)"):
        install.missing_requirements(module_dir / "Resources" / "requirements.txt")


def test_a_requirements_line_the_parser_cannot_read_is_refused(tmp_path):
    module_dir = fake_module(tmp_path, ["numpy<3"])
    with pytest.raises(InstallError, match="line 1: 'numpy<3'"):
        install.missing_requirements(module_dir / "Resources" / "requirements.txt")


# -- failures become InstallError, naming the step ------------------------------------------------------------

def test_pip_failing_on_the_requirements_names_that_step(tmp_path):
    module_dir = fake_module(tmp_path, [f"{ABSENT}>=1.0"])
    with pytest.raises(InstallError) as raised:
        install.run_install(pip_into(tmp_path / "site"), module_dir, offline=True)
    message = str(raised.value)
    assert f"installing the packages MedComp needs ({ABSENT}>=1.0) failed (step 1 of 2" in message
    assert "Python console" in message
    assert isinstance(raised.value.__cause__, subprocess.CalledProcessError)


def test_pip_failing_on_the_library_names_that_step(tmp_path):
    module_dir = fake_module(tmp_path, ["numpy"])  # satisfied: the library is step 1 of 1
    with pytest.raises(InstallError) as raised:
        install.run_install(pip_into(tmp_path / "site"), module_dir, offline=True)
    message = str(raised.value)
    assert "installing the monai_medcomp library from" in message and "step 1 of 1" in message
    assert "monai_medcomp-0.1.0-py3-none-any.whl" in message
    assert isinstance(raised.value.__cause__, subprocess.CalledProcessError)


def test_pip_that_cannot_start_is_an_install_error(tmp_path):
    def pip_install(arguments):
        subprocess.run([str(tmp_path / "no-such-python"), "-m", "pip", "install", *arguments], check=True)

    with pytest.raises(InstallError, match="pip could not be run") as raised:
        install.run_install(pip_install, fake_module(tmp_path, []), offline=True)
    assert isinstance(raised.value.__cause__, OSError)


# -- which Slicer -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("python", [(3, 9, 10), (3, 9, 10, "final", 0)])
def test_python_3_9_is_refused_with_a_sentence(python):
    """Slicer 5.8.1 ships Python 3.9.10 (CMakeLists.txt, Slicer_REQUIRED_PYTHON_VERSION)."""
    reason = install.unsupported_python_reason(python)
    assert reason.startswith("MedComp needs 3D Slicer 5.10 or later (Python 3.12); this Slicer runs Python 3.9.10.")
    assert "Python 3.10 or later" in reason


@pytest.mark.parametrize("python", [(3, 10, 0), (3, 12, 10), sys.version_info])
def test_python_3_10_and_later_are_supported(python):
    """Slicer 5.10.0 ships Python 3.12.10 (CMakeLists.txt, Slicer_REQUIRED_PYTHON_VERSION)."""
    assert install.unsupported_python_reason(python) is None


def slicer_pins():
    """``{normalised name: (version, cmake file)}`` of tests/slicer/slicer-5.10-packages.txt."""
    pins = {}
    for line in SLICER_PINS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)  # (SuperBuild/External_python-[a-z-]+\.cmake)", line)
            assert match, line
            pins[normalise(match[1])] = (match[2], match[3])
    return pins


def test_the_pins_are_slicer_5_10_0s_with_the_file_of_each():
    pins = slicer_pins()
    dicom = "SuperBuild/External_python-dicom-requirements.cmake"
    for name, version, cmake in [("numpy", "2.0.2", "SuperBuild/External_python-numpy.cmake"),
                                 ("pydicom", "2.4.4", dicom), ("pillow", "11.2.1", dicom), ("six", "1.17.0", dicom),
                                 ("dicomweb-client", "0.60.0", dicom),
                                 ("scipy", "1.13.1", "SuperBuild/External_python-scipy.cmake"),
                                 ("setuptools", "80.9.0", "SuperBuild/External_python-setuptools.cmake")]:
        assert pins[name] == (version, cmake)
    assert pins["wheel"][1] == "SuperBuild/External_python-wheel.cmake"


def test_requirements_leave_out_what_slicer_and_the_pytorch_extension_bring():
    names = {normalise(name) for name, _ in install.read_requirements(REQUIREMENTS)}
    assert names and not names & (set(slicer_pins()) | {"torch", "monai-medcomp"})


# -- the requirements file is complete and minimal for the module's code paths --------------------------------

def test_every_registered_codec_runs_through_the_module(add_volume, scene, tmp_path):
    """Apply, Save as .mcz and Add Data with each codec the module offers: the code paths the requirements serve."""
    from MedCompLib.logic import CompressionOptions, compress_node
    from MedCompLib.mczio import MczFileReader, MczFileWriter
    from monai_medcomp.codecs import codec_names, get_codec
    from monai_medcomp.data import load_sample

    mr = load_sample("mr_emri_small")
    node = add_volume(mr.with_array(mr.array[3:5, 16:48, 16:48]))  # small: some learned coders are slow on CPU
    original = mr.array[3:5, 16:48, 16:48]
    for name in codec_names():
        outcome = compress_node(node, CompressionOptions(name, device="cpu"))
        path = tmp_path / f"{name}.mcz"
        parent = types.SimpleNamespace(loadedNodes=[], writtenNodes=[])  # what Slicer's reader/writer object offers
        writer, reader = MczFileWriter(parent, scene), MczFileReader(parent, scene)
        assert writer.write({"nodeID": node.GetID(), "fileName": str(path), "codec": name}), writer.error
        assert reader.load({"fileName": str(path)}), reader.error
        loaded = slicer.util.arrayFromVolume(scene.GetNodeByID(parent.loadedNodes[0]))
        assert loaded.shape == original.shape, name
        if get_codec(name).lossless and outcome.figures["lossless"]:
            np.testing.assert_array_equal(loaded, original, err_msg=name)


def top_level_names(distributions):
    """The top-level import names that only ``distributions`` (normalised names) provide in this venv."""
    providers = {}
    for top, names in importlib.metadata.packages_distributions().items():
        providers.setdefault(top, set()).update(normalise(name) for name in names)
    return {top for top, names in providers.items() if names and names <= distributions}


def with_dependencies(names):
    """``names`` and everything they require in this venv (extras left out; other markers are taken as true,
    which can only allow more, never block more)."""
    found, todo = set(), [normalise(name) for name in names]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra" not in requirement.partition(";")[2]:
                todo.append(normalise(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())[0]))
    return found


def slicer_folder_versions():
    found = importlib.metadata.distributions(path=[str(SLICER_PACKAGES)])
    return {normalise(distribution.metadata["Name"]): distribution.version for distribution in found}


@pytest.mark.timeout(300)
def test_requirements_are_complete_and_minimal_for_the_module(tmp_path):
    """tests/slicer against Slicer 5.10.0's packages with every dependency the module does not install blocked.

    Everything in this venv is blocked except: the requirements and what they require, torch and what it
    requires (the PyTorch extension's), what Slicer ships (``make slicer-packages``, first on PYTHONPATH, with
    what setuptools vendors: pydicom 2.4.4's data manager imports pkg_resources), the test harness (pytest,
    pytest-timeout, slicer-core's MRML and VTK, which Slicer has built in) and pydicom-data (the tests' sample
    images, which the module never loads: its self-test uses nibabel's example4d).
    """
    pins = slicer_pins()
    if slicer_folder_versions() != {name: version for name, (version, _) in pins.items()}:
        pytest.fail(f"{SLICER_PACKAGES} is missing or does not hold {SLICER_PINS.name}: run `make slicer-packages`")
    requirements = {normalise(name) for name, _ in install.read_requirements(REQUIREMENTS)}
    allowed = (with_dependencies(requirements) | with_dependencies(["torch"]) | set(pins)
               | with_dependencies(["pytest", "pytest-timeout"])
               | {"slicer-core", "vtk", "monai-medcomp", "pydicom-data"})
    installed = {normalise(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    slicer_folders = (SLICER_PACKAGES, SLICER_PACKAGES / "setuptools" / "_vendor")  # pkg_resources adds _vendor
    slicer_names = {path.name.partition(".")[0] for folder in slicer_folders for path in folder.iterdir()}
    blocked = sorted(top_level_names(installed - allowed) - slicer_names)
    assert {"matplotlib", "skimage", "hypothesis"} <= set(blocked)  # library dependencies the module must do without

    tests = sorted(str(path.relative_to(REPO)) for path in Path(__file__).parent.glob("test_*.py")
                   if path.name != Path(__file__).name)
    tests.append(f"{Path(__file__).relative_to(REPO)}::test_every_registered_codec_runs_through_the_module")
    report = tmp_path / "imported.json"
    env = {**os.environ, "PYTHONPATH": str(SLICER_PACKAGES), "MEDCOMP_BLOCKED_IMPORTS": ",".join(blocked),
           "MEDCOMP_IMPORTED_REPORT": str(report), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "pytest_timeout", "-p", "no:cacheprovider", "-q",
                             "--basetemp", str(tmp_path / "run"), *tests], cwd=REPO, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    imported = json.loads(report.read_text(encoding="utf-8"))
    modules, by_medcomp = imported["modules"], set(imported["imported_by_medcomp"])
    for name in ("numpy", "pydicom", "pkg_resources", "scipy"):  # Slicer's, not this venv's
        assert Path(modules[name]).is_relative_to(SLICER_PACKAGES), (name, modules[name])
    unused = sorted(name for name in requirements if not top_level_names({name}) & by_medcomp)
    assert unused == [], f"requirements that neither the library nor the module imported on these paths: {unused}"


# -- the extension's CMake, against a stand-in for Slicer ------------------------------------------------------

STUB_CONFIG = """# stand-in for Slicer's SlicerConfig.cmake: only what the MedComp CMake files read
set(Slicer_REQUIRED_PYTHON_VERSION "{python}")
set(Slicer_USE_FILE "${{CMAKE_CURRENT_LIST_DIR}}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${{CMAKE_CURRENT_LIST_DIR}}/empty.cmake")
set(Slicer_EXTENSION_CPACK "${{CMAKE_CURRENT_LIST_DIR}}/empty.cmake")
set(PYTHON_EXECUTABLE "{executable}")
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR lib/Slicer-{version}/qt-scripted-modules)
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR lib/Slicer-{version}/qt-scripted-modules)
"""
# SlicerConfigVersion.cmake.in as Slicer has it: find_package sets Slicer_VERSION_MAJOR/MINOR from PACKAGE_VERSION.
STUB_CONFIG_VERSION = """set(PACKAGE_VERSION "{version}")
if("${{PACKAGE_VERSION}}" VERSION_LESS "${{PACKAGE_FIND_VERSION}}")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
"""
# slicerMacroBuildScriptedModule reduced to what ctkMacroCompilePythonScript does with the files: copy them into
# the module's build folder, then install that whole folder (install(DIRECTORY "<build folder>/" ...)).
STUB_USE_FILE = """macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  set(_destination "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}")
  foreach(file ${MY_SCRIPTS} ${MY_RESOURCES})
    configure_file("${CMAKE_CURRENT_SOURCE_DIR}/${file}" "${_destination}/${file}" COPYONLY)
  endforeach()
  install(DIRECTORY "${_destination}/" DESTINATION "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}"
          COMPONENT RuntimeLibraries USE_SOURCE_PERMISSIONS)
endmacro()
macro(slicer_add_python_unittest)
endmacro()
"""


def stub_slicer(folder, version, python):
    folder.mkdir(parents=True)
    config = STUB_CONFIG.format(python=python, executable=Path(sys.executable).as_posix(), version=version)
    (folder / "SlicerConfig.cmake").write_text(config, encoding="utf-8")
    (folder / "SlicerConfigVersion.cmake").write_text(STUB_CONFIG_VERSION.format(version=version), encoding="utf-8")
    (folder / "UseSlicer.cmake").write_text(STUB_USE_FILE, encoding="utf-8")
    (folder / "empty.cmake").write_text("", encoding="utf-8")
    return folder


def cmake(*arguments, cwd):
    if shutil.which("cmake") is None:
        pytest.fail("cmake is needed to check the extension's build (Debian: apt-get install cmake)")
    return subprocess.run(["cmake", *map(str, arguments)], cwd=cwd, capture_output=True, text=True)


@pytest.mark.timeout(300)
def test_the_built_extension_carries_the_wheel_that_installs_offline(tmp_path):
    slicer_dir = stub_slicer(tmp_path / "slicer-5.10", "5.10", "3.12.10")
    source = REPO / "slicer_extension"
    configured = cmake("-S", source, "-B", tmp_path / "build", f"-DSlicer_DIR={slicer_dir}", cwd=tmp_path)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    built = cmake("--build", tmp_path / "build", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    installed = cmake("--install", tmp_path / "build", "--prefix", tmp_path / "installed", cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    module_dir = tmp_path / "installed" / "lib" / "Slicer-5.10" / "qt-scripted-modules"
    for folder in ("", "MedCompLib"):  # every Python file of the module is listed in MODULE_PYTHON_SCRIPTS
        installed_files = {path.name for path in (module_dir / folder).glob("*.py")}
        assert installed_files == {path.name for path in (MODULE_DIR / folder).glob("*.py")}
    assert (module_dir / "Resources" / "requirements.txt").is_file()
    wheel = install.library_source(module_dir)
    assert wheel.parent == module_dir / "Resources" / "wheels" and wheel.name.startswith("monai_medcomp-")
    ran = install.run_install(pip_into(tmp_path / "site"), module_dir, offline=True)
    assert ran == [["--no-deps", "--no-index", str(wheel)]]
    assert (tmp_path / "site" / "monai_medcomp" / "_bundles").is_dir()  # the weights travel in the wheel


def test_slicer_5_8_stops_the_extension_build_with_a_sentence(tmp_path):
    slicer_dir = stub_slicer(tmp_path / "slicer-5.8", "5.8", "3.9.10")
    configured = cmake("-S", REPO / "slicer_extension", "-B", tmp_path / "build", f"-DSlicer_DIR={slicer_dir}",
                       cwd=tmp_path)
    assert configured.returncode != 0
    message = " ".join(configured.stderr.split())
    assert "MedComp needs 3D Slicer 5.10 or later (Python 3.12): this is Slicer 5.8 (Python 3.9.10)" in message


# -- PyTorch: from the PyTorch extension only -------------------------------------------------------------------

class PyTorchExtension:
    """What SlicerPyTorch's ``PyTorchUtils`` module offers MedComp: ``PyTorchUtilsLogic`` with ``torchInstalled``
    and ``installTorch(askConfirmation=False)``, which returns torch or raises (PyTorchUtils/PyTorchUtils.py)."""

    def __init__(self, installed, failure=None):
        self.calls = []
        extension = self

        class PyTorchUtilsLogic:
            @staticmethod
            def torchInstalled():
                return installed

            def installTorch(self, askConfirmation=False):
                extension.calls.append(askConfirmation)
                if failure is not None:
                    raise failure
                return types.ModuleType("torch")

        self.module = types.ModuleType("PyTorchUtils")
        self.module.PyTorchUtilsLogic = PyTorchUtilsLogic


def test_without_the_pytorch_extension_the_user_is_told_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the extension is not installed
    with pytest.raises(InstallError, match="install \"PyTorch\" from the Extensions Manager"):
        install.ensure_torch()


@pytest.mark.parametrize("installed, offline, calls", [(True, False, []), (False, False, [False])])
def test_torch_comes_from_the_extension_without_a_second_question(monkeypatch, installed, offline, calls):
    extension = PyTorchExtension(installed)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", extension.module)
    install.ensure_torch(offline)
    assert extension.calls == calls  # installed torch is left alone; the module already asked the user once


def test_torch_install_failures_are_install_errors(monkeypatch):
    failing = PyTorchExtension(False, subprocess.CalledProcessError(1, ["ltt", "install", "torch"]))
    monkeypatch.setitem(sys.modules, "PyTorchUtils", failing.module)
    with pytest.raises(InstallError, match="could not install PyTorch"):
        install.ensure_torch()
    offline = PyTorchExtension(False)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", offline.module)
    with pytest.raises(InstallError, match="nothing is downloaded in testing mode"):
        install.ensure_torch(offline=True)
    assert offline.calls == []
