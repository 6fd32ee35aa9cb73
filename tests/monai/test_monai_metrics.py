"""MONAI cumulative metrics for compression, checked against monai_medcomp.metrics on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import list_data_collate
from monai.metrics import PSNRMetric

from monai_medcomp import metrics
from monai_medcomp import transforms as T
from monai_medcomp.errors import MedCompError
from monai_medcomp.monai_metrics import BitsPerPixelMetric, CompressionRatioMetric, MaxErrorMetric, SpaceSavingMetric


@pytest.fixture
def coded_ct(ct_image):
    """The CT slice coded twice: near-lossless JPEG-LS and JPEG 2000 at 1 bpp, with their reconstructions."""
    encoded = [T.Encode("jpegls", max_error=2)(ct_image), T.Encode("jpeg2000", quality=1.0)(ct_image)]
    return encoded, [T.Decode()(e) for e in encoded]


def _volume_array(image: torch.Tensor) -> np.ndarray:
    return T.channel_first_to_volume_array(image.numpy())


@pytest.mark.parametrize("metric_class, expected", [
    (BitsPerPixelMetric, lambda size, volume: metrics.bits_per_pixel(size, volume.array.shape)),
    (CompressionRatioMetric, lambda size, volume: metrics.compression_ratio(volume.array.nbytes, size)),
    (SpaceSavingMetric, lambda size, volume: metrics.space_saving(volume.array.nbytes, size)),
])
def test_size_metrics_accumulate_and_average(metric_class, expected, coded_ct, ct_volume):
    encoded, reconstructions = coded_ct
    per_image = [expected(e.numel(), ct_volume) for e in encoded]
    assert per_image[0] != pytest.approx(per_image[1])
    metric = metric_class()
    for reconstruction in reconstructions:  # one iteration per image, as an evaluator calls it
        metric(y_pred=[reconstruction])
    np.testing.assert_allclose(metric.get_buffer().flatten().numpy(), per_image)
    assert metric.aggregate().item() == pytest.approx(np.mean(per_image))
    metric.reset()
    metric(y_pred=list_data_collate(reconstructions))  # one batch
    assert metric.aggregate().item() == pytest.approx(np.mean(per_image))


def test_max_error_metric_matches_the_library(coded_ct, ct_image, ct_volume):
    _, reconstructions = coded_ct
    per_image = [metrics.max_abs_error(ct_volume.array, _volume_array(r)) for r in reconstructions]
    assert per_image[0] <= 2 < per_image[1]
    metric = MaxErrorMetric(get_not_nans=True)
    metric(y_pred=reconstructions, y=[ct_image, ct_image])
    value, count = metric.aggregate()
    assert value.item() == max(per_image) and count.item() == 2
    assert metric.aggregate("mean")[0].item() == pytest.approx(np.mean(per_image))


def test_psnr_metric_beside_them_needs_the_true_bit_depth_peak(coded_ct, ct_image, ct_volume):
    _, reconstructions = coded_ct
    peak = metrics.peak_value(ct_volume.array, ct_volume.bits_stored)
    psnr = PSNRMetric(max_val=peak)
    psnr(y_pred=[r.float() for r in reconstructions], y=[ct_image.float()] * 2)
    expected = [metrics.psnr(ct_volume.array, _volume_array(r), bits_stored=ct_volume.bits_stored)
                for r in reconstructions]
    np.testing.assert_allclose(psnr.get_buffer().flatten().numpy(), expected, rtol=1e-5)


def test_size_metrics_refuse_images_without_compression_figures(ct_image):
    with pytest.raises(MedCompError, match="compression"):
        BitsPerPixelMetric()(y_pred=ct_image[np.newaxis])
    with pytest.raises(MedCompError, match="shape"):
        MaxErrorMetric()(y_pred=ct_image[np.newaxis], y=ct_image)
