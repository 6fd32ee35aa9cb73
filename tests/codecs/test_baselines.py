"""The two baselines: BTTC's triangle tree and k-means vector quantisation."""

import numpy as np
import pytest

from monai_medcomp.codecs import PixelFormat, get_codec


@pytest.mark.parametrize("image", ["JPEG2000_UNC.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm"])
def test_bttc_bound_on_non_square_slices(kit, image):
    """1024 x 256 NM (four squares one above the other) and a 484 x 484 MR (padded to 513 x 513)."""
    plane, fmt = kit.plane(image)
    codec = get_codec("bttc")
    decoded, bpp = kit.code(codec, plane, fmt, {"tolerance": 3})
    assert kit.max_error(plane, decoded) <= 3 and bpp < fmt.bits / 2


def test_bttc_flat_regions_cost_next_to_nothing(kit):
    rows, cols = np.mgrid[0:129, 0:129]
    fmt = PixelFormat(12)
    plane = (rows * 7 + cols * 11).astype(fmt.dtype)  # a plane: the two first triangles fit it exactly
    decoded, bpp = kit.code(get_codec("bttc"), plane, fmt, {"tolerance": 0})
    assert np.array_equal(decoded, plane) and bpp < 0.05


def test_kmeans_psnr_grows_with_the_codebook(kit):
    plane, fmt = kit.plane("693_UNCR.dcm", (slice(128, 384), slice(128, 384)))
    codec = get_codec("kmeans")
    results = [kit.code(codec, plane, fmt, codec.with_knob(k)) for k in (4, 32, 256)]
    psnrs = [kit.psnr(plane, decoded, fmt.bits) for decoded, _ in results]
    rates = [bpp for _, bpp in results]
    assert psnrs == sorted(psnrs) and rates == sorted(rates) and psnrs[0] < psnrs[-1]


def test_kmeans_is_exact_when_blocks_are_fewer_than_codewords(kit):
    rng = np.random.default_rng(3)
    fmt = PixelFormat(16)
    tiles = rng.integers(0, 1 << 16, (3, 4, 4)).astype(np.uint16)
    plane = np.block([[tiles[(r + c) % 3] for c in range(9)] for r in range(5)])  # 20 x 36, three distinct blocks
    decoded, _ = kit.code(get_codec("kmeans"), plane, fmt, {"codebook": 64, "block": 4})
    assert np.array_equal(decoded, plane)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (13, 7), (6, 5, 3)])
def test_kmeans_odd_shapes_and_rgb(kit, shape):
    fmt = PixelFormat(8, 3 if len(shape) == 3 else 1)
    plane = np.random.default_rng(4).integers(0, 256, shape).astype(np.uint8)
    codec = get_codec("kmeans")
    decoded, _ = kit.code(codec, plane, fmt, codec.default_params())
    assert kit.max_error(plane, decoded) < 256  # shape and dtype are checked by kit.code


def test_kmeans_constant_image_needs_one_codeword(kit):
    fmt = PixelFormat(10)
    plane = np.full((17, 23), 700, dtype=np.uint16)
    decoded, _ = kit.code(get_codec("kmeans"), plane, fmt, {"codebook": 256, "block": 4})
    assert np.array_equal(decoded, plane)


@pytest.mark.parametrize("name, params", [("kmeans", {"codebook": 32, "block": 4}), ("bttc", {"tolerance": 8})])
def test_baselines_are_deterministic(kit, ct, name, params):
    plane, fmt = ct
    codec = get_codec(name)
    crop = np.ascontiguousarray(plane[100:260, 100:260])
    assert codec.encode(crop[np.newaxis], fmt, params) == codec.encode(crop[np.newaxis], fmt, params)
