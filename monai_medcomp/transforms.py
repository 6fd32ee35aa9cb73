"""MONAI transforms that compress images with MedComp codecs: ``Encode`` / ``Decode`` and artefact augmentation.

Images are channel-first, as MONAI loads them: ``(C, H, W)`` in 2D and ``(C, H, W, D)`` in 3D with C = 1
(grey) or 3 (RGB).  MONAI's first spatial axis is the ITK ``i`` (column) axis and the last the slice
axis, so a tensor ``[c, i, j, k]`` is coded as the :class:`~monai_medcomp.volume.Volume` array
``[k, j, i, c]``: 2D codecs then work slice by slice along ``D``, exactly as on the file itself.

``Encode`` returns the ``.mcz`` bytes as a 1-D uint8 MetaTensor on the input's device whose meta is the
input's meta plus ``meta["compression"]`` (codec, params as JSON text, lossless, measured bpp, sizes).
The layout and the input dtype travel inside the container, so ``Decode`` needs nothing but those bytes
and returns the image in its original shape, dtype and device.

Two kinds of pixels are taken.  Stored integers (MONAI loaders give them as float32 whole numbers, which
are converted to the smallest integer type that holds them exactly) are coded as they are.  Intensities
after normalisation (``ScaleIntensity`` to [0, 1], a CT window scaled by ``ScaleIntensityRange``) are not
whole numbers: declare their range and a bit depth, ``value_range=(0, 1), bits_stored=12``, and they are
quantised onto ``0 .. 2**12 - 1``, coded, and restored to the same range and dtype, which is where
compression augmentation sits in a training pipeline (:class:`Quantisation`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, RandomizableTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type

from . import api
from .codecs import get_codec
from .errors import UnsupportedDataError
from .volume import LPS_TO_RAS, SUPPORTED_DTYPES, Volume

COMPRESSION_KEY = "compression"  # meta key of the figures Encode and SimulateCompression measured
LAYOUT_KEY = "monai_layout"  # container metadata key: how to rebuild the channel-first tensor
DEFAULT_AUGMENTATION_CODECS = {"jpeg2000": (0.25, 4.0), "htj2k": (0.002, 0.05), "jpegls": (1, 8)}

Image = torch.Tensor | np.ndarray


def whole_number_array(array: np.ndarray) -> np.ndarray:
    """``array`` as the smallest supported integer dtype that holds its values exactly.

    MONAI readers return float32 even for stored integers; rounding or clipping those silently would make
    a "lossless" round trip lossy, so anything not whole or out of 16-bit range is refused.
    """
    if array.dtype.name in SUPPORTED_DTYPES:
        return array
    if array.dtype.kind not in "biuf":
        raise UnsupportedDataError(f"cannot compress {array.dtype.name} pixels: expected integer values")
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise UnsupportedDataError(f"{array.dtype.name} pixels that are not whole numbers cannot be coded exactly: "
                                   "compress the stored integers (LoadImage without scaling) or, for normalised "
                                   "intensities, give value_range and bits_stored (e.g. (0, 1) and 12)")
    low, high = array.min(), array.max()
    for name in ("uint8", "int8", "uint16", "int16"):
        limits = np.iinfo(name)
        if limits.min <= low and high <= limits.max:
            return array.astype(name)
    raise UnsupportedDataError(f"pixel values {low}..{high} do not fit in 16 bits")


@dataclasses.dataclass(frozen=True)
class Quantisation:
    """Normalised intensities in ``low .. high`` as integers of ``bits`` bits, and back.

    The range maps linearly onto ``0 .. 2**bits - 1``: the codec's PSNR peak is then the range itself, a
    ``max_error`` of n allows n steps of ``(high - low) / (2**bits - 1)``, and a lossless codec returns the
    values to within half a step.  Values outside the range by more than half a step are refused rather
    than clipped, since that means the range declared is not the data's.
    """

    low: float
    high: float
    bits: int

    @classmethod
    def declared(cls, value_range: Sequence[float] | None, bits_stored: int | None) -> "Quantisation | None":
        """The quantisation a transform's ``value_range`` and ``bits_stored`` ask for, checked; None without a range."""
        if value_range is None:
            return None
        low, high = (float(v) for v in value_range)
        if bits_stored is None:
            raise UnsupportedDataError("value_range needs bits_stored too: the bit depth the values are quantised to "
                                       "(e.g. value_range=(0, 1), bits_stored=12)")
        if not (np.isfinite([low, high]).all() and low < high):
            raise UnsupportedDataError(f"value_range must be two finite numbers, low < high, not {tuple(value_range)}")
        if not 2 <= bits_stored <= 16:
            raise UnsupportedDataError(f"bits_stored must be from 2 to 16, not {bits_stored}")
        return cls(low, high, int(bits_stored))

    @property
    def top(self) -> int:
        return (1 << self.bits) - 1

    def to_integers(self, values: np.ndarray) -> np.ndarray:
        if values.dtype.kind != "f":
            raise UnsupportedDataError(f"value_range is for normalised float intensities; these are "
                                       f"{values.dtype.name} integers, which are coded as they are without it")
        steps = (values.astype(np.float64) - self.low) * (self.top / (self.high - self.low))
        if not np.isfinite(steps).all():
            raise UnsupportedDataError("cannot compress NaN or infinite intensities")
        if steps.min() < -0.5 or steps.max() > self.top + 0.5:
            raise UnsupportedDataError(f"intensities {values.min():g}..{values.max():g} lie outside value_range "
                                       f"{self.low:g}..{self.high:g}")
        return np.clip(np.rint(steps), 0, self.top).astype(np.uint8 if self.bits <= 8 else np.uint16)

    def to_values(self, integers: np.ndarray, dtype: str) -> np.ndarray:
        return (self.low + integers.astype(np.float64) * ((self.high - self.low) / self.top)).astype(dtype)


