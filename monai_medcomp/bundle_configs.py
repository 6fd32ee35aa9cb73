"""Write every learned codec's MONAI bundle files from one table, so that the bundles cannot drift apart.

    python -m monai_medcomp.bundle_configs --root .

For each bundle in :data:`BUNDLES` this writes ``configs/metadata.json`` (MONAI's schema fields, the
installed versions, ``eval_metrics`` copied per image from the bundle's benchmark:
``benchmarks/seed_lossy.json``, ``benchmarks/lossless.json`` or ``benchmarks/learned_lossless.json``; for a
bundle without one, measured here by a round trip of :data:`MEASURED_IMAGE`),
``configs/inference.json``, ``configs/evaluate.json``, ``configs/train.json``, ``configs/logging.conf``,
``docs/README.md``, and copies ``configs/meta_schema.json`` (the one schema every bundle ships, so
each zip checks offline) and ``LICENSE`` from the first bundle, ``cnn_ae``.  The weights
(``models/model.pt``) and their training record (``docs/training.md``) come from
:mod:`monai_medcomp.training` and are never touched here.  A source-checkout tool: it reads the
repository's ``benchmarks/`` and ``bundles/``.  Files whose text changed are only replaced with
``--force``; a missing benchmark stops it before it writes anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from .bundle_workflows import PROGRESS_SECONDS
from .codecs import get_codec
from .codecs.context_model import LOG_UNIT, SCALE_FEATURES_2D, SCALE_FEATURES_3D, SCALE_FLOOR, ilog
from .codecs.learned_block import LearnedBlockCodec
from .codecs.learned_lossless import MAX_PALETTE
from .codecs.wavelet_context import (CLASSES_PER_OCTAVE, FEATURES, MAX_MAGNITUDE_BITS, NUM_CLASSES, NUM_TOKENS,
                                     from_tokens, raw_bit_counts)
from .data import evaluation_images, get_sample, load_sample
from .errors import MedCompError, run_command
from .fileio import atomic_write
from .training.learned_lossy import QUALITIES, SLICES_PER_VOLUME

SHARED_FROM = "cnn_ae"  # the bundle whose schema and licence every bundle ships a copy of
MEASURED_IMAGE = "mr_emri_small"  # the evaluation image a bundle without a benchmark is measured on
VERSION = "0.1.0"
CHANGELOG = {"0.1.0": "first bundle: weights trained on the MedComp training pool; inference writing .mcz, "
                      "reconstructions and metrics; rate-distortion evaluation against JPEG and JPEG 2000; "
                      "training from a data folder"}
REQUIRED_PACKAGES = ("imagecodecs", "pydicom", "nibabel", "constriction")
TRAINING_POOL = ("MedComp training pool (monai_medcomp.data.training_images()): real acquisitions shipped in the "
                 "pydicom-data, pydicom, nibabel, nilearn and scikit-image packages, e.g. pydicom-data "
                 "bad_sequence.dcm, eCT_Supplemental.dcm, OBXXXX1A.dcm, gdcm-US-ALOKA-16.dcm, "
                 "color3d_jpeg_baseline.dcm; {how} (docs/training.md). No evaluation image was used for training.")
LOSSY_USE = ("Research on learned compression of medical images and its effect on downstream models. "
             "Lossy: not for primary diagnosis.")
LOSSLESS_USE = ("Lossless archiving and transfer of medical images, and research on learned lossless coding: "
                "every decoded pixel equals the stored integer.")
LOGGING_CONF = """[loggers]
keys=root,openjpeg

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[logger_openjpeg]
level=WARNING
handlers=
qualname=openjpeg

[handler_consoleHandler]
class=StreamHandler
level=INFO
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""
SLICE_LAYOUT = ("3D volumes are coded slice by slice. RGB images are coded plane by plane with the grey model, "
                "or, where the bundle holds an RGB model (`models/model_rgb.pt`, trained by "
                "`python -m monai_medcomp.training.lossy --channels 3`, record in `docs/training_rgb.md`), by "
                "that model, the three planes of a block together.")
BLOCK_NETWORK_USE = ("`inferer` (a `SliceInferer` with 32x32 windows) runs it on a channel-first volume in a "
                     "MONAI evaluator.")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """What differs between bundles: the codec, the network that holds its weights, and how it was trained."""

    folder: str
    codec: str
    network: dict[str, Any]  # network_def without _target_'s module path
    summary: str  # one paragraph for the README and the metadata description
    train_budget: dict[str, int]  # the default (small) budget of configs/train.json
    override: str | None = None  # another codec that runs from these weights (inference override)
    benchmark: str | None = "seed_lossy.json"  # the file of benchmarks/ that eval_metrics is copied from (None:
    # measured by a round trip of MEASURED_IMAGE when the files are written)
    training_sample: str = "2000 random 32x32 blocks per image"  # what training took from each pool image
    layout: str = SLICE_LAYOUT  # how volumes and colour images are coded (README)
    network_use: str = BLOCK_NETWORK_USE  # what network_def's inferer runs on (README)
    images: str = "2D medical image slices"  # what the codec compresses (metadata task)
    image_classes: str | None = None  # metadata image_classes, where the lossless or block codecs' text does not fit
    training: str | None = None  # README: how the shipped weights were made, where train.json has no budget

    @property
    def lossless(self) -> bool:
        return get_codec(self.codec).lossless

    @property
    def reproductions(self) -> list[str]:
        """The paper's methods this bundle runs (its codec and an override codec), each with its label."""
        codecs = [get_codec(name) for name in (self.codec, self.override) if name is not None]
        return [f"`{codec.name}`: {codec.reproduction.label}" for codec in codecs if codec.reproduction is not None]

    @property
    def blocks(self) -> bool:
        """One of the paper's fixed-rate 32x32 block codecs (their network runs on blocks, their latents can be
        entropy coded)."""
        return isinstance(get_codec(self.codec), LearnedBlockCodec)


