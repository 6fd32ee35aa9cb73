"""Two small classical baselines from the literature: BTTC and k-means vector quantisation.

* ``bttc``: binary-tree triangular coding (Distasi, Nappi & Vitulano, 1997).  The slice is covered
  by squares, each cut along its diagonal into two right triangles, and every triangle whose linear
  interpolation of its three corners misses a pixel by more than ``tolerance`` is split at the
  middle of its hypotenuse.  The split flags (one bit per splittable triangle, level by level) and
  the new corner values (residuals from the middle of the hypotenuse, quantised with step
  ``2 * tolerance + 1`` as in JPEG-LS) are then compressed with LZMA.  The encoder tests triangles
  with the corner values the decoder will see, so |error| <= tolerance holds by construction and
  ``tolerance = 0`` is lossless.
* ``kmeans``: k-means++ vector quantisation of ``block x block`` pixel blocks (scikit-learn's
  KMeans with a fixed seed); the codebook and the block indices are stored, then LZMA.

Both code one slice at a time with numpy (BTTC level by level, never triangle by triangle): a
512 x 512 slice takes well under a second.  RGB: BTTC codes each channel as its own plane; k-means
quantises the 3-channel block as one vector.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import lzma
import struct
from typing import Any, Sequence

import numpy as np

from .base import Knob, PixelFormat, register
from .classical import ErrorBoundKnob, PlaneCodec
from .reproductions import REPRODUCTIONS

BITSTREAM_VERSION = 1  # of the layouts below; raise it when they change
# A 4 MiB window holds a large slice's streams; preset 9's 64 MiB would cost ~30 ms per call to set up.
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 22}]


def frame(*streams: bytes) -> bytes:
    """Byte streams joined with a length before each, so that :func:`unframe` can part them."""
    return b"".join(struct.pack("<I", len(stream)) + stream for stream in streams)


def unframe(data: bytes) -> list[bytes]:
    streams, position = [], 0
    while position < len(data):
        (length,) = struct.unpack_from("<I", data, position)
        streams.append(data[position + 4:position + 4 + length])
        position += 4 + length
    return streams


def pack_streams(*streams: bytes) -> bytes:
    """Framed streams compressed together with LZMA (raw format: no container overhead)."""
    return lzma.compress(frame(*streams), format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)


def unpack_streams(data: bytes) -> list[bytes]:
    return unframe(lzma.decompress(data, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS))


def to_byte_planes(codes: np.ndarray) -> list[bytes]:
    """Signed integers zigzag-mapped to unsigned and split into byte planes, low byte first.

    Small codes of either sign become small bytes, and LZMA models each plane on its own (the high
    planes are mostly zero).
    """
    unsigned = np.where(codes >= 0, 2 * codes, -2 * codes - 1)
    count = max(1, (int(unsigned.max(initial=0)).bit_length() + 7) // 8)
    return [((unsigned >> (8 * plane)) & 0xFF).astype(np.uint8).tobytes() for plane in range(count)]


def from_byte_planes(planes: Sequence[bytes]) -> np.ndarray:
    unsigned = sum(np.frombuffer(data, dtype=np.uint8).astype(np.int64) << (8 * number)
                   for number, data in enumerate(planes))
    return np.where(unsigned % 2 == 0, unsigned // 2, -(unsigned + 1) // 2)


# --- BTTC -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TriangleGrid:
    """Squares of side ``2**n`` (corner to corner) in a row or column, covering the slice.

    The side follows the slice's shorter axis, so a 1024 x 256 slice is four squares rather than
    one 1024-wide square mostly made of padding.  Each square starts as two right triangles.
    """

    side: int
    tiles: tuple[int, int]

    @classmethod
    def cover(cls, rows: int, cols: int) -> "TriangleGrid":
        side = 1 << (max(min(rows, cols), 2) - 2).bit_length()
        return cls(side, (max(1, -(-(rows - 1) // side)), max(1, -(-(cols - 1) // side))))

    @property
    def shape(self) -> tuple[int, int]:
        return self.tiles[0] * self.side + 1, self.tiles[1] * self.side + 1

    def corners(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of every square's corners, in raster order: their values start the stream."""
        rows, cols = np.meshgrid(np.arange(0, self.shape[0], self.side), np.arange(0, self.shape[1], self.side),
                                 indexing="ij")
        return rows.ravel(), cols.ravel()

    def initial_triangles(self) -> np.ndarray:
        """Each square cut along its anti-diagonal; rows are (right-angle corner, hypotenuse ends)."""
        top, left = (np.arange(count) * self.side for count in self.tiles)
        top, left = (axis.ravel() for axis in np.meshgrid(top, left, indexing="ij"))
        bottom, right = top + self.side, left + self.side
        top_left, top_right = np.stack([top, left], axis=1), np.stack([top, right], axis=1)
        bottom_left, bottom_right = np.stack([bottom, left], axis=1), np.stack([bottom, right], axis=1)
        upper = np.stack([top_left, top_right, bottom_left], axis=1)
        lower = np.stack([bottom_right, bottom_left, top_right], axis=1)
        return np.concatenate([upper, lower])


