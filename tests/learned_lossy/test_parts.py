"""Block tiling, latent packing and the factorised prior, and the training driver, on real images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_medcomp.codecs import get_codec
from monai_medcomp.codecs.blocks import from_blocks, to_blocks
from monai_medcomp.entropy.factorized import (decode_factorized, encode_factorized, fit_prior, level_probabilities,
                                              pack_fixed, unpack_fixed)
from monai_medcomp.training import lossy
from monai_medcomp.errors import MedCompError, OutputExistsError
from monai_medcomp.training.blocks import BlockSet, training_blocks, unsigned_planes
from monai_medcomp.training.rgb_start import start_from_grey
from monai_medcomp.weights import load_weights


def test_tiling_pads_with_edges_and_reassembles_exactly(rgb_crop):
    image = rgb_crop.array[0, :90, :77]  # neither side a multiple of 32
    blocks = to_blocks(image)
    assert blocks.shape == (3 * 3, 3, 32, 32)  # a block keeps its three planes together
    np.testing.assert_array_equal(blocks[2, 0, :, -1], blocks[2, 0, :, 76 - 64])  # edge column repeated
    np.testing.assert_array_equal(from_blocks(blocks, 90, 77, 3), image)


def test_fixed_packing_round_trips_at_any_width():
    rng = np.random.default_rng(0)
    for bits in (1, 4, 6, 13, 16):
        symbols = rng.integers(0, 1 << bits, 1000)
        data = pack_fixed(symbols, bits)
        assert len(data) == -(-1000 * bits // 8)
        np.testing.assert_array_equal(unpack_fixed(data, bits, 1000), symbols)


def test_learned_prior_codes_real_latents_losslessly_and_below_the_fixed_rate(ct_crop):
    codec = get_codec("cnn-ae")
    network, prior, _ = codec.load_bundle()
    planes, bits = unsigned_planes(ct_crop.array)
    blocks = torch.from_numpy(to_blocks(planes[0]) / ((1 << bits) - 1))
    levels = 1 << codec.latent_bits(bits)
    with torch.no_grad():
        symbols = codec.analyse(network, blocks, levels)[0].numpy().astype(np.int64)
    probabilities = level_probabilities(prior[0], levels)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    data = encode_factorized(symbols, prior[0], levels)
    np.testing.assert_array_equal(decode_factorized(data, prior[0], levels, symbols.shape), symbols)
    assert len(data) < len(pack_fixed(symbols, codec.latent_bits(bits)))


def test_prior_histogram_follows_the_data():
    latents = np.concatenate([np.full((9000, 1, 2, 2), 0.2), np.full((1000, 1, 2, 2), 0.8)])
    p = level_probabilities(fit_prior(latents), 16)[0]  # levels k / 15: 0.2 is level 3, 0.8 level 12
    assert p[3] > 5 * p[12] > 25 * p[7]


def test_training_driver_writes_a_loadable_bundle(monkeypatch, tmp_path, us_crop):
    """Three steps on blocks of one real image: the bundle it writes codes that image."""
    planes, bits = unsigned_planes(us_crop.array)
    blocks = np.concatenate([to_blocks(planes[0])] * 40).astype(np.uint16)
    monkeypatch.setattr(lossy, "training_blocks", lambda per_image, seed, channels: BlockSet(
        blocks, np.full(len(blocks), bits, np.uint8), ["us crop: 640 blocks"], 640, seed))
    monkeypatch.setattr(lossy, "VALIDATION_BLOCKS", 32)
    assert lossy.main(["--codec", "gan-ae-l1-wgan", "--steps", "4", "--bundles", str(tmp_path)]) == 0
    state, _ = load_weights_from(tmp_path, monkeypatch)
    assert state["prior"].shape == (1, 2, 1024)
    record = (tmp_path / "gan_ae_l1_wgan" / "docs" / "training.md").read_text()
    assert "--codec gan-ae-l1-wgan --steps 4" in record and "us crop: 640 blocks" in record
    codec = get_codec("gan-ae-l1-wgan")
    network, _, _ = codec.load_bundle()
    assert torch.equal(network.encoder[0].weight.float(), state["network"]["encoder.0.weight"])


def load_weights_from(root, monkeypatch):
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(root))
    return load_weights("gan_ae_l1_wgan")


def test_block_set_keeps_each_image_bit_depth_and_saves_exactly(tmp_path, us_crop, ct_crop):
    """Blocks of an 8-bit and a 12-bit image keep their own depth; a saved set loads back bit for bit."""
    blocks = training_blocks(5, 0, [("us", us_crop), ("ct", ct_crop)])
    ct_bits = unsigned_planes(ct_crop.array)[1]
    assert ct_bits > 8 and sorted(set(blocks.bits.tolist())) == [8, ct_bits]
    normalised = blocks.normalised()
    assert normalised.dtype == np.float32 and normalised.max() <= 1 and normalised[blocks.bits == 8].max() > 0.5
    blocks.save(tmp_path / "blocks.npz")
    loaded = BlockSet.load(tmp_path / "blocks.npz")
    np.testing.assert_array_equal(loaded.values, blocks.values)
    np.testing.assert_array_equal(loaded.normalised(), normalised)
    assert (loaded.images, loaded.per_image, loaded.seed) == (blocks.images, 5, 0)
    with pytest.raises(OutputExistsError):
        blocks.save(tmp_path / "blocks.npz")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(MedCompError, match="not a saved block set"):
        BlockSet.load(tmp_path / "bad.npz")


def test_training_noise_takes_the_latent_step_of_each_block_bit_depth(us_crop, ct_crop):
    """cnn-ae's 128 latents per block get 4 bits at 8-bit and 6 at 12-bit: 16 and 64 levels."""
    blocks = training_blocks(40, 0, [("us", us_crop), ("ct", ct_crop)])
    torch.set_num_threads(1)
    _, _, summary = lossy.train(get_codec("cnn-ae"), steps=1, seed=0, blocks=blocks, batch=4)
    ct_bits = unsigned_planes(ct_crop.array)[1]
    assert summary["latent_levels"] == [16, 1 << (ct_bits // 2)]


def test_rgb_block_set_takes_whole_blocks_of_the_rgb_images_only(tmp_path, us_crop, rgb_crop):
    blocks = training_blocks(5, 0, [("us", us_crop), ("rgb", rgb_crop)], channels=3)
    assert blocks.values.shape == (5, 3, 32, 32) and blocks.channels == 3
    assert blocks.images == ["rgb, 8-bit: 5 blocks"]
    image = rgb_crop.array[0]
    for block in blocks.values:  # each block is a window of the image, its planes in step
        windows = np.lib.stride_tricks.sliding_window_view(image, (32, 32, 3))[..., 0, :, :, :]
        assert np.any(np.all(windows == np.moveaxis(block, 0, -1), axis=(-3, -2, -1)))
    blocks.save(tmp_path / "rgb.npz")
    assert BlockSet.load(tmp_path / "rgb.npz").channels == 3
    grey = training_blocks(5, 0, [("us", us_crop), ("rgb", rgb_crop)])
    assert grey.values.shape == (10, 1, 32, 32)  # grey sets take every plane of every image


@pytest.mark.parametrize("name", ["cnn-ae", "cnn-rnn-ae", "gan-ae-l2-wgan"])
def test_an_rgb_model_starts_as_the_grey_model_on_the_mean_plane(name, rgb_crop):
    """Before training, the widened network codes an RGB block exactly as the grey one codes its mean plane."""
    codec = get_codec(name)
    grey = codec.load_bundle(1)[0]
    rgb = codec.build_network(3).double()
    start_from_grey(rgb, grey.state_dict())
    rgb.eval()
    blocks = torch.from_numpy(to_blocks(rgb_crop.array[0]) / 255.0)
    with torch.no_grad():
        latents = codec.analyse(rgb, blocks, 16)
        grey_latents = codec.analyse(grey, blocks.mean(1, keepdim=True), 16)
        assert all(torch.equal(mine[:, :theirs.shape[1]], theirs) for mine, theirs in zip(latents, grey_latents))
        decoded = codec.synthesise(rgb, latents, 16)
        expected = codec.synthesise(grey, grey_latents, 16)
    torch.testing.assert_close(decoded, expected.expand_as(decoded))


def test_rgb_start_refuses_another_family():
    with pytest.raises(ValueError, match="not this RGB model's family"):
        start_from_grey(get_codec("cnn-ae").build_network(3), get_codec("gan-wgan").build_network(1).state_dict())


@pytest.mark.parametrize("arguments, message", [
    (["--codec", "jpeg"], "not a learned block codec"),
    (["--codec", "cnn-ae", "--blocks", "missing.npz", "--bundles", "{bundles}/new"],
     "missing.npz is not a saved block set"),
    (["--codec", "cnn-ae", "--bundles", "{bundles}"], "already exists"),
    (["--codec", "cnn-ae", "--channels", "3", "--blocks", "{bundles}/grey.npz", "--bundles", "{bundles}/new"],
     "holds 1-channel blocks"),
    (["--codec", "cnn-ae", "--channels", "3", "--bundles", "{bundles}/new"], "an RGB model starts from the grey one"),
])
def test_training_command_refuses_bad_input_in_one_line_before_training(arguments, message, tmp_path, capsys):
    """Nothing is trained, nothing is written: the existing weights are refused before the run, not after it."""
    (tmp_path / "cnn_ae" / "models").mkdir(parents=True)
    (tmp_path / "cnn_ae" / "models" / "model.pt").write_bytes(b"weights")
    BlockSet(np.zeros((4, 1, 32, 32), np.uint16), np.full(4, 8, np.uint8), ["flat"], 4, 0).save(tmp_path / "grey.npz")
    arguments = [a.format(bundles=tmp_path) for a in arguments]
    assert lossy.main(arguments + ["--steps", "1"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert (tmp_path / "cnn_ae" / "models" / "model.pt").read_bytes() == b"weights"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has a CUDA device")
def test_training_on_cuda_without_a_gpu_is_a_clear_error(capsys):
    assert lossy.main(["--codec", "cnn-ae", "--steps", "1", "--device", "cuda"]) == 2
    assert "sees no CUDA device" in capsys.readouterr().err


def test_block_set_command_writes_once_and_refuses_to_overwrite(monkeypatch, tmp_path, us_crop, capsys):
    from monai_medcomp.training import blocks as block_module

    monkeypatch.setattr(block_module, "pool_volumes", lambda: iter([("us", us_crop)]))
    out = tmp_path / "pool.npz"
    assert block_module.main(["--out", str(out), "--per-image", "7"]) == 0
    saved = BlockSet.load(out)
    assert len(saved) == 7 and saved.per_image == 7 and saved.images == ["us, 8-bit: 7 blocks"]
    assert block_module.main(["--out", str(out), "--per-image", "3"]) == 2
    assert "already exists" in capsys.readouterr().err and len(BlockSet.load(out)) == 7
