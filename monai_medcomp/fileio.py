"""Writing outputs safely: all or nothing, never over an input, never over a file without ``force``."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .errors import MedCompError, OutputExistsError

MAX_NAME_BYTES = 255  # the longest file name common file systems store
# Names Windows reserves for devices whatever their extension (CON.dcm opens the console, not a file).
WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", "conin$", "conout$"}
                            | {f"{port}{n}" for port in ("com", "lpt") for n in "123456789\u00b9\u00b2\u00b3"})
_UNSAFE_CHARACTERS = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
# Our temporary files and folders: ``.<target name>.medcomp-<process id>-<random>`` and a suffix.
TEMPORARY_MARK = ".medcomp-"
_TEMPORARY_NAME = re.compile(rf"\..+{re.escape(TEMPORARY_MARK)}(?P<pid>[0-9]+)-[a-z0-9_]{{8}}(\..*)?")


def safe_file_name(name: object) -> str | None:
    """``name`` if it is a bare file name that is safe to create on any common system, else ``None``.

    Names stored in a file (DICOM file names in a .mcz, entries of a zip) may come from anyone: a
    separator, ``..``, an absolute path, a device name, a control character or a leading dot (our
    hidden temporary files) would write somewhere the user did not ask for.
    """
    if not isinstance(name, str) or name in ("", ".", "..") or name.startswith("."):
        return None
    if _UNSAFE_CHARACTERS.search(name) or name.endswith((" ", ".")):  # Windows drops a trailing dot or space
        return None
    try:
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            return None
    except UnicodeEncodeError:  # a lone surrogate from JSON text
        return None
    if name.split(".")[0].rstrip(" ").casefold() in WINDOWS_DEVICES:
        return None
    return name


def paths_inside(folder: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """``folder / name`` for every name, after checking that each one resolves inside ``folder``.

    Called with all the names before the first file is written, so an unsafe name stops the whole write.
    """
    root = Path(folder).resolve()
    paths = [Path(folder) / name for name in names]
    for name, path in zip(names, paths):
        if path.resolve().parent != root:
            raise MedCompError(f"refusing to write {name!r}: it would lie outside the output folder {folder}")
    return paths


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; make sure the parent folder exists."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output {path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    return path


def check_outputs(paths: Iterable[str | os.PathLike | None], force: bool = False) -> None:
    """Refuse before any work starts, rather than after a long run, when an output would be overwritten
    (``None`` entries: outputs not asked for)."""
    for path in paths:
        if path is not None:
            check_output(path, force)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_affixes(target: Path) -> dict[str, str]:
    """``prefix``/``suffix``/``dir`` for ``tempfile`` naming a temporary beside ``target`` in our own pattern
    (the process id in it tells a later run whether its writer is gone); the suffix keeps ``target``'s,
    since nibabel and ITK choose the format by it."""
    return {"prefix": f".{target.name}{TEMPORARY_MARK}{os.getpid()}-",
            "suffix": "".join(target.suffixes) or ".tmp", "dir": str(target.parent)}


def _process_alive(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return True  # no portable check elsewhere: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or no pid at all: keep the file
        pass
    return True


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporaries that a killed MedComp process left in ``folder`` (our naming, dead process
    id); anything else, and those of processes still running, stay."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if match is None or _process_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def make_temporary_folder(target: Path) -> Path:
    """An empty folder beside ``target``, in our temporary naming, with the mode a new folder gets
    (``mkdtemp``'s 0700 would make a written series private)."""
    folder = Path(tempfile.mkdtemp(**temporary_affixes(target)))
    os.chmod(folder, 0o777 & ~_current_umask())
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Libraries that insist on writing to a file name (nibabel, pydicom, itk) write to the temporary
    path, so a failure or an interrupt never leaves half a file under the real name.
    """
    target = check_output(path, force)
    fd, tmp = tempfile.mkstemp(**temporary_affixes(target))
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_current_umask())  # mkstemp's 0600 would make every output private
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` all at once (temporary file + rename)."""
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(data)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None], force: bool = False) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` only when it returns."""
    with atomic_path(path, force) as tmp:
        writer(tmp)
