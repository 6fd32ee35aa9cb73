"""Zipping a bundle never follows a link out of its folder, and never writes an entry name that would be unsafe
to unpack (the zip is unpacked on other machines, Windows included)."""

import os
import zipfile

import pytest

from monai_medcomp.bundle_archive import build_archives, main
from monai_medcomp.errors import MedCompError

SECRET = b"a file outside the bundle"


@pytest.fixture
def bundles(tmp_path):
    """A bundles folder holding one small bundle, and a secret file beside it."""
    bundle = tmp_path / "bundles" / "tiny"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "metadata.json").write_text('{"version": "0.1.0"}')
    (bundle / "models" / "model.pt").write_bytes(b"weights")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.txt").write_bytes(SECRET)
    return tmp_path / "bundles"


def refused(bundles, out, match):
    with pytest.raises(MedCompError, match=match):
        build_archives(bundles, out)
    assert not out.exists() or list(out.iterdir()) == []


def test_a_link_to_a_file_outside_is_refused(bundles, tmp_path):
    os.symlink(tmp_path / "private" / "secret.txt", bundles / "tiny" / "models" / "extra.pt")
    refused(bundles, tmp_path / "dist", "models/extra.pt links outside the bundle folder")


def test_a_linked_folder_outside_is_refused(bundles, tmp_path):
    os.symlink(tmp_path / "private", bundles / "tiny" / "docs")
    refused(bundles, tmp_path / "dist", "docs/secret.txt links outside the bundle folder")


def test_a_link_inside_the_bundle_is_zipped_as_its_content(bundles, tmp_path):
    os.symlink("model.pt", bundles / "tiny" / "models" / "model_rgb.pt")
    (archive,) = build_archives(bundles, tmp_path / "dist")
    assert zipfile.ZipFile(archive).read("tiny/models/model_rgb.pt") == b"weights"


@pytest.mark.parametrize("name", ["CON.json", "aux", "a\\..\\..\\b.md", "notes\n.md", "LPT1.txt"])
def test_an_unsafe_entry_name_is_refused(name, bundles, tmp_path, capsys):
    (bundles / "tiny" / "docs").mkdir()
    (bundles / "tiny" / "docs" / name).write_text("text")
    refused(bundles, tmp_path / "dist", "not a safe name for a zip entry")
    assert main(["--bundles", str(bundles), "--out", str(tmp_path / "dist")]) == 2
    assert "not a safe name" in capsys.readouterr().err


def test_every_entry_is_a_safe_relative_path(bundles, tmp_path):
    (bundles / "tiny" / "docs").mkdir()
    (bundles / "tiny" / "docs" / "README.md").write_text("text")
    (archive,) = build_archives(bundles, tmp_path / "dist")
    names = zipfile.ZipFile(archive).namelist()
    assert names == ["tiny/configs/metadata.json", "tiny/docs/README.md", "tiny/models/model.pt"]
    assert all(not name.startswith("/") and ".." not in name.split("/") for name in names)


def test_no_zip_is_written_when_one_bundle_is_refused(bundles, tmp_path):
    """``aaa`` zips first: its zip must not appear when the next bundle turns out unsafe."""
    (bundles / "aaa" / "configs").mkdir(parents=True)
    (bundles / "aaa" / "configs" / "metadata.json").write_text("{}")
    os.symlink(tmp_path / "private" / "secret.txt", bundles / "tiny" / "LICENSE")
    refused(bundles, tmp_path / "dist", "LICENSE links outside the bundle folder")
