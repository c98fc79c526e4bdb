"""Synthetic historic cohorts: the embedded default data of riskmodel.

:func:`generate_cohort` draws a cohort of short-sentenced people released from a local
prison, as the two tables of data contract v1 (``releases``, ``reoffences``) plus the
``truth`` behind them; :func:`write_cohort` writes them; :func:`summarise` and
:func:`format_summary` give the headline figures the CLI prints.

The generating process
----------------------
Everything is vectorised with numpy and driven by one ``numpy.random.Generator``, so the
same seed gives identical tables (and byte-identical CSV files).

People
    About 95% men. Ethnicity is drawn like the England and Wales prison population (72%
    White, 12% Black, 8% Asian, 5% Mixed, 2% Other, 1% Unknown) independently of
    everything else: it never affects risk (it is collected for audit only). Each person
    has a first sanction in the teens or early twenties, an age at first release between
    18 and 65 skewed young, a lognormal sanctioning propensity, a violent lean, a needs
    trait, and a gamma *frailty* (below).
Releases
    Each person has 1 to 4 releases, at least 800 days apart. A release's offences are
    generated for the 730 days after it, so they all fall before the person's next
    release: no offence of one release can fall in another release's windows, and the
    targets of each release depend only on its own offences, which keeps ``truth``
    exact. A person's releases are placed on a time line that may start before
    ``start``; releases before ``start`` are not in the extract (their history still
    counts). This keeps the mix of first and repeat releases the same in every month, so
    the data have no drift built in. The last possible release is 10 days before
    ``as_of``.
History
    Previous sanctions are heavy tailed (negative binomial around propensity x career
    length: median about 10, tail past 100) and grow across a person's releases: each
    later release adds the previous index conviction and the sanctions of the gap. The
    growth is drawn apart from the generated reoffences, so a later release's record
    says nothing about the frailty (which keeps the marginalisation below exact).
    Custodial sentences, violent sanctions (never more than all sanctions) and breaches
    are thinnings of the same history, so they correlate with it. Sentences are short
    (lognormal, median 90 days, a few percent a year or more); the index conviction is a
    little before release. The index offence comes from the 20 OGRS3 groups with
    realistic shares (theft, violence, drugs, burglary, public order and bail offences
    common; sexual offences rare), violent more often for people with a violent lean.
    Needs flags (accommodation about 35%, employment 50%, mental health 30%, substance
    misuse 45%, finance 35%, family 20%) share a person trait that rises with the
    history, so they correlate with each other and with risk.
Unknown values
    About 10% of each needs flag and 3-5% of each optional number are hidden (missing)
    in ``releases``. The risk uses the true values, so ``truth`` knows what the table
    hides: it is a ceiling no model of the table can quite reach.
Risk
    A release's rate ``mu`` (expected offences committed in the first year, before any
    are proven) is ``exp(eta)``, softly bounded at 30 a year, with ``eta`` built from
    OGRS3-like effects (the Copas rate ``ln((1 + previous_sanctions) / (10 +
    age_at_index_conviction - age_at_first_sanction))``, linear plus a convex term for
    prolific offenders; the OGRS3 offence weight; sex), a non-linear age effect, needs
    (substance misuse, accommodation, mental health, employment), previous custody, and
    two interactions (substance misuse x under 25; accommodation x previous breaches).
    The convex Copas term puts about half of all reoffences on a tenth of the releases.
    A person-level gamma frailty ``Z`` (mean 1, variance :data:`THETA`, shared by all
    that person's releases) multiplies the rate: heterogeneity nothing in the table
    reveals, so no model can be perfect.
Offences
    Given ``Z``, offences after a release form a Poisson process whose intensity decays
    from the day of release (``exp(-t / 260 days)``: highest just after release),
    generated for 730 days. Each is proven after a lognormal delay (median 75 days,
    rounded to whole days). Each is in a harm group (violence, robbery, sexual) with a
    probability that rises with previous violent sanctions, a violent index offence and
    youth; otherwise its group follows the non-harm shares. Offences proven after
    ``as_of`` are dropped: the extract does not know the future.
Truth
    The contract's targets count offences with ``r < offence_date <= r + W`` and
    ``proven_date <= r + W + 183`` (``W`` = 365 for reoffence and frequency, 730 for
    harm, the latter only for harm groups). Thinning a Poisson process keeps it Poisson,
    so given ``Z`` a target's count is Poisson(``Z * m``) with ``m = mu * s`` (times the
    harm share, for harm), where ``s`` sums, over the days of the window, the offending
    intensity's mass on that day times the probability of being proven in time (the
    same for every release). Marginalising the gamma frailty gives a
    negative binomial, so ``P(count >= 1) = 1 - (1 + THETA * m) ** (-1 / THETA)`` and
    ``E[count] = m``. ``truth`` holds these for each release (``reoffence_probability``,
    ``harm_probability``, ``frequency_expected``): probabilities given the release's
    features, *not* given the frailty, i.e. the best any model of one release's record
    could do (the oracle). It is the outcome the release would have with its whole
    follow-up observed, so compare it with labels on eligible releases only. The formula
    lives in :func:`_truth`, the window probabilities in :func:`_counted_share`.
Panel (optional)
    With a :class:`PanelSimulation`, an IOM panel decides every release from its start
    date: each month it adopts the releases with the top OGRS3 two-year probabilities
    (up to its capacity), and adoption multiplies the rate after that release by ``1 -
    effect`` (the adopted releases' offences are thinned). The cohort gains a
    ``decisions`` table, and ``truth`` gains ``iom_adopted``, ``iom_effect`` and
    ``frequency_expected_untreated`` (the expected count had the person not been
    adopted); its other columns are then the outcomes under the panel's decisions.
    Why OGRS3, and what a panel choosing otherwise would do: :class:`PanelSimulation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    TRUTH_COLUMNS,
)

__all__ = [
    "THETA",
    "PANEL_TRUTH_COLUMNS",
    "PanelSimulation",
    "SyntheticCohort",
    "format_summary",
    "generate_cohort",
    "summarise",
    "write_cohort",
]

#: Variance of the person-level gamma frailty (its mean is 1).
THETA = 0.3

# Contract defaults for the targets (days).
_WINDOW, _HARM_WINDOW, _WAIT = 365, 730, 183
_TOP_SHARE = 0.10

_DECAY_DAYS = 260.0  # offending intensity after release ~ exp(-t / 260 days)
_DELAY_MEDIAN, _DELAY_SIGMA = 75.0, 0.8  # lognormal delay from offence to proof
_MIN_GAP, _GAP_EXTRA_MEAN = 800, 500  # days between a person's releases
_LAST_RELEASE_BEFORE_AS_OF = 10  # days
_MAX_RATE = 30.0  # offences a year, the most prolific (soft bound)
_INTERCEPT = 0.05
_HARM_INTERCEPT = -2.8
_COPAS = 0.45
_PROLIFIC = 0.65  # prolific offenders: convex in the Copas rate

_RELEASES_PER_PERSON = (0.55, 0.25, 0.13, 0.07)  # 1, 2, 3 or 4 releases
_ETHNICITY_SHARES = (0.72, 0.12, 0.08, 0.05, 0.02, 0.01)  # in the order of ETHNICITIES
_INDEX_SHARES = {
    "violence": 0.15,
    "robbery": 0.03,
    "public_order": 0.07,
    "sexual_against_child": 0.01,
    "sexual_not_against_child": 0.01,
    "soliciting_prostitution": 0.005,
    "burglary_domestic": 0.05,
    "burglary_other": 0.04,
    "criminal_damage": 0.04,
    "drug_possession_supply": 0.09,
    "theft_non_motor": 0.20,
    "handling_stolen_goods": 0.03,
    "fraud_forgery": 0.03,
    "absconding_bail": 0.06,
    "taking_driving_away": 0.02,
    "theft_from_vehicles": 0.02,
    "other_motoring": 0.04,
    "drink_driving": 0.02,
    "drug_import_export_production": 0.01,
    "other": 0.085,
}
_HARM_SHARES = {"violence": 0.78, "robbery": 0.14, "sexual_against_child": 0.03, "sexual_not_against_child": 0.05}
#: (needs column, logit intercept): prevalences about 35, 50, 30, 45, 35 and 20%.
_NEEDS_INTERCEPTS = (
    ("needs_accommodation", -0.75),
    ("needs_employment", 0.1),
    ("needs_mental_health", -1.0),
    ("needs_substance_misuse", -0.2),
    ("needs_finance", -0.75),
    ("needs_family", -1.7),
)
_HIDDEN_SHARE = {
    "age_at_first_sanction": 0.03,
    "age_at_index_conviction": 0.05,
    "sentence_days": 0.03,
    "previous_custodial_sentences": 0.04,
    "previous_violent_sanctions": 0.04,
    "previous_breaches": 0.05,
    **{column: 0.10 for column in NEEDS_COLUMNS},
}


@dataclass(frozen=True)
class SyntheticCohort:
    """A synthetic extract: the two contract tables, the truth behind them, the extract date.

    Attributes
    ----------
    releases : pandas.DataFrame
        The contract's ``releases`` table: exactly ``RELEASE_COLUMNS``, in that order.
    reoffences : pandas.DataFrame
        The contract's ``reoffences`` table (``REOFFENCE_COLUMNS``); nothing proven after
        ``as_of``.
    truth : pandas.DataFrame
        ``TRUTH_COLUMNS``, one row per release in the order of ``releases``: the true
        probabilities and expected count given the release's (true) features.
    as_of : datetime.date
        The extract date.
    decisions : pandas.DataFrame or None
        The simulated panel's ``decisions`` table (``release_id``, ``decided_at``,
        ``decision``) when a panel was simulated, else None.
    """

    releases: pd.DataFrame
    reoffences: pd.DataFrame
    truth: pd.DataFrame
    as_of: date
    decisions: pd.DataFrame | None = None


# ------------------------------------------------------------------------------ truth


def _offence_day_probabilities(days: int) -> np.ndarray:
    """Mass of the offending intensity on day d after release, d = 1..days (year one sums to 1)."""
    edges = 1.0 - np.exp(-np.arange(days + 1) / _DECAY_DAYS)
    return np.diff(edges) / (1.0 - math.exp(-_WINDOW / _DECAY_DAYS))


def _delay_cdf(days: np.ndarray) -> np.ndarray:
    """P(proven delay <= days) for the lognormal delay rounded to whole days."""
    days = np.asarray(days, dtype=float)
    z = (np.log(np.maximum(days, 0.0) + 0.5) - math.log(_DELAY_MEDIAN)) / _DELAY_SIGMA
    cdf = 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2.0)))
    return np.where(days < 0, 0.0, cdf)


def _counted_share(window: int) -> float:
    """Expected offences that count for a target of this window, per unit of ``mu``.

    An offence counts when it falls on day ``d <= window`` after release and is proven
    within ``window + 183 - d`` days.
    """
    day = np.arange(1, window + 1)
    return float(np.sum(_offence_day_probabilities(window) * _delay_cdf(window + _WAIT - day)))


def _truth(mu: np.ndarray, harm_share: np.ndarray) -> dict[str, np.ndarray]:
    """The oracle: gamma-Poisson (negative binomial) probabilities given the features."""
    m_reoffence = mu * _counted_share(_WINDOW)
    m_harm = mu * harm_share * _counted_share(_HARM_WINDOW)
    return {
        "reoffence_probability": 1.0 - (1.0 + THETA * m_reoffence) ** (-1.0 / THETA),
        "harm_probability": 1.0 - (1.0 + THETA * m_harm) ** (-1.0 / THETA),
        "frequency_expected": m_reoffence,
    }


# ------------------------------------------------------------------------------ helpers


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers, as an object array of Python strings."""
    width = max(width, len(str(int(numbers.max())))) if numbers.size else width
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object)


