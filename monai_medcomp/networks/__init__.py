"""torch modules of the learned codecs (no files, no bitstreams)."""

from .autoencoder import ConvAutoencoder, ConvEncoder, ResidualAutoencoder, UpsamplingDecoder
from .block_autoencoder import BlockAutoencoder
from .gan import BlockDiscriminator, ResNetGenerator
from .mlp import AnchoredMLP, CausalPredictorMLP

__all__ = ["AnchoredMLP", "BlockAutoencoder", "BlockDiscriminator", "CausalPredictorMLP", "ConvAutoencoder",
           "ConvEncoder", "ResNetGenerator", "ResidualAutoencoder", "UpsamplingDecoder"]
