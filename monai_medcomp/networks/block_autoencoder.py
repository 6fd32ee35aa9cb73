"""The ``cnn-ae`` family's autoencoder with a MONAI-style constructor, for bundles' ``network_def``.

MONAI's bundle tools (``verify_net_in_out``, ``ckpt_export``) build a network from keyword arguments
and call ``forward`` on a tensor.  This class builds the same modules as the codecs do, so a bundle's
``model.pt`` state loads into it unchanged; ``forward`` reconstructs without quantisation, and
``compress`` / ``decompress`` (from :class:`.ConvAutoencoder`) give the codec's latent bitstream.
"""

from __future__ import annotations

from typing import Sequence

from .autoencoder import ConvAutoencoder, ConvEncoder, UpsamplingDecoder


class BlockAutoencoder(ConvAutoencoder):
    """``ConvEncoder`` + ``UpsamplingDecoder`` of 2D blocks (side a multiple of ``2 ** downsamples``).

    Defaults are ``cnn-ae``'s (32x32 block -> 2x8x8 latent); ``cnn-ae-ft`` is
    ``decoder_channels=(10, 10)``.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 1,
                 latent_channels: int = 2, encoder_channels: Sequence[int] = (32, 16),
                 decoder_channels: Sequence[int] = (64, 32), downsamples: int = 2):
        if spatial_dims != 2:
            raise ValueError(f"BlockAutoencoder codes 2D slices: spatial_dims must be 2, not {spatial_dims}")
        super().__init__(ConvEncoder(in_channels, latent_channels, encoder_channels, downsamples),
                         UpsamplingDecoder(latent_channels, out_channels, decoder_channels, downsamples))
