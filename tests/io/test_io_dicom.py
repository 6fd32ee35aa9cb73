"""DICOM: every voxel and every header field back, series order and geometry, lossy marking."""

import json
import os
import random

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

import monai_medcomp as mc
from monai_medcomp.errors import MedCompError, ReadError
from monai_medcomp.io import read_volume, write_volume
from monai_medcomp.io.dicom import header_to_json


def as_stored(volume):
    """The volume as a .mcz container gives it back: its metadata through JSON text."""
    return volume.with_array(volume.array, metadata=json.loads(json.dumps(volume.metadata, allow_nan=False)))


def lossy(volume, codec="jpegls", ratio=7.5, slices=None):
    """The volume as api.decompress hands it back after a lossy codec."""
    compression = {"codec": codec, "params": {"near": 2}, "lossless": False, "ratio": ratio, "slices": slices}
    return volume.with_array(volume.array, metadata={**volume.metadata, "compression": compression})


@pytest.mark.parametrize("name", ["693_UNCR.dcm", "explicit_VR-UN.dcm", "MR2_UNCR.dcm", "RG3_UNCR.dcm",
                                  "JPEG2000_UNC.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "OBXXXX1A.dcm"])
def test_single_file_round_trip_keeps_pixels_and_every_tag(name, dicom_file, differing_tags, tmp_path):
    original = pydicom.dcmread(dicom_file(name))
    volume = read_volume(dicom_file(name))
    assert volume.bits_stored == original.BitsStored
    write_volume(as_stored(volume), tmp_path / "out.dcm")
    written = pydicom.dcmread(tmp_path / "out.dcm")
    assert np.array_equal(written.pixel_array, original.pixel_array)
    assert differing_tags(original, written) == []
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID


def test_read_keeps_stored_values_rescale_and_geometry(dicom_file):
    volume = read_volume(dicom_file("693_UNCR.dcm"))
    assert volume.dtype == np.int16 and volume.array.min() == -2000  # stored, not Hounsfield units
    assert volume.bits_stored == 14 and volume.metadata["modality"] == "CT"
    assert volume.metadata["rescale"] == {"slope": 1.0, "intercept": -1024.0}
    assert volume.spacing[:2] == (0.478516, 0.478516)
    assert volume.origin == (-122.5, -112.4, 47.0)


def test_multiframe_round_trip(dicom_file, differing_tags, tmp_path):
    original = pydicom.dcmread(dicom_file("emri_small.dcm"))
    volume = read_volume(dicom_file("emri_small.dcm"))
    assert volume.array.shape == (10, 64, 64) and volume.bits_stored == 12
    assert volume.spacing == (1.0, 1.0, 1.2)  # Spacing Between Slices
    write_volume(as_stored(volume), tmp_path / "emri.dcm")
    written = pydicom.dcmread(tmp_path / "emri.dcm")
    assert written.NumberOfFrames == 10
    assert np.array_equal(written.pixel_array, original.pixel_array)
    assert differing_tags(original, written) == []


def test_rgb_round_trip(dicom_file, differing_tags, tmp_path):
    original = pydicom.dcmread(dicom_file("US1_UNCR.dcm"))
    volume = read_volume(dicom_file("US1_UNCR.dcm"))
    assert volume.array.shape == (1, 480, 640, 3)
    write_volume(volume, tmp_path / "us.dcm")
    written = pydicom.dcmread(tmp_path / "us.dcm")
    assert np.array_equal(written.pixel_array, original.pixel_array)
    assert differing_tags(original, written) == []


def test_ybr_jpeg_is_written_as_the_rgb_pixels_it_decodes_to(dicom_file, differing_tags, tmp_path):
    original = pydicom.dcmread(dicom_file("SC_rgb_jpeg_dcmtk.dcm"))
    volume = read_volume(dicom_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert volume.metadata["photometric_interpretation"] == "YBR_FULL"
    write_volume(volume, tmp_path / "rgb.dcm")
    written = pydicom.dcmread(tmp_path / "rgb.dcm")
    assert written.PhotometricInterpretation == "RGB"
    assert np.array_equal(written.pixel_array, original.pixel_array)
    assert set(differing_tags(original, written)) <= {str(pydicom.tag.Tag("PhotometricInterpretation"))}


def test_through_a_container_and_back(dicom_file, differing_tags, tmp_path):
    original = pydicom.dcmread(dicom_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    mc.compress(dicom_file("MR-SIEMENS-DICOM-WithOverlays.dcm"), tmp_path / "mr.mcz", codec="jpegls")
    mc.decompress(tmp_path / "mr.mcz", tmp_path / "exact.dcm")
    exact = pydicom.dcmread(tmp_path / "exact.dcm")
    assert np.array_equal(exact.pixel_array, original.pixel_array)
    assert differing_tags(original, exact) == []
    assert np.array_equal(exact.overlay_array(0x6000), original.overlay_array(0x6000))
    result = mc.compress(dicom_file("MR-SIEMENS-DICOM-WithOverlays.dcm"), tmp_path / "near.mcz", codec="jpegls",
                         max_error=2)
    mc.decompress(tmp_path / "near.mcz", tmp_path / "near.dcm")
    near = pydicom.dcmread(tmp_path / "near.dcm")
    assert np.abs(near.pixel_array.astype(int) - original.pixel_array).max() <= 2
    assert near.LossyImageCompression == "01" and near.LossyImageCompressionMethod == "ISO_14495_1"
    assert float(near.LossyImageCompressionRatio) == pytest.approx(result.ratio, rel=1e-6)


def test_second_lossy_step_appends_ratio_and_method(dicom_file, tmp_path):
    write_volume(lossy(read_volume(dicom_file("CT_small.dcm")), "jpeg2000", 4.0), tmp_path / "once.dcm")
    write_volume(lossy(read_volume(tmp_path / "once.dcm"), "cnn-ae", 20.0), tmp_path / "twice.dcm")
    twice = pydicom.dcmread(tmp_path / "twice.dcm")
    assert [float(r) for r in twice.LossyImageCompressionRatio] == [4.0, 20.0]
    assert list(twice.LossyImageCompressionMethod) == ["ISO_15444_1", "CNN_AE"]


def test_lossless_reconstruction_keeps_the_instance_uid(dicom_file, tmp_path):
    volume = read_volume(dicom_file("CT_small.dcm"))
    compression = {"codec": "jpegls", "params": {}, "lossless": True, "ratio": 2.1, "slices": None}
    write_volume(volume.with_array(volume.array, metadata={**volume.metadata, "compression": compression}),
                 tmp_path / "same.dcm")
    written = pydicom.dcmread(tmp_path / "same.dcm")
    assert written.SOPInstanceUID == pydicom.dcmread(dicom_file("CT_small.dcm")).SOPInstanceUID
    assert "LossyImageCompression" not in written


def shuffle_file_names(folder):
    names = sorted(os.listdir(folder))
    shuffled = names[:]
    random.Random(3).shuffle(shuffled)
    for name in names:
        os.rename(folder / name, folder / f"tmp-{name}")
    for name, new in zip(names, shuffled):
        os.rename(folder / f"tmp-{name}", folder / new)


def test_series_folder_from_a_real_volume_reads_back_in_order(nibabel_file, tmp_path):
    volume = read_volume(nibabel_file("example4d.nii.gz"), volume_index=0)
    write_volume(volume, tmp_path / "series")
    assert len(os.listdir(tmp_path / "series")) == 24
    shuffle_file_names(tmp_path / "series")  # order must come from the headers, not the names
    series = read_volume(tmp_path / "series")
    assert np.array_equal(series.array, volume.array)
    assert np.allclose(series.lps_affine, volume.lps_affine, atol=1e-4)
    first = pydicom.dcmread(tmp_path / "series" / series.metadata["dicom"]["files"][0]["filename"])
    assert first.SOPClassUID == SecondaryCaptureImageStorage


def test_series_written_back_is_identical(nibabel_file, tmp_path):
    write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "a")
    write_volume(read_volume(tmp_path / "a"), tmp_path / "b")
    assert sorted(os.listdir(tmp_path / "a")) == sorted(os.listdir(tmp_path / "b"))
    for name in os.listdir(tmp_path / "a"):
        assert pydicom.dcmread(tmp_path / "a" / name) == pydicom.dcmread(tmp_path / "b" / name)


def test_partial_decode_of_a_series_writes_the_selected_files(nibabel_file, tmp_path):
    write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "full")
    full = read_volume(tmp_path / "full")
    files = full.metadata["dicom"]["files"]
    part = lossy(full, slices=[5, 9]).with_array(full.array[[5, 9]])
    write_volume(part, tmp_path / "part")
    assert sorted(os.listdir(tmp_path / "part")) == sorted([files[5]["filename"], files[9]["filename"]])
    for index in (5, 9):
        source = pydicom.dcmread(tmp_path / "full" / files[index]["filename"])
        written = pydicom.dcmread(tmp_path / "part" / files[index]["filename"])
        assert written.ImagePositionPatient == source.ImagePositionPatient
        assert np.array_equal(written.pixel_array, source.pixel_array)
        assert written.LossyImageCompression == "01" and written.SOPInstanceUID != source.SOPInstanceUID


def test_multiframe_to_series_carries_patient_and_study(dicom_file, tmp_path):
    source = pydicom.dcmread(dicom_file("emri_small.dcm"))
    volume = read_volume(dicom_file("emri_small.dcm"))
    write_volume(volume, tmp_path / "frames")
    series = read_volume(tmp_path / "frames")
    assert np.array_equal(series.array, volume.array)
    assert np.allclose(series.spacing, volume.spacing)
    first = pydicom.dcmread(sorted((tmp_path / "frames").iterdir())[0])
    assert first.StudyInstanceUID == source.StudyInstanceUID and first.Modality == "MR"
    assert first.SeriesInstanceUID != source.SeriesInstanceUID


def test_changed_geometry_is_written(dicom_file, tmp_path):
    volume = read_volume(dicom_file("CT_small.dcm"))
    moved = volume.with_array(volume.array, spacing=(0.5, 0.25, 5.0), origin=(1.0, 2.0, 3.0))
    write_volume(moved, tmp_path / "moved.dcm")
    back = read_volume(tmp_path / "moved.dcm")
    assert np.allclose(back.spacing[:2], (0.5, 0.25)) and np.allclose(back.origin, (1.0, 2.0, 3.0))


def test_single_slice_from_nifti_gets_a_valid_secondary_capture_header(nibabel_file, tmp_path):
    volume = read_volume(nibabel_file("example4d.nii.gz"), volume_index=0)
    one = volume.with_array(volume.array[:1])
    write_volume(one, tmp_path / "one.dcm")
    written = pydicom.dcmread(tmp_path / "one.dcm")
    assert written.SOPClassUID == SecondaryCaptureImageStorage
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    back = read_volume(tmp_path / "one.dcm")
    assert np.array_equal(back.array, one.array)
    # One slice pins down the in-plane axes and the origin; its slice axis is the plane normal.
    assert np.allclose(back.lps_affine[:, [0, 1, 3]], one.lps_affine[:, [0, 1, 3]], atol=1e-4)
    assert back.spacing[2] == pytest.approx(one.spacing[2])


def test_multislice_volume_to_one_file_is_refused(nibabel_file, tmp_path):
    with pytest.raises(MedCompError, match="DICOM series"):
        write_volume(read_volume(nibabel_file("example4d.nii.gz"), volume_index=0), tmp_path / "all.dcm")
    assert not (tmp_path / "all.dcm").exists()


def test_folder_with_two_series_needs_a_choice(dicom_file, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        (folder / name).write_bytes(dicom_file(name).read_bytes())
    with pytest.raises(ReadError, match="2 series"):
        read_volume(folder)
    uid = pydicom.dcmread(dicom_file("MR_small.dcm")).SeriesInstanceUID
    assert read_volume(folder, series_uid=uid).metadata["modality"] == "MR"


def test_huge_binary_elements_are_dropped_and_listed(dicom_file):
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    ds.add_new(0x00091010, "LO", "MEDCOMP TEST")
    ds.add_new(0x00091001, "OB", b"\x01" * (6 << 20))
    ds.add_new(0x00091002, "OB", b"\x02" * 1000)
    entry = header_to_json(ds)
    assert entry["dropped"] == ["00091001"]
    assert "00091002" in entry["dataset"] and "7FE00010" not in entry["dataset"]


def test_dicom_without_suffix_is_recognised(dicom_file, tmp_path):
    (tmp_path / "IM0001").write_bytes(dicom_file("CT_small.dcm").read_bytes())
    assert read_volume(tmp_path / "IM0001").metadata["format"] == "dicom"


def test_dicom_without_pixel_data_is_a_read_error(tmp_path):
    ds = Dataset()
    ds.PatientName = "No^Pixels"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(tmp_path / "empty.dcm", enforce_file_format=True)
    with pytest.raises(ReadError, match="Secondary Capture Image Storage, but it holds no Pixel Data"):
        read_volume(tmp_path / "empty.dcm")
