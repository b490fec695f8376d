"""The one timing helper of the studies: each step is logged as it starts and its seconds recorded when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class StepTimer:
    """Times a study's steps; ``timings()`` is what the results envelope records.

    ``total``: how many steps the study announces, shown as ``[i/total]`` (None: ``[i]``)."""

    def __init__(self, log: Callable[[str], None], total: int | None = None) -> None:
        self.log = log
        self.total = total
        self.steps: list[dict[str, Any]] = []
        self._started = time.perf_counter()
        self._announced = 0

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Log ``what`` on entry and record its duration on exit."""
        self._announced += 1
        self.log(f"[{self._announced}{'' if self.total is None else f'/{self.total}'}] {what}")
        started = time.perf_counter()
        yield
        self.record(what, time.perf_counter() - started)

    def record(self, what: str, seconds: float) -> None:
        """Record a step timed elsewhere (e.g. inside a model fit)."""
        self.steps.append({"step": what, "seconds": round(seconds, 2)})

    @property
    def total_seconds(self) -> float:
        return round(time.perf_counter() - self._started, 1)

    def timings(self) -> dict[str, Any]:
        """``{"steps": [{"step", "seconds"}, ...], "total_seconds"}``."""
        return {"steps": list(self.steps), "total_seconds": self.total_seconds}
