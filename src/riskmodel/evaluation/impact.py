"""Impact: did the panel's attention change reoffending? Observed against expected.

Pure functions over DataFrames; the CLI, the report and the benchmark call them.

The question is the Peterborough social impact bond's: the frequency of reconviction
events among the people the IOM panel adopted, against comparable people it did not.
riskmodel has what the answer needs:

* an **expected** count for every decided release: the frequency the champion gave
  before the panel acted (from the batch's scores file, or from the champion whose
  training data ended before the decisions);
* the **observed** count: the contract's ``frequency`` label (reoffences committed in
  the 12-month window and proven within the waiting period), once the window and
  waiting period have passed by ``as_of`` (:func:`impact_rows`; unmatured releases are
  left out and counted);
* the panel's decisions (``adopt`` against ``not_now`` or ``refer``).

:func:`estimate_impact` gives

* O/E for each group (adopted, not adopted), with bootstrap intervals;
* the comparison that adjusts for the model's own drift and fit: releases are put in
  strata of expected count (by default the lower and upper half of the expected
  frequency, within each year of release), and the Mantel-Haenszel rate ratio of adopted against not-adopted
  people is taken across strata, with the expected counts as the exposure. Its
  relative change (``ratio - 1``; negative is fewer reconviction events) has a
  bootstrap interval that resamples people (a person's releases share their
  frailty). A model that is off by the same factor for everyone in a stratum (drift,
  miscalibration) cancels out of the ratio;
* the same by quarter of release and by band.

An interval that includes zero is reported as "no detectable change".

What it cannot show: adopted people were chosen, not randomised. When the panel's
choice rests only on information the model's expectation holds (the synthetic panel
chooses by OGRS3), comparing within strata of expected counts is fair up to the
model's fit. A panel that chooses on what the model does not see (the officer's view of
the person) makes the comparison biased in a direction nobody can measure from these
data: this is evidence, not proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.data.labels import LabelConfig, derive_labels

__all__ = [
    "IMPACT_ROW_COLUMNS",
    "MIN_MATURED_PER_GROUP",
    "NO_DETECTABLE_CHANGE",
    "GroupRatio",
    "Comparison",
    "ImpactEstimate",
    "impact_rows",
    "estimate_impact",
    "impact_summary",
]

#: Columns of :func:`impact_rows`' result (``band`` may be missing when no band is known).
IMPACT_ROW_COLUMNS = ("release_id", "person_id", "release_date", "decision", "adopted", "observed", "expected", "band")

#: Matured decisions each group (adopted, not adopted) needs before an estimate is shown
#: in the monthly report: below it, intervals are too wide to tell anyone anything.
MIN_MATURED_PER_GROUP = 50

#: What an interval that includes zero is called.
NO_DETECTABLE_CHANGE = "no detectable change"


@dataclass(frozen=True)
class GroupRatio:
    """Observed against expected reoffences for one group of people."""

    group: str
    releases: int
    people: int
    observed: float
    expected: float
    ratio: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """Relative change in reconviction events, adopted against comparable not-adopted people.

    ``change`` is ``rate ratio - 1``: -0.10 is 10% fewer events than expected among
    comparable people the panel did not adopt. ``low``/``high`` bound it.
    """

    label: str
    adopted: int
    not_adopted: int
    change: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """ "fewer", "more", or :data:`NO_DETECTABLE_CHANGE` when the interval includes zero."""
        if not np.isfinite(self.low) or not np.isfinite(self.high) or self.low <= 0.0 <= self.high:
            return NO_DETECTABLE_CHANGE
        return "fewer" if self.high < 0 else "more"


@dataclass(frozen=True)
class ImpactEstimate:
    """Everything :func:`estimate_impact` found."""

    as_of: date
    groups: dict[str, GroupRatio]
    overall: Comparison
    by_quarter: list[Comparison]
    by_band: list[Comparison]
    counts: dict[str, int]
    level: float
    n_boot: int
    strata: int
    expected_source: str = ""
    model_versions: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------ rows


def impact_rows(
    releases: pd.DataFrame,
    reoffences: pd.DataFrame,
    decisions: pd.DataFrame,
    expected: pd.DataFrame,
    *,
    as_of: date | str | pd.Timestamp,
    labels: LabelConfig | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The decided releases whose outcome is known, with observed and expected counts.

    Parameters
    ----------
    releases, reoffences : DataFrame
        Validated contract tables (``release_id``, ``person_id``, ``release_date``;
        the reoffences for the labels).
    decisions : DataFrame
        One row per release (:func:`riskmodel.data.decisions.latest_decisions`):
        ``release_id``, ``decision``.
    expected : DataFrame
        ``release_id``, ``expected`` (the frequency the champion gave before the
        decision) and optionally ``band`` (the reoffence band shown then).
    as_of : date
        Extract date of the outcome data.
    labels : LabelConfig, optional
        Windows and waiting period (the contract's defaults when omitted).

    Returns
    -------
    rows : DataFrame
        :data:`IMPACT_ROW_COLUMNS`, one row per matured decided release with an
        expected count.
    counts : dict of str to int
        ``decided`` (decisions for known releases), ``unknown_release`` (decisions for
        a release not in ``releases``), ``unmatured`` (window or waiting period not
        over by ``as_of``: left out), ``no_expected`` (matured but without an expected
        count: left out), ``used``, ``adopted``, ``not_adopted``.
    """
    labels = labels or LabelConfig()
    outcome = derive_labels(releases, reoffences, as_of=as_of, config=labels)
    base = releases[["release_id", "person_id", "release_date"]].assign(
        observed=outcome["frequency"].to_numpy(dtype=float, na_value=np.nan)
    )
    chosen = decisions[["release_id", "decision"]].drop_duplicates("release_id", keep="last")
    joined = chosen.merge(base, on="release_id", how="left")
    unknown = joined["person_id"].isna().to_numpy()
    joined = joined.loc[~unknown]
    matured = joined["observed"].notna().to_numpy()
    joined = joined.loc[matured]
    columns = ["release_id", "expected"] + (["band"] if "band" in expected.columns else [])
    exp = expected[columns].drop_duplicates("release_id", keep="first")
    joined = joined.merge(exp, on="release_id", how="left")
    has_expected = (joined["expected"].notna() & (joined["expected"] > 0)).to_numpy()
    rows = joined.loc[has_expected].reset_index(drop=True)
    if "band" not in rows.columns:
        rows["band"] = pd.Series(pd.NA, index=rows.index, dtype=object)
    rows["adopted"] = (rows["decision"] == "adopt").to_numpy()
    rows["observed"] = rows["observed"].astype(float)
    rows["expected"] = rows["expected"].astype(float)
    counts = {
        "decided": int(len(chosen) - unknown.sum()),
        "unknown_release": int(unknown.sum()),
        "unmatured": int((~matured).sum()),
        "no_expected": int((~has_expected).sum()),
        "used": int(len(rows)),
        "adopted": int(rows["adopted"].sum()),
        "not_adopted": int((~rows["adopted"]).sum()),
    }
    return rows[list(IMPACT_ROW_COLUMNS)], counts


