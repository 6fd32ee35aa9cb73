"""What Apply does: compress a volume node, decode it, measure it, and show the result as new nodes.

All the work (encode, decode, figures) runs through the library before the first node is made, in a
background thread with progress and Cancel (see :mod:`.jobs`); a cancelled or failed run therefore
leaves the scene as it was.  The reconstructed node takes the input's geometry, and the error node
holds ``reconstruction - original`` in a signed type wide enough for every difference.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from monai_medcomp import api, metrics
from monai_medcomp.codecs import Codec, get_codec
from monai_medcomp.engine import decode_chunks
from monai_medcomp.errors import MedCompError, UnsupportedDataError
from monai_medcomp.fileio import atomic_write
from monai_medcomp.ratecontrol import TARGET_KINDS
from monai_medcomp.volume import Volume

from .jobs import ChunkCounter, Report, run_in_background, watch
from .nodeclasses import LABEL, SCALAR, VECTOR
from .nodes import check_node, show_error, show_like, update_error_node, update_node_from_volume, volume_from_node

CODEC_DEFAULT = "codec default"  # no target: the codec's default parameters (lossless where it can be)
TARGET_CHOICES = (CODEC_DEFAULT,) + TARGET_KINDS
DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass
class CompressionOptions:
    """What the user picked in the module panel."""

    codec: str = "jpegls"
    target: str = CODEC_DEFAULT
    value: float | None = None
    device: str = "auto"
    batch_size: int = 16
    workers: int | None = None
    ssim: bool = True

    def target_arguments(self) -> dict[str, float]:
        """The keyword ``api.compress`` takes for the target (none for the codec default)."""
        if self.target not in TARGET_CHOICES:
            raise MedCompError(f"unknown target {self.target!r}; choose one of {', '.join(TARGET_CHOICES)}")
        if self.target == CODEC_DEFAULT:
            return {}
        if self.value is None:
            raise MedCompError(f"target {self.target} needs a value")
        return {self.target: self.value}

    def engine_arguments(self) -> dict[str, Any]:
        if self.device not in DEVICES:
            raise MedCompError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        return {"device": self.device, "batch_size": int(self.batch_size), "workers": self.workers}


@dataclasses.dataclass
class CompressionOutcome:
    """The nodes Apply made (or refilled), the figures shown in the table, and the file ready to save."""

    reconstructed_node: Any
    error_node: Any
    figures: dict[str, Any]
    result: api.CompressionResult


def usable_codec(name: str) -> Codec:
    """The codec registered as ``name``, or a clear error when its library or learned weights are missing."""
    codec = get_codec(name)
    if not codec.available:
        raise MedCompError(f"codec {name!r} is not available here (its library or learned weights are missing)")
    return codec


def check_label_map(node_class: str, codec: Codec, options: CompressionOptions) -> None:
    """Label values are names, not intensities: a label map is only ever coded losslessly."""
    lossless_target = options.target == CODEC_DEFAULT or (options.target == "max_error" and options.value == 0)
    if node_class == LABEL and not (codec.lossless and lossless_target):
        raise UnsupportedDataError("a label map volume must be coded losslessly: choose a lossless codec "
                                   "with the codec default target (or max error 0)")


def error_array(original: np.ndarray, reconstruction: np.ndarray, exact: bool) -> np.ndarray:
    """``reconstruction - original`` in the smallest signed type that holds every difference."""
    if exact:
        return np.zeros(original.shape, np.int8)
    difference = np.subtract(reconstruction, original, dtype=np.int32)
    low, high = int(difference.min()), int(difference.max())
    return difference.astype(np.promote_types(np.min_scalar_type(min(low, -1)), np.min_scalar_type(high)))


def measure(volume: Volume, reconstruction: np.ndarray, result: api.CompressionResult, decode_seconds: float,
            exact: bool, ssim: bool) -> dict[str, Any]:
    """The figures of the table.  An exact reconstruction has PSNR inf, SSIM 1 and max error 0 by
    definition, so the quality figures (SSIM is the slow one on large volumes) are only computed for a
    lossy one, SSIM only when asked."""
    figures = {
        "codec": result.header.codec,
        "params": result.params,
        "lossless": exact,
        "bpp": result.bpp,
        "ratio": result.ratio,
        "space_saving": result.space_saving,
        "psnr": np.inf,
        "peak": metrics.peak_value(volume.array, volume.bits_stored),
        "ssim": 1.0,
        "max_abs_error": 0,
        "compressed_bytes": result.nbytes,
        "encode_seconds": result.encode_seconds,
        "decode_seconds": decode_seconds,
    }
    if not exact:
        figures["psnr"] = metrics.psnr(volume.array, reconstruction, bits_stored=volume.bits_stored)
        figures["max_abs_error"] = int(metrics.max_abs_error(volume.array, reconstruction))
        figures["ssim"] = metrics.ssim(volume.array, reconstruction, bits_stored=volume.bits_stored) if ssim else None
    return figures


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures as (name, text) rows for the table node, in the order a reader asks for them."""
    ssim = "not computed" if figures["ssim"] is None else f"{figures['ssim']:.5f}"
    return [
        ("codec", figures["codec"]),
        ("parameters", ", ".join(f"{k}={v}" for k, v in figures["params"].items()) or "default"),
        ("lossless", "yes" if figures["lossless"] else "no"),
        ("bits per voxel", f"{figures['bpp']:.4f}"),
        ("compression ratio", f"{figures['ratio']:.3f}"),
        ("space saving", f"{100 * figures['space_saving']:.2f} %"),
        ("PSNR (dB)", f"{figures['psnr']:.3f}"),
        ("PSNR peak", str(figures["peak"])),
        ("SSIM", ssim),
        ("max abs error", str(figures["max_abs_error"])),
        ("compressed bytes", str(figures["compressed_bytes"])),
        ("encode time (s)", f"{figures['encode_seconds']:.3f}"),
        ("decode time (s)", f"{figures['decode_seconds']:.3f}"),
    ]


