"""The archive report, from the manifest alone: ``medcomp archive --report MANIFEST`` prints it again any time.

Totals (series, instances, bytes both sides, the ratio), throughput (source megabytes per second of wall
time, over every run, and for the last), how the copies verified, every failure with its reason, and the
files of the source that were skipped.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any

from .manifest import DONE, FAILED, PENDING, RUNNING, Manifest, Row
from .sources import Skipped

MB = 1e6
SKIPPED_SHOWN = 20


@dataclasses.dataclass
class Report:
    """Figures of a manifest; ``text()`` is what the command prints."""

    source: str
    destination: str
    job: dict[str, Any]
    rows: list[Row]
    skipped: list[Skipped]
    runs: list[tuple[str, float, float | None, int | None, str | None]]

    @classmethod
    def of(cls, manifest: Manifest) -> "Report":
        source, destination, job = manifest.job() or ("?", "?", {})
        return cls(source, destination, job, manifest.rows(), manifest.skipped(), manifest.runs())

    def count(self, status: str) -> int:
        return sum(row.status == status for row in self.rows)

    @property
    def done(self) -> list[Row]:
        return [row for row in self.rows if row.status == DONE]

    @property
    def failures(self) -> list[Row]:
        return [row for row in self.rows if row.status == FAILED]

    @property
    def source_bytes(self) -> int:
        return sum(row.source_bytes or 0 for row in self.done)

    @property
    def output_bytes(self) -> int:
        return sum(row.output_bytes or 0 for row in self.done)

    @property
    def ratio(self) -> float:
        return self.source_bytes / self.output_bytes if self.output_bytes else float("nan")

    def _run_seconds(self, run: tuple[str, float, float | None, int | None, str | None]) -> float:
        return (run[2] or time.time()) - run[1]

    def throughput(self, run: str | None = None) -> tuple[int, float]:
        """Source bytes archived and wall seconds, in one run or in all of them."""
        runs = [r for r in self.runs if run is None or r[0] == run]
        done = [row for row in self.done if run is None or row.run == run]
        return sum(row.source_bytes or 0 for row in done), sum(self._run_seconds(r) for r in runs)

    def text(self) -> str:
        coding = self.job.get("codec", "?") + (f" ({self.job.get('format')})" if self.job.get("format") else "")
        if self.job.get("target"):
            coding += f", target {self.job['target']['kind']} {self.job['target']['value']}"
        lines = [f"archive {self.source} -> {self.destination}: {coding}",
                 f"series: {self.count(DONE)} done, {self.count(FAILED)} failed, {self.count(PENDING)} pending, "
                 f"{self.count(RUNNING)} running, of {len(self.rows)}; {len(self.skipped)} files skipped",
                 f"archived: {sum(row.instances or 0 for row in self.done)} instances, "
                 f"{self.source_bytes / MB:.2f} MB -> {self.output_bytes / MB:.2f} MB, ratio {self.ratio:.2f}"]
        lines += self._throughput_lines()
        kinds = Counter((row.verification or {}).get("kind", "?") for row in self.done)
        if kinds:
            lines.append("verified: " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
                         + self._loss_text())
        if self.failures:
            lines.append(f"failures ({len(self.failures)}):")
            lines += [f"  {row.key}: {row.error}" for row in self.failures]
        if self.skipped:
            lines.append(f"skipped files ({len(self.skipped)}):")
            lines += [f"  {item.path}: {item.reason}" for item in self.skipped[:SKIPPED_SHOWN]]
            if len(self.skipped) > SKIPPED_SHOWN:
                lines.append(f"  ... and {len(self.skipped) - SKIPPED_SHOWN} more")
        return "\n".join(lines)

    def _throughput_lines(self) -> list[str]:
        if not self.runs:
            return []
        total, seconds = self.throughput()
        lines = [f"throughput: {total / MB / seconds:.2f} MB/s over {len(self.runs)} run(s), {seconds:.1f} s"
                 if seconds > 0 else "throughput: -"]
        last = self.runs[-1]
        done, seconds = self.throughput(last[0])
        series = sum(row.run == last[0] for row in self.done)
        if seconds > 0:
            lines.append(f"last run: {series} series, {done / MB:.2f} MB in {seconds:.1f} s = {done / MB / seconds:.2f}"
                         f" MB/s on {last[3]} worker(s)" + (f" ({last[4]})" if last[4] else ""))
        return lines

    def _loss_text(self) -> str:
        errors = [row.verification.get("max_error", 0) for row in self.done if row.verification]
        psnrs = [row.verification["psnr"] for row in self.done if row.verification and row.verification.get("psnr")]
        text = f"; max |error| {max(errors)}" if errors and max(errors) else ""
        return text + (f"; PSNR {min(psnrs):.2f} to {max(psnrs):.2f} dB" if psnrs else "")
