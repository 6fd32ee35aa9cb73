"""The paper's adversarially trained codecs: ``gan-*``, ``gan-ae-*`` and ``gan-ae-ft``.

* ``gan-wgan`` / ``gan-dcgan`` (Figures 8, 9): no learned encoder: the latent is the block
  averaged over 4x4 pixels (8x8 values per 32x32 block, at the data's full bit depth: exactly
  1/16 of the raw bits); a ResNet-like generator restores the detail.  Trained as WGAN or DCGAN.
* ``gan-ae-{l1,l2}-{wgan,dcgan}`` (Figure 10): a learned max-pooling encoder (2-channel 8x8 latent
  at half the bit depth), the generator as decoder and a discriminator, trained together with an
  L1 or L2 pixel loss plus the adversarial loss.
* ``gan-ae-ft``: the best GAN-AE with the generator's output stage (last batch norm and output
  convolution, 353 weights) fine-tuned per slice at encode time and stored in the chunk as float16.
  "Best" was chosen on held-out training-pool blocks (``bundles/*/docs/training.md``), never on the
  evaluation images: ``gan-ae-l2-wgan``, whose bundle it uses.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn
from torch.nn import functional as F

from ..networks.bundle_networks import EncoderGenerator
from ..networks.gan import ResNetGenerator
from .autoencoder import FineTunedDecoderCodec, SingleLatentCodec
from .base import register
from .learned_block import LearnedBlockCodec, add_quantisation_noise, dequantise, quantise
from .reproductions import REPRODUCTIONS

DOWNSAMPLE = 4


class GANCodec(LearnedBlockCodec):
    """Latent = the 4x4-averaged block; decoder = the generator (``image_skip``: it refines a bilinear upsampling)."""

    latent_channels = 1
    adversarial = "wgan"

    def build_network(self, channels: int = 1) -> nn.Module:
        return ResNetGenerator(self.latent_channels * channels, channels, features=32, residual_blocks=3,
                               image_skip=True)

    def analyse(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        return [quantise(F.avg_pool2d(blocks, DOWNSAMPLE), levels)]

    def synthesise(self, network: Any, latents: Sequence[Any], levels: int) -> Any:
        return network(dequantise(latents[0], levels))

    def relaxed(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        return [network(add_quantisation_noise(F.avg_pool2d(blocks, DOWNSAMPLE), levels))]


@register
class GANWGANCodec(GANCodec):
    name = "gan-wgan"
    bundle = "gan_wgan"
    description = REPRODUCTIONS["gan-wgan"].describe(
        "lossy 16:1: 4x-downsampled block + ResNet generator trained as a WGAN")


@register
class GANDCGANCodec(GANCodec):
    name = "gan-dcgan"
    bundle = "gan_dcgan"
    adversarial = "dcgan"
    description = REPRODUCTIONS["gan-dcgan"].describe(
        "lossy 16:1: 4x-downsampled block + ResNet generator trained as a DCGAN")


class GANAECodec(SingleLatentCodec):
    """Learned encoder + generator decoder, trained with a pixel loss (``pixel_loss``) and a discriminator."""

    adversarial = "wgan"
    pixel_loss = "l2"

    def build_network(self, channels: int = 1) -> EncoderGenerator:
        return EncoderGenerator(in_channels=channels, out_channels=channels,
                                latent_channels=self.latent_channels * channels)


@register
class GANAEL1WGANCodec(GANAECodec):
    name = "gan-ae-l1-wgan"
    bundle = "gan_ae_l1_wgan"
    pixel_loss = "l1"
    description = REPRODUCTIONS["gan-ae-l1-wgan"].describe(
        "lossy 16:1: encoder + ResNet generator + critic, L1 + WGAN loss")


@register
class GANAEL2WGANCodec(GANAECodec):
    name = "gan-ae-l2-wgan"
    bundle = "gan_ae_l2_wgan"
    description = REPRODUCTIONS["gan-ae-l2-wgan"].describe(
        "lossy 16:1: encoder + ResNet generator + critic, L2 + WGAN loss")


@register
class GANAEL1DCGANCodec(GANAECodec):
    name = "gan-ae-l1-dcgan"
    bundle = "gan_ae_l1_dcgan"
    pixel_loss = "l1"
    adversarial = "dcgan"
    description = REPRODUCTIONS["gan-ae-l1-dcgan"].describe(
        "lossy 16:1: encoder + ResNet generator + discriminator, L1 + DCGAN loss")


@register
class GANAEL2DCGANCodec(GANAECodec):
    name = "gan-ae-l2-dcgan"
    bundle = "gan_ae_l2_dcgan"
    adversarial = "dcgan"
    description = REPRODUCTIONS["gan-ae-l2-dcgan"].describe(
        "lossy 16:1: encoder + ResNet generator + discriminator, L2 + DCGAN loss")


@register
class GANAEFTCodec(FineTunedDecoderCodec, GANAEL2WGANCodec):
    name = "gan-ae-ft"
    description = REPRODUCTIONS["gan-ae-ft"].describe(
        "lossy ~16:1: gan-ae-l2-wgan with its generator's output stage fine-tuned per slice")

    def tuned_parameters(self, network: Any) -> list[Any]:
        return [*network.generator.upsample[-2].parameters(), *network.generator.tail.parameters()]
