"""Command-line options that several ``medcomp`` subcommands share, declared once."""

from __future__ import annotations

import argparse


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """At most one target (the codec's own quality knob, bpp, PSNR or max error), or explicit parameters."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--quality", type=float, help="the codec's own quality knob")
    target.add_argument("--bpp", type=float, help="target bits per pixel (whole file)")
    target.add_argument("--psnr", type=float, help="target PSNR in dB (peak = range of the true bit depth)")
    target.add_argument("--max-error", type=int, help="maximum absolute error per pixel (0 = lossless)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="explicit codec parameter (repeatable)")
