"""The CLI's choice enums follow the library's registries; --debug lives on the typer context."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from defectlab.bundle.runtimes import FORMATS as FORMATS_EXPORTED
from defectlab.bundle.runtimes import PRECISIONS, RUNTIMES
from defectlab.classifiers.labels import SCHEMES
from defectlab.classifiers.losses import LOSSES
from defectlab.classifiers.registry import CLASSIFIERS
from defectlab.classifiers.train import MODES
from defectlab.cli.main import app
from defectlab.cli.options import (
    ClassifierChoice,
    CliState,
    CorruptionChoice,
    DetectorChoice,
    ExportFormatChoice,
    FormatChoice,
    LayoutChoice,
    LossChoice,
    ModeChoice,
    PrecisionChoice,
    PresetChoice,
    RuntimeChoice,
    SchemeChoice,
    SynthKindChoice,
    ThresholdChoice,
    parse_detectors,
)
from defectlab.data.formats import FORMATS
from defectlab.data.synth_steel import LAYOUTS
from defectlab.detectors.registry import DETECTORS
from defectlab.errors import ConfigError, ModelError
from defectlab.shift import CORRUPTIONS, PRESETS
from defectlab.workflows.detection import THRESHOLD_METHODS


@pytest.mark.parametrize(
    ("choice", "registry"),
    [
        (DetectorChoice, tuple(DETECTORS)),
        (FormatChoice, FORMATS),
        (ThresholdChoice, THRESHOLD_METHODS),
        (SchemeChoice, SCHEMES),
        (ClassifierChoice, tuple(CLASSIFIERS)),
        (LossChoice, LOSSES),
        (ModeChoice, MODES),
        (LayoutChoice, LAYOUTS),
        (PresetChoice, PRESETS),
        (CorruptionChoice, CORRUPTIONS),
        (RuntimeChoice, RUNTIMES),
        (ExportFormatChoice, FORMATS_EXPORTED),
        (PrecisionChoice, tuple(dict.fromkeys(p for ps in PRECISIONS.values() for p in ps))),
    ],
)
def test_choices_are_the_registry_names(choice, registry) -> None:
    assert tuple(member.value for member in choice) == tuple(registry)


@pytest.mark.parametrize("kind", list(SynthKindChoice))
def test_every_synth_kind_generates_a_dataset(kind: SynthKindChoice, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    args = ["synth", str(out), "--kind", kind.value, "--categories", "texture", "--n-train", "1", "--n-test-good", "1"]
    args += ["--n-good", "1", "--n-defect", "1", "--size", "64"]
    result = CliRunner().invoke(app, args, obj=CliState())
    assert result.exit_code == 0, result.output
    assert any(path.suffix == ".png" for path in out.rglob("*"))


def test_parse_detectors() -> None:
    assert parse_detectors(" a=cae, b=padim ,") == {"a": "cae", "b": "padim"}
    assert parse_detectors(None) == {}
    with pytest.raises(ConfigError, match="category=detector pairs, got 'a'"):
        parse_detectors("a")


@pytest.mark.parametrize("debug", [True, False])
def test_debug_is_kept_on_the_context(debug: bool, tmp_path: Path) -> None:
    state = CliState()
    args = ["--debug", "info", str(tmp_path)] if debug else ["info", str(tmp_path)]
    result = CliRunner().invoke(app, args, obj=state)
    assert state.debug is debug
    assert isinstance(result.exception, ModelError) and "not a defectlab bundle" in str(result.exception)


@pytest.mark.parametrize(
    ("args", "option", "choices"),
    [
        (["fit", "--out", "x"], "--detector", DETECTORS),
        (["train-classifier", "--format", "mvtec", "--out", "x"], "--scheme", SCHEMES),
        (["train-classifier", "--format", "mvtec", "--out", "x"], "--model", CLASSIFIERS),
        (["train-classifier", "--format", "mvtec", "--out", "x"], "--mode", MODES),
        (["train-classifier", "--format", "mvtec", "--out", "x"], "--loss", LOSSES),
        (["synth", "x"], "--kind", ("mvtec", "steel")),
        (["synth", "x", "--kind", "steel"], "--layout", LAYOUTS),
        (["shift", "x", "y"], "--preset", PRESETS),
        (["shift", "x", "y"], "--corruption", CORRUPTIONS),
    ],
)
def test_a_bad_choice_lists_the_choices(args: list[str], option: str, choices) -> None:
    result = CliRunner().invoke(app, [*args, option, "nope"], standalone_mode=False)
    assert isinstance(result.exception, typer.BadParameter)
    listed = ", ".join(f"'{choice}'" for choice in choices)
    assert f"'nope' is not one of {listed}" in result.exception.format_message()
