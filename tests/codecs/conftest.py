"""Real evaluation images (pydicom-data) as the unsigned planes codecs receive, and the helpers every
codec test uses, handed out as the ``kit`` fixture (test modules cannot import a conftest)."""

import functools

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from monai_medcomp import metrics
from monai_medcomp.codecs import PixelFormat
from monai_medcomp.container import ContainerReader
from monai_medcomp.engine import decode_chunks, encode_volume
from monai_medcomp.volume import Volume


@functools.lru_cache(maxsize=None)
def dicom_volume(name: str) -> Volume:
    dataset = pydicom.dcmread(get_testdata_file(name))
    array = dataset.pixel_array
    if int(dataset.get("SamplesPerPixel", 1)) == 3 or array.ndim == 2:
        array = array[np.newaxis]
    return Volume(array, bits_stored=int(dataset.BitsStored))


def unsigned_plane(name: str, crop: tuple[slice, slice] | None = None) -> tuple[np.ndarray, PixelFormat]:
    """First slice of an evaluation image, shifted to unsigned at the precision it needs (as the engine does)."""
    plane = dicom_volume(name).array[0].astype(np.int64)
    if crop is not None:
        plane = plane[crop]
    plane = plane - plane.min()
    bits = max(1, int(plane.max()).bit_length())
    fmt = PixelFormat(bits=bits, channels=3 if plane.ndim == 3 else 1)
    return plane.astype(fmt.dtype), fmt


def code(codec, plane, fmt, params):
    """Encode and decode one plane; returns (decoded plane, bits per pixel)."""
    data = codec.encode(plane[np.newaxis], fmt, params)
    decoded = codec.decode(data, (1,) + plane.shape, fmt, params)
    assert decoded.shape == (1,) + plane.shape and decoded.dtype == fmt.dtype
    return decoded[0], len(data) * 8 / (plane.shape[0] * plane.shape[1])


def engine_round_trip(volume, codec, params=None):
    """Through the engine and the container, as a user's file goes."""
    encoded = encode_volume(volume, codec, params, workers=1)
    reader = ContainerReader(encoded.to_bytes())
    return encoded, decode_chunks(reader.header, reader.read_chunk, codec, workers=1)


def psnr(reference, decoded, bits):
    """PSNR of one ``(rows, cols[, 3])`` plane with the peak of ``bits``."""
    return metrics.psnr(np.asarray(reference)[np.newaxis], np.asarray(decoded)[np.newaxis], bits_stored=bits)


class Kit:
    """The helpers above under one name."""

    volume = staticmethod(dicom_volume)
    plane = staticmethod(unsigned_plane)
    code = staticmethod(code)
    engine_round_trip = staticmethod(engine_round_trip)
    psnr = staticmethod(psnr)
    max_error = staticmethod(metrics.max_abs_error)


@pytest.fixture(scope="session")
def kit():
    return Kit


@pytest.fixture(scope="session")
def ct():
    """CT 693_UNCR: int16 -2000..2492, coded as 13-bit unsigned."""
    return unsigned_plane("693_UNCR.dcm")
