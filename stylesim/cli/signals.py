"""How a long command stops when asked to: the signals that end it cleanly."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt, so ``kill PID`` makes a long run (indexing,
    training) save what it has and stop as Ctrl-C does (a job started in the background with ``&``
    ignores SIGINT otherwise, and SIGTERM would end it at once)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
