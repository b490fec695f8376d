"""The CLI's choice enums follow the library's registries; --debug lives on the typer context."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from defectlab.cli.main import app
from defectlab.cli.options import CliState, DetectorChoice, FormatChoice, ThresholdChoice, parse_detectors
from defectlab.data.formats import FORMATS
from defectlab.detectors.registry import DETECTORS
from defectlab.errors import ConfigError, ModelError
from defectlab.workflows.detection import THRESHOLD_METHODS


@pytest.mark.parametrize(
    ("choice", "registry"), [(DetectorChoice, tuple(DETECTORS)), (FormatChoice, FORMATS), (ThresholdChoice, THRESHOLD_METHODS)]
)
def test_choices_are_the_registry_names(choice, registry) -> None:
    assert tuple(member.value for member in choice) == tuple(registry)


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


def test_a_bad_choice_lists_the_choices() -> None:
    result = CliRunner().invoke(app, ["fit", "--out", "x", "--detector", "nope"], standalone_mode=False)
    assert isinstance(result.exception, typer.BadParameter)
    assert "'nope' is not one of 'patchcore', 'padim', 'cae'" in result.exception.format_message()
