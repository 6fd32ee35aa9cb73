"""Palette PNGs written by Pillow: a grey palette reads as the grey image it maps to, a coloured one as RGB."""

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from monai_medcomp.io import read_volume, write_volume

INDICES = np.random.default_rng(24).integers(0, 4, (37, 23))  # odd sizes; four palette entries used


def palette_png(path, indices, palette, bits=8):
    """A real indexed-colour PNG: ``palette`` is a list of (R, G, B) entries, ``bits`` the index depth."""
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    image.putpalette([value for entry in palette for value in entry])
    image.save(path, format="PNG", bits=bits)
    assert Image.open(path).mode == "P" and (path.read_bytes()[25] == 3)  # IHDR colour type 3: indexed
    return path


GREY_PALETTES = {
    "identity": [(v, v, v) for v in range(256)],
    "reversed": [(255 - v, 255 - v, 255 - v) for v in range(256)],
    "sparse, 2-bit indices": [(0, 0, 0), (77, 77, 77), (200, 200, 200), (13, 13, 13)],
}


@pytest.mark.parametrize("name", list(GREY_PALETTES))
def test_grey_palette_reads_as_grey_and_writes_back_grey(name, tmp_path):
    palette = GREY_PALETTES[name]
    path = palette_png(tmp_path / "indexed.png", INDICES, palette, bits=2 if len(palette) == 4 else 8)
    expected = np.array([entry[0] for entry in palette], np.uint8)[INDICES]
    volume = read_volume(path)
    assert volume.array.shape == (1, 37, 23) and volume.dtype == np.uint8 and volume.channels == 1
    assert np.array_equal(volume.array[0], expected)
    write_volume(volume, tmp_path / "back.png")
    assert (tmp_path / "back.png").read_bytes()[25] == 0  # IHDR colour type 0: greyscale
    assert np.array_equal(imagecodecs.png_decode((tmp_path / "back.png").read_bytes()), expected)


def test_colour_palette_stays_rgb(tmp_path):
    palette = [(0, 0, 0), (255, 0, 0), (10, 10, 10), (0, 128, 255)]  # one coloured entry is enough
    path = palette_png(tmp_path / "indexed.png", INDICES, palette, bits=2)
    volume = read_volume(path)
    assert volume.array.shape == (1, 37, 23, 3) and volume.dtype == np.uint8
    assert np.array_equal(volume.array[0], np.array(palette, np.uint8)[INDICES])
