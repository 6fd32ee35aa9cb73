"""Lossless RGB with few colours (grey ultrasound under coloured overlays) is coded as palette indices when that is
shorter than the colour transform; the encoder tries both and keeps the shorter, and a damaged palette is named."""

import zlib

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.codecs.base import PixelFormat
from monai_medcomp.codecs.learned_lossless import (COLOUR_TRANSFORM, PALETTE, LearnedLosslessCodec, Palette,
                                                   as_planes, preparations)
from monai_medcomp.errors import CodecError

CODEC = "learned-lossless"
RGB = PixelFormat(8, channels=3)
OVERLAY = (slice(170, 250), slice(60, 200))  # us_rgb: 44 % of the pixels under a coloured overlay, 203 colours
PHOTO = (slice(100, 196), slice(100, 196))  # astronaut: over 5,000 colours in 96 x 96 pixels


def coded_sizes(array):
    """Chunk bytes with the palette (True) and with the colour transform (False)."""
    codec = LearnedLosslessCodec()
    weights, sha = codec.scale_weights()
    return {bool(prepared.flags & PALETTE): len(codec.encode_prepared(prepared, weights, sha))
            for prepared in preparations(array, RGB, 0)}


def test_overlay_codes_as_palette_exactly_and_shorter(images, tmp_path):
    volume = images.crop("us_rgb", *OVERLAY)
    path = tmp_path / "overlay.mcz"
    result = api.compress(volume, path, codec=CODEC)
    np.testing.assert_array_equal(api.decompress(path).array, volume.array)
    chunk = result.encoded.chunks[0]
    assert chunk[1] & PALETTE
    sizes = coded_sizes(volume.array)
    assert len(chunk) == min(sizes.values())
    assert sizes[True] < 0.85 * sizes[False]  # the palette against the colour transform


def test_many_colours_keep_the_colour_transform(images, tmp_path):
    volume = images.crop("photo_astronaut", *PHOTO)
    assert Palette.of(as_planes(volume.array, RGB), RGB.max_value) is None
    path = tmp_path / "photo.mcz"
    result = api.compress(volume, path, codec=CODEC)
    assert result.encoded.chunks[0][1] & (COLOUR_TRANSFORM | PALETTE) == COLOUR_TRANSFORM
    np.testing.assert_array_equal(api.decompress(path).array, volume.array)


def test_near_lossless_rgb_never_uses_the_palette(images):
    """A palette index error is not a per-channel error: |error| <= D needs the RGB planes."""
    volume = images.crop("us_rgb", *OVERLAY)
    options = preparations(volume.array, RGB, 1)
    assert options[0].max_error == 1 and not any(p.flags & PALETTE for p in options)


def test_palette_keeps_greys_first_and_maps_back(images):
    planes = as_planes(images.crop("us_rgb", *OVERLAY).array, RGB)
    palette = Palette.of(planes, RGB.max_value)
    grey = np.ptp(palette.colours, axis=1) == 0
    assert grey[:grey.sum()].all() and not grey[grey.sum():].any()
    indices = palette.indices(planes)
    assert indices.shape == (1, *planes.shape[1:]) and indices.max() < len(palette.colours)
    np.testing.assert_array_equal(palette.colour_planes(indices), planes)
    assert Palette.from_bytes(palette.to_bytes(), RGB.max_value).colours.tolist() == palette.colours.tolist()


@pytest.mark.parametrize("data, problem", [(b"not zlib", "palette is damaged"),
                                           (zlib.compress(b"\x01\x02"), "wrong size")])
def test_damaged_palette_is_named(data, problem):
    with pytest.raises(CodecError, match=problem):
        Palette.from_bytes(data, RGB.max_value)
