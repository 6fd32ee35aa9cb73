"""What a learned codec's MONAI bundle runs: the ``evaluator`` of ``configs/inference.json`` and
``configs/evaluate.json``, the ``trainer`` of ``configs/train.json``.

The bundle's network reconstructs without quantisation; real compression needs the codec's
quantiser and bitstream, so the bundle's inference runs the codec through :mod:`.api` (slice by
slice, in the engine) and measures what it wrote with :mod:`.metrics`.  The rate-distortion
comparison reuses the benchmark's measurement (:func:`.bench.ratedistortion.rd_point`) and rate
control (:mod:`.ratecontrol`); training reuses :mod:`.training`, and logs each image it reads and its
progress through the steps.

A user's mistake in a bundle run (no ``--dataset_dir``, an ``--output_dir`` that holds an earlier run) ends
in the one line of its :class:`.errors.MedCompError` (:func:`one_line_errors`), not in MONAI's traceback.
"""

from __future__ import annotations

import contextlib
import csv
import io
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import api
from .errors import MedCompError, OutputExistsError
from .fileio import atomic_write
from .io import file_suffix
from .metrics import quality_report
from .volume import Volume
from .weights import bundles_from, state_bytes

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
RATE_DISTORTION_FILE = "rate_distortion.csv"
CLASSICAL_CODECS = ("jpeg", "jpeg2000")
RATE_DISTORTION_COLUMNS = ("image", "codec", "status", "params", "file_bpp", "payload_bpp", "psnr", "ssim",
                           "max_abs_error", "encode_mbps", "decode_mbps")
RECONSTRUCTION_SUFFIX = "_reconstruction.nii.gz"
COLUMNS = ("image", "status", "codec", "shape", "bits_stored", "compressed_bytes", "bpp", "compression_ratio",
           "space_saving", "psnr", "ssim", "max_abs_error", "encode_seconds")
PROGRESS_SECONDS = 30.0  # the longest a training run stays silent between two progress lines