# ------------------------------------------------------------------------------ estimation


def _strata(rows: pd.DataFrame, n_strata: int) -> np.ndarray:
    """Stratum of each row: quantile of the expected count within its year of release."""
    year = pd.to_datetime(rows["release_date"]).dt.year.to_numpy()
    out = np.zeros(len(rows), dtype=np.int64)
    next_id = 0
    for y in np.unique(year):
        inside = np.flatnonzero(year == y)
        k = max(1, min(n_strata, inside.size // 20))  # at least ~20 releases a stratum
        ranks = pd.Series(rows["expected"].to_numpy()[inside]).rank(method="first").to_numpy()
        out[inside] = next_id + np.minimum(((ranks - 1) * k / inside.size).astype(np.int64), k - 1)
        next_id += k
    return out


def _mh_ratio(o: np.ndarray, e: np.ndarray, n_strata: int) -> np.ndarray:
    """Mantel-Haenszel rate ratio, adopted against not adopted, expected counts as exposure.

    ``o`` and ``e`` are (..., 2 * n_strata): columns ``2s`` not adopted, ``2s + 1`` adopted.
    """
    o0, o1 = o[..., 0::2], o[..., 1::2]
    e0, e1 = e[..., 0::2], e[..., 1::2]
    total = e0 + e1
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.where(total > 0, o1 * e0 / np.where(total > 0, total, 1), 0).sum(axis=-1)
        den = np.where(total > 0, o0 * e1 / np.where(total > 0, total, 1), 0).sum(axis=-1)
        return np.where(den > 0, num / den, np.nan)


class _Bootstrap:
    """Person-level bootstrap weights, drawn once and shared by every figure."""

    def __init__(self, people: np.ndarray, *, n_boot: int, seed: int):
        self.codes, self.person = np.unique(people, return_inverse=True)
        rng = np.random.default_rng(seed)
        n = self.codes.size
        self.weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64) if n else None

    def sums(self, mask: np.ndarray, cell: np.ndarray, n_cells: int, values: np.ndarray) -> tuple[np.ndarray, ...]:
        """(point sums per cell, bootstrap sums per cell) over the rows in ``mask``."""
        dense = np.zeros((self.codes.size, n_cells))
        np.add.at(dense, (self.person[mask], cell[mask]), values[mask])
        point = dense.sum(axis=0)
        boot = self.weights @ dense if self.weights is not None else np.zeros((0, n_cells))
        return point, boot


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if draws.size < 10:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def _comparison(
    label: str,
    mask: np.ndarray,
    rows: pd.DataFrame,
    stratum: np.ndarray,
    n_strata: int,
    boot: _Bootstrap,
    level: float,
) -> Comparison:
    adopted = rows["adopted"].to_numpy()
    cell = 2 * stratum + adopted.astype(np.int64)
    n_cells = 2 * n_strata
    o_point, o_boot = boot.sums(mask, cell, n_cells, rows["observed"].to_numpy())
    e_point, e_boot = boot.sums(mask, cell, n_cells, rows["expected"].to_numpy())
    ratio = float(_mh_ratio(o_point, e_point, n_strata))
    low, high = _interval(_mh_ratio(o_boot, e_boot, n_strata), level)
    return Comparison(
        label=label,
        adopted=int((mask & adopted).sum()),
        not_adopted=int((mask & ~adopted).sum()),
        change=ratio - 1.0,
        low=low - 1.0,
        high=high - 1.0,
    )


def _group_ratio(group: str, mask: np.ndarray, rows: pd.DataFrame, boot: _Bootstrap, level: float) -> GroupRatio:
    cell = np.zeros(len(rows), dtype=np.int64)
    o_point, o_boot = boot.sums(mask, cell, 1, rows["observed"].to_numpy())
    e_point, e_boot = boot.sums(mask, cell, 1, rows["expected"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = float(o_point[0] / e_point[0]) if e_point[0] > 0 else float("nan")
        low, high = _interval(o_boot[:, 0] / e_boot[:, 0], level)
    return GroupRatio(
        group=group,
        releases=int(mask.sum()),
        people=int(rows.loc[mask, "person_id"].nunique()),
        observed=float(o_point[0]),
        expected=float(e_point[0]),
        ratio=ratio,
        low=low,
        high=high,
    )


def estimate_impact(
    rows: pd.DataFrame,
    *,
    as_of: date | str | pd.Timestamp,
    counts: dict[str, int] | None = None,
    n_strata: int = 2,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    expected_source: str = "",
    model_versions: dict[str, str] | None = None,
) -> ImpactEstimate:
    """O/E per group and the drift-adjusted comparison, with person-level bootstrap intervals.

    Parameters
    ----------
    rows : DataFrame
        :func:`impact_rows`' rows (``person_id``, ``release_date``, ``adopted``,
        ``observed``, ``expected``, optionally ``band``).
    as_of : date
        Extract date of the outcomes (recorded with the estimate).
    counts : dict, optional
        :func:`impact_rows`' counts (carried into the estimate).
    n_strata : int, default 2
        Strata of expected count within each year of release (fewer where a year has
        under 20 releases a stratum). Few on purpose: within a narrow band of expected
        count, the people the panel did not adopt got there through what its choice
        leaves out, where the model's fit is weakest, so fine strata turn the model's
        misfit into bias (the impact benchmark: 10 strata put the estimate 5 points off
        with no effect, 2 strata 0-1 point). Two halves still absorb a calibration that
        drifts with the expected count, and the years a drift in time.
    n_boot : int, default 1000
        Bootstrap resamples of people.
    level : float, default 0.95
        Coverage of the intervals.
    seed : int, default 0
        Seed of the bootstrap.
    expected_source, model_versions : optional
        Where the expected counts came from and the model versions that gave them.

    Returns
    -------
    ImpactEstimate

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> rows = pd.DataFrame({"person_id": np.arange(n).astype(str),
    ...     "release_date": pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
    ...     "expected": rng.gamma(2.0, 1.0, n)})
    >>> rows["adopted"] = rng.random(n) < 0.3
    >>> rows["observed"] = rng.poisson(rows["expected"] * np.where(rows["adopted"], 0.8, 1.0)).astype(float)
    >>> result = estimate_impact(rows, as_of="2024-01-01", n_boot=200)
    >>> result.overall.verdict, round(result.overall.change, 1)
    ('fewer', -0.2)
    """
    rows = rows.reset_index(drop=True)
    if "band" not in rows.columns:
        rows = rows.assign(band=pd.NA)
    adopted = rows["adopted"].to_numpy(dtype=bool)
    rows["adopted"] = adopted
    stratum = _strata(rows, n_strata) if len(rows) else np.zeros(0, dtype=np.int64)
    total_strata = int(stratum.max()) + 1 if len(rows) else 1
    boot = _Bootstrap(rows["person_id"].astype(str).to_numpy(), n_boot=n_boot, seed=seed)
    every = np.ones(len(rows), dtype=bool)

    groups = {
        "adopted": _group_ratio("adopted", adopted, rows, boot, level),
        "not_adopted": _group_ratio("not_adopted", ~adopted, rows, boot, level),
    }
    overall = _comparison("all", every, rows, stratum, total_strata, boot, level)
    quarter = pd.to_datetime(rows["release_date"]).dt.to_period("Q").astype(str).to_numpy()
    by_quarter = [_comparison(q, quarter == q, rows, stratum, total_strata, boot, level) for q in sorted(set(quarter))]
    bands = rows["band"].to_numpy(dtype=object)
    known_bands = [b for b in pd.unique(bands) if isinstance(b, str)]
    by_band = [_comparison(b, bands == b, rows, stratum, total_strata, boot, level) for b in known_bands]
    return ImpactEstimate(
        as_of=pd.Timestamp(as_of).date(),
        groups=groups,
        overall=overall,
        by_quarter=by_quarter,
        by_band=by_band,
        counts=dict(counts or {"used": len(rows), "adopted": int(adopted.sum()), "not_adopted": int((~adopted).sum())}),
        level=level,
        n_boot=n_boot,
        strata=total_strata,
        expected_source=expected_source,
        model_versions=dict(model_versions or {}),
    )


# ------------------------------------------------------------------------------ plain data


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _comparison_data(c: Comparison) -> dict[str, Any]:
    return {
        "label": c.label,
        "adopted": c.adopted,
        "not_adopted": c.not_adopted,
        "change": _finite(c.change),
        "low": _finite(c.low),
        "high": _finite(c.high),
        "verdict": c.verdict,
    }


def impact_summary(estimate: ImpactEstimate) -> dict[str, Any]:
    """The estimate as plain data (dicts, lists, numbers, text) for a page or a JSON file.

    Returns
    -------
    dict
        ``as_of``, ``enough`` (each group has :data:`MIN_MATURED_PER_GROUP` matured
        decisions), ``min_per_group``, ``counts``, ``groups`` (adopted / not adopted:
        releases, people, observed, expected, ratio, low, high), ``overall``,
        ``by_quarter``, ``by_band`` (label, adopted, not_adopted, change, low, high,
        verdict), ``level``, ``n_boot``, ``strata``, ``expected_source``,
        ``model_versions``.
    """
    groups = {
        name: {
            "releases": g.releases,
            "people": g.people,
            "observed": g.observed,
            "expected": g.expected,
            "ratio": _finite(g.ratio),
            "low": _finite(g.low),
            "high": _finite(g.high),
        }
        for name, g in estimate.groups.items()
    }
    return {
        "as_of": estimate.as_of.isoformat(),
        "enough": min(estimate.groups["adopted"].releases, estimate.groups["not_adopted"].releases)
        >= MIN_MATURED_PER_GROUP,
        "min_per_group": MIN_MATURED_PER_GROUP,
        "counts": dict(estimate.counts),
        "groups": groups,
        "overall": _comparison_data(estimate.overall),
        "by_quarter": [_comparison_data(c) for c in estimate.by_quarter],
        "by_band": [_comparison_data(c) for c in estimate.by_band],
        "level": estimate.level,
        "n_boot": estimate.n_boot,
        "strata": estimate.strata,
        "expected_source": estimate.expected_source,
        "model_versions": dict(estimate.model_versions),
    }
