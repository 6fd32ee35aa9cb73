"""MedComp: learned and classical compression of medical images, with what each codec costs in quality.

>>> import monai_medcomp as mc
>>> result = mc.compress("ct.dcm", "ct.mcz", codec="jpegls")        # lossless, bit-exact
>>> volume = mc.decompress("ct.mcz")                                 # pixels + geometry + DICOM tags

The names below are imported on first use, so ``import monai_medcomp.container`` (a reader that
only needs the file format) does not pay for the codec libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CompressionResult": "api", "compress": "api", "decompress": "api", "info": "api", "read": "api",
    "write": "api", "codec_names": "codecs", "get_codec": "codecs", "MedCompError": "errors", "Volume": "volume",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
