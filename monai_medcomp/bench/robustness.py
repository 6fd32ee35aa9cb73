"""The robustness campaign: damaged and crafted ``.mcz`` files must end in a MedCompError or the right pixels.

    python -m monai_medcomp.bench.robustness --cases 50000 --out benchmarks

Every case (``fuzzing.make_case``: a codec, a kind of damage, a seed) is written to a file in a fresh
folder and read back through ``api.info`` and ``api.decompress``; a quarter of the cases, and every
metadata case, also write the decoded image (a DICOM series folder, ``.nii.gz`` or ``.png``) into an
output folder.  Cases run in worker processes, each with its address space capped (``--memory-gib``
above what the worker holds once warmed up) and a time limit per case (``--timeout``), so a hang or a
crash is one bad case, not the end of the campaign.

Outcomes.  Good: ``refused`` (a MedCompError), ``exact`` (the original pixels; for a lossy file, the
undamaged file's decode).  Not damage: ``rewritten``, a file changed consistently with every check its
format version keeps (a version-1 chunk swap, a lossy chunk altered with its CRC recomputed, a plausible
new offset): a different valid file that decodes to what it says.  Bad: ``traceback`` (any other
exception), ``wrong-pixels`` (other pixels without an error where the format can tell), ``escape`` (a
file written or left outside the output, or the input changed), ``memory`` (a MemoryError, however
wrapped), ``hang`` (over the time limit), ``crash`` (the worker died).  Each bad case is listed with
the command that replays it.  The report also gives the property round trips of
``bench.roundtrips.run_roundtrips`` (``--roundtrip-cases`` per codec).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import multiprocessing
import multiprocessing.connection
import resource
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .. import api
from ..errors import MedCompError
from . import fuzzing
from .report import markdown_table, provenance, report_paths, run_description, write_report

GOOD = ("refused", "exact")
NEUTRAL = ("rewritten",)
BAD = ("traceback", "wrong-pixels", "escape", "memory", "hang", "crash")
OUTCOMES = GOOD + NEUTRAL + BAD
DEFAULT_CASES = 50_000
DEFAULT_ROUNDTRIPS = 10_000
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_GIB = 2.0
DEFAULT_WORKERS = 2
START_TIMEOUT = 600.0  # spawning a worker: imports, the sources, one decode per codec
REPLAY = "python -m monai_medcomp.bench.robustness --replay {codec} {kind} {seed}"
COMMAND = "python -m monai_medcomp.bench.robustness --out {out}"
MESSAGE_LIMIT = 240


@dataclasses.dataclass(frozen=True)
class Spec:
    """A case by its name: enough to rebuild it anywhere."""

    codec: str
    kind: str
    seed: int

    @property
    def replay(self) -> str:
        return REPLAY.format(codec=self.codec, kind=self.kind, seed=self.seed)


# --- one case, inside a worker ----------------------------------------------------------------------------

def _one_line(error: BaseException) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + "..."


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _failure(error: BaseException) -> tuple[str, str, str | None]:
    """outcome, message and (for a traceback) the trace of an exception a reader raised."""
    if any(isinstance(e, MemoryError) for e in _chain(error)):
        return "memory", _one_line(error), None
    if isinstance(error, MedCompError):
        return "refused", _one_line(error), None
    return "traceback", _one_line(error), "".join(traceback.format_exception(error))


def _pixels(case: fuzzing.Case, array: np.ndarray) -> tuple[str, str]:
    expected = case.source.expected
    if array.dtype == expected.dtype and array.shape == expected.shape and np.array_equal(array, expected):
        return "exact", ""
    what = (f"decoded {array.dtype.name} {array.shape}, expected {expected.dtype.name} {expected.shape}"
            + ("" if array.shape != expected.shape else f", {int(np.sum(array != expected))} pixels differ"))
    return ("wrong-pixels" if case.detectable else "rewritten"), what


def _escapes(sandbox: Path, source: Path, data: bytes, target: Path | None) -> list[str]:
    """Everything in the sandbox but the input, the output folders and the output itself (a folder's own
    plain files), and an input that changed."""
    allowed = {source, sandbox / "a", sandbox / "a" / "b", sandbox / "a" / "b" / "out"}
    found = []
    for path in sorted(sandbox.rglob("*")):
        inside = target is not None and (path == target or (target.is_dir() and path.parent == target
                                                            and path.is_file() and not path.is_symlink()))
        if path not in allowed and not inside:
            found.append(str(path.relative_to(sandbox)))
    if not source.is_file() or source.read_bytes() != data:
        found.append("the input file changed")
    return found


def _attempt(action: str, call: Any, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any] | None]:
    """``call``'s result, or None and the record of what it raised."""
    try:
        return call(*args, **kwargs), None
    except Exception as error:  # noqa: BLE001 - classifying what a reader raises is the point
        outcome, message, trace = _failure(error)
        return None, {"outcome": outcome, "message": f"{action}: {message}", "trace": trace}