def _block_net(target: str, **kwargs: Any) -> dict[str, Any]:
    return {"_target_": f"monai_medcomp.networks.{target}", "spatial_dims": 2, "in_channels": 1, "out_channels": 1,
            **kwargs}


_CNN_AE = dict(latent_channels=2, encoder_channels=[32, 16], downsamples=2)
_GAN_AE = _block_net("EncoderGenerator", latent_channels=2, encoder_channels=[32, 16], features=32, residual_blocks=3)
_GAN = _block_net("DownsampledBlockGAN", features=32, residual_blocks=3)
_BLOCK_STEPS = {"steps": 200}
_GAN_SUMMARY = ("No learned encoder: the latent of each 32x32 block is the block averaged over 4x4 pixels (8x8 "
                "values at the data's full bit depth, 1/16 of the raw bits), and a ResNet-like generator "
                "(`monai_medcomp.networks.DownsampledBlockGAN`) restores the detail a bilinear upsampling misses; "
                "trained with a pixel loss, then adversarially as a {kind} (paper, Figures 8 and 9).")
_GAN_AE_SUMMARY = ("A max-pooling convolutional encoder takes each 32x32 block to a 2x8x8 latent in [0, 1], "
                   "quantised to bits/16 per pixel; a ResNet-like generator decodes it "
                   "(`monai_medcomp.networks.EncoderGenerator`). Trained with an {loss} pixel loss, then with "
                   "a {kind} discriminator added (paper, Figure 10).")

_LOSSY_QUALITIES = ", ".join(f"{q:g}" for q in QUALITIES[:-1]) + f" and {QUALITIES[-1]:g}"
_LOSSY_TRAINING = (
    "The shipped weights are the same fit on the whole training pool, from a MedComp source checkout:\n\n"
    "    python -m monai_medcomp.training.learned_lossy --out bundles/learned_lossy/models/model.pt \\\n"
    "        --report bundles/learned_lossy/docs/training.md\n\n"
    f"Every plane of the pool's images (up to {SLICES_PER_VOLUME} slices of a volume; RGB as Y, Cb, Cr) is "
    f"transformed and quantised as the codec does it, at qualities {_LOSSY_QUALITIES}. The activity weights "
    "are a least-squares fit, per level group, band and phase, of each coefficient's magnitude on its context "
    "features, rounded to Q8; each class's token table is the pool's token histogram of that class, smoothed "
    "towards a geometric magnitude law with the class's mean so that rarely reached classes get sensible tables. "
    "`docs/training.md`, which the command writes, gives the command, the date, the images, the number of "
    "coefficients, their mean token cost and the weights' hash.")

