"""Bad inputs give one clear MedCompError; outputs appear whole or not at all, never over a file unasked."""

import os

import nibabel as nib
import pydicom
import pytest

from monai_medcomp.errors import MedCompError, OutputExistsError, ReadError
from monai_medcomp.io import dicom, read_volume, write_volume


def test_missing_file(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        read_volume(tmp_path / "absent.dcm")


def test_unknown_format(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ReadError, match="unrecognised image format"):
        read_volume(tmp_path / "notes.txt")


@pytest.mark.parametrize("suffix", [".dcm", ".nii.gz", ".png", ".tif"])
def test_garbage_with_an_image_suffix(suffix, tmp_path):
    (tmp_path / f"bad{suffix}").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ReadError):
        read_volume(tmp_path / f"bad{suffix}")


def test_folder_without_dicom_files(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(ReadError, match="no DICOM image files"):
        read_volume(tmp_path)


def test_unknown_output_suffix_and_two_file_formats(dicom_file, tmp_path):
    volume = read_volume(dicom_file("CT_small.dcm"))
    with pytest.raises(MedCompError, match="unknown suffix"):
        write_volume(volume, tmp_path / "ct.bmp")
    with pytest.raises(MedCompError, match=r"\.mha or \.nrrd"):
        write_volume(volume, tmp_path / "ct.mhd")


@pytest.mark.parametrize("name", ["out.dcm", "out.nii.gz", "out.tif"])
def test_existing_output_is_refused_and_untouched(name, dicom_file, tmp_path):
    target = tmp_path / name
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        write_volume(read_volume(dicom_file("CT_small.dcm")), target)
    assert target.read_bytes() == b"precious"
    write_volume(read_volume(dicom_file("CT_small.dcm")), target, force=True)
    assert read_volume(target).array.shape == (1, 128, 128)


def test_existing_series_folder_is_refused_then_replaced_with_force(dicom_file, nibabel_file, tmp_path):
    write_volume(read_volume(dicom_file("CT_small.dcm")), tmp_path / "series")
    before = sorted(os.listdir(tmp_path / "series"))
    with pytest.raises(OutputExistsError):
        write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "series")
    assert sorted(os.listdir(tmp_path / "series")) == before
    write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "series", force=True)
    assert len(os.listdir(tmp_path / "series")) == 24
    assert sorted(os.listdir(tmp_path)) == ["series"]


def test_force_never_replaces_a_folder_of_other_things(dicom_file, tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(MedCompError, match="not DICOM"):
        write_volume(read_volume(dicom_file("CT_small.dcm")), tmp_path / "home", force=True)
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"


def test_failed_file_write_leaves_nothing(dicom_file, tmp_path, monkeypatch):
    def half_then_fail(image, path):
        open(path, "wb").write(b"half a header")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_volume(read_volume(dicom_file("CT_small.dcm")), tmp_path / "ct.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_failed_series_write_leaves_nothing(nibabel_file, tmp_path, monkeypatch):
    written = []
    save = dicom._save

    def fail_on_third(ds, path):
        if len(written) == 2:
            raise OSError("disk full")
        save(ds, path)
        written.append(path)

    monkeypatch.setattr(dicom, "_save", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "series")
    assert len(written) == 2 and list(tmp_path.iterdir()) == []


def test_refused_dicom_write_leaves_the_input_alone(dicom_file, tmp_path):
    source = tmp_path / "ct.dcm"
    source.write_bytes(dicom_file("CT_small.dcm").read_bytes())
    with pytest.raises(OutputExistsError):
        write_volume(read_volume(source), source)
    assert pydicom.dcmread(source) == pydicom.dcmread(dicom_file("CT_small.dcm"))