def _read(case: fuzzing.Case, source: Path, target: Path | None) -> dict[str, Any]:
    """``info``, ``decompress`` (its pixels checked), then, for an output, ``decompress`` to it as a user
    would: a refusal to write is fine, pixels decoded wrongly before it are not."""
    _, failed = _attempt("info", api.info, source)
    if failed and failed["outcome"] != "refused":
        return failed
    volume, failed = _attempt("decompress", api.decompress, source, workers=1)
    if failed:
        return failed
    outcome, message = _pixels(case, volume.array)
    if target is not None:
        _, failed = _attempt("write", api.decompress, source, target, workers=1)
        if failed and failed["outcome"] != "refused":
            return failed
    return {"outcome": outcome, "message": message, "trace": None}


def run_case(spec: Spec, root: Path) -> dict[str, Any]:
    """Build the case in a fresh sandbox under ``root``, read it, and say what happened."""
    sandbox = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    try:
        case = fuzzing.make_case(spec.codec, spec.kind, spec.seed, sandbox)
        source = sandbox / "input.mcz"
        source.write_bytes(case.data)
        (sandbox / "a" / "b" / "out").mkdir(parents=True)
        target = sandbox / "a" / "b" / "out" / fuzzing.OUTPUTS[case.output] if case.output else None
        start = time.perf_counter()
        result = _read(case, source, target)
        seconds = time.perf_counter() - start
        escaped = _escapes(sandbox, source, case.data, target)
        if escaped:
            result = {"outcome": "escape", "message": f"outside the output: {', '.join(escaped)[:MESSAGE_LIMIT]}",
                      "trace": None}
        record = {**dataclasses.asdict(spec), "source": case.source.name, "version": case.version,
                  "note": case.note, "output": case.output, "seconds": round(seconds, 4), **result}
        return {key: value.replace(str(sandbox), "CASE") if isinstance(value, str) else value
                for key, value in record.items()}
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _warm_up(codecs: Iterable[str]) -> None:
    """Import, load weights and build every source before the memory cap: a case pays for itself only."""
    import torch

    torch.set_num_threads(1)
    for codec in codecs:
        api.decompress(fuzzing.sources(codec)[0].data, workers=1)


def _worker(connection: multiprocessing.connection.Connection, codecs: Sequence[str], root: str,
            memory: int) -> None:
    _warm_up(codecs)
    limit = _address_space() + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    connection.send("ready")
    while (spec := connection.recv()) is not None:
        connection.send(run_case(spec, Path(root)))


# --- the pool of workers ------------------------------------------------------------------------------------

