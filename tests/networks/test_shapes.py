"""Shape checks in the spirit of MONAI's ``verify_net_in_out``: every exported network built from its
MONAI-style keyword arguments, ``forward`` returning a Tensor of the expected shape, and bitstream
methods exactly where a network has a bitstream of its own."""

from __future__ import annotations

import pytest
import torch

from monai_medcomp.networks import (AnchoredMLP, BlockAutoencoder, BlockDiscriminator, CausalPredictorMLP,
                                    ConvAutoencoder, ConvEncoder, ResidualAutoencoder, ResNetGenerator,
                                    UpsamplingDecoder)


def _residual(stages: int = 3) -> ResidualAutoencoder:
    return ResidualAutoencoder([ConvAutoencoder(ConvEncoder(1, 2, (16, 16, 16), downsamples=3),
                                                UpsamplingDecoder(2, 1, (32, 16, 16), upsamples=3))
                                for _ in range(stages)])


# (network, input shape, forward output shape, latent shape of compress or None when it has no bitstream)
CASES = {
    "cnn-ae": (lambda: BlockAutoencoder(spatial_dims=2, in_channels=1, out_channels=1), (2, 1, 64, 32),
               (2, 1, 64, 32), (2, 2, 16, 8)),
    "cnn-ae-ft": (lambda: BlockAutoencoder(decoder_channels=(10, 10)), (3, 1, 32, 32), (3, 1, 32, 32),
                  (3, 2, 8, 8)),
    "cnn-rnn-ae": (_residual, (2, 1, 32, 32), (2, 1, 32, 32), (2, 2, 4, 4)),
    "gan generator": (lambda: ResNetGenerator(1, 1, image_skip=True), (2, 1, 8, 8), (2, 1, 32, 32), (2, 1, 8, 8)),
    "gan-ae generator": (lambda: ResNetGenerator(2, 1), (2, 2, 8, 8), (2, 1, 32, 32), None),
    "discriminator": (lambda: BlockDiscriminator(1), (4, 1, 32, 32), (4, 1), None),
    "mlp predictor": (lambda: CausalPredictorMLP(in_channels=60, out_channels=3), (5, 3, 64), (5, 3), None),
    "anchored mlp": (lambda: AnchoredMLP(in_channels=60), (5, 60), (5, 1), None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_returns_a_tensor_of_the_expected_shape(case):
    build, in_shape, out_shape, _ = CASES[case]
    network = build().eval()
    with torch.no_grad():
        out = network(torch.rand(in_shape))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == out_shape


@pytest.mark.parametrize("case", sorted(CASES))
def test_bitstream_methods_only_where_there_is_a_bitstream(case):
    build, in_shape, out_shape, latent_shape = CASES[case]
    network = build().eval()
    if latent_shape is None:
        if isinstance(network, ResNetGenerator):  # has the methods of its family, but no encoder of its own
            with pytest.raises(ValueError, match="has no encoder"):
                network.compress(torch.rand(2, 1, 32, 32), 4)
        else:
            assert not hasattr(network, "compress") and not hasattr(network, "decompress")
        return
    image = torch.rand(in_shape[0], in_shape[1], out_shape[2], out_shape[3])
    compressed = network.compress(image, 4)
    assert tuple(compressed["shape"]) == latent_shape and all(type(s) is bytes for s in compressed["strings"])
    x_hat = network.decompress(compressed["strings"], compressed["shape"], 4)["x_hat"]
    assert x_hat.shape == image.shape and x_hat.dtype == torch.float32
