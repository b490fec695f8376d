"""`defectlab shift`: a shifted copy of a dataset from the command line, and its errors."""

from __future__ import annotations

import json

import pytest
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, env):
    work = tmp_path_factory.mktemp("shift")
    args = [
        "synth",
        work / "clean",
        "--categories",
        "texture",
        "--n-train",
        "4",
        "--n-test-good",
        "2",
        "--n-defect",
        "1",
        "--size",
        "64",
    ]
    assert run_cli(args, env, work, spawn_process=True).returncode == 0
    return work


def test_shift_writes_dataset_and_mirrored_split(dataset, env):
    fit_split = dataset / "clean.split.json"
    from defectlab.data.mvtec import read_mvtec
    from defectlab.data.splits import make_split

    make_split(read_mvtec(dataset / "clean", "texture"), "mvtec", 42).save(fit_split)
    result = run_cli(
        [
            "shift",
            dataset / "clean",
            dataset / "shifted",
            "--preset",
            "mvtec-shift",
            "--category",
            "texture",
            "--split",
            fit_split,
        ],
        env,
        dataset,
    )
    assert result.returncode == 0, str(result)
    assert "mvtec-shift" in result.stdout
    record = json.loads((dataset / "shifted" / "shift.json").read_text())
    assert record["preset"] == "mvtec-shift" and record["categories"] == ["texture"]
    assert (dataset / "shifted" / "texture.split.json").is_file()
    assert len(list((dataset / "shifted" / "texture" / "test").rglob("*.png"))) == 2 + 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--corruption", "hflip", "--preset", "mvtec-shift"], "exactly one"),
        (["--corruption", "warp"], "warp"),
        (["--corruption", "gaussian_blur", "--severity", "9"], "severity"),
    ],
)
def test_shift_bad_requests(dataset, env, args, needle):
    result = run_cli(["shift", dataset / "clean", dataset / "bad", *args], env, dataset)
    assert_one_line_error(result, needle)
    assert not (dataset / "bad" / "texture").exists()
