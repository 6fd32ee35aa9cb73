"""Real sample files (pydicom-data, pydicom, nibabel) and the comparisons every I/O test uses, handed out
as fixtures (test modules cannot import a conftest)."""

from pathlib import Path

import nibabel
import pydicom
import pytest
from pydicom.data import get_testdata_file

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}


@pytest.fixture
def dicom_file():
    """Path of a DICOM file shipped by pydicom-data or pydicom."""
    def find(name: str) -> Path:
        path = get_testdata_file(name, download=False)
        assert path is not None, f"{name} is not installed"
        return Path(path)
    return find


@pytest.fixture
def nibabel_file():
    """Path of a NIfTI file shipped with nibabel's tests."""
    return lambda name: NIBABEL_DATA / name


@pytest.fixture
def differing_tags():
    """Tags whose elements differ between two datasets (pixel data and retired group lengths aside)."""
    def compare(a: pydicom.Dataset, b: pydicom.Dataset) -> list[str]:
        tags = set(a.keys()) | set(b.keys())
        return sorted(str(tag) for tag in tags
                      if tag.element != 0 and tag not in PIXEL_TAGS and (tag not in a or tag not in b or a[tag] != b[tag]))
    return compare
