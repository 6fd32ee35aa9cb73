"""The sample images: the evaluation set every codec is measured on, and the pool learned codecs train on.

Every image ships inside an installed wheel (pydicom-data, pydicom, nibabel, nilearn, scikit-image), so
loading never touches the network.  The two sets never share a study: files in these packages that are
the evaluation images in another encoding, crop or size (``693_J2KR``, ``US1_J2KI``, ``JPEG2000.dcm``,
``examples_jpeg2k``, pydicom's ``examples_overlay`` = a crop of ``MR-SIEMENS-DICOM-WithOverlays``, its
``examples_rgb_color`` = ``US1_UNCR`` halved, nibabel's ``example_nifti2`` = a crop of ``example4d``) or
other images of an evaluation study (``JPEG-LL.dcm`` and ``JPGExtended.dcm``: the NM study of
``JPEG2000_UNC``) are in neither set.  Test patterns, segmentations and synthetic colour bars are left out.

>>> from monai_medcomp.data import evaluation_images, load_sample
>>> [s.name for s in evaluation_images(color="rgb")]
['us_rgb']
>>> load_sample("ct_693").array.shape
(1, 512, 512)
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import importlib.util
from pathlib import Path

from ..errors import MedCompError
from ..io import read_volume
from ..volume import Volume

SPLITS = ("evaluation", "training")
COLORS = ("grey", "rgb")
SHAPES = ("2d", "volume")


@dataclasses.dataclass(frozen=True)
class SampleImage:
    """One catalogued image: where it ships, what it is, and which set it belongs to."""

    name: str
    modality: str  # DICOM modality code (XC: photograph, SM: microscopy)
    source: str  # the package that ships the file: pydicom-data, pydicom, nibabel, nilearn, scikit-image
    filename: str
    split: str  # "evaluation" or "training"
    color: str  # "grey" or "rgb"
    shape: str  # "2d" (one slice) or "volume"
    description: str
    volume_index: int | None = None  # the 3D volume taken from a 4D NIfTI file

    def path(self) -> Path:
        """The file inside its installed package."""
        return _LOCATORS[self.source](self.filename)

    def load(self) -> Volume:
        """The image as a Volume of stored integers; ``metadata["sample"]`` names it."""
        options = {} if self.volume_index is None else {"volume_index": self.volume_index}
        volume = read_volume(self.path(), **options)
        volume.metadata["sample"] = self.name
        return volume


def _pydicom_file(filename: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(filename, download=False)
    if path is None:
        raise MedCompError(f"sample file {filename} is not installed: pip install pydicom-data")
    return Path(path)


def _package_file(package: str, *parts: str) -> Path:
    return Path(str(importlib.resources.files(package).joinpath(*parts)))


def _nilearn_file(filename: str) -> Path:
    # Found without importing nilearn (slow, and only the training pool needs it).  The files are read
    # directly because nilearn's loaders return rescaled floats, not the stored integers.
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise MedCompError("the MNI152 templates of the training pool need nilearn: pip install monai_medcomp[train]")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / filename


_LOCATORS = {
    "pydicom-data": _pydicom_file,
    "pydicom": _pydicom_file,
    "nibabel": lambda filename: _package_file("nibabel", "tests", "data", filename),
    "nilearn": _nilearn_file,
    "scikit-image": lambda filename: _package_file("skimage", "data", filename),
}


def _eval(name: str, modality: str, source: str, filename: str, color: str, shape: str, description: str,
          **extra: int) -> SampleImage:
    return SampleImage(name, modality, source, filename, "evaluation", color, shape, description, **extra)


def _train(name: str, modality: str, source: str, filename: str, color: str, shape: str,
           description: str) -> SampleImage:
    return SampleImage(name, modality, source, filename, "training", color, shape, description)


CATALOGUE: tuple[SampleImage, ...] = (
    _eval("ct_693", "CT", "pydicom-data", "693_UNCR.dcm", "grey", "2d", "head CT, signed 14-bit"),
    _eval("ct_explicit_vr_un", "CT", "pydicom-data", "explicit_VR-UN.dcm", "grey", "2d", "CT, signed 16-bit"),
    _eval("mr2", "MR", "pydicom-data", "MR2_UNCR.dcm", "grey", "2d", "oblique MR 1024x1024, 12-bit"),
    _eval("mr_siemens_overlays", "MR", "pydicom-data", "MR-SIEMENS-DICOM-WithOverlays.dcm", "grey", "2d",
          "MR with overlay planes, 12-bit"),
    _eval("cr_rg1", "CR", "pydicom-data", "RG1_UNCR.dcm", "grey", "2d", "computed radiograph, 15-bit"),
    _eval("cr_rg3", "CR", "pydicom-data", "RG3_UNCR.dcm", "grey", "2d", "computed radiograph, 10-bit"),
    _eval("nm_jpeg2000", "NM", "pydicom-data", "JPEG2000_UNC.dcm", "grey", "2d", "whole-body NM, signed 16-bit"),
    _eval("us_8bit", "US", "pydicom-data", "JPGLosslessP14SV1_1s_1f_8b.dcm", "grey", "2d", "8-bit grey ultrasound"),
    _eval("us_rgb", "US", "pydicom-data", "US1_UNCR.dcm", "rgb", "2d", "RGB ultrasound"),
    _eval("mr_emri_small", "MR", "pydicom-data", "emri_small.dcm", "grey", "volume",
          "enhanced MR, 10 frames of 64x64, 12-bit"),
    _eval("mr_example4d", "MR", "nibabel", "example4d.nii.gz", "grey", "volume",
          "MR volume 128x96x24 (first of 2 time points)", volume_index=0),
    _train("ct_bad_sequence", "CT", "pydicom-data", "bad_sequence.dcm", "grey", "2d", "CT, lossless JPEG, 12-bit"),
    _train("ct_enhanced", "CT", "pydicom-data", "eCT_Supplemental.dcm", "grey", "volume",
           "enhanced CT perfusion, 2 frames"),
    _train("ct_small", "CT", "pydicom", "CT_small.dcm", "grey", "2d", "CT 128x128"),
    _train("ct_j2k", "CT", "pydicom", "J2K_pixelrep_mismatch.dcm", "grey", "2d", "head CT, JPEG 2000, 13-bit"),
    _train("mr_small", "MR", "pydicom", "MR_small.dcm", "grey", "2d", "MR 64x64"),
    _train("us_palette", "US", "pydicom-data", "OBXXXX1A.dcm", "grey", "2d", "obstetric US, 8-bit palette indices"),
    _train("us_aloka_16bit", "US", "pydicom-data", "gdcm-US-ALOKA-16.dcm", "grey", "2d",
           "US, 16-bit palette indices"),
    _train("us_color3d", "US", "pydicom-data", "color3d_jpeg_baseline.dcm", "rgb", "volume",
           "echocardiography, 120 RGB frames (decoded from JPEG)"),
    _train("us_doppler", "US", "pydicom-data", "color-px.dcm", "rgb", "2d", "colour Doppler US"),
    _train("mr_anatomical", "MR", "nibabel", "anatomical.nii", "grey", "volume", "low-resolution T1 MR volume"),
    _train("mni152_t1", "MR", "nilearn", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", "grey", "volume",
           "MNI152 T1 template, 8-bit"),
    _train("mni152_gm", "MR", "nilearn", "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz", "grey", "volume",
           "MNI152 grey-matter probability, 8-bit"),
    _train("mni152_wm", "MR", "nilearn", "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz", "grey", "volume",
           "MNI152 white-matter probability, 8-bit"),
    _train("photo_astronaut", "XC", "scikit-image", "astronaut.png", "rgb", "2d", "natural photograph"),
    _train("photo_chelsea", "XC", "scikit-image", "chelsea.png", "rgb", "2d", "natural photograph"),
    _train("photo_coffee", "XC", "scikit-image", "coffee.png", "rgb", "2d", "natural photograph"),
    _train("histology_ihc", "SM", "scikit-image", "ihc.png", "rgb", "2d", "immunohistochemistry micrograph"),
)

_BY_NAME = {sample.name: sample for sample in CATALOGUE}


def _check_choice(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise MedCompError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def select(split: str | None = None, color: str | None = None, shape: str | None = None) -> list[SampleImage]:
    """Catalogue entries filtered by split ("evaluation"/"training"), color ("grey"/"rgb") and
    shape ("2d"/"volume"); ``None`` keeps all."""
    _check_choice(split, SPLITS, "split")
    _check_choice(color, COLORS, "color")
    _check_choice(shape, SHAPES, "shape")
    return [s for s in CATALOGUE
            if split in (None, s.split) and color in (None, s.color) and shape in (None, s.shape)]


def evaluation_images(color: str | None = None, shape: str | None = None) -> list[SampleImage]:
    """The images every codec is measured on (never trained or tuned on)."""
    return select("evaluation", color, shape)


def training_images(color: str | None = None, shape: str | None = None) -> list[SampleImage]:
    """The images learned codecs may train on."""
    return select("training", color, shape)


def get_sample(name: str) -> SampleImage:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise MedCompError(f"unknown sample image {name!r}; known: {', '.join(_BY_NAME)}") from None


def load_sample(name: str) -> Volume:
    """Load a catalogued image by name (e.g. ``"ct_693"``, ``"mr_example4d"``)."""
    return get_sample(name).load()


__all__ = ["CATALOGUE", "SampleImage", "evaluation_images", "get_sample", "load_sample", "select",
           "training_images"]
