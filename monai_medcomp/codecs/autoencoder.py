"""The paper's convolutional autoencoder codecs: ``cnn-ae``, ``cnn-rnn-ae`` and ``cnn-ae-ft``.

* ``cnn-ae`` (Figure 6): max-pooling encoder narrowing to a 2-channel 8x8 latent per 32x32 block,
  interpolation-and-convolution decoder; MSE, Adam.
* ``cnn-rnn-ae`` (Figure 7): three stages, each an autoencoder of the residual the earlier stages
  left, to a 2-channel 4x4 latent; a file decodes progressively (``stages`` 1, 2 or 3 at decode time).
* ``cnn-ae-ft`` (Figure 11): the ``cnn-ae`` encoder shape with a shallow decoder of 1,191 weights,
  fine-tuned on each slice at encode time; the tuned weights (float16) are stored in the chunk and
  count in the file's size.

The rate, the bitstream and the weights' handling are shared (:mod:`.learned_block`).
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from ..errors import CodecError
from ..networks.block_autoencoder import BlockAutoencoder
from ..networks.bundle_networks import ResidualBlockAutoencoder
from .base import register
from .learned_block import LearnedBlockCodec, add_quantisation_noise, dequantise, quantise
from .reproductions import REPRODUCTIONS

FINETUNE_STEPS = 60
FINETUNE_LR = 1e-3
FINETUNE_SEED = 0
FINETUNE_BATCH = 64


class SingleLatentCodec(LearnedBlockCodec):
    """One quantised latent per block: ``network.encode`` analyses, ``network.decode`` synthesises.

    The CNN-AE and the GAN-AEs differ only in the network they build."""

    def analyse(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        return [quantise(network.encode(blocks), levels)]

    def synthesise(self, network: Any, latents: Sequence[Any], levels: int) -> Any:
        return network.decode(dequantise(latents[0], levels))

    def relaxed(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        return [network.decode(add_quantisation_noise(network.encode(blocks), levels))]


@register
class CNNAECodec(SingleLatentCodec):
    name = "cnn-ae"
    bundle = "cnn_ae"
    description = REPRODUCTIONS["cnn-ae"].describe("lossy 16:1: convolutional autoencoder of 32x32 blocks")
    decoder_channels: tuple[int, ...] = (64, 32)

    def build_network(self, channels: int = 1) -> BlockAutoencoder:
        return BlockAutoencoder(in_channels=channels, out_channels=channels,
                                latent_channels=self.latent_channels * channels, decoder_channels=self.decoder_channels)


@register
class CNNRNNAECodec(LearnedBlockCodec):
    name = "cnn-rnn-ae"
    bundle = "cnn_rnn_ae"
    stages = 3
    latent_size = 4
    params_allowed = ("entropy", "stages")
    description = REPRODUCTIONS["cnn-rnn-ae"].describe(
        "lossy 16:1, progressive: three residual autoencoder stages of 32x32 blocks")

    def build_network(self, channels: int = 1) -> ResidualBlockAutoencoder:
        return ResidualBlockAutoencoder(in_channels=channels, out_channels=channels, stages=self.stages,
                                        latent_channels=self.latent_channels * channels)

    def check_params(self, params: dict[str, Any]) -> None:
        super().check_params(params)
        if "stages" in params and params["stages"] not in range(1, self.stages + 1):
            raise CodecError(f"codec {self.name!r}: stages must be 1 to {self.stages}, not {params['stages']!r}")

    def analyse(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        reconstruction = blocks * 0
        latents = []
        for stage in network.stages:
            symbols = quantise(stage.encode(blocks - reconstruction), levels)
            reconstruction = reconstruction + stage.decode(dequantise(symbols, levels))
            latents.append(symbols)
        return latents

    def synthesise(self, network: Any, latents: Sequence[Any], levels: int) -> Any:
        return self.reconstructions(network, latents, levels)[-1]

    def reconstructions(self, network: Any, latents: Sequence[Any], levels: int) -> list[Any]:
        """Running sums of the stages' outputs: every stage decoded once for all the progressive qualities."""
        outputs = [stage.decode(dequantise(symbols, levels)) for stage, symbols in zip(network.stages, latents)]
        return list(itertools.accumulate(outputs))

    def relaxed(self, network: Any, blocks: Any, levels: int) -> list[Any]:
        reconstruction = blocks * 0
        outputs = []
        for stage in network.stages:
            latent = add_quantisation_noise(stage.encode(blocks - reconstruction), levels)
            reconstruction = reconstruction + stage.decode(latent)
            outputs.append(reconstruction)
        return outputs


