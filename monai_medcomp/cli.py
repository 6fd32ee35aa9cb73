"""The ``medcomp`` command: compress, decompress, compare, info, codecs, bench, demo.

Every error a user can cause ends in one line on stderr and exit status 2, and every warning a library
raises in one ``warning:`` line (never a source line of somebody else's code); nothing is left half
written (the library writes atomically and never over an input).  A lossy result is followed by the
figures that say whether it is good enough (``figures.py``): in the image's units and display window.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import __version__
from .archive.cli import add_parser as add_archive_parser
from .cli_options import add_target_options
from .errors import MedCompError, run_command
from .weights import ENVIRONMENT, bundles_from
from .windows import WINDOW_HELP

SLICE_PART = re.compile(r"(\d+)(?:-(\d+))?")
BUNDLES_HELP = ("folder of learned weights, DIR/<bundle>/models/model.pt (e.g. retrained ones); only this folder is "
                f"searched, never the shipped weights (default: ${ENVIRONMENT}, else the shipped bundles)")
EPILOG = (f"Learned codecs load their weights from the bundles shipped with MedComp, or from the one folder that "
          f"--bundles DIR or the {ENVIRONMENT} environment variable names (--bundles wins): DIR/<bundle>/models/"
          "model.pt, the bundle folder named as the codec's (cnn-ae: cnn_ae). A .mcz records its weights' "
          "SHA-256 and decodes only with those: to decode a file made with retrained weights, name their folder.")

DICOM_EPILOG = ("DICOM output: codecs jpegls, jpeg2000, htj2k, jpegxl, jpeg and ljpeg write their standard transfer "
                "syntax (jpegls: JPEG-LS lossless, or near-lossless with --max-error; jpeg: baseline up to 8 bits, "
                "extended up to 12); learned and other codecs are refused (their home is .mcz). Targets (--quality, "
                "--psnr, --bpp, --max-error) are met by rate control on the codec's knob, each trial coded as the "
                "DICOM files are; the PSNR and max error printed are those of the pixels a DICOM reader decodes "
                "from the files written. Every file is read back "
                "before it takes its name: lossless ones must decode bit for bit.")


def _param_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_params(pairs: Sequence[str] | None) -> dict[str, Any] | None:
    if not pairs:
        return None
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MedCompError(f"--param expects KEY=VALUE, got {pair!r}")
        params[key] = _param_value(value)
    return params


def _parse_slices(text: str | None) -> Iterable[int] | None:
    """``0,3,5-9``: indices from 0, ranges ascending and inclusive.  Lazy, so that ``0-99999999999`` fails at
    the first index outside the volume (``api.check_slices``) instead of being listed first."""
    if text is None:
        return None
    ranges = []
    for part in text.split(","):
        match = SLICE_PART.fullmatch(part.strip())
        if match is None:
            raise MedCompError(f"--slices expects indices from 0 like 0,3,5-9; {part!r} in {text!r} is not one")
        start, stop = int(match[1]), int(match[2] or match[1])
        if stop < start:
            raise MedCompError(f"--slices range {part!r} runs backwards (write {stop}-{start})")
        ranges.append(range(start, stop + 1))
    return itertools.chain.from_iterable(ranges)


def cmd_compress(args: argparse.Namespace) -> int:
    from .api import as_volume, compress, decompress, guard_output
    from .dicom_export import DicomResult

    window = _window(args)
    codec = args.codec or _implied_codec(args.transfer_syntax)
    params = _parse_params(args.param)
    if params is not None and codec is not None:
        params = {**_codec_defaults(codec), **params}
    guard_output(args.input, args.output)
    volume = as_volume(args.input, series_uid=args.series_uid, volume_index=args.volume_index)
    result = compress(volume, args.output, codec, quality=args.quality, bpp=args.bpp, psnr=args.psnr,
                      max_error=args.max_error, params=params, device=args.device, batch_size=args.batch_size,
                      force=args.force, progress=not args.quiet, output_format=args.format,
                      transfer_syntax=args.transfer_syntax)
    if isinstance(result, DicomResult):
        _print_dicom(args.output, result)
        reconstruction = result.written.decoded if not result.lossless else None
    else:
        header = result.header
        kind = "lossless" if header.lossless else "lossy"
        print(f"{args.output}: {header.codec} ({kind}) {json.dumps(header.params)} | {result.nbytes} bytes, "
              f"{result.bpp:.3f} bpp, ratio {result.ratio:.2f}, space saving {100 * result.space_saving:.1f}%, "
              f"{result.encode_seconds:.2f} s")
        _print_target(header.extra.get("target"))
        reconstruction = None if header.lossless else decompress(result.data, device=args.device,
                                                                 batch_size=args.batch_size).array
    if reconstruction is not None:
        _print_figures(volume, reconstruction, window, args)
    return 0


def _window(args: argparse.Namespace) -> Any:
    """``--window`` parsed before any work, so that a typing mistake costs no encode."""
    from .windows import parse_window

    return parse_window(args.window) if args.window is not None else None


def _print_figures(volume: Any, reconstruction: Any, window: Any, args: argparse.Namespace) -> None:
    from .figures import measure, summary_lines

    figures = measure(volume, reconstruction, window=window, hu_threshold=args.hu_threshold, ct=args.ct or None)
    for line in summary_lines(figures):
        print(line)


TARGET_NAMES = {"psnr": ("PSNR", " dB"), "bpp": ("rate", " bpp"), "max_error": ("max error", ""),
                "quality": ("quality", "")}


def _print_target(target: dict[str, Any] | None, where: str = "") -> None:
    """``target PSNR 50 dB: reached 50.07 dB in 7 passes`` (a missed target also warns, from rate control)."""
    if not target:
        return
    name, unit = TARGET_NAMES[target["kind"]]
    achieved = target.get("achieved")
    reached = f"{achieved:.{3 if target['kind'] == 'bpp' else 2}f}" if isinstance(achieved, float) else achieved
    passes = target.get("encodes")
    count = f" in {passes} pass{'es' if passes != 1 else ''}" if passes else ""
    print(f"target {name} {target['value']:g}{unit}: reached {reached}{unit}{count}{where}")


def _codec_defaults(name: str) -> dict[str, Any]:
    from .codecs import get_codec

    return get_codec(name).default_params()


def _implied_codec(transfer_syntax: str | None) -> str | None:
    """The codec a named transfer syntax carries (none for explicit, deflated, rle), else the default."""
    from .dicom_export import DEFAULT_CODEC
    from .io.dicom_syntax import get_syntax

    return get_syntax(transfer_syntax).codec if transfer_syntax is not None else DEFAULT_CODEC


def _print_dicom(output: str, result: Any) -> None:
    syntax = result.syntax
    kind = "lossless" if result.lossless else "lossy"
    files = len(result.written.file_nbytes)
    print(f"{output}: DICOM {syntax.name} ({syntax.uid}, {kind}) {result.codec or ''} {json.dumps(result.params)} | "
          f"{files} file{'s' if files > 1 else ''}, {result.nbytes} bytes, {result.bpp:.3f} bpp, ratio "
          f"{result.ratio:.2f}, space saving {100 * result.space_saving:.1f}%, {result.encode_seconds:.2f} s")
    _print_target(result.target, " (searched with the slices coded as in the DICOM files)")
    for note in result.notes:
        print(f"note: {note}")
    if not result.lossless:
        print("the figures below are those of the pixels a DICOM reader decodes from the files written")


def cmd_decompress(args: argparse.Namespace) -> int:
    from .api import decompress

    decode_params = {"stages": args.stages} if args.stages is not None else None
    image = _image_options(args)
    volume = decompress(args.input, args.output, slices=_parse_slices(args.slices), decode_params=decode_params,
                        device=args.device, force=args.force, progress=not args.quiet,
                        transfer_syntax=args.transfer_syntax, **image)
    print(f"{args.output}: {volume.array.shape} {volume.dtype.name}, {volume.bits_stored} bits stored")
    if image:
        _print_preview(volume, args.output, image)
    return 0


def _image_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--window`` / ``--exact`` for a .png or .jpg output (an image to look at), refused for other outputs."""
    from .io import PNG_SUFFIXES
    from .io.raster import JPEG_SUFFIXES

    if Path(args.output).suffix.lower() not in (*PNG_SUFFIXES, *JPEG_SUFFIXES):
        if args.window is not None or args.exact:
            raise MedCompError("--window and --exact apply to .png and .jpg output (an image to look at); "
                               f"{args.output} keeps the stored values")
        return {}
    return {"window": _window(args), "exact": args.exact}


