"""What every lossy learned block codec shares: fixed-rate latents, weights from a bundle, the chunk format.

A codec family (:mod:`.autoencoder`, :mod:`.gan`) only says how to build its network, how an image
block becomes integer latents (``analyse``), how latents become a block (``synthesise``), and the
differentiable stand-in that training uses (``relaxed``: uniform noise in place of rounding).

Grey and RGB: a bundle holds a grey model (``models/model.pt``) and may hold an RGB model
(``models/model_rgb.pt``, trained with ``--channels 3``) of the same family.  An RGB model takes a
block's three planes together and has three times the grey model's latent channels, so it can spend
its latent on what the planes share; a bundle without one codes an RGB image plane by plane with the
grey model (the documented conversion).  A chunk's flags say which model made it.

Rate: the paper's fixed 16:1.  A 32x32 block of one plane holds ``1024 * bits`` raw bits; its
latents (all stages together) get ``64 * bits``: ``latent_bits`` divides that budget among the
latent elements, so an 8-bit grey block stores at most 64 bytes, a 16-bit one 128 and an 8-bit
RGB block 192.  The optional
``entropy`` parameter codes the same integers with the bundle's learned factorised prior instead
(:mod:`..entropy.factorized`): same pixels, fewer bytes; a section keeps the fixed packing if the
prior would not make it smaller.

Determinism: pixels are normalised by the bit depth, the networks run in float64 and the output
is rounded and clipped to the bit depth.  Each chunk stores a digest of the pixels after each
stage, so a machine that computes the network differently raises an error instead of returning
other pixels.

Speed: the networks see ``BLOCKS_PER_PASS`` blocks per call.  In eval mode every layer computes
each block on its own, so the pass size does not change a pixel, but a pass of a few blocks keeps
the float64 activations in the CPU cache: a 512x512 slice codes about three times faster than in
one pass of all its 256 blocks.  Each stage is decoded once per slice, however many digests use it.

Chunk layout (little-endian): version u8, flags u8 (bit 0: entropy coded; bit 1: RGB model), stages u8,
bits per latent element u8, the first 8 bytes of the bundle's SHA-256, u32-length-prefixed sections
(fine-tuned decoder weights as float16, may be empty; then one latent section per stage, each
starting with a u8 packing kind), one 8-byte BLAKE2b digest of the pixels per stage, CRC-32.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import zlib
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..entropy.factorized import decode_factorized, encode_factorized, pack_fixed, unpack_fixed
from ..errors import CodecError, MissingWeightsError, UnsupportedDataError
from ..weights import RGB_WEIGHTS_FILE, WEIGHTS_FILE, Weights, find_weights, has_weights
from .base import Codec, PixelFormat
from .blocks import BLOCK, block_grid, from_blocks, to_blocks

CHUNK_VERSION = 1
SHA_PREFIX = 8
DIGEST_SIZE = 8
RATIO = 16
BLOCKS_PER_PASS = 4
PACKINGS = ("fixed", "factorized")
ENTROPY_CODED, RGB_MODEL = 1, 2  # chunk flags
_HEAD = struct.Struct("<BBBB")
_U32 = struct.Struct("<I")


def quantise(latent: Any, levels: int) -> Any:
    """Continuous latent in [0, 1] -> integers 0 .. levels-1 (torch tensors)."""
    return (latent * (levels - 1)).round().clamp(0, levels - 1)


def dequantise(symbols: Any, levels: int) -> Any:
    return symbols / (levels - 1)


def add_quantisation_noise(latent: Any, levels: int) -> Any:
    """Training's stand-in for rounding: uniform noise of one quantisation step."""
    import torch

    return latent + (torch.rand_like(latent) - 0.5) / (levels - 1)


def pixel_digest(pixels: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(pixels, dtype="<u2").tobytes(), digest_size=DIGEST_SIZE).digest()


def in_passes(stage_outputs: Callable[[slice], Sequence[Any]], count: int) -> list[Any]:
    """``stage_outputs`` (blocks ``slice`` -> one tensor per stage) over ``count`` blocks, ``BLOCKS_PER_PASS``
    at a time, each stage's tensors concatenated."""
    import torch

    passes = [stage_outputs(slice(start, start + BLOCKS_PER_PASS)) for start in range(0, count, BLOCKS_PER_PASS)]
    return [torch.cat(stage) for stage in zip(*passes)]


