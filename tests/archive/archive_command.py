"""``medcomp archive`` as a program of its own: the subcommand's parser and run, under the same error
handling as ``medcomp`` (one line and status 2 for a user's error, 130 for an interrupt), so the tests
run it in a process they can interrupt or kill."""

import argparse
import sys

from monai_medcomp.archive.cli import add_parser
from monai_medcomp.errors import run_command

if __name__ == "__main__":  # Dask's worker processes import this file again
    parser = argparse.ArgumentParser(prog="medcomp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["archive", *sys.argv[1:]])
    raise SystemExit(run_command("medcomp archive", lambda: args.func(args)))
