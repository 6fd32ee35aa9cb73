"""Crops of real evaluation images for the ``learned-lossy`` tests, loaded once and handed out by the ``images``
fixture, and the file surgery the damage tests share, as the ``chunks`` fixture (test modules cannot import a
conftest).  Crops keep every test to a fraction of a second: the codec codes each slice on its own."""

import functools
import struct
import zlib

import numpy as np
import pytest

from monai_medcomp.container import ContainerReader, encode_container
from monai_medcomp.data import load_sample
from monai_medcomp.volume import Volume


class Images:
    """Evaluation images by catalogue name, the crops most tests code, and edge-case crops of them."""

    CROPS = {
        "us_8bit": (slice(300, 428), slice(400, 528)),  # 8-bit grey ultrasound, 128x128
        "mr2": (slice(384, 512), slice(384, 512)),  # 12-bit MR, 128x128
        "ct_693": (slice(128, 224), slice(0, 120)),  # signed CT: padding (-2000), air, skin and bone, 96x120
        "us_rgb": (slice(200, 296), slice(250, 346)),  # RGB ultrasound, 96x96
        "mr_emri_small": (slice(0, 64), slice(0, 64), slice(2, 6)),  # four 64x64 MR slices
    }

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def load(name: str) -> Volume:
        return load_sample(name)

    @classmethod
    def crop(cls, name: str, rows: slice, cols: slice, slices: slice = slice(0, 1)) -> Volume:
        volume = cls.load(name)
        return volume.with_array(np.ascontiguousarray(volume.array[slices, rows, cols]))

    @classmethod
    def region(cls, name: str) -> Volume:
        """The crop of ``name`` that :data:`CROPS` names."""
        return cls.crop(name, *cls.CROPS[name])

    @classmethod
    def corner(cls, name: str, rows: int, cols: int) -> Volume:
        """``rows`` x ``cols`` pixels from the top left corner of the crop of ``name`` (never a flat patch)."""
        top, left = cls.CROPS[name][0].start, cls.CROPS[name][1].start
        return cls.crop(name, slice(top, top + rows), slice(left, left + cols))


class Chunks:
    """Replace a file's one chunk, and re-seal a chunk body with its CRC-32 (the chunk's last four bytes)."""

    @staticmethod
    def replace(data: bytes, chunk: bytes) -> bytes:
        """The same file with its chunk replaced (the container's own checksums made to match)."""
        with ContainerReader(data) as reader:
            return encode_container(reader.header, reader.metadata, [chunk])

    @staticmethod
    def resealed(body: bytes) -> bytes:
        return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(scope="session")
def images():
    return Images


@pytest.fixture(scope="session")
def chunks():
    return Chunks
