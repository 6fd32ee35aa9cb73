"""Generator and discriminator of the GAN and GAN-AE codecs (paper, Figures 8 to 10).

The generator is ResNet-like: residual blocks (convolution, batch norm, ReLU) at the latent's
resolution, then two x2 upsamplings by transposed convolution, then a convolution to the image.
With ``image_skip`` the latent is itself a 4x downsampled image and the generator learns only the
detail a bilinear upsampling of it misses.  Both networks start from Xavier initialisation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .autoencoder import LatentBitstream

UPSAMPLING = 4  # the generator's two x2 transposed convolutions


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution and linear layer."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class ResidualBlock(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features), nn.ReLU(),
                                  nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class ResNetGenerator(LatentBitstream, nn.Module):
    """Latent (N, in_channels, h, w) -> image (N, out_channels, 4h, 4w).

    With ``image_skip`` (the GAN codecs) the latent is the image averaged over 4x4 pixels, so the
    generator has a bitstream of its own: ``compress(image)`` quantises that average and
    ``decompress`` generates from it (arguments as in :class:`.LatentBitstream`).  Without it (the
    GAN-AE codecs) the latent comes from a learned encoder: only the module that holds encoder and
    generator together compresses, and this one's ``encode`` refuses.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, features: int = 32, residual_blocks: int = 3,
                 image_skip: bool = False):
        super().__init__()
        self.image_skip = image_skip
        self.head = nn.Sequential(nn.Conv2d(in_channels, features, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(features) for _ in range(residual_blocks)])
        self.upsample = nn.Sequential(*[layer for _ in range(2) for layer in (
            nn.ConvTranspose2d(features, features, 4, stride=2, padding=1), nn.BatchNorm2d(features), nn.ReLU())])
        self.tail = nn.Conv2d(features, out_channels, 3, padding=1)
        xavier_init(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> the latent the GAN codecs code: its 4x4 average (``image_skip`` generators only)."""
        if not self.image_skip:
            raise ValueError("this generator decodes a learned encoder's latent and has no encoder: compress with "
                             "the network that holds both")
        return F.avg_pool2d(x, UPSAMPLING)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        out = self.tail(self.upsample(self.blocks(self.head(latent))))
        if self.image_skip:
            out = out + F.interpolate(latent[:, :out.shape[1]], scale_factor=UPSAMPLING, mode="bilinear",
                                      align_corners=False)
        return out

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decode(latent)


class BlockDiscriminator(nn.Module):
    """Strided convolutions with leaky ReLU to one score per 32x32 block (a logit, or a WGAN critic value).

    A training-time critic only: it codes nothing, so it has no ``compress`` / ``decompress``.
    """

    def __init__(self, in_channels: int = 1, features: int = 32, block_size: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, features, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(features, 2 * features, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * features, 2 * features, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.score = nn.Linear(2 * features * (block_size // 8) ** 2, 1)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.body(x).flatten(1))
