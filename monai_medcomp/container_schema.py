"""What a ``.mcz`` header and metadata may say: one declared schema, checked before anything uses them.

A file may come from anyone, and a CRC only proves that the bytes are the ones the writer meant.  So
after the checksums pass, the header JSON is checked field by field against :data:`HEADER_FIELDS`
(types, ranges, and the shapes that must agree with each other) and the metadata against
:data:`METADATA_SECTIONS`; every failure is a :class:`ContainerError` naming the field.  Only then
does a value become a loop bound, a size, a dtype or a name (``docs/format.md``, "What the reader checks").
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ContainerError
from .volume import SUPPORTED_DTYPES

MAX_JSON_DEPTH = 64  # DICOM sequences nest a few levels; nothing a reader writes comes near this
MAX_EDGE = 1 << 16  # rows and columns: DICOM's Rows / Columns are 16-bit
MAX_SLICES = 1 << 24
MAX_SLICES_PER_CHUNK = 1 << 12
MAX_TEXT = 4096
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # registry and bundle names
SHA256 = re.compile(r"[0-9a-f]{64}")


class SchemaError(ContainerError):
    """A header or metadata field of a ``.mcz`` file that is missing, of the wrong type or out of range."""

    def __init__(self, field: str, problem: str, source: str | None = None):
        super().__init__(f"{source + ': ' if source else ''}invalid {field}: {problem}")
        self.field, self.problem = field, problem

    def in_file(self, source: str) -> "SchemaError":
        """The same error, naming the file it was found in."""
        return SchemaError(self.field, self.problem, source)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_integer(value: Any) -> bool:
    """JSON integers only: ``True`` is a bool and ``1.0`` a float, neither is a size."""
    return isinstance(value, int) and not isinstance(value, bool)


def integer(field: str, value: Any, low: int, high: int) -> int:
    if not is_integer(value) or not low <= value <= high:
        raise SchemaError(field, f"expected an integer from {low} to {high}, got {_describe(value)}")
    return value


def text(field: str, value: Any, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or (pattern is not None and not pattern.fullmatch(value)):
        expected = f"a string matching {pattern.pattern}" if pattern is not None else f"a string of at most {MAX_TEXT}"
        raise SchemaError(field, f"expected {expected}, got {_describe(value)}")
    return value


def finite_numbers(field: str, value: Any, count: int) -> list[float]:
    if (not isinstance(value, list) or len(value) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise SchemaError(field, f"expected {count} finite numbers, got {_describe(value)}")
    return value


def json_tree(field: str, value: Any, depth: int = 0) -> Any:
    """A plain JSON value (object keys are strings) nested at most :data:`MAX_JSON_DEPTH` deep."""
    if depth > MAX_JSON_DEPTH:
        raise SchemaError(field, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(field, f"object key {_describe(key)} is not a string")
            json_tree(field, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            json_tree(field, item, depth + 1)
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise SchemaError(field, f"{type(value).__name__} is not a JSON value")
    return value


def json_object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(field, f"expected an object, got {_describe(value)}")
    return json_tree(field, value)


def _shape(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) not in (3, 4):
        raise SchemaError("shape", f"expected [slices, rows, cols] or [slices, rows, cols, 3], got {_describe(value)}")
    integer("shape[0] (slices)", value[0], 1, MAX_SLICES)
    integer("shape[1] (rows)", value[1], 1, MAX_EDGE)
    integer("shape[2] (cols)", value[2], 1, MAX_EDGE)
    if len(value) == 4:
        integer("shape[3] (channels)", value[3], 3, 3)
    return value


def _geometry(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != {"spacing", "origin", "direction"}:
        raise SchemaError("geometry", f"expected an object with spacing, origin and direction, got {_describe(value)}")
    finite_numbers("geometry.spacing", value["spacing"], 3)  # real files have zero spacings: kept as they are
    finite_numbers("geometry.origin", value["origin"], 3)
    finite_numbers("geometry.direction", value["direction"], 9)
    return value


def _weights(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"name", "sha256"}:
        raise SchemaError("weights", f"expected null or an object with name and sha256, got {_describe(value)}")
    text("weights.name", value["name"], NAME)
    text("weights.sha256", value["sha256"], SHA256)
    return value


def _boolean(field: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise SchemaError(field, f"expected true or false, got {_describe(value)}")
        return value
    return check


def _dtype(value: Any) -> str:
    if value not in SUPPORTED_DTYPES:
        raise SchemaError("dtype", f"expected one of {', '.join(SUPPORTED_DTYPES)}, got {_describe(value)}")
    return value


# Every header field (all are required; the writer always writes them all) and the check of its value
# alone.  Checks across fields follow in check_header.
HEADER_FIELDS: Mapping[str, Callable[[Any], Any]] = {
    "codec": lambda v: text("codec", v, NAME),
    "codec_version": lambda v: text("codec_version", v),
    "params": lambda v: json_object("params", v),
    "lossless": _boolean("lossless"),
    "dtype": _dtype,
    "shape": _shape,
    "bits_stored": lambda v: integer("bits_stored", v, 1, 16),
    "offset": lambda v: integer("offset", v, -(1 << 15), (1 << 16) - 1),
    "precision": lambda v: integer("precision", v, 1, 16),
    "geometry": _geometry,
    "slices_per_chunk": lambda v: integer("slices_per_chunk", v, 1, MAX_SLICES_PER_CHUNK),
    "weights": _weights,
    "extra": lambda v: json_object("extra", v),
}


def check_header(value: Any) -> dict[str, Any]:
    """The header JSON, checked field by field and across fields; returns it unchanged."""
    if not isinstance(value, dict):
        raise SchemaError("header", f"expected an object, got {_describe(value)}")
    unknown = sorted(set(value) - set(HEADER_FIELDS), key=str)
    if unknown:
        raise SchemaError("header", f"unknown field {_describe(unknown[0])}")
    for name, check in HEADER_FIELDS.items():
        if name not in value:
            raise SchemaError(name, "missing")
        check(value[name])
    bits = np.dtype(value["dtype"]).itemsize * 8
    info = np.iinfo(value["dtype"])
    if value["bits_stored"] > bits:
        raise SchemaError("bits_stored", f"{value['bits_stored']} bits do not fit {value['dtype']}")
    if value["precision"] > bits:
        raise SchemaError("precision", f"{value['precision']} bits do not fit {value['dtype']}")
    if not info.min <= value["offset"] <= info.max:
        raise SchemaError("offset", f"{value['offset']} is outside the range of {value['dtype']}")
    return value


def _dicom(value: Any) -> None:
    if not isinstance(value, dict):
        raise SchemaError("metadata.dicom", f"expected an object, got {_describe(value)}")
    if "layout" in value:
        text("metadata.dicom.layout", value["layout"])
    files = value.get("files", [])
    if not isinstance(files, list) or not all(isinstance(entry, dict) for entry in files):
        raise SchemaError("metadata.dicom.files", "expected a list of objects (one DICOM data set each)")
    for number, entry in enumerate(files):
        if "filename" in entry:
            text(f"metadata.dicom.files[{number}].filename", entry["filename"])


def _string_map(field: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise SchemaError(field, "expected an object of strings")
    return check


def _rescale(value: Any) -> None:
    if not isinstance(value, dict):
        raise SchemaError("metadata.rescale", f"expected an object, got {_describe(value)}")
    for key in ("slope", "intercept"):
        if key in value:
            finite_numbers(f"metadata.rescale.{key}", [value[key]], 1)


# The metadata keys that the readers write and the writers read back; any other key is plain JSON.
METADATA_SECTIONS: Mapping[str, Callable[[Any], None]] = {
    "format": lambda v: text("metadata.format", v),
    "dicom": _dicom,
    "nifti": lambda v: json_object("metadata.nifti", v),
    "itk": _string_map("metadata.itk"),
    "rescale": _rescale,
    "slicer": lambda v: json_object("metadata.slicer", v),
}


def check_metadata(value: Any) -> dict[str, Any]:
    """The source metadata JSON: an object, plain JSON throughout, known sections of the right shape."""
    json_object("metadata", value)
    for key, check in METADATA_SECTIONS.items():
        if key in value:
            check(value[key])
    return value
