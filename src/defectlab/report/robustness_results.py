"""Read a robustness results directory: results.json, arrays/<id>.npz and embeddings/<category>.npz.

The format is written by the robustness runner (see `defectlab run` with `job: robustness`).
`load_results` checks results.json strictly: a missing file, invalid JSON or a malformed field
raises DataError naming the file. Arrays and embeddings are loaded one by one, so a report can
skip a missing or broken one and keep going.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from defectlab.errors import DataError

PHASES = (
    "clean",
    "shift_no_adaptation",
    "shift_adapted",
    "few_shot",
    "global",
    "cross_domain",
    "cross_shift",
    "ablation",
    "severity",
)
HEADLINE_PHASES = ("clean", "shift_no_adaptation", "shift_adapted")
RESULTS_FILE = "results.json"
_SAFE_ID = re.compile(r"[A-Za-z0-9_@+=-][A-Za-z0-9_.@+=,-]*")


@dataclass(frozen=True)
class Evaluation:
    """One detector on one test set under one condition (see the results format)."""

    id: str
    category: str
    detector: str
    phase: str
    shift: str
    train: str
    variant: dict[str, Any]
    metrics: dict[str, float | None]
    intervals: dict[str, tuple[float, float]]
    ri: dict[str, float | None]
    threshold: float | None
    n_test: int | None
    n_anomalous: int | None
    timings: dict[str, float | None]
    arrays: str | None
    gallery: dict[str, str]


@dataclass(frozen=True)
class Comparison:
    """A paired test of detectors `a` and `b` on the same test set."""

    category: str
    phase: str
    shift: str
    variant: dict[str, Any]
    a: str
    b: str
    metric: str
    value_a: float | None
    value_b: float | None
    difference: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    method: str


@dataclass(frozen=True)
class Results:
    """The content of results.json."""

    directory: Path
    created: str
    seed: int | None
    versions: dict[str, str]
    config: dict[str, Any]
    evaluations: tuple[Evaluation, ...]
    comparisons: tuple[Comparison, ...]
    embeddings: tuple[tuple[str, str], ...]  # (category, file relative to the directory)


class Arrays(NamedTuple):
    """Per-image arrays of one evaluation; the defect fields are None when the file lacks them."""

    labels: np.ndarray
    scores: np.ndarray
    normalized: np.ndarray | None
    threshold: float
    defect_type: np.ndarray | None
    defect_area: np.ndarray | None
    defect_region: np.ndarray | None


class Embedding(NamedTuple):
    """2-D embedding of one category's patches or images, for a scatter plot."""

    category: str
    coords: np.ndarray
    anomalous: np.ndarray
    domain: np.ndarray
    kind: str
    method: str


