"""The job registry: every study registered once; `defectlab run` and `report` dispatch through it."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import pytest

from defectlab.cli import studies
from defectlab.config.base import config_model
from defectlab.errors import ConfigError, DataError
from defectlab.experiments.envelope import write_results
from defectlab.experiments.jobs import REGISTRY, Job, job_named, registered_jobs
from defectlab.experiments.steps import StepTimer

SRC = Path(__file__).resolve().parents[3] / "src" / "defectlab"


def test_the_registry_lists_every_job() -> None:
    jobs = registered_jobs()
    assert list(jobs) == ["detection", "robustness", "classification", "router", "openset", "suite"]
    for name, job in jobs.items():
        assert job.name == name and callable(job.run)
    assert [name for name, job in jobs.items() if job.report is None] == ["detection"]


def test_an_unknown_job_lists_every_registered_one() -> None:
    with pytest.raises(ConfigError) as info:
        job_named("benchmark", "x.yaml")
    assert (
        str(info.value) == "x.yaml: job 'benchmark' unknown; valid: detection, robustness, classification, router, openset, suite"
    )


@config_model
class _FakeConfig:
    output: Path
    repeats: int = 1


def _fake_run(config: _FakeConfig, log, cache) -> str:
    write_results(config.output, "fake", config, 0, {"steps": [], "total_seconds": 0.0}, repeats=config.repeats)
    return f"ran {config.repeats}"


def _fake_report(directory: Path) -> Path:
    page = directory / "report.html"
    page.write_text(str(json.loads((directory / "results.json").read_text())["repeats"]))
    return page


@pytest.fixture
def fake_job(monkeypatch: pytest.MonkeyPatch) -> Job:
    """A sixth job registered the way every job is: one REGISTRY line and its module's JOB."""
    module = types.ModuleType("fake_job_module")
    module.JOB = Job("fake", _FakeConfig, _fake_run, _fake_report)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_job_module", module)
    monkeypatch.setitem(REGISTRY, "fake", "fake_job_module")
    return module.JOB  # type: ignore[attr-defined,no-any-return]


def test_run_and_report_dispatch_through_the_registry(fake_job: Job, tmp_path: Path, capsys) -> None:
    config = tmp_path / "fake.yaml"
    config.write_text(f"job: fake\noutput: {tmp_path / 'out'}\nrepeats: 3\n")
    studies.run(config, no_cache=True)
    assert capsys.readouterr().out == "ran 3\n"
    envelope = json.loads((tmp_path / "out" / "results.json").read_text())
    assert envelope["job"] == "fake" and envelope["config"] == {"output": str(tmp_path / "out"), "repeats": 3}
    studies.report(tmp_path / "out")  # the envelope names the job
    assert capsys.readouterr().out == f"{tmp_path / 'out' / 'report.html'}\n"
    assert (tmp_path / "out" / "report.html").read_text() == "3"


def test_report_needs_an_envelope_naming_a_job_with_a_report(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"results\.json not found"):
        studies.report(tmp_path)
    (tmp_path / "results.json").write_text('{"job": "nope"}')
    with pytest.raises(ConfigError, match="job 'nope' unknown; valid: detection, robustness"):
        studies.report(tmp_path)
    (tmp_path / "results.json").write_text('{"job": "detection"}')
    with pytest.raises(ConfigError, match="job 'detection' writes its report as it runs"):
        studies.report(tmp_path)


def test_the_envelope(tmp_path: Path) -> None:
    record = write_results(tmp_path, "fake", _FakeConfig(output=tmp_path, repeats=2), 7, {"steps": []}, score=math.nan)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == record
    assert list(on_disk)[:6] == ["job", "config", "seed", "versions", "created", "timings"]
    assert on_disk["seed"] == 7 and on_disk["versions"]["defectlab"] and on_disk["score"] is None  # NaN as null


def test_the_step_timer_logs_and_records_each_step() -> None:
    lines: list[str] = []
    timer = StepTimer(lines.append, total=2)
    with timer.step("first"):
        pass
    timer.record("measured elsewhere", 1.234)
    assert lines == ["[1/2] first"]
    timings = timer.timings()
    assert [s["step"] for s in timings["steps"]] == ["first", "measured elsewhere"] and timings["steps"][1]["seconds"] == 1.23
    assert timings["total_seconds"] >= 0


def test_report_does_not_import_experiments() -> None:
    offenders = [p.name for p in (SRC / "report").glob("*.py") if "defectlab.experiments" in p.read_text()]
    assert offenders == []