class _Slot:
    """One worker process and the case it runs."""

    def __init__(self, context: Any, codecs: Sequence[str], root: Path, memory: int):
        self._start_args = (context, codecs, root, memory)
        self.spec: Spec | None = None
        self.started = 0.0
        self.spawn()

    def spawn(self) -> None:
        context, codecs, root, memory = self._start_args
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, list(codecs), str(root), memory), daemon=True)
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        try:
            ready = self.connection.poll(START_TIMEOUT) and self.connection.recv() == "ready"
        except EOFError:
            ready = False
        if not ready:
            raise RuntimeError(f"a robustness worker did not start (exit code {self.process.exitcode})")

    def send(self, spec: Spec) -> None:
        self.spec, self.started = spec, time.monotonic()
        self.connection.send(spec)

    def lost(self, outcome: str, message: str) -> dict[str, Any]:
        """The record of a case whose worker hung or died; a new worker takes its place."""
        record = {**dataclasses.asdict(self.spec), "source": "?", "version": "?", "note": "?", "output": None,
                  "seconds": None, "outcome": outcome, "message": message, "trace": None}
        self.stop()
        self.spawn()
        self.wait_ready()
        self.spec = None
        return record

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


def run_cases(specs: Sequence[Spec], workers: int = DEFAULT_WORKERS, timeout: float = DEFAULT_TIMEOUT,
              memory_gib: float = DEFAULT_MEMORY_GIB, progress: bool = False) -> list[dict[str, Any]]:
    """Every case's record, in worker processes that a hang or a crash cannot take down with the campaign."""
    pending = collections.deque(specs)
    results: list[dict[str, Any]] = []
    shown = 0
    codecs = sorted({spec.codec for spec in specs})
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="medcomp-robustness-") as root:
        memory = int(memory_gib * (1 << 30))
        slots = [_Slot(context, codecs, Path(root), memory) for _ in range(min(workers, len(specs)))]
        try:
            for slot in slots:
                slot.wait_ready()
            while pending or any(slot.spec for slot in slots):
                for slot in slots:
                    if slot.spec is None and pending:
                        slot.send(pending.popleft())
                busy = [slot for slot in slots if slot.spec is not None]
                ready = multiprocessing.connection.wait([slot.connection for slot in busy], timeout=min(timeout, 0.2))
                for slot in busy:
                    if slot.connection in ready:
                        try:
                            results.append(slot.connection.recv())
                            slot.spec = None
                        except EOFError:
                            results.append(slot.lost("crash", f"the worker died (exit code {slot.process.exitcode})"))
                    elif time.monotonic() - slot.started > timeout:
                        results.append(slot.lost("hang", f"no result within {timeout:g} s"))
                if progress and len(results) >= shown + 500:
                    shown = len(results)
                    print(f"{shown} / {len(specs)} cases", flush=True)
        finally:
            for slot in slots:
                slot.stop()
    return results


def campaign_specs(codecs: Sequence[str], kinds: Sequence[str], per_codec_kind: int, seed: int) -> list[Spec]:
    """Seeds ``seed`` to ``seed + per_codec_kind - 1`` for every codec and kind, interleaved so that every
    codec is under way from the start."""
    return [Spec(codec, kind, seed + n) for n in range(per_codec_kind) for codec in codecs for kind in kinds]


def is_bad(record: dict[str, Any]) -> bool:
    return record["outcome"] in BAD


# --- the report ---------------------------------------------------------------------------------------------

def tally(records: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, int]]:
    """Outcome counts per value of ``keys`` (joined by " / ")."""
    table: dict[str, dict[str, int]] = {}
    for record in records:
        row = table.setdefault(" / ".join(str(record[k]) for k in keys), dict.fromkeys(("cases",) + OUTCOMES, 0))
        row["cases"] += 1
        row[record["outcome"]] += 1
    return table


def _outcome_table(first: str, table: dict[str, dict[str, int]]) -> str:
    return markdown_table([first, "cases", *OUTCOMES], [[name, *row.values()] for name, row in table.items()])