class _Reader:
    """Typed access to parsed JSON that raises DataError naming the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> DataError:
        return DataError(f"{self.path}: {where} {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, got {value!r}")
        return value

    def number(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be a number or null, got {value!r}")
        return float(value)

    def integer(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer or null, got {value!r}")
        return value

    def numbers(self, value: Any, where: str) -> dict[str, float | None]:
        return {str(k): self.number(v, f"{where}.{k}") for k, v in self.mapping(value or {}, where).items()}

    def interval(self, value: Any, where: str) -> tuple[float, float] | None:
        """[low, high]; None when the value or either end is null (the bootstrap was undefined)."""
        if value is None:
            return None
        pair = self.items(value, where)
        if len(pair) != 2:
            raise self.fail(where, f"must be [low, high], got {value!r}")
        low, high = (self.number(v, where) for v in pair)
        return None if low is None or high is None else (low, high)

    def required(self, record: dict[str, Any], key: str, where: str) -> Any:
        if key not in record:
            raise self.fail(where, f"lacks {key!r}")
        return record[key]

    def required_text(self, record: dict[str, Any], where: str, key: str) -> str:
        return self.text(self.required(record, key, where), f"{where}.{key}")


def _evaluation(read: _Reader, raw: Any, where: str) -> Evaluation:
    record = read.mapping(raw, where)
    field = partial(read.required_text, record, where)
    eval_id, phase = field("id"), field("phase")
    if not _SAFE_ID.fullmatch(eval_id):
        raise read.fail(f"{where}.id", f"{eval_id!r} is not file-name safe")
    if phase not in PHASES:
        raise read.fail(f"{where}.phase", f"{phase!r} is unknown; valid: {', '.join(PHASES)}")
    intervals = read.mapping(record.get("intervals") or {}, f"{where}.intervals")
    gallery = read.mapping(record.get("gallery") or {}, f"{where}.gallery")
    arrays = record.get("arrays")
    return Evaluation(
        id=eval_id,
        category=field("category"),
        detector=field("detector"),
        phase=phase,
        shift=field("shift"),
        train=read.text(record.get("train", ""), f"{where}.train"),
        variant=read.mapping(record.get("variant") or {}, f"{where}.variant"),
        metrics=read.numbers(read.required(record, "metrics", where), f"{where}.metrics"),
        intervals={k: iv for k, v in intervals.items() if (iv := read.interval(v, f"{where}.intervals.{k}"))},
        ri=read.numbers(record.get("ri"), f"{where}.ri"),
        threshold=read.number(record.get("threshold"), f"{where}.threshold"),
        n_test=read.integer(record.get("n_test"), f"{where}.n_test"),
        n_anomalous=read.integer(record.get("n_anomalous"), f"{where}.n_anomalous"),
        timings=read.numbers(record.get("timings"), f"{where}.timings"),
        arrays=None if arrays is None else read.text(arrays, f"{where}.arrays"),
        gallery={str(k): read.text(v, f"{where}.gallery.{k}") for k, v in gallery.items()},
    )


def _comparison(read: _Reader, raw: Any, where: str) -> Comparison:
    record = read.mapping(raw, where)
    field = partial(read.required_text, record, where)
    return Comparison(
        category=field("category"),
        phase=field("phase"),
        shift=field("shift"),
        variant=read.mapping(record.get("variant") or {}, f"{where}.variant"),
        a=field("a"),
        b=field("b"),
        metric=field("metric"),
        value_a=read.number(record.get("value_a"), f"{where}.value_a"),
        value_b=read.number(record.get("value_b"), f"{where}.value_b"),
        difference=read.number(record.get("difference"), f"{where}.difference"),
        ci=read.interval(record.get("ci"), f"{where}.ci"),
        p_value=read.number(record.get("p_value"), f"{where}.p_value"),
        method=read.text(record.get("method", ""), f"{where}.method"),
    )


def load_results(results_dir: Path) -> Results:
    """Parse and check `results_dir/results.json`; DataError naming the file when missing or malformed."""
    path = Path(results_dir) / RESULTS_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found (is {results_dir} a robustness results directory?)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read as JSON ({exc})") from exc
    read = _Reader(path)
    top = read.mapping(raw, "the top level")
    evaluations = tuple(
        _evaluation(read, e, f"evaluations[{i}]")
        for i, e in enumerate(read.items(read.required(top, "evaluations", "the top level"), "evaluations"))
    )
    seen: set[str] = set()
    for e in evaluations:
        if e.id in seen:
            raise read.fail("evaluations", f"repeat the id {e.id!r}")
        seen.add(e.id)
    embeddings = []
    for i, entry in enumerate(read.items(top.get("embeddings") or [], "embeddings")):
        record = read.mapping(entry, f"embeddings[{i}]")
        embeddings.append(
            (read.required_text(record, f"embeddings[{i}]", "category"), read.required_text(record, f"embeddings[{i}]", "file"))
        )
    return Results(
        directory=Path(results_dir),
        created=str(top.get("created", "unknown")),
        seed=read.integer(top.get("seed"), "seed"),
        versions={str(k): str(v) for k, v in read.mapping(top.get("versions") or {}, "versions").items()},
        config=read.mapping(top.get("config") or {}, "config"),
        evaluations=evaluations,
        comparisons=tuple(
            _comparison(read, c, f"comparisons[{i}]")
            for i, c in enumerate(read.items(top.get("comparisons") or [], "comparisons"))
        ),
        embeddings=tuple(embeddings),
    )


def resolve(results_dir: Path, relative: str) -> Path:
    """`relative` inside `results_dir`; DataError if it points outside."""
    root = Path(results_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"{relative!r} points outside the results directory {results_dir}")
    return path


def _npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    missing = [key for key in required if key not in arrays]
    if missing:
        raise DataError(f"{path}: lacks {', '.join(missing)}")
    return arrays


def _check_vectors(path: Path, arrays: dict[str, np.ndarray | None], numeric: tuple[str, ...]) -> None:
    """All given arrays 1-D and of one length; the `numeric` ones of a number dtype."""
    shapes = {key: a.shape for key, a in arrays.items() if a is not None}
    if len(set(shapes.values())) > 1 or any(len(shape) != 1 for shape in shapes.values()):
        raise DataError(f"{path}: arrays must be 1-D and of one length, got shapes {shapes}")
    for key in numeric:
        array = arrays.get(key)
        if array is not None and array.dtype.kind not in "biuf":
            raise DataError(f"{path}: {key} must be numeric, got dtype {array.dtype}")


def load_arrays(results_dir: Path, evaluation: Evaluation) -> Arrays:
    """The per-image arrays of `evaluation`; DataError if it has none or the file is missing or malformed."""
    if evaluation.arrays is None:
        raise DataError(f"evaluation {evaluation.id} has no arrays")
    path = resolve(results_dir, evaluation.arrays)
    data = _npz(path, ("labels", "scores", "threshold"))
    optional = {key: data.get(key) for key in ("normalized", "defect_type", "defect_area", "defect_region")}
    _check_vectors(
        path, {"labels": data["labels"], "scores": data["scores"], **optional}, ("labels", "scores", "normalized", "defect_area")
    )
    if data["threshold"].size != 1 or data["threshold"].dtype.kind not in "biuf":
        raise DataError(f"{path}: threshold must be one number, got {data['threshold']!r}")
    return Arrays(
        data["labels"],
        data["scores"],
        optional["normalized"],
        float(data["threshold"]),
        optional["defect_type"],
        optional["defect_area"],
        optional["defect_region"],
    )


def load_embedding(results_dir: Path, category: str, relative: str) -> Embedding:
    """One embeddings file; DataError if it is missing or malformed."""
    path = resolve(results_dir, relative)
    data = _npz(path, ("coords", "anomalous", "domain"))
    coords = data["coords"]
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise DataError(f"{path}: coords must be (M, 2), got shape {coords.shape}")
    _check_vectors(
        path,
        {"coords[:, 0]": coords[:, 0], "anomalous": data["anomalous"], "domain": data["domain"]},
        ("coords[:, 0]", "anomalous"),
    )
    return Embedding(
        category,
        coords.astype(np.float64),
        data["anomalous"].astype(np.int64),
        data["domain"].astype(str),
        str(data.get("kind", "patch")),
        str(data.get("method", "")),
    )


class Headline(NamedTuple):
    """The clean, shifted-not-adapted and shifted-adapted evaluations of one category, detector and shift."""

    category: str
    detector: str
    shift: str
    clean: Evaluation | None
    no_adaptation: Evaluation | None
    adapted: Evaluation | None


def of_phase(evaluations: Sequence[Evaluation], phase: str) -> list[Evaluation]:
    """The evaluations of one phase, in order of appearance."""
    return [e for e in evaluations if e.phase == phase]


def find(
    evaluations: Sequence[Evaluation], phase: str, category: str, detector: str, shift: str | None = None
) -> Evaluation | None:
    """The first evaluation of this phase, category, detector (and test shift, if given); None if there is none."""
    return next(
        (
            e
            for e in evaluations
            if (e.phase, e.category, e.detector) == (phase, category, detector) and (shift is None or e.shift == shift)
        ),
        None,
    )


def headline(evaluations: Sequence[Evaluation]) -> list[Headline]:
    """One Headline per (category, detector, shift) of the shift phases, in order of appearance.

    A category and detector evaluated clean but under no shift get one row with shift "none".
    """
    keys = list(dict.fromkeys((e.category, e.detector, e.shift) for e in evaluations if e.phase in HEADLINE_PHASES[1:]))
    shifted = {(c, d) for c, d, _ in keys}
    keys += [
        (e.category, e.detector, "none") for e in evaluations if e.phase == "clean" and (e.category, e.detector) not in shifted
    ]
    return [
        Headline(
            c,
            d,
            s,
            find(evaluations, "clean", c, d),
            find(evaluations, "shift_no_adaptation", c, d, s),
            find(evaluations, "shift_adapted", c, d, s),
        )
        for c, d, s in dict.fromkeys(keys)
    ]