@functools.lru_cache(maxsize=None)
def triangle_stencil(legs: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets inside the triangle (0, u, v) (edges included) and their barycentric weights.

    ``legs`` is ``(u_row, u_col, v_row, v_col)``: the two legs from the right-angle corner A to B and
    C.  The legs are orthogonal with a power-of-two squared length, so the weights are exact binary
    fractions and the rounded interpolation is the same on every machine, encoder and decoder alike.
    """
    u, v = np.array(legs[:2]), np.array(legs[2:])
    corners = np.array([[0, 0], legs[:2], legs[2:]])
    low, high = corners.min(axis=0), corners.max(axis=0)
    rows, cols = np.mgrid[low[0]:high[0] + 1, low[1]:high[1] + 1]
    points = np.stack([rows.ravel(), cols.ravel()], axis=1)
    along_u, along_v = points @ u, points @ v
    inside = (along_u >= 0) & (along_v >= 0) & (along_u + along_v <= u @ u)
    s, t = along_u[inside] / (u @ u), along_v[inside] / (v @ v)
    return points[inside], np.stack([1.0 - s - t, s, t], axis=1)


def triangle_pixels(triangles: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each group of same-shaped triangles: their indices, pixel (row, col) grids and weights.

    Triangles of one level share their leg length, so the signs of the legs tell their shape apart
    (one of eight orientations).
    """
    legs = np.concatenate([triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]], axis=1)
    orientation = (np.sign(legs) + 1) @ (3 ** np.arange(4))
    groups = []
    for code in np.flatnonzero(np.bincount(orientation)):
        members = np.flatnonzero(orientation == code)
        offsets, weights = triangle_stencil(tuple(int(x) for x in legs[members[0]]))
        origin = triangles[members, 0]
        rows = origin[:, 0:1] + offsets[:, 0]
        cols = origin[:, 1:2] + offsets[:, 1]
        groups.append((members, (rows, cols), weights))
    return groups