def _roundtrip_table(roundtrips: dict[str, Any]) -> str:
    """One row per codec and property; a failure's volume specification is what reproduces it."""
    rows = [[codec, prop, p["cases"], sum(p["refused"].values()), len(p["failures"]),
             "; ".join(f"{f['failure']} (max_error {f['max_error']}, spec {f['spec']})"
                       for f in p["failures"][:2]).replace("|", "/")[:MESSAGE_LIMIT] or None]
            for codec, props in roundtrips["codecs"].items() for prop, p in props.items()]
    return markdown_table(["codec", "property", "cases", "refused", "failures", "reproducing examples"], rows)


def _bad_lines(bad: Sequence[dict[str, Any]]) -> str:
    if not bad:
        return "None.\n"
    rows = [[r["outcome"], r["codec"], r["kind"], r["seed"], f"v{r.get('version', '?')} {r.get('source', '?')}",
             r.get("note", "").replace("|", "/")[:80], r["message"].replace("|", "/")[:160],
             f"`{Spec(r['codec'], r['kind'], r['seed']).replay}`"] for r in bad]
    return markdown_table(["outcome", "codec", "kind", "seed", "file", "case", "message", "replay"], rows)


def markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    bad = report["bad_cases"]
    seeds = report["settings"]
    lines = [f"# Robustness: damaged and crafted .mcz files\n\n{provenance(report['run'])}",
             __doc__.split("\n\n", 2)[2].strip() + "\n",
             f"{summary['cases']} cases ({seeds['per_codec_kind']} per codec and kind, seeds {seeds['seed']} to "
             f"{seeds['seed'] + seeds['per_codec_kind'] - 1}; case (codec, kind, seed) is replayed by "
             f"`{REPLAY.format(codec='CODEC', kind='KIND', seed='SEED')}`) in {summary['seconds']:.0f} s on "
             f"{seeds['workers']} workers "
             f"({summary['seconds_per_1000']:.0f} s per 1,000 cases), time limit {seeds['timeout']:g} s per case, "
             f"memory cap {seeds['memory_gib']:g} GiB per worker.\n",
             markdown_table(["outcome", "cases"], [[name, summary["outcomes"][name]] for name in OUTCOMES]),
             f"Target: at least {DEFAULT_CASES:,} cases and no bad outcome: "
             f"{'met' if summary['cases'] >= DEFAULT_CASES and not bad else 'not met'}.\n",
             "## By codec\n", _outcome_table("codec", report["by_codec"]),
             "## By kind\n", _outcome_table("kind", report["by_kind"]),
             "## By codec and kind\n", _outcome_table("codec / kind", report["by_codec_kind"]),
             "## By format version\n", _outcome_table("version", report["by_version"]),
             f"## Bad cases ({len(bad)})\n", _bad_lines(bad)]
    if report.get("roundtrips") is not None:
        roundtrips = report["roundtrips"]
        lines += [f"## Property round trips\n\n`run_roundtrips({roundtrips['cases_per_codec']}, "
                  f"{roundtrips['seed']})` (`python -m monai_medcomp.bench.roundtrips`): {roundtrips['cases']} "
                  f"cases, {roundtrips['failures']} failures.\n", _roundtrip_table(roundtrips)]
    else:
        lines += ["## Property round trips\n\nNot in this run (`--roundtrip-cases 0`): "
                  "`python -m monai_medcomp.bench.roundtrips` writes them to `roundtrips.md` beside this report.\n"]
    return "\n".join(lines)


def build_report(records: Sequence[dict[str, Any]], settings: dict[str, Any], seconds: float,
                 run_info: dict[str, Any], roundtrips: dict[str, Any] | None) -> dict[str, Any]:
    outcomes = collections.Counter(r["outcome"] for r in records)
    return {"run": run_info, "settings": settings,
            "summary": {"cases": len(records), "outcomes": {name: outcomes[name] for name in OUTCOMES},
                        "bad": sum(outcomes[name] for name in BAD), "seconds": seconds,
                        "seconds_per_1000": 1000 * seconds / max(1, len(records))},
            "by_codec": tally(records, ("codec",)), "by_kind": tally(records, ("kind",)),
            "by_codec_kind": tally(records, ("codec", "kind")), "by_version": tally(records, ("version",)),
            "bad_cases": [{k: v for k, v in r.items() if k != "trace"} for r in records if is_bad(r)],
            "roundtrips": roundtrips}


