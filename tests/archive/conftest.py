"""What the archive tests share, handed out as fixtures (test modules cannot import a conftest): sample
studies built from the catalogue, a real Dask LocalCluster of 2 worker processes, a real Orthanc with its
DICOMweb plugin, and the archive command run as a program.

Sample studies: each series is a few shifted copies of one small catalogued image with new UIDs
(``bench.archive.sample_series``, as the benchmark's), so a series is several real slices of one volume;
files sit in a nested tree under odd names, beside files that are not DICOM images.

Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``, ``make pacs-tools``) starts on 127.0.0.1 with a free
port, its own storage folder and one JSON configuration, and is stopped afterwards.  Without it the tests
that need it fail when ``CI`` is set and are skipped with a message otherwise.  ``refuse_modality`` makes
it refuse every instance of one modality (a Lua ``ReceivedInstanceFilter``): a PACS refusing a STOW-RS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Iterator

import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from monai_medcomp.bench.archive import sample_series as slices
from monai_medcomp.bench.archive import write_series
from monai_medcomp.data import get_sample

PROGRAM = Path(__file__).with_name("archive_command.py")


def multiframe(sample: str, study_uid: str, patient: str, date: str = "20200102") -> list[pydicom.Dataset]:
    """The catalogued multi-frame ``sample`` as the one instance of a new series."""
    ds = pydicom.dcmread(get_sample(sample).path())
    ds.StudyInstanceUID, ds.PatientID, ds.PatientName, ds.StudyDate = study_uid, patient, f"Test^{patient}", date
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    return [ds]


def build_tree(root: Path) -> dict[str, list[Path]]:
    """Two studies (A of 2020-01-02: CT slices and MR slices; B of 2021-03-04: one multi-frame MR) and two
    non-DICOM files; returns the files of each series by ``study/series`` key."""
    study_a, study_b = generate_uid(), generate_uid()
    patient_a = root / "patient A"
    series = dict([write_series(patient_a / "visit 1" / "ct", slices("ct_small", 3, study_a, "A"), "IM{:04d}"),
                   write_series(patient_a / "misc" / "mr-files", slices("mr_small", 2, study_a, "A"), "image.{}"),
                   write_series(root / "B", multiframe("mr_emri_small", study_b, "B", "20210304"),
                                "enhanced mr {}.dcm")])
    (root / "README.txt").write_text("not an image\n")
    (root / "B" / "thumbnail.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    return series


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """SHA-256 and modification time of every file under ``root``: what "never modified" is checked against."""
    return {str(path): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


ORTHANC = "Orthanc"
PLUGIN_FOLDERS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
PLUGIN = "libOrthancDicomWeb.so"
START_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin() -> Path | None:
    return next((Path(folder) / PLUGIN for folder in PLUGIN_FOLDERS if (Path(folder) / PLUGIN).is_file()), None)


def missing() -> str | None:
    """Why Orthanc cannot be started here, or None."""
    if shutil.which(ORTHANC) is None and not Path("/usr/sbin/Orthanc").is_file():
        return "Orthanc is not installed (make pacs-tools installs Debian's orthanc and orthanc-dicomweb as root)"
    if plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (make pacs-tools: Debian's orthanc-dicomweb)"
    return None


class Orthanc:
    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        self.dicomweb = f"{self.url}/dicom-web"

    def upload(self, data: bytes) -> None:
        requests.post(f"{self.url}/instances", data=data, timeout=30).raise_for_status()

    def instances(self) -> list[str]:
        return requests.get(f"{self.url}/instances", timeout=30).json()

    def instance_file(self, orthanc_id: str) -> bytes:
        response = requests.get(f"{self.url}/instances/{orthanc_id}/file", timeout=30)
        response.raise_for_status()
        return response.content


@contextlib.contextmanager
def running(root: Path, refuse_modality: str | None = None) -> Iterator[Orthanc]:
    """An Orthanc with its storage under ``root``, until the block ends."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = str(root / "storage")
    config = {"Name": "medcomp-test", "StorageDirectory": storage, "IndexDirectory": storage,
              "HttpPort": port, "HttpBindAddress": "127.0.0.1", "RemoteAccessAllowed": False,
              "AuthenticationEnabled": False, "DicomServerEnabled": False, "OverwriteInstances": True,
              "Plugins": [str(plugin())], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
              "StableAge": 1, "HttpThreadsCount": 8}
    if refuse_modality is not None:
        script = root / "refuse.lua"
        script.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n"
                          f"  return dicom.Modality ~= '{refuse_modality}'\nend\n")
        config["LuaScripts"] = [str(script)]
    (root / "orthanc.json").write_text(json.dumps(config))
    binary = shutil.which(ORTHANC) or "/usr/sbin/Orthanc"
    log = open(root / "orthanc.log", "wb")
    process = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=root, env={**os.environ, "LANG": "C"})
    server = Orthanc(root, port)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {process.returncode}: "
                                   f"{(root / 'orthanc.log').read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{server.url}/system", timeout=2).ok:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not answer within {START_SECONDS} s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- fixtures ---------------------------------------------------------------------------------------------

@pytest.fixture
def studies():
    """The builders above, for tests that make series of their own."""
    return types.SimpleNamespace(slices=slices, multiframe=multiframe, write_series=write_series,
                                 build_tree=build_tree, fingerprint=fingerprint, generate_uid=generate_uid)


@pytest.fixture
def tree(tmp_path):
    """``(root, series)``: the sample tree under tmp_path/source and its files by ``study/series`` key."""
    root = tmp_path / "source"
    return root, build_tree(root)


@pytest.fixture(scope="package")
def cluster():
    """A real ``distributed.LocalCluster`` as the archive makes one: 2 single-threaded worker processes, codecs
    imported on both."""
    from distributed import Client

    from monai_medcomp.archive.runner import local_cluster
    from monai_medcomp.codecs import get_codec

    with local_cluster(2) as local, Client(local) as client:
        client.run(get_codec, "jpegls")
        yield local


@pytest.fixture
def program(tmp_path):
    """Run ``medcomp archive ARGS`` as a program; returns the finished process (text output)."""
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(PROGRAM), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path)
    return run


@pytest.fixture
def start_program(tmp_path):
    """Start ``medcomp archive ARGS`` as a program in its own process group (so a test can kill all of it)."""
    started = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, str(PROGRAM), *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=tmp_path, preexec_fn=os.setpgrp)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait()


@pytest.fixture(scope="package")
def orthanc_available():
    reason = missing()
    if reason:
        pytest.fail(f"{reason}; `make test` installs it when run as root")


@pytest.fixture
def orthanc(tmp_path, orthanc_available):
    """Start Orthancs for this test: ``orthanc(name, refuse_modality=None)``; all stopped at its end."""
    with contextlib.ExitStack() as stack:
        yield lambda name="pacs", **options: stack.enter_context(running(tmp_path / name, **options))
