"""Where learned weights live: in the MONAI bundle that owns them, ``bundles/<bundle>/models/model.pt``
(and, for the lossy block codecs, the RGB model ``models/model_rgb.pt`` beside it).

A source checkout (editable install) reads them from the repository's ``bundles/`` folder; a
non-editable ``pip install .`` carries a copy inside the package as ``monai_medcomp/_bundles``.
``MEDCOMP_BUNDLES`` points elsewhere (a downloaded bundle folder, for instance).
Weights are only ever loaded with ``weights_only=True``: a bundle is data, not code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .errors import MissingWeightsError

WEIGHTS_FILE = Path("models") / "model.pt"
RGB_WEIGHTS_FILE = Path("models") / "model_rgb.pt"


def bundle_roots() -> list[Path]:
    """Folders that may hold bundles, most specific first."""
    roots = []
    if os.environ.get("MEDCOMP_BUNDLES"):
        roots.append(Path(os.environ["MEDCOMP_BUNDLES"]))
    package = Path(__file__).resolve().parent
    roots.append(package.parent / "bundles")
    roots.append(package / "_bundles")
    return roots


def bundle_dir(bundle: str) -> Path:
    """The folder of ``bundle`` (e.g. ``"mlp_huffman"``), or :class:`MissingWeightsError` naming it."""
    for root in bundle_roots():
        if (root / bundle).is_dir():
            return root / bundle
    searched = ", ".join(str(r) for r in bundle_roots())
    raise MissingWeightsError(f"bundle {bundle!r} not found (searched {searched})")


def weights_path(bundle: str, weights_file: Path = WEIGHTS_FILE) -> Path:
    """``weights_file`` of ``bundle``, or :class:`MissingWeightsError` naming both."""
    path = bundle_dir(bundle) / weights_file
    if not path.is_file():
        raise MissingWeightsError(f"bundle {bundle!r} has no weights at {weights_file.as_posix()}")
    return path


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_weights(bundle: str, expected_sha256: str | None = None,
                 weights_file: Path = WEIGHTS_FILE) -> tuple[dict[str, Any], str]:
    """Load a bundle's state dict (``weights_file``) safely; check it against the hash a ``.mcz`` file recorded."""
    path = weights_path(bundle, weights_file)
    sha256 = file_sha256(path)
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise MissingWeightsError(f"bundle {bundle!r} weights do not match the file (sha256 {sha256[:12]}..., "
                                  f"file expects {expected_sha256[:12]}...): install the bundle version it was "
                                  "encoded with")
    return read_state(path), sha256


def read_state(path: Path) -> Any:
    """What a ``model.pt`` holds, loaded as data only (``weights_only=True``), or an error naming the file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise MissingWeightsError(f"weights at {path} cannot be loaded: {error}") from None


def state_bytes(state: Any) -> bytes:
    """What a bundle's ``model.pt`` holds (tensors in plain containers, what :func:`load_weights` accepts),
    saved from memory: saving to a file name would record that name inside the archive."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