def _group_cumsum(values: np.ndarray, first_of_group: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group's first row (rows sorted by group)."""
    total = np.cumsum(values)
    offset = np.maximum.accumulate(np.where(first_of_group, total - values, 0))
    return total - offset


def _previous_in_group(values: np.ndarray, first_of_group: np.ndarray, fill: float | bool) -> np.ndarray:
    """The previous row's value within the group (``fill`` on a group's first row)."""
    out = np.empty_like(values)
    out[0:1] = fill
    out[1:] = values[:-1]
    out[first_of_group] = fill
    return out


def _negative_binomial(rng: np.random.Generator, mean: np.ndarray, shape: float = 2.0) -> np.ndarray:
    return rng.negative_binomial(shape, shape / (shape + mean))


# ------------------------------------------------------------------------------ generation


def generate_cohort(
    n_people: int,
    *,
    seed: int = 0,
    start: date = date(2015, 1, 1),
    as_of: date = date(2025, 11, 1),
    panel: PanelSimulation | None = None,
) -> SyntheticCohort:
    """Generate a synthetic historic cohort (the process is in the module docstring).

    One long function on purpose: it is one generative story whose random draws must
    happen in a fixed order (the same seed gives the same cohort, and the tests and
    benchmarks rely on it); its sections are marked, and the steps that draw nothing
    are helpers.

    Parameters
    ----------
    n_people : int
        People in the cohort (each has one to four releases in the extract; about 1.3
        releases a person on the default dates).
    seed : int, default 0
        Seed of the random generator: the same seed gives identical tables.
    start : datetime.date, default 2015-01-01
        First day releases may fall on.
    as_of : datetime.date, default 2025-11-01
        The extract date: releases fall before it and no reoffence proven after it is in
        ``reoffences``.
    panel : PanelSimulation, optional
        Simulate an IOM panel from ``panel.start`` (see :class:`PanelSimulation`): the
        cohort then has a ``decisions`` table and ``truth`` gains the panel's columns.
        The draws of the cohort itself are unchanged (the panel uses a generator of its
        own), so with ``effect=0`` the tables equal those without a panel.

    Returns
    -------
    SyntheticCohort

    Examples
    --------
    >>> cohort = generate_cohort(200, seed=1)
    >>> list(cohort.truth.columns)
    ['release_id', 'reoffence_probability', 'harm_probability', 'frequency_expected']
    >>> bool((cohort.reoffences["proven_date"] <= pd.Timestamp(cohort.as_of)).all())
    True
    """
    if n_people < 1:
        raise ValueError(f"n_people must be at least 1, got {n_people}")
    span = (np.datetime64(as_of, "D") - np.datetime64(start, "D")).astype(int) - _LAST_RELEASE_BEFORE_AS_OF
    if span < 0:
        raise ValueError(f"as_of ({as_of}) must be more than {_LAST_RELEASE_BEFORE_AS_OF} days after start ({start})")
    rng = np.random.default_rng(seed)

    # ---------------------------------------------------------------- people
    n_rel = rng.choice(np.arange(1, 5), size=n_people, p=_RELEASES_PER_PERSON)
    gaps = _MIN_GAP + rng.exponential(_GAP_EXTRA_MEAN, size=(n_people, 3)).astype(int)
    needed = np.concatenate([np.zeros((n_people, 1), dtype=int), np.cumsum(gaps, axis=1)], axis=1)
    # Days from a person's first to last release; a person who cannot fit all releases in
    # the window has fewer.
    while True:
        length = needed[np.arange(n_people), n_rel - 1]
        too_long = (n_rel > 1) & (length > span)
        if not too_long.any():
            break
        n_rel[too_long] -= 1
    first_day = (rng.random(n_people) * (span + length)).astype(int) - length
    male = rng.random(n_people) < 0.95
    ethnicity = rng.choice(len(ETHNICITIES), size=n_people, p=_ETHNICITY_SHARES)
    age_first_release = 18.0 + 47.0 * rng.beta(1.6, 4.4, n_people)
    age_first_sanction = np.clip(np.minimum(age_first_release - 0.5, 11 + rng.gamma(2.2, 2.6, n_people)), 10, None)
    propensity = rng.lognormal(0.0, 0.7, n_people)  # sanctions a year of criminal career
    violent_lean = rng.beta(1.5, 8.0, n_people)
    custody_lean = rng.beta(3.0, 12.0, n_people)
    breach_lean = rng.beta(1.5, 10.0, n_people)
    need_trait = rng.normal(0.0, 1.0, n_people)
    frailty = rng.gamma(1.0 / THETA, THETA, n_people)

    # ---------------------------------------------------------------- all releases of the time line
    person = np.repeat(np.arange(n_people), n_rel)
    n_all = person.size
    order = np.arange(n_all) - np.repeat(np.cumsum(n_rel) - n_rel, n_rel)
    first_of_person = order == 0
    day = first_day[person] + needed[person, order]
    age_exact = age_first_release[person] + needed[person, order] / 365.25
    age = np.round(age_exact, 1)
    first = np.round(age_first_sanction[person], 1)
    sentence = np.clip(np.round(rng.lognormal(math.log(90), 0.7, n_all)), 7, 1460).astype(np.int64)
    index_age = np.round(np.maximum(age_exact - sentence / 365.25 * rng.uniform(0.5, 1.0, n_all), first), 1)
    index_age = np.minimum(index_age, age)

    codes = rng.choice(len(OFFENCE_GROUPS), size=n_all, p=_shares(_INDEX_SHARES, OFFENCE_GROUPS))
    turns_violent = rng.random(n_all) < 0.8 * violent_lean[person]
    codes = np.where(turns_violent, OFFENCE_GROUPS.index("violence"), codes)
    harm_codes = np.array([OFFENCE_GROUPS.index(g) for g in HARM_GROUPS])
    violent_index = np.isin(codes, harm_codes)

    # History grows along the time line: the first release draws the whole career, each
    # later one adds the previous index conviction (custodial, violent or not) and the gap.
    career = np.maximum(index_age - first, 0.0)
    gap_years = np.maximum(career - _previous_in_group(career, first_of_person, 0.0), 0.0)
    new_sanctions = np.where(
        first_of_person,
        _negative_binomial(rng, propensity[person] * (0.6 + 0.9 * career)),
        _negative_binomial(rng, propensity[person] * 0.9 * gap_years),
    )
    previous_index = np.where(first_of_person, 0, 1)
    prev_index_violent = _previous_in_group(violent_index, first_of_person, False) & ~first_of_person
    prev = _group_cumsum(new_sanctions + previous_index, first_of_person)
    custodial = _group_cumsum(rng.binomial(new_sanctions, custody_lean[person]) + previous_index, first_of_person)
    violent = _group_cumsum(rng.binomial(new_sanctions, violent_lean[person]) + prev_index_violent, first_of_person)
    breaches = _group_cumsum(rng.binomial(new_sanctions, breach_lean[person]), first_of_person)

    # ---------------------------------------------------------------- the extract's releases
    inside = (day >= 0) & (day <= span)
    person, order, day, age, first, index_age, sentence, codes, violent_index = (
        a[inside] for a in (person, order, day, age, first, index_age, sentence, codes, violent_index)
    )
    prev, custodial, violent, breaches = (a[inside] for a in (prev, custodial, violent, breaches))
    n = person.size
    young = age < 25
    is_male = male[person]

    trait = need_trait[person] + 0.4 * np.log1p(prev) - 1.0
    needs = {
        column: rng.random(n) < _logistic(intercept + 0.8 * trait + rng.normal(0.0, 0.8, n))
        for column, intercept in _NEEDS_INTERCEPTS
    }

    # ---------------------------------------------------------------- risk (true values only)
    copas = np.log((1.0 + prev) / (10.0 + index_age - first))
    offence_weight = np.array([OFFENCE_WEIGHTS[g] for g in OFFENCE_GROUPS])[codes]
    age_effect = (
        0.02 * np.maximum(25 - age, 0) - 0.045 * np.maximum(age - 25, 0) - 0.0008 * np.maximum(age - 40, 0) ** 2
    )
    eta = (
        _INTERCEPT
        + _COPAS * copas
        + _PROLIFIC * np.maximum(copas, 0.0) ** 2
        + 0.9 * offence_weight
        + age_effect
        + 0.45 * needs["needs_substance_misuse"]
        + 0.3 * needs["needs_accommodation"]
        + 0.15 * needs["needs_mental_health"]
        + 0.1 * needs["needs_employment"]
        + 0.3 * (needs["needs_substance_misuse"] & young)
        + 0.12 * needs["needs_accommodation"] * np.log1p(breaches)
        + 0.08 * np.log1p(custodial)
        - 0.25 * ~is_male
    )
    mu = _MAX_RATE * np.tanh(np.exp(eta) / _MAX_RATE)
    harm_share = _logistic(_HARM_INTERCEPT + 1.0 * violent_index + 0.45 * np.log1p(violent) + 0.35 * young)

    release_ids = _ids("R", np.arange(1, n + 1), 7)
    person_ids = _ids("P", np.arange(1, n_people + 1), 6)
    truth = pd.DataFrame({"release_id": release_ids, **_truth(mu, harm_share)})

    # ---------------------------------------------------------------- offences
    day_p = _offence_day_probabilities(_HARM_WINDOW)
    counts = rng.poisson(frailty[person] * mu * day_p.sum())
    owner = np.repeat(np.arange(n), counts)
    off_day = 1 + rng.choice(_HARM_WINDOW, size=owner.size, p=day_p / day_p.sum())
    delay = np.round(rng.lognormal(math.log(_DELAY_MEDIAN), _DELAY_SIGMA, owner.size)).astype(np.int64)
    harmful = rng.random(owner.size) < harm_share[owner]
    harm_type = rng.choice(harm_codes, size=owner.size, p=_shares(_HARM_SHARES, HARM_GROUPS))
    other_groups = [g for g in OFFENCE_GROUPS if g not in HARM_GROUPS]
    other_type = rng.choice(
        np.array([OFFENCE_GROUPS.index(g) for g in other_groups]),
        size=owner.size,
        p=_shares(_INDEX_SHARES, other_groups),
    )
    offence_day = day[owner] + off_day
    proven_day = offence_day + delay
    known = np.flatnonzero(proven_day <= span + _LAST_RELEASE_BEFORE_AS_OF)
    known = known[np.lexsort((proven_day[known], offence_day[known], person[owner[known]]))]
    offence_codes = np.where(harmful, harm_type, other_type)[known]
    reoffences = pd.DataFrame(
        {
            "person_id": person_ids[person[owner[known]]],
            "offence_date": _dates(start, offence_day[known]),
            "proven_date": _dates(start, proven_day[known]),
            "offence": np.array(OFFENCE_GROUPS, dtype=object)[offence_codes],
        }
    )

    # ---------------------------------------------------------------- the recorded table
    def hidden(column: str, values: np.ndarray, dtype: str):
        out = pd.array(values, dtype=dtype)
        out[rng.random(n) < _HIDDEN_SHARE[column]] = pd.NA
        return out

    releases = pd.DataFrame(
        {
            "release_id": release_ids,
            "person_id": person_ids[person],
            "release_date": _dates(start, day),
            "sex": np.where(is_male, "M", "F").astype(object),
            "age_at_release": age,
            "previous_sanctions": prev.astype(np.int64),
            "index_offence": np.array(OFFENCE_GROUPS, dtype=object)[codes],
            "age_at_first_sanction": hidden("age_at_first_sanction", first, "Float64").to_numpy(float, na_value=np.nan),
            "age_at_index_conviction": hidden("age_at_index_conviction", index_age, "Float64").to_numpy(
                float, na_value=np.nan
            ),
            "sentence_days": hidden("sentence_days", sentence, "Int64"),
            "previous_custodial_sentences": hidden("previous_custodial_sentences", custodial, "Int64"),
            "previous_violent_sanctions": hidden("previous_violent_sanctions", violent, "Int64"),
            "previous_breaches": hidden("previous_breaches", breaches, "Int64"),
            **{column: hidden(column, needs[column], "boolean") for column in NEEDS_COLUMNS},
            "ethnicity": np.array(ETHNICITIES, dtype=object)[ethnicity[person]],
        }
    )[list(RELEASE_COLUMNS)]
    truth = truth[list(TRUTH_COLUMNS)]
    if panel is None:
        return SyntheticCohort(releases=releases, reoffences=reoffences, truth=truth, as_of=as_of)
    return _with_panel(
        releases,
        reoffences,
        truth,
        owner=owner[known],
        mu=mu,
        harm_share=harm_share,
        panel=panel,
        seed=seed,
        as_of=as_of,
    )


# ------------------------------------------------------------------------------ the panel

#: Columns ``truth`` gains when a panel is simulated.
PANEL_TRUTH_COLUMNS: tuple[str, ...] = ("iom_adopted", "iom_effect", "frequency_expected_untreated")

#: Share of the releases the simulated panel does not adopt that it refers elsewhere.
_REFER_SHARE = 0.05


@dataclass(frozen=True)
class PanelSimulation:
    """An IOM panel that adopts people from ``start`` on, and what adoption does.

    Each calendar month from ``start`` the panel adopts the ``capacity`` releases of
    that month with the highest OGRS3 two-year probability (computed from the recorded
    ``releases`` table; a release OGRS3 cannot score comes last); of the others, a few
    are referred to another service and the rest are "not now". Adoption multiplies the
    person's offending rate after that release by ``1 - effect``.

    Why OGRS3: it is a score the panel could have had at the time, and its information
    (age, sex, previous sanctions, the Copas rate, the index offence) is all in the
    ``releases`` table, so the model's expected count already holds it. Within strata of
    the expected count, who was adopted then says nothing more about the outcome, and
    comparing adopted with not-adopted people there is fair up to the model's fit. A
    panel that chooses on information the model lacks (say, what the probation officer
    knows of the person's frailty) breaks that: if it takes on those who are worse than
    their expected count, the adopted group's O/E rises and the estimate understates a
    reduction (or shows a harm); if it takes on the more hopeful, the estimate
    overstates the reduction. The simulation cannot show this bias, by design.

    Attributes
    ----------
    start : datetime.date
        First day of the panel's first month (releases from then on are decided).
    capacity : int
        People adopted each month.
    effect : float
        Relative reduction in the adopted people's offending rate, in [0, 1).
    """

    start: date
    capacity: int
    effect: float = 0.0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"panel capacity must be at least 1, got {self.capacity}")
        if not 0.0 <= self.effect < 1.0:
            raise ValueError(f"iom effect must be in [0, 1), got {self.effect}")


