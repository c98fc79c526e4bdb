"""Synthetic historic cohorts: the embedded default data.

The generating process (realistic for short-sentenced men released from a local prison):

* **People.** About 95% men; ethnicity like the England and Wales prison population
  (72% White, 12% Black, 8% Asian, 5% Mixed, 2% Other, 1% Unknown), which never affects
  risk (it is audit-only). Each person has 1 to 4 releases, at least 800 days apart, so
  one release's 24-month follow-up never overlaps the next (this keeps ``truth`` exact).
  Releases spread evenly from ``start`` to just before ``as_of`` (about ten years); a
  person's earlier releases may fall before ``start`` and are then not in the extract.
* **History.** Age at first release skewed young (mean about 32); first sanction in the
  teens or early twenties; heavy-tailed previous sanctions (a person-level lognormal
  propensity times career length, negative-binomial noise), growing across a person's
  releases; custodial sentences, violent sanctions and breaches drawn from the history;
  short sentences (median about 3 months); needs flags correlated with each other and
  with history, each about 10% unknown; a few percent unknown in optional numbers.
* **Risk.** Each release has a rate ``mu``: expected offences in the first year, from
  OGRS3-like effects (Copas rate, age, offence group weight), needs (substance misuse,
  accommodation, mental health), non-linear age effects and two interactions (substance
  misuse x youth, accommodation x breaches). A person-level gamma frailty ``Z`` (mean 1,
  variance ``THETA``, shared by that person's releases) multiplies it: unobserved
  heterogeneity, so no model can be perfect.
* **Offences.** Offence times after release follow a decaying intensity (highest just
  after release); each offence is proven after a lognormal delay (median about 75 days).
  A share of offences are violent or sexual (harm groups), higher for violent histories,
  violent index offences and the young. Offences are generated for 24 months after each
  release and any proven after ``as_of`` is dropped (the extract does not know the
  future).
* **Truth.** Given the recorded features (not the frailty), the number of offences that
  count for a target is Poisson(``Z * m``) with ``m`` the expected count under the
  contract's windows, so marginally negative binomial:
  ``P(N >= 1) = 1 - (1 + THETA * m) ** (-1 / THETA)``. ``truth`` holds that probability
  for ``reoffence`` and ``harm`` and ``m`` for ``frequency``: the best any model of the
  releases table could do (the oracle). Where a value is hidden (unknown) in the table,
  truth still uses the true value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel._constants import (
    ETHNICITIES,
    HARM_GROUPS,
    NEEDS_COLUMNS,
    OFFENCE_GROUPS,
    OFFENCE_WEIGHTS,
    RELEASE_COLUMNS,
    REOFFENCE_COLUMNS,
    TRUTH_COLUMNS,
)

__all__ = ["SyntheticCohort", "generate_cohort", "write_cohort", "summarise", "format_summary", "THETA"]

#: Variance of the person-level frailty (its mean is 1).
THETA = 0.5
_WINDOW, _HARM_WINDOW, _WAIT = 365, 730, 183
_DECAY_DAYS = 260.0
_DELAY_MEDIAN, _DELAY_SIGMA = 75.0, 0.8
_MIN_GAP = 800
_MAX_RATE = 12.0  # offences a year, the most prolific

_INDEX_SHARES = {
    "theft_non_motor": 0.20, "violence": 0.15, "drug_possession_supply": 0.09, "burglary_domestic": 0.05,
    "burglary_other": 0.04, "public_order": 0.07, "absconding_bail": 0.06, "criminal_damage": 0.04,
    "handling_stolen_goods": 0.03, "fraud_forgery": 0.03, "robbery": 0.03, "other_motoring": 0.04,
    "drink_driving": 0.02, "taking_driving_away": 0.02, "theft_from_vehicles": 0.02, "soliciting_prostitution": 0.005,
    "sexual_against_child": 0.01, "sexual_not_against_child": 0.01, "drug_import_export_production": 0.01, "other": 0.085,
}
_HARM_SHARES = {"violence": 0.78, "robbery": 0.14, "sexual_not_against_child": 0.05, "sexual_against_child": 0.03}
_ETHNICITY_SHARES = (0.72, 0.12, 0.08, 0.05, 0.02, 0.01)


@dataclass(frozen=True)
class SyntheticCohort:
    """A synthetic extract: the two contract tables, the truth, and the extract date."""

    releases: pd.DataFrame
    reoffences: pd.DataFrame
    truth: pd.DataFrame
    as_of: date


def _offence_day_probabilities(days: int) -> np.ndarray:
    """P(offence falls on day d after release), d = 1..days, for the decaying intensity."""
    edges = 1.0 - np.exp(-np.arange(days + 1) / _DECAY_DAYS)
    return np.diff(edges) / (1.0 - math.exp(-_WINDOW / _DECAY_DAYS))  # mass in year one sums to 1


def _delay_cdf(days: np.ndarray) -> np.ndarray:
    """P(proven delay <= days), delays rounded to whole days."""
    from scipy.stats import lognorm

    dist = lognorm(s=_DELAY_SIGMA, scale=_DELAY_MEDIAN)
    return np.where(days < 0, 0.0, dist.cdf(np.asarray(days, dtype=float) + 0.5))


def _counted_share(window: int) -> float:
    """Expected counted offences per unit of ``mu`` under a window and the waiting period."""
    d = np.arange(1, window + 1)
    return float(np.sum(_offence_day_probabilities(window) * _delay_cdf(window + _WAIT - d)))


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def generate_cohort(
    n_people: int, *, seed: int = 0, start: date = date(2015, 1, 1), as_of: date = date(2025, 11, 1)
) -> SyntheticCohort:
    """Generate a synthetic cohort (see the module docstring for the process).

    Examples
    --------
    >>> cohort = generate_cohort(200, seed=1)
    >>> sorted(cohort.truth.columns) == sorted(TRUTH_COLUMNS)
    True
    """
    rng = np.random.default_rng(seed)
    span = (np.datetime64(as_of) - np.datetime64(start)).astype(int) - 10

    # ---------------------------------------------------------------- people
    n_rel = rng.choice([1, 2, 3, 4], size=n_people, p=[0.55, 0.25, 0.13, 0.07])
    gaps = _MIN_GAP + rng.exponential(500, size=(n_people, 3)).astype(int)
    needed = np.cumsum(gaps, axis=1)
    while True:  # a person's releases all fit in the window
        too_long = (n_rel > 1) & (needed[np.arange(n_people), np.maximum(n_rel - 2, 0)] > span)
        if not too_long.any():
            break
        n_rel[too_long] -= 1
    total_gap = np.where(n_rel > 1, needed[np.arange(n_people), np.maximum(n_rel - 2, 0)], 0)
    # A person's first release may fall before the extract's window; only releases inside
    # it are kept (each person keeps at least one). This keeps the mix of first and
    # repeat releases the same in every month: no drift built into the data.
    first_day = (rng.random(n_people) * (span + total_gap)).astype(int) - total_gap
    male = rng.random(n_people) < 0.95
    ethnicity = rng.choice(np.array(ETHNICITIES, dtype=object), size=n_people, p=_ETHNICITY_SHARES)
    age_first_release = np.clip(18 + rng.gamma(2.0, 7.0, n_people), 18, 70)
    age_first_sanction = np.clip(np.minimum(age_first_release, 11 + rng.gamma(2.2, 2.6, n_people)), 10, None)
    propensity = rng.lognormal(0.0, 0.7, n_people)  # person's sanction rate
    violent_lean = rng.beta(1.5, 8.0, n_people)
    frailty = rng.gamma(1.0 / THETA, THETA, n_people)
    need_trait = rng.normal(0, 1, n_people)

    # ---------------------------------------------------------------- releases
    person = np.repeat(np.arange(n_people), n_rel)
    order = np.arange(len(person)) - np.repeat(np.cumsum(n_rel) - n_rel, n_rel)
    gap_offset = np.zeros(len(person), dtype=int)
    later = order > 0
    gap_offset[later] = needed[person[later], order[later] - 1]
    day = first_day[person] + gap_offset
    inside = (day >= 0) & (day <= span)
    person, order, gap_offset, day = person[inside], order[inside], gap_offset[inside], day[inside]
    n = len(person)
    release_date = np.datetime64(start) + day.astype("timedelta64[D]")
    age = np.round(age_first_release[person] + gap_offset / 365.25, 1)
    first = np.round(age_first_sanction[person], 1)
    career = np.maximum(age - first, 0.0)
    mean_prev = propensity[person] * (0.6 + 0.9 * career) * (1 + 0.15 * order)
    prev = rng.negative_binomial(2.0, 2.0 / (2.0 + mean_prev))
    custodial = rng.binomial(prev, np.clip(0.15 + 0.05 * rng.random(n), 0, 1))
    violent = rng.binomial(prev, violent_lean[person])
    breaches = rng.poisson(0.12 * prev * rng.gamma(2.0, 0.5, n))
    index_offence = rng.choice(np.array(list(_INDEX_SHARES), dtype=object), size=n, p=np.array(list(_INDEX_SHARES.values())) / sum(_INDEX_SHARES.values()))
    turns_violent = rng.random(n) < violent_lean[person] * 0.8
    index_offence = np.where(turns_violent & (index_offence != "violence"), "violence", index_offence)
    sentence = np.clip(np.round(rng.lognormal(math.log(90), 0.7, n)), 7, 1460).astype(int)
    index_age = np.round(np.maximum(age - sentence / 365.25 * rng.uniform(0.5, 1.0, n), first), 1)

    young = age < 25
    trait = need_trait[person] + 0.4 * np.log1p(prev) - 1.0
    needs = {}
    for column, base in (
        ("needs_accommodation", -0.6), ("needs_employment", 0.1), ("needs_mental_health", -0.8),
        ("needs_substance_misuse", -0.1), ("needs_finance", -0.6), ("needs_family", -1.4),
    ):
        needs[column] = rng.random(n) < _logistic(base + 0.8 * trait + rng.normal(0, 0.8, n))

    # ---------------------------------------------------------------- risk
    copas = np.log((1.0 + prev) / (10.0 + index_age - first))
    offence_weight = np.vectorize(OFFENCE_WEIGHTS.get, otypes=[float])(index_offence)
    age_effect = -0.045 * np.maximum(age - 25, 0) + 0.02 * np.maximum(25 - age, 0) - 0.0008 * np.maximum(age - 40, 0) ** 2
    eta = (
        0.4
        + 0.7 * copas
        + 0.9 * offence_weight
        + age_effect
        + 0.45 * needs["needs_substance_misuse"]
        + 0.3 * needs["needs_accommodation"]
        + 0.15 * needs["needs_mental_health"]
        + 0.1 * needs["needs_employment"]
        + 0.3 * (needs["needs_substance_misuse"] & young)
        + 0.12 * needs["needs_accommodation"] * np.log1p(breaches)
        + 0.08 * np.log1p(custodial)
        - 0.25 * (~male[person])
    )
    mu = _MAX_RATE * np.tanh(np.exp(eta) / _MAX_RATE)  # prolific, but bounded
    harm_share = _logistic(-2.6 + 1.0 * (np.isin(index_offence, HARM_GROUPS)) + 0.45 * np.log1p(violent) + 0.35 * young)

    m_reoffence = mu * _counted_share(_WINDOW)
    m_harm = mu * harm_share * _counted_share(_HARM_WINDOW)
    truth = pd.DataFrame(
        {
            "release_id": [f"R{i:07d}" for i in range(n)],
            "reoffence_probability": 1.0 - (1.0 + THETA * m_reoffence) ** (-1.0 / THETA),
            "harm_probability": 1.0 - (1.0 + THETA * m_harm) ** (-1.0 / THETA),
            "frequency_expected": m_reoffence,
        }
    )

    # ---------------------------------------------------------------- offences
    day_p = _offence_day_probabilities(_HARM_WINDOW)
    expected = frailty[person] * mu * day_p.sum()
    counts = rng.poisson(expected)
    owner = np.repeat(np.arange(n), counts)
    off_day = 1 + rng.choice(_HARM_WINDOW, size=owner.size, p=day_p / day_p.sum())
    delay = np.round(rng.lognormal(math.log(_DELAY_MEDIAN), _DELAY_SIGMA, owner.size)).astype(int)
    harmful = rng.random(owner.size) < harm_share[owner]
    harm_type = rng.choice(np.array(list(_HARM_SHARES), dtype=object), size=owner.size, p=list(_HARM_SHARES.values()))
    other = [g for g in OFFENCE_GROUPS if g not in HARM_GROUPS]
    shares = np.array([_INDEX_SHARES[g] for g in other])
    other_type = rng.choice(np.array(other, dtype=object), size=owner.size, p=shares / shares.sum())
    offence_date = release_date[owner] + off_day.astype("timedelta64[D]")
    proven_date = offence_date + delay.astype("timedelta64[D]")
    known = proven_date <= np.datetime64(as_of)
    reoffences = pd.DataFrame(
        {
            "person_id": np.array([f"P{p:07d}" for p in person[owner[known]]], dtype=object),
            "offence_date": offence_date[known].astype("datetime64[ns]"),
            "proven_date": proven_date[known].astype("datetime64[ns]"),
            "offence": np.where(harmful, harm_type, other_type)[known],
        }
    ).sort_values(["person_id", "offence_date", "proven_date"], kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- the recorded table
    def hide(values, share, dtype):
        out = pd.array(values, dtype=dtype)
        out[rng.random(n) < share] = pd.NA
        return out

    releases = pd.DataFrame(
        {
            "release_id": truth["release_id"].to_numpy(dtype=object),
            "person_id": np.array([f"P{p:07d}" for p in person], dtype=object),
            "release_date": release_date.astype("datetime64[ns]"),
            "sex": np.where(male[person], "M", "F").astype(object),
            "age_at_release": age,
            "previous_sanctions": prev.astype(np.int64),
            "index_offence": index_offence.astype(object),
            "age_at_first_sanction": hide(first, 0.03, "Float64").astype(float),
            "age_at_index_conviction": hide(index_age, 0.05, "Float64").astype(float),
            "sentence_days": hide(sentence, 0.03, "Int64"),
            "previous_custodial_sentences": hide(custodial, 0.04, "Int64"),
            "previous_violent_sanctions": hide(violent, 0.04, "Int64"),
            "previous_breaches": hide(breaches, 0.05, "Int64"),
            **{c: hide(needs[c], 0.10, "boolean") for c in NEEDS_COLUMNS},
            "ethnicity": ethnicity[person],
        }
    )
    assert list(releases.columns) == list(RELEASE_COLUMNS)
    assert list(reoffences.columns) == list(REOFFENCE_COLUMNS)
    return SyntheticCohort(releases=releases, reoffences=reoffences, truth=truth[list(TRUTH_COLUMNS)], as_of=as_of)


def write_cohort(cohort: SyntheticCohort, out_dir: Path, *, fmt: str = "csv") -> dict[str, Path]:
    """Write ``releases``, ``reoffences`` and ``truth`` as CSV (ISO dates) or Parquet."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("releases", "reoffences", "truth"):
        frame = getattr(cohort, name)
        path = out_dir / f"{name}.{fmt}"
        for other in ("csv", "parquet"):
            if other != fmt:
                (out_dir / f"{name}.{other}").unlink(missing_ok=True)
        if fmt == "csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.10g", lineterminator="\n")
        else:
            frame.to_parquet(path, index=False)
        paths[name] = path
    return paths