def _roundtrips(cases: int, seed: int) -> dict[str, Any] | None:
    if cases <= 0:
        return None
    from .roundtrips import run_roundtrips

    return run_roundtrips(cases, seed)


# --- the command --------------------------------------------------------------------------------------------

def replay(spec: Spec, timeout: float, memory_gib: float, save: str | None) -> int:
    """Run one case as the campaign does and print what happened (with the traceback, if any)."""
    if save:
        with tempfile.TemporaryDirectory() as sandbox:
            Path(save).write_bytes(fuzzing.make_case(spec.codec, spec.kind, spec.seed, Path(sandbox)).data)
    (record,) = run_cases([spec], workers=1, timeout=timeout, memory_gib=memory_gib)
    for key in ("codec", "kind", "seed", "source", "version", "note", "output", "outcome", "message"):
        print(f"{key}: {record.get(key)}")
    if record.get("trace"):
        print(record["trace"])
    return 1 if is_bad(record) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases in all, spread over codecs and kinds")
    parser.add_argument("--seed", type=int, default=0, help="first seed of every codec and kind")
    parser.add_argument("--codecs", nargs="+", default=list(fuzzing.FAMILIES))
    parser.add_argument("--kinds", nargs="+", default=list(fuzzing.KINDS), choices=fuzzing.KINDS)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    parser.add_argument("--memory-gib", type=float, default=DEFAULT_MEMORY_GIB,
                        help="address space a worker may add while running a case")
    parser.add_argument("--roundtrip-cases", type=int, default=DEFAULT_ROUNDTRIPS,
                        help="property round trips per codec (0: none)")
    parser.add_argument("--replay", nargs=3, metavar=("CODEC", "KIND", "SEED"), help="run one case and show it")
    parser.add_argument("--save", help="with --replay: also write the case's file here")
    parser.add_argument("--out", default="benchmarks")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    if args.replay:
        codec, kind, seed = args.replay
        if kind not in fuzzing.KINDS:
            parser.error(f"unknown kind {kind!r}; choose one of {', '.join(fuzzing.KINDS)}")
        return replay(Spec(codec, kind, int(seed)), args.timeout, args.memory_gib, args.save)
    if args.cases < 1 or args.workers < 1:
        parser.error("--cases and --workers must be at least 1")
    paths = report_paths(args.out, "robustness", args.force)
    per_codec_kind = -(-args.cases // (len(args.codecs) * len(args.kinds)))
    command = COMMAND.format(out=args.out) + "".join(
        f" --{name.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, list) else value}"
        for name, value, default in (("cases", args.cases, DEFAULT_CASES), ("seed", args.seed, 0),
                                     ("codecs", args.codecs, list(fuzzing.FAMILIES)),
                                     ("kinds", args.kinds, list(fuzzing.KINDS)),
                                     ("roundtrip_cases", args.roundtrip_cases, DEFAULT_ROUNDTRIPS))
        if value != default)
    run_info = run_description(command)
    start = time.perf_counter()
    records = run_cases(campaign_specs(args.codecs, args.kinds, per_codec_kind, args.seed), args.workers,
                        args.timeout, args.memory_gib, progress=True)
    seconds = time.perf_counter() - start
    settings = {"codecs": args.codecs, "kinds": args.kinds, "per_codec_kind": per_codec_kind, "seed": args.seed,
                "workers": args.workers, "timeout": args.timeout, "memory_gib": args.memory_gib,
                "roundtrip_cases": args.roundtrip_cases}
    report = build_report(records, settings, seconds, run_info, _roundtrips(args.roundtrip_cases, args.seed))
    write_report(paths, report, markdown(report), args.force)
    print(markdown(report))
    return 1 if report["summary"]["bad"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
