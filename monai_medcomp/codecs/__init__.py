"""Codecs by name: ``get_codec("jpegls")``.  Each family lives in its own module and registers itself."""

from __future__ import annotations

import importlib

from .base import Codec, Knob, PixelFormat, codec_names, get_codec, register

BUILTIN_MODULES = ("classical", "baselines", "predictive", "learned_lossless", "learned_lossy", "autoencoder", "gan")


def load_builtin_codecs() -> None:
    """Import the codec modules so that their ``@register`` decorators run (once)."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")


__all__ = ["Codec", "Knob", "PixelFormat", "codec_names", "get_codec", "register", "load_builtin_codecs"]
