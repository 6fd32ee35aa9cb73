"""Every transfer syntax MedComp writes, decoded by dcmtk, GDCM and pydicom: lossless output bit for bit,
lossy output to the pixels MedComp reported (lossy JPEG: within the IDCTs' rounding).

Where a tool has no decoder for a syntax, or decodes it to other pixels than the other tools, the test is a
strict expected failure naming why, so the day a tool gains the codec or changes the suite says so.
"""

import numpy as np
import pytest

from monai_medcomp.bench import reference_tools
from monai_medcomp.bench.dicom import dicom_files


@pytest.mark.parametrize("tool", reference_tools.DECODERS)
def test_tool_decodes_what_medcomp_reports(image, name, tool, outputs, request, tmp_path):
    path, result = outputs.get(image, name)
    missing = reference_tools.lacks(tool, result.syntax)
    if missing:
        request.applymarker(pytest.mark.xfail(strict=True, raises=reference_tools.ToolFailure, reason=missing))
    differs = reference_tools.disagrees(tool, result.syntax, outputs.volume(image).channels)
    if differs:
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=differs))
    decoded = np.concatenate([reference_tools.decode(tool, file, tmp_path) for file in dicom_files(path)])
    expected = outputs.volume(image).array if result.lossless else result.written.decoded
    assert reference_tools.agrees(decoded, expected, result.syntax, not result.lossless), (
        f"{tool} decodes {name} to other pixels: max |difference| "
        f"{np.max(np.abs(decoded.astype(np.int64) - expected.astype(np.int64)))}")
