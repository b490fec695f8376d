"""The router-only share of ELPV's defective cells: seeded, saved, reused, and out of every test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from defectlab.data.sample import Sample
from defectlab.experiments.router_study.data import Category, _set_router_only


def _category() -> Category:
    image = np.zeros((4, 4, 3), np.uint8)
    test = [Sample(image, label=i % 2, id=f"cell{i:02d}") for i in range(40)]
    train = [Sample(image, label=0, id=f"train{i}") for i in range(5)]
    return Category("elpv-mono", "elpv", train, [], test)


def test_share_of_defective_test_images_moves_to_the_router(tmp_path: Path) -> None:
    category = _set_router_only(_category(), 0.5, tmp_path, 42)
    assert len(category.router_only) == 10 and all(s.label == 1 for s in category.router_only)
    assert not {s.id for s in category.router_only} & {s.id for s in category.test}
    assert len(category.test) == 30 and sum(s.label for s in category.test) == 10
    assert [s.id for s in category.router_train] == [f"train{i}" for i in range(5)] + [s.id for s in category.router_only]
    stored = json.loads((tmp_path / "elpv-mono.router.json").read_text())
    assert stored["ids"] == sorted(s.id for s in category.router_only) and stored["share"] == 0.5


def test_saved_ids_are_reused_and_redrawn_for_another_share(tmp_path: Path) -> None:
    first = _set_router_only(_category(), 0.5, tmp_path, 42)
    path = tmp_path / "elpv-mono.router.json"
    stored = json.loads(path.read_text())
    stored["ids"] = ["cell01"]  # a hand-edited split is honoured as saved
    path.write_text(json.dumps(stored))
    assert [s.id for s in _set_router_only(_category(), 0.5, tmp_path, 42).router_only] == ["cell01"]
    other = _set_router_only(_category(), 0.25, tmp_path, 42)
    assert len(other.router_only) == 5 and len(first.router_only) == 10
    assert _set_router_only(_category(), 0.0, tmp_path, 42).router_only == []