def bits_for_values(array: np.ndarray) -> int:
    """The true bit depth of integer data whose header is lost: the fewest bits that hold its range."""
    low, high = int(array.min()), int(array.max())
    if low >= 0:
        return max(1, high.bit_length())
    return max((-low - 1).bit_length(), high.bit_length()) + 1


def channel_first_to_volume_array(array: np.ndarray) -> np.ndarray:
    """``(C, i, j)`` or ``(C, i, j, k)`` to the Volume layout ``(k, j, i[, C])``."""
    if array.ndim not in (3, 4) or array.shape[0] not in (1, 3):
        raise UnsupportedDataError(f"expected a channel-first 2D (C, H, W) or 3D (C, H, W, D) image with 1 or 3 "
                                   f"channels, got shape {tuple(array.shape)}")
    if array.ndim == 3:
        array = array[..., np.newaxis]
    volume_array = np.ascontiguousarray(array.transpose(3, 2, 1, 0))
    return volume_array[..., 0] if volume_array.shape[-1] == 1 else volume_array


def volume_array_to_channel_first(array: np.ndarray, spatial_dims: int) -> np.ndarray:
    """Inverse of :func:`channel_first_to_volume_array`."""
    if array.ndim == 3:
        array = array[..., np.newaxis]
    channel_first = array.transpose(3, 2, 1, 0)
    return channel_first[..., 0] if spatial_dims == 2 else channel_first


def lps_affine(img: Image) -> np.ndarray:
    """The 4x4 index-to-LPS affine of a MetaTensor (MONAI's affines are RAS unless meta says LPS)."""
    affine = np.eye(4)
    if isinstance(img, MetaTensor):
        given = np.asarray(img.affine.detach().cpu(), dtype=float)
        size = given.shape[0] - 1  # 2 for a 2D (3x3) affine, 3 for 3D
        affine[:size, :size] = given[:size, :size]
        affine[:size, 3] = given[:size, size]
        if str(img.meta.get("space", "RAS")).upper() != "LPS":
            affine = LPS_TO_RAS @ affine
    return affine


