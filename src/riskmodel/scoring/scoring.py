"""Scoring: contract rows in, the contract's scoring output out.

The service and batch scoring both call :func:`score_columns`, so they cannot disagree;
what the output holds and how it is written is :mod:`riskmodel.scoring.output`'s.
Input rows must already be validated by :func:`riskmodel.data.contract.validate_releases`
(:func:`validate_for_scoring` does that with the champions' declared extra features).

Priority rules (``ScoringConfig.priority_rule``), all transparent:

* ``frequency``: expected number of proven reoffences (the Peterborough measure);
* ``harm_weighted_frequency`` (default): expected reoffences × (1 + ``harm_weight`` ×
  probability of a harmful reoffence), so harm breaks near-ties in volume;
* ``reoffence``: probability of any proven reoffence;
* ``harm``: probability of a violent or sexual reoffence.

Rank 1 is the highest priority score; ties are broken by ``release_id`` so a rerun gives
the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from riskmodel._constants import NEEDS_COLUMNS
from riskmodel.data.contract import ValidatedTable, validate_releases
from riskmodel.modelling.arp import UNAVAILABLE_INPUT as ARP_UNAVAILABLE_INPUT
from riskmodel.modelling.arp import arp
from riskmodel.modelling.champions import Champions
from riskmodel.modelling.config import ScoringConfig
from riskmodel.modelling.models import CalibratedModel
from riskmodel.modelling.ogrs3 import UNAVAILABLE_INPUT, ogrs3
from riskmodel.scoring.explain import top_factors
from riskmodel.scoring.output import NEED_CODES, CodedColumn, FactorColumn, to_frame, warning

__all__ = [
    "PRIORITY_RULES",
    "score_frame",
    "score_columns",
    "rank_priority",
    "band",
    "validate_for_scoring",
    "utc_now",
]

PRIORITY_RULES: dict[str, str] = {
    "frequency": "expected number of proven reoffences in 12 months",
    "harm_weighted_frequency": "expected reoffences x (1 + weight x probability of a violent or sexual reoffence)",
    "reoffence": "probability of any proven reoffence",
    "harm": "probability of a violent or sexual reoffence",
}


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def band(p: np.ndarray, bands: Sequence[tuple[float, str]]) -> np.ndarray:
    """Band names of probabilities; ``bands`` are (lower edge, name) in ascending order."""
    edges = np.array([edge for edge, _ in bands[1:]], dtype=float)
    names = np.array([name for _, name in bands], dtype=object)
    return names[np.searchsorted(edges, np.asarray(p, dtype=float), side="right")]


def priority_score(
    rule: str, *, reoffence: np.ndarray, harm: np.ndarray, frequency: np.ndarray, harm_weight: float
) -> np.ndarray:
    """The priority score under a named rule (see module docstring)."""
    if rule == "frequency":
        return frequency
    if rule == "harm_weighted_frequency":
        return frequency * (1.0 + harm_weight * harm)
    if rule == "reoffence":
        return reoffence
    if rule == "harm":
        return harm
    raise ValueError(f"priority_rule must be one of {sorted(PRIORITY_RULES)}, got {rule!r}")


def rank_priority(scores: np.ndarray, release_ids: np.ndarray) -> np.ndarray:
    """Ranks (1 = first) by descending score, ties by ``release_id``."""
    order = np.lexsort((np.asarray(release_ids, dtype=str), -np.asarray(scores, dtype=float)))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def validate_for_scoring(frame: pd.DataFrame, champions: Champions, **kwargs: Any) -> ValidatedTable:
    """Validate contract rows with the extra features the champions were trained on."""
    return validate_releases(
        frame,
        extra_numeric=champions.config.extra_numeric,
        extra_categorical=champions.config.extra_categorical,
        **kwargs,
    )


def _needs(rows: pd.DataFrame) -> CodedColumn:
    flags = np.column_stack([rows[c].to_numpy(dtype=float) == 1.0 for c in NEEDS_COLUMNS])
    return CodedColumn.from_flags(flags, NEED_CODES)


def _warnings(
    rows: pd.DataFrame,
    ranges: dict[str, tuple[float, float]],
    tolerance: float,
    unavailable: np.ndarray,
    arp_unavailable: np.ndarray,
) -> CodedColumn:
    """Per row, its warnings: values outside the training range, OGRS3 and ARP unavailable and why."""
    flags, items = [], []
    for name, (low, high) in ranges.items():
        if name not in rows:
            continue
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float)
        span = (high - low) * tolerance
        flags.append((values < low - span) | (values > high + span))
        items.append(warning("outside_training_range", f"{name} outside the training range {low:g}-{high:g}", name))
    for reason in sorted({r for r in unavailable if r is not None}):
        flags.append(unavailable == reason)
        items.append(warning("ogrs3_unavailable", f"OGRS3 unavailable: {reason}", UNAVAILABLE_INPUT.get(reason)))
    for reason in sorted({r for r in arp_unavailable if r is not None}):
        flags.append(arp_unavailable == reason)
        items.append(warning("arp_unavailable", f"ARP unavailable: {reason}", ARP_UNAVAILABLE_INPUT.get(reason)))
    if not flags:
        return CodedColumn.empty(len(rows))
    return CodedColumn.from_flags(np.column_stack(flags), items)


def _features_of(model: CalibratedModel, rows: pd.DataFrame, done: list[tuple[object, np.ndarray]]) -> np.ndarray:
    """The model's feature matrix, reusing one already computed by an identical step."""
    features = model.features
    for other, Xt in done:
        if other is features or (
            other.get_params() == features.get_params() and other.categories_ == features.categories_
        ):
            return Xt
    Xt = features.transform(rows)
    done.append((features, Xt))
    return Xt