BUNDLES = [
    Bundle("mlp_huffman", "mlp-huffman",
           {"_target_": "monai_medcomp.networks.CausalPredictorMLP", "in_channels": 60, "out_channels": 3,
            "hidden_channels": [32, 16]},
           "Lossless predictive coding (paper, Figure 3): a small ReLU MLP per colour channel predicts each pixel "
           "from 60 already-coded causal neighbours, and the prediction residuals are canonical-Huffman coded. "
           "The bundle's weights are the generic start: encoding fine-tunes them on each image for a few epochs "
           "and stores only the quantised change (or nothing, when the bundle weights alone code a slice "
           "smaller). `network_def` (`monai_medcomp.networks.CausalPredictorMLP`) takes a batch of "
           "(3 channels, 64 features) causal contexts and its `forward` returns the (batch, 3) predicted offsets "
           "from the reference prediction, in units of the channel's input scale: a prediction, not an image.",
           {"epochs": 5}, benchmark="lossless.json",
           training_sample="16384 random pixels from each of up to 12 slices per image",
           layout="3D volumes are coded slice by slice; the colour channels of an RGB image in turn, each also "
                  "predicted from the earlier channels of the same pixel.",
           network_use="`inferer` (a `SimpleInferer`) runs it on a batch of causal contexts."),
    Bundle("learned_lossless", "learned-lossless",
           {"_target_": "monai_medcomp.networks.LaplaceScaleRegression", "spatial_dims": 3,
            "in_channels": SCALE_FEATURES_2D, "out_channels": 1, "later_channels": SCALE_FEATURES_3D},
           "Lossless and near-lossless predictive coding, pixel by pixel in a compiled (numba) core: a linear "
           "predictor on 24 near causal neighbours and, in a volume, the 3x3 co-located neighbourhood of the "
           "previous slice (fitted per slab by least absolute error, each pixel of a slab's first slice weighted "
           "by 1 / its predicted scale; stored in Q12), and a learned log-scale regression on the integer "
           "log-magnitudes of nearby residuals and gradients, whose level picks the scale context of each pixel. "
           "The residual is binarised (zero, sign, octave, bits) and each decision is range-coded with adaptive "
           "binary models of the scale context, of the nearest errors, of the predicted value, of the pattern "
           "of the nearest neighbours about the prediction and of the distance between the least-squares and "
           "median predictions, mixed per decision, so each slab learns its own residual distributions while "
           "it is coded; lossless, where the nearest neighbours hold at most two values, whether the pixel takes "
           "one of them is coded first, seeing the value that last followed the same neighbours. The regression's "
           "Q8 integer weights are this bundle's `models/model.pt`, pretrained on the training pool. "
           "`codec_params` takes `{\"max_error\": D}` for near-lossless coding with |error| <= D at every pixel. "
           "`network_def` (`monai_medcomp.networks.LaplaceScaleRegression`) takes a batch of "
           f"{SCALE_FEATURES_2D} integer log features (first slice of a slab) or {SCALE_FEATURES_3D} (later "
           "slices) and its `forward` returns the (batch, 1) predicted log2 scale in 1/8 octave, whose floor is "
           "the level the codec computes in integers: a scale, not an image.",
           {"steps": 50}, benchmark="learned_lossless.json",
           training_sample=("16384 random pixels of first slices and as many of later slices from each of up to "
                            "3 slabs of 8 slices per image"),
           layout=("3D volumes are coded in slabs of 32 slices, each slab an independently decodable chunk and "
                   "each slice also predicted from the one before; the colour channels of an RGB image are "
                   "coded as the planes of a slab in the same way (after the reversible colour transform), or, "
                   f"for lossless RGB of at most {MAX_PALETTE} colours where that is shorter, as one plane of palette "
                   "indices, greys first."),
           network_use="`inferer` (a `SimpleInferer`) runs it on a batch of per-pixel scale features.",
           images="medical images, 2D slices and 3D volumes"),
    Bundle("learned_lossy", "learned-lossy",
           {"_target_": "monai_medcomp.networks.WaveletContextModel", "spatial_dims": 2, "in_channels": FEATURES,
            "out_channels": NUM_TOKENS, "classes": NUM_CLASSES, "classes_per_octave": CLASSES_PER_OCTAVE},
           "Variable-rate lossy coding of wavelet coefficients with a learned context model: each slice goes "
           "through the CDF 9/7 wavelet, each band is quantised by a dead-zone quantiser whose step is divided by "
           "the band's norm, so that every band's error costs the same in the image, and the encoder moves each "
           "index one step towards zero where that saves more bits than it costs in squared error. "
           "constriction's ANS coder codes each coefficient's magnitude token (its low bits raw) with one of "
           f"{NUM_CLASSES} token tables, picked by the coefficient's activity: Q8 integer weights (per level "
           "group, band and coding phase) on the magnitudes already decoded around it (the neighbours of earlier "
           "phases, the parent and its 3x3 neighbourhood, the co-located coefficients of the level's earlier "
           "bands). The learned weights and tables are this bundle's `models/model.pt`, fitted on the training "
           "pool. Each image adapts them: a plane may store its own least-squares weights, and a prediction of "
           "each signed index from its neighbours and parent (subtracted, or only giving the signs their "
           "contexts), when that codes it shorter; a class offset per band and phase is stored; the tables count "
           "every coded pass. `codec_params` takes `{\"quality\": q}`, 0 to 100 "
           "(default 60): the step is 2^((bits + 2) x (100 - q) / 100 - 2) pixel values, so PSNR rises about 6 dB "
           "every 100 / (bits + 2) points. Design record: `docs/learned_lossy.md` of the MedComp source. "
           "`network_def` (`monai_medcomp.networks.WaveletContextModel`) takes a batch of the "
           f"{FEATURES} integer context features of one level group, band and phase and its `forward` returns "
           f"the (batch, {NUM_TOKENS}) token probabilities of the class the codec computes in integers: a "
           "distribution, not an image.",
           {}, benchmark=None,
           training_sample=(f"every plane of up to {SLICES_PER_VOLUME} slices per image (RGB as Y, Cb, Cr), "
                            f"quantised at qualities {_LOSSY_QUALITIES}"),
           layout=("3D volumes are coded slice by slice, each slice an independently decodable chunk; an RGB "
                   "image goes through JPEG 2000's irreversible colour transform and its Y, Cb and Cr planes are "
                   "coded in turn with the same model."),
           network_use="`inferer` (a `SimpleInferer`) runs it on a batch of per-coefficient context features.",
           images="medical image slices, grey or RGB, at a quality from 0 to 100",
           image_classes="stored integers (8 to 16 bit), grey or RGB (coded as Y, Cb, Cr), coded with loss",
           training=_LOSSY_TRAINING),
    Bundle("cnn_ae", "cnn-ae", _block_net("BlockAutoencoder", **_CNN_AE, decoder_channels=[64, 32]),
           "The paper's convolutional autoencoder (Figure 6): each 32x32 block of a slice is encoded by a "
           "max-pooling convolutional encoder to a 2x8x8 latent in [0, 1], quantised to bits/16 per pixel "
           "(16:1 before the file's header), and decoded by bilinear upsampling and convolutions "
           "(`monai_medcomp.networks.BlockAutoencoder`).",
           _BLOCK_STEPS),
    Bundle("cnn_ae_ft", "cnn-ae-ft", _block_net("BlockAutoencoder", **_CNN_AE, decoder_channels=[10, 10]),
           "The CNN-AE encoder with a shallow decoder of 1,191 weights (paper, Figure 11) that is fine-tuned on "
           "each slice at encode time; the tuned decoder is stored in the file as float16 and counts in its size "
           "(`monai_medcomp.networks.BlockAutoencoder` with `decoder_channels=[10, 10]`).",
           _BLOCK_STEPS),
    Bundle("cnn_rnn_ae", "cnn-rnn-ae",
           _block_net("ResidualBlockAutoencoder", stages=3, latent_channels=2, encoder_channels=[16, 16, 16],
                      decoder_channels=[32, 16, 16], downsamples=3),
           "Three residual autoencoder stages (paper, Figure 7): each codes what the earlier stages left of a "
           "32x32 block, to a 2x4x4 latent; a file decodes progressively (`stages` 1, 2 or 3 at decode time) "
           "(`monai_medcomp.networks.ResidualBlockAutoencoder`).",
           _BLOCK_STEPS),
    Bundle("gan_wgan", "gan-wgan", _GAN, _GAN_SUMMARY.format(kind="WGAN"), _BLOCK_STEPS),
    Bundle("gan_dcgan", "gan-dcgan", _GAN, _GAN_SUMMARY.format(kind="DCGAN"), _BLOCK_STEPS),
    Bundle("gan_ae_l1_wgan", "gan-ae-l1-wgan", _GAN_AE, _GAN_AE_SUMMARY.format(loss="L1", kind="WGAN"), _BLOCK_STEPS),
    Bundle("gan_ae_l2_wgan", "gan-ae-l2-wgan", _GAN_AE, _GAN_AE_SUMMARY.format(loss="L2", kind="WGAN"), _BLOCK_STEPS,
           override="gan-ae-ft"),
    Bundle("gan_ae_l1_dcgan", "gan-ae-l1-dcgan", _GAN_AE, _GAN_AE_SUMMARY.format(loss="L1", kind="DCGAN"),
           _BLOCK_STEPS),
    Bundle("gan_ae_l2_dcgan", "gan-ae-l2-dcgan", _GAN_AE, _GAN_AE_SUMMARY.format(loss="L2", kind="DCGAN"),
           _BLOCK_STEPS),
]

