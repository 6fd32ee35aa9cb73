# Two entry points that work on a fresh clone: `make demo` and `make test`.
# Both create .venv at the repository root when missing; torch is installed first as the pinned
# CPU-capable release so that pip never pulls a multi-GB CUDA build on a machine without a GPU
# (a CUDA torch already in the venv is kept).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
EXTRAS ?= test,itk,slicer,notebook,train

.PHONY: demo test install bench browser bundles clean-venv slicer-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "torch==$(TORCH_VERSION)"
	touch $@

$(VENV)/.installed-$(EXTRAS): setup.py pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	$(BIN)/python -c "from monai_medcomp.codecs.learned_lossless import compile_core; compile_core()"  # numba caches it
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(BIN)/medcomp demo --out demo-report --force

# Debian's chromium for the notebook explorer's browser test; Playwright drives it, nothing is downloaded.
# Installed when missing and running as root (CI); otherwise that one test skips with a message.
browser:
	command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update && apt-get install -y chromium)

# The reference DICOM tools tests/dicom_tools runs on MedComp's DICOM output (dcmtk, GDCM, dciodvfy), from Debian.
# Installed when missing and running as root (CI); without them those tests fail, saying how to install them.
.PHONY: dicom-tools
dicom-tools:
	command -v dcmdjpls >/dev/null && command -v gdcmconv >/dev/null && command -v dciodvfy >/dev/null \
		|| [ "$$(id -u)" != 0 ] || (apt-get update && apt-get install -y dcmtk libgdcm-tools dicom3tools)

# Orthanc and its DICOMweb plugin, from Debian: tests/archive starts its own on 127.0.0.1 (free port, temporary storage).
# Installed when missing and running as root (CI); without them those tests fail, saying how to install them.
.PHONY: pacs-tools
pacs-tools:
	[ -x /usr/sbin/Orthanc ] && [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] \
		|| [ "$$(id -u)" != 0 ] || (apt-get update && apt-get install -y orthanc orthanc-dicomweb)

# The Python packages Slicer 5.10.0 ships, at its versions (tests/slicer/slicer-5.10-packages.txt), in a folder of
# their own: tests/slicer/test_install.py puts it first on PYTHONPATH to run the Slicer module's tests against them.
SLICER_PACKAGES := build/slicer-5.10-packages
SLICER_PINS := tests/slicer/slicer-5.10-packages.txt

$(SLICER_PACKAGES)/.installed: $(SLICER_PINS) | $(BIN)/python
	rm -rf $(SLICER_PACKAGES)
	$(BIN)/python -m pip install --no-deps --target $(SLICER_PACKAGES) -r $(SLICER_PINS)
	touch $@

slicer-packages: $(SLICER_PACKAGES)/.installed

test: install browser slicer-packages dicom-tools pacs-tools
	$(BIN)/python -m pytest tests

bench: install
	$(BIN)/medcomp bench --out benchmarks --force

# One zip per MONAI bundle in dist/bundles, ready for monai.bundle.download(name=..., url=...).
bundles: install
	$(BIN)/python -m monai_medcomp.bundle_archive --out dist/bundles --force

clean-venv:
	rm -rf $(VENV)
