"""The command-line job: names are checked before any data is read; default training modes."""

from __future__ import annotations

import pytest

from defectlab.errors import ConfigError
from defectlab.workflows.classifier import ClassifierJob, default_mode


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"scheme": "colour"}, "unknown class scheme"),
        ({"model": "vit"}, "unknown classifier"),
        ({"backbone": "vgg16"}, "unknown backbone"),
    ],
)
def test_bad_names_fail_at_once(options, match):
    with pytest.raises(ConfigError, match=match):
        ClassifierJob(**options)


def test_attention_trains_its_head_on_cached_features_the_baselines_end_to_end():
    assert default_mode("attention") == "head"
    assert default_mode("finetune") == default_mode("smallcnn") == "finetune"
