"""Run the `defectlab` command line from end-to-end tests.

Every command runs in a child process with its own stdout, stderr and exit code, exactly as a
user's shell would see them. Two ways to start that process:

- ``spawn``: ``[sys.executable, "-m", "defectlab", ...]``, the real thing. Importing torch, timm
  and scikit-learn costs several CPU seconds per process on the 2-core CI machine, which would
  put this folder far over its time budget, so it is used for the cheap commands (``--help``,
  usage errors, ``synth``) and for a few representative error tests.
- ``fork`` (default for the rest): one long-lived helper process imports defectlab's modules
  once, then for each command forks a child that runs ``defectlab/__main__.py`` through
  ``runpy`` (what ``python -m defectlab`` does) with the test's argv, cwd, environment and its
  own stdout/stderr files. Uncaught exceptions print a traceback and exit 1, ``SystemExit`` sets
  the exit code, like the interpreter. The helper never runs torch code itself, so forking it
  is safe.

Set ``DEFECTLAB_E2E_SPAWN=1`` to run every command with ``spawn``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 300

_PRELOAD = (
    "defectlab.cli.main",
    "defectlab.workflows.kinds",
    "defectlab.bundle.io",
    "defectlab.data.formats",
    "defectlab.data.synth",
    "defectlab.workflows.detection",
    "defectlab.experiments.jobs",
    "defectlab.experiments.detection_job",
    "defectlab.report.writer",
    "defectlab.report.tables",
)

_SERVER = r"""
import importlib, json, os, runpy, sys, traceback
for name in sys.argv[1:]:
    importlib.import_module(name)
control = os.fdopen(os.dup(1), "w")
devnull = os.open(os.devnull, os.O_RDONLY)
main_path = os.path.join(os.path.dirname(importlib.import_module("defectlab").__file__), "__main__.py")
control.write("ready\n"); control.flush()
for line in sys.stdin:
    req = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(req["cwd"])
            os.environ.clear(); os.environ.update(req["env"])
            out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(devnull, 0); os.dup2(out, 1); os.dup2(err, 2)
            sys.argv = [main_path, *req["args"]]
            try:
                runpy.run_module("defectlab", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                if exc.code is None:
                    code = 0
                elif isinstance(exc.code, int):
                    code = exc.code
                else:
                    print(exc.code, file=sys.stderr); code = 1
            except BaseException:
                traceback.print_exc(); code = 1
        finally:
            try:
                sys.stdout.flush(); sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    control.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}) + "\n"); control.flush()
"""


@dataclass
class Result:
    """What a shell would see of one command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return f"defectlab {' '.join(self.args)} -> {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def make_env(cache_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command: PYTHONPATH -> src, DEFECTLAB_CACHE -> a test folder."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env["DEFECTLAB_CACHE"] = str(cache_dir)
    env.pop("DEFECTLAB_E2E_SPAWN", None)
    env.update(extra or {})
    return env


def spawn(args: Sequence[object], env: Mapping[str, str], cwd: Path) -> Result:
    """Run ``python -m defectlab ARGS`` in a fresh interpreter."""
    argv = [str(a) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "defectlab", *argv],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=TIMEOUT,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


class _ForkServer:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="defectlab-e2e-")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, *_PRELOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(env),
            cwd=self._tmp.name,
        )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready.strip() != "ready":
            self._proc.kill()
            raise RuntimeError(f"defectlab e2e fork server did not start (got {ready!r})")
        self._count = 0

    def run(self, args: Sequence[object], env: Mapping[str, str], cwd: Path) -> Result:
        argv = [str(a) for a in args]
        with self._lock:
            self._count += 1
            out = Path(self._tmp.name) / f"{self._count}.out"
            err = Path(self._tmp.name) / f"{self._count}.err"
            request = {"args": argv, "env": dict(env), "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            reply = self._proc.stdout.readline()
            if not reply:
                raise RuntimeError("defectlab e2e fork server died")
            rc = json.loads(reply)["rc"]
            result = Result(argv, rc, out.read_text(errors="replace"), err.read_text(errors="replace"))
            out.unlink()
            err.unlink()
            return result

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._tmp.cleanup()


_server: _ForkServer | None = None


def _fork_server(env: Mapping[str, str]) -> _ForkServer:
    global _server
    if _server is None:
        _server = _ForkServer(env)
        atexit.register(_server.close)
    return _server


def use_spawn_only() -> bool:
    return os.environ.get("DEFECTLAB_E2E_SPAWN", "") not in ("", "0") or not hasattr(os, "fork")


def run_cli(args: Sequence[object], env: Mapping[str, str], cwd: Path, spawn_process: bool = False) -> Result:
    """Run one `defectlab` command; ``spawn_process`` forces a fresh ``python -m defectlab``."""
    if spawn_process or use_spawn_only():
        return spawn(args, env, cwd)
    return _fork_server(env).run(args, env, cwd)


def assert_one_line_error(result: Result, *needles: str) -> str:
    """Exit code 2, stderr is exactly one `defectlab: error: ...` line containing every needle."""
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(result)
    line = lines[0]
    assert line.startswith("defectlab: error: "), str(result)
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line
