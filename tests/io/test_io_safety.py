"""What a file's metadata says never becomes a path outside the output, and never crashes a writer.

The metadata of a decoded .mcz file is whatever its maker wrote: the DICOM file names of a series, the
DICOM, NIfTI and ITK headers, the rescaling.  Each case below is a real image whose metadata was crafted.
"""

import base64
import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

from monai_medcomp import api
from monai_medcomp.cli import main
from monai_medcomp.errors import MedCompError, MetadataError
from monai_medcomp.fileio import safe_file_name
from monai_medcomp.io import dicom, read_volume, write_volume

VICTIM = b"precious"
GENERATED = [f"slice_{n:04d}.dcm" for n in range(1, 11)]
HOSTILE_NAMES = [
    "../x.dcm", "../../victim/x.dcm", "{victim}", "a/b.dcm", "a\\..\\..\\x.dcm", "..", ".", "", "x\x00.dcm",
    "x\n.dcm", "x\x7f.dcm", "CON", "con.dcm", "Lpt9.txt", "COM1", "nul.tar.gz", "aux ", "COM\u00b9", "C:x.dcm",
    "x.dcm.", "x" * 256, "\u00e9" * 128, ".hidden.dcm", ".out.medcomp-1-abcdefgh.tmp", "\ud800.dcm", 5, None,
    ["a"], {"name": "x"},
]


@pytest.fixture
def series(dicom_file, tmp_path_factory):
    """A real 10-file DICOM series (emri_small's frames) read back as a Volume: layout "series", names kept."""
    source = tmp_path_factory.mktemp("source") / "series"
    write_volume(read_volume(dicom_file("emri_small.dcm")), source)
    volume = read_volume(source)
    assert [entry["filename"] for entry in volume.metadata["dicom"]["files"]] == GENERATED
    return volume


@pytest.fixture
def victim(tmp_path):
    """A file that a traversing name would overwrite."""
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "x.dcm").write_bytes(VICTIM)
    return tmp_path / "victim" / "x.dcm"


def snapshot(root):
    """Every file under ``root`` with its bytes."""
    return {path: path.read_bytes() for path in Path(root).rglob("*") if path.is_file()}


def with_names(volume, names):
    """``volume`` with the first ``len(names)`` stored file names replaced."""
    metadata = copy.deepcopy(volume.metadata)
    for entry, name in zip(metadata["dicom"]["files"], names):
        entry["filename"] = name
    return volume.with_array(volume.array, metadata=metadata)


def hostile(name, victim):
    """``"{victim}"`` stands for the victim's absolute path, which only a test knows."""
    return str(victim) if name == "{victim}" else name


@pytest.mark.parametrize("name", ["file.dcm", "IM_0001", "\u00e9chographie.dcm", "x" * 255, "con-1.dcm", "a.b.c"])
def test_safe_file_name_keeps_bare_names(name):
    assert safe_file_name(name) == name


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_safe_file_name_refuses_every_unsafe_name(name, tmp_path):
    assert safe_file_name(hostile(name, tmp_path / "x.dcm")) is None


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_stored_name_never_leaves_the_output_folder(name, series, victim, tmp_path):
    before = snapshot(tmp_path)
    names = GENERATED[:]
    names[3] = hostile(name, victim)
    write_volume(with_names(series, names), tmp_path / "work" / "out")
    after = snapshot(tmp_path)
    written = {path: data for path, data in after.items() if path.parent == tmp_path / "work" / "out"}
    assert {path: data for path, data in after.items() if path not in written} == before
    assert sorted(path.name for path in written) == GENERATED  # every name replaced, not only the bad one
    assert sorted(os.listdir(tmp_path / "work")) == ["out"]
    assert np.array_equal(read_volume(tmp_path / "work" / "out").array, series.array)


