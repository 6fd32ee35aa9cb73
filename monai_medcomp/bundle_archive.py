"""One zip per MONAI bundle, laid out the way ``monai.bundle.download(name=..., url=...)`` unpacks it.

``download`` saves the URL as ``<bundle_dir>/<name>.zip`` and extracts it into ``bundle_dir``,
skipping the extraction when ``<bundle_dir>/<name>`` already holds files; so every entry of
``<name>.zip`` sits under ``<name>/`` (the bundle folder at the zip's top), and the name must not
contain a dot (MONAI takes the part before the first dot as the folder).  The zips are
reproducible: entries sorted, one fixed timestamp and file mode, so an unchanged bundle gives the
same bytes and the same hash on every build.

    python -m monai_medcomp.bundle_archive --out dist/bundles [--bundles bundles] [--force]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path
from typing import Sequence

from .errors import MedCompError, run_command
from .fileio import atomic_write, check_outputs, safe_file_name

METADATA = Path("configs") / "metadata.json"
BUNDLE_LAYOUT = ("LICENSE", "configs", "docs", "models", "scripts")  # the specification's top-level entries
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o644
UNIX_SYSTEM = 3  # "made by" Unix, whatever machine builds the zip


def bundle_folders(bundles_root: str | Path) -> list[Path]:
    """The folders of ``bundles_root`` that are bundles (they have ``configs/metadata.json``), by name."""
    root = Path(bundles_root)
    if not root.is_dir():
        raise MedCompError(f"bundles folder {root} does not exist")
    return sorted(folder for folder in root.iterdir() if (folder / METADATA).is_file())


def bundle_files(folder: Path) -> list[Path]:
    """Files of a bundle relative to its folder, sorted: what the MONAI Bundle Specification lays out
    (``BUNDLE_LAYOUT``), so run outputs such as ``eval/`` never ship; hidden files and caches neither.

    A link that leads out of the bundle folder, or a name that is not safe to unpack anywhere (a device
    name, a backslash, a control character), stops the build: the zip is unpacked on other machines.
    """
    root = folder.resolve()
    files = []
    for top in BUNDLE_LAYOUT:
        candidates = [folder / top] if (folder / top).is_file() else sorted((folder / top).rglob("*"))
        for path in candidates:
            relative = path.relative_to(folder)
            if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in relative.parts):
                continue
            if not path.resolve().is_relative_to(root):
                raise MedCompError(f"bundle {folder.name}: {relative.as_posix()} links outside the bundle folder")
            if any(safe_file_name(part) is None for part in relative.parts):
                raise MedCompError(f"bundle {folder.name}: {relative.as_posix()!r} is not a safe name for a zip entry")
            files.append(relative)
    return sorted(files, key=lambda p: p.as_posix())


def archive_bytes(folder: Path) -> bytes:
    """The zip of one bundle folder, every entry under ``<folder name>/``."""
    if safe_file_name(folder.name) is None:
        raise MedCompError(f"bundle name {folder.name!r} is not a safe name for a zip entry")
    if "." in folder.name:
        raise MedCompError(f"bundle name {folder.name!r} has a dot: monai.bundle.download would unpack it "
                           f"into {folder.name.split('.')[0]!r}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for relative in bundle_files(folder):
            entry = zipfile.ZipInfo(f"{folder.name}/{relative.as_posix()}", date_time=ZIP_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = UNIX_SYSTEM
            entry.external_attr = FILE_MODE << 16
            archive.writestr(entry, (folder / relative).read_bytes())
    return buffer.getvalue()


def build_archives(bundles_root: str | Path, out_dir: str | Path, force: bool = False) -> list[Path]:
    """Write ``<out_dir>/<bundle>.zip`` for every bundle; refuse (before writing any) existing zips unless ``force``,
    and any bundle that cannot be zipped safely (every zip is built before the first is written)."""
    folders = bundle_folders(bundles_root)
    if not folders:
        raise MedCompError(f"no bundle (a folder with {METADATA.as_posix()}) in {bundles_root}")
    targets = [Path(out_dir) / f"{folder.name}.zip" for folder in folders]
    check_outputs(targets, force)
    archives = [archive_bytes(folder) for folder in folders]
    for target, data in zip(targets, archives):
        atomic_write(target, data, force=force)
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_medcomp.bundle_archive",
                                     description="Zip every MONAI bundle for monai.bundle.download(url=...).")
    parser.add_argument("--out", required=True, help="folder for the <bundle>.zip files")
    parser.add_argument("--bundles", default="bundles", help="folder holding the bundle folders (default: bundles)")
    parser.add_argument("--force", action="store_true", help="overwrite existing zips")
    args = parser.parse_args(argv)
    return run_command(parser.prog, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    for path in build_archives(args.bundles, args.out, args.force):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
