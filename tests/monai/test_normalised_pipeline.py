"""Compression after intensity normalisation, where augmentation sits in a real MONAI training pipeline:
LoadImage -> ScaleIntensity -> RandSimulateCompression in a Compose, a Dataset and a DataLoader, on real CT
slices of the training pool; then the round trip and its bounds on normalised values directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import (Compose, EnsureChannelFirstd, LoadImage, LoadImaged, ScaleIntensityd,
                              ScaleIntensityRange)

from monai_medcomp import transforms as T
from monai_medcomp.data import get_sample
from monai_medcomp.errors import UnsupportedDataError

SLICES = ("ct_bad_sequence", "ct_j2k")  # two 512x512 CT slices of the training pool, 12- and 13-bit
BITS = 12
NEAR = (2, 4)


def psnr_of_values(original: torch.Tensor, reconstruction: torch.Tensor, peak: float) -> float:
    mse = float(torch.mean((original.double() - reconstruction.double()) ** 2))
    return 10 * np.log10(peak ** 2 / mse)


def loading(*augmentation) -> Compose:
    return Compose([LoadImaged("image", reader="PydicomReader"), EnsureChannelFirstd("image"),
                    ScaleIntensityd("image"), *augmentation])


@pytest.fixture(scope="module")
def files():
    return [{"image": str(get_sample(name).path())} for name in SLICES]


@pytest.fixture(scope="module")
def normalised(files):
    """The two slices as the pipeline hands them to augmentation: float32 in [0, 1]."""
    batch = next(iter(DataLoader(Dataset(files, loading()), batch_size=2)))
    return batch["image"]


def test_augmentation_in_a_dataloader_after_scale_intensity(files, normalised):
    augment = T.RandSimulateCompressiond("image", prob=1.0, codecs={"jpegls": NEAR}, value_range=(0, 1),
                                         bits_stored=BITS)
    loader = DataLoader(Dataset(files, loading(augment)), batch_size=2, num_workers=2)
    batch = next(iter(loader))
    image = batch["image"]
    assert isinstance(image, MetaTensor) and image.shape == (2, 1, 512, 512) and image.dtype == torch.float32
    assert float(image.min()) >= 0 and float(image.max()) <= 1  # the range it came in
    assert [name.split("/")[-1] for name in image.meta["filename_or_obj"]] == [
        get_sample(name).filename for name in SLICES]
    error = (image - normalised).abs().amax(dim=(1, 2, 3))
    # JPEG-LS NEAR n on 12-bit steps of 1/4095, plus half a step of quantisation
    assert bool((error > 0).all()) and bool((error <= (NEAR[1] + 0.5) / (2 ** BITS - 1) + 1e-6).all())
    assert torch.equal(image.affine, normalised.affine)


def test_psnr_target_is_measured_on_the_normalised_values(normalised):
    image = normalised[0]
    reconstruction = T.SimulateCompression("jpeg2000", psnr=45, value_range=(0, 1), bits_stored=BITS)(image)
    assert reconstruction.dtype == torch.float32 and reconstruction.shape == image.shape
    assert psnr_of_values(image, reconstruction, peak=1.0) == pytest.approx(45, abs=0.3)
    assert 0 <= float(reconstruction.min()) and float(reconstruction.max()) <= 1


def test_a_known_range_round_trips_within_half_a_step():
    """A CT window scaled to [-1, 1] (ScaleIntensityRange), coded losslessly at 10 bits."""
    loaded = LoadImage(image_only=True, ensure_channel_first=True, reader="PydicomReader")(
        str(get_sample("ct_693").path()))
    windowed = ScaleIntensityRange(a_min=-1000, a_max=1000, b_min=-1, b_max=1, clip=True)(loaded)
    encoded = T.Encode("jpegls", value_range=(-1, 1), bits_stored=10)(windowed)
    assert encoded.meta["compression"]["lossless"]
    decoded = T.Decode()(encoded)
    assert decoded.dtype == torch.float32 and torch.equal(decoded.affine, windowed.affine)
    step = 2 / (2 ** 10 - 1)
    assert float((decoded - windowed).abs().max()) <= step / 2 + 1e-6
    assert float(decoded.min()) == -1 and float(decoded.max()) == 1


def test_a_wrong_declaration_is_one_clear_error(normalised):
    image = normalised[0]
    with pytest.raises(UnsupportedDataError, match="value_range needs bits_stored"):
        T.RandSimulateCompression(value_range=(0, 1))
    with pytest.raises(UnsupportedDataError, match=r"outside value_range 0\.\.0\.5"):
        T.SimulateCompression("jpegls", value_range=(0, 0.5), bits_stored=BITS)(image)
    with pytest.raises(UnsupportedDataError, match="give value_range and bits_stored"):
        T.Encode("jpegls")(image)  # normalised values without a declaration
    with pytest.raises(UnsupportedDataError, match="integers, which are coded as they are"):
        T.Encode("jpegls", value_range=(0, 255), bits_stored=8)(torch.zeros(1, 16, 16, dtype=torch.uint8))
