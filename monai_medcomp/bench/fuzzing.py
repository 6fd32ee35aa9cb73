"""Damaged and crafted ``.mcz`` files, each rebuilt exactly from (codec, kind, seed).

Shared by the robustness campaign (``python -m monai_medcomp.bench.robustness``) and its CI test.  A case
starts from a valid source file: a small crop of a real image (a DICOM series, a DICOM CT, a NIfTI volume,
a grey and an RGB PNG) coded by one codec with its default parameters, plus, where the codec also codes
lossily, the DICOM series at a lossy setting.  The file is rewritten as format version 1 or the current
version, then damaged in one of the :data:`KINDS` of ways:

``mutation``  raw damage: bit flips, overwritten, inserted or deleted bytes, truncation at every section
              boundary and at random points, appended bytes (no checksum fixed);
``header``    the header JSON rewritten with valid CRCs: fields of wrong types or values, missing, unknown,
              inconsistent with each other or with the chunks, other codecs, parameters and weights;
``metadata``  the source metadata rewritten with valid CRCs: not an object, deeply nested, DICOM file
              names that climb out of the output, broken DICOM JSON, NIfTI / ITK sections of wrong types;
``length``    a length or count field set to 0, small, off by one or huge, with and without CRC fix-ups;
``chunk``     chunks swapped, duplicated, dropped or altered, their CRCs kept or recomputed.

Each case records whether the format has a check that must refuse it should its pixels change
(``detectable``): a change that a crafter made consistent with every checksum the format version
keeps (a version-1 chunk swap, a lossy chunk altered with its CRC recomputed, a plausible new offset)
is a different valid file, not damage.  The reader's own code is never used to decide that.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import api
from ..codecs import codec_names, get_codec
from ..container import DIGEST_SIZE, FORMAT_VERSION, entry_struct, pack_container
from ..data import load_sample
from ..volume import Volume

KINDS = ("mutation", "header", "metadata", "length", "chunk")
# Every codec family: classical, the paper's baselines, its MLP + Huffman coder and two of its block
# codecs (an autoencoder and a GAN), and MedComp's learned lossless codec.
FAMILIES = ("jpegls", "jpeg2000", "htj2k", "jpegxl", "jpeg", "ljpeg", "png", "bttc", "kmeans", "mlp-huffman",
            "cnn-ae", "gan-wgan", "learned-lossless")
OUTPUTS = {"series": "series", "nifti": "image.nii.gz", "png": "image.png"}
OUTPUT_SHARE = 0.25  # of the cases that are not about metadata, those also written to an output file
VERSION_1_SHARE = 0.3
CROP = 32
DEEP = 100_000
U32 = struct.Struct("<I")


# --- source files -----------------------------------------------------------------------------------------

def _centre(volume: Volume, slices: slice) -> Volume:
    """A CROP x CROP crop of the middle of ``slices``: real content, decoded in milliseconds."""
    rows, cols = volume.array.shape[1:3]
    top, left = (rows - CROP) // 2, (cols - CROP) // 2
    return volume.with_array(np.ascontiguousarray(volume.array[slices, top:top + CROP, left:left + CROP]))


def _through(volume: Volume, name: str) -> Volume:
    """``volume`` written as ``name`` and read back, so that its metadata is what that format's reader records."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        api.write(volume, path)
        return api.read(path)


IMAGES: dict[str, Callable[[], Volume]] = {
    "dicom-series": lambda: _through(_centre(load_sample("mr_emri_small"), slice(0, 3)), "series"),
    "dicom-ct": lambda: _centre(load_sample("ct_small"), slice(0, 1)),
    "nifti-volume": lambda: _centre(load_sample("mr_example4d"), slice(10, 13)),
    "png-grey": lambda: _through(_centre(load_sample("us_8bit"), slice(0, 1)), "image.png"),
    "png-rgb": lambda: _centre(load_sample("photo_astronaut"), slice(0, 1)),
}
SERIES = "dicom-series"


@functools.cache
def image(name: str) -> Volume:
    return IMAGES[name]()


@dataclasses.dataclass(frozen=True)
class Source:
    """A valid file and what it must decode to: the original pixels, or (lossy) the undamaged file's decode."""

    name: str
    data: bytes
    expected: np.ndarray
    lossless: bool


