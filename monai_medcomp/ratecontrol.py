"""One way to ask any codec for a target: its own quality setting, a bit rate, a PSNR or a max error.

``choose_params`` turns a :class:`Target` into codec parameters and returns the encoded volume.
Codecs only describe their quality knob (:class:`~monai_medcomp.codecs.base.Knob`: range, integer or
not, whether higher is better); the search here relies on rate and quality moving one way along it:

* ``quality`` sets the knob directly;
* ``max_error`` uses the codec's near-lossless mode when it has one (exact by construction), the
  lossless default for a lossless codec without a knob, else searches the knob for the cheapest
  setting whose *measured* error is within the bound on every voxel, so the bound always holds;
* ``bpp`` (file bytes of the whole container) is met within 5 % and ``psnr`` within 0.2 dB by an
  interpolation search over the knob (regula falsi, log scale for wide positive float ranges), every
  step one full encode (and, for PSNR, one decode).  When integer steps jump over the window, the
  closest setting on the safe side (rate at or below, PSNR at or above) is kept, with a warning.

The encoded header records what was asked and reached: ``header.extra["target"]``.  With ``progress``
each pass prints one line to stderr (the setting tried and what it gave) instead of a progress bar per encode.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import warnings
from typing import Any, Callable

import numpy as np

from .codecs import Codec, Knob
from .engine import EncodedVolume, decode_chunks, encode_volume
from .errors import CodecError, MedCompError, RateControlError
from .metrics import max_abs_error, psnr
from .volume import Volume

TARGET_KINDS = ("quality", "bpp", "psnr", "max_error")
BPP_TOLERANCE = 0.05  # relative
PSNR_TOLERANCE = 0.2  # dB
MAX_TRIALS = 12  # full encodes per search, both ends of the knob included
MAX_ERROR_RESOLUTION = 1 / 32  # of a float knob's range: where the max-error search stops
MAX_INTEGER_STEPS = 256  # wider integer knobs are searched over this many log-spaced values
ZERO_KNOB_FLOOR = 1e-4  # log-scaled float knobs that start at 0 search down to this fraction of their top
INTERPOLATION_GUARD = 0.1  # each step lands in the middle 80 % of the bracket, so it always shrinks


@dataclasses.dataclass(frozen=True)
class Target:
    """What the user asked for: ``kind`` is one of :data:`TARGET_KINDS`."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise MedCompError(f"unknown target {self.kind!r}; choose one of {', '.join(TARGET_KINDS)}")
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise MedCompError(f"target {self.kind} must be a number, got {self.value!r}") from None
        if not math.isfinite(value):
            raise MedCompError(f"target {self.kind} must be a finite number, got {self.value!r}")
        if self.kind in ("bpp", "psnr") and value <= 0:
            raise MedCompError(f"target {self.kind} must be positive, got {self.value!r}")
        if self.kind == "max_error" and (value < 0 or value != int(value)):
            raise MedCompError(f"target max_error must be a non-negative integer, got {self.value!r}")
        object.__setattr__(self, "value", int(value) if self.kind == "max_error" else value)

    @classmethod
    def from_options(cls, quality: float | None = None, bpp: float | None = None, psnr: float | None = None,
                     max_error: int | None = None) -> "Target | None":
        """The one target among the options that are set, or None; two or more is an error."""
        given = {kind: value for kind, value in zip(TARGET_KINDS, (quality, bpp, psnr, max_error))
                 if value is not None}
        if len(given) > 1:
            raise MedCompError(f"give at most one target, got {', '.join(given)}")
        return cls(*next(iter(given.items()))) if given else None


@dataclasses.dataclass
class _Trial:
    """One full encode at one knob position, with what was measured on it."""

    position: float
    params: dict[str, Any]
    encoded: EncodedVolume
    bpp: float
    score: float = math.nan  # PSNR in dB or max error, when measured


