"""Where learned weights live: in the MONAI bundle that owns them, ``bundles/<bundle>/models/model.pt``
(and, for the lossy block codecs, the RGB model ``models/model_rgb.pt`` beside it).

A source checkout (editable install) reads them from the repository's ``bundles/`` folder; a
non-editable ``pip install .`` carries a copy inside the package as ``monai_medcomp/_bundles``.
A folder the user names (:func:`bundles_from`, the CLI's ``--bundles``, or the ``MEDCOMP_BUNDLES``
environment variable, in that order) replaces those: only it is searched, so retrained weights are
never silently swapped for the shipped ones, and a missing file is an error naming the path expected.
The lookup is by the codec's own bundle name only: a name read from a file never becomes a path.
Weights are only ever loaded with ``weights_only=True``: a bundle is data, not code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from .errors import MissingWeightsError

WEIGHTS_FILE = Path("models") / "model.pt"
RGB_WEIGHTS_FILE = Path("models") / "model_rgb.pt"
ENVIRONMENT = "MEDCOMP_BUNDLES"
HOW_TO_CHOOSE = f"--bundles DIR or {ENVIRONMENT}"
SHORT_SHA = 12  # hex digits of a SHA-256 that messages show
LISTED = 8  # names of a folder's contents that a message shows

_chosen: list[Path] = []  # bundles_from() folders, innermost last; process-wide, so engine threads see them


@contextlib.contextmanager
def bundles_from(folder: str | os.PathLike | None) -> Iterator[None]:
    """Resolve every learned codec's weights from ``folder`` alone while the block runs (None: no change).

    Process-wide rather than per thread: the engine decodes on worker threads that must see the same folder.
    """
    if folder is None:
        yield
        return
    _chosen.append(Path(folder))
    try:
        yield
    finally:
        _chosen.pop()


def chosen_root() -> Path | None:
    """The one folder the user named (:func:`bundles_from`, then ``MEDCOMP_BUNDLES``), or None."""
    if _chosen:
        return _chosen[-1]
    return Path(os.environ[ENVIRONMENT]) if os.environ.get(ENVIRONMENT) else None


def bundle_roots() -> list[Path]:
    """Folders that may hold bundles, most specific first: the chosen folder alone, or the shipped ones."""
    chosen = chosen_root()
    if chosen is not None:
        return [chosen]
    package = Path(__file__).resolve().parent
    return [package.parent / "bundles", package / "_bundles"]


def _contents(folder: Path) -> str:
    """What ``folder`` holds, for a message that says why a bundle was not found there."""
    if not folder.is_dir():
        return f"{folder} does not exist"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    shown = ", ".join(names[:LISTED]) + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")
    return f"{folder} holds {shown}" if names else f"{folder} is empty"


def bundle_dir(bundle: str, weights_file: Path = WEIGHTS_FILE) -> Path:
    """The folder of ``bundle`` (e.g. ``"mlp_huffman"``), or :class:`MissingWeightsError` naming the weights
    file expected (``weights_file`` inside it) and what the chosen folder holds instead."""
    roots = bundle_roots()
    for root in roots:
        if (root / bundle).is_dir():
            return root / bundle
    if len(roots) == 1:
        raise MissingWeightsError(f"no weights for bundle {bundle!r}: expected {roots[0] / bundle / weights_file} "
                                  f"({_contents(roots[0])}; a bundle's folder must be named {bundle})")
    searched = ", ".join(str(r) for r in roots)
    raise MissingWeightsError(f"bundle {bundle!r} not found (searched {searched}; choose a folder with "
                              f"{HOW_TO_CHOOSE})")


def weights_path(bundle: str, weights_file: Path = WEIGHTS_FILE) -> Path:
    """``weights_file`` of ``bundle``, or :class:`MissingWeightsError` naming the path expected."""
    path = bundle_dir(bundle, weights_file) / weights_file
    if not path.is_file():
        raise MissingWeightsError(f"bundle {bundle!r} has no weights at {path} ({_contents(path.parent)})")
    return path


def has_weights(bundle: str, weights_file: Path = WEIGHTS_FILE) -> bool:
    """Whether :func:`weights_path` finds ``weights_file`` of ``bundle`` (a codec without them is unavailable)."""
    try:
        weights_path(bundle, weights_file)
    except MissingWeightsError:
        return False
    return True


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Weights:
    """One bundle's weights file as found: what every learned codec records, checks and loads."""

    bundle: str
    path: Path
    sha256: str

    def info(self) -> dict[str, str]:
        """What a ``.mcz`` header records: the bundle's name and the file's SHA-256 (never its path)."""
        return {"name": self.bundle, "sha256": self.sha256}

    def expect(self, recorded: str | bytes, codec: str) -> None:
        """Refuse these weights unless their SHA-256 starts with what a file ``recorded`` (hex or bytes)."""
        recorded = recorded.hex() if isinstance(recorded, bytes) else recorded
        if not recorded or not self.sha256.startswith(recorded.lower()):
            raise MissingWeightsError(
                f"codec {codec!r}: the weights found, {self.path} (sha256 {self.sha256[:SHORT_SHA]}...), are not "
                f"the ones this file was encoded with ({self.bundle} sha256 {recorded[:SHORT_SHA]}...): install the "
                f"bundle it was made with, or name its folder ({HOW_TO_CHOOSE})")

    def state(self) -> Any:
        """The state dict, loaded as data only from the very bytes that were hashed (the file may change)."""
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise MissingWeightsError(f"weights at {self.path} changed while they were being read")
        return read_state(self.path, io.BytesIO(data))


def find_weights(bundle: str, weights_file: Path = WEIGHTS_FILE) -> Weights:
    """The one lookup every learned codec uses: ``weights_file`` of its own ``bundle``, hashed."""
    path = weights_path(bundle, weights_file)
    return Weights(bundle, path, file_sha256(path))


def check_recorded(recorded: Any, own: str | None, codec: str) -> None:
    """A ``.mcz`` header names the bundle it was coded with; only the codec's ``own`` bundle is ever looked up,
    so a header naming another one (or none, for a codec with weights) is refused rather than followed.
    Names only: the weights themselves are hashed once, by the codec that loads them."""
    if own is not None and (not isinstance(recorded, dict) or recorded.get("name") != own):
        name = recorded.get("name") if isinstance(recorded, dict) else recorded
        raise MissingWeightsError(f"this file names weights {name!r}, but codec {codec!r} uses the bundle "
                                  f"{own!r} (damaged or crafted header)")


def load_weights(bundle: str, weights_file: Path = WEIGHTS_FILE) -> tuple[dict[str, Any], str]:
    """A bundle's state dict (``weights_file``), loaded safely, and its SHA-256."""
    weights = find_weights(bundle, weights_file)
    return weights.state(), weights.sha256


def read_state(path: Path, data: BinaryIO | None = None) -> Any:
    """What a ``model.pt`` holds (read from ``data`` if given), loaded as data only (``weights_only=True``), or
    an error naming the file."""
    import torch

    try:
        return torch.load(path if data is None else data, map_location="cpu", weights_only=True)
    except Exception as error:
        raise MissingWeightsError(f"weights at {path} cannot be loaded: {error}") from None


def state_bytes(state: Any) -> bytes:
    """What a bundle's ``model.pt`` holds (tensors in plain containers, what :func:`load_weights` accepts),
    saved from memory: saving to a file name would record that name inside the archive."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
