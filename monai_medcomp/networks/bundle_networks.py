"""The networks of the residual, GAN and GAN-AE codecs with MONAI-style constructors, for bundles' ``network_def``.

MONAI's bundle tools (``verify_net_in_out``, ``ckpt_export``) build a network from keyword arguments
and call ``forward`` on an image tensor.  The ``cnn-rnn-ae`` and GAN-AE codecs build these classes
themselves, and ``DownsampledBlockGAN`` only adds the 4x4 averaging to the GAN codecs'
``ResNetGenerator``, so the bundle's ``model.pt`` ``"network"`` state loads unchanged; ``forward``
maps 2D blocks (side a multiple of 32) to their reconstruction without quantisation.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .autoencoder import ConvEncoder, LatentBitstream, ResidualAutoencoder
from .block_autoencoder import BlockAutoencoder
from .gan import ResNetGenerator

GENERATOR_UPSAMPLING = 4


def _require_2d(name: str, spatial_dims: int) -> None:
    if spatial_dims != 2:
        raise ValueError(f"{name} codes 2D slices: spatial_dims must be 2, not {spatial_dims}")


class ResidualBlockAutoencoder(ResidualAutoencoder):
    """``cnn-rnn-ae``: ``stages`` block autoencoders, each coding what the earlier ones left."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1, stages: int = 3,
                 latent_channels: int = 2, encoder_channels: Sequence[int] = (16, 16, 16),
                 decoder_channels: Sequence[int] = (32, 16, 16), downsamples: int = 3):
        _require_2d(type(self).__name__, spatial_dims)
        super().__init__([BlockAutoencoder(spatial_dims, in_channels, out_channels, latent_channels, encoder_channels,
                                           decoder_channels, downsamples) for _ in range(stages)])


class DownsampledBlockGAN(ResNetGenerator):
    """``gan-wgan`` / ``gan-dcgan``: the block averaged over 4x4 pixels is the latent (no learned encoder);
    the generator, which upsamples by 4, restores the detail a bilinear upsampling misses."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1, features: int = 32,
                 residual_blocks: int = 3):
        _require_2d(type(self).__name__, spatial_dims)
        super().__init__(in_channels, out_channels, features, residual_blocks, image_skip=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.avg_pool2d(x, GENERATOR_UPSAMPLING))


class EncoderGenerator(LatentBitstream, nn.Module):
    """``gan-ae-*``: a max-pooling block encoder to a ``latent_channels`` latent, a ResNet generator as decoder."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1, latent_channels: int = 2,
                 encoder_channels: Sequence[int] = (32, 16), features: int = 32, residual_blocks: int = 3):
        _require_2d(type(self).__name__, spatial_dims)
        super().__init__()
        self.encoder = ConvEncoder(in_channels, latent_channels, encoder_channels, downsamples=2)
        self.generator = ResNetGenerator(latent_channels, out_channels, features, residual_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.generator(latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
