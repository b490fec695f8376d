"""What a detector costs: peak memory while fitting and the size of its bundle on disk."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from defectlab.bundle.io import Bundle, save_bundle

MB = 1024 * 1024


def current_rss() -> int | None:
    """This process's resident set size in bytes (Linux /proc), None where it cannot be read."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakRSS:
    """Context manager measuring the peak resident set size above its level at entry.

    A thread samples the RSS every ``interval`` seconds. Unlike tracemalloc it sees torch's and
    faiss's native allocations; memory the allocator already holds from earlier work can be reused
    without growing the RSS, so the figure is a lower bound of what the block allocated.
    ``increase_mb`` is None where the RSS cannot be read.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self._base: int | None = None
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRSS:
        self._base = current_rss()
        if self._base is not None:
            self._peak = self._base
            self._thread = threading.Thread(target=self._watch, name="peak-rss", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        rss = current_rss()
        if rss is not None and rss > self._peak:
            self._peak = rss

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample()

    @property
    def increase_mb(self) -> float | None:
        """Peak RSS minus the RSS at entry, in MiB."""
        return None if self._base is None else (self._peak - self._base) / MB


def bundle_bytes(bundle: Bundle) -> int:
    """Size on disk of ``bundle`` saved as a standard bundle (written to a temporary folder, then removed)."""
    with tempfile.TemporaryDirectory(prefix="bundle-size-") as tmp:
        path = save_bundle(Path(tmp) / "bundle", bundle)
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
