"""Block autoencoders of the lossy learned codecs (paper, Figures 6, 7 and 11): torch modules only.

Encoders end in a sigmoid so the latent lies in [0, 1], where the codec quantises it; decoders
upsample by interpolation followed by convolution (the paper's alternative to transposed
convolution, free of checkerboard artefacts).  Quantisation is not part of the modules: training
adds noise to :meth:`encode`'s output and codecs round it, both then call :meth:`decode`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


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


class ConvAutoencoder(nn.Module):
    """An encoder and a decoder; ``forward`` reconstructs without quantisation (for shape checks)."""

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
    left (``x`` minus the sum of their reconstructions); the reconstructions add up."""

    def __init__(self, stages: Sequence[ConvAutoencoder]):
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reconstruction = torch.zeros_like(x)
        for stage in self.stages:
            reconstruction = reconstruction + stage(x - reconstruction)
        return reconstruction
