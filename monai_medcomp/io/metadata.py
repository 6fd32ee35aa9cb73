"""What a writer takes from ``Volume.metadata``, checked first.

The metadata of a decoded ``.mcz`` file is whatever the file says, so a writer never trusts its types:
each value it uses goes through these checks, and anything else ends in a :class:`MetadataError` that
names the field.
"""

from __future__ import annotations

import contextlib
import math
import reprlib
from typing import Any, Iterator

from ..errors import MedCompError, MetadataError
from ..volume import Volume


def invalid(field: str, expected: str, value: Any) -> MetadataError:
    """The error for ``metadata.<field>``: what it should be and what it is (cut short: it may be huge)."""
    return MetadataError(f"invalid metadata.{field}: expected {expected}, got {reprlib.repr(value)}")


def expect(field: str, value: Any, kind: type | tuple[type, ...], expected: str) -> Any:
    """``value`` if it is a ``kind``, else a :class:`MetadataError` naming ``field``."""
    if not isinstance(value, kind) or isinstance(value, bool):  # JSON true is no number, and no field is boolean
        raise invalid(field, expected, value)
    return value


def section(volume: Volume, source_format: str, key: str) -> dict[str, Any] | None:
    """``metadata[key]`` (an object) of a volume read from ``source_format``; ``None`` for other volumes."""
    if volume.metadata.get("format") != source_format or not volume.metadata.get(key):
        return None
    return expect(key, volume.metadata[key], dict, "an object")


def rescale(volume: Volume) -> tuple[float, float] | None:
    """``(slope, intercept)`` of ``metadata.rescale``, finite numbers both, or ``None`` if there is none."""
    stored = volume.metadata.get("rescale")
    if not stored:
        return None
    expect("rescale", stored, dict, "an object with slope and intercept")
    slope, intercept = (expect(f"rescale.{key}", stored.get(key), (int, float), "a number")
                        for key in ("slope", "intercept"))
    try:
        values = float(slope), float(intercept)
    except OverflowError:  # a JSON integer beyond any float
        values = math.inf, math.inf
    if not all(math.isfinite(v) for v in values):
        raise MetadataError("invalid metadata.rescale: slope and intercept must be finite numbers")
    return values


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), cut to a readable length."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


@contextlib.contextmanager
def library_errors(field: str, problem: str) -> Iterator[None]:
    """What a stored value makes a library raise (pydicom and nibabel raise many kinds, when a value is read
    and when it is written out) as one :class:`MetadataError` naming ``field``; our own errors and the file
    system's pass through."""
    try:
        yield
    except (MedCompError, OSError):
        raise
    except Exception as error:
        raise MetadataError(f"invalid metadata.{field}: {problem} ({first_line(error)})") from None