def _count_labels(cohort: SyntheticCohort) -> pd.DataFrame:
    rel = cohort.releases
    r = rel["release_date"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    off = cohort.reoffences
    pairs = pd.DataFrame({"row": np.arange(len(rel)), "person_id": rel["person_id"].to_numpy(), "r": r}).merge(
        pd.DataFrame(
            {
                "person_id": off["person_id"].to_numpy(),
                "o": off["offence_date"].to_numpy(dtype="datetime64[D]").astype(np.int64),
                "p": off["proven_date"].to_numpy(dtype="datetime64[D]").astype(np.int64),
                "h": off["offence"].isin(HARM_GROUPS).to_numpy(),
            }
        ),
        on="person_id",
    )
    a, pa = pairs["o"] - pairs["r"], pairs["p"] - pairs["r"]
    counted = (a > 0) & (a <= _WINDOW) & (pa <= _WINDOW + _WAIT)
    harmful = pairs["h"] & (a > 0) & (a <= _HARM_WINDOW) & (pa <= _HARM_WINDOW + _WAIT)
    as_of = np.datetime64(cohort.as_of, "D").astype(np.int64)
    return pd.DataFrame(
        {
            "count": np.bincount(pairs["row"], weights=counted, minlength=len(rel)),
            "harm": np.bincount(pairs["row"], weights=harmful, minlength=len(rel)) > 0,
            "eligible": r + _WINDOW + _WAIT <= as_of,
            "harm_eligible": r + _HARM_WINDOW + _WAIT <= as_of,
        }
    )


def summarise(cohort: SyntheticCohort) -> dict[str, float]:
    """The cohort's headline figures on eligible releases (from the tables, not the truth)."""
    labels = _count_labels(cohort)
    eligible = labels.loc[labels["eligible"], "count"].to_numpy()
    reoffenders = eligible[eligible > 0]
    top = np.sort(eligible)[::-1][: max(1, math.ceil(0.1 * len(eligible)))]
    truth = cohort.truth.loc[labels["eligible"].to_numpy()]
    return {
        "people": float(cohort.releases["person_id"].nunique()),
        "releases": float(len(cohort.releases)),
        "eligible_releases": float(len(eligible)),
        "reoffence_rate_12m": float((eligible > 0).mean()) if len(eligible) else float("nan"),
        "reoffences_per_reoffender": float(reoffenders.mean()) if len(reoffenders) else float("nan"),
        "top10_share_of_reoffences": float(top.sum() / eligible.sum()) if eligible.sum() else float("nan"),
        "harm_rate_24m": float(labels.loc[labels["harm_eligible"], "harm"].mean()),
        "truth_reoffence_mean": float(truth["reoffence_probability"].mean()),
        "truth_frequency_mean": float(truth["frequency_expected"].mean()),
        "observed_frequency_mean": float(eligible.mean()) if len(eligible) else float("nan"),
    }


def format_summary(summary: dict[str, float]) -> str:
    """The figures as lines for the CLI."""
    return "\n".join(
        [
            f"people {int(summary['people'])}, releases {int(summary['releases'])}, eligible for 12-month outcomes {int(summary['eligible_releases'])}",
            f"12-month proven reoffending: {summary['reoffence_rate_12m']:.1%} (target 55-65%)",
            f"proven reoffences per reoffender: {summary['reoffences_per_reoffender']:.2f} (target 2.5-3.5)",
            f"share of reoffences held by the top 10% of releases: {summary['top10_share_of_reoffences']:.1%} (target 45-55%)",
            f"24-month harm (violent or sexual) rate: {summary['harm_rate_24m']:.1%} (target 15-30%)",
        ]
    )
