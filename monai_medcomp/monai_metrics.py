"""Compression figures as MONAI ``CumulativeIterationMetric``s, to sit beside ``PSNRMetric`` and ``SSIMMetric``.

``BitsPerPixelMetric``, ``CompressionRatioMetric`` and ``SpaceSavingMetric`` read the sizes that
:class:`~monai_medcomp.transforms.Encode` (and ``SimulateCompression``, ``Decode``) put in
``meta["compression"]`` of their output, so ``y_pred`` is that output (a batch or a list of images); they
ignore ``y``.  ``MaxErrorMetric`` compares ``y_pred`` with ``y`` voxel by voxel.  Each image gives one
value; ``aggregate()`` averages them (``MaxErrorMetric``: the largest) as
:mod:`monai_medcomp.metrics` does for one image.

MONAI's quality metrics assume data in [0, 1] unless told otherwise.  For stored integers give the
peak of the true bit depth, ``2**bits_stored - 1`` (``monai_medcomp.metrics.peak_value``), e.g. for
12-bit CT or MR::

    PSNRMetric(max_val=4095)
    SSIMMetric(spatial_dims=2, data_range=4095)

and 65535 for 16-bit data; a 16-bit dtype holding 12-bit values with ``max_val=65535`` reports PSNR
24 dB too high.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.data import MetaTensor
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from .errors import MedCompError
from .transforms import COMPRESSION_KEY

MAX_REDUCTION = "max"


def _figure(y_pred: torch.Tensor, name: str) -> torch.Tensor:
    """One ``meta["compression"][name]`` value per image of a batch, as float64 of shape ``(B, 1)``."""
    figures = y_pred.meta.get(COMPRESSION_KEY) if isinstance(y_pred, MetaTensor) else None
    if figures is None:
        raise MedCompError(f"no meta[{COMPRESSION_KEY!r}] on y_pred: pass the output of "
                           "monai_medcomp.transforms.Encode, Decode or SimulateCompression")
    return torch.as_tensor(figures[name], dtype=torch.float64).reshape(-1, 1)


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    """The pixels without MetaTensor meta, so the buffer holds plain tensors."""
    return tensor.as_tensor() if isinstance(tensor, MetaTensor) else tensor


class _PerImageMetric(CumulativeIterationMetric):
    """One value per image, averaged (or reduced as ``reduction`` says) by ``aggregate``."""

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def aggregate(self, reduction: MetricReduction | str | None = None) -> Any:
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise MedCompError("the metric buffer is empty or not a tensor: call the metric on images first")
        reduction = self.reduction if reduction is None else reduction
        if reduction == MAX_REDUCTION:
            values, not_nans = data.max(), torch.tensor(float(data.numel()))
        else:
            values, not_nans = do_metric_reduction(data, reduction)
        return (values, not_nans) if self.get_not_nans else values


class BitsPerPixelMetric(_PerImageMetric):
    """Bits per pixel of each compressed image (whole ``.mcz`` bytes x 8 / pixels; RGB pixels count once)."""

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        return _figure(y_pred, "compressed_bytes") * 8 / _figure(y_pred, "num_pixels")


class CompressionRatioMetric(_PerImageMetric):
    """Raw bytes of the coded integers over compressed bytes (2.0 = half the size)."""

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        return _figure(y_pred, "raw_bytes") / _figure(y_pred, "compressed_bytes")


class SpaceSavingMetric(_PerImageMetric):
    """``1 - compressed / raw`` bytes (0.75 = a quarter of the size is left)."""

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        return 1.0 - _figure(y_pred, "compressed_bytes") / _figure(y_pred, "raw_bytes")


class MaxErrorMetric(_PerImageMetric):
    """Largest ``|y_pred - y|`` of each image, in float64 (exact for 16-bit integers); ``aggregate`` takes the max.

    ``reduction`` may also be any MONAI reduction (e.g. ``"mean"`` for the mean per-image maximum).
    """

    def __init__(self, reduction: MetricReduction | str = MAX_REDUCTION, get_not_nans: bool = False) -> None:
        super().__init__(reduction, get_not_nans)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        if y is None or y.shape != y_pred.shape:
            raise MedCompError(f"MaxErrorMetric needs y of the shape of y_pred {tuple(y_pred.shape)}, "
                               f"got {None if y is None else tuple(y.shape)}")
        difference = _plain(y_pred).double() - _plain(y).double()
        return difference.abs().reshape(len(difference), -1).amax(dim=1, keepdim=True)