def _params(codec_name: str, lossy: bool) -> dict[str, Any]:
    """Default parameters, one slice per chunk (so chunks can be swapped); lossy at an eighth of the knob's range."""
    codec = get_codec(codec_name)
    params = codec.default_params()
    if "slab" in params:
        params["slab"] = 1
    if lossy:
        params = {**params, **codec.with_knob(codec.knob.low + (codec.knob.high - codec.knob.low) / 8)}
    return params


def _source(codec: str, name: str, lossy: bool) -> Source:
    volume = image(name)
    data = api.compress(volume, codec=codec, params=_params(codec, lossy), workers=1).data
    lossless = api.info(data)["lossless"]
    expected = volume.array if lossless else api.decompress(data, workers=1).array
    return Source(f"{name}/lossy" if lossy else name, data, expected, lossless)


@functools.cache
def sources(codec: str) -> tuple[Source, ...]:
    """Every source file of ``codec``, always in the same order (a case's seed picks one)."""
    made = [_source(codec, name, False) for name in IMAGES]
    codec_class = get_codec(codec)
    if codec_class.lossless and codec_class.knob is not None:
        made.append(_source(codec, SERIES, True))
    return tuple(made)


# --- the layout, read from the bytes as docs/format.md describes it ---------------------------------------

@dataclasses.dataclass
class Layout:
    """Where every field of a valid file lies (offsets into its bytes)."""

    version: int
    header: tuple[int, int]
    metadata_field: int  # the metadata's u32 length, then its u32 CRC
    metadata: tuple[int, int]
    count: int  # offset of the u32 chunk count; the entries follow, then the index CRC
    entry_size: int
    chunks: list[tuple[int, int]]

    @property
    def index_crc(self) -> int:
        return self.count + 4 + len(self.chunks) * self.entry_size

    def entry(self, number: int) -> int:
        return self.count + 4 + number * self.entry_size

    def boundaries(self) -> list[int]:
        """Every offset where a field or section starts or ends."""
        cuts = {0, 4, 6, 8, 12, 16, *self.header, self.metadata_field + 4, *self.metadata, self.count,
                self.count + 4, self.index_crc, self.index_crc + 4}
        cuts.update(self.entry(n) + k for n in range(len(self.chunks)) for k in (0, 4, 8))
        cuts.update(edge for chunk in self.chunks for edge in chunk)
        return sorted(cuts)

    def sections(self) -> list[tuple[int, int]]:
        return [(0, 16), self.header, (self.metadata_field, self.metadata_field + 8), self.metadata,
                (self.count, self.index_crc + 4), *[c for c in self.chunks if c[1] > c[0]]]


def u32(data: bytes, at: int) -> int:
    return U32.unpack_from(data, at)[0]


def _says_lossless(header: bytes) -> bool:
    """Whether a header section says ``lossless: true`` (which gives version 2 entries a pixel digest)."""
    try:
        value = json.loads(zlib.decompress(header))
    except (zlib.error, ValueError):
        return False
    return isinstance(value, dict) and value.get("lossless") is True


def layout(data: bytes) -> Layout:
    version, head_len = struct.unpack_from("<H", data, 4)[0], u32(data, 8)
    header = (16, 16 + head_len)
    metadata = (header[1] + 8, header[1] + 8 + u32(data, header[1]))
    count_at = metadata[1]
    entry_size = entry_struct(version, _says_lossless(data[header[0]:header[1]])).size
    position = count_at + 4 + u32(data, count_at) * entry_size + 4
    chunks = []
    for number in range(u32(data, count_at)):
        length = u32(data, count_at + 4 + number * entry_size)
        chunks.append((position, position + length))
        position += length
    return Layout(version, header, header[1], metadata, count_at, entry_size, chunks)


