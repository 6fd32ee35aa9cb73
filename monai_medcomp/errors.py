"""Exceptions raised by MedComp.

Every error a user can cause derives from :class:`MedCompError`, so front-ends (the CLI, Slicer,
the notebook explorer) can show one clear line instead of a traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class MedCompError(Exception):
    """Base class of every error MedComp reports to a user."""


class UnknownCodecError(MedCompError, KeyError):
    """A codec name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown codec"


class UnsupportedDataError(MedCompError, ValueError):
    """Pixel data a codec or the library cannot represent exactly (float, 32-bit, wrong channels)."""


class CodecError(MedCompError):
    """A codec failed to encode or decode, or was asked for something it cannot do."""


class ContainerError(MedCompError):
    """A .mcz file that is not one, is truncated, damaged or from a future format version."""


class ChecksumError(ContainerError):
    """A section or chunk of a .mcz file does not match its stored checksum."""


class ReadError(MedCompError):
    """An input file that cannot be read as an image (missing, unreadable, no pixel data)."""


class OutputExistsError(MedCompError, FileExistsError):
    """Refusing to overwrite an existing output without ``force=True``."""


class MissingWeightsError(MedCompError):
    """Learned weights that are absent or do not match the hash stored in a file."""


class RateControlError(MedCompError):
    """A quality, rate, PSNR or max-error target that a codec cannot reach."""


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run a command-line entry point: a user's mistake, or what the file system refuses (name too long,
    permission), ends in one line on stderr and exit status 2, an interrupt in status 130."""
    try:
        return body()
    except (MedCompError, OSError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
