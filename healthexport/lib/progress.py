"""One progress bar for long management commands (imports, backfills).

On a terminal it is a tqdm bar with rate and ETA, redrawn in place and cleared when done; when the
stream is not a terminal (a CronJob, a pipe, CI logs) it is a plain line every few seconds, so logs
hold a readable history instead of carriage returns.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

PLAIN_EVERY_SECONDS = 5.0


class ProgressBar:
    """``with ProgressBar(total=n, unit="items", stream=sys.stderr) as bar: bar.advance_to(k, "heart_rate")``."""

    def __init__(
        self,
        *,
        total: int,
        unit: str,
        stream: TextIO,
        plain_every: float = PLAIN_EVERY_SECONDS,
        redraw_every: float = 0.2,
    ):
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream
        self.done = 0
        self.started = time.monotonic()
        self._plain_every = plain_every
        self._last_plain = float("-inf")
        self._bar: tqdm | None = None
        if stream.isatty():
            self._bar = tqdm(
                total=self.total,
                unit=f" {unit}",
                ncols=100,
                unit_scale=True,
                leave=False,
                file=stream,
                mininterval=redraw_every,
            )

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def advance_to(self, done: int, label: str = "") -> None:
        """Move the bar to ``done`` of ``total`` (never backwards), showing what is being worked on."""
        done = min(max(done, self.done), self.total)
        if self._bar is not None:
            self._bar.set_description_str(label[:30], refresh=False)
            self._bar.update(done - self.done)
        self.done = done
        if self._bar is None and time.monotonic() - self._last_plain >= self._plain_every:
            self._last_plain = time.monotonic()
            self.stream.write(self.plain_line(label) + "\n")
            self.stream.flush()

    def part_done(self, parts: dict[str, int], part: str, done: int) -> None:
        """For work reported per part (metric by metric): ``parts`` keeps each part's count."""
        parts[part] = done
        self.advance_to(sum(parts.values()), part)

    def plain_line(self, label: str = "") -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100 * self.done // self.total if self.total else 100
        eta = f", ETA {(self.total - self.done) / rate:.0f} s" if rate and self.done < self.total else ""
        where = f" {label}" if label else ""
        return f"  {self.done:,}/{self.total:,} {self.unit} ({percent}%){where}, {rate:,.0f} {self.unit}/s{eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # leave=False: the bar's line is cleared
            self._bar = None
