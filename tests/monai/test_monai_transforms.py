"""Encode / Decode / SimulateCompression transforms on real 2D and 3D MetaTensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd

from monai_medcomp import api, metrics
from monai_medcomp import transforms as T
from monai_medcomp.data import load_sample
from monai_medcomp.errors import UnknownCodecError, UnsupportedDataError


def test_monai_loaded_ct_round_trips_bit_exact_with_its_geometry(ct_loaded, ct_volume):
    encoded = T.Encode("jpegls")(ct_loaded)
    figures = encoded.meta["compression"]
    assert encoded.dtype == torch.uint8 and encoded.ndim == 1
    assert figures["codec"] == "jpegls" and figures["lossless"] and json.loads(figures["params"]) == {"near": 0}
    assert figures["compressed_bytes"] == encoded.numel()
    assert figures["bpp"] == pytest.approx(encoded.numel() * 8 / (512 * 512))
    # the same pixels in the same order as coding the DICOM file itself (less its header): the same size
    file_pixels = ct_volume.with_array(ct_volume.array, metadata={})
    assert figures["bpp"] == pytest.approx(api.compress(file_pixels, codec="jpegls").bpp, abs=0.005)
    stored = api.decompress(bytes(encoded.numpy()))
    np.testing.assert_array_equal(stored.array - stored.array.min(), ct_volume.array - ct_volume.array.min())
    np.testing.assert_allclose(stored.spacing[:2], ct_volume.spacing[:2])
    np.testing.assert_allclose(stored.origin[:2], ct_volume.origin[:2])

    decoded = T.Decode()(encoded)
    assert isinstance(decoded, MetaTensor) and decoded.dtype == torch.float32
    assert torch.equal(decoded.as_tensor(), ct_loaded.as_tensor())
    assert torch.equal(decoded.affine, ct_loaded.affine)
    assert decoded.meta["filename_or_obj"] == ct_loaded.meta["filename_or_obj"]
    assert decoded.meta["compression"] == figures


def test_3d_volume_is_coded_slice_by_slice_along_the_last_axis(mr_image, mr_volume):
    encoded = T.Encode("jpegls")(mr_image)
    stored = api.decompress(bytes(encoded.numpy()))
    np.testing.assert_array_equal(stored.array, mr_volume.array)
    np.testing.assert_allclose(stored.lps_affine, mr_volume.lps_affine, atol=1e-6)
    decoded = T.Decode()(encoded)
    assert decoded.shape == (1, 128, 96, 24) and decoded.dtype == torch.float32
    assert torch.equal(decoded.as_tensor(), mr_image.as_tensor())
    assert decoded.meta["filename_or_obj"] == "example4d.nii.gz"


def test_rgb_image_round_trips_with_three_channels(channel_first):
    volume = load_sample("us_rgb")
    image = torch.from_numpy(np.ascontiguousarray(channel_first(volume.array, 2)))
    assert image.shape == (3, 640, 480)
    encoded = T.Encode("jpegls")(image)
    assert not isinstance(encoded, MetaTensor)
    np.testing.assert_array_equal(api.decompress(bytes(encoded.numpy())).array, volume.array)
    decoded = T.Decode()(encoded)
    assert decoded.dtype == torch.uint8 and torch.equal(decoded, image)
    as_numpy = T.Encode("png")(image.numpy())
    assert isinstance(as_numpy, np.ndarray) and as_numpy.dtype == np.uint8
    np.testing.assert_array_equal(T.Decode()(as_numpy), image.numpy())


def test_invertd_decodes_exactly_in_a_compose(mr_image):
    pipeline = Compose([T.Encoded("image", codec="jpegls")])
    encoded = pipeline({"image": mr_image, "label": 3})
    assert encoded["image"].dtype == torch.uint8
    assert [op["class"] for op in encoded["image"].applied_operations] == ["Encoded"]
    restored = Invertd("image", transform=pipeline, orig_keys="image")(encoded)
    assert torch.equal(restored["image"].as_tensor(), mr_image.as_tensor())
    assert restored["image"].applied_operations == [] and restored["label"] == 3
    assert torch.equal(T.Decoded("image")(encoded)["image"].as_tensor(), mr_image.as_tensor())


def test_max_error_target_holds_through_invertd(ct_image, ct_volume):
    pipeline = Compose([T.EncodeD("image", codec="jpegls", max_error=3)])
    encoded = pipeline({"image": ct_image})
    assert json.loads(encoded["image"].meta["compression"]["params"]) == {"near": 3}
    restored = Invertd("image", transform=pipeline, orig_keys="image")(encoded)["image"]
    assert restored.dtype == torch.int16
    error = metrics.max_abs_error(ct_volume.array, T.channel_first_to_volume_array(restored.numpy()))
    assert 0 < error <= 3


def test_simulate_compression_reaches_the_psnr_asked(mr_image, mr_volume):
    reconstruction = T.SimulateCompression("jpeg2000", psnr=62, bits_stored=mr_volume.bits_stored)(mr_image)
    assert isinstance(reconstruction, MetaTensor) and reconstruction.dtype == torch.float32
    assert reconstruction.shape == mr_image.shape and torch.equal(reconstruction.affine, mr_image.affine)
    measured = metrics.psnr(mr_volume.array, reconstruction.numpy()[0].T.astype(np.int16),
                            bits_stored=mr_volume.bits_stored)
    assert measured == pytest.approx(62, abs=0.2)
    assert not reconstruction.meta["compression"]["lossless"]


def test_simulate_compressiond_keeps_plain_tensor_type(ct_volume, channel_first):
    image = torch.from_numpy(np.ascontiguousarray(channel_first(ct_volume.array, 2)))
    out = T.SimulateCompressiond("image", codec="jpeg", quality=60)({"image": image})["image"]
    assert type(out) is torch.Tensor and out.dtype == torch.int16 and out.shape == image.shape
    error = metrics.max_abs_error(ct_volume.array, T.channel_first_to_volume_array(out.numpy()))
    assert error > 0


def test_rand_simulate_compressiond_is_reproducible(ct_image):
    codecs = {"jpeg2000": (0.5, 2.0), "jpegls": (2, 6)}

    def run(seed):
        augment = T.RandSimulateCompressiond("image", prob=1.0, codecs=codecs).set_random_state(seed)
        outputs = []
        for _ in range(4):
            image = augment({"image": ct_image})["image"]
            outputs.append((image, augment.rand_simulate.codec, augment.rand_simulate.quality))
        return outputs

    first, again = run(7), run(7)
    assert {codec for _, codec, _ in first} == set(codecs)
    for (image, codec, quality), (same_image, same_codec, same_quality) in zip(first, again):
        assert (codec, quality) == (same_codec, same_quality) and codecs[codec][0] <= quality <= codecs[codec][1]
        assert torch.equal(image.as_tensor(), same_image.as_tensor())
        assert image.dtype == ct_image.dtype and not torch.equal(image.as_tensor(), ct_image.as_tensor())
        assert image.meta.keys() == ct_image.meta.keys()  # batches of differently coded images still collate
    skipped = T.RandSimulateCompressiond("image", prob=0.0, codecs=codecs)({"image": ct_image})["image"]
    assert skipped is ct_image


def test_bad_inputs_raise_clear_errors(ct_image):
    with pytest.raises(UnsupportedDataError, match="whole numbers"):
        T.Encode("jpegls")(ct_image.float() + 0.5)
    with pytest.raises(UnsupportedDataError, match="1 or 3 channels"):
        T.Encode("jpegls")(torch.zeros(2, 16, 16, dtype=torch.uint8))
    with pytest.raises(UnsupportedDataError, match="16 bits"):
        T.Encode("jpegls")(torch.full((1, 16, 16), 70000.0))
    with pytest.raises(UnknownCodecError):
        T.Encode("no-such-codec")
    with pytest.raises(UnsupportedDataError, match="outside"):
        T.RandSimulateCompression(codecs={"jpeg": (0, 50)})


def test_aliases_and_backends():
    assert T.EncodeD is T.EncodeDict is T.Encoded and T.DecodeD is T.DecodeDict is T.Decoded
    assert set(T.Encode.backend) == set(T.Encoded.backend) == {"torch", "numpy"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_come_back_on_their_device(ct_image):
    image = ct_image.to("cuda")
    encoded = T.Encode("jpegls")(image)
    assert encoded.device.type == "cuda"
    decoded = T.Decode()(encoded)
    assert decoded.device.type == "cuda" and torch.equal(decoded.cpu().as_tensor(), ct_image.as_tensor())
    simulated = T.SimulateCompression("jpeg2000", quality=1.0)(image)
    assert simulated.device.type == "cuda" and simulated.dtype == image.dtype
