"""The predictor of ``mlp-huffman``: per-channel MLPs fitted to the image at encode time, then quantised.

Training works on float copies of the integer features, clipped to +-FEATURE_LIMIT and scaled by
2**-shift (``shift`` ~ log2 of the mean reference error of the channel, so 8-bit and 16-bit images
look alike to one network); coding uses the same clipped integer features in the quantised network
of :mod:`.integer_mlp`.  The pretrained start is the bundle ``mlp_huffman``.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Sequence

import numpy as np

from ..errors import CodecError
from ..weights import Weights, find_weights
from .causal import CodingPlanes, inter_channel_features
from .integer_mlp import MAX_SHIFT, IntegerMLP, parameter_count

BUNDLE = "mlp_huffman"
CODEC = "mlp-huffman"
SHA_PREFIX = 8  # bytes of the bundle's SHA-256 that a chunk coded from it records
MAX_TRAINING_PIXELS = 1 << 17  # larger slices are fitted on a fixed random sample of their pixels
FINETUNE_EPOCHS = 5
SCRATCH_EPOCHS = 30
FEATURE_LIMIT = 4  # in units of 2**shift; see clip_features


@dataclasses.dataclass(frozen=True)
class MLPHuffmanOptions:
    """The codec's parameters, checked: where training starts, its budget, the network's shape.

    ``epochs`` None means FINETUNE_EPOCHS from the pretrained start, SCRATCH_EPOCHS from scratch;
    ``seconds`` optionally caps the training time (checked at epoch ends).
    """

    start: str = "pretrained"
    epochs: int | None = None
    seconds: float | None = None
    context: int = 60
    hidden: tuple[int, ...] = (32, 16)
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "MLPHuffmanOptions":
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = set(params) - set(known)
        if unknown:
            raise CodecError(f"mlp-huffman does not take {', '.join(sorted(unknown))} "
                             f"(parameters: {', '.join(known)})")
        values = {**dataclasses.asdict(cls()), **params}
        if not isinstance(values["hidden"], (list, tuple)):
            raise CodecError(f"mlp-huffman hidden must be a list of layer widths, not {values['hidden']!r}")
        options = cls(**{**values, "hidden": tuple(values["hidden"])})
        options.check()
        return options

    def to_params(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}

    def check(self) -> None:
        if self.start not in ("pretrained", "scratch"):
            raise CodecError(f"mlp-huffman start must be 'pretrained' or 'scratch', not {self.start!r}")
        if self.epochs is not None and (type(self.epochs) is not int or self.epochs < 0):
            raise CodecError(f"mlp-huffman epochs must be a non-negative integer, not {self.epochs!r}")
        if self.seconds is not None and not (type(self.seconds) in (int, float) and self.seconds > 0):
            raise CodecError(f"mlp-huffman seconds must be a positive number, not {self.seconds!r}")
        if type(self.context) is not int or not 3 <= self.context <= 200:
            raise CodecError(f"mlp-huffman context must be an integer from 3 to 200, not {self.context!r}")
        if not 1 <= len(self.hidden) <= 4 or not all(type(h) is int and 1 <= h <= 64 for h in self.hidden):
            raise CodecError(f"mlp-huffman hidden must list 1 to 4 layer widths from 1 to 64, not {list(self.hidden)}")
        if type(self.seed) is not int:
            raise CodecError(f"mlp-huffman seed must be an integer, not {self.seed!r}")

    @property
    def training_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        return FINETUNE_EPOCHS if self.start == "pretrained" else SCRATCH_EPOCHS

    def layer_shapes(self, channel: int) -> list[tuple[int, int]]:
        widths = [self.context + inter_channel_features(channel), *self.hidden, 1]
        return list(zip(widths[:-1], widths[1:]))


@dataclasses.dataclass
class MLPPredictor:
    """The quantised network of each channel and the input scale (2**shift) it was trained at."""

    nets: list[IntegerMLP]
    shifts: list[int]

    def predict(self, channel: int, features: np.ndarray) -> np.ndarray:
        return self.nets[channel].predict(clip_features(features, self.shifts[channel]), self.shifts[channel])

    def to_vector(self) -> np.ndarray:
        return np.concatenate([net.to_vector() for net in self.nets])

    @classmethod
    def from_vector(cls, vector: np.ndarray, shapes: Sequence[Sequence[tuple[int, int]]],
                    shifts: list[int]) -> "MLPPredictor":
        sizes = [parameter_count(layer_shapes) for layer_shapes in shapes]
        if sum(sizes) != len(vector):
            raise CodecError(f"stored weights hold {len(vector)} values, the network needs {sum(sizes)}")
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        return cls([IntegerMLP.from_vector(p, s) for p, s in zip(parts, shapes)], shifts)


def pack_weights(vector: np.ndarray) -> bytes:
    """Integer weights (or their delta from the bundle's), zig-zagged and deflated."""
    zigzag = np.where(vector >= 0, 2 * vector, -2 * vector - 1).astype("<u4")
    return zlib.compress(zigzag.tobytes(), 9)


def unpack_weights(data: bytes) -> np.ndarray:
    try:
        raw = zlib.decompress(data)
    except zlib.error as error:
        raise CodecError(f"stored mlp-huffman weights are damaged: {error}") from None
    if len(raw) % 4:
        raise CodecError("stored mlp-huffman weights are damaged (odd length)")
    zigzag = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    return (zigzag >> 1) ^ -(zigzag & 1)


def clip_features(values: np.ndarray, shift: int) -> np.ndarray:
    """Limit differences to FEATURE_LIMIT normalised units: a strong edge says "edge", not how strong.

    Without it, a regression fitted by MSE spends itself on the rare huge errors (air/bone in CT) and
    predicts the common small ones worse.
    """
    limit = FEATURE_LIMIT << shift
    return np.clip(values, -limit, limit)


def training_pixels(rows: int, cols: int, seed: int) -> np.ndarray:
    """Raster indices the encoder fits on: all of them, or a fixed random sample of large slices."""
    count = rows * cols
    if count <= MAX_TRAINING_PIXELS:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, MAX_TRAINING_PIXELS, replace=False))


