"""The networks' ``compress`` / ``decompress`` on a real CT slice give the bitstream and pixels the codecs give.

Each network is loaded from its bundle's weights and run in float64, as the codecs run it; the CT
(pydicom-data 693_UNCR, an evaluation image) is shifted to unsigned at its true bit depth the way
the engine hands it to a codec (cropped to the head to keep the tests quick).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_medcomp.codecs import PixelFormat, get_codec, load_builtin_codecs
from monai_medcomp.codecs.blocks import from_blocks, to_blocks
from monai_medcomp.data import load_sample
from monai_medcomp.networks import BlockAutoencoder, ConvAutoencoder
from monai_medcomp.weights import load_weights

load_builtin_codecs()


@pytest.fixture(scope="module")
def ct_slice():
    """(slab as the engine hands it, its PixelFormat, the normalised 32x32 blocks)."""
    array = load_sample("ct_693").array
    pixels = array[0, 128:256, 128:288].astype(np.int64) - int(array.min())  # skull and brain, 4 x 5 blocks
    fmt = PixelFormat(int(pixels.max()).bit_length())
    blocks = torch.from_numpy(to_blocks(pixels[..., None]).astype(np.float64) / fmt.max_value)
    return pixels[None].astype(fmt.dtype), fmt, blocks


@pytest.fixture(scope="module")
def chunk_of(ct_slice):
    """The codec's chunk of the slice with default parameters, encoded once per codec."""
    slab, fmt, _ = ct_slice
    chunks = {}

    def chunk(name: str) -> bytes:
        if name not in chunks:
            chunks[name] = get_codec(name).encode(slab, fmt, {})
        return chunks[name]
    return chunk


def _cnn_ae_bundle_network(codec):
    """The bundle's ``network_def`` class with the bundle's state, as a MONAI user builds it."""
    state, _ = load_weights(codec.bundle)
    network = BlockAutoencoder()
    network.load_state_dict(state["network"])
    return network.to(torch.float64).eval()


def _gan_ae_network(codec):
    """Encoder and generator of a GAN-AE as one ConvAutoencoder (the generator as decoder)."""
    network = codec.load_bundle()[0]
    return ConvAutoencoder(network.encoder, network.generator)


NETWORKS = {
    "cnn-ae": _cnn_ae_bundle_network,
    "cnn-rnn-ae": lambda codec: codec.load_bundle()[0],  # ResidualAutoencoder
    "gan-wgan": lambda codec: codec.load_bundle()[0],  # ResNetGenerator with image_skip
    "gan-ae-l2-wgan": _gan_ae_network,
}


def _pixels(x_hat: torch.Tensor, fmt: PixelFormat, slab: np.ndarray) -> np.ndarray:
    """Reconstructed blocks -> the slab, rounded and clipped as the codecs do."""
    blocks = np.clip(np.round(x_hat.numpy() * fmt.max_value), 0, fmt.max_value).astype(np.int64)
    return from_blocks(blocks, slab.shape[1], slab.shape[2], 1).reshape(slab.shape).astype(fmt.dtype)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_round_trip_equals_what_the_codec_writes_and_decodes(name, ct_slice, chunk_of):
    slab, fmt, blocks = ct_slice
    codec = get_codec(name)
    network = NETWORKS[name](codec)
    latent_bits = codec.latent_bits(fmt.bits)

    compressed = network.compress(blocks, latent_bits)
    chunk = chunk_of(name)
    assert len(compressed["strings"]) == codec.stages
    latent_count = len(blocks) * codec.latent_channels * codec.latent_size ** 2
    assert tuple(compressed["shape"]) == (len(blocks), codec.latent_channels, codec.latent_size, codec.latent_size)
    for string in compressed["strings"]:
        assert len(string) == -(-latent_count * latent_bits // 8)  # the fixed 16:1 rate
        assert string in chunk  # the codec's latent section, byte for byte

    x_hat = network.decompress(compressed["strings"], compressed["shape"], latent_bits)["x_hat"]
    assert isinstance(x_hat, torch.Tensor) and x_hat.shape == blocks.shape
    np.testing.assert_array_equal(_pixels(x_hat, fmt, slab), codec.decode(chunk, slab.shape, fmt, {}))


@pytest.mark.parametrize("name", ["cnn-ae", "cnn-rnn-ae"])
def test_entropy_coded_latents_decode_to_the_same_reconstruction(name, ct_slice):
    """With the bundle's learned prior the latents cost fewer bytes and decode to the very same blocks."""
    slab, fmt, blocks = ct_slice
    codec = get_codec(name)
    network, prior, _ = codec.load_bundle()
    latent_bits = codec.latent_bits(fmt.bits)
    fixed = network.compress(blocks, latent_bits)
    coded = network.compress(blocks, latent_bits, prior=prior)
    assert sum(map(len, coded["strings"])) < sum(map(len, fixed["strings"]))
    expected = network.decompress(fixed["strings"], fixed["shape"], latent_bits)["x_hat"]
    assert torch.equal(network.decompress(coded["strings"], coded["shape"], latent_bits, prior=prior)["x_hat"],
                       expected)


def test_residual_autoencoder_decodes_progressively(ct_slice, chunk_of):
    """The first k stage strings give what the codec decodes with ``stages=k``."""
    slab, fmt, blocks = ct_slice
    codec = get_codec("cnn-rnn-ae")
    network = codec.load_bundle()[0]
    latent_bits = codec.latent_bits(fmt.bits)
    compressed = network.compress(blocks, latent_bits)
    chunk = chunk_of("cnn-rnn-ae")
    errors = []
    for stages in (1, 2):
        x_hat = network.decompress(compressed["strings"][:stages], compressed["shape"], latent_bits)["x_hat"]
        decoded = codec.decode(chunk, slab.shape, fmt, {"stages": stages})
        np.testing.assert_array_equal(_pixels(x_hat, fmt, slab), decoded)
        errors.append(np.abs(decoded.astype(np.int64) - slab).mean())
    assert errors[1] < errors[0]


def test_generator_without_image_skip_has_no_encoder(ct_slice):
    generator = get_codec("gan-ae-l2-wgan").load_bundle()[0].generator
    with pytest.raises(ValueError, match="has no encoder"):
        generator.compress(ct_slice[2], 4)


def test_bad_latent_bits_and_string_counts_are_refused(ct_slice):
    network = get_codec("cnn-ae").load_bundle()[0]
    with pytest.raises(ValueError, match="latent_bits"):
        network.compress(ct_slice[2], 0)
    compressed = network.compress(ct_slice[2][:2], 4)
    with pytest.raises(ValueError, match="one latent"):
        network.decompress(compressed["strings"] * 2, compressed["shape"], 4)