class FineTunedDecoderCodec(LearnedBlockCodec):
    """Per-slice fine-tuning of the parameters that ``tuned_parameters`` names, stored as float16.

    Listed first among a codec's bases, it adds fine-tuning to that codec family (``CNNAECodec``...)."""

    params_allowed = ("entropy", "finetune_steps")

    def tuned_parameters(self, network: Any) -> list[Any]:
        raise NotImplementedError

    def check_params(self, params: dict[str, Any]) -> None:
        super().check_params(params)
        steps = params.get("finetune_steps", FINETUNE_STEPS)
        if type(steps) is not int or not 0 <= steps <= 10000:
            raise CodecError(f"codec {self.name!r}: finetune_steps must be an integer from 0 to 10000, "
                             f"not {steps!r}")

    def tune(self, network: Any, blocks: Any, latents: Sequence[Any], levels: int, params: dict[str, Any]) -> bytes:
        """Adam on this slice's MSE, from the bundle's weights, with the latents fixed (seeded, float32)."""
        import copy

        import torch

        model = copy.deepcopy(network).to(torch.float32).eval()
        target = blocks.to(torch.float32)
        fixed = [symbols.to(torch.float32) for symbols in latents]
        weights = self.tuned_parameters(model)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in weights:
            parameter.requires_grad_(True)
        optimiser = torch.optim.Adam(weights, lr=FINETUNE_LR)
        generator = torch.Generator().manual_seed(FINETUNE_SEED)
        batch = min(len(target), FINETUNE_BATCH)
        for _ in range(params.get("finetune_steps", FINETUNE_STEPS)):
            pick = torch.randperm(len(target), generator=generator)[:batch]
            output = self.synthesise(model, [s[pick] for s in fixed], levels)
            loss = torch.mean((output - target[pick]) ** 2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        vector = torch.cat([w.detach().flatten() for w in weights]).numpy()
        return vector.astype("<f2").tobytes()

    def tuned_network(self, network: Any, stored: bytes) -> Any:
        import copy

        import torch

        if not stored:
            raise CodecError(f"{self.name} chunk lacks its fine-tuned decoder weights (damaged data)")
        model = copy.deepcopy(network)
        weights = self.tuned_parameters(model)
        values = np.frombuffer(stored, dtype="<f2").astype(np.float64)
        if len(values) != sum(w.numel() for w in weights):
            raise CodecError(f"{self.name} chunk holds {len(values)} decoder weights, the codec needs "
                             f"{sum(w.numel() for w in weights)} (damaged data)")
        with torch.no_grad():
            start = 0
            for weight in weights:
                weight.copy_(torch.from_numpy(values[start:start + weight.numel()]).reshape(weight.shape))
                start += weight.numel()
        return model


@register
class CNNAEFTCodec(FineTunedDecoderCodec, CNNAECodec):
    name = "cnn-ae-ft"
    bundle = "cnn_ae_ft"
    description = REPRODUCTIONS["cnn-ae-ft"].describe(
        "lossy ~16:1: CNN-AE with a 1,191-weight decoder fine-tuned per slice and stored")

    decoder_channels = (10, 10)

    def tuned_parameters(self, network: Any) -> list[Any]:
        return list(network.decoder.parameters())