@pytest.mark.parametrize("names", [["A.dcm", "a.dcm"], ["x.dcm", "X.DCM"], ["caf\u00e9.dcm", "cafe\u0301.dcm"]])
def test_names_that_collide_on_a_case_insensitive_system_are_replaced(names, series, tmp_path):
    write_volume(with_names(series, names + GENERATED[2:]), tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == GENERATED


def test_safe_stored_names_are_kept(series, tmp_path):
    names = [f"IM{n:04d}" for n in range(10)]
    write_volume(with_names(series, names), tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == names


def test_every_path_is_checked_before_the_first_file_is_written(series, tmp_path, monkeypatch):
    """A name that passes as bare but resolves outside (here: the name check itself defeated) stops the
    whole write before any file: nothing half written, nothing outside."""
    monkeypatch.setattr(dicom, "safe_file_name", lambda name: name)
    names = GENERATED[:9] + ["../escaped.dcm"]
    with pytest.raises(MedCompError, match="outside the output folder"):
        write_volume(with_names(series, names), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def crafted_mcz(volume, path):
    """A real .mcz of ``volume`` whose stored metadata is ``volume.metadata`` as crafted."""
    api.compress(volume, path, "jpegls")
    return path


@pytest.mark.parametrize("name", ["../../victim/x.dcm", "{victim}", "../in.mcz", "CON"])
def test_decompress_of_a_crafted_file_writes_only_into_its_output(name, series, victim, tmp_path, capsys):
    names = GENERATED[:]
    names[0] = hostile(name, victim)
    mcz = crafted_mcz(with_names(series, names), tmp_path / "in.mcz")
    before = snapshot(tmp_path)
    assert main(["decompress", str(mcz), str(tmp_path / "out"), "--quiet"]) == 0
    after = snapshot(tmp_path)
    assert {path: data for path, data in after.items() if path.parent != tmp_path / "out"} == before
    assert sorted(os.listdir(tmp_path / "out")) == GENERATED
    assert np.array_equal(read_volume(tmp_path / "out").array, series.array)


# --- malformed metadata reaching the writers ---------------------------------------------------------------

def mutated(volume, change):
    metadata = json.loads(json.dumps(volume.metadata))
    change(metadata)
    return volume.with_array(volume.array, metadata=metadata)


def set_in(*keys_and_value):
    *keys, value = keys_and_value

    def change(metadata):
        target = metadata
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def dataset_element(tag, element):
    return set_in("dicom", "files", 0, "dataset", tag, element)


DICOM_CASES = {
    "dicom not an object": (set_in("dicom", "series"), r"metadata\.dicom\b"),
    "files not a list": (set_in("dicom", "files", "x"), r"metadata\.dicom\.files"),
    "files empty": (set_in("dicom", "files", []), r"metadata\.dicom\.files"),
    "entry not an object": (set_in("dicom", "files", 0, 7), r"metadata\.dicom\.files\[0\]"),
    "layout not a string": (set_in("dicom", "layout", 3), r"metadata\.dicom\.layout"),
    "layout unknown": (set_in("dicom", "layout", "mosaic"), r"metadata\.dicom\.layout"),
    "dataset not an object": (set_in("dicom", "files", 0, "dataset", []), r"metadata\.dicom\.files\[0\]\.dataset"),
    "file meta not an object": (set_in("dicom", "files", 0, "file_meta", "x"), r"files\[0\]\.file_meta"),
    "not a tag": (dataset_element("zzzz", {"vr": "CS", "Value": ["A"]}), r"metadata\.dicom\.files\[0\]"),
    "unknown VR": (dataset_element("00081030", {"vr": "QQ", "Value": ["A"]}), r"metadata\.dicom"),
    "value not a list": (dataset_element("00100010", {"vr": "PN", "Value": 5}), r"metadata\.dicom"),
    "number as text": (dataset_element("00280106", {"vr": "US", "Value": ["abc"]}), r"metadata\.dicom"),
    "huge number": (dataset_element("00280106", {"vr": "US", "Value": [10 ** 30]}), r"metadata\.dicom"),
    "positions as text": (dataset_element("00200032", {"vr": "DS", "Value": ["a", "b", "c"]}), r"metadata\.dicom"),
    "frames as text": (dataset_element("00280008", {"vr": "IS", "Value": ["many"]}), r"metadata\.dicom"),
    "inline binary not text": (dataset_element("00091010", {"vr": "OB", "InlineBinary": 5}), r"metadata\.dicom"),
    "sequence item not an object": (dataset_element("00081140", {"vr": "SQ", "Value": [5]}), r"metadata\.dicom"),
}


@pytest.mark.parametrize("case", sorted(DICOM_CASES))
@pytest.mark.parametrize("output", ["out", "out.dcm"])
@pytest.mark.filterwarnings("ignore:Invalid value")  # pydicom warns on reading a value it then cannot write
def test_malformed_dicom_metadata_is_one_clear_error_and_writes_nothing(case, output, series, dicom_file, tmp_path):
    change, field = DICOM_CASES[case]
    source = series if output == "out" else read_volume(dicom_file("CT_small.dcm"))
    (tmp_path / "work").mkdir()
    with pytest.raises(MetadataError, match=field):
        write_volume(mutated(source, change), tmp_path / "work" / output)
    assert list((tmp_path / "work").iterdir()) == []


def test_malformed_metadata_through_the_command_is_one_line_and_exit_2(series, tmp_path, capsys):
    mcz = crafted_mcz(mutated(series, dataset_element("00280106", {"vr": "US", "Value": ["abc"]})),
                      tmp_path / "in.mcz")
    assert main(["decompress", str(mcz), str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "metadata.dicom" in err
    assert sorted(os.listdir(tmp_path)) == ["in.mcz"]


@pytest.fixture
def nifti(nibabel_file):
    return read_volume(nibabel_file("example4d.nii.gz"), volume_index=0)


def header_bytes(length):
    return base64.b64encode(bytes(length)).decode("ascii")


NIFTI_CASES = {
    "nifti not an object": (set_in("nifti", "header"), r"metadata\.nifti\b"),
    "header not text": (set_in("nifti", "header", 348), r"metadata\.nifti\.header"),
    "header not base64": (set_in("nifti", "header", "not base64!"), r"metadata\.nifti\.header"),
    "header too short": (set_in("nifti", "header", header_bytes(100)), r"metadata\.nifti\.header: 100 bytes"),
    "header of zeros": (set_in("nifti", "header", header_bytes(348)), r"metadata\.nifti"),
    "extensions not a list": (set_in("nifti", "extensions", "x"), r"metadata\.nifti\.extensions"),
    "extension not an object": (set_in("nifti", "extensions", [1]), r"metadata\.nifti\.extensions\[0\]"),
    "extension code not a number": (set_in("nifti", "extensions", [{"code": "x", "content": ""}]),
                                    r"extensions\[0\]\.code"),
    "extension content not base64": (set_in("nifti", "extensions", [{"code": 6, "content": "%%"}]),
                                     r"extensions\[0\]\.content"),
}


@pytest.mark.parametrize("case", sorted(NIFTI_CASES))
def test_malformed_nifti_metadata_is_one_clear_error_and_writes_nothing(case, nifti, tmp_path):
    change, field = NIFTI_CASES[case]
    with pytest.raises(MetadataError, match=field):
        write_volume(mutated(nifti, change), tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["x", [1, 2], {"slope": True, "intercept": 0}, {"slope": 1.0},
                                   {"slope": float("inf"), "intercept": 0}, {"slope": 10 ** 400, "intercept": 0}])
@pytest.mark.parametrize("output", ["out.nii.gz", "out"])
def test_rescale_that_is_not_two_finite_numbers_is_refused(value, output, dicom_file, nifti, tmp_path):
    """New headers carry the rescaling: a NIfTI header for a volume from DICOM, DICOM ones for one from NIfTI."""
    source = read_volume(dicom_file("CT_small.dcm")) if output == "out.nii.gz" else nifti
    with pytest.raises(MetadataError, match=r"metadata\.rescale"):
        write_volume(source.with_array(source.array, metadata={"rescale": value}), tmp_path / output)
    assert list(tmp_path.iterdir()) == []


def test_nifti_extensions_survive_the_checks(nibabel_file, tmp_path):
    volume = read_volume(nibabel_file("example4d.nii.gz"), volume_index=0)
    metadata = json.loads(json.dumps(volume.metadata))
    metadata["nifti"]["extensions"] = [{"code": 6, "content": base64.b64encode(b"a comment").decode("ascii")}]
    write_volume(volume.with_array(volume.array, metadata=metadata), tmp_path / "out.nii.gz")
    assert read_volume(tmp_path / "out.nii.gz").metadata["nifti"]["extensions"] == metadata["nifti"]["extensions"]


ITK_CASES = {
    "itk not an object": ("a string", r"metadata\.itk\b"),
    "value not text": ({"Reviewer": 5}, r"metadata\.itk\['Reviewer'\]"),
    "line break in a value": ({"Comment": "a\nElementDataFile = /etc/hostname"}, r"metadata\.itk\['Comment'\]"),
    "line break in a key": ({"A\nElementDataFile = /etc/hostname\nB": "x"}, r"metadata\.itk"),
    "separator in a key": ({"ElementDataFile = /etc/hostname\nX": "y"}, r"metadata\.itk"),
}


@pytest.mark.parametrize("case", sorted(ITK_CASES))
@pytest.mark.parametrize("suffix", [".mha", ".nrrd"])
def test_malformed_itk_fields_are_one_clear_error(case, suffix, dicom_file, tmp_path):
    pytest.importorskip("itk")
    fields, field = ITK_CASES[case]
    volume = read_volume(dicom_file("CT_small.dcm"))
    crafted = volume.with_array(volume.array, metadata={"format": "itk", "itk": fields})
    with pytest.raises(MetadataError, match=field):
        write_volume(crafted, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["ElementDataFile", "HeaderSize"])
def test_metaimage_fields_stored_as_text_never_steer_the_written_file(key, dicom_file, tmp_path):
    """A stored ``ElementDataFile`` written as an extra field would come first: the .mha would then take its
    pixels from another file.  MetaImage's own fields are the writer's, like ITK_ and NRRD_ ones."""
    pytest.importorskip("itk")
    (tmp_path / "other.raw").write_bytes(bytes(range(256)) * 256)
    volume = read_volume(dicom_file("CT_small.dcm"))
    crafted = volume.with_array(volume.array, metadata={"format": "itk", "itk": {key: "other.raw", "Reviewer": "r"}})
    write_volume(crafted, tmp_path / "out.mha")
    back = read_volume(tmp_path / "out.mha")
    assert np.array_equal(back.array, volume.array) and back.metadata["itk"]["Reviewer"] == "r"
