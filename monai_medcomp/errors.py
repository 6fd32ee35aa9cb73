"""Exceptions raised by MedComp.

Every error a user can cause derives from :class:`MedCompError`, so front-ends (the CLI, Slicer,
the notebook explorer) can show one clear line instead of a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Callable

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE, what a shell reports for `yes | head -1`: a reader that stopped early is not a success
# (`set -o pipefail` sees it, as for any Unix tool), but it is not the user's mistake either.
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 128 + signal.SIGTERM


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


class MetadataError(MedCompError):
    """Source metadata a writer cannot use (the wrong type, an unsafe file name, a header that does not parse)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like an interrupt so that ``finally`` blocks remove temporary files before the exit."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _flushed(status: int) -> int:
    """Flush stdout while errors are still handled: a closed pipe shows here, not in the interpreter's last flush."""
    sys.stdout.flush()
    return status


def _reader_gone() -> int:
    """Output piped into a reader that stopped (``medcomp codecs | head -1``): end quietly, as Unix tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # what is still buffered goes nowhere at exit, instead of failing again
    return EXIT_BROKEN_PIPE


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run a command-line entry point: a user's mistake, or what the file system refuses (name too long,
    permission), ends in one line on stderr and exit status 2, an interrupt in status 130, SIGTERM in 143
    (after the same clean-up as an interrupt)."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return _flushed(body())
    except BrokenPipeError:  # before OSError, its base
        return _reader_gone()
    except (MedCompError, OSError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print(f"{prog}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
