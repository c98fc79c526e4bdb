"""Scoring without models: priority rules, ranking, bands, and values said in words.

The scoring of real champions (needs, warnings, explanations, model behaviour) is in
``tests/scoring/test_scoring_champions.py``."""

from __future__ import annotations

import numpy as np
import pytest

from riskmodel.scoring.explain import describe_value
from riskmodel.scoring.scoring import (
    PRIORITY_RULES,
    band,
    priority_score,
    rank_priority,
)

SCORED_AT = "2025-11-01T00:00:00Z"


def test_priority_rules():
    reoffence, harm, frequency = np.array([0.5, 0.9]), np.array([0.2, 0.0]), np.array([2.0, 1.5])
    args = dict(reoffence=reoffence, harm=harm, frequency=frequency, harm_weight=0.5)
    assert priority_score("frequency", **args).tolist() == [2.0, 1.5]
    assert priority_score("harm_weighted_frequency", **args).tolist() == pytest.approx([2.0 * 1.1, 1.5])
    assert priority_score("reoffence", **args).tolist() == [0.5, 0.9]
    assert priority_score("harm", **args).tolist() == [0.2, 0.0]
    assert set(PRIORITY_RULES) == {"frequency", "harm_weighted_frequency", "reoffence", "harm"}
    with pytest.raises(ValueError, match="priority_rule must be one of"):
        priority_score("postcode", **args)


def test_rank_one_is_the_highest_score_and_ties_go_by_release_id():
    scores = np.array([0.3, 0.9, 0.3, 0.5, 0.3])
    ids = np.array(["r3", "r9", "r1", "r5", "r2"], dtype=object)
    assert rank_priority(scores, ids).tolist() == [5, 1, 3, 2, 4]


def test_ranks_follow_the_rows_whatever_their_order():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    ids = np.array([f"r{i:03d}" for i in rng.permutation(200)], dtype=object)
    ranks = rank_priority(scores, ids)
    order = rng.permutation(200)
    assert (rank_priority(scores[order], ids[order]) == ranks[order]).all()
    assert sorted(ranks) == list(range(1, 201))
    by_rank = np.argsort(ranks)
    assert (np.diff(scores[by_rank]) <= 0).all()


def test_rank_of_nothing_is_empty():
    assert rank_priority(np.array([]), np.array([], dtype=object)).tolist() == []


def test_bands_take_their_lower_edge():
    bands = ((0.0, "low"), (0.5, "medium"), (0.75, "high"), (0.9, "very high"))
    p = np.array([0.0, 0.4999, 0.5, 0.7499, 0.75, 0.9, 1.0])
    assert band(p, bands).tolist() == ["low", "low", "medium", "medium", "high", "very high", "very high"]


def test_describe_value_words():
    assert describe_value("age_at_release", 30.9) == "aged 30 at release"
    assert describe_value("previous_sanctions", 1.0) == "1 previous sanction"
    assert describe_value("previous_sanctions", 12.0) == "12 previous sanctions"
    assert describe_value("sex_female", 1.0) == "female"
    assert describe_value("needs_accommodation", 1.0) == "accommodation need identified"
    assert describe_value("needs_accommodation", 0.0) == "no accommodation need"
    assert describe_value("index_offence_weight", 0.6612) == "index offence: theft non motor"
