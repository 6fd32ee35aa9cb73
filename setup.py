"""Installs monai_medcomp (the library and the `medcomp` command) and, when present, the notebook package."""

from pathlib import Path

import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
WIDGETS = HERE / "widgets"

packages = find_packages(include=["monai_medcomp", "monai_medcomp.*"])
package_dir = {}
if (WIDGETS / "medcomp_widgets").is_dir():
    packages += find_packages(where="widgets", include=["medcomp_widgets", "medcomp_widgets.*"])
    package_dir = {"medcomp_widgets": "widgets/medcomp_widgets"}


class BuildPyWithBundles(build_py):
    """Copy bundles/ into the built package as monai_medcomp/_bundles.

    Learned weights have one home, their MONAI bundle under bundles/; a non-editable install
    (wheel, `pip install .`, `--target`) carries a copy inside the package so the library finds them
    without the source tree (see monai_medcomp/weights.py).
    """

    def run(self) -> None:
        super().run()
        source = HERE / "bundles"
        if source.is_dir():
            target = Path(self.build_lib) / "monai_medcomp" / "_bundles"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(
    name="monai_medcomp",
    version="0.1.0",
    description="Learned and classical compression of medical images, measured: MONAI, 3D Slicer and Jupyter front-ends",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    package_data={"monai_medcomp": ["py.typed"]},
    cmdclass={"build_py": BuildPyWithBundles},
    install_requires=[
        "numpy>=1.24",
        "torch>=2.2",
        "monai>=1.4",
        "imagecodecs>=2026.1.1",  # htj2k_encode
        "tifffile>=2023.7.10",
        "pyjpegls>=1.4",
        "pydicom>=3.0",
        "pydicom-data",
        "pylibjpeg>=2.0",
        "pylibjpeg-libjpeg>=2.1",
        "pylibjpeg-openjpeg>=2.0",
        "pillow>=10",  # pydicom's libjpeg-turbo decoder, for 8-bit lossy JPEG in DICOM (io/dicom.py)
        "nibabel>=5.3",  # Nifti1Extension.code
        "constriction>=0.4",
        "numba>=0.61",  # the compiled core of learned-lossless (codecs/adaptive_core.py)
        "safetensors>=0.4",
        "tqdm>=4.60",
        "threadpoolctl>=3.1",
        "matplotlib>=3.7",
        "scipy>=1.10",
        "scikit-image>=0.22",
        "scikit-learn>=1.3",
        "bjontegaard>=1.3",
        "fire>=0.5",  # python -m monai.bundle
        "jsonschema>=4.0",  # monai.bundle verify_metadata
        "hypothesis>=6.100",  # bench.roundtrips draws its random volumes with it
        # medcomp archive: one task per series on a local or remote Dask cluster; "diagnostics" brings bokeh,
        # which serves the dashboard whose address the command prints
        "dask[distributed,diagnostics]>=2024.8",
        "requests>=2.28",  # medcomp archive's DICOMweb client (QIDO-RS, WADO-RS, STOW-RS: archive/dicomweb.py)
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2.1", "hypothesis>=6.100"],
        "itk": ["itk-io>=5.3"],
        "train": ["nilearn>=0.10"],
        "slicer": ["slicer-core>=5.8"],
        "notebook": ["ipywidgets>=8.1", "ipykernel>=6.25", "nbclient>=0.10", "nbformat>=5.9", "voila>=0.5",
                     "playwright>=1.45"],
    },
    entry_points={"console_scripts": ["medcomp = monai_medcomp.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "Topic :: System :: Archiving :: Compression",
    ],
)
