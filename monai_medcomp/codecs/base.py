"""The codec contract shared by every MedComp codec, and the registry that finds codecs by name.

Like imagecodecs (``X_encode`` / ``X_decode`` / ``X_check`` / ``XError`` / version), every codec has
the same shape, so front-ends never special-case one:

* a registry ``name`` and the abilities ``lossless``, ``near_lossless`` (|error| <= max_error by
  construction) and ``lossy``;
* ``encode(slab, fmt, params) -> bytes`` and ``decode(data, shape, fmt, params) -> slab``.

The engine hands a codec **unsigned** integers already shifted by the volume's offset, at the
precision ``fmt.bits`` that the data really needs (a 12-bit CT arrives as 12-bit values in a uint16
array, never as 16-bit data).  A slab is ``(slices, rows, cols)`` or ``(slices, rows, cols, 3)``;
codecs that code slices independently have ``slab_size = 1``.  Parameters are plain JSON values
stored in the container, so decoding needs nothing but the file (and, for learned codecs, the
weights whose hash ``weights_info()`` reports).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

import numpy as np

from ..errors import CodecError, MissingWeightsError, UnknownCodecError, UnsupportedDataError
from ..weights import Weights, find_weights, has_weights
from .reproductions import REPRODUCTIONS, Reproduction


@dataclasses.dataclass(frozen=True)
class PixelFormat:
    """The unsigned pixels a codec receives: ``bits`` of precision, ``channels`` per pixel."""

    bits: int
    channels: int = 1

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def max_value(self) -> int:
        return (1 << self.bits) - 1


@dataclasses.dataclass(frozen=True)
class Knob:
    """The codec's own parameter that ``--quality`` sets and rate control searches.

    ``higher_is_better`` says whether raising the value raises quality (JPEG quality) or lowers it
    (JPEG-XL distance, JPEG-LS NEAR).  ``linear`` says that the rate already moves evenly with the value (a
    knob that is itself a logarithm of the step), so rate control never searches it on a log scale.
    """

    name: str
    low: float
    high: float
    higher_is_better: bool = True
    integer: bool = True
    description: str = ""
    linear: bool = False

    def clip(self, value: float) -> float | int:
        value = min(max(value, self.low), self.high)
        return int(round(value)) if self.integer else float(value)


def _json_kind(value: Any) -> str:
    """The JSON type a parameter value has: ``true`` is no integer and ``1.5`` no count."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Codec(abc.ABC):
    """One compression method.  Subclasses set the class attributes and implement encode/decode."""

    name: ClassVar[str]
    lossless: ClassVar[bool] = False
    near_lossless: ClassVar[bool] = False
    lossy: ClassVar[bool] = False
    max_bits: ClassVar[int] = 16
    channels: ClassVar[tuple[int, ...]] = (1, 3)
    slab_size: ClassVar[int] = 1
    knob: ClassVar[Knob | None] = None
    uses_torch: ClassVar[bool] = False
    description: ClassVar[str] = ""
    param_ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}  # beyond the knob's own range
    bundle_name: ClassVar[str | None] = None  # the MONAI bundle that holds a learned codec's weights
    standard: ClassVar[bool] = False  # an ISO standard codec through its reference library

    @property
    def version(self) -> str:
        """Version of the library that does the work, recorded in every file."""
        return "1"

    @property
    def available(self) -> bool:
        """False when a dependency or the learned weights are missing."""
        return True

    def default_params(self) -> dict[str, Any]:
        """Parameters used when no target is given: lossless where the codec can be."""
        return {}

    def is_lossless(self, params: dict[str, Any]) -> bool:
        """Whether these parameters reproduce the input bit for bit."""
        return self.lossless

    def guaranteed_max_error(self, params: dict[str, Any]) -> int | None:
        """The bound on |error| these parameters guarantee by construction, if any."""
        return 0 if self.is_lossless(params) else None

    def slices_per_chunk(self, params: dict[str, Any]) -> int:
        """Slices coded together in one independently decodable chunk with these parameters."""
        return self.slab_size

    def weights_info(self, fmt: PixelFormat | None = None) -> dict[str, str] | None:
        """Name and SHA-256 of the learned weights that code images of ``fmt``, for codecs that have them."""
        return None

    def check_format(self, fmt: PixelFormat) -> None:
        """Raise :class:`UnsupportedDataError` for data this codec cannot take."""
        if fmt.channels not in self.channels:
            raise UnsupportedDataError(
                f"codec {self.name!r} does not take {fmt.channels}-channel images (takes {self.channels})")
        if fmt.bits > self.max_bits:
            raise UnsupportedDataError(
                f"codec {self.name!r} takes at most {self.max_bits}-bit data, this image needs {fmt.bits} bits")

    def check_params(self, params: dict[str, Any]) -> None:
        """Raise :class:`CodecError` naming a parameter whose JSON type differs from its default's, or whose
        value lies outside the knob's range or :attr:`param_ranges`.  A file's parameters are untrusted: a
        block size of ``1.5`` or a negative tolerance must be refused, not decoded into other pixels."""
        ranges = dict(self.param_ranges)
        if self.knob is not None:
            ranges.setdefault(self.knob.name, (self.knob.low, self.knob.high))
        defaults = {key: value for key, value in self.default_params().items() if value is not None}
        for key, value in params.items():
            if value is None:
                continue
            expected = defaults.get(key)
            numeric = key in ranges or isinstance(expected, (int, float)) and not isinstance(expected, bool)
            integer = (isinstance(expected, int) and not isinstance(expected, bool)
                       or self.knob is not None and key == self.knob.name and self.knob.integer)
            if numeric and not (_is_number(value) and (not integer or isinstance(value, int))):
                raise CodecError(f"codec {self.name!r}: parameter {key!r} must be "
                                 f"{'an integer' if integer else 'a finite number'}, not {value!r}")
            if not numeric and expected is not None and _json_kind(value) != _json_kind(expected):
                raise CodecError(f"codec {self.name!r}: parameter {key!r} must be {_json_kind(expected)}, "
                                 f"not {value!r}")
            if key in ranges and not ranges[key][0] <= value <= ranges[key][1]:
                raise CodecError(f"codec {self.name!r}: parameter {key!r} must be from {ranges[key][0]:g} to "
                                 f"{ranges[key][1]:g}, not {value!r}")

    def with_knob(self, value: float) -> dict[str, Any]:
        """Parameters with the knob set to ``value`` (what ``--quality`` and rate control use)."""
        if self.knob is None:
            raise CodecError(f"codec {self.name!r} has no quality setting")
        return {**self.default_params(), self.knob.name: self.knob.clip(value)}

    def with_max_error(self, max_error: int) -> dict[str, Any]:
        """Parameters that guarantee |error| <= max_error by construction (near-lossless codecs)."""
        raise CodecError(f"codec {self.name!r} cannot guarantee a maximum error by construction")

    @abc.abstractmethod
    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        """Code one slab of unsigned pixels into bytes."""

    @abc.abstractmethod
    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        """Return the slab of ``shape`` and ``fmt.dtype`` that ``data`` codes."""

    def encode_batch(self, slabs: Sequence[np.ndarray], fmt: PixelFormat, params: dict[str, Any],
                     device: Any = None) -> list[bytes]:
        """Code several slabs; learned codecs override this to batch on ``device``."""
        return [self.encode(slab, fmt, params) for slab in slabs]

    def decode_batch(self, chunks: Sequence[bytes], shapes: Sequence[Sequence[int]], fmt: PixelFormat,
                     params: dict[str, Any], device: Any = None) -> list[np.ndarray]:
        return [self.decode(data, shape, fmt, params) for data, shape in zip(chunks, shapes)]

    @property
    def reproduction(self) -> Reproduction | None:
        """For one of the paper's methods, what it reproduces and how far it measured from JPEG 2000."""
        return REPRODUCTIONS.get(self.name)

    @property
    def family(self) -> str:
        """``"standard"``, ``"medcomp"`` (MedComp's own) or ``"reproduction"`` (the paper's, see :attr:`reproduction`):
        what a front-end groups codecs by."""
        if self.standard:
            return "standard"
        return "reproduction" if self.reproduction is not None else "medcomp"

    def capabilities(self) -> str:
        return "/".join(word for word, flag in (("lossless", self.lossless), ("near-lossless", self.near_lossless),
                                                ("lossy", self.lossy)) if flag)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.capabilities()})>"