def _print_preview(volume: Any, output: str, image: dict[str, Any]) -> None:
    from .io.raster import preview_window
    from .windows import units_of

    window = preview_window(volume, output, **image)
    if window is None:
        print(f"{output}: the stored values, exact")
    else:
        print(f"{output}: an 8-bit preview in window {window.describe(units_of(volume).name)}, not the stored "
              "values (--window to choose another; --exact for unsigned data)")


def cmd_compare(args: argparse.Namespace) -> int:
    from .api import as_volume, read
    from .compare import OUTPUTS, compare, compressed_size
    from .figures import summary_lines
    from .windows import Window

    window = _window(args)
    original = as_volume(args.original, series_uid=args.series_uid, volume_index=args.volume_index)
    reconstruction = read(args.file)
    report = compare(original, reconstruction, args.out, slice_index=args.slice, window=window,
                     hu_threshold=args.hu_threshold, ct=args.ct or None, compressed_nbytes=compressed_size(args.file),
                     sources={"original": str(args.original), "reconstruction": str(args.file)}, force=args.force)
    out = Path(args.out)
    size = report["size"]
    shown = report["display_window"]
    print(f"{args.file}: {size['compressed_bytes']} bytes, {size['bpp']:.3f} bpp, ratio {size['ratio']:.2f} "
          "against the original's pixels")
    print(f"{out / OUTPUTS[0]}: slice {report['slice']['index']} of {original.num_slices} (--slice N), original | "
          f"reconstruction | error, window {Window.from_json(shown).describe(report['volume']['units'])}")
    print(f"{out}: {', '.join(OUTPUTS[1:4])} at the slice's own size, {OUTPUTS[4]} with every figure")
    for line in summary_lines(report["volume"]):
        print(line)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .api import info

    details = info(args.input)
    if args.json:
        print(json.dumps(details, indent=2, sort_keys=True))
        return 0
    rows = [("codec", f"{details['codec']} {details['codec_version']}"), ("params", json.dumps(details["params"])),
            ("lossless", details["lossless"]), ("dtype", details["dtype"]), ("shape", details["shape"]),
            ("bits stored", details["bits_stored"]), ("coded precision", details["precision"]),
            ("offset", details["offset"]), ("spacing", details["geometry"]["spacing"]),
            ("origin", details["geometry"]["origin"]), ("chunks", f"{details['num_chunks']} "
                                                                  f"({details['slices_per_chunk']} slice(s) each)"),
            ("source format", details["source_format"]), ("weights", details["weights"]),
            ("file bytes", details["file_bytes"]), ("container overhead", f"{details['container_overhead_bytes']} bytes"),
            ("bpp", f"{details['bpp']:.4f}"), ("ratio", f"{details['ratio']:.3f}")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def cmd_codecs(args: argparse.Namespace) -> int:
    from .codecs import codec_names, get_codec

    print(f"{'codec':<16} {'abilities':<29} {'quality knob (--quality)':<38} available")
    for name in codec_names():
        codec = get_codec(name)
        knob = codec.knob
        knob_text = (f"{knob.name} {knob.low:g}..{knob.high:g} ({'higher' if knob.higher_is_better else 'lower'} "
                     "is better)") if knob else "-"
        print(f"{name:<16} {codec.capabilities():<29} {knob_text:<38} {'yes' if codec.available else 'no'}")
        if codec.reproduction is not None:
            print(f"{'':<16} {codec.reproduction.label}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    run_bench(Path(args.out), images=args.images, codecs=args.codecs, reference=args.reference,
              lossy=not args.no_lossy, lossless=not args.no_lossless, speed=not args.no_speed,
              progress=not args.quiet, points=args.points, repeats=args.repeats, force=args.force, dicom=args.dicom,
              window=_window(args))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .bench import run_demo

    run_demo(Path(args.out), progress=not args.quiet, force=args.force)
    return 0


def _quality_options() -> argparse.ArgumentParser:
    """The options of the figures a lossy result is judged by, shared by compress and compare."""
    from .figures import DEFAULT_HU_THRESHOLD

    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("quality figures (after a lossy result)")
    group.add_argument("--window", metavar="C/W", help=f"display window for the figures and pictures: {WINDOW_HELP} "
                       "(default: the file's own WindowCenter/WindowWidth; for CT without one, abdomen)")
    group.add_argument("--hu-threshold", type=float, default=DEFAULT_HU_THRESHOLD, metavar="HU",
                       help="CT: report the share of pixels off by more than this many HU (default %(default)g)")
    group.add_argument("--ct", action="store_true", help="the image is CT in HU (stored x slope + intercept) "
                       "though its file does not say so (e.g. NIfTI); DICOM says it with Modality CT")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medcomp", description=__doc__.splitlines()[0], epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"medcomp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quality = _quality_options()

    p = sub.add_parser("compress", help="compress an image or volume into a .mcz file or a compressed DICOM",
                       description="Compress into a .mcz file, or into DICOM: the codec's output as encapsulated "
                       "pixel data in its standard transfer syntax, readable by any DICOM viewer or PACS. A lossy "
                       "result is decoded and judged: PSNR (full bit depth and display window), SSIM, max |error|, "
                       "and for CT the error in HU.", epilog=DICOM_EPILOG, parents=[quality])
    p.add_argument("input", help="DICOM file or series folder, NIfTI, .mha/.nrrd, PNG or TIFF")
    p.add_argument("output", help="by suffix: .mcz (MedComp container), or DICOM: a .dcm file (one slice, or the "
                   "source's multi-frame file) or a folder / path without suffix (a series, one file per slice)")
    p.add_argument("--codec", help="codec name (see `medcomp codecs`; default jpegls, or the one --transfer-syntax "
                   "carries)")
    p.add_argument("--series-uid", metavar="UID", help="a DICOM folder holding several series: the one to read")
    p.add_argument("--volume-index", type=int, metavar="N", help="a 4D NIfTI: the volume to read (from 0)")
    p.add_argument("--format", choices=("dicom", "mcz"), help="output format (default: by the output's suffix)")
    p.add_argument("--transfer-syntax", metavar="NAME", help="DICOM output only: a transfer syntax name or UID "
                   f"({', '.join(_syntaxes())}; default: the codec's own, its lossless member for lossless "
                   "parameters)")
    add_target_options(p)
    p.add_argument("--device", default=None, help="torch device for learned codecs: auto, cpu, cuda")
    p.add_argument("--batch-size", type=int, default=16, help="slices per batch on the device")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP)
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no line per rate-control pass")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("decompress", help="decode a .mcz file to NIfTI, DICOM, PNG, JPEG or TIFF")
    p.add_argument("input", help="the .mcz file")
    p.add_argument("output", help="by suffix: .nii/.nii.gz, .dcm, a folder (DICOM series), .tif, .mha, .nrrd; "
                   ".png or .jpg for one slice to look at")
    p.add_argument("--slices", help="only these slice indices, from 0, each once, e.g. 0,3,5-9 "
                   "(ranges inclusive; only their chunks are decoded)")
    p.add_argument("--window", metavar="C/W", help=".png/.jpg: an 8-bit preview in this display window: "
                   f"{WINDOW_HELP} (default: a .png of unsigned data keeps the stored values; signed data and "
                   ".jpg are previews in the file's own window, for CT without one abdomen, else the values' range)")
    p.add_argument("--exact", action="store_true", help=".png: the stored values or an error, never a preview "
                   "(PNG holds unsigned 8- and 16-bit values)")
    p.add_argument("--stages", type=int, help="progressive codecs (cnn-rnn-ae): decode only the first K stages")
    p.add_argument("--transfer-syntax", metavar="NAME", help="DICOM output only: a LOSSLESS transfer syntax "
                   f"({', '.join(_syntaxes(lossless_only=True))}; default explicit, uncompressed); a lossy one is "
                   "refused: "
                   "compress from the source instead, so that the image is coded lossily once")
    p.add_argument("--device", default=None, help="torch device for learned codecs: auto, cpu, cuda")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP + "; the weights must be the ones the file "
                   "was made with")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser("compare", help="picture and figures of a reconstruction against its original",
                       parents=[quality],
                       description="Write one slice of the original, of the reconstruction and of the error map "
                       "side by side with colour bars in the image's units (HU for CT), the three panels alone at "
                       "the slice's size, and every figure as JSON: is this codec, at this rate, good enough for "
                       "this scan?")
    p.add_argument("original", help="the image that was compressed (DICOM file or series folder, NIfTI, ...)")
    p.add_argument("file", help="its compression: a .mcz file, or a DICOM file or series folder MedComp wrote")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for compare.png, original.png, "
                   "reconstruction.png, error.png and figures.json")
    p.add_argument("--slice", type=int, metavar="N", help="the slice shown, from 0 (default: the middle one)")
    p.add_argument("--series-uid", metavar="UID", help="ORIGINAL is a DICOM folder holding several series: the one")
    p.add_argument("--volume-index", type=int, metavar="N", help="ORIGINAL is a 4D NIfTI: the volume (from 0)")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP)
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("info", help="show a .mcz file's header without decoding")
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="print the header as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("codecs", help="list the codecs and what they can do")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP)
    p.set_defaults(func=cmd_codecs)

    p = sub.add_parser("bench", help="lossless table, rate-distortion sweeps, BD-rate and speed")
    p.add_argument("--images", nargs="+", metavar="IMAGE", help="your own files (DICOM file or series folder, "
                   "NIfTI, ...) or sample names (default: the evaluation images); each gets its rate-distortion "
                   "plot rd_<name>.png")
    p.add_argument("--window", metavar="C/W", help=f"display window of the windowed PSNR: {WINDOW_HELP} "
                   "(default: each file's own; for CT without one, abdomen)")
    p.add_argument("--codecs", nargs="+", help="codec names (default: every available codec)")
    p.add_argument("--out", default="benchmarks", help="output folder for JSON, Markdown and plots")
    p.add_argument("--reference", default="jpeg2000", help="reference codec for BD-rate")
    p.add_argument("--no-lossy", action="store_true", help="skip the rate-distortion sweeps")
    p.add_argument("--no-lossless", action="store_true", help="skip the lossless table")
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    p.add_argument("--dicom", action="store_true", help="also the DICOM transfer-syntax figures (dicom.md): sizes "
                   "against .mcz, speed, dcmtk / GDCM / pydicom decodes and dciodvfy counts (needs make dicom-tools)")
    p.add_argument("--points", type=int, default=8, help="rate-distortion points per codec")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (best of N)")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP)
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="run every codec on the bundled sample images and write a report")
    p.add_argument("--out", default="demo-report", help="report folder")
    p.add_argument("--bundles", metavar="DIR", help=BUNDLES_HELP)
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
    add_archive_parser(sub)
    return parser


def _syntaxes(lossless_only: bool = False) -> list[str]:
    from .io.dicom_syntax import SYNTAXES

    return [syntax.name for syntax in SYNTAXES if syntax.lossless or not lossless_only]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prog = f"medcomp {args.command}"
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line(prog)
        return run_command(prog, lambda: _run(args))


def _warning_line(prog: str) -> Any:
    """A library's warning as one line on stderr, ``medcomp compress: warning: ...``: what it says, not which
    line of which library said it."""
    def show(message: Warning | str, category: type[Warning], *where: Any, **more: Any) -> None:
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return show


def _run(args: argparse.Namespace) -> int:
    """The subcommand, with learned weights read from ``--bundles`` where the command takes it."""
    with bundles_from(getattr(args, "bundles", None)):
        return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
