"""``medcomp bench --dicom`` on one small image: every syntax that holds it, the tools' verdicts, the report."""

from monai_medcomp.bench import dicom
from monai_medcomp.data import load_sample
from monai_medcomp.io.dicom_syntax import SYNTAXES


def test_dicom_figures_cover_every_syntax_and_render():
    volume = load_sample("us_8bit")
    crop = volume.with_array(volume.array[:, 200:264, 200:264].copy())
    results = dicom.dicom_results({"us_8bit": crop}, repeats=1, progress=False)
    assert {row["syntax"] for row in results["rows"]} == {syntax.name for syntax in SYNTAXES}
    for row in results["rows"]:
        assert row["dciodvfy"]["new_errors"] == [], row["syntax"]
        assert row["tools"]["gdcm"] in ("exact", "agrees", "no codec"), row["syntax"]
        assert (row["psnr"] is None) == row["lossless"]
    assert {t["codec"] for t in results["targets"]} <= set(dicom.TARGET_CODECS)
    text = dicom.markdown(results)
    assert "| jpegls-near | 1.2.840.10008.1.2.4.81 |" in text and "A PSNR target" in text
