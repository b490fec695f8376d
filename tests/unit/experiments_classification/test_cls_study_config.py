"""The classification job's config model: defaults, nested sections and every validation error."""

from __future__ import annotations

from pathlib import Path

import pytest

from defectlab.classifiers.causal_train import VIEW_CORRUPTIONS, CausalConfig
from defectlab.errors import ConfigError
from defectlab.experiments.classification.config import (
    MODELS,
    STRATA,
    ClassificationStudyConfig,
    SpuriousConfig,
)
from defectlab.experiments.jobs import job_config, load_job_config

WHERE = "study.yaml"


def load(**raw):
    return job_config({"job": "classification", **raw}, WHERE)[1]


def test_defaults_with_only_the_job():
    cfg = load()
    assert cfg == ClassificationStudyConfig()
    assert cfg.output == Path("outputs/classification")
    assert cfg.seed == 42
    assert cfg.schemes == ("elpv_binary", "elpv_4")
    assert cfg.models == MODELS == ("smallcnn", "finetune", "attention", "causal")
    assert cfg.causal_parts == ("backdoor",)
    assert cfg.causal == CausalConfig()
    assert cfg.corrupted == {"preset": "mvtec-shift-photometric"}
    assert cfg.strata == "discovered" and cfg.finetune_mode == "head"
    assert cfg.spurious == (SpuriousConfig(),)
    (sp,) = cfg.spurious
    assert (sp.nuisance, sp.tie, sp.test_per_group, sp.strata, sp.shift, sp.causal_parts) == (
        "cell_type",
        0.9,
        90,
        STRATA,
        None,
        None,
    )
    assert sp.name == "cell_type"
    assert cfg.max_cells is None and cfg.effects and cfg.ablation


def test_reads_a_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("job: classification\nseed: 7\nschemes: [elpv_binary]\noutput: out/x\nmax_cells: 16\n")
    cfg = load_job_config(path)[1]
    assert cfg.seed == 7 and cfg.schemes == ("elpv_binary",) and cfg.output == Path("out/x") and cfg.max_cells == 16


def test_a_file_with_only_the_job_gives_defaults(tmp_path):
    path = tmp_path / "only-job.yaml"
    path.write_text("job: classification\n")
    assert load_job_config(path)[1] == ClassificationStudyConfig()


def test_lists_become_tuples_and_nested_sections_are_parsed():
    cfg = load(
        output="somewhere",
        schemes=["elpv_4"],
        models=["attention", "causal"],
        causal_parts=["backdoor", "reweight"],
        causal={"consistency_weight": 0.5, "views_per_image": 1, "view_corruptions": ["brightness", "style"]},
        spurious={"nuisance": "cell_type", "tie": 0.75, "test_per_group": 4, "strata": ["given"]},
        corrupted={"corruption": "gaussian_blur", "severity": 2},
    )
    assert cfg.output == Path("somewhere")
    assert cfg.schemes == ("elpv_4",) and cfg.models == ("attention", "causal")
    assert cfg.causal_parts == ("backdoor", "reweight")
    assert cfg.causal == CausalConfig(consistency_weight=0.5, views_per_image=1, view_corruptions=("brightness", "style"))
    assert isinstance(cfg.causal.view_corruptions, tuple)
    assert cfg.spurious == (SpuriousConfig(tie=0.75, test_per_group=4, strata=("given",)),)
    assert isinstance(cfg.spurious[0].strata, tuple)
    assert cfg.corrupted == {"corruption": "gaussian_blur", "severity": 2}


def test_empty_causal_section_and_spurious_off():
    cfg = load(causal=None, spurious=None)
    assert cfg.causal == CausalConfig() and cfg.causal.view_corruptions == VIEW_CORRUPTIONS
    assert cfg.spurious == ()
    assert load(spurious=[]).spurious == ()


def test_partial_spurious_section_keeps_other_defaults():
    assert load(spurious={"tie": 0.6}).spurious == (SpuriousConfig(tie=0.6),)


def test_a_list_of_spurious_variants_with_an_applied_shift():
    cfg = load(
        spurious=[
            {"nuisance": "cell_type"},
            {"nuisance": "applied", "shift": "vignetting", "severity": 2, "causal_parts": ["backdoor", "counterfactual"]},
        ]
    )
    cell, applied = cfg.spurious
    assert cell == SpuriousConfig()
    assert applied == SpuriousConfig(
        nuisance="applied", shift="vignetting", severity=2, causal_parts=("backdoor", "counterfactual")
    )
    assert (cell.name, applied.name) == ("cell_type", "vignetting")