class _Axis:
    """Positions along a knob: 0 is its lowest quality, ``top`` its highest.

    Integer knobs are searched over a list of values (``top`` = its last index): every integer of a
    narrow range, else :data:`MAX_INTEGER_STEPS` values spaced on a log scale.  Float knobs span
    [0, 1], log-scaled when the range spans a decade or more (distances, rates) unless the knob says it is
    linear; a range starting at 0 (often "lossless") is log-scaled from :data:`ZERO_KNOB_FLOOR` of its top,
    0 itself at the end.
    """

    def __init__(self, knob: Knob):
        self.knob = knob
        if knob.integer:
            values = self.integer_values(int(knob.low), int(knob.high))
            self.values = values if knob.higher_is_better else values[::-1]
            self.top = len(values) - 1
        else:
            self.top = 1.0
            self.floor = knob.high * ZERO_KNOB_FLOOR if knob.low == 0 and knob.high > 0 else knob.low
            self.log = not knob.linear and self.floor > 0 and knob.high / self.floor >= 10

    @staticmethod
    def integer_values(low: int, high: int) -> list[int]:
        if high - low < MAX_INTEGER_STEPS:
            return list(range(low, high + 1))
        start = max(low, 1)
        spaced = np.unique(np.round(np.geomspace(start, high, MAX_INTEGER_STEPS)).astype(int))
        return list(range(low, start)) + [int(v) for v in spaced]

    def value(self, position: float) -> float | int:
        if self.knob.integer:
            return self.values[int(position)]
        fraction = position if self.knob.higher_is_better else 1.0 - position  # 0 at the knob's low end
        if self.log and fraction > 0:
            return self.knob.clip(self.floor * (self.knob.high / self.floor) ** fraction)
        return self.knob.clip(self.knob.low + fraction * (self.knob.high - self.knob.low))

    def between(self, low: float, high: float, fraction: float, resolution: float = 0.0) -> float | None:
        """A new position strictly inside (low, high) at about ``fraction`` of the way, or None if none is left."""
        fraction = min(max(fraction, INTERPOLATION_GUARD), 1.0 - INTERPOLATION_GUARD)
        if self.knob.integer:
            if high - low <= 1:
                return None
            return min(max(round(low + fraction * (high - low)), low + 1), high - 1)
        if high - low <= max(resolution, 1e-6):
            return None
        return low + fraction * (high - low)


class _Search:
    """Encodes the volume with given parameters, or at knob positions (each value once), and measures it."""

    def __init__(self, codec: Codec, volume: Volume, measure: Callable[[np.ndarray], float] | None,
                 engine_options: dict[str, Any], target: Target | None = None):
        self.codec = codec
        self.volume = volume
        self.measure = measure
        # progress is one line per pass (report), not a bar per encode that restarts from 0 at every pass
        self.report = bool(engine_options.get("progress"))
        self.engine_options = {**engine_options, "progress": False}
        self.target = target
        self.axis = _Axis(codec.knob) if codec.knob is not None else None
        self.trials: dict[Any, _Trial] = {}
        self.encodes = 0

    def run(self, params: dict[str, Any], position: float = math.nan) -> _Trial:
        self.encodes += 1
        encoded = encode_volume(self.volume, self.codec, params, **self.engine_options)
        if self.target is not None and self.target.kind == "bpp":
            # measured with a record of the size the final one will have: on a small image its bytes count
            encoded.header.extra["target"] = {"kind": "bpp", "value": self.target.value,
                                              "achieved": round(self.target.value + 1 / 3, 6), "encodes": self.encodes}
        trial = _Trial(position, params, encoded, container_bpp(encoded))
        if self.measure is not None:
            trial.score = self.measure(decode_in_memory(encoded, self.codec, self.engine_options))
        if self.report:
            print(f"{self.codec.name} pass {self.encodes}: {self.describe(trial)}", file=sys.stderr, flush=True)
        return trial

    def describe(self, trial: _Trial) -> str:
        """``quality=50 -> 0.171 bpp, 50.07 dB``: the setting tried and what it gave."""
        knob = self.codec.knob
        setting = (self.setting(trial) if knob is not None and knob.name in trial.params
                   else json.dumps(trial.params))
        measured = {"psnr": ", lossless" if math.isinf(trial.score) else f", {trial.score:.2f} dB",
                    "max_error": f", max error {trial.score:g}"}
        return f"{setting} -> {trial.bpp:.3f} bpp{measured.get(self.target.kind, '') if self.target else ''}"

    def at(self, position: float) -> _Trial:
        value = self.axis.value(position)
        if value not in self.trials:
            self.trials[value] = self.run(self.codec.with_knob(value), position)
        return self.trials[value]

    @property
    def exhausted(self) -> bool:
        return len(self.trials) >= MAX_TRIALS

    def setting(self, trial: _Trial) -> str:
        name = self.codec.knob.name
        return f"{name}={trial.params[name]:g}"


def container_bpp(encoded: EncodedVolume) -> float:
    """Bits per pixel of the complete ``.mcz`` file (header, index and metadata included)."""
    return len(encoded.to_bytes()) * 8 / encoded.num_pixels


