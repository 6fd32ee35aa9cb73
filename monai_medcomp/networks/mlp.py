"""The pixel predictor of the seed lossless codec: small ReLU MLPs on a causal context (paper, Figure 3).

Plain torch layers (no MONAI import): the codec builds this network for every file it opens, and
the light import keeps ``medcomp decompress`` quick.  The constructors follow MONAI's conventions.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class AnchoredMLP(nn.Module):
    """A ReLU MLP minus its own output for an all-zero input.

    The inputs are neighbours minus a reference prediction, so an all-zero input is a flat
    neighbourhood; anchoring makes the network keep the reference there exactly (a background of
    zeros stays predicted as zeros) while its hidden biases still shape the response elsewhere.
    A building block of :class:`CausalPredictorMLP`, with no bitstream of its own.
    """

    def __init__(self, in_channels: int, out_channels: int = 1, hidden_channels: Sequence[int] = (32, 16)):
        super().__init__()
        widths = [in_channels, *hidden_channels]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], out_channels, bias=False))  # a bias would cancel out
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x) - self.mlp(x.new_zeros(1, x.shape[-1]))


class CausalPredictorMLP(nn.Module):
    """One MLP per colour channel predicting a pixel from ``in_channels`` already-coded neighbours.

    Channel ``c`` also receives ``2 * c`` features of the earlier channels of the same pixel, so its
    network has ``in_channels + 2 * c`` inputs.  Grey images use the first network only.

    No ``compress`` / ``decompress``: a prediction needs the already-decoded neighbours, so the
    bitstream (Huffman-coded prediction residuals plus the network's quantised weights) belongs to
    the whole image and is written by the predictive codec (``monai_medcomp.codecs.predictive``).

    Args:
        in_channels: number of causal neighbours (the paper's prediction size, 60).
        out_channels: colour channels predicted (1 for grey, 3 for RGB).
        hidden_channels: widths of the ReLU hidden layers, kept small because every encoded image
            stores its own fine-tuned copy.
    """

    def __init__(self, in_channels: int = 60, out_channels: int = 1, hidden_channels: Sequence[int] = (32, 16)):
        super().__init__()
        self.in_channels = in_channels
        self.nets = nn.ModuleList(AnchoredMLP(in_channels + 2 * c, 1, hidden_channels) for c in range(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, C, in_channels + 2 * (C - 1)) features, zero-padded -> (batch, C) predictions."""
        return torch.cat([net(x[:, c, :self.in_channels + 2 * c]) for c, net in enumerate(self.nets[:x.shape[1]])],
                         dim=1)

    def linear_layers(self, channel: int) -> list[nn.Linear]:
        """The affine layers of one channel's network, input to output (what gets quantised)."""
        return [m for m in self.nets[channel].mlp if isinstance(m, nn.Linear)]
