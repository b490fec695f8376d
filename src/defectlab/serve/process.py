"""Run ``defectlab serve`` / ``defectlab app`` as a child process on loopback (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from defectlab.errors import DefectLabError

SRC = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    command: str,
    bundle: str | os.PathLike[str],
    *args: str,
    ready_path: str = "/health",
    env: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> Iterator[str]:
    """Yield the base URL of ``defectlab <command> BUNDLE --port P ARGS`` once ``ready_path`` answers 200.

    The server's output goes to a log file whose text is in the error when it fails to start or
    dies; it is stopped (SIGTERM, then SIGKILL) on exit.
    """
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"defectlab-server-{port}.log"
    environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "defectlab", command, str(bundle), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise DefectLabError(f"the server exited with {process.returncode}:\n{log.read_text()}")
            if _answers(base + ready_path):
                break
            if time.monotonic() > deadline:
                raise DefectLabError(f"the server did not start within {timeout:.0f} s:\n{log.read_text()}")
            time.sleep(0.3)
        yield base
        if process.poll() is not None:
            raise DefectLabError(f"the server died:\n{log.read_text()}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    """Whether GET ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
