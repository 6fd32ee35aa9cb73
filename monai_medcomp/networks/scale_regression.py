"""The learned part of ``learned-lossless``: a log-scale regression, as a MONAI-style network for its bundle.

The codec (``monai_medcomp.codecs.context_model.ScaleWeights``) computes the same regression in
integers, because its decoder must reproduce the encoder's probabilities bit for bit on any machine;
this module is the bundle's view of those weights, so MONAI's tools (``verify_net_in_out``,
``ckpt_export``, ``load_state_dict(strict=True)``) can build, load and run them.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHT_BITS = 8  # the weights are Q8 integers: level = (features @ w + bias) >> 8


class LaplaceScaleRegression(nn.Module):
    """Predicted log2 Laplace scale of each pixel, in 1/8 octave, from integer log-magnitudes of its context.

    Two linear regressions with Q8 integer weights, the bias last: ``scale_first`` for pixels of a
    slab's first plane (``in_channels`` features: nearby residuals and gradients) and
    ``scale_later`` for the planes after it (``later_channels`` features, adding the previous
    plane's residuals and difference).  ``forward`` picks the regression by the number of features
    it is given and returns ``(features @ w + bias) / 256``: the codec's integer level is its floor.
    The codec computes that level itself, in integers (``ScaleWeights.level``), so that decoding is
    exact on any machine; this network is the bundle's view of the same weights for MONAI's tools.
    The level only ranks pixels into scale classes; each slab stores the Laplace scale of each class.

    No ``compress`` / ``decompress``: a pixel's features are the residuals of already-decoded
    neighbours, so a bitstream needs the whole causal coding loop (per-slab predictor, scale
    classes, ANS coder); use the ``learned-lossless`` codec for that.

    Args:
        spatial_dims: the images the codec codes, 2 (slices) or 3 (volumes, in slabs of slices);
            the regression itself is per pixel.
        in_channels: features of a first-plane pixel (13).
        out_channels: must be 1, the level.
        later_channels: features of a pixel that sees a previous plane (16).
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 13, out_channels: int = 1, later_channels: int = 16):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, not {spatial_dims}")
        if out_channels != 1:
            raise ValueError(f"the regression predicts one level per pixel: out_channels must be 1, not {out_channels}")
        if later_channels == in_channels:
            raise ValueError("later_channels must differ from in_channels: forward tells the regressions apart by "
                             "the number of features")
        self.spatial_dims = spatial_dims
        self.weight_scale = float(1 << WEIGHT_BITS)
        self.register_buffer("scale_first", torch.zeros(in_channels + 1, dtype=torch.int64))
        self.register_buffer("scale_later", torch.zeros(later_channels + 1, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, in_channels or later_channels) integer log features -> (batch, 1) levels (float)."""
        first, later = self.scale_first.numel() - 1, self.scale_later.numel() - 1
        if x.ndim == 2 and x.shape[1] == first:
            weights = self.scale_first
        elif x.ndim == 2 and x.shape[1] == later:
            weights = self.scale_later
        else:
            raise ValueError(f"expected (batch, features) with {first} or {later} features, got shape {list(x.shape)}")
        w = weights.to(x.dtype)
        return ((x @ w[:-1] + w[-1]) / self.weight_scale).unsqueeze(1)