def to_volume(img: Image, bits_stored: int | None = None, quantisation: Quantisation | None = None) -> Volume:
    """A channel-first image as a Volume with its geometry and, in the metadata, how to rebuild the tensor
    (and, for normalised intensities, their range)."""
    array = _as_numpy(img)
    layout: dict[str, Any] = {"spatial_dims": array.ndim - 1, "dtype": array.dtype.name}
    volume_array = channel_first_to_volume_array(array)
    if quantisation is not None:
        pixels, bits = quantisation.to_integers(volume_array), quantisation.bits
        layout["value_range"] = [quantisation.low, quantisation.high]
    else:
        pixels = whole_number_array(volume_array)
        bits = bits_for_values(pixels) if bits_stored is None else bits_stored
    return Volume.from_lps_affine(pixels, lps_affine(img), bits_stored=bits, metadata={LAYOUT_KEY: layout})


def decode_channel_first(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    """The channel-first array coded in ``data`` (by :class:`Encode`), back in the input's dtype and, for
    normalised intensities, its range; and the layout stored with it."""
    volume = api.decompress(data)
    layout = volume.metadata.get(LAYOUT_KEY)
    if layout is None:
        raise UnsupportedDataError("these bytes were not made by monai_medcomp.transforms.Encode "
                                   "(no channel-first layout stored); use monai_medcomp.api.decompress")
    array = volume_array_to_channel_first(volume.array, layout["spatial_dims"])
    if "value_range" in layout:
        array = Quantisation.declared(layout["value_range"], volume.bits_stored).to_values(array, layout["dtype"])
    return np.ascontiguousarray(array.astype(layout["dtype"], copy=False)), layout


def _compression_figures(result: api.CompressionResult) -> dict[str, Any]:
    """Plain values only, params as JSON text, so that images coded differently still collate into a batch."""
    return {"codec": result.header.codec, "params": json.dumps(result.params, sort_keys=True),
            "lossless": bool(result.header.lossless), "bpp": result.bpp, "compressed_bytes": result.nbytes,
            "raw_bytes": result.raw_nbytes, "num_pixels": result.num_pixels, "ratio": result.ratio}


def _with_meta(array: torch.Tensor, like: Image, figures: dict[str, Any]) -> Image:
    """``array`` with ``like``'s meta (and applied operations) plus the compression figures."""
    if not isinstance(like, MetaTensor):
        return array
    out = MetaTensor(array, meta=dict(like.meta), applied_operations=list(like.applied_operations))
    if figures is not None:
        out.meta[COMPRESSION_KEY] = figures
    return out


def _as_numpy(data: Image) -> np.ndarray:
    return data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)


