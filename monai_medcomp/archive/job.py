"""What an archive job does to each series (codec, target, parameters), and the one call that codes it.

:func:`code` is the archive's only call into the library's coding (``api.compress``): a codec with a
standard DICOM transfer syntax writes DICOM in it, any other codec a ``.mcz``, and every archive
front-end (the command, the benchmark, the tests) codes through it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from .. import api
from ..codecs import get_codec
from ..dicom_export import DEFAULT_CODEC, DicomResult
from ..errors import MedCompError
from ..io.dicom_syntax import codecs_with_syntax
from ..ratecontrol import Target
from ..volume import Volume


@dataclasses.dataclass(frozen=True)
class Job:
    """A codec, at most one target, explicit parameters (merged over the codec's defaults) or neither."""

    codec: str = DEFAULT_CODEC
    target: Target | None = None
    params: tuple[tuple[str, Any], ...] | None = None  # sorted items: a frozen, comparable form of a dict

    @classmethod
    def create(cls, codec: str | None = None, target: Target | None = None,
               params: dict[str, Any] | None = None) -> "Job":
        """Check the codec and parameters now, on the client, rather than in every task."""
        codec = codec or DEFAULT_CODEC
        if params is not None and target is not None:
            raise MedCompError("give either explicit codec parameters or a target, not both")
        if params is not None:
            params = {**get_codec(codec).default_params(), **params}
            get_codec(codec).check_params(params)
        else:
            get_codec(codec)
        return cls(codec, target, tuple(sorted(params.items())) if params is not None else None)

    @property
    def dicom(self) -> bool:
        """Whether the output is DICOM (the codec has a standard transfer syntax) rather than ``.mcz``."""
        return self.codec in codecs_with_syntax()

    def describe(self) -> dict[str, Any]:
        """The job as plain JSON values, to tell one job's manifest from another's."""
        return {"codec": self.codec, "format": "dicom" if self.dicom else "mcz",
                "target": dataclasses.asdict(self.target) if self.target else None,
                "params": dict(self.params) if self.params is not None else None}

    def text(self) -> str:
        target = f"target {self.target.kind} {self.target.value:g}" if self.target else ""
        params = json.dumps(dict(self.params)) if self.params is not None else ""
        return " ".join(part for part in (self.codec, "(DICOM)" if self.dicom else "(.mcz)", target, params) if part)


@dataclasses.dataclass(frozen=True)
class Coded:
    """What the library reported of one coded volume: whether it is lossless, and its PSNR if it is not."""

    lossless: bool
    psnr: float | None
    notes: tuple[str, ...] = ()


def code(volume: Volume, output: str | os.PathLike, job: Job) -> Coded:
    """Code ``volume`` into ``output`` (a DICOM file or series folder, or a ``.mcz``) as ``job`` says; one
    thread, since Dask runs one task per core."""
    target = {job.target.kind: job.target.value} if job.target else {}
    result = api.compress(volume, output, job.codec, params=dict(job.params) if job.params is not None else None,
                          workers=1, output_format="dicom" if job.dicom else "mcz", **target)
    if isinstance(result, DicomResult):
        return Coded(result.lossless, result.psnr, tuple(result.notes))
    achieved = (result.header.extra.get("target") or {}).get("achieved")
    psnr = float(achieved) if job.target and job.target.kind == "psnr" and achieved is not None else None
    return Coded(result.header.lossless, psnr if psnr is None or math.isfinite(psnr) else None)
