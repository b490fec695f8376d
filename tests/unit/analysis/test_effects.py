"""Backdoor effect estimates, refuters and PC structure on tables with a known linear structural model."""

import logging

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from defectlab.analysis.effects import CAUSAL_GRAPH, REFUTERS, effect_table, structure_edges
from defectlab.errors import ConfigError, DataError

BRIGHTNESS_EFFECT = 0.5  # per unit of brightness
DOMAIN_EFFECT = 0.8  # direct, per domain step
FAST = {"num_simulations": 5}


def confounded_table(n=1000, seed=42, domains=2, classes=2):
    """prediction = 0.5 brightness + 0 noise + 1.0 label + 0.8 [domain effect] + e.

    domain raises brightness and noise, label (0 .. classes - 1) raises brightness: the naive
    slopes of brightness and noise are biased, the backdoor estimates are not. With 3 domains
    the domain effect is non-monotone in the domain code (only domain 1 shifts the prediction).
    """
    rng = np.random.default_rng(seed)
    domain = rng.integers(0, domains, n)
    shift = domain if domains == 2 else (domain == 1)
    label = rng.integers(0, classes, n)
    brightness = 0.4 + 0.2 * shift + 0.05 * label + rng.normal(0, 0.05, n)
    contrast = 0.2 + 0.05 * shift + 0.03 * label + rng.normal(0, 0.02, n)
    sharpness = 0.01 + 0.005 * shift + rng.normal(0, 0.002, n)
    noise = 0.05 + 0.04 * shift + rng.normal(0, 0.02, n)
    prediction = BRIGHTNESS_EFFECT * brightness + 1.0 * label + DOMAIN_EFFECT * shift + rng.normal(0, 0.05, n)
    return pd.DataFrame(
        {
            "domain": np.array(["line-a", "line-b", "line-c"])[domain],
            "label": label,
            "brightness": brightness,
            "contrast": contrast,
            "sharpness": sharpness,
            "noise": noise,
            "prediction": prediction,
        }
    )


@pytest.fixture(scope="module")
def frame():
    return confounded_table()


@pytest.fixture(scope="module")
def table(frame):
    return effect_table(frame, factors=("brightness", "noise", "domain"), **FAST).set_index("factor")


def slope(x, y):
    return np.polyfit(x, y, 1)[0]


def test_causal_graph_is_the_documented_dag():
    assert nx.is_directed_acyclic_graph(CAUSAL_GRAPH)
    causes = {"brightness", "contrast", "sharpness", "noise", "domain", "label"}
    assert set(CAUSAL_GRAPH.predecessors("prediction")) == causes
    assert set(CAUSAL_GRAPH.successors("domain")) == {"brightness", "contrast", "sharpness", "noise", "prediction"}
    assert set(CAUSAL_GRAPH.successors("label")) == {"brightness", "contrast", "prediction"}


def test_columns_and_adjustment_sets(table):
    prefixes = REFUTERS.values()
    expected = ["estimate", "ci_low", "ci_high", "naive", "adjustment"] + [
        f"{prefix}_{what}" for prefix in prefixes for what in ("effect", "p_value", "pass")
    ]
    assert list(table.columns) == expected
    assert list(table.index) == ["brightness", "noise", "domain"]
    assert table.loc["brightness", "adjustment"] == ("domain", "label")
    assert table.loc["noise", "adjustment"] == ("domain",)
    assert table.loc["domain", "adjustment"] == ()


def test_backdoor_recovers_the_brightness_effect_per_standard_deviation(frame, table):
    sd = frame["brightness"].std(ddof=0)
    row = table.loc["brightness"]
    assert row["estimate"] / sd == pytest.approx(BRIGHTNESS_EFFECT, abs=0.05)
    assert row["ci_low"] < BRIGHTNESS_EFFECT * sd < row["ci_high"]


def within_3_se(row, truth):
    """|estimate - truth| < 3 standard errors, the 95% interval's half-width being 1.96 of them."""
    return abs(row["estimate"] - truth) < 1.5 * (row["ci_high"] - row["ci_low"])


def test_zero_effect_factor_is_near_zero(table):
    row = table.loc["noise"]
    assert within_3_se(row, 0.0)
    assert row["ci_high"] - row["ci_low"] < 0.1
    assert abs(row["naive"]) > 4 * abs(row["estimate"])


def test_naive_slope_is_biased_but_backdoor_is_not(frame, table):
    """The backdoor estimate is within 3 standard errors of the truth, the naive slope over 8 away."""
    for factor, truth in (("brightness", BRIGHTNESS_EFFECT), ("noise", 0.0)):
        sd = frame[factor].std(ddof=0)
        row = table.loc[factor]
        naive = slope(frame[factor], frame["prediction"]) * sd
        assert row["naive"] == pytest.approx(naive)
        assert within_3_se(row, truth * sd)
        assert abs(naive - truth * sd) > 2 * (row["ci_high"] - row["ci_low"])  # 8 standard errors


