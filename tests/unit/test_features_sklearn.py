"""``ReleaseFeatures`` against scikit-learn's own estimator checks.

Most of scikit-learn's checks fit on unnamed numeric arrays, which ``ReleaseFeatures``
refuses on purpose (it reads contract columns by name). So the checks run twice:

- on ``ReleaseFeatures`` itself: every check passes, except those named in
  :data:`FIT_ON_UNNAMED_ARRAYS`, and each of those must fail only because the array was
  refused (not for any other reason);
- on :class:`ArrayRows`, ``ReleaseFeatures`` with an adapter that names an array's columns
  as contract columns, so that the same checks exercise the transformer's logic (fit
  idempotent, sample-order and subset invariance, pickling, dtypes, parameters left
  untouched...): every check passes except those in :data:`BY_NAME_NOT_BY_COUNT`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from riskmodel.modelling.features import INPUT_COLUMNS, ReleaseFeatures

#: Checks that fit ReleaseFeatures on an unnamed numeric array (or a list, memmap or
#: array-like wrapper of one): ReleaseFeatures refuses it with a TypeError, by design.
FIT_ON_UNNAMED_ARRAYS = frozenset(
    {
        "check_complex_data",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_empty_data_messages",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit1d",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
    }
)

#: Checks that expect ``transform`` to refuse a different *number* of columns than ``fit``
#: saw. ReleaseFeatures reads its columns by name: other columns (identifiers, ethnicity)
#: are ignored and an absent optional column is unknown, so the count is not checked.
BY_NAME_NOT_BY_COUNT = frozenset({"check_n_features_in_after_fitting", "check_transformer_general"})

#: Contract columns an adapted array's columns are read as, in order (the numeric ones).
_NUMERIC_INPUTS = tuple(c for c in INPUT_COLUMNS if c not in ("sex", "index_offence"))


class ArrayRows(ReleaseFeatures):
    """ReleaseFeatures reading an array's columns as the numeric contract columns, in order.

    Test only: it lets scikit-learn's array-based checks reach the transformer's logic.
    Columns past the contract's are named ``x14``, ``x15``... (and so ignored).
    """

    def fit(self, X, y=None):
        return super().fit(self._named(X), y)

    def transform(self, X):
        return super().transform(self._named(X))

    @staticmethod
    def _named(X):
        if sparse.issparse(X) or isinstance(X, pd.DataFrame):
            return X  # ReleaseFeatures' own answer
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got {X.ndim}D array instead. Reshape your data.")
        return pd.DataFrame(
            X, columns=[_NUMERIC_INPUTS[j] if j < len(_NUMERIC_INPUTS) else f"x{j}" for j in range(X.shape[1])]
        )


def _check_name(check) -> str:
    while hasattr(check, "__wrapped__") or hasattr(check, "func"):
        check = getattr(check, "__wrapped__", None) or check.func
    return check.__name__


def _refused_array(error: BaseException | None) -> bool:
    """Whether ReleaseFeatures' refusal of a non-DataFrame is in ``error``'s chain."""
    while error is not None:
        if isinstance(error, TypeError) and "expects a DataFrame of contract rows, got" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


@parametrize_with_checks(
    [ReleaseFeatures(), ReleaseFeatures(extra_numeric=["nij_score"], extra_categorical=["nij_area"])]
)
def test_release_features_passes_every_check_that_gives_it_a_dataframe_or_none(estimator, check):
    if _check_name(check) not in FIT_ON_UNNAMED_ARRAYS:
        check(estimator)
        return
    with pytest.raises(Exception) as raised:  # noqa: PT011  (the reason is checked below)
        check(estimator)
    assert _refused_array(raised.value), f"failed for another reason than the refused array: {raised.value!r}"


@parametrize_with_checks([ArrayRows()])
def test_release_features_logic_passes_the_checks_once_arrays_have_column_names(estimator, check):
    if _check_name(check) not in BY_NAME_NOT_BY_COUNT:
        check(estimator)
        return
    with pytest.raises(AssertionError, match=r"number\sof features"):
        check(estimator)


@pytest.mark.parametrize(
    "X",
    [
        np.ones((3, 4)),
        [[30.0, 4.0]],
        sparse.csr_matrix(np.ones((3, 4))),
        pd.Series([30.0, 40.0], name="age_at_release"),
    ],
    ids=["array", "list", "sparse", "series"],
)
def test_anything_but_a_dataframe_is_refused_in_fit_and_transform(X):
    fitted = ReleaseFeatures().fit(pd.DataFrame({"age_at_release": [30.0]}))

    with pytest.raises(TypeError, match="DataFrame of contract rows"):
        ReleaseFeatures().fit(X)
    with pytest.raises(TypeError, match="DataFrame of contract rows"):
        fitted.transform(X)


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"extra_numeric": "nij_score"}, TypeError, "extra_numeric must be a list of column names"),
        ({"extra_categorical": [1]}, TypeError, "extra_categorical must be a list of column names"),
        ({"extra_numeric": ["a", "a"]}, ValueError, r"repeated \['a'\]"),
        ({"extra_numeric": ["a"], "extra_categorical": ["a"]}, ValueError, r"repeated \['a'\]"),
        ({"extra_categorical": ["ethnicity"]}, ValueError, r"contract columns or base features \['ethnicity'\]"),
        ({"extra_numeric": ["copas_rate"]}, ValueError, r"contract columns or base features \['copas_rate'\]"),
    ],
)
def test_extra_feature_names_are_checked_in_fit_not_in_init(params, error, message):
    features = ReleaseFeatures(**params)  # stored as given

    assert clone(features).get_params() == {"extra_numeric": (), "extra_categorical": (), **params}
    with pytest.raises(error, match=message):
        features.fit(pd.DataFrame({"age_at_release": [30.0], "nij_score": [1.0]}))


def test_fitting_on_no_rows_is_refused_but_transforming_none_gives_an_empty_matrix():
    rows = pd.DataFrame(
        {"sex": ["M"], "age_at_release": [30.0], "previous_sanctions": [4.0], "index_offence": ["robbery"]}
    )
    fitted = ReleaseFeatures().fit(rows)

    with pytest.raises(ValueError, match="0 sample"):
        ReleaseFeatures().fit(rows.iloc[:0])
    assert fitted.transform(rows.iloc[:0]).shape == (0, len(fitted.feature_names_out_))