def decode_in_memory(encoded: EncodedVolume, codec: Codec, engine_options: dict[str, Any]) -> np.ndarray:
    """Decode an encoding that was never written, back to the volume's dtype."""
    return decode_chunks(encoded.header, encoded.chunks.__getitem__, codec, **engine_options)


def _require_knob(codec: Codec, target: Target) -> Knob:
    if codec.knob is None:
        raise RateControlError(f"codec {codec.name!r} has no quality setting to reach a {target.kind} target "
                               f"(it is {codec.capabilities()} only); use it without a target")
    return codec.knob


def _record(search: _Search, trial: _Trial, target: Target, achieved: Any, note: str | None = None,
            warn: bool = False) -> EncodedVolume:
    """Write what was asked and reached into the header; warn when the target was missed."""
    record: dict[str, Any] = {"kind": target.kind, "value": target.value, "achieved": achieved,
                              "encodes": search.encodes}
    if note:
        record["note"] = note
        if warn:
            warnings.warn(note, stacklevel=3)
    trial.encoded.header.extra["target"] = record
    if target.kind == "bpp":
        # The record itself adds header bytes, so its value is settled on the final file (a value whose
        # digits compress one byte differently can leave it one byte off).
        for _ in range(4):
            final = round(container_bpp(trial.encoded), 6)
            if final == record["achieved"]:
                break
            record["achieved"] = final
    return trial.encoded


def _by_quality(search: _Search, target: Target) -> EncodedVolume:
    knob = _require_knob(search.codec, target)
    if not knob.low <= target.value <= knob.high:
        raise RateControlError(f"quality {target.value:g} is outside codec {search.codec.name!r}'s {knob.name} "
                               f"range {knob.low:g} to {knob.high:g}")
    params = search.codec.with_knob(target.value)
    return _record(search, search.run(params), target, params[knob.name])


def _by_max_error(search: _Search, target: Target) -> EncodedVolume:
    codec, bound = search.codec, int(target.value)
    lossless_default = codec.is_lossless(codec.default_params())
    if codec.near_lossless:
        trial = search.run(codec.with_max_error(bound))
    elif lossless_default and (bound == 0 or codec.knob is None):
        trial = search.run(codec.default_params())
    else:
        return _search_max_error(search, target, bound, lossless_default)
    if trial.score > bound:
        raise CodecError(f"codec {codec.name!r} broke its max-error guarantee: {trial.score:g} > {bound}")
    return _record(search, trial, target, int(trial.score))


def _search_max_error(search: _Search, target: Target, bound: int, lossless_default: bool) -> EncodedVolume:
    """The cheapest setting whose measured max error is within ``bound``: knob bisection, or lossless."""
    codec = search.codec
    _require_knob(codec, target)
    best = search.at(search.axis.top)
    if best.score <= bound:
        _bisect_max_error(search, bound)
    elif not lossless_default:
        raise RateControlError(f"codec {codec.name!r} cannot guarantee max error {bound} on this image: its "
                               f"best setting {search.setting(best)} gives {best.score:g}")
    candidates = list(search.trials.values())
    if lossless_default:  # at small bounds lossless is often cheaper than any lossy setting that passes
        candidates.append(search.run(codec.default_params()))
    chosen = min((t for t in candidates if t.score <= bound), key=lambda t: t.bpp)
    return _record(search, chosen, target, int(chosen.score))


def _bisect_max_error(search: _Search, bound: int) -> None:
    """Narrow down the lowest knob position that passes, knowing that the top one does."""
    failing, passing = 0, search.axis.top
    if search.at(0).score <= bound:
        return
    while not search.exhausted:
        position = search.axis.between(failing, passing, 0.5, MAX_ERROR_RESOLUTION)
        if position is None:
            return
        if search.at(position).score <= bound:
            passing = position
        else:
            failing = position


@dataclasses.dataclass(frozen=True)
class _Goal:
    """How a bpp or PSNR target is judged: the measured value, the window, the side to miss on."""

    value: Callable[[_Trial], float]
    low: float  # the acceptable window [low, high]
    high: float
    preferred_low: float  # [preferred_low, high] is good enough to stop searching
    aim: float  # where interpolation aims
    scale: Callable[[float], float]  # interpolation is linear in scale(value)
    safe_side: Callable[[float], bool]  # when the window is missed, the closest value on this side wins
    unit: str

    def accepts(self, trial: _Trial) -> bool:
        return self.low <= self.value(trial) <= self.high

    def prefers(self, trial: _Trial) -> bool:
        return self.preferred_low <= self.value(trial) <= self.high

    def offset(self, trial: _Trial) -> float:
        """Signed distance of a trial from the aim, in the interpolation scale."""
        with np.errstate(all="ignore"):
            return float(self.scale(self.value(trial))) - float(self.scale(self.aim))


