"""A small DICOMweb client (PS3.18): QIDO-RS to find studies and series, WADO-RS to fetch a series, STOW-RS
to store one.

Built on ``requests`` alone: the archive needs three calls, raw instance bytes (the source digest is taken
over the bytes the PACS sent, before any parsing) and one clear line for every way a server can fail,
which a general client would wrap in its own exceptions.  What a server answers is checked before use:
JSON must be a list of DICOM JSON objects, every UID must be a UID, multipart bodies must carry the
boundary they announce, and a STOW-RS answer must name every instance sent as stored.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from email.message import Message
from typing import Any, Iterable

import requests

from ..errors import MedCompError

DICOM_TYPE = "application/dicom"
JSON_TYPE = "application/dicom+json"
QIDO_PAGE = 500  # results asked per QIDO-RS request; servers cap pages, so paging continues until a short page
UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
MAX_UID_LENGTH = 64
# Tags (PS3.6) read from QIDO-RS and STOW-RS answers.
STUDY_UID, SERIES_UID, SOP_INSTANCE = "0020000D", "0020000E", "00080018"
SOP_UID = "00081155"  # Referenced SOP Instance UID, in STOW-RS answers
MODALITY, STUDY_DATE, SERIES_INSTANCES = "00080060", "00080020", "00201209"
REFERENCED_SOPS, FAILED_SOPS, FAILURE_REASON = "00081199", "00081198", "00081197"
# STOW-RS failure reasons (PS3.18 Table I.2-1 and PS3.4 Annex B status codes) in words.
FAILURES = {0x0110: "processing failure", 0x0122: "SOP class not supported", 0x0124: "not authorised",
            0xA700: "out of resources", 0xA900: "data set does not match its SOP class",
            0xC000: "cannot understand", 0xC122: "transfer syntax not supported"}


class DicomWebError(MedCompError):
    """A DICOMweb server that cannot be reached, refuses a request or answers something that is not DICOMweb."""


def is_url(location: str) -> bool:
    return str(location).startswith(("http://", "https://"))


def check_uid(value: Any, what: str) -> str:
    """``value`` if it is a DICOM UID (digits and dots, at most 64 characters), else a :class:`MedCompError`:
    UIDs become folder names and URL parts, so nothing else may pass."""
    if not isinstance(value, str) or len(value) > MAX_UID_LENGTH or not UID_PATTERN.fullmatch(value):
        raise MedCompError(f"{what} {value!r} is not a DICOM UID")
    return value


def json_value(item: dict[str, Any], tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON object, or None."""
    element = item.get(tag)
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    return values[0] if isinstance(values, list) and values else None


@dataclasses.dataclass
class Stored:
    """What a STOW-RS answer says: the SOP Instance UIDs stored, and those refused with the reason."""

    stored: list[str]
    failed: dict[str, str]


def _multipart_type(content_type: str) -> tuple[str, str | None]:
    message = Message()
    message["content-type"] = content_type
    return message.get_content_type(), message.get_param("boundary")


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The parts of a ``multipart/related`` body (RFC 2046), each part's content without its headers."""
    kind, boundary = _multipart_type(content_type)
    if kind != "multipart/related" or not boundary:
        raise DicomWebError(f"expected multipart/related with a boundary, got {content_type!r}")
    delimiter = b"\r\n--" + str(boundary).encode("ascii", "replace")
    pieces = (b"\r\n" + body).split(delimiter)
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise DicomWebError("the multipart answer is cut short (no closing boundary)")
    parts = []
    for piece in pieces[1:-1]:
        headers, separator, content = piece.partition(b"\r\n\r\n")
        if not separator:
            raise DicomWebError("a multipart part has no header end")
        parts.append(content)
    return parts


def join_multipart(parts: Iterable[bytes], part_type: str = DICOM_TYPE) -> tuple[bytes, str]:
    """A ``multipart/related`` body of ``parts`` and its Content-Type; the boundary is random and checked
    not to occur in any part."""
    parts = list(parts)
    while True:
        boundary = uuid.uuid4().hex
        if not any(boundary.encode() in part for part in parts):
            break
    chunks = [b"--%s\r\nContent-Type: %s\r\n\r\n%s\r\n" % (boundary.encode(), part_type.encode(), part)
              for part in parts]
    body = b"".join(chunks) + b"--%s--\r\n" % boundary.encode()
    return body, f'multipart/related; type="{part_type}"; boundary={boundary}'