Loaded = TypeVar("Loaded")


class BundleWeights:
    """For codecs whose weights are one file of their own bundle (``bundle_name``): available when it is
    found, and what a file records about it."""

    name: ClassVar[str]
    bundle_name: ClassVar[str]

    @property
    def available(self) -> bool:
        return has_weights(self.bundle_name)

    def weights_info(self, fmt: PixelFormat | None = None) -> dict[str, str] | None:
        try:
            return find_weights(self.bundle_name).info()
        except MissingWeightsError:
            return None

    def loaded_weights(self, parse: Callable[[Any, Path], Loaded], sha_prefix: bytes | None = None
                       ) -> tuple[Loaded, Weights]:
        """The bundle's weights, found and ``parse``d (state, path) once per codec object; with ``sha_prefix``
        (what a file recorded), weights other than those are refused, naming both."""
        loaded = getattr(self, "_loaded_weights", None)
        if loaded is None:
            found = find_weights(self.bundle_name)
            loaded = self._loaded_weights = (parse(found.state(), found.path), found)
        if sha_prefix is not None:
            loaded[1].expect(sha_prefix, self.name)
        return loaded


_REGISTRY: dict[str, Callable[[], Codec]] = {}


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec findable by its ``name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"codec name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_codec(name: str) -> Codec:
    """Return the codec registered as ``name``, or raise :class:`UnknownCodecError` listing the names."""
    from . import load_builtin_codecs

    load_builtin_codecs()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownCodecError(f"unknown codec {name!r}; known codecs: {', '.join(sorted(_REGISTRY))}") from None


def codec_names() -> list[str]:
    """Every registered codec name, in registration order."""
    from . import load_builtin_codecs

    load_builtin_codecs()
    return list(_REGISTRY)
