"""What a learned codec's MONAI bundle runs: the ``evaluator`` of ``configs/inference.json``.

The bundle's network reconstructs without quantisation; real compression needs the codec's
quantiser and bitstream, so the bundle's inference runs the codec through :mod:`.api` (slice by
slice, in the engine) and measures what it wrote with :mod:`.metrics`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from . import api
from .errors import MedCompError, OutputExistsError
from .fileio import atomic_write
from .io import file_suffix
from .metrics import quality_report

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
RECONSTRUCTION_SUFFIX = "_reconstruction.nii.gz"
COLUMNS = ("image", "status", "codec", "shape", "bits_stored", "compressed_bytes", "bpp", "compression_ratio",
           "space_saving", "psnr", "ssim", "max_abs_error", "encode_seconds")


@contextlib.contextmanager
def weights_from(bundle_root: str | os.PathLike | None) -> Iterator[None]:
    """Let the codec load its weights from this bundle folder (e.g. a downloaded one) while the block runs."""
    if bundle_root is None:
        yield
        return
    previous = os.environ.get("MEDCOMP_BUNDLES")
    os.environ["MEDCOMP_BUNDLES"] = str(Path(bundle_root).resolve().parent)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MEDCOMP_BUNDLES"]
        else:
            os.environ["MEDCOMP_BUNDLES"] = previous


def image_stem(path: Path) -> str:
    suffix = file_suffix(path)
    return path.name[:-len(suffix)] if suffix else path.name


def compress_one(path: Path, output_dir: Path, codec: str, params: dict[str, Any] | None,
                 device: Any) -> dict[str, Any]:
    """Write ``<stem>.mcz`` and ``<stem>_reconstruction.nii.gz``; return the measured figures."""
    stem = image_stem(path)
    container, reconstruction_path = output_dir / f"{stem}.mcz", output_dir / f"{stem}{RECONSTRUCTION_SUFFIX}"
    for output in (container, reconstruction_path):
        if output.exists():
            raise OutputExistsError(f"output {output} already exists")
    volume = api.read(path)
    result = api.compress(volume, container, codec, params=params, device=device)
    reconstruction = api.decompress(result.data, device=device)
    api.write(reconstruction, reconstruction_path)
    report = quality_report(volume, reconstruction.array, result.nbytes)
    return {"status": "ok", "codec": codec, "shape": "x".join(str(n) for n in volume.array.shape),
            "bits_stored": volume.bits_stored, "encode_seconds": result.encode_seconds,
            **{name: report[name] for name in COLUMNS if name in report}}


def dataset_items(dataset_dir: str | os.PathLike) -> list[dict[str, Path]]:
    """``[{"image": path}, ...]`` for every file or DICOM series folder in ``dataset_dir``, sorted by name."""
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise MedCompError(f"dataset_dir {dataset_dir} is not a folder")
    return [{"image": path} for path in sorted(dataset_dir.iterdir())]


class CompressionEvaluator:
    """The bundle's ``evaluator``: compress each ``dataset`` item into ``output_dir`` and write ``metrics.csv``.

    Images that cannot be read or coded are logged and listed in the CSV with their error, and the
    rest are processed.  Nothing existing is overwritten: an existing ``metrics.csv`` stops the run
    before any work, an image whose outputs exist is skipped.  ``bundle_root`` is the bundle whose
    weights the codec uses (e.g. a downloaded copy).
    """

    def __init__(self, dataset: Sequence[Mapping[str, Any]], output_dir: str | os.PathLike, codec: str,
                 params: dict[str, Any] | None = None, device: Any = None,
                 bundle_root: str | os.PathLike | None = None, image_key: str = "image"):
        self.dataset, self.output_dir, self.codec, self.params = dataset, Path(output_dir), codec, params
        self.device, self.bundle_root, self.image_key = device, bundle_root, image_key

    def run(self) -> list[dict[str, Any]]:
        table = self.output_dir / METRICS_FILE
        if table.exists():
            raise OutputExistsError(f"output {table} already exists")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        with weights_from(self.bundle_root):
            for item in self.dataset:
                path = Path(item[self.image_key])
                try:
                    row = compress_one(path, self.output_dir, self.codec, self.params, self.device)
                    logger.info("%s: %.3f bpp, PSNR %.2f dB", path.name, row["bpp"], row["psnr"])
                except MedCompError as error:
                    logger.warning("skipped %s: %s", path.name, error)
                    row = {"status": f"skipped: {error}"}
                rows.append({"image": path.name, **row})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(table, text.getvalue().encode())
        return rows


def run_inference(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, codec: str,
                  params: dict[str, Any] | None = None, device: Any = None,
                  bundle_root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """What the bundle's inference does, without its config: every image of ``dataset_dir`` into ``output_dir``."""
    return CompressionEvaluator(dataset_items(dataset_dir), output_dir, codec, params, device, bundle_root).run()