def _bpp_goal(target: Target) -> _Goal:
    low, high = target.value * (1 - BPP_TOLERANCE), target.value * (1 + BPP_TOLERANCE)
    return _Goal(value=lambda t: t.bpp, low=low, high=high, preferred_low=low, aim=target.value, scale=math.log,
                 safe_side=lambda v: v <= target.value, unit="bpp")


def _psnr_goal(target: Target) -> _Goal:
    return _Goal(value=lambda t: t.score, low=target.value - PSNR_TOLERANCE, high=target.value + PSNR_TOLERANCE,
                 preferred_low=target.value, aim=target.value + PSNR_TOLERANCE / 2, scale=float,
                 safe_side=lambda v: v >= target.value, unit="dB")


def _search_value(search: _Search, target: Target, goal: _Goal) -> EncodedVolume:
    """Check that the knob's two ends bracket the goal, narrow down between them, keep the best trial."""
    codec = search.codec
    _require_knob(codec, target)
    worst, best = search.at(0), search.at(search.axis.top)
    if goal.value(worst) > goal.high or goal.value(best) < goal.low:
        raise RateControlError(f"{target.kind} {target.value:g} is out of reach for codec {codec.name!r} on this "
                               f"image: its {codec.knob.name} range gives {goal.value(worst):.4g} to "
                               f"{goal.value(best):.4g} {goal.unit}")
    _interpolate(search, goal, worst, best)
    trials = list(search.trials.values())
    for pool in ([t for t in trials if goal.prefers(t)], [t for t in trials if goal.accepts(t)]):
        if pool:
            chosen = min(pool, key=lambda t: abs(goal.value(t) - goal.aim))
            return _record(search, chosen, target, goal.value(chosen))
    chosen = min((t for t in trials if goal.safe_side(goal.value(t))), key=lambda t: abs(goal.value(t) - target.value))
    note = (f"codec {codec.name!r} cannot reach {target.kind} {target.value:g} within tolerance with its "
            f"{codec.knob.name} settings; closest on the safe side: {search.setting(chosen)}, "
            f"{goal.value(chosen):.4g} {goal.unit}")
    return _record(search, chosen, target, goal.value(chosen), note, warn=True)


def _interpolate(search: _Search, goal: _Goal, low: _Trial, high: _Trial) -> None:
    """Regula falsi (Illinois variant) between two trials until one is preferred or no setting is left."""
    below, above = goal.offset(low), goal.offset(high)  # <= 0 and >= 0 while the curve is monotonic
    moved = ""
    while not search.exhausted and not any(goal.prefers(t) for t in search.trials.values()):
        gap = below - above
        fraction = below / gap if math.isfinite(gap) and gap != 0 else 0.5
        position = search.axis.between(low.position, high.position, fraction)
        if position is None:
            return
        trial = search.at(position)
        offset = goal.offset(trial)
        side = "low" if offset < 0 else "high"
        if side == moved:  # an end kept twice counts half, so the bracket closes from both sides
            if side == "low":
                above /= 2
            else:
                below /= 2
        if side == "low":
            low, below = trial, offset
        else:
            high, above = trial, offset
        moved = side


def choose_params(codec: Codec, volume: Volume, target: Target, *, device: Any = None, batch_size: int = 16,
                  workers: int | None = None, progress: bool = False) -> EncodedVolume:
    """Encode ``volume`` with ``codec`` at the parameters that meet ``target``; raise RateControlError if none can."""
    engine_options = dict(device=device, batch_size=batch_size, workers=workers, progress=progress)
    measures: dict[str, Callable[[np.ndarray], float]] = {
        "psnr": lambda array: psnr(volume.array, array, bits_stored=volume.bits_stored),
        "max_error": lambda array: max_abs_error(volume.array, array),
    }
    search = _Search(codec, volume, measures.get(target.kind), engine_options, target)
    if target.kind == "quality":
        return _by_quality(search, target)
    if target.kind == "max_error":
        return _by_max_error(search, target)
    goal = _bpp_goal(target) if target.kind == "bpp" else _psnr_goal(target)
    return _search_value(search, target, goal)
