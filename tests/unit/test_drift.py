"""Population stability (PSI) of features between training rows and a batch, on tiny columns.

The worked example used below, one feature ``x``:

- training values 1, 2, 3, 4 with ``bins=2``: the only inner quantile (the median) is 2.5,
  so the bins are ``x < 2.5``, ``x >= 2.5`` and unknown, with training shares 0.5, 0.5, 0;
- a batch 1, 1, 1, 3 has counts 3, 1, 0, so shares 0.75, 0.25, 0.

PSI = sum over bins of ``(b - t) * ln(b / t)``, shares floored at 1e-4:

- bin 1: (0.75 - 0.5) * ln(0.75 / 0.5) = 0.25 * ln(1.5)
- bin 2: (0.25 - 0.5) * ln(0.25 / 0.5) = -0.25 * ln(0.5) = 0.25 * ln(2)
- unknown: both floored to 1e-4, so (1e-4 - 1e-4) * ln(1) = 0

total = 0.25 * (ln 1.5 + ln 2) = 0.25 * ln 3 = 0.274653...
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskmodel.evaluation.drift import MIN_ROWS, drift_not_computed, feature_profile, merge_counts, population_stability

NAN = float("nan")
TRAINING = np.array([[1.0], [2.0], [3.0], [4.0]])


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)[:, None]


def psi(batch: np.ndarray, training: np.ndarray = TRAINING, *, bins: int = 2) -> float:
    profile = feature_profile(training, ["x"], bins=bins)
    return population_stability(profile, merge_counts(profile, batch, ["x"]))["x"]


def test_the_profile_holds_quantile_edges_and_the_share_of_each_bin_and_of_unknowns():
    profile = feature_profile(TRAINING, ["x"], bins=2)

    assert profile == {"x": {"edges": [2.5], "shares": [0.5, 0.5, 0.0]}}


def test_psi_of_the_worked_example_is_a_quarter_of_ln_3():
    assert psi(column(1, 1, 1, 3)) == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_a_batch_like_the_training_rows_has_psi_zero():
    assert psi(column(4, 3, 2, 1, 1, 4)) == pytest.approx(0.0, abs=1e-15)


def test_unknown_values_count_as_a_bin_whose_empty_training_share_is_floored():
    # batch 1, 3, 4, unknown: shares 0.25, 0.5, 0.25 against 0.5, 0.5, 1e-4 (floored)
    # (0.25 - 0.5) * ln(0.25 / 0.5) + 0 + (0.25 - 1e-4) * ln(0.25 / 1e-4)
    by_hand = -0.25 * math.log(0.5) + (0.25 - 1e-4) * math.log(2500)

    assert psi(column(1, 3, 4, NAN)) == pytest.approx(by_hand, rel=1e-12)


def test_psi_grows_with_the_shift():
    shifts = [psi(column(*([1] * (4 - k) + [4] * k))) for k in (2, 3, 4)]

    assert shifts[0] == pytest.approx(0.0, abs=1e-15)
    assert shifts[0] < shifts[1] < shifts[2]


def test_a_batch_counted_in_chunks_has_the_same_psi_as_in_one_go():
    profile = feature_profile(TRAINING, ["x"], bins=2)
    batch = column(1, 1, 1, 3, NAN, 2.5, 4)

    counts = merge_counts(profile, batch[:3], ["x"])
    counts = merge_counts(profile, batch[3:], ["x"], counts)

    np.testing.assert_array_equal(counts["x"], merge_counts(profile, batch, ["x"])["x"])
    assert population_stability(profile, counts) == population_stability(profile, merge_counts(profile, batch, ["x"]))


def test_a_value_on_an_edge_falls_in_the_upper_bin():
    profile = feature_profile(TRAINING, ["x"], bins=2)

    np.testing.assert_array_equal(merge_counts(profile, column(2.5), ["x"])["x"], [0.0, 1.0, 0.0])


def test_features_without_a_profile_are_left_out():
    profile = feature_profile(TRAINING, ["x"], bins=2)

    counts = merge_counts(profile, np.hstack([column(1, 2), column(7, 8)]), ["x", "new_feature"])

    assert set(counts) == {"x"}


def test_a_constant_training_column_has_one_edge_and_no_empty_bins_between_duplicates():
    profile = feature_profile(column(5, 5, 5, 5), ["x"], bins=10)

    assert profile["x"] == {"edges": [5.0], "shares": [0.0, 1.0, 0.0]}


# --------------------------------------------------------------------------- too few rows


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (0, "drift not computed: 0 rows, below the minimum of 200"),
        (1, "drift not computed: 1 row, below the minimum of 200"),
        (199, "drift not computed: 199 rows, below the minimum of 200"),
        (200, None),
        (1_000_000, None),
    ],
)
def test_drift_is_not_computed_below_the_minimum_and_says_why(rows, said):
    assert MIN_ROWS == 200
    assert drift_not_computed(rows) == said


def test_the_minimum_can_be_set():
    assert drift_not_computed(1_500, minimum=2_000) == "drift not computed: 1,500 rows, below the minimum of 2,000"
    assert drift_not_computed(0, minimum=0) is None


def test_below_the_minimum_psi_is_noise_and_at_it_much_less_so():
    """Why 200: batches drawn from the training population itself, 10 bins of one feature."""
    rng = np.random.default_rng(0)
    profile = feature_profile(rng.normal(size=(20_000, 1)), ["x"])

    def typical(n: int) -> float:
        draws = [
            population_stability(profile, merge_counts(profile, rng.normal(size=(n, 1)), ["x"]))["x"]
            for _ in range(200)
        ]
        return float(np.median(draws))

    assert typical(50) > 0.1  # half the batch scoring's flag (0.2), with nothing changed
    assert typical(MIN_ROWS) < 0.06
