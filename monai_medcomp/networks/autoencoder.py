"""Block autoencoders of the lossy learned codecs (paper, Figures 6, 7 and 11).

Encoders end in a sigmoid so the latent lies in [0, 1], where the codec quantises it; decoders
upsample by interpolation followed by convolution (the paper's alternative to transposed
convolution, free of checkerboard artefacts).  ``forward`` reconstructs without quantisation (what
training and MONAI's ``verify_net_in_out`` call); ``compress`` / ``decompress`` give the real
bitstream of the latents, as in CompressAI, with the codecs' own quantiser and latent packing
(:mod:`..codecs.learned_block`, :mod:`..entropy.factorized`), so they match what a codec writes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..codecs.learned_block import dequantise, quantise
from ..entropy.factorized import decode_factorized, encode_factorized, pack_fixed, unpack_fixed


def _levels(latent_bits: int) -> int:
    if type(latent_bits) is not int or not 1 <= latent_bits <= 16:
        raise ValueError(f"latent_bits must be an integer from 1 to 16, not {latent_bits!r}")
    return 1 << latent_bits


def _pack_latent(symbols: torch.Tensor, latent_bits: int, prior: np.ndarray | None = None) -> bytes:
    """Integer latents -> bytes: ``latent_bits`` bits each, or ANS under a (channels, bins) ``prior``."""
    values = symbols.detach().cpu().numpy().astype(np.int64)
    if prior is None:
        return pack_fixed(values, latent_bits)
    return encode_factorized(values, prior, _levels(latent_bits))


def _unpack_latent(string: bytes, shape: Sequence[int], latent_bits: int, prior: np.ndarray | None,
                  like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_pack_latent`, as a tensor of ``like``'s dtype and device."""
    shape = tuple(int(n) for n in shape)
    if prior is None:
        values = unpack_fixed(string, latent_bits, int(np.prod(shape))).reshape(shape)
    else:
        values = decode_factorized(string, prior, _levels(latent_bits), shape)
    return torch.from_numpy(values).to(like)


def _stage_prior(prior: np.ndarray | None, stage: int) -> np.ndarray | None:
    return None if prior is None else np.asarray(prior)[stage]


class LatentBitstream:
    """``compress`` / ``decompress`` for a module whose ``encode`` maps x to a latent in [0, 1] and
    whose ``decode`` maps a latent back.

    ``latent_bits`` is the bits per latent integer; the codecs take
    ``LearnedBlockCodec.latent_bits(bit depth)`` (the 16:1 rate).  ``prior`` is the bundle's
    ``state["prior"]`` (stages, channels, bins): given, the latents are ANS-coded under it (the
    codecs' ``entropy`` option), otherwise packed at the fixed rate.  x is (N, C, 32k, 32k) in
    [0, 1] (pixels divided by ``2 ** bits - 1``, as the codecs normalise them).
    """

    @torch.no_grad()
    def compress(self, x: torch.Tensor, latent_bits: int, prior: np.ndarray | None = None) -> dict[str, Any]:
        """x -> ``{"strings": [latent bytes], "shape": latent shape (N, C, h, w)}``."""
        symbols = quantise(self.encode(x), _levels(latent_bits))
        return {"strings": [_pack_latent(symbols, latent_bits, _stage_prior(prior, 0))],
                "shape": tuple(symbols.shape)}

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int], latent_bits: int,
                   prior: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """What :meth:`compress` returned -> ``{"x_hat": reconstruction}`` (not rounded or clipped)."""
        if len(strings) != 1:
            raise ValueError(f"{type(self).__name__} codes one latent, got {len(strings)} strings")
        symbols = _unpack_latent(strings[0], shape, latent_bits, _stage_prior(prior, 0), next(self.parameters()))
        return {"x_hat": self.decode(dequantise(symbols, _levels(latent_bits)))}


class ConvEncoder(nn.Sequential):
    """3x3 convolutions + ReLU, a 2x2 max-pooling after each of the first ``downsamples``, then a
    3x3 convolution to ``latent_channels`` and a sigmoid."""

    def __init__(self, in_channels: int = 1, latent_channels: int = 2, features: Sequence[int] = (32, 16),
                 downsamples: int = 2):
        if downsamples > len(features):
            raise ValueError(f"{downsamples} downsamplings need at least as many feature widths, got {list(features)}")
        layers: list[nn.Module] = []
        width = in_channels
        for index, feature in enumerate(features):
            layers += [nn.Conv2d(width, feature, 3, padding=1), nn.ReLU()]
            if index < downsamples:
                layers.append(nn.MaxPool2d(2))
            width = feature
        layers += [nn.Conv2d(width, latent_channels, 3, padding=1), nn.Sigmoid()]
        super().__init__(*layers)


class UpsamplingDecoder(nn.Sequential):
    """3x3 convolutions to ``features`` then to ``out_channels``, a x2 bilinear upsampling before each of
    convolutions 2 .. ``upsamples`` + 1 (so the first one works at the latent's resolution); ReLU
    between convolutions, linear output (the codec clips it)."""

    def __init__(self, latent_channels: int = 2, out_channels: int = 1, features: Sequence[int] = (64, 32),
                 upsamples: int = 2):
        if upsamples > len(features):
            raise ValueError(f"{upsamples} upsamplings need at least as many feature widths, got {list(features)}")
        widths = [latent_channels, *features, out_channels]
        layers: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
            if 1 <= index <= upsamples:
                layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            layers.append(nn.Conv2d(width_in, width_out, 3, padding=1))
            if index < len(features):
                layers.append(nn.ReLU())
        super().__init__(*layers)


class ConvAutoencoder(LatentBitstream, nn.Module):
    """An encoder and a decoder; ``forward`` reconstructs without quantisation (for training and shape
    checks), ``compress`` / ``decompress`` code the quantised latent."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class ResidualAutoencoder(nn.Module):
    """The recurrent scheme of Figure 7 unrolled over its stages: stage k codes what stages 1..k-1
    left (``x`` minus the sum of their reconstructions); the reconstructions add up.

    ``compress`` gives one string per stage, each stage coding the residual of the *quantised*
    earlier stages (what the decoder will have); ``decompress`` of the first k strings is the
    progressive reconstruction after k stages.  Arguments as in :class:`LatentBitstream`.
    """

    def __init__(self, stages: Sequence[ConvAutoencoder]):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, latent_bits: int, prior: np.ndarray | None = None) -> dict[str, Any]:
        levels = _levels(latent_bits)
        reconstruction = torch.zeros_like(x)
        strings = []
        for index, stage in enumerate(self.stages):
            symbols = quantise(stage.encode(x - reconstruction), levels)
            reconstruction = reconstruction + stage.decode(dequantise(symbols, levels))
            strings.append(_pack_latent(symbols, latent_bits, _stage_prior(prior, index)))
        return {"strings": strings, "shape": tuple(symbols.shape)}

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int], latent_bits: int,
                   prior: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        if not 1 <= len(strings) <= len(self.stages):
            raise ValueError(f"{len(self.stages)} stages decode 1 to {len(self.stages)} strings, not {len(strings)}")
        levels = _levels(latent_bits)
        like = next(self.parameters())
        x_hat = 0
        for index, (stage, string) in enumerate(zip(self.stages, strings)):
            symbols = _unpack_latent(string, shape, latent_bits, _stage_prior(prior, index), like)
            x_hat = x_hat + stage.decode(dequantise(symbols, levels))
        return {"x_hat": x_hat}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reconstruction = torch.zeros_like(x)
        for stage in self.stages:
            reconstruction = reconstruction + stage(x - reconstruction)
        return reconstruction