OVERRIDE_NOTE = ("`gan-ae-ft` runs from this bundle's weights: the gan-ae-l2-wgan network with its generator's "
                 "output stage (last batch norm and output convolution, 353 weights) fine-tuned on each slice at "
                 "encode time and stored in the file as float16. gan-ae-l2-wgan was chosen as the best GAN-AE on "
                 "held-out training-pool blocks, never on the evaluation images. Run it with the inference "
                 "override `--codec gan-ae-ft`.")


# ---------------------------------------------------------------- measured figures

def sample_file(name: str) -> str:
    sample = get_sample(name)
    return f"{sample.source} {sample.filename}" + (" (first volume)" if sample.volume_index is not None else "")


def _evaluation_names() -> set[str]:
    return {sample.name for sample in evaluation_images()}


def lossy_metrics(seed_lossy: dict[str, Any], codec: str) -> dict[str, Any]:
    """Per evaluation image: shape, bit depth, PSNR, SSIM, bpp (fixed rate and entropy coded); and their means."""
    per_image, evaluation = {}, _evaluation_names()
    for name, image in seed_lossy["images"].items():
        figures = image["codecs"].get(codec)
        if name not in evaluation or figures is None:
            continue
        per_image[name] = {"file": sample_file(name), "shape": image["shape"], "bits_stored": image["bits_stored"],
                           "psnr_db": round(figures["psnr"], 2), "ssim": round(figures["ssim"], 4),
                           "bpp": round(figures["bpp"], 4), "bpp_entropy_coded": round(figures["bpp_entropy"], 4)}
    run = seed_lossy["run"]
    return {"description": f"Measured by {run['command']} (benchmarks/seed_lossy.json, {run['date']}, CPU) with the "
                           "codec's default parameters (fixed-rate latents, entropy False) on the MedComp "
                           "evaluation images; PSNR peak 2**bits_stored - 1; bpp of the whole .mcz file.",
            "mean_psnr_db": round(statistics.fmean(v["psnr_db"] for v in per_image.values()), 2),
            "mean_bpp": round(statistics.fmean(v["bpp"] for v in per_image.values()), 4),
            "per_image": per_image}


