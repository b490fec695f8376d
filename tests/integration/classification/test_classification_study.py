"""The classification study end to end on a small, seeded subset of the real ELPV cells."""

from __future__ import annotations

import json

import pytest
import yaml

from defectlab.backbones.cache import FeatureCache
from defectlab.errors import ConfigError
from defectlab.experiments.classification.interventions import FACTORS
from defectlab.experiments.classification.runner import run_classification_job
from defectlab.experiments.jobs import load_job_config
from defectlab.report.classification_report import write_classification_report

pytestmark = [pytest.mark.weights, pytest.mark.elpv]

TINY = {
    "job": "classification",
    "seed": 3,
    "schemes": ["elpv_binary", "elpv_4"],
    "image_size": 64,
    "epochs": 2,
    "patience": 1,
    "smallcnn_image_size": 32,
    "smallcnn_epochs": 1,
    "causal": {"views_per_image": 1},
    "spurious": [
        {"test_per_group": 4, "tie": 0.8},
        {
            "nuisance": "applied",
            "shift": "vignetting",
            "test_per_group": 4,
            "tie": 0.8,
            "causal_parts": ["backdoor", "counterfactual"],
        },
    ],
    "explanations": 1,
    "bootstrap": 20,
    "max_cells": 150,
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("classification")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": str(root / "out")}))
    _, cfg = load_job_config(path)
    lines: list[str] = []
    results = run_classification_job(cfg, log=lines.append, cache=FeatureCache(root / "cache"), progress=False)
    return cfg, results, lines


def test_every_phase_writes_its_results(study):
    cfg, results, lines = study
    saved = json.loads((cfg.output / "results.json").read_text())
    assert saved["job"] == "classification" and saved["seed"] == 3 and saved["config"]["max_cells"] == 150
    assert set(saved["schemes"]) == {"elpv_binary", "elpv_4"}
    for block in saved["schemes"].values():
        assert set(block["models"]) == {"smallcnn", "finetune", "attention", "causal"}
        for row in block["models"].values():
            for part in ("clean", "corrupted"):
                assert 0.0 <= row[part]["accuracy"] <= 1.0
            ri = row["robustness_index"]["accuracy"]
            assert ri is None or abs(ri - row["corrupted"]["accuracy"] / row["clean"]["accuracy"]) < 1e-9
    assert saved["schemes"]["elpv_4"]["class_names"] == ["p0", "p33", "p67", "p100"]
    assert [r["variant"] for r in saved["ablation"]][0] == "none (ERM)" and len(saved["ablation"]) == 6
    assert list(saved["spurious"]) == ["cell_type", "vignetting"]
    for spurious in saved["spurious"].values():
        assert set(spurious["models"]) >= {
            "attention (ERM)",
            "causal (nuisance given)",
            "causal (nuisance discovered)",
            "attention (ERM), trained untied (reference)",
            "logistic regression, trained untied (reference)",
        }
        for rep in spurious["models"].values():
            assert len(rep["groups"]) == 4 and all(g["n"] == 4 for g in rep["groups"].values())
            assert rep["worst_group_accuracy"] == min(g["accuracy"] for g in rep["groups"].values())
    applied = saved["spurious"]["vignetting"]
    assert applied["shift"]["corruption"] == "vignetting" and applied["causal_parts"] == ["backdoor", "counterfactual"]
    assert set(applied["models"]["attention (ERM)"]["groups"]) == {
        f"{z}/{c}" for z in ("applied", "withheld") for c in ("functional", "defective")
    }
    assert applied["models"]["causal (nuisance given)"]["strata"] == ["applied", "withheld"]
    assert set(applied["ablation"]) == {
        "none (ERM)",
        "backdoor",
        "counterfactual",
        "reweight",
        "backdoor + counterfactual",
        "all three",
    }
    assert all(set(r["spurious"]) == {"cell_type", "vignetting"} for r in saved["ablation"])
    assert {r["factor"] for r in saved["ces"]} == set(FACTORS)
    assert {r["model"] for r in saved["ces"]} == {"smallcnn", "finetune", "attention", "causal"}
    for row in saved["ces"]:
        assert abs(row["ces"] - (row["interventional"] - row["observational"])) < 1e-9
    assert set(saved["dowhy"]["tables"]) == {"smallcnn", "finetune", "attention", "causal"}
    assert {r["factor"] for r in saved["dowhy"]["tables"]["causal"]} == {"brightness", "contrast", "sharpness", "noise", "domain"}
    shares = saved["explanations"]["mask_share"]
    assert set(shares) == {f"{method} · {model}" for method in ("Grad-CAM", "occlusion") for model in ("attention", "causal")} | {
        "mask area (share expected by chance)"
    }
    assert 0 < shares["mask area (share expected by chance)"] < 0.2
    assert sorted(p.name for p in (cfg.output / "plots").glob("explanations_*.png")) == [
        "explanations_defective_cells.png",
        "explanations_pasted_cracks.png",
    ]
    assert len(saved["timings"]["steps"]) == len([line for line in lines if line.startswith("[")])
    splits = sorted(p.name for p in (cfg.output / "splits").iterdir())
    assert splits == [
        "elpv_4.json",
        "elpv_binary.json",
        "spurious_cell_type.json",
        "spurious_cell_type_untied.json",
        "spurious_vignetting.json",
        "spurious_vignetting_untied.json",
    ]


def test_report_has_every_section_and_rebuilds_identically(study):
    cfg, _, _ = study
    html = (cfg.output / "report.html").read_text()
    for anchor in ("graph", "clean-corrupted", "spurious", "ablation", "ces", "dowhy", "explanations", "timings"):
        assert f'id="{anchor}"' in html
    assert "data:image/png;base64," in html
    tables = sorted(p.name for p in (cfg.output / "tables").iterdir())
    assert {
        "ablation.csv",
        "ces.csv",
        "spurious_groups_cell_type.csv",
        "spurious_groups_vignetting.csv",
        "clean_corrupted_elpv_binary.csv",
        "dowhy_causal.csv",
    } <= set(tables)
    before = html
    write_classification_report(cfg.output)
    assert (cfg.output / "report.html").read_text() == before


def test_a_second_run_reuses_the_saved_splits(study, tmp_path):
    cfg, _, _ = study
    for name in ("cell_type", "vignetting"):
        stored = json.loads((cfg.output / "splits" / f"spurious_{name}.json").read_text())
        assert stored["tie"] == 0.8 and stored["test_per_group"] == 4 and stored["seed"] == 3
        assert not set(stored["train"]) & set(stored["test"]) and not set(stored["val"]) & set(stored["test"])
    assert "shift" not in json.loads((cfg.output / "splits" / "spurious_cell_type.json").read_text())
    shift = json.loads((cfg.output / "splits" / "spurious_vignetting.json").read_text())["shift"]
    assert (shift["corruption"], shift["severity"], shift["seed"]) == ("vignetting", 3, 3) and shift["images"]
    for name in ("cell_type", "vignetting"):  # the untied reference: same test cells, no tie in training
        tied = json.loads((cfg.output / "splits" / f"spurious_{name}.json").read_text())
        untied = json.loads((cfg.output / "splits" / f"spurious_{name}_untied.json").read_text())
        assert untied["tie"] == 0.5 and untied["test"] == tied["test"]


def test_config_errors_are_clear(tmp_path):
    path = tmp_path / "bad.yaml"
    for bad, message in (
        ({"models": ["vit"]}, "models must be some of"),
        ({"strata": "psychic"}, "strata must be one of"),
        ({"corrupted": {"preset": "nope"}}, "unknown preset"),
        ({"spurious": {"tie": 1.5}}, "tie must be in"),
        ({"colour": "red"}, r"bad\.yaml: colour: unknown key"),
        ({"max_cells": 3}, "max_cells must be at least 16"),
    ):
        path.write_text(yaml.safe_dump({"job": "classification", **bad}))
        with pytest.raises(ConfigError, match=message):
            load_job_config(path)
