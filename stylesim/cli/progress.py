"""Progress on stderr: a live bar on a terminal; where stderr is a file or a pipe (cron, CI, a
log), a plain line at most every ``LINE_SECONDS`` and one when the work is done, so a log stays
readable."""

from __future__ import annotations

import logging
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LINE_SECONDS = 10.0


class Reporter:
    """One task's progress: ``start(label, total)``, ``advance(n)``, ``describe(text)``, ``stop()``."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not self.live,
        )
        self.task: TaskID | None = None
        self.label, self.detail = "", ""
        self.done, self.total = 0, 0
        self.started = self.last_line = time.monotonic()

    def start(self, label: str, total: int | None) -> None:
        """Begin (or begin again, for the next job) counting to ``total``."""
        self.label, self.detail, self.done, self.total = label, "", 0, total or 0
        self.started = self.last_line = time.monotonic()
        if self.live:
            if self.task is None:
                self.bar.start()
                self.task = self.bar.add_task(label, total=total)
            else:
                self.bar.reset(self.task, total=total, description=label)

    def set_total(self, total: int) -> None:
        self.total = total
        if self.task is not None:
            self.bar.update(self.task, total=total)

    def advance(self, n: int = 1, detail: str = "") -> None:
        self.done += n
        self.detail = detail or self.detail
        if self.task is not None:
            text = f"{self.label}  {self.detail}" if self.detail else self.label
            self.bar.update(self.task, advance=n, description=text)
        elif not self.quiet and time.monotonic() - self.last_line >= LINE_SECONDS:
            self._line()

    def stop(self) -> None:
        """End the display; off a terminal, one last line with where the count stopped."""
        if self.task is not None:
            self.bar.stop()
            self.task = None
        elif not self.quiet and self.label:
            self._line()

    def _line(self) -> None:
        self.last_line = time.monotonic()
        total = f"/{self.total}" if self.total else ""
        percent = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
        detail = f", {self.detail}" if self.detail else ""
        elapsed = self.last_line - self.started
        self.console.print(f"{self.label}: {self.done}{total}{percent}{detail}, {elapsed:.0f} s")

    def __enter__(self) -> Reporter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class ConsoleLog(logging.Handler):
    """Log records as plain lines on a rich console (which finds stderr when it prints, so a
    test runner's captured stream gets them)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)


def show_index_steps(console: Console, quiet: bool) -> None:
    """The index layer's long steps (merging, approximate indexes and their tuning, relative
    vectors, compaction) as lines on ``console``, unless ``quiet``."""
    logger = logging.getLogger("stylesim.index")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, ConsoleLog)]
    logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if not quiet:
        logger.addHandler(ConsoleLog(console))