class Encode(Transform):
    """Compress a channel-first image with a MedComp codec; returns the ``.mcz`` bytes as a uint8 tensor.

    Give at most one target (``quality`` on the codec's own knob, ``bpp``, ``psnr`` in dB or
    ``max_error``) or explicit ``params``; with neither the codec's default (lossless where it can be).
    ``bits_stored`` sets the true bit depth (the PSNR peak); without it the fewest bits that hold the
    values are assumed, since a tensor no longer knows its file's header.  ``value_range`` (with
    ``bits_stored``) takes normalised intensities: see :class:`Quantisation`.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, codec: str = "jpegls", *, quality: float | None = None, bpp: float | None = None,
                 psnr: float | None = None, max_error: int | None = None, params: dict[str, Any] | None = None,
                 bits_stored: int | None = None, value_range: Sequence[float] | None = None) -> None:
        self.codec = get_codec(codec).name  # an unknown name fails here, not on the first image
        self.options = dict(quality=quality, bpp=bpp, psnr=psnr, max_error=max_error, params=params)
        self.bits_stored = bits_stored
        self.quantisation = Quantisation.declared(value_range, bits_stored)

    def compress(self, img: Image) -> api.CompressionResult:
        return api.compress(to_volume(img, self.bits_stored, self.quantisation), codec=self.codec, **self.options)

    def __call__(self, img: Image) -> Image:
        result = self.compress(img)
        if not isinstance(img, torch.Tensor):
            return np.frombuffer(result.data, dtype=np.uint8).copy()
        data = torch.frombuffer(bytearray(result.data), dtype=torch.uint8).to(img.device)
        return _with_meta(data, img, _compression_figures(result))


class Decode(Transform):
    """Decode the bytes :class:`Encode` made back into the image, in its original shape, dtype and device."""

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __call__(self, data: Image | bytes) -> Image:
        raw = bytes(data) if isinstance(data, (bytes, bytearray)) else _as_numpy(data).astype(np.uint8).tobytes()
        array, layout = decode_channel_first(raw)
        image = torch.from_numpy(array)
        if isinstance(data, torch.Tensor):
            image = image.to(data.device)
        figures = data.meta.get(COMPRESSION_KEY) if isinstance(data, MetaTensor) else None
        return _with_meta(image, data, figures) if isinstance(data, torch.Tensor) else image.numpy()


class SimulateCompression(Transform):
    """Compress and decompress: the reconstruction, of the same type, dtype and device as the input.

    Takes the same codec, target, ``bits_stored`` and ``value_range`` options as :class:`Encode`; the
    measured figures are added to a MetaTensor's ``meta["compression"]``.
    """

    backend = Encode.backend

    def __init__(self, codec: str = "jpeg2000", **options: Any) -> None:
        self.encode = Encode(codec, **options)

    def reconstruct(self, img: Image) -> tuple[Image, dict[str, Any]]:
        """The reconstruction (input type, dtype, device and meta) and the figures measured on the way."""
        result = self.encode.compress(img)
        array, _ = decode_channel_first(result.data)
        reconstruction, *_ = convert_to_dst_type(array, img)
        return reconstruction, _compression_figures(result)

    def __call__(self, img: Image) -> Image:
        reconstruction, figures = self.reconstruct(img)
        if isinstance(reconstruction, MetaTensor):
            reconstruction.meta[COMPRESSION_KEY] = figures
        return reconstruction


class RandSimulateCompression(RandomizableTransform):
    """With probability ``prob``, :class:`SimulateCompression` with a codec and quality drawn at random.

    ``codecs`` maps codec names to a ``(low, high)`` range on that codec's own quality knob (e.g.
    ``{"jpeg2000": (0.25, 4.0)}`` bits per pixel, ``{"jpegls": (1, 8)}`` NEAR); a plain list of names
    uses each knob's whole range, and a codec without a knob runs at its default.  The augmentation
    that makes segmentation or classification models robust to compressed inputs; after intensity
    normalisation, give ``value_range`` and ``bits_stored`` (:class:`Quantisation`).  The meta is left
    as it was (images of a batch must share their meta keys); ``codec`` and ``quality`` say what the
    last call drew.
    """

    backend = Encode.backend

    def __init__(self, prob: float = 0.1, codecs: Mapping[str, Sequence[float]] | Sequence[str] | None = None,
                 bits_stored: int | None = None, value_range: Sequence[float] | None = None) -> None:
        RandomizableTransform.__init__(self, prob)
        codecs = DEFAULT_AUGMENTATION_CODECS if codecs is None else codecs
        if not isinstance(codecs, Mapping):
            codecs = {name: None for name in codecs}
        if not codecs:
            raise UnsupportedDataError("RandSimulateCompression needs at least one codec")
        self.ranges = {get_codec(name).name: _quality_range(name, bounds) for name, bounds in codecs.items()}
        Quantisation.declared(value_range, bits_stored)  # a wrong range fails here, not on the first image
        self.bits_stored, self.value_range = bits_stored, value_range
        self.codec: str = next(iter(self.ranges))
        self.quality: float | None = None

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        names = list(self.ranges)
        self.codec = names[self.R.randint(len(names))]
        bounds = self.ranges[self.codec]
        self.quality = None if bounds is None else _knob_value(self.codec, self.R.uniform(*bounds))

    def __call__(self, img: Image, randomize: bool = True) -> Image:
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        simulate = SimulateCompression(self.codec, quality=self.quality, bits_stored=self.bits_stored,
                                       value_range=self.value_range)
        return simulate.reconstruct(img)[0]


def _quality_range(name: str, bounds: Sequence[float] | None) -> tuple[float, float] | None:
    knob = get_codec(name).knob
    if knob is None:
        return None
    low, high = (knob.low, knob.high) if bounds is None else (float(bounds[0]), float(bounds[1]))
    if not knob.low <= low <= high <= knob.high:
        raise UnsupportedDataError(f"quality range {low}..{high} is outside {name}'s {knob.name} range "
                                   f"{knob.low}..{knob.high}")
    return low, high


def _knob_value(name: str, value: float) -> float:
    return int(round(value)) if get_codec(name).knob.integer else float(value)


class Encoded(MapTransform, InvertibleTransform):
    """Dictionary form of :class:`Encode`; its inverse (and so ``monai.transforms.Invertd``) decodes.

    Encoded images differ in length, so decode them before a ``DataLoader`` stacks a batch.
    """

    backend = Encode.backend

    def __init__(self, keys: KeysCollection, codec: str = "jpegls", allow_missing_keys: bool = False,
                 **options: Any) -> None:
        super().__init__(keys, allow_missing_keys)
        self.encoder = Encode(codec, **options)
        self.decoder = Decode()

    def __call__(self, data: Mapping[Hashable, Image]) -> dict[Hashable, Image]:
        d = dict(data)
        for key in self.key_iterator(d):
            original_size = tuple(d[key].shape[1:])
            d[key] = self.encoder(d[key])
            self.push_transform(d, key, orig_size=original_size)
        return d

    def inverse(self, data: Mapping[Hashable, Image]) -> dict[Hashable, Image]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.pop_transform(d, key)
            d[key] = self.decoder(d[key])
        return d


class Decoded(MapTransform):
    """Dictionary form of :class:`Decode`."""

    backend = Decode.backend

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.decoder = Decode()

    def __call__(self, data: Mapping[Hashable, Image]) -> dict[Hashable, Image]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.decoder(d[key])
        return d


class SimulateCompressiond(MapTransform):
    """Dictionary form of :class:`SimulateCompression`."""

    backend = SimulateCompression.backend

    def __init__(self, keys: KeysCollection, codec: str = "jpeg2000", allow_missing_keys: bool = False,
                 **options: Any) -> None:
        super().__init__(keys, allow_missing_keys)
        self.simulate = SimulateCompression(codec, **options)

    def __call__(self, data: Mapping[Hashable, Image]) -> dict[Hashable, Image]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.simulate(d[key])
        return d


class RandSimulateCompressiond(RandomizableTransform, MapTransform):
    """Dictionary form of :class:`RandSimulateCompression`: one codec and quality drawn for all keys."""

    backend = RandSimulateCompression.backend

    def __init__(self, keys: KeysCollection, prob: float = 0.1,
                 codecs: Mapping[str, Sequence[float]] | Sequence[str] | None = None,
                 bits_stored: int | None = None, value_range: Sequence[float] | None = None,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.rand_simulate = RandSimulateCompression(prob=1.0, codecs=codecs, bits_stored=bits_stored,
                                                     value_range=value_range)

    def set_random_state(self, seed: int | None = None,
                         state: np.random.RandomState | None = None) -> "RandSimulateCompressiond":
        super().set_random_state(seed, state)
        self.rand_simulate.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, Image]) -> dict[Hashable, Image]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.rand_simulate.randomize()
        for key in self.key_iterator(d):
            d[key] = self.rand_simulate(d[key], randomize=False)
        return d


EncodeD = EncodeDict = Encoded
DecodeD = DecodeDict = Decoded
SimulateCompressionD = SimulateCompressionDict = SimulateCompressiond
RandSimulateCompressionD = RandSimulateCompressionDict = RandSimulateCompressiond
