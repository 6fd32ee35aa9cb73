"""The seed lossy report's linear reference and its verdict against JPEG at each codec's own bpp."""

import math

import numpy as np

from monai_medcomp.bench.seed_lossy import against_jpeg, dct_reference_psnr, low_frequencies
from monai_medcomp.volume import Volume


def test_low_frequencies_follow_the_zigzag_diagonals():
    assert low_frequencies(1).sum() == 1 and low_frequencies(1)[0, 0]
    mask = low_frequencies(128)
    assert mask.sum() == 128
    assert mask[0, 14] and mask[14, 0] and not mask[0, 16] and not mask[16, 0]  # diagonals 0-14 (120) + 8 of 15


def test_reference_is_exact_on_blocks_it_can_hold():
    levels = np.random.default_rng(0).integers(-2048, 2047, (2, 3))
    image = np.kron(levels, np.ones((32, 32)))[:50, :70].astype(np.int16)[None]  # constant blocks, cropped
    assert math.isinf(dct_reference_psnr(Volume(image, bits_stored=12)))


def test_reference_keeps_an_eighth_of_white_noise():
    noise = np.random.default_rng(1).normal(2048, 50, (1, 256, 256))
    image = np.clip(np.rint(noise), 0, 4095).astype(np.uint16)
    expected = 10 * math.log10(4095 ** 2 / (50 ** 2 * 7 / 8 + 1 / 12))  # 7/8 of the noise is dropped
    assert abs(dct_reference_psnr(Volume(image, bits_stored=12)) - expected) < 0.2


def test_verdict_compares_with_jpeg_at_the_codecs_own_bpp():
    def results(psnr):
        codecs = {"cnn-ae": {"psnr": psnr, "jpeg_psnr": 40.0, "jpeg_psnr_entropy": 38.0}}
        return {"ct": {"color": "grey", "dct_128_psnr": 45.0, "codecs": codecs},
                "tiny": {"color": "grey", "dct_128_psnr": 60.0,
                         "codecs": {"cnn-ae": {"psnr": 20.0, "jpeg_psnr": None, "jpeg_psnr_entropy": None}}}}

    text = against_jpeg(results(37.0), ["cnn-ae"], "grey")
    assert "over the 1 images JPEG reaches" in text  # 'tiny', which JPEG cannot reach, is left out
    assert "| dct-128 (unquantised) | 45.00 | 40.00 | 5.00 | – | – |" in text
    assert "`cnn-ae`, mean 37.00 dB, which falls short of JPEG" in text
    assert "which matches or beats JPEG" in against_jpeg(results(38.5), ["cnn-ae"], "grey")
    assert against_jpeg(results(37.0), ["cnn-ae"], "rgb") == ""