CHANNEL_NAMES = {1: "grey", 3: "RGB"}


def model_file(channels: int) -> Path:
    """The bundle's weights for blocks of ``channels`` planes."""
    return WEIGHTS_FILE if channels == 1 else RGB_WEIGHTS_FILE


@functools.lru_cache(maxsize=None)
def _cached_state(weights: Weights) -> dict[str, Any]:
    return weights.state()


class LearnedBlockCodec(Codec):
    """A lossy codec of 32x32 blocks through a trained network whose weights live in ``bundles/<bundle>``."""

    lossy = True
    uses_torch = True
    bundle: ClassVar[str]
    stages: ClassVar[int] = 1
    latent_channels: ClassVar[int] = 2
    latent_size: ClassVar[int] = 8  # latent rows = cols per block
    params_allowed: ClassVar[tuple[str, ...]] = ("entropy",)

    # -- what a family defines -------------------------------------------------------------------------
    def build_network(self, channels: int = 1) -> Any:
        """The untrained torch module whose state the bundle holds, for blocks of ``channels`` planes
        (``latent_channels`` per plane)."""
        raise NotImplementedError

    def analyse(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        """Normalised blocks (N, channels, 32, 32) -> integer latents, one tensor per stage."""
        raise NotImplementedError

    def synthesise(self, network: Any, latents: Sequence[Any], levels: int) -> Any:
        """Integer latents of the first ``len(latents)`` stages -> normalised blocks."""
        raise NotImplementedError

    def relaxed(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        """Training: the reconstruction after each stage, with noise in place of rounding (differentiable)."""
        raise NotImplementedError

    def reconstructions(self, network: Any, latents: Sequence[Any], levels: int) -> list[Any]:
        """The normalised blocks after each of the first ``len(latents)`` stages, the last being what
        :meth:`synthesise` returns.  A multi-stage family overrides it to decode each stage only once."""
        return [self.synthesise(network, latents[:k], levels) for k in range(1, len(latents) + 1)]

    def tune(self, network: Any, blocks: Any, latents: Sequence[Any], levels: int,
             params: dict[str, Any]) -> bytes:
        """Fine-tuned decoder weights to store in the chunk (nothing for codecs that do not fine-tune)."""
        return b""

    def tuned_network(self, network: Any, stored: bytes) -> Any:
        """The decoder that ``stored`` (what :meth:`tune` returned) describes."""
        if stored:
            raise CodecError(f"{self.name} chunk holds decoder weights, but this codec stores none (damaged data)")
        return network

    # -- rate ------------------------------------------------------------------------------------------
    @property
    def latent_elements(self) -> int:
        """Latent integers per 32x32 block of one plane, all stages together."""
        return self.stages * self.latent_channels * self.latent_size ** 2

    def latent_bits(self, bits: int) -> int:
        """Bits per latent integer so that a block's latents take at most 1/16 of its raw bits."""
        return max(1, BLOCK * BLOCK * bits // RATIO // self.latent_elements)

    # -- the contract ----------------------------------------------------------------------------------
    def default_params(self) -> dict[str, Any]:
        return {"entropy": False}

    def check_params(self, params: dict[str, Any]) -> None:
        unknown = set(params) - set(self.params_allowed)
        if unknown:
            raise CodecError(f"codec {self.name!r} does not take {', '.join(sorted(unknown))} "
                             f"(parameters: {', '.join(self.params_allowed)})")
        if type(params.get("entropy", False)) is not bool:
            raise CodecError(f"codec {self.name!r}: entropy must be true or false, not {params['entropy']!r}")

    @property
    def bundle_name(self) -> str:  # type: ignore[override]
        return self.bundle

    @property
    def available(self) -> bool:
        return has_weights(self.bundle)

    def weights_info(self, fmt: PixelFormat | None = None) -> dict[str, str] | None:
        try:
            return self.bundle_weights(self.model_channels(fmt.channels if fmt else 1)).info()
        except MissingWeightsError:
            return None

    def bundle_weights(self, channels: int = 1) -> Weights:
        """The bundle's weights file for blocks of ``channels`` planes, as :func:`find_weights` resolves it."""
        try:
            return find_weights(self.bundle, model_file(channels))
        except MissingWeightsError as error:
            raise MissingWeightsError(f"codec {self.name!r} has no trained {CHANNEL_NAMES[channels]} weights: "
                                      f"{error}") from None

    def model_channels(self, image_channels: int) -> int:
        """3 where an RGB image meets a bundle with an RGB model; otherwise 1 (grey model, plane by plane)."""
        return 3 if image_channels == 3 and has_weights(self.bundle, RGB_WEIGHTS_FILE) else 1

    def load_bundle(self, channels: int = 1, expected_prefix: bytes | None = None) -> tuple[Any, np.ndarray, str]:
        """The float64 network for blocks of ``channels`` planes, its prior histograms (stages, latent channels,
        bins) and the weights' SHA-256."""
        import torch

        weights = self.bundle_weights(channels)
        if expected_prefix is not None:
            weights.expect(expected_prefix, self.name)
        state = _cached_state(weights)
        network = self.build_network(channels)
        try:
            network.load_state_dict(state["network"])
        except (KeyError, RuntimeError) as error:
            raise MissingWeightsError(f"codec {self.name!r}: {weights.path} does not hold "
                                      f"this codec's {CHANNEL_NAMES[channels]} network "
                                      f"({str(error).splitlines()[0]})") from None
        network = network.to(torch.float64).eval()
        return network, state["prior"].numpy(), weights.sha256

    def encode(self, slab: np.ndarray, fmt: PixelFormat, params: dict[str, Any]) -> bytes:
        import torch

        self.check_params(params)
        image = _as_image(slab, fmt, self.name)
        channels = self.model_channels(fmt.channels)
        network, prior, sha256 = self.load_bundle(channels)
        q = self.latent_bits(fmt.bits)
        levels = 1 << q
        blocks = torch.from_numpy(to_blocks(image).reshape(-1, channels, BLOCK, BLOCK).astype(np.float64)
                                  / fmt.max_value)
        with torch.no_grad():
            latents = in_passes(lambda part: self.analyse(network, blocks[part], levels), len(blocks))
        tuned = self.tune(network, blocks, latents, levels, params)
        decoder = self.tuned_network(network, tuned)
        digests = [pixel_digest(self._pixels(stage, image.shape, fmt))
                   for stage in self._reconstructions(decoder, latents, levels)]
        sections = [tuned] + [self._latent_section(s.numpy().astype(np.int64), prior[stage], q, params)
                              for stage, s in enumerate(latents)]
        flags = (ENTROPY_CODED if params.get("entropy") else 0) | (RGB_MODEL if channels == 3 else 0)
        body = (_HEAD.pack(CHUNK_VERSION, flags, self.stages, q)
                + bytes.fromhex(sha256)[:SHA_PREFIX] + b"".join(_U32.pack(len(p)) + p for p in sections)
                + b"".join(digests))
        return body + _U32.pack(zlib.crc32(body))

    def decode(self, data: bytes, shape: Sequence[int], fmt: PixelFormat, params: dict[str, Any]) -> np.ndarray:
        import torch

        rows, cols = int(shape[1]), int(shape[2])
        flags, stages, q, sha, sections, digests = self._parse(data)
        channels = 3 if flags & RGB_MODEL else 1
        if fmt.channels % channels:
            raise CodecError(f"{self.name} chunk was coded by an RGB model, but the image has {fmt.channels} "
                             "channel(s) (damaged data)")
        count = math.prod(block_grid(rows, cols)) * fmt.channels // channels  # blocks the latents describe
        wanted = int(params.get("stages", stages))
        if not 1 <= wanted <= stages:
            raise CodecError(f"codec {self.name!r}: stages must be 1 to {stages}, not {wanted}")
        network, prior, _ = self.load_bundle(channels, sha)
        levels = 1 << q
        latent_shape = (count, self.latent_channels * channels, self.latent_size, self.latent_size)
        latents = [torch.from_numpy(self._read_latents(sections[1 + k], prior[k], q, latent_shape)).to(torch.float64)
                   for k in range(wanted)]
        decoder = self.tuned_network(network, sections[0])
        image = self._pixels(self._reconstructions(decoder, latents, levels)[-1], (rows, cols, fmt.channels), fmt)
        if pixel_digest(image) != digests[wanted - 1]:
            raise CodecError(f"codec {self.name!r}: decoded pixels differ from the encoder's (digest mismatch): "
                             "this machine computes the network differently")
        return image.reshape(tuple(shape)).astype(fmt.dtype)

    # -- helpers ---------------------------------------------------------------------------------------
    def _reconstructions(self, network: Any, latents: Sequence[Any], levels: int) -> list[Any]:
        import torch

        with torch.no_grad():
            return in_passes(lambda part: self.reconstructions(network, [s[part] for s in latents], levels),
                             len(latents[0]))

    @staticmethod
    def _pixels(blocks: Any, image_shape: tuple[int, ...], fmt: PixelFormat) -> np.ndarray:
        """Normalised blocks (a tensor) -> the image's integer pixels, rounded and clipped to the bit depth."""
        pixels = np.clip(np.round(blocks.numpy() * fmt.max_value), 0, fmt.max_value).astype(np.int64)
        return from_blocks(pixels.reshape(-1, image_shape[2], BLOCK, BLOCK), *image_shape)

    def _latent_section(self, symbols: np.ndarray, prior: np.ndarray, q: int, params: dict[str, Any]) -> bytes:
        fixed = bytes([PACKINGS.index("fixed")]) + pack_fixed(symbols, q)
        if not params.get("entropy"):
            return fixed
        coded = bytes([PACKINGS.index("factorized")]) + encode_factorized(symbols, prior, 1 << q)
        return coded if len(coded) < len(fixed) else fixed

    def _read_latents(self, section: bytes, prior: np.ndarray, q: int, shape: tuple[int, ...]) -> np.ndarray:
        if not section or section[0] >= len(PACKINGS):
            raise CodecError(f"{self.name} chunk has an unknown latent packing (damaged data)")
        if PACKINGS[section[0]] == "fixed":
            return unpack_fixed(section[1:], q, int(np.prod(shape))).reshape(shape)
        return decode_factorized(section[1:], prior, 1 << q, shape)

    def _parse(self, data: bytes) -> tuple[int, int, int, bytes, list[bytes], list[bytes]]:
        if len(data) < _HEAD.size + SHA_PREFIX + _U32.size:
            raise CodecError(f"{self.name} chunk is truncated")
        body, (crc,) = data[:-_U32.size], _U32.unpack(data[-_U32.size:])
        if zlib.crc32(body) != crc:
            raise CodecError(f"{self.name} chunk checksum mismatch: its latents or weights are damaged")
        version, flags, stages, q = _HEAD.unpack_from(body)
        if version != CHUNK_VERSION:
            raise CodecError(f"{self.name} chunk version {version} is not supported (this build reads {CHUNK_VERSION})")
        if stages != self.stages or not 1 <= q <= 16:
            raise CodecError(f"{self.name} chunk header does not match the codec (damaged data)")
        pos = _HEAD.size + SHA_PREFIX
        sha = body[_HEAD.size:pos]
        sections = []
        for _ in range(1 + stages):
            (size,) = _U32.unpack_from(body, pos)
            sections.append(body[pos + _U32.size:pos + _U32.size + size])
            pos += _U32.size + size
        if len(body) - pos != stages * DIGEST_SIZE:
            raise CodecError(f"{self.name} chunk has the wrong length (damaged data)")
        digests = [body[pos + k * DIGEST_SIZE:pos + (k + 1) * DIGEST_SIZE] for k in range(stages)]
        return flags, stages, q, sha, sections, digests


def _as_image(slab: np.ndarray, fmt: PixelFormat, name: str) -> np.ndarray:
    """The one slice of ``slab`` as (rows, cols, channels), after checking what the engine promised."""
    slab = np.asarray(slab)
    if slab.dtype.kind not in "ui":
        raise UnsupportedDataError(f"codec {name!r} codes integer pixels, not {slab.dtype.name} data")
    if slab.ndim not in (3, 4) or slab.shape[0] != 1:
        raise UnsupportedDataError(f"codec {name!r} codes one slice at a time, got a slab of shape {slab.shape}")
    return slab[0].astype(np.int64).reshape(slab.shape[1], slab.shape[2], fmt.channels)
