"""torch modules of the learned codecs, MONAI-style; autoencoders also have CompressAI-style ``compress`` /
``decompress`` of their quantised latents (the codecs add the container, headers and checksums)."""

from .autoencoder import ConvAutoencoder, ConvEncoder, ResidualAutoencoder, UpsamplingDecoder
from .block_autoencoder import BlockAutoencoder
from .bundle_networks import DownsampledBlockGAN, EncoderGenerator, ResidualBlockAutoencoder
from .gan import BlockDiscriminator, ResNetGenerator
from .mlp import AnchoredMLP, CausalPredictorMLP
from .scale_regression import LaplaceScaleRegression
from .wavelet_context import WaveletContextModel

__all__ = ["AnchoredMLP", "BlockAutoencoder", "BlockDiscriminator", "CausalPredictorMLP", "ConvAutoencoder",
           "ConvEncoder", "DownsampledBlockGAN", "EncoderGenerator", "LaplaceScaleRegression", "ResNetGenerator",
           "ResidualAutoencoder", "ResidualBlockAutoencoder", "UpsamplingDecoder", "WaveletContextModel"]