def lossless_rows(benchmark: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-image lossless rows of a benchmark file (both write :func:`.bench.lossless.lossless_row`'s rows)."""
    if benchmark == "learned_lossless.json":  # the grey images, then the RGB ones, each with every setting
        return results["lossless_rows"] + results["rgb_rows"]
    return results["rows"]


def lossless_metrics(benchmark: str, results: dict[str, Any], codec: str) -> dict[str, Any]:
    """Per evaluation image: shape, bit depth, bpp of the file and of the payload, and whether it decoded exactly."""
    per_image, evaluation = {}, _evaluation_names()
    for row in lossless_rows(benchmark, results):
        # the codec's default parameters: a setting is labelled by the codec name alone
        if row["setting"] != codec or row["image"] not in evaluation:
            continue
        per_image[row["image"]] = {"file": sample_file(row["image"]), "shape": row["shape"],
                                   "bits_stored": row["bits_stored"], "bpp": round(row["file_bpp"], 4),
                                   "payload_bpp": round(row["payload_bpp"], 4),
                                   "bit_exact": not row["failed_slices"] and row["exact_slices"] == row["slices"]}
    run = results["run"]
    metrics = {"description": f"Measured by {run['command']} (benchmarks/{benchmark}, {run['date']}, CPU) with the "
                              "codec's default parameters on the MedComp evaluation images; bpp of the whole .mcz "
                              "file and of the codec payload; every slice decoded bit for bit.",
               "bit_exact": all(v["bit_exact"] for v in per_image.values()),
               "mean_bpp": round(statistics.fmean(v["bpp"] for v in per_image.values()), 4),
               "per_image": per_image}
    if benchmark == "learned_lossless.json":  # it also compares the codecs on the grey images in the same run
        grey = results["lossless"]
        metrics["grey_images"] = {
            "description": "Mean file bpp over the grey evaluation images of every codec measured in the same run, "
                           "and the ratio of the learned codec's mean to the reference's "
                           f"(MedComp benchmarks/{Path(benchmark).with_suffix('.md')}).",
            "reference": grey["reference"], "ratio": round(grey["mean"]["ratio"], 4),
            "mean_bpp": {setting: round(bpp, 4) for setting, bpp in grey["mean"]["bpp"].items()}}
    return metrics


def round_trip_metrics(codec: str) -> dict[str, Any]:
    """The codec's default parameters on :data:`MEASURED_IMAGE`, measured now by a round trip through the API,
    for a codec whose benchmark has not been run: the same per-image fields as :func:`lossy_metrics`, with the
    payload bpp and max error instead of the entropy-coded bpp (the codec is deterministic, so is the file)."""
    from .bench.ratedistortion import rd_point

    volume, chosen = load_sample(MEASURED_IMAGE), get_codec(codec)
    point = rd_point(volume, chosen, chosen.default_params())
    figures = {"file": sample_file(MEASURED_IMAGE), "shape": list(volume.array.shape),
               "bits_stored": volume.bits_stored, "psnr_db": round(point["psnr"], 2), "ssim": round(point["ssim"], 4),
               "bpp": round(point["file_bpp"], 4), "payload_bpp": round(point["payload_bpp"], 4),
               "max_abs_error": int(point["max_abs_error"])}
    return {"description": "Measured by python -m monai_medcomp.bundle_configs (a round trip through the MedComp "
                           f"API, CPU) with the codec's default parameters {json.dumps(point['params'])} on the "
                           f"evaluation image {MEASURED_IMAGE} only; PSNR peak 2**bits_stored - 1; bpp of the whole "
                           ".mcz file and of the codec payload.",
            "mean_psnr_db": figures["psnr_db"], "mean_bpp": figures["bpp"], "per_image": {MEASURED_IMAGE: figures}}


def eval_metrics(bundle: Bundle, benchmarks: Path) -> dict[str, Any]:
    if bundle.benchmark is None:
        return round_trip_metrics(bundle.codec)
    path = benchmarks / bundle.benchmark
    if not path.is_file():
        raise MedCompError(f"bundle {bundle.folder}: its measured figures come from {path}, which does not exist; "
                           "run that benchmark first")
    results = json.loads(path.read_text())
    if bundle.lossless:
        return lossless_metrics(bundle.benchmark, results, bundle.codec)
    metrics = lossy_metrics(results, bundle.codec)
    if bundle.override:  # the codec that runs from these weights with the inference override --codec
        metrics["overrides"] = {bundle.override: lossy_metrics(results, bundle.override)}
    return metrics


# ---------------------------------------------------------------- configs

def _tensor(kind: str, fmt: str, channels: int, shape: list[Any], value_range: list[float], patch: bool,
            channel_def: dict[str, str]) -> dict[str, Any]:
    return {"type": kind, "format": fmt, "modality": "CT, MR, CR, US, NM", "num_channels": channels,
            "spatial_shape": shape, "dtype": "float32", "value_range": value_range, "is_patch_data": patch,
            "channel_def": channel_def}


SCALE_FEATURES = ("|residual| W", "|residual| N", "|residual| NW", "|residual| NE", "|residual| WW", "|residual| NN",
                  "gradient W-NW", "gradient N-NW", "gradient NE-N", "gradient W-WW", "gradient N-NN",
                  "sum of |residual| over the 12 nearest", "sum of |residual| over the 24 nearest",
                  "previous slice: |residual| co-located", "previous slice: sum of |residual| over 3x3",
                  "previous slice: co-located value - reference")


def scale_features_format() -> dict[str, Any]:
    """``LaplaceScaleRegression``: integer log features of one pixel in, its log2 scale in 1/8 octave out."""
    names = {str(i): name + ("" if i < SCALE_FEATURES_2D else " (later slices only)")
             for i, name in enumerate(SCALE_FEATURES)}
    largest = int(ilog(np.array([np.iinfo(np.int64).max]))[0])  # ilog saturates
    levels = [LOG_UNIT * float(np.log2(SCALE_FLOOR)), LOG_UNIT * 16.0]  # scales from the floor to 2**16
    return {"inputs": {"image": _tensor("tensor", "integer log-magnitudes, 8 * log2(1 + |value|), of the pixel's "
                                        f"causal residuals and gradients ({SCALE_FEATURES_2D} for the first slice "
                                        f"of a slab, {SCALE_FEATURES_3D} for later slices)", SCALE_FEATURES_2D,
                                        [], [0, largest], True, names)},
            "outputs": {"pred": _tensor("tensor", "predicted log2 Laplace scale in 1/8 octave", 1, [], levels, True,
                                        {"0": "scale level"})}}


CONTEXT_FEATURES = ("sum of |q| of the 4 nearest coefficients of earlier phases (0 in the first phase)",
                    "|q| of the parent (next coarser level, same band)",
                    "sum of |q| over the parent's 3x3 neighbourhood",
                    "sum of |q| of the co-located coefficients of the level's earlier bands", "bias (1)")


def token_name(token: int) -> str:
    """The magnitudes a token of ``learned-lossy`` stands for."""
    low = int(from_tokens(np.array([token]), np.array([0]))[0])
    high = low + (1 << int(raw_bit_counts(np.array([token]))[0])) - 1
    return f"magnitude {low}" if high == low else f"magnitudes {low} to {high}"


def context_features_format() -> dict[str, Any]:
    """``WaveletContextModel``: integer context features of one quantised coefficient in, its token probabilities
    out."""
    largest = 9 * ((1 << MAX_MAGNITUDE_BITS) - 1)  # nine magnitudes of the parent's neighbourhood
    return {"inputs": {"image": _tensor("tensor", "integer context features of one quantised wavelet coefficient: "
                                        "sums of already-decoded magnitudes |q| around it, and a bias", FEATURES,
                                        [], [0, largest], True,
                                        {str(i): name for i, name in enumerate(CONTEXT_FEATURES)})},
            "outputs": {"pred": _tensor("probabilities", "probabilities of the coefficient's magnitude token (the "
                                        "table of its activity class)", NUM_TOKENS, [], [0, 1], True,
                                        {str(t): token_name(t) for t in range(NUM_TOKENS)})}}


def network_data_format(bundle: Bundle) -> dict[str, Any]:
    if bundle.network["_target_"].endswith(".LaplaceScaleRegression"):
        return scale_features_format()
    if bundle.network["_target_"].endswith(".WaveletContextModel"):
        return context_features_format()
    if bundle.lossless:
        from .codecs.mlp_predictor import FEATURE_LIMIT

        features = bundle.network["in_channels"] + 2 * (bundle.network["out_channels"] - 1)
        channels = {"0": "grey or red", "1": "green", "2": "blue"}
        return {"inputs": {"image": _tensor("tensor", "causal context: neighbours minus the reference prediction, "
                                            "in units of the channel's input scale, zero-padded", 3, [features],
                                            [-FEATURE_LIMIT, FEATURE_LIMIT], True, channels)},
                "outputs": {"pred": _tensor("tensor", "predicted offset from the reference prediction", 3, [],
                                            [-FEATURE_LIMIT, FEATURE_LIMIT], True, channels)}}
    block = ["32*n", "32*n"]
    return {"inputs": {"image": _tensor("image", "magnitude", 1, block, [0, 1], True, {"0": "image"})},
            "outputs": {"pred": _tensor("image", "magnitude", 1, block, [0, 1], True, {"0": "reconstruction"})}}


def metadata(bundle: Bundle, benchmarks: Path) -> dict[str, Any]:
    import monai
    import numpy
    import torch

    kind = "lossless" if bundle.lossless else "lossy"
    description = (f"{bundle.summary} The bundle's inference compresses every NIfTI or DICOM image in dataset_dir "
                   f"to a .mcz file with the monai_medcomp codec '{bundle.codec}', writes "
                   "the reconstruction as NIfTI and a metrics CSV (bpp, compression ratio, PSNR, SSIM, max error) "
                   "into output_dir.")
    if bundle.override:
        description += " " + OVERRIDE_NOTE
    description += "".join(f" {label}." for label in bundle.reproductions)
    return {
        "schema": "configs/meta_schema.json",
        "version": VERSION,
        "changelog": CHANGELOG,
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "required_packages_version": {"monai_medcomp": importlib.metadata.version("monai_medcomp"),
                                      **{name: importlib.metadata.version(name) for name in REQUIRED_PACKAGES}},
        "name": f"MedComp {bundle.codec} {kind} image compression"
                + (" (a paper reproduction)" if bundle.reproductions else ""),
        "task": (f"{kind.capitalize()} compression of {bundle.images} (CT, MR, CR, US, NM)"
                 + (" at a fixed 16:1 rate" if bundle.blocks else "")),
        "description": description,
        "authors": "MedComp developers",
        "copyright": "Copyright (c) MedComp developers",
        "data_source": TRAINING_POOL.format(how=bundle.training_sample),
        "data_type": "dicom and nifti",
        "image_classes": bundle.image_classes or (
            "stored integers (8 to 16 bit, signed or not), grey or RGB, coded without loss" if bundle.lossless else
            "one grey channel, stored integers (8 to 16 bit) normalised to [0, 1] by their bit depth; RGB images "
            "are coded per channel, or by models/model_rgb.pt where present"),
        "intended_use": LOSSLESS_USE if bundle.lossless else LOSSY_USE,
        "eval_metrics": eval_metrics(bundle, benchmarks),
        "references": ([f"MedComp benchmarks/{bundle.benchmark}"] if bundle.benchmark else [])
                      + [f"MedComp bundles/{bundle.folder}/docs/training.md"],
        "network_data_format": network_data_format(bundle),
    }


INITIALIZE = [{"_target_": "monai_medcomp.bundle_workflows.one_line_errors"}]  # a user's mistake ends in one line


def _dataset() -> dict[str, Any]:
    return {"_target_": "monai.data.Dataset",
            "data": {"_target_": "monai_medcomp.bundle_workflows.dataset_items", "dataset_dir": "@dataset_dir"}}


def _codec_params(bundle: Bundle) -> dict[str, Any]:
    return {"entropy": False} if bundle.blocks else {}


def inference_config(bundle: Bundle) -> dict[str, Any]:
    inferer = ({"_target_": "monai.inferers.SliceInferer", "roi_size": [32, 32], "spatial_dim": 2,
                "sw_batch_size": 64} if bundle.blocks else {"_target_": "monai.inferers.SimpleInferer"})
    return {
        "imports": ["$import torch"],
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/sample_data'",
        "output_dir": "$@bundle_root + '/eval'",
        "device": "$torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "codec": bundle.codec,
        "codec_params": _codec_params(bundle),
        "network_def": bundle.network,
        "inferer": inferer,
        "dataset": _dataset(),
        "evaluator": {"_target_": "monai_medcomp.bundle_workflows.CompressionEvaluator", "dataset": "@dataset",
                      "output_dir": "@output_dir", "codec": "@codec", "params": "@codec_params",
                      "device": "@device", "bundle_root": "@bundle_root"},
        "initialize": INITIALIZE,
        "run": ["$@evaluator.run()"],
    }


def evaluate_config(bundle: Bundle) -> dict[str, Any]:
    return {
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/sample_data'",
        "output_dir": "$@bundle_root + '/eval_rd'",
        "codec": bundle.codec,
        "codec_params": _codec_params(bundle),
        "references": ["jpeg", "jpeg2000"],
        "dataset": _dataset(),
        "evaluator": {"_target_": "monai_medcomp.bundle_workflows.RateDistortionEvaluator", "dataset": "@dataset",
                      "output_dir": "@output_dir", "codec": "@codec", "params": "@codec_params",
                      "references": "@references", "bundle_root": "@bundle_root"},
        "initialize": INITIALIZE,
        "run": ["$@evaluator.run()"],
    }


def train_config(bundle: Bundle) -> dict[str, Any]:
    return {
        "bundle_root": ".",
        "dataset_dir": "$@bundle_root + '/train_data'",
        "output_dir": "$@bundle_root + '/train_output'",
        "codec": bundle.codec,
        "budget": bundle.train_budget,
        "seed": 0,
        "force": False,
        "trainer": {"_target_": "monai_medcomp.bundle_workflows.BundleTrainer", "dataset_dir": "@dataset_dir",
                    "codec": "@codec", "output": "$@output_dir + '/models/model.pt'", "budget": "@budget",
                    "seed": "@seed", "force": "@force"},
        "initialize": INITIALIZE,
        "run": ["$@trainer.run()"],
    }


# ---------------------------------------------------------------- README

def _cell(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


# (title, per-image key, decimals) of the lossy table: each column that the bundle's figures have
LOSSY_COLUMNS = (("bpp", "bpp", 3), ("bpp (entropy coded)", "bpp_entropy_coded", 3),
                 ("bpp (payload)", "payload_bpp", 3), ("PSNR dB", "psnr_db", 2), ("SSIM", "ssim", 3),
                 ("max error", "max_abs_error", 0))


def results_table(metrics: dict[str, Any], lossless: bool) -> str:
    if lossless:
        lines = ["| image | file | shape | bits | bpp (file) | bpp (payload) | bit exact |",
                 "|---|---|---|---|---|---|---|"]
        lines += [f"| {name} | {v['file']} | {'x'.join(map(str, v['shape']))} | {v['bits_stored']} | "
                  f"{_cell(v['bpp'], 3)} | {_cell(v['payload_bpp'], 3)} | {'yes' if v['bit_exact'] else 'NO'} |"
                  for name, v in metrics["per_image"].items()]
        return "\n".join(lines)
    rows = metrics["per_image"]
    columns = [column for column in LOSSY_COLUMNS if all(column[1] in v for v in rows.values())]
    lines = ["| image | file | shape | bits | " + " | ".join(title for title, _, _ in columns) + " |",
             "|---|---|---|---|" + "---|" * len(columns)]
    lines += [f"| {name} | {v['file']} | {'x'.join(map(str, v['shape']))} | {v['bits_stored']} | "
              + " | ".join(_cell(v[key], digits) for _, key, digits in columns) + " |"
              for name, v in rows.items()]
    return "\n".join(lines)


def reproduction_section(bundle: Bundle) -> str:
    """For a bundle of the paper's methods, a section saying so first, with the distance to JPEG 2000 measured."""
    if not bundle.reproductions:
        return ""
    labels = "\n".join(f"- {label}" for label in bundle.reproductions)
    return f"""
## A reproduction, not a recommendation

This bundle runs the methods of the paper MedComp started from, as MedComp re-implements them, so that the
paper's results can be checked and compared; the committed benchmarks measure them well behind JPEG 2000:

{labels}

To compress images you keep, compare the standard codecs and MedComp's own (`learned-lossless`,
`learned-lossy`) on your own scans: `medcomp codecs` lists them.
"""


def readme(bundle: Bundle, meta: dict[str, Any]) -> str:
    metrics = meta["eval_metrics"]
    lossless = bundle.lossless
    title = "learned lossless compression" if lossless else "learned lossy compression"
    nature = ("The codec is lossless: every decoded pixel equals the stored integer." if lossless else
              "The codec is lossy: it is meant for research on learned compression and on how compressed inputs "
              "affect downstream models, not for primary diagnosis.")
    measured = (f"Mean {metrics['mean_bpp']:.3f} bpp, every image bit-exact." if lossless else
                f"Mean {metrics['mean_psnr_db']:.2f} dB at {metrics['mean_bpp']:.3f} bpp.")
    if "grey_images" in metrics:
        grey = metrics["grey_images"]
        measured += (f" Over the grey images, {bundle.codec} averages {grey['mean_bpp'][bundle.codec]:.3f} bpp and "
                     f"{grey['reference']} {grey['mean_bpp'][grey['reference']]:.3f} (ratio {grey['ratio']:.3f}); "
                     "`eval_metrics` > `grey_images` has the other codecs, and MedComp's "
                     f"`benchmarks/{Path(bundle.benchmark).with_suffix('.md')}` the volumes, near-lossless and "
                     "speed figures.")
    rate_note = (" A lossless file's rate is set by the image, so JPEG and JPEG 2000 at that rate show what the "
                 "same bits buy when loss is allowed." if lossless else "")
    peak_note = ("" if lossless else "\nPSNR depends on the bit depth the file declares: a NIfTI has no "
                 "`BitsStored`, so a 12-bit DICOM saved\nas NIfTI is measured against a 16-bit peak.\n")
    entropy_note = ("" if not bundle.blocks else " `codec_params` takes `{\"entropy\": true}` to code the same "
                    "latents with the bundle's learned prior: the same pixels in fewer bytes (the table's "
                    "entropy-coded bpp).")
    if bundle.training:
        training = ("fits the codec's weights on the\nNIfTI/DICOM images of `dataset_dir`, on the CPU, with no "
                    "budget to set (the fit is deterministic:\nthe same images give the same weights, in seconds), "
                    "and writes `output_dir/models/model.pt`; it never\noverwrites an existing file unless "
                    f"`--force true`.\n\n{bundle.training}")
    else:
        budget = ", ".join(f"{key} {value}" for key, value in bundle.train_budget.items())
        training = (f"trains the codec's {'network' if lossless else 'grey network'} on\nthe NIfTI/DICOM images of "
                    f"`dataset_dir`, on the CPU, with a small default budget ({budget}: seconds\nto a minute), and "
                    "writes `output_dir/models/model.pt`; it never overwrites an existing file unless\n`--force "
                    "true`. The shipped weights were trained on the whole training pool with a larger budget:\n"
                    "`docs/training.md` gives the command, the images and the weights' hash.")
    evaluated = "Evaluation images" if len(metrics["per_image"]) > 1 else "Evaluation image"
    override = ""
    if bundle.override:
        extra = metrics["overrides"][bundle.override]
        override = (f"\n## {bundle.override} from the same weights\n\n{OVERRIDE_NOTE}\n\n"
                    "    python -m monai.bundle run --config_file configs/inference.json "
                    "--meta_file configs/metadata.json \\\n"
                    f"        --codec {bundle.override} --dataset_dir <folder> --output_dir <new folder>\n\n"
                    f"Measured with `--codec {bundle.override}` "
                    f"(`eval_metrics` > `overrides` > `{bundle.override}`): mean "
                    f"{extra['mean_psnr_db']:.2f} dB at {extra['mean_bpp']:.3f} bpp (the tuned weights count).\n\n"
                    + results_table(extra, False) + "\n")
    return f"""# {bundle.folder}: {title} of medical image slices

A MONAI bundle of MedComp's `{bundle.codec}` codec; in the codec registry: "{get_codec(bundle.codec).description}".
{reproduction_section(bundle)}
{bundle.summary}

{bundle.layout} {nature}

## What inference does

`configs/inference.json` lists every NIfTI or DICOM file (or DICOM series folder) in `dataset_dir` as
its `dataset`; its `evaluator`, `monai_medcomp.bundle_workflows.CompressionEvaluator`, compresses each
one and writes into `output_dir`:

- `<name>.mcz`: the compressed image (MedComp container: geometry and source metadata kept; the
  header records the SHA-256 of the weights it used, so a file never decodes with other weights);
- `<name>_reconstruction.nii.gz`: the decoded image with the original geometry;
- `metrics.csv`: per image the status, codec, shape, bit depth, compressed bytes, bpp, compression
  ratio, space saving, PSNR (peak `2**bits_stored - 1`), SSIM, max absolute error and encode time.

Files that cannot be read are logged, listed in `metrics.csv` as `skipped: <reason>`, and the rest
are processed. Nothing is overwritten: an existing `metrics.csv` stops the run before any work, and
an image whose outputs already exist is skipped.

The codec's own quantiser and bitstream do the compression, so the evaluator calls the MedComp API
rather than `network_def` directly (`monai_medcomp.bundle_workflows.run_inference` does the same from
Python). `network_def` (`{bundle.network['_target_']}`) holds the same modules and loads
`models/model.pt` unchanged, which is what `verify_net_in_out` checks; {bundle.network_use}{entropy_note}

## Rate-distortion evaluation

`configs/evaluate.json` (`monai_medcomp.bundle_workflows.RateDistortionEvaluator`) codes each image
of `dataset_dir` with `{bundle.codec}`, then with JPEG and JPEG 2000 rate-controlled to the same
whole-file bpp, and writes `rate_distortion.csv` into `output_dir`: per image and codec the
parameters, file and payload bpp, PSNR, SSIM, max absolute error and speed. A classical codec that
cannot reach the rate (JPEG on small images) is listed as skipped.{rate_note}

## Training

`configs/train.json` (`monai_medcomp.bundle_workflows.BundleTrainer`) {training}

The run logs each image it reads, then its progress: a line at every tenth of the steps or epochs, and at
least every {PROGRESS_SECONDS:g} seconds.

## Data

Trained on the MedComp training pool, `monai_medcomp.data.training_images()`: real acquisitions
shipped in the pydicom-data, pydicom, nibabel, nilearn and scikit-image packages. No evaluation
image was used.

## Measured results

{evaluated}, default parameters. {metrics['description']}
The same figures are in `configs/metadata.json` under `eval_metrics`. {measured}

{results_table(metrics, lossless)}
{peak_note}{override}
## Commands

From this folder (the bundle root), with `monai_medcomp` installed:

    python -m monai.bundle verify_metadata --meta_file configs/metadata.json --filepath configs/meta_schema.json
    python -m monai.bundle verify_net_in_out --net_id network_def --meta_file configs/metadata.json --config_file configs/inference.json
    python -m monai.bundle run --config_file configs/inference.json --meta_file configs/metadata.json \\
        --logging_file configs/logging.conf --dataset_dir <folder of NIfTI/DICOM> --output_dir <new folder>
    python -m monai.bundle run --config_file configs/evaluate.json --meta_file configs/metadata.json \\
        --logging_file configs/logging.conf --dataset_dir <folder of NIfTI/DICOM> --output_dir <new folder>
    python -m monai.bundle run --config_file configs/train.json --meta_file configs/metadata.json \\
        --logging_file configs/logging.conf --dataset_dir <folder of NIfTI/DICOM> --output_dir <new folder>

A mistake ends the run in one line saying what to change, not a traceback: no `--dataset_dir` (the configs'
`sample_data` and `train_data` are placeholders), or an `--output_dir` that holds an earlier run's files.

`configs/meta_schema.json` holds the fields of MONAI's bundle metadata schema that this bundle fills,
so the metadata check needs no network. The codec takes its weights from `bundle_root` when that
folder is named `{bundle.folder}`, so a downloaded copy of the bundle runs with its own `models/model.pt`.
These files are written by `python -m monai_medcomp.bundle_configs` from one table for all bundles.

## License

Apache-2.0 (`LICENSE`).
"""


# ---------------------------------------------------------------- writing

def bundle_files(bundle: Bundle, root: Path) -> dict[str, str]:
    """Relative path -> text of every generated file of one bundle."""
    meta = metadata(bundle, root / "benchmarks")

    def as_json(value: Any) -> str:
        return json.dumps(value, indent=4) + "\n"

    return {"configs/metadata.json": as_json(meta),
            "configs/inference.json": as_json(inference_config(bundle)),
            "configs/evaluate.json": as_json(evaluate_config(bundle)),
            "configs/train.json": as_json(train_config(bundle)),
            "configs/logging.conf": LOGGING_CONF,
            "configs/meta_schema.json": (root / "bundles" / SHARED_FROM / "configs" / "meta_schema.json").read_text(),
            "docs/README.md": readme(bundle, meta),
            "LICENSE": (root / "bundles" / SHARED_FROM / "LICENSE").read_text()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the repository root (holds benchmarks/ and bundles/)")
    parser.add_argument("--force", action="store_true", help="replace files whose text changed")
    args = parser.parse_args(argv)
    return run_command("python -m monai_medcomp.bundle_configs", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    # every bundle's text first: a missing benchmark stops the run before anything is written
    files = [(bundle, bundle_files(bundle, root)) for bundle in BUNDLES]
    for bundle, texts in files:
        for relative, text in texts.items():
            path = root / "bundles" / bundle.folder / relative
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            atomic_write(path, text.encode(), force=args.force)
            print(f"wrote bundles/{bundle.folder}/{relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
