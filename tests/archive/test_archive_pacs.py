"""A real Orthanc as source and destination: QIDO-RS filters, WADO-RS into a folder, STOW-RS back into the
PACS with the stored copies compared to the originals, a refused STOW and an unreachable PACS."""

import io

import numpy as np
import pydicom
import pytest

from monai_medcomp.archive import Filters, Job, archive
from monai_medcomp.archive.dicomweb import DicomWebError, join_multipart, split_multipart
from monai_medcomp.archive.sources import find_in_pacs
from monai_medcomp.errors import MedCompError

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"


def _run(source, destination, cluster, tmp_path, name, job=None):
    return archive(str(source), str(destination), job=job or Job.create(), manifest=tmp_path / f"{name}.sqlite",
                   scheduler=cluster.scheduler_address, progress=False, log=lambda line: None)


def _upload(pacs, series):
    for files in series.values():
        for path in files:
            pacs.upload(path.read_bytes())


def _without_pixels(ds):
    return {tag: value for tag, value in ds.to_json_dict().items() if tag != "7FE00010"}


def test_pacs_to_folder_and_back_into_the_pacs_by_stow(tree, tmp_path, cluster, orthanc):
    root, series = tree
    pacs = orthanc()
    _upload(pacs, series)
    originals = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(path) for files in series.values()
                                                        for path in files)}

    fetched = _run(pacs.dicomweb, tmp_path / "out", cluster, tmp_path, "fetch")
    assert fetched.count("done") == 3 and {row.key for row in fetched.rows} == set(series), fetched.text()
    assert all(row.instances == len(series[row.key]) for row in fetched.rows)
    for row in fetched.rows:
        for path in (tmp_path / "out" / row.key).iterdir():
            copy = pydicom.dcmread(path)
            assert np.array_equal(copy.pixel_array, originals[str(copy.SOPInstanceUID)].pixel_array)

    stored = _run(tmp_path / "out", pacs.dicomweb, cluster, tmp_path, "stow")
    assert stored.count("done") == 3, stored.text()
    assert all(row.output.startswith(f"{pacs.dicomweb}/studies/") for row in stored.rows)
    copies = [pydicom.dcmread(io.BytesIO(pacs.instance_file(uid))) for uid in pacs.instances()]
    assert len(copies) == len(originals)  # the PACS replaced its instances with their compressed copies
    for copy in copies:
        original = originals[str(copy.SOPInstanceUID)]
        assert copy.file_meta.TransferSyntaxUID == JPEG_LS_LOSSLESS
        assert np.array_equal(copy.pixel_array, original.pixel_array)
        assert _without_pixels(copy) == _without_pixels(original)


def test_qido_filters_pick_studies_dates_and_modalities(tree, orthanc):
    _, series = tree
    pacs = orthanc()
    _upload(pacs, series)
    study_b = next(key for key, files in series.items() if len(files) == 1).split("/")[0]
    found = lambda **options: sorted(ref.key for ref in find_in_pacs(pacs.dicomweb, Filters(**options)))  # noqa: E731
    assert found() == sorted(series)
    assert found(study_uids=(study_b,)) == [key for key in sorted(series) if key.startswith(study_b)]
    assert found(date_range="20210101-") == found(study_uids=(study_b,))
    assert found(date_range="-20191231") == []
    assert len(found(modality="MR")) == 2 and len(found(modality="CT")) == 1
    assert {ref.instances for ref in find_in_pacs(pacs.dicomweb, Filters())} == {1, 2, 3}


def test_a_refused_stow_fails_its_series_and_the_others_complete(tree, tmp_path, cluster, orthanc):
    root, series = tree
    source, refusing = orthanc("source"), orthanc("refusing", refuse_modality="MR")
    _upload(source, series)
    report = _run(source.dicomweb, refusing.dicomweb, cluster, tmp_path, "refused")
    assert report.count("done") == 1 and len(report.failures) == 2, report.text()
    for row in report.failures:  # Orthanc answers "stored" for what its filter dropped: the look-up afterwards tells
        count = len(series[row.key])
        assert row.error == (f"the PACS answered that it stored the series, but {count} of {count} instances are "
                             "not in it (refused by a filter?)")
    assert len(refusing.instances()) == 3  # the CT series


def test_an_unreachable_pacs_is_one_clear_line(tree, tmp_path, cluster, program):
    root, series = tree
    nowhere = "http://127.0.0.1:9/dicom-web"  # the discard port: nothing listens there
    with pytest.raises(DicomWebError, match=r"^cannot reach the DICOMweb server http://127.0.0.1:9/dicom-web "):
        _run(nowhere, tmp_path / "out", cluster, tmp_path, "source")
    done = program(nowhere, str(tmp_path / "out"), "--workers", "1")
    assert done.returncode == 2 and done.stderr.startswith("medcomp archive: error: cannot reach the DICOMweb server")
    report = _run(root, nowhere, cluster, tmp_path, "destination")
    assert report.count("failed") == 3
    assert all(row.error.startswith("cannot reach the DICOMweb server") for row in report.failures)


def test_multipart_bodies_round_trip_and_a_cut_one_is_refused():
    parts = [b"\r\n--x\r\n", bytes(range(256)), b""]
    body, content_type = join_multipart(parts)
    assert split_multipart(body, content_type) == parts
    with pytest.raises(DicomWebError, match="cut short"):
        split_multipart(body[:-10], content_type)
    with pytest.raises(DicomWebError, match="multipart/related with a boundary"):
        split_multipart(body, "application/json")
    with pytest.raises(MedCompError, match="is not a DICOM UID"):
        Filters(study_uids=("../../etc",))