def one_line_errors() -> None:
    """End a bundle run that a user's mistake stops with that mistake's one line, not a traceback.

    ``python -m monai.bundle run`` wraps every error in RuntimeErrors ("Failed to instantiate component ...")
    and prints some 60 lines of MONAI's frames above the MedComp error that says what to do.  The bundles'
    configs call this from ``initialize``: it sets the interpreter's hook for an uncaught exception so that
    one whose causes include a :class:`MedCompError` or an ``OSError`` (what the CLI treats as the user's)
    prints ``error: <message>``; anything else, a bug, keeps its whole traceback.
    """
    if getattr(sys.excepthook, "one_line", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
        cause = users_error(error)
        if cause is None:
            previous(kind, error, traceback)
        else:
            print(f"error: {cause}", file=sys.stderr)

    hook.one_line = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def users_error(error: BaseException | None) -> BaseException | None:
    """The MedComp error or OSError among ``error`` and its causes, if any."""
    while error is not None:
        if isinstance(error, (MedCompError, OSError)):
            return error
        error = error.__cause__ or error.__context__
    return None


def checked_dataset_dir(dataset_dir: str | os.PathLike) -> Path:
    """``dataset_dir`` as a Path, or the error that says how to give one (a bundle's default is a placeholder)."""
    folder = Path(dataset_dir)
    if not folder.is_dir():
        raise MedCompError(f"dataset_dir {folder} is not a folder: run with --dataset_dir <a folder of NIfTI or "
                           "DICOM images>")
    return folder


class ProgressLog:
    """Logs a training loop's ``progress(done, total)``: at every tenth of it, and at least every
    :data:`PROGRESS_SECONDS`, so a long run shows it is alive and how far it has come."""

    def __init__(self, what: str, unit: str):
        self.what, self.unit = what, unit
        self._start = self._last = time.monotonic()
        self._tenth = 0

    def __call__(self, done: int, total: int) -> None:
        now, tenth = time.monotonic(), 10 * done // max(total, 1)
        if tenth > self._tenth or now - self._last >= PROGRESS_SECONDS:
            logger.info("%s: %d/%d %s (%d%%), %.0f s", self.what, done, total, self.unit, 100 * done // max(total, 1),
                        now - self._start)
            self._tenth, self._last = tenth, now


def logged_volumes(dataset_dir: Path) -> Iterator[tuple[str, Volume]]:
    """The training images of ``dataset_dir`` (:func:`.training.images.folder_volumes`), each logged as it is read."""
    from .training.images import folder_volumes

    for label, volume in folder_volumes(dataset_dir):
        logger.info("read %s: %s, %d-bit", label, "x".join(str(n) for n in volume.array.shape), volume.bits_stored)
        yield label, volume


def weights_from(bundle_root: str | os.PathLike | None) -> contextlib.AbstractContextManager[None]:
    """Let the codec load its weights from this bundle folder (e.g. a downloaded one) while the block runs:
    its parent is the one bundles folder searched (:func:`.weights.bundles_from`)."""
    return bundles_from(None if bundle_root is None else Path(bundle_root).resolve().parent)


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
    return [{"image": path} for path in sorted(checked_dataset_dir(dataset_dir).iterdir())]


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
        return run_per_image(self.dataset, self.image_key, self.output_dir / METRICS_FILE, COLUMNS,
                             self.bundle_root, self.measure)

    def measure(self, path: Path) -> list[dict[str, Any]]:
        row = compress_one(path, self.output_dir, self.codec, self.params, self.device)
        logger.info("%s: %.3f bpp, PSNR %.2f dB", path.name, row["bpp"], row["psnr"])
        return [row]


def run_per_image(dataset: Sequence[Mapping[str, Any]], image_key: str, table: Path, columns: Sequence[str],
                  bundle_root: str | os.PathLike | None,
                  measure: Callable[[Path], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``measure`` each item's image into rows, an unreadable or uncodable one into a ``skipped`` row; write
    the rows as the CSV ``table`` (refused before any work if it exists)."""
    if table.exists():
        raise OutputExistsError(f"output {table} already exists (an earlier run): run with another --output_dir")
    table.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with weights_from(bundle_root):
        for item in dataset:
            path = Path(item[image_key])
            try:
                measured = measure(path)
            except MedCompError as error:
                logger.warning("skipped %s: %s", path.name, error)
                measured = [{"status": f"skipped: {error}"}]
            rows += [{"image": path.name, **row} for row in measured]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(table, text.getvalue().encode())
    return rows


def run_inference(dataset_dir: str | os.PathLike, output_dir: str | os.PathLike, codec: str,
                  params: dict[str, Any] | None = None, device: Any = None,
                  bundle_root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """What the bundle's inference does, without its config: every image of ``dataset_dir`` into ``output_dir``."""
    return CompressionEvaluator(dataset_items(dataset_dir), output_dir, codec, params, device, bundle_root).run()


def rate_distortion_rows(volume: Any, codec: str, params: dict[str, Any] | None = None,
                         references: Sequence[str] = CLASSICAL_CODECS) -> list[dict[str, Any]]:
    """``codec`` on one volume, then each reference codec rate-controlled to the same whole-file bpp.

    A reference that cannot reach that rate (JPEG on small 12-bit images) gets a ``skipped`` row.
    """
    from .bench.ratedistortion import rd_point
    from .codecs import get_codec

    def row(name: str, chosen: dict[str, Any]) -> dict[str, Any]:
        point = rd_point(volume, get_codec(name), chosen)
        return {**point, "codec": name, "status": "ok", "params": json.dumps(point["params"], sort_keys=True)}

    rows = [row(codec, params or {})]
    for reference in references:
        try:
            matched = api.compress(volume, codec=reference, bpp=rows[0]["file_bpp"])
            rows.append(row(reference, matched.params))
        except MedCompError as error:
            rows.append({"codec": reference, "status": f"skipped: {error}"})
    return rows


class RateDistortionEvaluator:
    """The ``evaluator`` of ``configs/evaluate.json``: the bundle's codec against JPEG and JPEG 2000 at the same
    bpp on every ``dataset`` item, one row per codec and image in ``output_dir/rate_distortion.csv``.

    Nothing is written but the CSV, which is never overwritten; unreadable images are listed as skipped.
    """

    def __init__(self, dataset: Sequence[Mapping[str, Any]], output_dir: str | os.PathLike, codec: str,
                 params: dict[str, Any] | None = None, references: Sequence[str] = CLASSICAL_CODECS,
                 bundle_root: str | os.PathLike | None = None, image_key: str = "image"):
        self.dataset, self.output_dir, self.codec, self.params = dataset, Path(output_dir), codec, params
        self.references, self.bundle_root, self.image_key = tuple(references), bundle_root, image_key

    def run(self) -> list[dict[str, Any]]:
        return run_per_image(self.dataset, self.image_key, self.output_dir / RATE_DISTORTION_FILE,
                             RATE_DISTORTION_COLUMNS, self.bundle_root, self.measure)

    def measure(self, path: Path) -> list[dict[str, Any]]:
        rows = rate_distortion_rows(api.read(path), self.codec, self.params, self.references)
        for row in rows:
            if row["status"] == "ok":
                logger.info("%s %s: %.3f bpp, PSNR %.2f dB", path.name, row["codec"], row["file_bpp"], row["psnr"])
        return rows


class BundleTrainer:
    """The ``trainer`` of ``configs/train.json``: train ``codec``'s network on the images of ``dataset_dir`` and
    write the bundle weights to ``output``, never over an existing file unless ``force``.

    ``budget`` is the training length: ``{"steps": n}`` for the block codecs
    (:func:`.training.lossy.train`), ``{"epochs": n}`` for ``mlp-huffman``
    (:func:`.training.mlp_huffman.pretrain`), ``{"steps": n}`` Adam steps for ``learned-lossless``
    (:func:`.training.learned_lossless.pretrain`), ``{}`` for ``learned-lossy``, whose fit is deterministic
    (:func:`.training.learned_lossy.fit`).  Each image read is logged, unreadable files are logged and skipped,
    and the steps or epochs are logged as they pass (:class:`ProgressLog`).
    """

    def __init__(self, dataset_dir: str | os.PathLike, codec: str, output: str | os.PathLike,
                 budget: Mapping[str, int], seed: int = 0, force: bool = False):
        self.dataset_dir, self.codec, self.output = dataset_dir, codec, Path(output)
        self.budget, self.seed, self.force = dict(budget), seed, force

    def run(self) -> dict[str, Any]:
        from .codecs import get_codec
        from .codecs.learned_block import LearnedBlockCodec
        from .training import learned_lossless, learned_lossy, lossy, mlp_huffman
        from .training.blocks import training_blocks

        if self.output.exists() and not self.force:
            raise OutputExistsError(f"output {self.output} already exists: run with another --output_dir, or with "
                                    "--force true to replace it")
        codec = get_codec(self.codec)
        images = logged_volumes(checked_dataset_dir(self.dataset_dir))
        progress = ProgressLog(f"training {codec.name}", "epochs" if "epochs" in self.budget else "steps")
        pretraining = {"mlp-huffman": mlp_huffman, "learned-lossless": learned_lossless}  # the predictive codecs
        if isinstance(codec, LearnedBlockCodec):
            blocks = training_blocks(lossy.BLOCKS_PER_IMAGE, self.seed, images)
            network, prior, summary = lossy.train(codec, seed=self.seed, blocks=blocks, progress=progress,
                                                  **self.budget)
            weights = lossy.weights_bytes(network, prior)
        elif codec.name in pretraining:
            module = pretraining[codec.name]
            model, summary = module.pretrain(seed=self.seed, images=images, progress=progress, **self.budget)
            weights = module.weights_bytes(model)
        elif codec.name == "learned-lossy":
            if self.budget:
                raise MedCompError(f"learned-lossy's fit takes no budget, not {self.budget}")
            model, summary = learned_lossy.fit(images)
            weights = state_bytes(model.state())
        else:
            raise MedCompError(f"codec {self.codec!r} has no network to train")
        atomic_write(self.output, weights, force=self.force)
        summary["sha256"] = hashlib.sha256(weights).hexdigest()
        logger.info("wrote %s (sha256 %s) after %s s on %s", self.output, summary["sha256"][:12],
                    summary["seconds"], "; ".join(summary["images"]))
        return summary
