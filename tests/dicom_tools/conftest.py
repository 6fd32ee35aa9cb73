"""MedComp's DICOM output checked by the reference tools: dcmtk, GDCM, pydicom and dciodvfy.

The tools are Debian packages (``make dicom-tools`` installs them when missing and running as root).
Without them these tests fail with a message saying how to install them.  Each (image, transfer syntax) is written once per session through ``api.compress`` and
shared by every test that looks at it.
"""

from pathlib import Path

import pytest

from monai_medcomp import api
from monai_medcomp.bench import reference_tools
from monai_medcomp.bench.dicom import SETTINGS, output_path
from monai_medcomp.data import load_sample
from monai_medcomp.io.dicom_syntax import SYNTAXES

# Small evaluation images that between them reach every layout: signed 14-bit CT, a 10-frame 12-bit MR,
# 8-bit grey and RGB ultrasound, and a NIfTI MR written as a series of Secondary Capture files (its first
# SERIES_SLICES slices).
IMAGES = ("ct_693", "mr_emri_small", "us_8bit", "us_rgb", "mr_example4d")
SERIES_SLICES = 4


# The (image, syntax) pairs the standard forbids (PS3.5 8.2: JPEG 8/12-bit unsigned only, 12-bit JPEG grey only,
# lossy JPEG-XL unsigned only here): MedComp must refuse them, and test_refusals.py checks that it does.
REFUSED = {
    ("ct_693", "jpeg-baseline"): "cannot hold signed data",  # signed 14-bit CT
    ("mr_example4d", "jpeg-baseline"): "cannot hold signed data",  # signed 16-bit MR
    ("mr_emri_small", "jpeg-baseline"): "holds at most 8 bits",  # 12-bit MR
    ("ct_693", "jpeg-extended"): "cannot hold signed data",
    ("mr_example4d", "jpeg-extended"): "cannot hold signed data",
    ("us_rgb", "jpeg-extended"): "holds grey images only",
    ("ct_693", "jpegxl-lossy"): "cannot hold signed data",
    ("mr_example4d", "jpegxl-lossy"): "cannot hold signed data",
}


def pytest_generate_tests(metafunc):
    """Tests that take ``image`` and ``name`` run over every pair of IMAGES x transfer syntax the standard
    allows (``image`` and ``unreadable``: those dciodvfy cannot parse); ``image`` alone over IMAGES; ``refused``
    over REFUSED."""
    if "refused" in metafunc.fixturenames:
        metafunc.parametrize("refused", [(image, name, why) for (image, name), why in sorted(REFUSED.items())],
                             ids=[f"{image}-{name}" for image, name in sorted(REFUSED)])
    pairs = [(image, syntax) for image in IMAGES for syntax in SYNTAXES if (image, syntax.name) not in REFUSED]
    if {"image", "name"} <= set(metafunc.fixturenames):
        metafunc.parametrize("image, name", [(image, syntax.name) for image, syntax in pairs])
    elif {"image", "unreadable"} <= set(metafunc.fixturenames):  # the syntaxes dciodvfy cannot parse
        metafunc.parametrize("image, unreadable", [(image, syntax.name) for image, syntax in pairs
                                                   if syntax.family in reference_tools.DCIODVFY_UNREADABLE])
    elif "image" in metafunc.fixturenames:
        metafunc.parametrize("image", IMAGES)


@pytest.fixture(scope="session", autouse=True)
def reference_tools_installed():
    missing = reference_tools.missing_commands()
    if missing:
        message = (f"the DICOM reference tools are missing ({', '.join(missing)}): run `make dicom-tools` "
                   "(Debian packages dcmtk, libgdcm-tools, dicom3tools)")
        pytest.fail(message)


class Outputs:
    """Files written once per session: the sources uncompressed, then each (image, syntax)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.volumes = {}
        self.results = {}

    def volume(self, image):
        if image not in self.volumes:
            volume = load_sample(image)
            if "dicom" not in volume.metadata:
                volume = volume.with_array(volume.array[:SERIES_SLICES])
            self.volumes[image] = volume
        return self.volumes[image]

    def get(self, image, name):
        """``(path, result)`` of ``image`` in syntax ``name`` (a file, or a series folder)."""
        key = (image, name)
        if key not in self.results:
            codec, params = SETTINGS[name]
            path = output_path(self.folder, image, name, self.volume(image))
            self.results[key] = (path, api.compress(self.volume(image), path, codec, params=params,
                                                    transfer_syntax=name))
        return self.results[key]


@pytest.fixture(scope="session")
def outputs(tmp_path_factory):
    return Outputs(tmp_path_factory.mktemp("dicom-outputs"))