def _adopted(releases: pd.DataFrame, panel: PanelSimulation) -> tuple[np.ndarray, np.ndarray]:
    """Which releases the panel decides (from ``start``) and which of them it adopts."""
    # OGRS3 lives in modelling (it is also a model reference); imported here so that the
    # generator without a panel needs nothing else of riskmodel.
    from riskmodel.modelling.ogrs3 import ogrs3

    release_date = pd.to_datetime(releases["release_date"])
    decided = (release_date >= pd.Timestamp(panel.start)).to_numpy()
    score = ogrs3(releases)["ogrs3_2y"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "row": np.arange(len(releases)),
            "month": release_date.dt.to_period("M").to_numpy(),
            "score": np.where(np.isnan(score), -1.0, score),  # unscored last
        }
    )[decided]
    frame = frame.sort_values(["month", "score", "row"], ascending=[True, False, True], kind="mergesort")
    rank = frame.groupby("month", sort=False).cumcount().to_numpy()
    adopted = np.zeros(len(releases), dtype=bool)
    adopted[frame["row"].to_numpy()[rank < panel.capacity]] = True
    return decided, adopted


def _with_panel(
    releases: pd.DataFrame,
    reoffences: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    owner: np.ndarray,
    mu: np.ndarray,
    harm_share: np.ndarray,
    panel: PanelSimulation,
    seed: int,
    as_of: date,
) -> SyntheticCohort:
    """The cohort as the panel leaves it: adopted releases' offences thinned, decisions, truth.

    Keeping each offence of an adopted release with probability ``1 - effect`` thins its
    Poisson process, which is the same as multiplying its rate by ``1 - effect``; drawn
    with a generator of its own, so the cohort's other draws do not move.
    """
    rng = np.random.default_rng([seed, 14])
    decided, adopted = _adopted(releases, panel)
    kept = ~adopted[owner] | (rng.random(owner.size) >= panel.effect)
    reoffences = reoffences.loc[kept].reset_index(drop=True)

    factor = np.where(adopted, 1.0 - panel.effect, 1.0)
    treated = pd.DataFrame({"release_id": truth["release_id"].to_numpy(), **_truth(mu * factor, harm_share)})
    treated["iom_adopted"] = adopted
    treated["iom_effect"] = np.where(adopted, panel.effect, 0.0)
    treated["frequency_expected_untreated"] = truth["frequency_expected"].to_numpy()

    rows = np.flatnonzero(decided)
    refer = rng.random(rows.size) < _REFER_SHARE
    month_start = pd.to_datetime(releases["release_date"].to_numpy()[rows]).to_period("M").to_timestamp()
    decisions = pd.DataFrame(
        {
            "release_id": releases["release_id"].to_numpy()[rows],
            # the month's meeting, before the month's releases leave prison
            "decided_at": (month_start + pd.Timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "decision": np.where(adopted[rows], "adopt", np.where(refer, "refer", "not_now")).astype(object),
        }
    )
    return SyntheticCohort(
        releases=releases,
        reoffences=reoffences,
        truth=treated[[*TRUTH_COLUMNS, *PANEL_TRUTH_COLUMNS]],
        as_of=as_of,
        decisions=decisions,
    )


def _shares(shares: dict[str, float], groups: Iterable[str]) -> np.ndarray:
    p = np.array([shares[g] for g in groups], dtype=float)
    return p / p.sum()


def _dates(start: date, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(start, "D") + days.astype("timedelta64[D]")).astype("datetime64[ns]")


# ------------------------------------------------------------------------------ writing


def write_cohort(cohort: SyntheticCohort, out_dir: Path, *, fmt: str = "csv") -> dict[str, Path]:
    """Write ``releases``, ``reoffences`` and ``truth`` to ``out_dir``.

    Parameters
    ----------
    cohort : SyntheticCohort
    out_dir : pathlib.Path
        Folder to write to (created if needed). A table's file in the other format is
        removed, so a folder never holds two disagreeing copies.
    fmt : {"csv", "parquet"}, default "csv"
        CSV has ISO dates (``YYYY-MM-DD``), booleans as ``true``/``false`` and unknown
        values blank; the same cohort always gives the same bytes.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"releases": ..., "reoffences": ..., "truth": ...}``, and ``"decisions"`` when
        the cohort has a simulated panel.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    names = ("releases", "reoffences", "truth") + (("decisions",) if cohort.decisions is not None else ())
    for name in names:
        frame = getattr(cohort, name)
        path = out_dir / f"{name}.{fmt}"
        for other in ("csv", "parquet"):
            if other != fmt:
                (out_dir / f"{name}.{other}").unlink(missing_ok=True)
        if fmt == "csv":
            frame = frame.copy()
            for column in frame.columns:
                if isinstance(frame[column].dtype, pd.BooleanDtype):
                    frame[column] = frame[column].map({True: "true", False: "false"}).astype(object)
            frame.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.10g", lineterminator="\n")
        else:
            frame.to_parquet(path, index=False)
        paths[name] = path
    return paths


# ------------------------------------------------------------------------------ summary


def _day_numbers(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[D]").astype(np.int64)


def _count_labels(releases: pd.DataFrame, reoffences: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per release: 12-month count, 24-month harm flag, and the eligibility of each.

    Follows data contract v1 (windows 365 and 730 days, waiting period 183, the default
    harm groups); kept private here so the generator needs nothing else of riskmodel.
    """
    r = _day_numbers(releases["release_date"])
    rows = pd.DataFrame({"row": np.arange(len(releases)), "person_id": releases["person_id"].to_numpy(), "r": r})
    pairs = rows.merge(
        pd.DataFrame(
            {
                "person_id": reoffences["person_id"].to_numpy(),
                "o": _day_numbers(reoffences["offence_date"]),
                "p": _day_numbers(reoffences["proven_date"]),
                "h": reoffences["offence"].isin(HARM_GROUPS).to_numpy(),
            }
        ),
        on="person_id",
    )
    after = (pairs["o"] - pairs["r"]).to_numpy()
    proven_after = (pairs["p"] - pairs["r"]).to_numpy()
    counted = (after > 0) & (after <= _WINDOW) & (proven_after <= _WINDOW + _WAIT)
    harmful = pairs["h"].to_numpy() & (after > 0) & (after <= _HARM_WINDOW) & (proven_after <= _HARM_WINDOW + _WAIT)
    rows = pairs["row"].to_numpy()
    last_day = np.datetime64(as_of, "D").astype(np.int64)
    return pd.DataFrame(
        {
            "count": np.bincount(rows, weights=counted, minlength=len(releases)).astype(np.int64),
            "harm": np.bincount(rows, weights=harmful, minlength=len(releases)) > 0,
            "eligible": r + _WINDOW + _WAIT <= last_day,
            "harm_eligible": r + _HARM_WINDOW + _WAIT <= last_day,
        }
    )


def _top_share(counts: np.ndarray, share: float = _TOP_SHARE) -> float:
    """Share of all counted reoffences held by the top ``share`` of rows (exactly ceil(share * n) rows)."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    top = np.sort(counts)[::-1][: math.ceil(share * len(counts))]
    return float(top.sum() / total)


def summarise(cohort: SyntheticCohort) -> dict[str, float]:
    """The cohort's headline figures, from ``releases`` and ``reoffences`` (not the truth).

    Eligible releases only: ``r + 548 <= as_of`` for the 12-month figures, ``r + 913 <=
    as_of`` for harm. The truth means over the same releases are given beside them as a
    check of coherence.

    Returns
    -------
    dict of str to float
        ``people``, ``releases``, ``eligible_releases``, ``reoffence_rate_12m``,
        ``reoffences_per_reoffender``, ``top10_share_of_reoffences``,
        ``harm_eligible_releases``, ``harm_rate_24m``, ``observed_frequency_mean``,
        ``truth_reoffence_mean``, ``truth_frequency_mean``, ``truth_harm_mean``.
    """
    labels = _count_labels(cohort.releases, cohort.reoffences, cohort.as_of)
    eligible = labels["eligible"].to_numpy()
    harm_eligible = labels["harm_eligible"].to_numpy()
    counts = labels["count"].to_numpy()[eligible]
    harm = labels["harm"].to_numpy()[harm_eligible]
    truth = cohort.truth

    def mean(values: np.ndarray) -> float:
        return float(np.mean(values)) if len(values) else float("nan")

    return {
        "people": float(cohort.releases["person_id"].nunique()),
        "releases": float(len(cohort.releases)),
        "eligible_releases": float(eligible.sum()),
        "reoffence_rate_12m": mean(counts > 0),
        "reoffences_per_reoffender": mean(counts[counts > 0]),
        "top10_share_of_reoffences": _top_share(counts),
        "harm_eligible_releases": float(harm_eligible.sum()),
        "harm_rate_24m": mean(harm),
        "observed_frequency_mean": mean(counts),
        "truth_reoffence_mean": mean(truth["reoffence_probability"].to_numpy()[eligible]),
        "truth_frequency_mean": mean(truth["frequency_expected"].to_numpy()[eligible]),
        "truth_harm_mean": mean(truth["harm_probability"].to_numpy()[harm_eligible]),
    }


def format_summary(summary: dict[str, float]) -> str:
    """The figures of :func:`summarise` as human-readable lines for the CLI.

    Examples
    --------
    >>> print(format_summary(summarise(generate_cohort(300, seed=1))).splitlines()[0])  # doctest: +ELLIPSIS
    people 300, releases ..., eligible for 12-month outcomes ...
    """
    return "\n".join(
        [
            f"people {int(summary['people'])}, releases {int(summary['releases'])}, "
            f"eligible for 12-month outcomes {int(summary['eligible_releases'])}",
            f"12-month proven reoffending: {summary['reoffence_rate_12m']:.1%} "
            f"(truth {summary['truth_reoffence_mean']:.1%}; reference 61%)",
            f"proven reoffences per reoffender: {summary['reoffences_per_reoffender']:.2f} (reference 2.9)",
            f"share of reoffences held by the top 10% of releases: {summary['top10_share_of_reoffences']:.1%} "
            "(reference: 10% commit about half)",
            f"24-month harm (violent or sexual) rate: {summary['harm_rate_24m']:.1%} "
            f"(truth {summary['truth_harm_mean']:.1%}; {int(summary['harm_eligible_releases'])} eligible)",
        ]
    )