class DicomWeb:
    """One DICOMweb service root, e.g. ``http://pacs:8042/dicom-web``."""

    def __init__(self, url: str, timeout: float = 120.0):
        if not is_url(url):
            raise MedCompError(f"a DICOMweb address starts with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, **options: Any) -> requests.Response:
        url = f"{self.url}/{path}"
        try:
            response = requests.request(method, url, timeout=self.timeout, **options)
        except requests.ConnectionError as error:
            raise DicomWebError(f"cannot reach the DICOMweb server {self.url} ({_cause(error)})") from None
        except requests.Timeout:
            raise DicomWebError(f"the DICOMweb server {self.url} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as error:
            raise DicomWebError(f"DICOMweb request to {url} failed: {error}") from None
        return response

    def _refused(self, response: requests.Response, what: str) -> DicomWebError:
        text = " ".join(response.text.split())[:200] if response.content else ""
        return DicomWebError(f"{what}: the server answered HTTP {response.status_code} {response.reason}"
                             + (f" ({text})" if text else ""))

    def search(self, path: str, filters: dict[str, str]) -> list[dict[str, Any]]:
        """QIDO-RS: every matching DICOM JSON object, page after page."""
        results: list[dict[str, Any]] = []
        while True:
            params = {**filters, "limit": str(QIDO_PAGE), "offset": str(len(results))}
            response = self._request("GET", path, params=params, headers={"Accept": JSON_TYPE})
            if response.status_code == 204:
                return results
            if response.status_code != 200:
                raise self._refused(response, f"QIDO-RS search {path}")
            try:
                page = response.json()
            except ValueError:
                raise DicomWebError(f"QIDO-RS search {path}: the answer is not JSON") from None
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise DicomWebError(f"QIDO-RS search {path}: the answer is not a list of DICOM JSON objects")
            results += page
            if len(page) < QIDO_PAGE:
                return results

    def retrieve_series(self, study_uid: str, series_uid: str) -> list[bytes]:
        """WADO-RS: the instances of a series, as the server stores them (any transfer syntax)."""
        path = f"studies/{check_uid(study_uid, 'study')}/series/{check_uid(series_uid, 'series')}"
        accept = f'multipart/related; type="{DICOM_TYPE}"; transfer-syntax=*'
        response = self._request("GET", path, headers={"Accept": accept})
        if response.status_code != 200:
            raise self._refused(response, f"WADO-RS retrieval of series {series_uid}")
        return split_multipart(response.content, response.headers.get("Content-Type", ""))

    def store(self, instances: list[bytes], study_uid: str | None = None) -> Stored:
        """STOW-RS: store ``instances``; what the server says it stored and refused (PS3.18 10.5)."""
        body, content_type = join_multipart(instances)
        path = "studies" + (f"/{check_uid(study_uid, 'study')}" if study_uid else "")
        response = self._request("POST", path, data=body, headers={"Content-Type": content_type, "Accept": JSON_TYPE})
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise self._refused(response, "STOW-RS")
        stored = [json_value(item, SOP_UID) for item in _items(answer, REFERENCED_SOPS)]
        failed = {str(json_value(item, SOP_UID)): _reason(json_value(item, FAILURE_REASON))
                  for item in _items(answer, FAILED_SOPS)}
        if response.status_code not in (200, 202) and not failed:
            raise self._refused(response, "STOW-RS")
        return Stored([uid for uid in stored if isinstance(uid, str)], failed)


def _items(answer: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    element = answer.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return [item for item in values if isinstance(item, dict)] if isinstance(values, list) else []


def _reason(code: Any) -> str:
    if isinstance(code, int):
        return f"{FAILURES.get(code, 'refused')} (status 0x{code:04X})"
    return "refused (no reason given)"


def _cause(error: Exception) -> str:
    """The innermost reason of a connection error ("Connection refused"), not urllib3's nested repr."""
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    return match[1] if match else json.dumps(text[:120])
