"""Effect of image nuisances on a classifier's prediction: DoWhy backdoor estimates and PC structure.

The table has one row per image: the nuisance measurements of `defectlab.analysis.nuisance`
(brightness, contrast, sharpness, noise), the image's domain, its true defect class (label)
and the classifier's prediction. `CAUSAL_GRAPH` is the assumed causal graph "image nuisances
-> features -> prediction", with the classifier's features folded into the prediction node:

    domain -> brightness, contrast, sharpness, noise, prediction
    label  -> brightness, contrast, prediction
    brightness, contrast, sharpness, noise -> prediction

The domain (camera, plant, acquisition batch) sets the imaging conditions; the defect itself
changes the gray levels (brightness, contrast) and is what the prediction should follow.
Every variable is observed, so each effect on the prediction is identified by the backdoor
criterion: brightness and contrast are adjusted for domain and label, sharpness and noise
for domain; domain and label have no backdoor path, and their estimate is the total effect,
including the part that goes through the nuisances.

`effect_table` estimates these effects with DoWhy (linear regression on the backdoor set) and
refutes them; `structure_edges` learns the structure from the same table with the PC algorithm
of causal-learn. CausalNex was the structure learner asked for, but every CausalNex release
requires Python < 3.11 and does not install beside defectlab's pinned stack (Python 3.11).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import networkx as nx
import numpy as np
import pandas as pd
from causallearn.search.ConstraintBased.PC import pc
from dowhy import CausalModel
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_identifier import IdentifiedEstimand

from defectlab.errors import ConfigError, DataError

OUTCOME = "prediction"
FACTORS = ("brightness", "contrast", "sharpness", "noise", "domain")

CAUSAL_GRAPH = nx.DiGraph(
    [("domain", n) for n in ("brightness", "contrast", "sharpness", "noise", OUTCOME)]
    + [("label", n) for n in ("brightness", "contrast", OUTCOME)]
    + [(n, OUTCOME) for n in ("brightness", "contrast", "sharpness", "noise")]
)
"""Assumed causal graph of the effect table (see the module docstring); not to be mutated."""

REFUTERS = {
    "placebo_treatment_refuter": "placebo",
    "random_common_cause": "random_common_cause",
    "data_subset_refuter": "data_subset",
}
"""DoWhy refuters `effect_table` runs, and the prefix of their columns."""

_REFUTER_OPTIONS = {
    "placebo_treatment_refuter": {"placebo_type": "permute"},
    "data_subset_refuter": {"subset_fraction": 0.8},
}
_MIN_ROWS = 10


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence DoWhy's log records and all warnings for the duration of the block."""
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _codes(column: pd.Series) -> pd.Series:
    """Numeric columns as float64; any other column as the integer codes of its sorted values."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64)
    return pd.Series(pd.factorize(column, sort=True)[0], index=column.index, name=column.name, dtype=np.float64)


def _zscore(column: pd.Series) -> pd.Series:
    """(column - mean) / standard deviation (ddof 0); a constant column is a DataError."""
    spread = column.std(ddof=0)
    if not spread > 0:
        raise DataError(f"column {column.name!r} is constant and cannot be standardized")
    return (column - column.mean()) / spread


def _checked(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns of `frame`, with enough rows and no missing or infinite value."""
    if len(frame) < _MIN_ROWS:
        raise DataError(f"the table needs at least {_MIN_ROWS} rows, got {len(frame)}")
    table = frame[list(columns)]
    missing = [name for name in columns if table[name].isna().any()]
    if missing:
        raise DataError(f"columns with missing values: {', '.join(missing)}")
    if not np.isfinite(table.select_dtypes("number").to_numpy(dtype=np.float64)).all():
        raise DataError("the table contains infinite values")
    return table


def _graph(columns: Sequence[str], outcome: str) -> nx.DiGraph:
    """`CAUSAL_GRAPH` with the prediction node named `outcome`, restricted to the given columns.

    Variables missing from the table are dropped with their edges, i.e. assumed to confound nothing.
    """
    if outcome != OUTCOME and outcome in CAUSAL_GRAPH:
        raise ConfigError(f"outcome {outcome!r} is a cause in the causal graph, not the prediction")
    graph = nx.relabel_nodes(CAUSAL_GRAPH, {OUTCOME: outcome})
    return nx.DiGraph(graph.subgraph([node for node in graph if node in columns]))


def _prepared(table: pd.DataFrame, treatment: str) -> pd.DataFrame:
    """Treatment as z-scores, a domain of more than two values categorical, the rest as float64 codes."""
    prepared = {}
    for name, column in table.items():
        if name == treatment:
            prepared[name] = _zscore(_codes(column))
        elif name == "domain" and column.nunique() > 2:
            prepared[name] = column.astype("category")  # one-hot encoded by DoWhy's regression
        else:
            prepared[name] = _codes(column)
    return pd.DataFrame(prepared)


def _refutation(
    model: CausalModel,
    estimand: IdentifiedEstimand,
    estimate: CausalEstimate,
    refuter: str,
    seed: int,
    num_simulations: int,
) -> tuple[float, float]:
    """(new effect, p-value or NaN) of one DoWhy refuter, seeded by its own RandomState."""
    result = model.refute_estimate(
        estimand,
        estimate,
        method_name=refuter,
        num_simulations=num_simulations,
        random_state=np.random.RandomState(seed),
        **_REFUTER_OPTIONS.get(refuter, {}),
    )
    p_value = (result.refutation_result or {}).get("p_value", np.nan)
    return float(result.new_effect), float(p_value)