def training_data(planes: CodingPlanes, raster: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Integer (features, target offsets from the reference) of each channel of a known image."""
    positions = planes.positions(raster)
    earlier: list[tuple[np.ndarray, np.ndarray]] = []
    data = []
    for channel in range(planes.channels):
        features, reference = planes.features(positions, channel, earlier)
        values = planes.values[channel][positions]
        earlier.append((values, reference))
        data.append((features, values - reference))
    return data


def input_shift(targets: np.ndarray) -> int:
    """log2 of the channel's typical reference error: the scale at which its network sees features."""
    mean_error = float(np.abs(targets).mean()) if len(targets) else 0.0
    return int(np.clip(np.floor(np.log2(max(mean_error, 1.0))), 0, MAX_SHIFT))


def build_model(options: MLPHuffmanOptions, channels: int, state: dict[str, Any] | None = None):
    """A seeded fresh network for ``channels`` channels, or the bundle's ``state`` restricted to them."""
    import torch

    from ..networks import CausalPredictorMLP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        model = CausalPredictorMLP(options.context, channels, options.hidden)
    with torch.no_grad():  # start from the reference predictor itself: a zero offset everywhere
        for channel in range(channels):
            model.linear_layers(channel)[-1].weight.zero_()
    if state is not None:
        wanted = {key: value for key, value in state.items() if int(key.split(".")[1]) < channels}
        try:
            model.load_state_dict(wanted)
        except RuntimeError:
            raise CodecError(f"the pretrained {BUNDLE} weights do not fit context={options.context}, "
                             f"hidden={list(options.hidden)}; use start='scratch' for another network shape") from None
    return model


def fit_model(model, data: Sequence[tuple[np.ndarray, np.ndarray]], shifts: Sequence[int],
              options: MLPHuffmanOptions, device: Any = None) -> list[float]:
    """Fit each channel's network on its (features, targets), scaled by 2**-shift; return final losses."""
    import torch

    from ..training.predictor import fit_regressor

    device = torch.device("cpu") if device is None else device
    seconds = None if options.seconds is None else options.seconds / len(data)
    losses = []
    for channel, ((features, targets), shift) in enumerate(zip(data, shifts)):
        scale = float(1 << shift)
        x = torch.from_numpy((clip_features(features, shift) / scale).astype(np.float32)).to(device)
        y = torch.from_numpy((clip_features(targets, shift) / scale).astype(np.float32)).to(device)
        net = model.nets[channel].to(device)
        losses.append(fit_regressor(net, x, y, epochs=options.training_epochs, seconds=seconds,
                                    seed=options.seed + channel))
        net.cpu()
    return losses


def quantise(model, shifts: Sequence[int]) -> MLPPredictor:
    """The exact integer predictor of ``model``'s first ``len(shifts)`` channel networks."""
    nets = []
    for channel in range(len(shifts)):
        layers = model.linear_layers(channel)
        nets.append(IntegerMLP.quantise([layer.weight.detach().cpu().numpy() for layer in layers],
                                        [layer.bias.detach().cpu().numpy() for layer in layers[:-1]]))
    return MLPPredictor(nets, list(shifts))


class PretrainedBundle:
    """The bundle's weights, loaded once per codec and checked against what a chunk recorded."""

    def __init__(self) -> None:
        self._loaded: tuple[dict[str, Any], Weights] | None = None

    def load(self) -> tuple[dict[str, Any], Weights]:
        if self._loaded is None:
            found = find_weights(BUNDLE)
            self._loaded = found.state(), found
        return self._loaded

    def predictor(self, options: MLPHuffmanOptions, shifts: Sequence[int], sha_prefix: bytes | None = None):
        """The quantised bundle predictor; with ``sha_prefix``, refuse a bundle other than the recorded one."""
        state, found = self.load()
        if sha_prefix is not None:
            found.expect(sha_prefix, CODEC)
        return quantise(build_model(options, len(shifts), state), shifts)

    def sha_prefix(self) -> bytes:
        return bytes.fromhex(self.load()[1].sha256)[:SHA_PREFIX]