def fill_table(table_node: Any, rows: list[tuple[str, str]]) -> None:
    """Replace the table node's contents with two text columns, figure and value."""
    import vtk

    columns = []
    for name in ("figure", "value"):
        column = vtk.vtkStringArray()
        column.SetName(name)
        columns.append(column)
    for row in rows:
        for column, text in zip(columns, row):
            column.InsertNextValue(text)
    was_modifying = table_node.StartModify()
    table_node.RemoveAllColumns()
    for column in columns:
        table_node.AddColumn(column)
    table_node.EndModify(was_modifying)


def _compress_and_decode(volume: Volume, codec: Codec, options: CompressionOptions, counter: ChunkCounter):
    """The background part of Apply: encode through the library, decode the bytes back, measure."""
    engine = options.engine_arguments()
    counter.start_phase("encoding")
    result = api.compress(volume, codec=codec, **options.target_arguments(), **engine)
    counter.start_phase("decoding")
    start = time.perf_counter()
    with api.open_container(result) as reader:
        array = decode_chunks(reader.header, reader.read_chunk, codec, digests=reader.pixel_digest, **engine)
    decode_seconds = time.perf_counter() - start
    counter.start_phase("measuring")
    counter.check()
    exact = bool(np.array_equal(volume.array, array))
    figures = measure(volume, array, result, decode_seconds, exact, options.ssim)
    error = error_array(volume.array, array, exact)
    return result, volume.with_array(array), error, figures


def compress_node(node: Any, options: CompressionOptions, report: Report | None = None,
                  reconstructed_node: Any = None, error_node: Any = None) -> CompressionOutcome:
    """Compress the volume in ``node``; make (or refill) the reconstructed and error nodes.

    ``report(done, total, phase)`` is called from this thread while the work runs; returning False
    cancels it and raises :class:`~.jobs.Cancelled` with the scene untouched.
    """
    node_class = check_node(node)
    codec = usable_codec(options.codec)
    check_label_map(node_class, codec, options)
    volume = volume_from_node(node)
    error_class = VECTOR if volume.channels == 3 else SCALAR
    check_output_node(reconstructed_node, node_class, node, "reconstructed volume")
    check_output_node(error_node, error_class, node, "error volume")
    if reconstructed_node is not None and reconstructed_node is error_node:
        raise UnsupportedDataError("the reconstructed and error volumes must be two different nodes")
    counter = ChunkCounter()
    chunks = -(-volume.num_slices // codec.slab_size)
    total = 2 * chunks if options.target == CODEC_DEFAULT else None  # a target search runs an unknown number
    result, reconstruction, error, figures = run_in_background(
        lambda: _compress_and_decode(volume, watch(codec, counter), options, counter), counter, report, total)
    for needed in (node, reconstructed_node, error_node):
        check_still_in_scene(needed, node.GetScene())
    scene, name, made = node.GetScene(), f"{node.GetName()} {result.header.codec}", []
    try:
        reconstructed_node = _output_node(node, reconstructed_node, node_class, name, made)
        update_node_from_volume(reconstructed_node, reconstruction)
        show_like(reconstructed_node, node)
        error_node = _output_node(node, error_node, error_class, f"{name} error", made)
        update_error_node(error_node, error, volume)
        show_error(error_node, figures["max_abs_error"])
    except Exception:
        for new in made:  # all or nothing: a failed Apply leaves no half-made node behind
            scene.RemoveNode(new)
        raise
    return CompressionOutcome(reconstructed_node, error_node, figures, result)


def check_output_node(output: Any, node_class: str, input_node: Any, role: str) -> None:
    """A node the user picked as an output must hold what will be put in it, and must not be the input."""
    if output is None:
        return
    if output is input_node:
        raise UnsupportedDataError(f"the {role} cannot be the input volume {input_node.GetName()}: MedComp never "
                                   "overwrites its input; choose another node or (create new)")
    if output.GetClassName() != node_class:
        kind = {SCALAR: "a grey scalar", LABEL: "a label map", VECTOR: "an RGB vector"}[node_class]
        raise UnsupportedDataError(f"the {role} {output.GetName()} is a {output.GetClassName()}, but this input "
                                   f"needs {kind} volume ({node_class}); choose one or (create new)")


def check_still_in_scene(node: Any, scene: Any) -> None:
    """A node removed (or its scene closed) while the work ran is not filled: nothing is added instead."""
    if node is not None and (scene is None or node.GetScene() is not scene or not scene.IsNodePresent(node)):
        raise MedCompError(f"volume {node.GetName()} was removed from the scene while MedComp ran; "
                           "nothing was added")


def _output_node(like: Any, node: Any, node_class: str, name: str, made: list[Any]) -> Any:
    """``node`` when the user picked one, else a new node of ``node_class`` under the input's transform."""
    if node is not None:
        return node
    scene = like.GetScene()
    node = scene.AddNewNodeByClass(node_class, scene.GenerateUniqueName(name))
    made.append(node)
    node.SetAndObserveTransformNodeID(like.GetTransformNodeID())
    return node


def save_result(result: api.CompressionResult, path: str | Path, force: bool = False) -> Path:
    """Write the compressed volume of the last Apply as a ``.mcz`` file (atomically)."""
    atomic_write(path, result.data, force=force)
    return Path(path)
