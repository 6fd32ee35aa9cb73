"""Writing outputs safely: all or nothing, never over an input, never over a file without ``force``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import OutputExistsError


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; make sure the parent folder exists."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"output {path} already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Libraries that insist on writing to a file name (nibabel, pydicom, itk) write to the temporary
    path, so a failure or an interrupt never leaves half a file under the real name.
    """
    target = check_output(path, force)
    suffix = "".join(target.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
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
