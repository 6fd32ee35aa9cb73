"""Whole archives: every series of a folder tree or a PACS, coded on Dask, verified, recorded in a manifest.

``medcomp archive SOURCE DEST`` (:mod:`.cli`) and :func:`archive` find the series of the source
(:mod:`.sources`: DICOM headers of a folder tree, or QIDO-RS), claim each one in an SQLite manifest
(:mod:`.manifest`), run one Dask task per series (:mod:`.task`: fetch, code through ``api.compress``
(:mod:`.job`), decode and verify (:mod:`.verify`), put in place (:mod:`.destinations`: a folder or STOW-RS)),
and record each result.  The manifest, not the workers, is the truth of what is archived; :mod:`.report`
reads it back.

The names below are imported on first use, as the package's own, so that ``medcomp`` builds its parser from
:mod:`.cli` without importing the codecs or Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"archive": "runner", "Job": "job", "Filters": "sources", "Report": "report"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
