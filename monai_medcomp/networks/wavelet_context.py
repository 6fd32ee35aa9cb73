"""The learned part of ``learned-lossy``: its wavelet context model, as a MONAI-style network for its bundle.

The codec (``monai_medcomp.codecs.wavelet_context``) picks each quantised coefficient's token table in
NumPy integers, because its decoder must pick the encoder's tables on any machine; this module is the
bundle's view of the same weights, so MONAI's tools (``verify_net_in_out``, ``load_state_dict(strict=True)``)
can build, load and run them.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

GROUPS = (3, 3, 3)  # level groups (finest, second, all coarser levels), bands (LH, HL, HH), coding phases
WEIGHT_BITS = 8  # the activity weights are Q8 integers


class WaveletContextModel(nn.Module):
    """Token probabilities of a quantised wavelet coefficient from the integer features of its context.

    The activity is ``max(features @ weights[group], 0)`` with Q8 integer weights per group (level
    group, band, phase); its class is the number of class thresholds (``2^(c/k) - 1`` magnitudes, in
    Q8, k classes per octave) at or below it, moved by ``offset`` (the per-band offset the encoder stores) and clipped to
    the classes; ``forward`` returns that class's row of ``tables``, the token distribution the
    codec codes the coefficient's magnitude token with.  All but the last step are integer
    arithmetic, as in the codec, so the class is exactly the codec's.

    No ``compress`` / ``decompress``: a coefficient's features are magnitudes already decoded around
    it, so a bitstream needs the codec's whole band-by-band loop; use the ``learned-lossy`` codec.

    Args:
        spatial_dims: must be 2, the codec codes slices.
        in_channels: context features of a coefficient (5: earlier-phase neighbours, parent, parent 3x3,
            siblings, bias).
        out_channels: tokens (80).
        classes: activity classes, one token table each (128).
        classes_per_octave: how finely the classes divide the activity (8).
        group: (level group, band, phase) whose weights ``forward`` uses unless it is given another.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 5, out_channels: int = 80, classes: int = 128,
                 classes_per_octave: int = 8, group: Sequence[int] = (0, 0, 0)):
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"the codec codes 2D slices: spatial_dims must be 2, not {spatial_dims}")
        self.group = self._checked(group)
        self.register_buffer("weights", torch.zeros(*GROUPS, in_channels, dtype=torch.int64))
        self.register_buffer("tables", torch.full((classes, out_channels), 1.0 / out_channels, dtype=torch.float64))
        scale = 1 << WEIGHT_BITS
        thresholds = [round((2 ** (c / classes_per_octave) - 1) * scale) for c in range(1, classes)]
        self.register_buffer("thresholds", torch.tensor(thresholds, dtype=torch.int64), persistent=False)

    @staticmethod
    def _checked(group: Sequence[int]) -> tuple[int, int, int]:
        if len(group) != len(GROUPS) or not all(0 <= int(g) < n for g, n in zip(group, GROUPS)):
            raise ValueError(f"group is (level group, band, phase), each in 0..2, not {tuple(group)}")
        return int(group[0]), int(group[1]), int(group[2])

    def classes(self, features: torch.Tensor, group: Sequence[int] | None = None, offset: int = 0) -> torch.Tensor:
        """``features``: (batch, in_channels) integer-valued -> (batch,) activity classes (int64)."""
        if features.ndim != 2 or features.shape[1] != self.weights.shape[-1]:
            raise ValueError(f"expected (batch, {self.weights.shape[-1]}) features, got shape {list(features.shape)}")
        level, band, phase = self.group if group is None else self._checked(group)
        weights = self.weights[level, band, phase]
        activity = (torch.round(features).to(torch.int64) * weights).sum(dim=1).clamp(min=0)
        classes = torch.searchsorted(self.thresholds, activity, right=True) + offset
        return classes.clamp(0, self.tables.shape[0] - 1)

    def forward(self, features: torch.Tensor, group: Sequence[int] | None = None, offset: int = 0) -> torch.Tensor:
        """(batch, in_channels) features -> (batch, out_channels) token probabilities, in the features' dtype if
        that is a float type (float64 otherwise, the tables' own)."""
        tables = self.tables / self.tables.sum(dim=1, keepdim=True)
        probabilities = tables[self.classes(features, group, offset)]
        return probabilities.to(features.dtype) if features.is_floating_point() else probabilities
