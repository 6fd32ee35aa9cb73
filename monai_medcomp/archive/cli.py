"""``medcomp archive``: the command-line front of :func:`monai_medcomp.archive.archive`.

``add_parser`` adds the subcommand to ``medcomp``'s parser; ``run`` carries it out and prints the report.
Exit status 0 when every series found is archived, 1 when some failed or are still held by another run
(the report lists them; running the same command again retries them), 2 for a user's error.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli_options import add_target_options
from ..errors import MedCompError

EXIT_INCOMPLETE = 1
DESCRIPTION = ("Archive every series of a folder tree of DICOM files or of a PACS (DICOMweb) into a folder "
               "(STUDY_UID/SERIES_UID/) or a PACS (STOW-RS), one Dask task per series. Codecs with a standard "
               "DICOM transfer syntax write DICOM in it, others .mcz. Every copy is decoded and checked before its "
               "series counts: lossless bit for bit, --max-error D within D, lossy at the PSNR reported. Sources "
               "are only read. A manifest (SQLite) records each series; running the same command again skips what "
               "is done and retries what failed.")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``archive`` to ``medcomp``'s subcommands."""
    p = subparsers.add_parser("archive", help="archive whole studies from a folder tree or a PACS, on Dask",
                              description=DESCRIPTION)
    p.add_argument("source", nargs="?", help="a folder tree of DICOM files, or a DICOMweb root (http://...)")
    p.add_argument("destination", nargs="?", help="a folder, or a DICOMweb root that accepts STOW-RS")
    p.add_argument("--report", metavar="MANIFEST", help="print the report of an archive manifest and stop")
    p.add_argument("--manifest", metavar="PATH", help="the manifest (default: DEST/archive-manifest.sqlite; "
                   "needed for a DICOMweb destination); keep it on a local disk")
    p.add_argument("--codec", help="codec name (see `medcomp codecs`; default jpegls)")
    add_target_options(p)
    p.add_argument("--workers", type=int, help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:8786) "
                   "instead; its workers must see the source and destination at the same paths")
    p.add_argument("--study", action="append", metavar="UID", help="DICOMweb source: only this study (repeatable)")
    p.add_argument("--dates", metavar="FROM-TO", help="DICOMweb source: studies dated YYYYMMDD-YYYYMMDD "
                   "(either end may be left open)")
    p.add_argument("--modality", help="DICOMweb source: only series of this modality (CT, MR, ...)")
    p.add_argument("--lease", type=float, default=None, metavar="SECONDS",
                   help="how long a claim on a series lasts without renewal (default 120)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Archive, or print a manifest's report (``--report``)."""
    from ..cli import _parse_params
    from ..ratecontrol import Target
    from .job import Job
    from .manifest import Manifest
    from .report import Report
    from .runner import LEASE_SECONDS, archive
    from .sources import Filters

    if args.report is not None:
        if args.source or args.destination:
            raise MedCompError("--report prints a manifest's report: give it alone, without SOURCE DEST")
        with Manifest(args.report) as manifest:
            report = Report.of(manifest)
        print(report.text())
        return 0 if report.count("done") == len(report.rows) else EXIT_INCOMPLETE
    if not args.source or not args.destination:
        raise MedCompError("give SOURCE and DEST (or --report MANIFEST)")
    job = Job.create(args.codec, Target.from_options(quality=args.quality, bpp=args.bpp, psnr=args.psnr,
                                                     max_error=args.max_error), _parse_params(args.param))
    filters = Filters(tuple(args.study or ()), args.dates, args.modality)
    report = archive(args.source, args.destination, job=job, manifest=args.manifest, filters=filters,
                     workers=args.workers, scheduler=args.scheduler,
                     lease=args.lease if args.lease is not None else LEASE_SECONDS, progress=not args.quiet)
    print(report.text())
    return 0 if report.count("done") == len(report.rows) else EXIT_INCOMPLETE
