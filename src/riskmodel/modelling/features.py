"""Model features from contract rows: OGRS-style history, needs and declared extras.

:class:`ReleaseFeatures` is a scikit-learn transformer: it turns validated contract rows
(a DataFrame) into a float matrix whose columns have names a panel can be told about.
Ethnicity is never read. Criminal-history features are flagged so that the model can
constrain them to never lower risk (:data:`MONOTONE_INCREASING`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from riskmodel._constants import HARM_GROUPS, NEEDS_COLUMNS, OFFENCE_WEIGHTS, RELEASE_COLUMNS

__all__ = ["ReleaseFeatures", "BASE_FEATURES", "MONOTONE_INCREASING", "INPUT_COLUMNS"]

#: Contract columns the features are computed from (ethnicity is deliberately absent).
INPUT_COLUMNS: tuple[str, ...] = (
    "sex",
    "age_at_release",
    "previous_sanctions",
    "index_offence",
    "age_at_first_sanction",
    "age_at_index_conviction",
    "sentence_days",
    "previous_custodial_sentences",
    "previous_violent_sanctions",
    "previous_breaches",
) + NEEDS_COLUMNS

BASE_FEATURES: tuple[str, ...] = (
    (
        "age_at_release",
        "sex_female",
        "previous_sanctions",
        "copas_rate",
        "years_since_first_sanction",
        "index_offence_weight",
        "index_offence_violent_or_sexual",
        "sentence_days",
        "previous_custodial_sentences",
        "previous_violent_sanctions",
        "previous_breaches",
    )
    + NEEDS_COLUMNS
    + ("needs_count",)
)

#: Criminal-history features: more of them never lowers a score.
MONOTONE_INCREASING: frozenset[str] = frozenset(
    {
        "previous_sanctions",
        "copas_rate",
        "previous_custodial_sentences",
        "previous_violent_sanctions",
        "previous_breaches",
    }
)

_HARM = frozenset(HARM_GROUPS)


def _missing(value: object) -> bool:
    """A cell pandas reads as missing (None, NaN, NA, NaT)."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def _column(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X:
        return np.full(len(X), np.nan)
    column = X[name]
    if pd.api.types.is_float_dtype(column) or pd.api.types.is_integer_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_complex_dtype(column):  # casting to float would drop the imaginary part
        raise ValueError(f"Complex data not supported (column {name!r})")
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


