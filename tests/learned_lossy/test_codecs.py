"""The ten lossy learned codecs on real images, with the committed bundle weights."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
import torch

from monai_medcomp import weights
from monai_medcomp.api import compress, decompress, open_container
from monai_medcomp.codecs import PixelFormat, get_codec
from monai_medcomp.codecs.blocks import to_blocks
from monai_medcomp.codecs.learned_block import SHA_PREFIX
from monai_medcomp.errors import CodecError, MissingWeightsError, UnsupportedDataError
from monai_medcomp.metrics import psnr
from monai_medcomp.training import lossy
from monai_medcomp.training.blocks import training_blocks

ALL = ["cnn-ae", "cnn-rnn-ae", "cnn-ae-ft", "gan-wgan", "gan-dcgan", "gan-ae-l1-wgan", "gan-ae-l2-wgan",
       "gan-ae-l1-dcgan", "gan-ae-l2-dcgan", "gan-ae-ft"]
FAST = {"finetune_steps": 5}  # fine-tuning budget for tests of the -ft codecs


def params_for(name: str, **extra):
    return {**(FAST if name.endswith("-ft") else {}), **extra}


@pytest.mark.parametrize("name", ALL)
def test_round_trip_keeps_shape_geometry_and_rate(name, ct_crop, tmp_path):
    """Signed 16-bit CT through a real .mcz file: dtype, range, geometry kept; 16:1 fixed rate; useful PSNR."""
    codec = get_codec(name)
    assert codec.lossy and not codec.lossless
    if not codec.available:  # no trained weights committed: refused, never coded with untrained ones
        with pytest.raises(MissingWeightsError, match=f"{name}.*{codec.bundle}"):
            compress(ct_crop, codec=name)
        return
    path = tmp_path / "ct.mcz"
    result = compress(ct_crop, path, codec=name, params=params_for(name))
    decoded = decompress(path)
    assert decoded.array.shape == ct_crop.array.shape and decoded.dtype == ct_crop.dtype
    low = int(ct_crop.array.min())
    assert low <= decoded.array.min() and decoded.array.max() <= low + (1 << result.header.precision) - 1
    np.testing.assert_allclose(decoded.spacing, ct_crop.spacing)
    np.testing.assert_allclose(decoded.origin, ct_crop.origin)
    assert result.header.weights["name"] == codec.bundle
    bits = result.header.precision
    blocks = len(to_blocks(np.zeros(ct_crop.array.shape[1:] + (1,), np.uint8)))
    with open_container(path) as reader:
        chunk = reader.read_chunk(0)
    latent_budget = blocks * 64 * bits // 8  # 1/16 of each block's raw bits
    tuned = struct.unpack_from("<I", chunk, 4 + SHA_PREFIX)[0]  # the fine-tuned weights section
    assert len(chunk) - tuned <= latent_budget + 64  # plus the chunk's head, digests and CRC
    quality = psnr(ct_crop.array, decoded.array, bits_stored=ct_crop.bits_stored)
    assert quality > 30, f"{name}: {quality:.1f} dB"


@pytest.mark.parametrize("name", ["cnn-ae", "gan-dcgan", "gan-ae-l2-dcgan"])
def test_eight_bit_block_stores_at_most_64_bytes_and_entropy_coding_keeps_pixels(name, us_crop, ct_crop):
    fixed = compress(us_crop, codec=name, params={"entropy": False})
    with open_container(fixed.data) as reader:
        chunk = reader.read_chunk(0)
    blocks = (128 // 32) ** 2
    assert fixed.header.precision == 8
    assert len(chunk) <= blocks * 64 + 64  # 64 bytes per block plus the chunk's head, digest and CRC
    coded = compress(us_crop, codec=name, params={"entropy": True})
    np.testing.assert_array_equal(decompress(fixed.data).array, decompress(coded.data).array)
    fixed, coded = (compress(ct_crop, codec=name, params={"entropy": flag}) for flag in (False, True))
    assert coded.nbytes < fixed.nbytes
    np.testing.assert_array_equal(decompress(fixed.data).array, decompress(coded.data).array)


@pytest.mark.parametrize("name", ["cnn-ae", "cnn-ae-ft", "gan-wgan"])
def test_rgb_is_coded_plane_by_plane_by_the_grey_model_at_16_to_1(name, rgb_crop):
    """The shipped bundles hold no RGB model: each plane goes through the grey one, 64 bytes per 8-bit plane block."""
    result = compress(rgb_crop, codec=name, params=params_for(name))
    assert result.header.weights["sha256"] == weights.file_sha256(weights.weights_path(get_codec(name).bundle))
    decoded = decompress(result.data).array
    assert decoded.shape == rgb_crop.array.shape and decoded.dtype == np.uint8
    assert len(rgb_chunk_latents(result)) <= 3 * 4 * 192 + 64  # 12 RGB blocks, plus the chunk's head and digests
    quality = psnr(rgb_crop.array, decoded, bits_stored=8)
    assert quality > 16, f"{name}: {quality:.1f} dB"  # a weak codec (see benchmarks/seed_lossy.md), not noise


def test_a_bundle_with_an_rgb_model_codes_rgb_blocks_whole(monkeypatch, tmp_path, us_crop, rgb_crop):
    """An RGB model trained into a bundle (two steps here) takes over RGB images; grey ones keep the grey model."""
    bundle = tmp_path / "cnn_ae"
    shutil.copytree(weights.bundle_dir("cnn_ae") / "models", bundle / "models")
    blocks = training_blocks(40, 0, [("rgb crop", rgb_crop)], channels=3)
    monkeypatch.setattr(lossy, "training_blocks", lambda per_image, seed, channels: blocks)
    monkeypatch.setattr(lossy, "VALIDATION_BLOCKS", 8)
    assert lossy.main(["--codec", "cnn-ae", "--steps", "2", "--channels", "3", "--bundles", str(tmp_path)]) == 0
    assert "started from the grey model" in (bundle / "docs" / "training_rgb.md").read_text()
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(tmp_path))
    result = compress(rgb_crop, codec="cnn-ae")
    assert result.header.weights["sha256"] == weights.file_sha256(bundle / "models" / "model_rgb.pt")
    assert len(rgb_chunk_latents(result)) <= 3 * 4 * 192 + 64
    decoded = decompress(result.data).array
    assert decoded.shape == rgb_crop.array.shape and psnr(rgb_crop.array, decoded, bits_stored=8) > 12
    grey = compress(us_crop, codec="cnn-ae")
    assert grey.header.weights["sha256"] == weights.file_sha256(bundle / "models" / "model.pt")
    (bundle / "models" / "model_rgb.pt").unlink()  # the file needs the RGB model it was coded with
    with pytest.raises(MissingWeightsError, match="'cnn-ae' has no trained RGB weights.*models/model_rgb.pt"):
        decompress(result.data)


def rgb_chunk_latents(result) -> bytes:
    """The first chunk of ``result`` less its fine-tuned weights section."""
    with open_container(result.data) as reader:
        chunk = reader.read_chunk(0)
    return chunk[struct.unpack_from("<I", chunk, 4 + SHA_PREFIX)[0]:]


def test_progressive_stages_raise_quality(ct_crop):
    codec = get_codec("cnn-rnn-ae")
    offset = int(ct_crop.array.min())
    unsigned = (ct_crop.array.astype(np.int64) - offset)
    fmt = PixelFormat(int(unsigned.max()).bit_length())
    slab = unsigned.astype(fmt.dtype)
    data = codec.encode(slab, fmt, {"entropy": False})
    quality = [psnr(unsigned, codec.decode(data, slab.shape, fmt, {"stages": k}), bits_stored=fmt.bits)
               for k in (1, 2, 3)]
    assert quality[0] < quality[1] < quality[2], quality
    with pytest.raises(CodecError, match="stages"):
        codec.decode(data, slab.shape, fmt, {"stages": 4})


@pytest.mark.parametrize("name", ["cnn-ae", "gan-ae-l1-wgan"])
def test_decoding_is_the_same_on_one_and_two_threads(name, ct_crop):
    data = compress(ct_crop, codec=name).data
    torch.set_num_threads(1)
    one = decompress(data).array
    torch.set_num_threads(2)
    two = decompress(data).array
    np.testing.assert_array_equal(one, two)


def test_fine_tuning_stores_the_decoder_and_improves_it(us_crop):
    frozen = compress(us_crop, codec="cnn-ae-ft", params={"finetune_steps": 0})
    tuned = compress(us_crop, codec="cnn-ae-ft", params={"finetune_steps": 40})
    decoder_weights = sum(p.numel() for p in get_codec("cnn-ae-ft").build_network().decoder.parameters())
    assert 1000 < decoder_weights < 1400  # the paper's shallow decoder, about 1,300 weights
    sizes = {}
    for name, result in (("frozen", frozen), ("tuned", tuned), ("plain", compress(us_crop, codec="cnn-ae"))):
        with open_container(result.data) as reader:
            sizes[name] = len(reader.read_chunk(0))
    assert sizes["tuned"] == sizes["frozen"] == sizes["plain"] + 2 * decoder_weights  # float16, counted in the file
    before = psnr(us_crop.array, decompress(frozen.data).array, bits_stored=8)
    after = psnr(us_crop.array, decompress(tuned.data).array, bits_stored=8)
    assert after > before


def test_missing_bundle_makes_the_codec_unavailable_with_a_clear_error(monkeypatch, tmp_path, us_crop):
    monkeypatch.setattr(weights, "bundle_roots", lambda: [tmp_path])
    codec = get_codec("gan-wgan")
    assert not codec.available and codec.weights_info() is None
    with pytest.raises(MissingWeightsError, match="gan-wgan.*gan_wgan"):
        compress(us_crop, codec="gan-wgan")


def test_weights_that_differ_from_the_file_are_refused(monkeypatch, tmp_path, us_crop):
    data = compress(us_crop, codec="cnn-ae").data
    copy = tmp_path / "cnn_ae" / "models" / "model.pt"
    copy.parent.mkdir(parents=True)
    state = torch.load(weights.weights_path("cnn_ae"), weights_only=True)
    state["prior"] = state["prior"] + 1
    torch.save(state, copy)
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="'cnn-ae'.*not the ones"):
        decompress(data)


def test_damaged_chunk_and_bad_input_give_clear_errors(us_crop):
    codec = get_codec("cnn-ae")
    fmt = PixelFormat(8)
    slab = us_crop.array.astype(np.uint8)
    data = bytearray(codec.encode(slab, fmt, {}))
    data[20] ^= 0xFF
    with pytest.raises(CodecError, match="checksum"):
        codec.decode(bytes(data), slab.shape, fmt, {})
    with pytest.raises(CodecError, match="does not take"):
        codec.encode(slab, fmt, {"quality": 3})
    with pytest.raises(UnsupportedDataError, match="2-channel"):
        codec.check_format(PixelFormat(8, 2))


@pytest.mark.parametrize("name", ALL)
def test_medcomp_command_round_trips_a_dicom_file(name, tmp_path):
    """`medcomp compress` / `medcomp decompress` on a real 12-bit CT file, written back as NIfTI."""
    from monai_medcomp import read
    from monai_medcomp.cli import main
    from monai_medcomp.data import get_sample

    source = get_sample("ct_small").path()
    extra = ["--param", "finetune_steps=5"] if name.endswith("-ft") else []
    assert main(["compress", str(source), str(tmp_path / "ct.mcz"), "--codec", name, "--quiet", *extra]) == 0
    assert main(["decompress", str(tmp_path / "ct.mcz"), str(tmp_path / "ct.nii.gz"), "--quiet"]) == 0
    original, decoded = read(source), read(tmp_path / "ct.nii.gz")
    assert decoded.array.shape == original.array.shape and decoded.dtype == original.dtype
    np.testing.assert_allclose(decoded.spacing, original.spacing, rtol=1e-5)
    assert psnr(original.array, decoded.array, bits_stored=original.bits_stored) > 30