def test_domain_total_effect_includes_the_path_through_brightness(frame, table):
    codes = (frame["domain"] == "line-b").astype(float)
    total = (DOMAIN_EFFECT + BRIGHTNESS_EFFECT * 0.2) * codes.std(ddof=0)
    row = table.loc["domain"]
    assert within_3_se(row, total)
    assert row["estimate"] == pytest.approx(row["naive"])  # nothing to adjust for


def test_refuters_pass_on_a_correct_model(table):
    assert table[[f"{prefix}_pass" for prefix in REFUTERS.values()]].to_numpy().all()
    assert np.abs(table["placebo_effect"]).max() < 0.01
    assert table["random_common_cause_effect"].to_numpy() == pytest.approx(table["estimate"].to_numpy(), abs=1e-3)
    assert table[[f"{prefix}_p_value" for prefix in REFUTERS.values()]].notna().to_numpy().all()


def test_seeded_and_string_domains_match_integer_codes(frame):
    first = effect_table(frame, factors=("noise",), **FAST)
    again = effect_table(frame, factors=("noise",), **FAST)
    pd.testing.assert_frame_equal(first, again)
    coded = frame.assign(domain=(frame["domain"] == "line-b").astype(int))
    pd.testing.assert_frame_equal(effect_table(coded, factors=("noise",), **FAST), first)
    other_seed = effect_table(frame, factors=("noise",), seed=7, **FAST)
    assert other_seed.loc[0, "placebo_effect"] != first.loc[0, "placebo_effect"]


def test_three_domains_are_adjusted_as_categories():
    frame = confounded_table(n=600, domains=3, classes=3)
    row = effect_table(frame, factors=("noise",), refuters=(), **FAST).iloc[0]
    assert within_3_se(row, 0.0) and abs(row["naive"]) > 3 * abs(row["estimate"])


def test_restricted_graph_and_renamed_outcome(frame):
    small = frame[["domain", "label", "brightness", "prediction"]].rename(columns={"prediction": "score"})
    row = effect_table(small, outcome="score", factors=("brightness",), refuters=(), **FAST).iloc[0]
    assert row["estimate"] / frame["brightness"].std(ddof=0) == pytest.approx(BRIGHTNESS_EFFECT, abs=0.05)


def test_dowhy_logging_is_silenced_and_restored(frame, caplog):
    logger = logging.getLogger("dowhy")
    level = logger.level
    caplog.set_level(logging.DEBUG)
    effect_table(frame, factors=("noise",), refuters=("random_common_cause",), **FAST)
    assert not [record for record in caplog.records if record.name.startswith("dowhy")]
    assert logger.level == level


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"refuters": ("bootstrap_refuter",)}, ConfigError),
        ({"factors": ("label", "label")}, ConfigError),
        ({"factors": ("gamma",)}, ConfigError),
        ({"factors": ("prediction",)}, ConfigError),
        ({"num_simulations": 1}, ConfigError),
        ({"outcome": "brightness"}, ConfigError),
        ({"outcome": "score"}, DataError),
    ],
)
def test_invalid_options(frame, kwargs, error):
    with pytest.raises(error):
        effect_table(frame, **kwargs)


def test_invalid_tables(frame):
    with pytest.raises(DataError, match="no column 'sharpness'"):
        effect_table(frame.drop(columns="sharpness"), factors=("sharpness",))
    with pytest.raises(DataError, match="missing"):
        effect_table(frame.assign(noise=np.nan), factors=("brightness",))
    with pytest.raises(DataError, match="infinite"):
        effect_table(frame.assign(prediction=np.inf), factors=("brightness",))
    with pytest.raises(DataError, match="constant"):
        effect_table(frame.assign(noise=1.0), factors=("noise",), refuters=())
    with pytest.raises(DataError, match="rows"):
        effect_table(frame.head(5))


# structure_edges


def test_pc_finds_a_chain_and_orients_a_collider():
    rng = np.random.default_rng(42)
    x = rng.normal(size=800)
    y = 0.8 * x + rng.normal(size=800)
    z = 0.8 * y + rng.normal(size=800)
    chain = structure_edges(pd.DataFrame({"x": x, "y": y, "z": z}))
    assert sorted(chain) == [("x", "y", "--"), ("y", "z", "--")]
    v = rng.normal(size=800)
    w = 0.8 * x + 0.8 * v + rng.normal(size=800)
    collider = structure_edges(pd.DataFrame({"x": x, "w": w, "v": v}))
    assert sorted(collider) == [("v", "w", "->"), ("x", "w", "->")]


def test_pc_on_the_effect_table_finds_the_strong_edges(frame):
    edges = {(a, b) for a, b, _ in structure_edges(frame)}
    assert ("label", "prediction") in edges
    assert ("domain", "noise") in edges or ("noise", "domain") in edges


def test_structure_edges_rejects_bad_input(frame):
    with pytest.raises(ConfigError):
        structure_edges(frame, alpha=1.5)
    with pytest.raises(DataError):
        structure_edges(frame[["noise"]])
    with pytest.raises(DataError, match="infinite"):
        structure_edges(frame.assign(noise=np.inf))
