"""What the training loops learn from: the sample catalogue's training pool, or a folder of the user's images.

Both come as ``(label, Volume)`` pairs, loaded one at a time so that a large pool never sits in
memory at once; the label names the image in the training record.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

from ..data import training_images
from ..errors import MedCompError
from ..io import read_volume
from ..volume import Volume

logger = logging.getLogger(__name__)


def pool_volumes() -> Iterator[tuple[str, Volume]]:
    """The training pool (``monai_medcomp.data.training_images()``; never an evaluation image)."""
    for sample in training_images():
        yield f"{sample.name} ({sample.source} {sample.filename})", sample.load()


def folder_volumes(folder: str | os.PathLike) -> Iterator[tuple[str, Volume]]:
    """Every NIfTI or DICOM file (or DICOM series folder) in ``folder``, sorted by name; unreadable ones are
    logged and skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MedCompError(f"dataset_dir {folder} is not a folder")
    for path in sorted(folder.iterdir()):
        try:
            volume = read_volume(path)
        except MedCompError as error:
            logger.warning("skipped %s: %s", path.name, error)
            continue
        yield path.name, volume