@dataclasses.dataclass
class Parts:
    """A valid file taken apart: JSON values, chunks, digests (version 2) and the stored chunk CRCs."""

    version: int
    header: Any
    metadata: Any
    chunks: list[bytes]
    digests: list[bytes] | None
    crcs: list[int]

    @classmethod
    def of(cls, data: bytes) -> "Parts":
        where = layout(data)
        header, metadata = (json.loads(zlib.decompress(data[a:b])) for a, b in (where.header, where.metadata))
        entries = [where.entry(n) for n in range(len(where.chunks))]
        digests = [data[at + 8:at + 8 + DIGEST_SIZE] for at in entries] if where.entry_size > 8 else None
        return cls(where.version, header, metadata, [data[a:b] for a, b in where.chunks], digests,
                   [u32(data, at + 4) for at in entries])

    def pack(self, crcs: list[int] | None = None) -> bytes:
        """The file with every CRC right, or with these chunk CRCs stored instead (the index CRC fixed)."""
        data = pack_container(self.header, self.metadata, self.chunks, self.digests, version=self.version)
        if crcs is None:
            return data
        out = bytearray(data)
        where = layout(data)
        for number, crc in enumerate(crcs):
            U32.pack_into(out, where.entry(number) + 4, crc)
        return fix_index_crc(bytes(out), where)


def fix_index_crc(data: bytes, where: Layout) -> bytes:
    out = bytearray(data)
    U32.pack_into(out, where.index_crc, zlib.crc32(data[where.count:where.index_crc]))
    return bytes(out)


def replace_json_text(data: bytes, section: str, text: bytes) -> bytes:
    """``data`` with the header or metadata holding raw (possibly invalid) JSON text that ``json.dumps``
    could not write; the section's length and CRC (the 8 bytes before it, in both cases) fixed."""
    start, end = getattr(layout(data), section)
    payload = zlib.compress(text, 9)
    return data[:start - 8] + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload + data[end:]


def deep_json() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


# --- cases --------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    """One damaged or crafted file and what a reader must do with it."""

    codec: str
    kind: str
    seed: int
    source: Source
    version: int
    note: str  # what was done, in one line
    data: bytes
    detectable: bool  # the format has a check that must refuse this file if its pixels changed
    output: str | None  # a key of OUTPUTS: also write the decoded image there


@dataclasses.dataclass
class Draft:
    """What a kind's generator returns."""

    data: bytes
    note: str
    detectable: bool = True
    output: str | None = None


class Crafter:
    """The random choices of one case, from a generator seeded by (codec, kind, seed)."""

    def __init__(self, rng: random.Random, source: Source, version: int, sandbox: Path):
        self.rng = rng
        self.source = source
        self.sandbox = sandbox
        parts = Parts.of(source.data)
        parts.version = version
        self.data = parts.pack()
        self.where = layout(self.data)

    @property
    def lossless(self) -> bool:
        return self.source.lossless

    def fresh(self) -> Parts:
        """The case's starting file taken apart, to be changed in place."""
        return Parts.of(self.data)

    def rand_bytes(self, count: int) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(count))


def _position(c: Crafter) -> int:
    """A random offset in a random section: the small sections are hit as often as the chunks."""
    start, end = c.rng.choice(c.where.sections())
    return c.rng.randrange(start, end)


def mutation(c: Crafter) -> Draft:
    data = bytearray(c.data)
    operation = c.rng.choice(("flip", "overwrite", "insert", "delete", "cut-boundary", "cut", "append"))
    if operation == "flip":
        spots = [(_position(c), c.rng.randrange(8)) for _ in range(c.rng.randint(1, 4))]
        for at, bit in spots:
            data[at] ^= 1 << bit
        return Draft(bytes(data), f"flip bits {spots}")
    if operation == "overwrite":
        at, new = _position(c), c.rand_bytes(c.rng.randint(1, 8))
        data[at:at + len(new)] = new
        return Draft(bytes(data[:len(c.data)]), f"overwrite {len(new)} bytes at {at}")
    if operation == "insert":
        at, new = _position(c), c.rand_bytes(c.rng.randint(1, 16))
        return Draft(c.data[:at] + new + c.data[at:], f"insert {len(new)} bytes at {at}")
    if operation == "delete":
        at, count = _position(c), c.rng.randint(1, 16)
        return Draft(c.data[:at] + c.data[at + count:], f"delete {count} bytes at {at}")
    if operation == "cut-boundary":
        at = c.rng.choice(c.where.boundaries()[:-1])
        return Draft(c.data[:at], f"truncate at section boundary {at}")
    if operation == "cut":
        at = c.rng.randrange(len(c.data))
        return Draft(c.data[:at], f"truncate at {at}")
    tail = c.rng.choice((c.rand_bytes(c.rng.randint(1, 64)), bytes(c.rng.randint(1, 64)), c.data[-8:]))
    return Draft(c.data + tail, f"append {len(tail)} bytes")


