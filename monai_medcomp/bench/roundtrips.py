"""Property round trips: lossless codecs return every bit, near-lossless codecs keep their bound.

    python -m monai_medcomp.bench.roundtrips --cases 10000 --seed 0 --out benchmarks

Random volumes from one hypothesis strategy (:func:`volume_specs`) go through ``api.compress`` and
``api.decompress`` as a user's image does.  Two properties are checked:

* every codec whose default parameters are lossless returns the volume bit for bit (dtype, shape,
  values and stored bit depth);
* every near-lossless codec, asked for ``max_error=D`` with D in 1..8, keeps |error| <= D.

A case that ends in ``UnsupportedDataError`` is a documented refusal of a format the codec does not
take: it is counted as refused, not as a failure.  Anything else (another exception, a different
dtype, shape or pixel) is a failure, reported with the volume's specification, from which
``VolumeSpec(**spec).array()`` rebuilds the exact volume.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import multiprocessing
import time
from typing import Any, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from .. import api
from ..codecs import codec_names, get_codec
from ..errors import UnsupportedDataError
from ..volume import SUPPORTED_DTYPES, Volume
from .report import markdown_table, provenance, report_paths, run_description, write_report

PATTERNS = ("noise", "smooth", "constant", "two-level", "checker", "sparse")
MAX_SIDE = 48
MAX_SLICES = 3
MAX_ERRORS = range(1, 9)
DEFAULT_CASES = 10_000
COMMAND = "python -m monai_medcomp.bench.roundtrips --cases {cases} --seed {seed} --out {out}"


@dataclasses.dataclass(frozen=True)
class VolumeSpec:
    """A random volume as a few plain numbers: what a failure reports, and all it takes to rebuild it.

    Values lie in ``[low, low + 2**bits - 1]``; ``pattern`` says how they fill that range (the engine
    finds a depth of ``bits`` where both ends are used, less where they are not, e.g. a constant image).
    """

    dtype: str
    slices: int
    rows: int
    cols: int
    channels: int
    bits: int
    low: int
    pattern: str
    seed: int

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.slices, self.rows, self.cols) + ((3,) if self.channels == 3 else ())

    def array(self) -> np.ndarray:
        top = (1 << self.bits) - 1
        return (self._offsets(top) + self.low).astype(self.dtype)

    def _offsets(self, top: int) -> np.ndarray:
        """Values in ``[0, top]``: noise, a ramp, one value, the two ends at random or alternating, or spikes."""
        rng = np.random.default_rng(self.seed)
        if self.pattern == "noise":
            return rng.integers(0, top, self.shape, endpoint=True)
        if self.pattern == "smooth":
            grid = np.indices(self.shape).sum(axis=0) / max(1, sum(self.shape) - len(self.shape))
            return np.clip(np.round(grid * top + rng.normal(0, 1, self.shape)), 0, top).astype(np.int64)
        if self.pattern == "constant":
            return np.full(self.shape, rng.integers(0, top, endpoint=True))
        if self.pattern == "two-level":
            return rng.integers(0, 1, self.shape, endpoint=True) * top
        if self.pattern == "checker":
            return (np.indices(self.shape).sum(axis=0) % 2) * top
        return np.where(rng.random(self.shape) < 0.02, top, 0)  # sparse: a few spikes on zero

    def volume(self) -> Volume:
        array = self.array()
        return Volume(array, bits_stored=stored_bits(array))


def stored_bits(array: np.ndarray) -> int:
    """The smallest Bits Stored that holds every value (two's complement for signed data)."""
    low, high = int(array.min()), int(array.max())
    if array.dtype.kind == "u":
        return max(1, high.bit_length())
    return max(1, max(high, -low - 1).bit_length() + 1)


@st.composite
def volume_specs(draw: st.DrawFn, max_side: int = MAX_SIDE, max_slices: int = MAX_SLICES) -> VolumeSpec:
    """Volumes of every supported dtype and true depth, grey or RGB, 1..``max_slices`` slices of 1 to
    ``max_side`` pixels a side, placed at the bottom or top of their dtype, at zero, across zero or anywhere."""
    dtype = draw(st.sampled_from(SUPPORTED_DTYPES))
    info = np.iinfo(dtype)
    bits = draw(st.sampled_from(range(1, info.bits + 1)))  # uniform: integers() draws its minimum a third of the time
    lowest, highest = int(info.min), int(info.max) - ((1 << bits) - 1)
    anchors = sorted({min(max(low, lowest), highest) for low in (lowest, highest, 0, -(1 << (bits - 1)))})
    low = draw(st.one_of(st.sampled_from(anchors), st.integers(lowest, highest)))
    # Sides: as often tiny (integers() favours 1) as in the upper half of the range.
    side = st.one_of(st.integers(1, max_side), st.sampled_from(range(max(1, max_side // 2), max_side + 1)))
    return VolumeSpec(dtype=dtype, slices=draw(st.integers(1, max_slices)), rows=draw(side), cols=draw(side),
                      channels=draw(st.sampled_from([1, 3])), bits=bits, low=low,
                      pattern=draw(st.sampled_from(PATTERNS)), seed=draw(st.integers(0, 2**32 - 1)))


def lossless_codecs() -> list[str]:
    """Every available codec whose default parameters are lossless."""
    codecs = [get_codec(name) for name in codec_names()]
    return [codec.name for codec in codecs if codec.available and codec.is_lossless(codec.default_params())]


def near_lossless_codecs() -> list[str]:
    """Every available codec that guarantees ``--max-error`` by construction."""
    codecs = [get_codec(name) for name in codec_names()]
    return [codec.name for codec in codecs if codec.near_lossless and codec.available]


def round_trip_failure(codec: str, spec: VolumeSpec, max_error: int | None = None) -> str | None:
    """What went wrong in one round trip (None when the property held).

    Lossless when ``max_error`` is None, else within ``max_error``.  ``UnsupportedDataError``
    propagates: it is the codec's documented refusal, which the caller counts apart.
    """
    volume = spec.volume()
    try:
        result = api.compress(volume, codec=codec, max_error=max_error, workers=1)
        decoded = api.decompress(result.data, workers=1)
    except UnsupportedDataError:
        raise
    except Exception as error:  # anything but a documented refusal is a failure to report
        return f"{type(error).__name__}: {error}"
    return compare(volume, decoded, max_error or 0)


def compare(original: Volume, decoded: Volume, max_error: int) -> str | None:
    """The first difference that breaks the property, in words."""
    if decoded.dtype != original.dtype or decoded.array.shape != original.array.shape:
        return f"decoded {decoded.dtype} {decoded.array.shape}, expected {original.dtype} {original.array.shape}"
    if decoded.bits_stored != original.bits_stored:
        return f"decoded bits_stored {decoded.bits_stored}, expected {original.bits_stored}"
    error = np.abs(decoded.array.astype(np.int64) - original.array.astype(np.int64))
    if error.max() > max_error:
        where = tuple(int(i) for i in np.unravel_index(int(error.argmax()), error.shape))
        return (f"{int((error > max_error).sum())} pixels off by more than {max_error}, the worst by "
                f"{int(error.max())} at {where}: {int(decoded.array[where])} for {int(original.array[where])}")
    return None


@dataclasses.dataclass
class PropertyTally:
    """Cases run, refusals (message -> count) and failures of one codec and one property."""

    cases: int = 0
    seconds: float = 0.0
    refused: dict[str, int] = dataclasses.field(default_factory=dict)
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def record(self, codec: str, spec: VolumeSpec, max_error: int | None) -> None:
        self.cases += 1
        start = time.perf_counter()
        try:
            failure = round_trip_failure(codec, spec, max_error)
        except UnsupportedDataError as refusal:
            self.refused[str(refusal)] = self.refused.get(str(refusal), 0) + 1
            failure = None
        self.seconds += time.perf_counter() - start
        if failure is not None:
            self.failures.append({"spec": dataclasses.asdict(spec), "max_error": max_error, "failure": failure})


def run_property(codec: str, cases: int, seed: int, max_error: bool = False) -> PropertyTally:
    """``cases`` round trips of ``codec`` over volumes drawn by hypothesis from ``seed``; every case is
    recorded (none stops the run), so the tally counts failures rather than shrinking the first."""
    tally = PropertyTally()
    bounds = st.sampled_from(MAX_ERRORS) if max_error else st.none()

    @hypothesis_seed(seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(volume_specs(), bounds)
    def case(spec: VolumeSpec, bound: int | None) -> None:
        tally.record(codec, spec, bound)

    case()
    return tally


def _property_job(job: tuple[str, str, int, int]) -> dict[str, Any]:
    name, prop, cases, seed = job
    return dataclasses.asdict(run_property(name, cases, seed, max_error=prop == "max_error"))


def run_roundtrips(cases_per_codec: int, seed: int, codecs: Sequence[str] | None = None,
                   cases_for: dict[str, int] | None = None, workers: int = 1) -> dict[str, Any]:
    """Both properties over every codec they apply to (or the ``codecs`` named): per codec and property,
    cases run, refusals, failures with their reproducing volume, and the time taken.  ``cases_for``
    gives a codec a count of its own; ``workers`` processes share the (codec, property) runs."""
    cases_for = cases_for or {}
    jobs = [(name, prop, cases_for.get(name, cases_per_codec), seed)
            for prop, names in (("lossless", lossless_codecs()), ("max_error", near_lossless_codecs()))
            for name in names if codecs is None or name in codecs]
    if workers > 1:
        # The learned codecs, registered last, are the slowest runs: start them first.
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {job: pool.submit(_property_job, job) for job in reversed(jobs)}
            tallies = [futures[job].result() for job in jobs]
    else:
        tallies = [_property_job(job) for job in jobs]
    results: dict[str, Any] = {}
    for (name, prop, _, _), tally in zip(jobs, tallies):
        results.setdefault(name, {})[prop] = tally
    return {"seed": seed, "cases_per_codec": cases_per_codec, "cases_for": cases_for, "codecs": results,
            "cases": sum(p["cases"] for r in results.values() for p in r.values()),
            "failures": sum(len(p["failures"]) for r in results.values() for p in r.values())}


def _exceptions(cases_for: dict[str, int]) -> str:
    return "".join(f" ({name}: {cases})" for name, cases in sorted(cases_for.items()))


def _cases_for(pairs: Sequence[str]) -> dict[str, int]:
    counts = {}
    for pair in pairs:
        name, _, cases = pair.partition("=")
        if not cases.isdigit() or int(cases) < 1:
            raise SystemExit(f"--cases-for expects CODEC=N with N >= 1, got {pair!r}")
        counts[name] = int(cases)
    return counts


def markdown(report: dict[str, Any]) -> str:
    rows = [[name, prop, p["cases"], sum(p["refused"].values()), len(p["failures"]), p["seconds"],
             1000 * p["seconds"] / max(1, p["cases"])]
            for name, props in report["codecs"].items() for prop, p in props.items()]
    lines = [f"# Property round trips\n\n{provenance(report['run'])}\n", __doc__.split("\n\n", 2)[2].strip(),
             f"\n\nSeed {report['seed']}, {report['cases_per_codec']} cases per codec and property"
             f"{_exceptions(report.get('cases_for') or {})}: "
             f"{report['cases']} cases, {report['failures']} failures.\n\n",
             markdown_table(["codec", "property", "cases", "refused", "failures", "seconds", "ms per case"], rows)]
    refusals = [(name, prop, message, count) for name, props in report["codecs"].items()
                for prop, p in props.items() for message, count in p["refused"].items()]
    if refusals:
        lines += ["\n## Refusals\n\n", markdown_table(["codec", "property", "message", "cases"], refusals)]
    failures = [(name, prop, f["max_error"], f["failure"].replace("|", "/"), f"`{f['spec']}`")
                for name, props in report["codecs"].items() for prop, p in props.items() for f in p["failures"]]
    if failures:
        lines += ["\n## Failures\n\nRebuild a volume with `VolumeSpec(**spec).array()`.\n\n",
                  markdown_table(["codec", "property", "max_error", "failure", "spec"], failures)]
    return "".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases per codec and property")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--codecs", nargs="*", help="only these codecs (default: every one a property applies to)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the (codec, property) runs")
    parser.add_argument("--cases-for", action="append", default=[], metavar="CODEC=N",
                        help="another case count for one codec (repeatable), e.g. mlp-huffman=1000")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error(f"--cases must be at least 1, not {args.cases}")
    unchecked = set(args.codecs or ()) - set(lossless_codecs()) - set(near_lossless_codecs())
    if unchecked:
        parser.error(f"no property applies to {', '.join(sorted(unchecked))} (not lossless by default, "
                     "not near-lossless, or not available)")
    paths = report_paths(args.out, "roundtrips", args.force)
    command = COMMAND.format(cases=args.cases, seed=args.seed, out=args.out)
    if args.codecs:
        command += f" --codecs {' '.join(args.codecs)}"
    command += "".join(f" --cases-for {pair}" for pair in args.cases_for)
    if args.workers > 1:
        command += f" --workers {args.workers}"
    run_info = run_description(command)
    report = {"run": run_info, **run_roundtrips(args.cases, args.seed, args.codecs, _cases_for(args.cases_for),
                                                args.workers)}
    write_report(paths, report, markdown(report), args.force)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