class ReleaseFeatures(TransformerMixin, BaseEstimator):
    """Turn validated ``releases`` rows into model features.

    Input is a DataFrame whose columns are read by their contract names; a column that is
    absent counts as unknown (NaN) in every row. Plain arrays are refused: their columns
    have no names, and reading them by position could silently turn one column into
    another. Extra feature names are checked in ``fit``: distinct strings, none of them a
    contract column (so ``ethnicity`` can never become a feature) or a base feature.

    Parameters
    ----------
    extra_numeric : sequence of str, default=()
        Declared numeric extra features, passed through (NaN = unknown).
    extra_categorical : sequence of str, default=()
        Declared categorical extra features, coded by the categories seen in ``fit``
        (an unseen or blank value is unknown).

    Attributes
    ----------
    feature_names_out_ : ndarray of str
        Names of the output columns.
    categories_ : dict of str to list
        Categories of each categorical extra feature.
    ranges_ : dict of str to (float, float)
        Training range of each numeric input, for out-of-range warnings.
    categorical_indices_ : list of int
        Output columns that are categorical codes.
    n_features_in_ : int
        Number of columns of the frame seen in ``fit``.

    Examples
    --------
    Only the four required inputs are given, so every other feature is unknown (NaN) and
    the count of needs is 0:

    >>> rows = pd.DataFrame({"sex": ["M"], "age_at_release": [30.0], "previous_sanctions": [4.0],
    ...                      "index_offence": ["robbery"]})
    >>> features = ReleaseFeatures().fit(rows)
    >>> X = features.transform(rows)
    >>> X.shape
    (1, 18)
    >>> {str(n): float(v) for n, v in zip(features.get_feature_names_out(), X[0]) if not np.isnan(v)}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'age_at_release': 30.0, 'sex_female': 0.0, 'previous_sanctions': 4.0, 'index_offence_weight': -0.6348,
     'index_offence_violent_or_sexual': 1.0, 'needs_count': 0.0}
    """

    def __init__(self, extra_numeric: Sequence[str] = (), extra_categorical: Sequence[str] = ()):
        self.extra_numeric = extra_numeric
        self.extra_categorical = extra_categorical

    def fit(self, X: pd.DataFrame, y: object = None) -> ReleaseFeatures:
        """Learn categories and training ranges.

        Parameters
        ----------
        X : DataFrame
            Validated ``releases`` rows (at least one).
        y : ignored
            Accepted for the scikit-learn API.

        Returns
        -------
        ReleaseFeatures
            This transformer, fitted.

        Raises
        ------
        TypeError
            When ``X`` is not a DataFrame, or an extra feature's name is not a string.
        ValueError
            When ``X`` has no rows or no columns, or the extra feature names are repeated, contract
            columns or base features.
        """
        self._check_extras()
        X = self._frame(X)
        if X.shape[0] == 0 or X.shape[1] == 0:
            # scikit-learn's wording, so that its estimator checks recognise the refusal
            side = "sample(s)" if X.shape[0] == 0 else "feature(s)"
            raise ValueError(f"Found array with 0 {side} (shape={X.shape}) while a minimum of 1 is required.")
        self.categories_ = {c: sorted(X[c].dropna().astype("string").unique().tolist()) for c in self.extra_categorical}
        base = self._base(X)
        self.ranges_ = {}
        for name in ("age_at_release", "previous_sanctions", "sentence_days", "previous_breaches"):
            values = base[:, BASE_FEATURES.index(name)]
            values = values[~np.isnan(values)]
            if values.size:
                self.ranges_[name] = (float(values.min()), float(values.max()))
        for name in self.extra_numeric:
            values = _column(X, name)
            values = values[~np.isnan(values)]
            if values.size:
                self.ranges_[name] = (float(values.min()), float(values.max()))
        self.feature_names_out_ = np.array(
            list(BASE_FEATURES) + list(self.extra_numeric) + list(self.extra_categorical), dtype=object
        )
        start = len(BASE_FEATURES) + len(self.extra_numeric)
        self.categorical_indices_ = list(range(start, start + len(self.extra_categorical)))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Return the feature matrix (float64, NaN = unknown).

        Parameters
        ----------
        X : DataFrame
            Validated ``releases`` rows.

        Returns
        -------
        ndarray of shape (n_rows, len(feature_names_out_))
        """
        check_is_fitted(self, "feature_names_out_")
        X = self._frame(X)
        parts = [self._base(X)]
        if self.extra_numeric:
            parts.append(np.column_stack([_column(X, c) for c in self.extra_numeric]))
        for name in self.extra_categorical:
            values = X[name] if name in X else pd.Series([None] * len(X), index=X.index)
            codes = pd.Categorical(values.astype("string"), categories=self.categories_[name]).codes
            parts.append(np.where(codes < 0, np.nan, codes).astype(np.float64)[:, None])
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def transform_columns(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """:meth:`transform` of validated rows given as columns, without a DataFrame.

        For the service's small requests (:mod:`riskmodel.scoring.single`): the columns are
        :func:`~riskmodel.data.contract.validate_json_releases`' typed arrays (numbers as
        float64, text as objects), read by their contract names as :meth:`transform`
        reads a frame's; an absent column is unknown. Gives exactly :meth:`transform`'s
        matrix for the same rows (``tests/scoring/test_lean_path.py``).

        Parameters
        ----------
        columns : mapping of str to ndarray
            Contract name -> one value per row.
        n : int
            The number of rows.

        Returns
        -------
        ndarray of shape (n, len(feature_names_out_))
        """
        check_is_fitted(self, "feature_names_out_")

        def number(name: str) -> np.ndarray:
            return np.asarray(columns[name], dtype=np.float64) if name in columns else np.full(n, np.nan)

        age, prev = number("age_at_release"), number("previous_sanctions")
        first, index_age = number("age_at_first_sanction"), number("age_at_index_conviction")
        index_age = np.where(np.isnan(index_age), age, index_age)
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = 10.0 + index_age - first
            copas = np.where(denominator > 0, np.log((1.0 + prev) / denominator), np.nan)
        sex = np.asarray(columns["sex"], dtype=object) if "sex" in columns else np.full(n, None)
        offence = list(columns["index_offence"]) if "index_offence" in columns else [None] * n
        known = [not _missing(v) for v in offence]
        offence_weight = np.array(
            [OFFENCE_WEIGHTS.get(v, np.nan) if k else np.nan for v, k in zip(offence, known, strict=True)]
        )
        violent = np.array([(1.0 if v in _HARM else 0.0) if k else np.nan for v, k in zip(offence, known, strict=True)])
        needs = np.column_stack([number(c) for c in NEEDS_COLUMNS])
        parts = [
            np.column_stack(
                [
                    age,
                    np.where(sex == "F", 1.0, np.where(sex == "M", 0.0, np.nan)),
                    prev,
                    copas,
                    age - first,
                    offence_weight.astype(np.float64),
                    violent.astype(np.float64),
                    number("sentence_days"),
                    number("previous_custodial_sentences"),
                    number("previous_violent_sanctions"),
                    number("previous_breaches"),
                    needs,
                    np.nansum(needs, axis=1),
                ]
            )
        ]
        if self.extra_numeric:
            parts.append(np.column_stack([number(c) for c in self.extra_numeric]))
        for name in self.extra_categorical:
            codes = {category: float(i) for i, category in enumerate(self.categories_[name])}
            values = columns[name] if name in columns else [None] * n
            parts.append(
                np.array([np.nan if _missing(v) else codes.get(str(v), np.nan) for v in values], dtype=np.float64)[
                    :, None
                ]
            )
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the output columns (``input_features`` is ignored: the names are fixed)."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def monotone_constraints(self) -> list[int]:
        """LightGBM's ``monotone_constraints``: +1 on criminal-history features, else 0."""
        check_is_fitted(self, "feature_names_out_")
        return [1 if name in MONOTONE_INCREASING else 0 for name in self.feature_names_out_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # NaN (or an absent column) means unknown
        tags.input_tags.string = True  # sex and index_offence are text
        return tags

    # ------------------------------------------------------------------ helpers
    def _check_extras(self) -> None:
        names: list[str] = []
        for param in ("extra_numeric", "extra_categorical"):
            value = getattr(self, param)
            # A bare string would be read as one feature per character.
            if isinstance(value, str) or not all(isinstance(name, str) for name in value):
                raise TypeError(f"{param} must be a list of column names, got {value!r}")
            names.extend(value)
        problems = []
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            problems.append(f"repeated {repeated}")
        taken = sorted(set(names) & (set(RELEASE_COLUMNS) | set(BASE_FEATURES)))
        if taken:
            problems.append(f"contract columns or base features {taken}")
        if problems:
            raise ValueError("extra features must be new, distinct columns: " + "; ".join(problems))

    @staticmethod
    def _frame(X: object) -> pd.DataFrame:
        if sparse.issparse(X):
            raise TypeError("ReleaseFeatures expects a DataFrame of contract rows, not a sparse matrix")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"ReleaseFeatures expects a DataFrame of contract rows, got {type(X).__name__}")
        return X

    @staticmethod
    def _base(X: pd.DataFrame) -> np.ndarray:
        n = len(X)
        age = _column(X, "age_at_release")
        prev = _column(X, "previous_sanctions")
        first = _column(X, "age_at_first_sanction")
        index_age = _column(X, "age_at_index_conviction")
        index_age = np.where(np.isnan(index_age), age, index_age)
        # Unlike OGRS3, no imputation of a missing first-sanction age from
        # previous_sanctions == 0: a feature that changed with previous_sanctions through
        # a missing value could break the monotone constraint.
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = 10.0 + index_age - first
            copas = np.where(denominator > 0, np.log((1.0 + prev) / denominator), np.nan)
        sex = X["sex"].to_numpy(dtype=object) if "sex" in X else np.full(n, None)
        offence = X["index_offence"] if "index_offence" in X else pd.Series([None] * n)
        offence_weight = offence.map(OFFENCE_WEIGHTS).to_numpy(dtype=np.float64)
        violent = np.where(offence.isna().to_numpy(), np.nan, offence.isin(_HARM).to_numpy(dtype=np.float64))
        needs = np.column_stack([_column(X, c) for c in NEEDS_COLUMNS])
        return np.column_stack(
            [
                age,
                np.where(sex == "F", 1.0, np.where(sex == "M", 0.0, np.nan)),
                prev,
                copas,
                age - first,
                offence_weight,
                violent,
                _column(X, "sentence_days"),
                _column(X, "previous_custodial_sentences"),
                _column(X, "previous_violent_sanctions"),
                _column(X, "previous_breaches"),
                needs,
                np.nansum(needs, axis=1),
            ]
        )