ERRORS = [
    ({"models": ["resnet"]}, r"models must be some of smallcnn, finetune, attention, causal, got \['resnet'\]"),
    ({"models": []}, "models must be some of"),
    ({"schemes": ["nope"]}, "unknown class scheme 'nope'"),
    ({"strata": "random"}, "strata must be one of given, discovered, got 'random'"),
    ({"causal_parts": []}, "causal_parts must be some of backdoor, counterfactual, reweight"),
    ({"causal_parts": ["backdoor", "magic"]}, r"causal_parts must be some of .*\['backdoor', 'magic'\]"),
    ({"finetune_mode": "full"}, "finetune_mode must be 'head' or 'finetune', got 'full'"),
    (
        {"corrupted": {"preset": "mvtec-shift-photometric", "corruption": "brightness"}},
        r"corrupted needs exactly one of 'preset' or 'corruption' \(\+ 'severity'\)",
    ),
    ({"corrupted": {"severity": 3}}, "corrupted needs exactly one of"),
    ({"corrupted": {}}, "corrupted needs exactly one of"),
    ({"corrupted": {"preset": "mvtec-shift", "colour": 1}}, "corrupted needs exactly one of"),
    ({"corrupted": {"preset": "nope"}}, "unknown preset 'nope'; valid: "),
    ({"corrupted": {"corruption": "nope", "severity": 2}}, "unknown corruption 'nope'"),
    ({"spurious": {"tie": 1.0}}, r"spurious\.0: tie must be in \[0.5, 1\) and test_per_group >= 1"),
    ({"spurious": {"tie": 0.4}}, r"spurious\.0: tie must be in \[0.5, 1\)"),
    ({"spurious": {"test_per_group": 0}}, "test_per_group >= 1"),
    ({"spurious": {"strata": ["given", "guessed"]}}, r"spurious\.0: strata must be some of given, discovered"),
    ({"spurious": {"strata": []}}, r"spurious\.0: strata must be some of given, discovered"),
    ({"spurious": {"colour": "red"}}, r"study\.yaml: spurious\.0\.colour: unknown key"),
    ({"spurious": ["cell_type"]}, r"study\.yaml: spurious\.0: Input should be a dictionary"),
    ({"spurious": {"shift": "vignetting"}}, r"spurious\.0: shift .* goes with nuisance 'applied', and only with it"),
    ({"spurious": {"nuisance": "applied"}}, r"spurious\.0: shift .* goes with nuisance 'applied'"),
    (
        {"spurious": {"nuisance": "applied", "shift": "rotation"}},
        r"spurious\.0: shift must be a photometric corruption .*'rotation'",
    ),
    ({"spurious": {"nuisance": "applied", "shift": "sunburn"}}, r"spurious\.0: shift must be a photometric corruption"),
    (
        {"spurious": {"nuisance": "applied", "shift": "vignetting", "severity": 6}},
        r"spurious\.0: severity must be in 1\.\.5, got 6",
    ),
    (
        {"spurious": {"nuisance": "applied", "shift": "vignetting", "severity": 2.0}},
        r"spurious\.0\.severity: Input should be a valid integer",
    ),
    ({"spurious": {"causal_parts": []}}, r"spurious\.0: causal_parts must be some of backdoor, counterfactual, reweight"),
    ({"spurious": {"causal_parts": ["magic"]}}, r"spurious\.0: causal_parts must be some of"),
    ({"spurious": [{"tie": 0.9}, {"tie": 0.8}]}, r"spurious variants need distinct nuisances, got \['cell_type', 'cell_type'\]"),
    ({"causal": {"speed": 2}}, r"study\.yaml: causal\.speed: unknown key"),
    ({"causal": {"views_per_image": -1}}, "views_per_image must be >= 0"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"patience": 0}, "patience must be at least 1"),
    ({"smallcnn_epochs": 0}, "smallcnn_epochs must be at least 1"),
    ({"image_size": 0}, "image_size must be at least 1"),
    ({"smallcnn_image_size": 0}, "smallcnn_image_size must be at least 1"),
    ({"max_cells": 15}, r"max_cells must be at least 16 \(or null for every cell\)"),
    ({"explanations": -1}, "explanations must be >= 0 and bootstrap >= 1"),
    ({"bootstrap": 0}, "explanations must be >= 0 and bootstrap >= 1"),
    ({"epoch": 3, "modles": []}, r"study\.yaml: epoch, modles: unknown keys \(valid: output, seed, schemes, models, "),
]


@pytest.mark.parametrize(("raw", "message"), ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_validation_errors(raw, message):
    with pytest.raises(ConfigError, match=message) as info:
        load(**raw)
    if "class scheme" not in message and "views_per_image" not in message:
        assert str(info.value).startswith(WHERE)


@pytest.mark.parametrize(
    "raw",
    [
        {"max_cells": 16},
        {"max_cells": None},
        {"explanations": 0},
        {"spurious": {"tie": 0.5}},
        {"corrupted": {"corruption": "brightness"}},
        {"finetune_mode": "finetune"},
        {"strata": "given"},
        {"causal_parts": list(("backdoor", "counterfactual", "reweight"))},
    ],
)
def test_boundary_values_accepted(raw):
    load(**raw)