def interpolate(values: np.ndarray, triangles: np.ndarray, members: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rounded linear interpolation of the corner values over each member triangle's pixels."""
    corners = values[triangles[members, :, 0], triangles[members, :, 1]].astype(float)  # (T, 3)
    # Element-wise rather than a matrix product: every term is exact, and BLAS threads stay out of it.
    return np.rint(sum(corners[:, k:k + 1] * weights[:, k] for k in range(3)))


def split_triangles(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hypotenuse midpoints and the two children (right angle at the midpoint) of each triangle."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    middle = (b + c) // 2
    children = np.concatenate([np.stack([middle, a, b], axis=1), np.stack([middle, c, a], axis=1)])
    return middle, children


def splittable(triangles: np.ndarray) -> np.ndarray:
    """Triangles whose hypotenuse midpoint is a pixel; the others hold no pixel but their corners."""
    return ((triangles[:, 1] + triangles[:, 2]) % 2 == 0).all(axis=1)


def new_corners(middle: np.ndarray, triangles: np.ndarray, values: np.ndarray, known: np.ndarray):
    """Midpoints not known yet (each once, in raster order) and their predictions from the hypotenuse.

    Two triangles that share a hypotenuse share its midpoint and its prediction.
    """
    b, c = triangles[:, 1], triangles[:, 2]
    prediction = np.zeros(known.shape, dtype=np.int64)
    prediction[middle[:, 0], middle[:, 1]] = (values[b[:, 0], b[:, 1]] + values[c[:, 0], c[:, 1]] + 1) // 2
    fresh = np.zeros(known.shape, dtype=bool)
    fresh[middle[:, 0], middle[:, 1]] = True
    where = np.nonzero(fresh & ~known)
    return where, prediction[where]


def quantize(residuals: np.ndarray, tolerance: int) -> np.ndarray:
    """Near-lossless quantiser (as in JPEG-LS): ``|residual - dequantize(code)| <= tolerance``."""
    return np.sign(residuals) * ((np.abs(residuals) + tolerance) // (2 * tolerance + 1))


def dequantize(codes: np.ndarray, tolerance: int) -> np.ndarray:
    return codes * (2 * tolerance + 1)


def bttc_encode_plane(plane: np.ndarray, tolerance: int) -> bytes:
    """Split level by level; corners are tested and predicted with their decoded values (closed loop)."""
    rows, cols = plane.shape
    grid = TriangleGrid.cover(rows, cols)
    image = np.pad(plane.astype(np.int64), ((0, grid.shape[0] - rows), (0, grid.shape[1] - cols)), mode="edge")
    values = np.zeros(grid.shape, dtype=np.int64)
    known = np.zeros(grid.shape, dtype=bool)
    triangles = grid.initial_triangles()
    corners = grid.corners()
    codes = [quantize(image[corners], tolerance)]
    values[corners] = dequantize(codes[0], tolerance)
    known[corners] = True
    flags = []
    while len(triangles := triangles[splittable(triangles)]):
        split = np.zeros(len(triangles), dtype=bool)
        for members, pixels, weights in triangle_pixels(triangles):
            error = np.abs(image[pixels] - interpolate(values, triangles, members, weights))
            split[members] = error.max(axis=1) > tolerance
        flags.append(split)
        middle, children = split_triangles(triangles[split])
        where, prediction = new_corners(middle, triangles[split], values, known)
        codes.append(quantize(image[where] - prediction, tolerance))
        values[where] = prediction + dequantize(codes[-1], tolerance)
        known[where] = True
        triangles = children
    tree = np.packbits(np.concatenate(flags)) if flags else np.zeros(0, np.uint8)
    return pack_streams(tree.tobytes(), *to_byte_planes(np.concatenate(codes)))


def bttc_decode_plane(data: bytes, rows: int, cols: int, tolerance: int) -> np.ndarray:
    tree, *planes = unpack_streams(data)
    flags = np.unpackbits(np.frombuffer(tree, dtype=np.uint8)).astype(bool)
    residuals = dequantize(from_byte_planes(planes), tolerance)
    grid = TriangleGrid.cover(rows, cols)
    values = np.zeros(grid.shape, dtype=np.int64)
    known = np.zeros(grid.shape, dtype=bool)
    output = np.zeros(grid.shape, dtype=np.int64)
    triangles = grid.initial_triangles()
    corners = grid.corners()
    used_flags, used_residuals = 0, len(corners[0])
    values[corners] = residuals[:used_residuals]
    known[corners] = True
    while len(triangles := triangles[splittable(triangles)]):
        split = flags[used_flags:used_flags + len(triangles)]
        used_flags += len(triangles)
        leaves = triangles[~split]
        for members, pixels, weights in triangle_pixels(leaves):
            output[pixels] = interpolate(values, leaves, members, weights)
        middle, children = split_triangles(triangles[split])
        where, prediction = new_corners(middle, triangles[split], values, known)
        count = len(prediction)
        values[where] = prediction + residuals[used_residuals:used_residuals + count]
        used_residuals += count
        known[where] = True
        triangles = children
    output[known] = values[known]
    return output[:rows, :cols]


@register
class Bttc(ErrorBoundKnob, PlaneCodec):
    """Binary-tree triangular coding: |error| <= tolerance by construction; 0 is lossless."""

    name = "bttc"
    lossless = True
    lossy = True
    knob = Knob("tolerance", 0, 4095, higher_is_better=False,
                description="largest |error| a triangle's linear interpolation may make; 0 is lossless")
    description = REPRODUCTIONS["bttc"].describe("binary-tree triangular coding (numpy) with an LZMA stage")

    @property
    def version(self) -> str:
        return f"bttc {BITSTREAM_VERSION} (numpy {np.__version__})"

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        channels = [plane] if fmt.channels == 1 else [plane[..., c] for c in range(fmt.channels)]
        return frame(*(bttc_encode_plane(channel, self.knob_value(params)) for channel in channels))

    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        tolerance = self.knob_value(params)
        channels = [bttc_decode_plane(stream, shape[0], shape[1], tolerance) for stream in unframe(data)]
        return channels[0] if fmt.channels == 1 else np.stack(channels, axis=-1)


# --- k-means vector quantisation --------------------------------------------------------------------

def to_blocks(plane: np.ndarray, block: int) -> np.ndarray:
    """``(rows, cols[, C])`` -> one row per ``block x block`` block (edges padded by replication)."""
    rows, cols = plane.shape[:2]
    pad = [(0, -rows % block), (0, -cols % block)] + [(0, 0)] * (plane.ndim - 2)
    padded = np.pad(plane, pad, mode="edge")
    grid_rows, grid_cols = padded.shape[0] // block, padded.shape[1] // block
    blocks = padded.reshape(grid_rows, block, grid_cols, block, -1).swapaxes(1, 2)
    return blocks.reshape(grid_rows * grid_cols, -1)


def from_blocks(vectors: np.ndarray, block: int, shape: Sequence[int]) -> np.ndarray:
    rows, cols = shape[:2]
    grid_rows, grid_cols = -(-rows // block), -(-cols // block)
    blocks = vectors.reshape(grid_rows, grid_cols, block, block, -1).swapaxes(1, 2)
    plane = blocks.reshape(grid_rows * block, grid_cols * block, -1)[:rows, :cols]
    return plane.reshape(tuple(shape))


def index_dtype(clusters: int) -> np.dtype:
    return np.dtype("u1" if clusters <= 256 else "<u2")


def sample_dtype(fmt: PixelFormat) -> np.dtype:
    """The samples' dtype, little-endian whatever the machine, as stored in the stream."""
    return fmt.dtype.newbyteorder("<")


@register
class KMeansVq(PlaneCodec):
    """k-means++ vector quantisation of small blocks: a per-slice codebook plus one index per block."""

    name = "kmeans"
    lossy = True
    default_block = 4
    default_codebook = 256
    knob = Knob("codebook", 2, 4096, description="number of codewords (k)")
    param_ranges = {"block": (1, 64)}
    description = REPRODUCTIONS["kmeans"].describe(
        "k-means++ vector quantisation of 4x4 blocks (scikit-learn) with an LZMA stage")

    @property
    def version(self) -> str:
        return f"kmeans {BITSTREAM_VERSION} (scikit-learn {importlib.metadata.version('scikit-learn')})"

    def default_params(self) -> dict[str, Any]:
        return {"codebook": self.default_codebook, "block": self.default_block}

    def encode_plane(self, plane: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        from sklearn.cluster import KMeans  # only encoding needs scikit-learn

        vectors = to_blocks(plane, int(params.get("block", self.default_block)))
        # k-means cannot find more clusters than there are distinct blocks.
        clusters = min(int(params.get("codebook", self.default_codebook)), len(np.unique(vectors, axis=0)))
        model = KMeans(n_clusters=clusters, init="k-means++", n_init=1, random_state=0).fit(vectors.astype(float))
        codebook = np.clip(np.rint(model.cluster_centers_), 0, fmt.max_value).astype(sample_dtype(fmt))
        indices = model.labels_.astype(index_dtype(clusters))
        return pack_streams(struct.pack("<I", clusters), codebook.tobytes(), indices.tobytes())

    def decode_plane(self, data: bytes, shape: tuple[int, ...], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        count, codebook, indices = unpack_streams(data)
        (clusters,) = struct.unpack("<I", count)
        codebook = np.frombuffer(codebook, dtype=sample_dtype(fmt)).reshape(clusters, -1)
        labels = np.frombuffer(indices, dtype=index_dtype(clusters))
        return from_blocks(codebook[labels], int(params.get("block", self.default_block)), shape)
