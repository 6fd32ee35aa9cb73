"""dciodvfy finds no error in MedComp's DICOM output that the same image written uncompressed does not have.

This dciodvfy build (Debian 12, dicom3tools 2022-06-18) cannot parse HTJ2K, JPEG-XL or Deflated files:
their header is validated through an explicit-VR twin (same attributes, uncompressed pixels), and a
strict expected failure runs dciodvfy on the file itself, so a newer build that reads them is noticed.
"""

import pytest

from monai_medcomp.bench import reference_tools
from monai_medcomp.bench.dicom import dicom_files


def uncompressed_verdicts(outputs, image):
    path, _ = outputs.get(image, "explicit")
    return [reference_tools.dciodvfy(file) for file in dicom_files(path)]


def test_no_new_error(image, name, outputs, tmp_path):
    path, result = outputs.get(image, name)
    verdicts = [reference_tools.validate(file, result.syntax, tmp_path) for file in dicom_files(path)]
    twin = result.syntax.family in reference_tools.DCIODVFY_UNREADABLE
    assert all(verdict.twin == twin for verdict in verdicts)
    new = [verdict.new_errors(before) for verdict, before in zip(verdicts, uncompressed_verdicts(outputs, image))]
    assert new == [[]] * len(verdicts)


def test_dciodvfy_reads_the_file_itself(image, unreadable, outputs, request):
    path, result = outputs.get(image, unreadable)
    request.applymarker(pytest.mark.xfail(strict=True, reason=reference_tools.DCIODVFY_UNREADABLE[
        result.syntax.family]))
    before = uncompressed_verdicts(outputs, image)
    assert all(reference_tools.dciodvfy(file).new_errors(verdict) == []
               for file, verdict in zip(dicom_files(path), before))
