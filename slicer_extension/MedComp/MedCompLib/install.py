"""Installing what the MedComp module needs into Slicer's Python without replacing anything Slicer ships.

This runs before the library exists, so it imports nothing from ``monai_medcomp`` and nothing from
Slicer or Qt: the standard library only.  The module calls :func:`run_install` with
``slicer.util.pip_install``; the tests call it with a function that runs ``python -m pip install`` into a
folder of their own.

What Slicer 5.10.0 ships (Slicer's source at tag v5.10.0):

- Python 3.12.10 (``CMakeLists.txt``, ``Slicer_REQUIRED_PYTHON_VERSION``);
- numpy 2.0.2 (``SuperBuild/External_python-numpy.cmake``); pydicom 2.4.4, pillow 11.2.1, six 1.17.0,
  dicomweb-client 0.60.0 (``SuperBuild/External_python-dicom-requirements.cmake``); scipy 1.13.1
  (``External_python-scipy.cmake``); setuptools 80.9.0 (``External_python-setuptools.cmake``); a wheel
  package (``External_python-wheel.cmake``).  ``tests/slicer/slicer-5.10-packages.txt`` lists them all.
- ``slicer.util.pip_install(args_list)`` runs ``PythonSlicer -m pip install *args`` and raises
  ``subprocess.CalledProcessError`` when pip fails (``Base/Python/slicer/util.py``, ``logProcessOutput``);
  pip's own messages go to the Python console.

Slicer 5.8.1 ships Python 3.9.10 (``CMakeLists.txt``) and numpy 1.26.4; the library needs Python 3.10 or
later, so Slicer 5.8 is not supported: :func:`unsupported_python_reason` says so before pip is asked.

PyTorch first, from the PyTorch extension only (:func:`ensure_torch`); then two pip steps, in order
(:func:`install_steps`):

(a) the module's third-party requirements (``Resources/requirements.txt``) that are not installed, with a
    constraints file pinning every distribution already installed at its installed version: pip may add
    packages but never upgrade or downgrade Slicer's numpy, pydicom, scipy or pillow, nor the torch that
    the PyTorch extension installed (torch is not a requirement here: it comes only from that extension).
    Skipped when nothing is missing.
(b) the library itself, ``--no-deps --no-index`` from :func:`library_source`: the wheel a built extension
    carries, or the source checkout the module was added from (then ``--no-build-isolation`` too: it
    builds with Slicer's own setuptools and wheel, and never reaches for an index).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Sequence

MINIMUM_PYTHON = (3, 10)
REQUIREMENTS = Path("Resources") / "requirements.txt"
WHEELS = Path("Resources") / "wheels"
LIBRARY = "monai_medcomp"

# The lines requirements.txt may hold: ``name`` or ``name>=version``, an optional ``# comment``.
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
                          r"(?:>=\s*(?P<minimum>[0-9]+(?:\.[0-9]+)*))?$")
# PEP 440 public + local versions (packaging's VERSION_PATTERN); anything else is pinned with ``===``.
_PEP440 = re.compile(r"""^v?(?:(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?
    (?:[-_.]?dev[-_.]?[0-9]*)?)(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$""", re.VERBOSE | re.IGNORECASE)


class InstallError(Exception):
    """The module's dependencies cannot be installed; the message says why and what to look at."""


def unsupported_python_reason(version_info: Sequence[int] = sys.version_info) -> str | None:
    """None when this Python can run the library, else a sentence that says why not and what to do."""
    if tuple(version_info[:2]) >= MINIMUM_PYTHON:
        return None
    found = ".".join(str(part) for part in version_info[:3])
    return (f"MedComp needs 3D Slicer 5.10 or later (Python 3.12); this Slicer runs Python {found}. "
            f"The monai_medcomp library needs Python {MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1]} or later, and "
            "Slicer 5.8 and earlier ship Python 3.9: install Slicer 5.10 or later to use MedComp.")


def library_source(module_dir: str | Path) -> Path:
    """Where the library is installed from: the extension's own wheel, else the source checkout.

    A built extension carries ``Resources/wheels/monai_medcomp-*.whl`` (the newest version is taken if
    there are several); a module added to Slicer from a source checkout finds the checkout two folders
    up (``slicer_extension/MedComp`` -> the repository, holding ``setup.py`` and ``monai_medcomp``).
    """
    module_dir = Path(module_dir).resolve()
    wheels_dir = module_dir / WHEELS
    wheels = sorted(wheels_dir.glob(f"{LIBRARY}-*.whl"), key=_wheel_version)
    if wheels:
        return wheels[-1]
    checkout = module_dir.parent.parent
    if (checkout / "setup.py").is_file() and (checkout / LIBRARY / "__init__.py").is_file():
        return checkout
    raise InstallError(f"cannot find the {LIBRARY} library to install: there is no wheel {LIBRARY}-*.whl in "
                       f"{wheels_dir} (where a built MedComp extension keeps it) and no source checkout with "
                       f"setup.py and {LIBRARY}/__init__.py at {checkout} (where it is when the module was added "
                       "from a checkout). Reinstall the MedComp extension.")


def _wheel_version(path: Path) -> tuple[int, ...]:
    """The numeric release of ``monai_medcomp-1.2.3-py3-none-any.whl`` as (1, 2, 3), to find the newest."""
    version = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
    return tuple(int(part) for part in re.findall(r"[0-9]+", version.split("+")[0]))


def _normalise(name: str) -> str:
    """A distribution name as pip compares it (PEP 503): ``Pylibjpeg_OpenJPEG`` -> ``pylibjpeg-openjpeg``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(requirements_file: str | Path) -> list[tuple[str, tuple[int, ...] | None]]:
    """``(name, minimum release or None)`` for each line of the module's requirements file.

    The file is the module's own and holds only ``name`` or ``name>=X.Y`` lines (comments and blank
    lines aside), so a small parser is enough and nothing outside the standard library is imported
    (pip's vendored ``packaging`` is pip's private business).  Any other line is refused, so a line
    this parser cannot read never silently drops a requirement.
    """
    requirements = []
    for number, line in enumerate(Path(requirements_file).read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT.match(line)
        if match is None:
            raise InstallError(f"{requirements_file}, line {number}: {line!r} is not a 'name' or 'name>=version' "
                               "requirement")
        minimum = match["minimum"]
        requirements.append((match["name"], tuple(int(p) for p in minimum.split(".")) if minimum else None))
    return requirements


def installed_versions() -> dict[str, str]:
    """``{normalised name: version}`` of every distribution this Python can import from.

    When a name is found twice on ``sys.path``, the first one is kept: it is the one ``import`` finds.
    """
    versions: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name, version = distribution.metadata["Name"], distribution.version
        if name and version:
            versions.setdefault(_normalise(name), version)
    return versions


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"v?(?:[0-9]+!)?([0-9]+(?:\.[0-9]+)*)", version)
    return tuple(int(part) for part in match[1].split(".")) if match else ()


def missing_requirements(requirements_file: str | Path) -> list[str]:
    """The requirements of ``requirements_file`` that are not installed, as written (``name>=version``).

    Names are compared the way pip compares them (``-``, ``_``, ``.`` and case do not matter).  A
    requirement installed at a release below its minimum is not missing but in conflict: something else
    in Slicer installed it, and MedComp will not replace it (the constraints of step (a) would refuse it
    anyway), so that is an :class:`InstallError` naming the package.
    """
    installed = installed_versions()
    missing, too_old = [], []
    for name, minimum in read_requirements(requirements_file):
        version = installed.get(_normalise(name))
        if version is None:
            missing.append(name if minimum is None else f"{name}>={'.'.join(map(str, minimum))}")
        elif minimum is not None and _older(_release(version), minimum):
            too_old.append(f"{name} {version} (MedComp needs {'.'.join(map(str, minimum))} or later)")
    if too_old:
        raise InstallError(f"already installed in this Slicer, and too old for MedComp: {'; '.join(too_old)}. "
                           "Another extension may have installed it; MedComp does not replace packages that are "
                           "already installed. Upgrade it from the Python console (slicer.util.pip_install) if "
                           "nothing else needs that version.")
    return missing


def _older(release: tuple[int, ...], minimum: tuple[int, ...]) -> bool:
    """Whether ``release`` comes before ``minimum`` (``2.0`` and ``2.0.0`` are the same release)."""
    length = max(len(release), len(minimum))
    return release + (0,) * (length - len(release)) < minimum + (0,) * (length - len(minimum))


def constraints(versions: dict[str, str] | None = None) -> str:
    """A pip constraints file pinning every installed distribution at its installed version."""
    versions = installed_versions() if versions is None else versions
    lines = [f"{name}{'==' if _PEP440.match(version) else '==='}{version}"
             for name, version in sorted(versions.items())]
    return "\n".join(lines) + "\n"


def _steps(module_dir: Path, constraints_file: Path, offline: bool) -> list[tuple[str, list[str]]]:
    """``(what it installs, pip arguments)`` for each step; the constraints file is written here."""
    steps = []
    missing = missing_requirements(module_dir / REQUIREMENTS)
    if missing:
        constraints_file.write_text(constraints(), encoding="utf-8")
        arguments = ["--constraint", str(constraints_file), *missing]
        steps.append((f"the packages MedComp needs ({', '.join(missing)})",
                      (["--no-index"] if offline else []) + arguments))
    source = library_source(module_dir)
    build = [] if source.suffix == ".whl" else ["--no-build-isolation"]
    steps.append((f"the {LIBRARY} library from {source}", ["--no-deps", "--no-index", *build, str(source)]))
    return steps


@contextlib.contextmanager
def install_steps(module_dir: str | Path, offline: bool = False) -> Iterator[list[tuple[str, list[str]]]]:
    """``(what it installs, pip arguments)`` of steps (a) and (b), valid inside the ``with`` block.

    Step (a)'s constraints file lives in a temporary folder that is removed when the block ends.
    ``offline`` adds ``--no-index`` to step (a) (step (b) never uses an index).
    """
    with tempfile.TemporaryDirectory(prefix="medcomp-install-") as folder:
        yield _steps(Path(module_dir), Path(folder) / "constraints.txt", offline)


def run_install(pip_install: Callable[[list[str]], object], module_dir: str | Path,
                offline: bool = False) -> list[list[str]]:
    """Install what the module needs with ``pip_install`` (``slicer.util.pip_install`` in Slicer).

    Returns the pip argument lists that ran.  Every failure is an :class:`InstallError` whose message
    names the step and says where pip's own messages are: an unsupported Python, a missing library
    source, a conflicting installed package, pip exiting with an error (``CalledProcessError``) or not
    starting at all (``OSError``).
    """
    reason = unsupported_python_reason()
    if reason is not None:
        raise InstallError(reason)
    ran = []
    with install_steps(module_dir, offline) as steps:
        for number, (what, arguments) in enumerate(steps, 1):
            try:
                pip_install(arguments)
            except subprocess.CalledProcessError as error:
                raise InstallError(f"installing {what} failed (step {number} of {len(steps)}: pip exited with status "
                                   f"{error.returncode}). pip's messages in the Python console say why.") from error
            except OSError as error:
                raise InstallError(f"installing {what} failed (step {number} of {len(steps)}): pip could not be "
                                   f"run ({error}). See the Python console.") from error
            ran.append(arguments)
    importlib.invalidate_caches()
    return ran


def ensure_torch(offline: bool = False) -> None:
    """PyTorch from Slicer's PyTorch extension, the one place MedComp takes it from (it matches the GPU driver).

    ``PyTorchUtilsLogic.installTorch(askConfirmation=False)`` returns the torch module or raises: it returns
    None only when it asked and the user declined (SlicerPyTorch, ``PyTorchUtils/PyTorchUtils.py``).  Its
    failures come as pip's ``CalledProcessError``, light-the-torch's import or backend errors.
    """
    try:
        import PyTorchUtils
    except ImportError as error:
        raise InstallError("MedComp takes PyTorch from Slicer's PyTorch extension, which is not installed: install "
                           "\"PyTorch\" from the Extensions Manager, restart Slicer and try again.") from error
    logic = PyTorchUtils.PyTorchUtilsLogic()
    if logic.torchInstalled():
        return
    if offline:
        raise InstallError("PyTorch is not installed, and nothing is downloaded in testing mode: install it with "
                           "the PyTorch Utils module first.")
    try:
        logic.installTorch(askConfirmation=False)
    except (subprocess.CalledProcessError, OSError, ImportError, RuntimeError, ValueError) as error:
        raise InstallError(f"the PyTorch extension could not install PyTorch ({error}); the PyTorch Utils module "
                           "shows what it tried.") from error
