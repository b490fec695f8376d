"""write_classification_report from hand-written results.json files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from defectlab.errors import DataError
from defectlab.report.classification_report import (
    load_results,
    write_classification_report,
)

OPTIONAL = ("spurious", "ablation", "ces", "dowhy", "explanations")


def metrics(acc: float) -> dict[str, float]:
    return {"accuracy": acc, "macro_f1": acc - 0.05, "auroc": acc + 0.05}


def model_row(clean: float, corrupted: float, best_epoch: int | None = 3) -> dict:
    return {
        "clean": metrics(clean),
        "corrupted": metrics(corrupted),
        "robustness_index": {k: metrics(corrupted)[k] / v for k, v in metrics(clean).items()},
        "best_epoch": best_epoch,
        "train_seconds": 1.25,
        "history": [],
    }


def minimal(with_config: bool = True) -> dict:
    results = {
        "job": "classification",
        "schemes": {
            "elpv_binary": {
                "class_names": ["functional", "defective"],
                "n_train": 80,
                "n_val": 20,
                "n_test": 40,
                "models": {"smallcnn": model_row(0.8, 0.7), "causal": model_row(0.85, 0.8, None)},
            }
        },
        "timings": {
            "steps": [{"step": "elpv_binary · smallcnn", "seconds": 1.5}, {"step": "elpv_binary · causal", "seconds": 2.0}],
            "total_seconds": 3.5,
        },
    }
    if with_config:
        results["config"] = {"seed": 42, "corrupted": {"preset": "mvtec-shift-photometric"}}
    return results


def group_rep(worst: float, values: tuple[str, str] = ("mono", "poly")) -> dict:
    a, b = values
    groups = {
        f"{a}/functional": {"accuracy": 0.9, "n": 4},
        f"{a}/defective": {"accuracy": worst, "n": 4},
        f"{b}/functional": {"accuracy": 0.8, "n": 4},
        f"{b}/defective": {"accuracy": 0.7, "n": 4},
    }
    return {
        "groups": groups,
        "worst_group": f"{a}/defective",
        "worst_group_accuracy": worst,
        "mean_group_accuracy": sum(g["accuracy"] for g in groups.values()) / 4,
        "accuracy": 0.75,
    }


def applied_variant() -> dict:
    applied = ("applied", "withheld")
    return {
        "name": "vignetting",
        "nuisance": "applied",
        "tie": 0.9,
        "test_per_group": 4,
        "causal_parts": ["backdoor", "counterfactual"],
        "shift": {"corruption": "vignetting", "severity": 3, "seed": 42, "applied_images": 30},
        "train_groups": {"applied/defective": 45, "applied/functional": 5, "withheld/defective": 4, "withheld/functional": 40},
        "models": {
            "attention (ERM)": group_rep(0.4, applied),
            "causal (nuisance given)": {**group_rep(0.85, applied), "strata": list(applied), "strata_purity": 1.0},
        },
    }


def full() -> dict:
    results = minimal()
    results.update(
        {
            "seed": 42,
            "created": "2024-01-01T00:00:00+00:00",
            "versions": {"numpy": "1.26"},
            "spurious": {
                "cell_type": {
                    "name": "cell_type",
                    "nuisance": "cell_type",
                    "tie": 0.9,
                    "test_per_group": 4,
                    "shift": None,
                    "causal_parts": ["backdoor"],
                    "train_groups": {"mono/functional": 5, "mono/defective": 45, "poly/functional": 40, "poly/defective": 4},
                    "models": {
                        "logistic regression (plain)": group_rep(0.25),
                        "attention (ERM)": group_rep(0.5),
                        "causal (nuisance given)": {**group_rep(0.75), "strata": ["mono", "poly"], "strata_purity": 1.0},
                    },
                },
                "vignetting": applied_variant(),
            },
            "ablation": [
                {
                    "variant": "none",
                    "parts": [],
                    "clean": metrics(0.8),
                    "corrupted": metrics(0.7),
                    "spurious": {"cell_type": None, "vignetting": {"mean_group_accuracy": 0.7, "worst_group_accuracy": 0.4}},
                },
                {
                    "variant": "backdoor",
                    "parts": ["backdoor"],
                    "clean": metrics(0.85),
                    "corrupted": metrics(0.75),
                    "spurious": {"cell_type": {"mean_group_accuracy": 0.8, "worst_group_accuracy": 0.6}, "vignetting": None},
                },
            ],
            "ces": [
                {
                    "model": "causal",
                    "factor": "darker",
                    "description": "intensities x 0.7",
                    "units": 40,
                    "interventional": 0.02,
                    "observational": 0.1,
                    "ces": -0.08,
                    "ces_low": -0.12,
                    "ces_high": -0.03,
                },
                {
                    "model": "causal",
                    "factor": "defect",
                    "description": "synthetic crack pasted on functional cells",
                    "units": 20,
                    "interventional": 0.4,
                    "observational": 0.6,
                    "ces": -0.2,
                    "ces_low": None,
                    "ces_high": None,
                },
            ],
            "dowhy": {
                "n_rows": 80,
                "structure_model": "causal",
                "structure_edges": [["brightness", "prediction", "-->"], ["noise", "sharpness", "---"]],
                "tables": {
                    "causal": [
                        {
                            "factor": "brightness",
                            "estimate": -0.05,
                            "ci_low": -0.08,
                            "ci_high": -0.02,
                            "naive": -0.06,
                            "adjustment": ["domain"],
                            "placebo_effect": 0.001,
                            "placebo_pass": True,
                            "random_common_cause_effect": -0.05,
                            "random_common_cause_pass": True,
                        },
                        {
                            "factor": "domain",
                            "estimate": 0.1,
                            "naive": 0.12,
                            "adjustment": [],
                            "placebo_effect": 0.02,
                            "placebo_pass": False,
                        },
                    ]
                },
            },
            "explanations": {
                "mask_share": {
                    "mask area (share expected by chance)": 0.02,
                    "Grad-CAM · causal": 0.11,
                    "occlusion · causal": float("nan"),
                }
            },
        }
    )
    return results


def write(directory: Path, results) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(results))
    return directory


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as stream:
        return list(csv.reader(stream))


@pytest.mark.parametrize("with_config", [True, False])
def test_minimal_results(tmp_path, with_config):
    directory = write(tmp_path / "run", minimal(with_config))
    report = write_classification_report(directory)
    assert report == directory / "report.html" and report.is_file()
    page = report.read_text()
    for anchor in ("graph", "clean-corrupted", "timings"):
        assert f'id="{anchor}"' in page
    for anchor in OPTIONAL:
        assert f'id="{anchor}"' not in page
    assert "Defect classification report" in page
    assert "smallcnn" in page and "causal" in page
    if with_config:
        assert "mvtec-shift-photometric" in page
    assert sorted(p.name for p in (directory / "tables").iterdir()) == ["clean_corrupted_elpv_binary.csv", "timings.csv"]
    rows = read_csv(directory / "tables" / "clean_corrupted_elpv_binary.csv")
    assert rows[0][0] == "model" and [r[0] for r in rows[1:]] == ["smallcnn", "causal"]
    assert float(rows[1][1]) == 0.8 and float(rows[1][2]) == 0.7
    timings = read_csv(directory / "tables" / "timings.csv")
    assert [r[0] for r in timings[1:]] == ["elpv_binary · smallcnn", "elpv_binary · causal", "total"]
    assert float(timings[-1][1]) == 3.5
    summary = (directory / "summary.md").read_text()
    assert summary.startswith("# Defect classification report")
    assert "## Clean and corrupted test sets" in summary and "## Timings" in summary
    assert "## Spurious correlation" not in summary and "## Causal Effect Strength" not in summary


def test_every_section(tmp_path):
    directory = write(tmp_path / "run", full())
    page = write_classification_report(directory).read_text()
    for anchor in ("graph", "clean-corrupted", *OPTIONAL, "timings"):
        assert f'id="{anchor}"' in page, anchor
    order = [page.index(f'id="{a}"') for a in ("graph", "clean-corrupted", *OPTIONAL, "timings")]
    assert order == sorted(order)
    assert "brightness --&gt; prediction; noise --- sharpness" in page
    assert "cell_type · causal (nuisance given): strata mono, poly (purity 1.000)" in page
    assert "nuisance metadata &#x27;cell_type&#x27;" in page
    assert (
        "vignetting: nuisance the shift suite&#x27;s vignetting at severity 3 (seed 42), applied to the cells of the "
        "&#x27;applied&#x27; stratum"
    ) in page
    assert "backdoor, counterfactual (views exact: each training cell with the vignetting withheld and applied)" in page
    assert "2024-01-01T00:00:00+00:00" in page
    tables = sorted(p.name for p in (directory / "tables").iterdir())
    assert tables == sorted(
        [
            "clean_corrupted_elpv_binary.csv",
            "spurious_groups_cell_type.csv",
            "spurious_groups_vignetting.csv",
            "ablation.csv",
            "ces.csv",
            "dowhy_causal.csv",
            "mask_share.csv",
            "timings.csv",
        ]
    )
    groups = read_csv(directory / "tables" / "spurious_groups_cell_type.csv")
    assert groups[0] == ["model", "mono/defective", "mono/functional", "poly/defective", "poly/functional", "mean", "worst group"]
    assert [r[0] for r in groups[1:]] == ["logistic regression (plain)", "attention (ERM)", "causal (nuisance given)"]
    applied = read_csv(directory / "tables" / "spurious_groups_vignetting.csv")
    assert applied[0][1:5] == ["applied/defective", "applied/functional", "withheld/defective", "withheld/functional"]
    assert [r[0] for r in applied[1:]] == ["attention (ERM)", "causal (nuisance given)"] and float(applied[2][-1]) == 0.85
    ablation = read_csv(directory / "tables" / "ablation.csv")
    assert ablation[0][4:] == ["cell_type mean", "cell_type worst group", "vignetting mean", "vignetting worst group"]
    assert ablation[1][0] == "none" and ablation[1][4:6] == ["", ""] and float(ablation[1][-1]) == 0.4
    assert float(ablation[2][5]) == 0.6 and ablation[2][6:] == ["", ""]
    ces = read_csv(directory / "tables" / "ces.csv")
    assert [r[1] for r in ces[1:]] == ["darker", "defect"]
    dowhy = read_csv(directory / "tables" / "dowhy_causal.csv")
    assert dowhy[1][0] == "brightness" and dowhy[2][0] == "domain"
    share = read_csv(directory / "tables" / "mask_share.csv")
    assert [r[0] for r in share[1:]] == ["mask area (share expected by chance)", "Grad-CAM · causal", "occlusion · causal"]
    summary = (directory / "summary.md").read_text()
    for title in (
        "Spurious correlation",
        "Ablation of the causal parts",
        "Causal Effect Strength",
        "Effect estimates (DoWhy)",
        "Explanations",
        "Timings",
    ):
        assert f"## {title}" in summary


def test_report_is_rebuilt_identically(tmp_path):
    directory = write(tmp_path / "run", full())
    first = write_classification_report(directory).read_bytes()
    assert write_classification_report(directory).read_bytes() == first


def test_missing_results(tmp_path):
    with pytest.raises(DataError, match="results.json"):
        write_classification_report(tmp_path)
    with pytest.raises(DataError, match=str(tmp_path / "results.json")):
        load_results(tmp_path)


def test_malformed_results(tmp_path):
    (tmp_path / "results.json").write_text('{"job": "classification", ')
    with pytest.raises(DataError, match=str(tmp_path / "results.json")):
        write_classification_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


def test_the_envelope_names_the_job(tmp_path):
    from defectlab.report.page import results_job

    assert results_job(write(tmp_path / "yes", minimal())) == "classification"
    assert results_job(write(tmp_path / "robustness", {"job": "robustness"})) == "robustness"
    with pytest.raises(DataError, match="names no job"):
        results_job(write(tmp_path / "nojob", {"schemes": {}}))
    with pytest.raises(DataError, match="does not hold a results object"):
        results_job(write(tmp_path / "list", [1, 2]))
    with pytest.raises(DataError, match="results.json not found"):
        results_job(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("not json")
    with pytest.raises(DataError, match="cannot read"):
        results_job(broken)


def test_results_that_are_not_an_object_are_a_clear_error(tmp_path):
    from defectlab.errors import DataError
    from defectlab.report.classification_report import load_results

    (tmp_path / "results.json").write_text("[1, 2, 3]")
    with pytest.raises(DataError, match="does not hold a results object"):
        load_results(tmp_path)


def test_training_curves_and_group_bars_are_written_as_png(tmp_path):
    import io

    from PIL import Image

    from defectlab.report.classification_report import write_classification_report

    history = [{"epoch": e, "val_macro_f1": 0.5 + 0.1 * e, "train_loss": 1.0 / e} for e in (1, 2, 3)]
    row = {
        "clean": {"accuracy": 0.8},
        "corrupted": {"accuracy": 0.7},
        "robustness_index": {"accuracy": 0.875},
        "best_epoch": 3,
        "train_seconds": 1.0,
        "history": history,
    }
    group = {
        "groups": {"a/0": {"accuracy": 0.9, "n": 4}, "a/1": {"accuracy": 0.5, "n": 4}},
        "mean_group_accuracy": 0.7,
        "worst_group_accuracy": 0.5,
    }
    results = {
        "job": "classification",
        "config": {},
        "schemes": {
            "elpv_binary": {
                "class_names": ["functional", "defective"],
                "n_train": 1,
                "n_val": 1,
                "n_test": 1,
                "models": {"attention": row},
            }
        },
        "spurious": {
            "cell_type": {
                "name": "cell_type",
                "nuisance": "cell_type",
                "tie": 0.9,
                "test_per_group": 4,
                "causal_parts": ["backdoor"],
                "train_groups": {"a/0": 3},
                "models": {"attention (ERM)": group},
            }
        },
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    write_classification_report(tmp_path)
    for name in ("training_elpv_binary.png", "spurious_groups_cell_type.png"):
        with Image.open(io.BytesIO((tmp_path / "plots" / name).read_bytes())) as image:
            assert image.format == "PNG" and image.width > 300
    assert "training curves, elpv_binary" in (tmp_path / "report.html").read_text()