def _factor_row(
    table: pd.DataFrame,
    graph: nx.DiGraph,
    factor: str,
    outcome: str,
    seed: int,
    refuters: Sequence[str],
    num_simulations: int,
) -> dict[str, object]:
    """One row of `effect_table`: estimate, interval, naive slope, backdoor set and refutations."""
    data = _prepared(table, factor)
    y = data[outcome].to_numpy()
    model = CausalModel(data=data, treatment=factor, outcome=outcome, graph=graph)
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    estimate = model.estimate_effect(
        estimand, method_name="backdoor.linear_regression", confidence_intervals=True, effect_modifiers=[]
    )
    ci_low, ci_high = np.asarray(estimate.get_confidence_intervals(), dtype=np.float64).ravel()
    value = float(estimate.value)
    half_width = (ci_high - ci_low) / 2.0
    row: dict[str, object] = {
        "factor": factor,
        "estimate": value,
        "ci_low": float(ci_low),
        "ci_high": float(ci_high),
        "naive": float(np.mean(data[factor].to_numpy() * (y - y.mean()))),
        "adjustment": tuple(sorted(estimand.get_backdoor_variables())),
    }
    for refuter in refuters:
        new_effect, p_value = _refutation(model, estimand, estimate, refuter, seed, num_simulations)
        target = 0.0 if refuter == "placebo_treatment_refuter" else value
        prefix = REFUTERS[refuter]
        row[f"{prefix}_effect"] = new_effect
        row[f"{prefix}_p_value"] = p_value
        row[f"{prefix}_pass"] = bool(abs(new_effect - target) <= half_width)
    return row


def effect_table(
    frame: pd.DataFrame,
    outcome: str = OUTCOME,
    factors: Sequence[str] = FACTORS,
    seed: int = 42,
    refuters: Sequence[str] = tuple(REFUTERS),
    num_simulations: int = 20,
) -> pd.DataFrame:
    """Backdoor-adjusted effect of each factor on `outcome`, per standard deviation of the factor.

    For each factor DoWhy identifies the effect on `CAUSAL_GRAPH` (its prediction node named
    `outcome`, restricted to the table's columns) with the backdoor criterion and estimates it
    by linear regression of the outcome on the z-scored factor and the backdoor set, without
    interactions. Non-numeric columns are coded by their sorted values (a domain treatment is
    then a linear trend over domain codes); a domain of more than two values is one-hot encoded
    when adjusted for; label and outcome are used as numbers (a 0/1 prediction gives a linear
    probability model).

    Columns: factor, estimate with its 95% confidence interval ci_low / ci_high, naive (the
    unadjusted regression slope), adjustment (the backdoor set), and per refuter
    `<prefix>_effect`, `<prefix>_p_value`, `<prefix>_pass` with the prefixes of `REFUTERS`.
    Each refuter runs `num_simulations` times with `numpy.random.RandomState(seed)`: the
    placebo (treatment permuted) passes when its mean effect is within the confidence
    interval's half-width of 0, the random common cause and the 80% data subsets when theirs
    is within that half-width of the estimate. P-values are DoWhy's.
    """
    unknown = [name for name in refuters if name not in REFUTERS]
    if unknown:
        raise ConfigError(f"unknown refuter {unknown[0]!r}; choose from {', '.join(REFUTERS)}")
    if num_simulations < 2:
        raise ConfigError(f"num_simulations must be >= 2, got {num_simulations}")
    if outcome not in frame.columns:
        raise DataError(f"the table has no outcome column {outcome!r}")
    graph = _graph(list(frame.columns), outcome)
    if not factors or len(set(factors)) != len(factors):
        raise ConfigError(f"factors must be distinct and not empty, got {list(factors)}")
    causes = sorted(set(CAUSAL_GRAPH) - {OUTCOME})
    for factor in factors:
        if factor not in causes:
            raise ConfigError(f"factor {factor!r} is not a cause in the causal graph; choose from {', '.join(causes)}")
        if factor not in graph:
            raise DataError(f"the table has no column {factor!r}")
    table = _checked(frame, list(graph))
    with _quiet():
        rows = [_factor_row(table, graph, factor, outcome, seed, refuters, num_simulations) for factor in factors]
    return pd.DataFrame(rows)


def structure_edges(frame: pd.DataFrame, alpha: float = 0.05) -> list[tuple[str, str, str]]:
    """Edges (a, b, kind) that causal-learn's PC algorithm (Fisher-z tests) finds in the table.

    Every column is a variable: non-numeric ones are coded by their sorted values, then all are
    z-scored. kind is "->" (a causes b), "--" (unoriented) or "<->" (PC's conflicting
    orientations). Edges are ordered by the table's column order. CausalNex's structure
    learning would be the alternative, but it does not install on Python 3.11.
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    names = [str(name) for name in frame.columns]
    if len(names) < 2:
        raise DataError(f"structure learning needs at least 2 columns, got {len(names)}")
    table = _checked(frame, list(frame.columns))
    data = np.column_stack([_zscore(_codes(table[name])).to_numpy() for name in table.columns])
    with _quiet():
        endpoints = pc(data, alpha=alpha, indep_test="fisherz", show_progress=False, node_names=names).G.graph
    kinds = {(-1, 1): "->", (-1, -1): "--", (1, 1): "<->"}
    edges = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            ends = (int(endpoints[i, j]), int(endpoints[j, i]))
            if ends == (1, -1):
                edges.append((names[j], names[i], "->"))
            elif ends in kinds:
                edges.append((names[i], names[j], kinds[ends]))
    return edges