def score_columns(
    rows: pd.DataFrame,
    champions: Champions,
    *,
    explain: bool = True,
    scored_at: str | None = None,
    rank: bool = True,
) -> tuple[dict[str, object], np.ndarray]:
    """The work of :func:`score_frame`, as columns: what both it and batch scoring use.

    Returns
    -------
    columns : dict
        :data:`~riskmodel.scoring.output.OUTPUT_COLUMNS` to arrays (a model label, the
        rule and ``scored_at`` as one string each); ``needs`` and ``warnings`` are
        :class:`~riskmodel.scoring.output.CodedColumn`, ``top_factors`` a
        :class:`~riskmodel.scoring.output.FactorColumn` (structured, with no Python
        object per row: batch scoring writes them to Arrow, the service to JSON).
    features : ndarray
        The reoffence model's feature matrix (batch scoring's drift check reuses it).
    """
    config: ScoringConfig = champions.scoring
    models, info = champions.models, champions.info
    if not isinstance(rows.index, pd.RangeIndex) or rows.index.start != 0:
        rows = rows.reset_index(drop=True)
    n = len(rows)
    out: dict[str, object] = {"release_id": rows["release_id"].to_numpy(), "person_id": rows["person_id"].to_numpy()}
    values = {}
    factors = FactorColumn.empty(n)
    transformed: list[tuple[object, np.ndarray]] = []
    margins: dict[tuple[int, str], np.ndarray] = {}  # models sharing trees share the margin
    for target in ("reoffence", "harm", "frequency"):
        model = models[target]
        Xt = _features_of(model, rows, transformed)
        shared = (id(Xt), model.trees_key)
        if shared not in margins:
            margins[shared] = model.margin_from_features(Xt)
        values[target] = model.predict_from_margin(margins[shared])
        if explain and target == "reoffence" and n:
            contributions = model.contributions_from_features(Xt)
            factors = top_factors(contributions, Xt, model.feature_names_, top=config.explain_top)
            del contributions
    reoffence_features = transformed[0][1] if transformed else np.empty((0, 0))
    out["reoffence_probability"] = np.round(values["reoffence"], 6)
    out["reoffence_band"] = band(values["reoffence"], config.reoffence_bands)
    out["reoffence_model"] = info["reoffence"].label
    out["harm_probability"] = np.round(values["harm"], 6)
    out["harm_band"] = band(values["harm"], config.harm_bands)
    out["harm_model"] = info["harm"].label
    out["frequency_expected"] = np.round(values["frequency"], 6)
    out["frequency_model"] = info["frequency"].label
    score = np.round(
        priority_score(
            config.priority_rule,
            reoffence=values["reoffence"],
            harm=values["harm"],
            frequency=values["frequency"],
            harm_weight=config.harm_weight,
        ),
        6,
    )
    out["priority_rank"] = rank_priority(score, out["release_id"]) if rank else np.full(n, -1, dtype=np.int64)
    out["priority_score"] = score
    out["priority_rule"] = config.priority_rule
    out["top_factors"] = factors
    out["needs"] = _needs(rows)
    reference = ogrs3(rows)
    out["ogrs3_1y"] = np.round(reference["ogrs3_1y"].to_numpy(), 6)
    out["ogrs3_2y"] = np.round(reference["ogrs3_2y"].to_numpy(), 6)
    out["ogrs3_band"] = reference["ogrs3_band"].to_numpy()
    unavailable = reference["ogrs3_unavailable"].to_numpy(dtype=object)
    static = arp(rows)  # scored at release, as the models are
    out["arp_2y"] = np.round(static["arp_2y"].to_numpy(), 6)
    out["arp_band"] = static["arp_band"].to_numpy()
    arp_unavailable = static["arp_reason"].to_numpy(dtype=object)
    out["warnings"] = _warnings(
        rows, models["reoffence"].features.ranges_, config.range_tolerance, unavailable, arp_unavailable
    )
    out["scored_at"] = scored_at or utc_now()
    return out, reoffence_features


def score_frame(
    rows: pd.DataFrame,
    champions: Champions,
    *,
    explain: bool = True,
    scored_at: str | None = None,
    rank: bool = True,
) -> pd.DataFrame:
    """Score validated release rows with the champion models.

    Parameters
    ----------
    rows : DataFrame
        Accepted rows from :func:`validate_for_scoring`.
    champions : Champions
        Loaded models, their versions and the scoring configuration.
    explain : bool
        Compute ``top_factors`` from LightGBM's ``pred_contrib`` (costly on millions of rows).
    scored_at : str, optional
        Timestamp to stamp (default now, UTC).
    rank : bool
        Rank within ``rows``; a streaming batch ranks once at the end instead and leaves
        ``priority_rank`` at -1 here.

    Returns
    -------
    DataFrame
        :data:`~riskmodel.scoring.output.OUTPUT_COLUMNS`, one row per input row, in
        input order; ``needs``, ``warnings`` and ``top_factors`` hold Python lists.
    """
    out, _ = score_columns(rows, champions, explain=explain, scored_at=scored_at, rank=rank)
    return to_frame(out)
