"""Timed steps of a study: each is logged as it starts and its seconds recorded when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(steps: list[dict[str, Any]], log: Callable[[str], None], what: str) -> Callable[[], None]:
    """Log the step and return a function that records its duration in ``steps``."""
    started = time.perf_counter()
    log(f"[{len(steps) + 1}] {what}")

    def done() -> None:
        steps.append({"step": what, "seconds": round(time.perf_counter() - started, 2)})

    return done