HOSTILE = (0, -1, 1, 10 ** 30, 2 ** 32, 2 ** 63, -2 ** 63, 1.5, 1e308, float("nan"), float("inf"), "NaN", "x", "",
           None, True, [], [1, 2], [None], {}, {"a": 1}, "x" * 100_000)
INTERPRETATION = ("offset", "dtype", "lossless", "bits_stored", "geometry", "extra", "codec_version")
DTYPE_BITS = {"uint8": 8, "int8": 8, "uint16": 16, "int16": 16}


def _plausible(c: Crafter, header: dict[str, Any], field: str) -> Any | None:
    """Another value ``field`` could validly hold (docs/format.md), or None where there is none."""
    bits = DTYPE_BITS[header["dtype"]]
    top = (1 << header["precision"]) - 1

    def fits(dtype: str, offset: int) -> bool:
        return bool(np.iinfo(dtype).min <= offset and offset + top <= np.iinfo(dtype).max)

    rows, cols = header["shape"][1:3]
    choices = {
        "offset": [v for v in (header["offset"] - 1, header["offset"] + 1) if fits(header["dtype"], v)],
        "dtype": [d for d, b in DTYPE_BITS.items() if b == bits and d != header["dtype"] and fits(d, header["offset"])],
        "lossless": [not header["lossless"]],
        "bits_stored": [b for b in (header["precision"], bits) if b != header["bits_stored"]],
        "geometry": [{**header["geometry"], "spacing": [2.5, 0.5, 3.0]}],
        "extra": [{"note": "crafted"}],
        "codec_version": ["0"],
        "precision": [p for p in (header["precision"] - 1, header["precision"] + 1) if 1 <= p <= bits],
        "shape": [[header["shape"][0], rows // 2, cols * 2, *header["shape"][3:]],
                  [header["shape"][0], rows * 2, cols // 2, *header["shape"][3:]]],
        "codec": [name for name in FAMILIES if name != header["codec"]],
        "slices_per_chunk": [2] if header["shape"][0] == 1 else [],
    }.get(field, [])
    return c.rng.choice(choices) if choices else None


def _set_path(value: Any, path: list[Any], new: Any) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _header_paths(header: dict[str, Any]) -> list[list[Any]]:
    """Every field, and every item of the shape, geometry, parameters and weights."""
    paths: list[list[Any]] = [[key] for key in sorted(header)]
    paths += [["shape", i] for i in range(len(header["shape"]))]
    paths += [["geometry", key] for key in sorted(header["geometry"])]
    paths += [["params", key] for key in sorted(header["params"])]
    paths += [["weights", key] for key in sorted(header["weights"] or {})]
    return paths


def header(c: Crafter) -> Draft:
    parts = c.fresh()
    head = parts.header
    params = dict(head["params"])
    operation = c.rng.choice(("hostile", "hostile", "plausible", "missing", "unknown", "not-object", "deep",
                              "long-number", "params", "weights", "codec", "inconsistent"))
    if operation == "deep":
        return Draft(replace_json_text(c.data, "header", deep_json()), f"header: {DEEP} nested lists")
    if operation == "long-number":
        text = json.dumps({**head, "offset": 0}).replace('"offset": 0', '"offset": ' + "9" * 5000)
        return Draft(replace_json_text(c.data, "header", text.encode()), "header: offset of 5000 digits")
    field = c.rng.choice(sorted(head))
    if operation == "hostile":
        path, value = c.rng.choice(_header_paths(head)), c.rng.choice(HOSTILE)
        _set_path(head, path, value)
        field, note = path[0], f"header {path} = {value!r:.40}"
    elif operation == "plausible" and (value := _plausible(c, head, field)) is not None:
        head[field] = value
        note = f"header {field} = {head[field]!r:.40}"
    elif operation in ("plausible", "missing"):
        del head[field]
        note = f"header lacks {field}"
    elif operation == "unknown":
        head[c.rng.choice(("zzz", "version", "__class__", "Codec"))] = c.rng.choice(HOSTILE)
        note = "header: unknown key"
    elif operation == "not-object":
        parts.header = c.rng.choice(([], "x", 1, None, [head], True))
        note = f"header = {parts.header!r:.40}"
    elif operation == "params":
        field, note = "params", _change_params(c, head)
    elif operation == "weights":
        head["weights"] = c.rng.choice((None, {}, {"name": "cnn-ae"}, "x", [1], {"name": "../../x", "sha256": "0" * 64},
                                        {"name": (head["weights"] or {}).get("name", "cnn-ae"), "sha256": "f" * 64},
                                        {"name": "learned-lossless",
                                         "sha256": (head["weights"] or {}).get("sha256", "")}))
        field, note = "weights", f"weights = {head['weights']!r:.60}"
    elif operation == "codec":
        head["codec"] = c.rng.choice(("nope", "", "../codec", "JPEGLS", "x" * 5000, *codec_names(), 5))
        field, note = "codec", f"codec = {head['codec']!r:.40}"
    else:
        path, value = c.rng.choice(_inconsistent(head))
        _set_path(head, path, value)
        field, note = path[0], f"header {path} = {value!r:.40}"
    plausible = documented(parts.header, len(parts.chunks)) and _sane_params(params, parts.header["params"])
    covered = parts.version > 1 and c.lossless and field not in INTERPRETATION
    return Draft(parts.pack(), note + (" (plausible)" if plausible else ""), detectable=not plausible or covered)


def _change_params(c: Crafter, head: dict[str, Any]) -> str:
    params = head["params"]
    change = c.rng.choice(("value", "unknown", "replace"))
    if change == "value" and params:
        key = c.rng.choice(sorted(params))
        params[key] = c.rng.choice((*HOSTILE, 10 ** 100, 2 ** 64, -(10 ** 9), 255, 65536))
        return f"params[{key!r}] = {params[key]!r:.40}"
    if change == "unknown":
        key = c.rng.choice(("zzz", "stages", "slab", "block", "level"))
        params[key] = c.rng.choice((*HOSTILE, 3, 2 ** 31))
        return f"params[{key!r}] = {params[key]!r:.40} added"
    head["params"] = c.rng.choice(([], None, "x", 5, {"": None}))
    return f"params = {head['params']!r:.40}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _sane_params(old: dict[str, Any], new: Any) -> bool:
    """Parameters a codec could have written: every changed value a number of the old one's kind from 0 to 65536
    (an integer where there was one); other changes are for the codec to refuse."""
    if not isinstance(new, dict):
        return False
    for key, value in new.items():
        before = old.get(key)
        if type(value) is type(before) and value == before:
            continue
        kinds = (int,) if type(before) is int else (int, float)
        if not _number(value) or not isinstance(value, kinds) or not 0 <= value <= 65536:
            return False
    return True


def documented(head: Any, chunks: int) -> bool:
    """Whether ``head`` is a header that docs/format.md allows for a file of ``chunks`` chunks: then a change to
    it is a different valid file, not damage (decided here, independently of the reader's schema)."""
    fields = {"codec", "codec_version", "params", "lossless", "dtype", "shape", "bits_stored", "offset",
              "precision", "geometry", "slices_per_chunk", "weights", "extra"}
    if not isinstance(head, dict) or set(head) != fields or head["dtype"] not in tuple(DTYPE_BITS):
        return False
    bits, shape, geometry = DTYPE_BITS[head["dtype"]], head["shape"], head["geometry"]
    integers = [head[k] for k in ("bits_stored", "offset", "precision", "slices_per_chunk")]
    if (not isinstance(shape, list) or len(shape) not in (3, 4) or shape[3:] not in ([], [3])
            or not all(type(v) is int and 1 <= v <= 65536 for v in shape[1:3] + integers[3:])
            or not all(type(v) is int for v in shape + integers)):
        return False
    info = np.iinfo(head["dtype"])
    if (not 1 <= head["bits_stored"] <= bits or not 1 <= head["precision"] <= bits
            or not info.min <= head["offset"] <= info.max
            or not 1 <= shape[0] or -(-shape[0] // head["slices_per_chunk"]) != chunks):
        return False
    if (not isinstance(geometry, dict) or set(geometry) != {"spacing", "origin", "direction"}
            or [len(v) if isinstance(v, list) else 0 for v in map(geometry.get, ("spacing", "origin", "direction"))]
            != [3, 3, 9]
            or not all(_number(x) for v in geometry.values() for x in v) or min(geometry["spacing"]) <= 0):
        return False
    weights = head["weights"]
    return (head["codec"] in tuple(codec_names()) and isinstance(head["params"], dict)
            and type(head["lossless"]) is bool and isinstance(head["codec_version"], str)
            and isinstance(head["extra"], dict)
            and (weights is None or (isinstance(weights, dict) and set(weights) == {"name", "sha256"}
                                     and all(isinstance(v, str) for v in weights.values())
                                     and re.fullmatch(r"[\w-]+", weights["name"]) is not None)))


def _inconsistent(head: dict[str, Any]) -> list[tuple[list[Any], Any]]:
    """Values that are fine alone and wrong together with the rest of the file."""
    shape = head["shape"]
    return [(["shape", 0], shape[0] + 1), (["shape", 0], shape[0] - 1), (["shape", 0], 1 << 24),
            (["shape", 1], 1 << 16), (["shape", 2], 1), (["shape"], shape[:3] if len(shape) == 4 else shape + [3]),
            (["shape"], shape + [1]), (["precision"], 16 if head["dtype"].endswith("8") else 0),
            (["precision"], 17), (["dtype"], "int32"), (["dtype"], "float32"), (["dtype"], ">u2"),
            (["offset"], 1 << 15), (["offset"], -(1 << 31)), (["slices_per_chunk"], 0),
            (["slices_per_chunk"], shape[0] + 1), (["slices_per_chunk"], 2), (["slices_per_chunk"], 1 << 31),
            (["bits_stored"], 17), (["bits_stored"], 0), (["geometry", "spacing"], [0, 0, 0]),
            (["geometry", "direction"], [1, 0, 0]), (["geometry", "origin"], [float("inf")] * 3)]


HOSTILE_NAMES = ("../x.dcm", "../../x.dcm", "../../../x.dcm", "../../../../input.mcz", "a/b.dcm", "a\\b.dcm",
                 "x\x00y.dcm", "", ".", "..", "CON", "nul.dcm", "x" * 5000, " ", ".hidden.dcm", "/", "~/x.dcm",
                 "series", 1, None, [], {"a": 1})
BROKEN_DICOM = ({}, {"00280010": {"vr": "US", "Value": ["x"]}}, {"00280010": {"vr": "XX", "Value": [1]}},
                {"7FE00010": {"vr": "OB", "InlineBinary": "!!"}},
                {"00100010": {"vr": "PN", "Value": [{"Alphabetic": 5}]}},
                {"00280100": {"vr": "US", "Value": [64]}}, {"00200032": {"vr": "DS", "Value": ["nan", "x"]}},
                {"zzzz": 5}, {"00080016": {"vr": "UI", "Value": ["../../x"]}}, {"00280004": {"vr": "CS"}})


def metadata(c: Crafter) -> Draft:
    parts = c.fresh()
    meta = parts.metadata
    operation = c.rng.choice(("filename", "filename", "filenames", "dicom-json", "dicom-section", "not-object",
                              "deep", "sections"))
    output = c.rng.choice(("series", "series", "nifti", "png"))
    if operation == "deep":
        return Draft(replace_json_text(c.data, "metadata", deep_json()), f"metadata: {DEEP} nested lists",
                     output=output)
    files = meta.get("dicom", {}).get("files") if isinstance(meta, dict) else None
    if operation in ("filename", "filenames") and files:
        names = [c.rng.choice(HOSTILE_NAMES + (str(c.sandbox / "abs" / "x.dcm"),)) for _ in files]
        if operation == "filename":
            names = [entry.get("filename") for entry in files]
            names[c.rng.randrange(len(files))] = c.rng.choice(HOSTILE_NAMES + (str(c.sandbox / "abs" / "x.dcm"),))
        for entry, name in zip(files, names):
            entry["filename"] = name
        note = f"dicom file names {names!r:.80}"
        output = "series"
    elif operation == "dicom-json" and files:
        number = c.rng.randrange(len(files))
        files[number] = c.rng.choice((c.rng.choice(BROKEN_DICOM), {**files[number], **c.rng.choice(BROKEN_DICOM)}))
        note = f"dicom file {number} = {files[number]!r:.60}"
    elif operation == "dicom-section":
        meta = parts.metadata = meta if isinstance(meta, dict) else {}
        meta["format"] = "dicom"
        meta["dicom"] = c.rng.choice(([], None, "x", {"files": "x"}, {"files": [1, 2]}, {"files": []},
                                      {"files": {}}, {"layout": 5, "files": files or []},
                                      {"layout": "multiframe", "files": files or [{}]},
                                      {"layout": "series", "files": (files or [{}]) * 2}))
        note = f"dicom section = {meta['dicom']!r:.60}"
    elif operation == "not-object":
        parts.metadata = c.rng.choice(([], "x", 1, None, [meta], True, 1.5))
        note = f"metadata = {parts.metadata!r:.40}"
    else:
        meta = parts.metadata = meta if isinstance(meta, dict) else {}
        key = c.rng.choice(("format", "nifti", "itk", "rescale", "slicer", "compression", "sample"))
        meta[key] = c.rng.choice((*HOSTILE[:21], "dicom", "nifti", "png", {"header": 5}, {"header": "zz"},
                                  {"slope": "x", "intercept": None}, {"slope": 0}, {"a": [1]}, {"sform_code": "x"}))
        note = f"metadata[{key!r}] = {meta[key]!r:.40}"
    return Draft(parts.pack(), note, output=output)


LENGTHS = (0, 1, 7, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def length(c: Crafter) -> Draft:
    where, data = c.where, bytearray(c.data)
    fields = {"header length": 8, "metadata length": where.metadata_field, "chunk count": where.count,
              **{f"chunk {n} length": where.entry(n) for n in range(len(where.chunks))}}
    if c.rng.random() < 0.1:
        return _huge_count(c)
    name = c.rng.choice(sorted(fields))
    at = fields[name]
    old = u32(c.data, at)
    value = c.rng.choice((*LENGTHS, old - 1, old + 1, len(c.data), c.rng.randrange(1 << 32))) % (1 << 32)
    U32.pack_into(data, at, value)
    fix = c.rng.random() < 0.5
    if fix and name == "header length" and 16 + value <= len(data):
        U32.pack_into(data, 12, zlib.crc32(data[16:16 + value]))
    elif fix and name == "metadata length" and at + 8 + value <= len(data):
        U32.pack_into(data, at + 4, zlib.crc32(data[at + 8:at + 8 + value]))
    elif fix and name.startswith("chunk"):
        end = where.count + 4 + (value if name == "chunk count" else len(where.chunks)) * where.entry_size
        if end + 4 <= len(data):
            U32.pack_into(data, end, zlib.crc32(data[where.count:end]))
        else:
            fix = False
    else:
        fix = False
    return Draft(bytes(data), f"{name} {old} -> {value}" + (" (CRC fixed)" if fix else ""))


def _huge_count(c: Crafter) -> Draft:
    """The header and the index agree on 2**24 chunks; the file holds a few."""
    parts = c.fresh()
    parts.header["shape"][0] = 1 << 24
    parts.header["slices_per_chunk"] = 1
    data = bytearray(parts.pack())
    where = layout(c.data)
    U32.pack_into(data, len(data) - len(c.data) + where.count, 1 << 24)
    return Draft(bytes(data), "header and index: 2**24 chunks")


def chunk(c: Crafter) -> Draft:
    parts = c.fresh()
    count = len(parts.chunks)
    operation = c.rng.choice(("swap", "swap", "duplicate", "alter", "alter", "drop", "drop-consistent", "extra"))
    if operation in ("swap", "duplicate") and count > 1:
        i, j = c.rng.sample(range(count), 2)
        order = list(range(count))
        if operation == "swap":
            order[i], order[j] = j, i
        else:
            order[j] = i
        return _reordered(c, parts, order, f"{operation} chunks {i} and {j}")
    if operation == "alter":
        number = c.rng.randrange(count)
        parts.chunks[number] = _altered(c, parts.chunks[number])
        covered = parts.version > 1 and c.lossless
        return Draft(parts.pack(), f"alter chunk {number}, CRC recomputed, digest not", detectable=covered)
    if operation == "drop-consistent" and count > 1:
        parts.header["shape"][0] = (count - 1) * parts.header["slices_per_chunk"]
        del parts.chunks[-1]
        if parts.digests:
            del parts.digests[-1]
        return Draft(parts.pack(), "drop the last chunk and its slices, everything recomputed", detectable=False)
    if operation == "extra":
        number = c.rng.randrange(count)
        parts.chunks.append(parts.chunks[number])
        if parts.digests:
            parts.digests.append(parts.digests[number])
        return Draft(parts.pack(), f"append a copy of chunk {number}")
    number = c.rng.randrange(count)
    del parts.chunks[number]
    if parts.digests:
        del parts.digests[number]
    return Draft(parts.pack(), f"drop chunk {number}")


def _altered(c: Crafter, payload: bytes) -> bytes:
    data = bytearray(payload)
    if not data or c.rng.random() < 0.2:
        return bytes(data) + c.rand_bytes(c.rng.randint(1, 16))
    for _ in range(c.rng.randint(1, 4)):
        data[c.rng.randrange(len(data))] ^= 1 << c.rng.randrange(8)
    return bytes(data)


def _reordered(c: Crafter, parts: Parts, order: list[int], what: str) -> Draft:
    """Chunks (and their index entries) in another order, their CRCs kept, recomputed plain (the version-1
    way) or recomputed for their new places, their digests moved with them or left in place."""
    chunks, crcs, digests = parts.chunks, parts.crcs, parts.digests
    parts.chunks = [chunks[n] for n in order]
    moved = c.rng.random() < 0.5
    if digests is not None and moved:
        parts.digests = [digests[n] for n in order]
    mode = c.rng.choice(("kept", "plain", "position") if parts.version > 1 else ("kept",))
    if mode == "kept":
        data = parts.pack([crcs[n] for n in order])
    elif mode == "plain":
        data = parts.pack([zlib.crc32(chunk) for chunk in parts.chunks])
    else:
        data = parts.pack()
    detectable = parts.version > 1 and (mode != "position" or (c.lossless and not moved))
    digest_note = "" if digests is None else (", digests moved" if moved else ", digests in place")
    return Draft(data, f"{what}, CRCs {mode}{digest_note}", detectable=detectable)


GENERATORS: dict[str, Callable[[Crafter], Draft]] = {"mutation": mutation, "header": header, "metadata": metadata,
                                                   "length": length, "chunk": chunk}


def _pick_source(rng: random.Random, kind: str, choices: tuple[Source, ...]) -> Source:
    """Chunk cases need several chunks; metadata cases favour the DICOM series (its file names)."""
    if kind == "chunk":
        choices = tuple(s for s in choices if len(Parts.of(s.data).chunks) > 1)
    elif kind == "metadata" and rng.random() < 0.5:
        choices = tuple(s for s in choices if s.name == SERIES)
    return rng.choice(choices)


def make_case(codec: str, kind: str, seed: int, sandbox: Path) -> Case:
    """The case (codec, kind, seed); ``sandbox`` is the folder its absolute hostile paths point into."""
    rng = random.Random(f"{codec}/{kind}/{seed}")
    source = _pick_source(rng, kind, sources(codec))
    version = 1 if rng.random() < VERSION_1_SHARE else FORMAT_VERSION
    draft = GENERATORS[kind](Crafter(rng, source, version, sandbox))
    output = draft.output
    if output is None and rng.random() < OUTPUT_SHARE:
        output = rng.choice(sorted(OUTPUTS))
    return Case(codec, kind, seed, source, version, draft.note, draft.data, draft.detectable, output)
