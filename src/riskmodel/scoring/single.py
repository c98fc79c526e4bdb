"""The lean path of small scoring requests: no pandas DataFrame from validation to JSON.

A request of a few releases (at most :data:`LEAN_MAX_ROWS`) spends most of its time in
pandas' fixed cost per call (building a frame, typing its columns, indexing), not in the
models. The service (:class:`riskmodel.service.state.ServiceState`) sends such a request
here: validation by the contract's own rules on the release objects
(:func:`~riskmodel.data.contract.validate_json_releases`), features
(:meth:`~riskmodel.modelling.features.ReleaseFeatures.transform_columns`), the three
models, OGRS3 and ARP (:func:`~riskmodel.modelling.ogrs3.ogrs3_columns`,
:func:`~riskmodel.modelling.arp.arp_columns`), explanations, and the output columns that
:func:`~riskmodel.scoring.output.render_rows` writes, all on numpy arrays and plain Python.

:func:`score_lean` gives exactly :func:`~riskmodel.scoring.scoring.score_columns`' columns
for the same rows, so the JSON answered (and audited) is the same text, whichever path
scored it (``tests/scoring/test_lean_path.py`` checks this on edge cases and synthetic
rows). A request the lean validation cannot accept whole (any refusal) goes the table
path, so refusals are :func:`~riskmodel.data.contract.validate_releases`' own. Larger
requests keep the table path unchanged. ``RISKMODEL_LEAN=0`` turns the lean path off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskmodel._constants import NEEDS_COLUMNS
from riskmodel.data.contract import validate_json_releases
from riskmodel.modelling.arp import UNAVAILABLE_INPUT as ARP_UNAVAILABLE_INPUT
from riskmodel.modelling.arp import arp_columns
from riskmodel.modelling.champions import Champions
from riskmodel.modelling.ogrs3 import UNAVAILABLE_INPUT, ogrs3_columns
from riskmodel.scoring.explain import top_factors
from riskmodel.scoring.output import NEED_CODES, CodedColumn, FactorColumn, warning
from riskmodel.scoring.scoring import band, priority_score, rank_priority, utc_now

__all__ = ["LEAN_MAX_ROWS", "LeanRows", "lean_enabled", "validate_lean", "score_lean"]

#: Requests (or coalesced groups of requests) of at most this many releases take the lean path.
LEAN_MAX_ROWS = 8


def lean_enabled() -> bool:
    """False when ``RISKMODEL_LEAN`` is ``0`` (every request then takes the table path)."""
    return os.environ.get("RISKMODEL_LEAN", "1").strip() not in ("0", "false", "no")


@dataclass(frozen=True)
class LeanRows:
    """Validated rows of one request as typed columns (contract name -> one value per row)."""

    columns: dict[str, np.ndarray]
    n: int

    def __len__(self) -> int:
        return self.n

    @classmethod
    def concat(cls, parts: list[LeanRows]) -> LeanRows:
        """The rows of ``parts``, one after another."""
        if len(parts) == 1:
            return parts[0]
        names = parts[0].columns
        return cls({name: np.concatenate([p.columns[name] for p in parts]) for name in names}, sum(p.n for p in parts))


def validate_lean(releases: list[Any], champions: Champions) -> LeanRows | None:
    """The request's validated rows, or None when it must be validated as a table (see module docstring)."""
    config = champions.config
    columns = validate_json_releases(
        releases, extra_numeric=config.extra_numeric, extra_categorical=config.extra_categorical
    )
    return None if columns is None else LeanRows(columns, len(releases))


def _needs(columns: Mapping[str, np.ndarray]) -> CodedColumn:
    flags = np.column_stack([np.asarray(columns[c], dtype=float) == 1.0 for c in NEEDS_COLUMNS])
    return CodedColumn.from_flags(flags, NEED_CODES)


def _warnings(
    columns: Mapping[str, np.ndarray],
    n: int,
    ranges: dict[str, tuple[float, float]],
    tolerance: float,
    unavailable: np.ndarray,
    arp_unavailable: np.ndarray,
) -> CodedColumn:
    """As :func:`riskmodel.scoring.scoring._warnings`, on columns."""
    flags, items = [], []
    for name, (low, high) in ranges.items():
        if name not in columns:
            continue
        values = np.asarray(columns[name], dtype=float)
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
        return CodedColumn.empty(n)
    return CodedColumn.from_flags(np.column_stack(flags), items)


def _features_of(model: Any, rows: LeanRows, done: list[tuple[object, np.ndarray]]) -> np.ndarray:
    """The model's feature matrix, reusing one already computed by an identical step."""
    features = model.features
    for other, Xt in done:
        if other is features or (
            other.get_params() == features.get_params() and other.categories_ == features.categories_
        ):
            return Xt
    Xt = features.transform_columns(rows.columns, rows.n)
    done.append((features, Xt))
    return Xt


def score_lean(
    rows: LeanRows, champions: Champions, *, explain: bool = True, scored_at: str | None = None, rank: bool = True
) -> dict[str, object]:
    """:func:`~riskmodel.scoring.scoring.score_columns`' columns for lean rows (no DataFrame).

    Parameters
    ----------
    rows : LeanRows
        From :func:`validate_lean`.
    champions : Champions
        Loaded models, their versions and the scoring configuration.
    explain : bool
        Compute ``top_factors``.
    scored_at : str, optional
        Timestamp to stamp (default now, UTC).
    rank : bool
        Rank within ``rows`` (else ``priority_rank`` is -1).

    Returns
    -------
    dict
        :data:`~riskmodel.scoring.output.OUTPUT_COLUMNS` to arrays, as ``score_columns`` gives.
    """
    config = champions.scoring
    models, info = champions.models, champions.info
    columns, n = rows.columns, rows.n
    out: dict[str, object] = {"release_id": columns["release_id"], "person_id": columns["person_id"]}
    values = {}
    factors = FactorColumn.empty(n)
    transformed: list[tuple[object, np.ndarray]] = []
    margins: dict[tuple[int, str], np.ndarray] = {}
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
    out["needs"] = _needs(columns)
    reference = ogrs3_columns(columns)
    out["ogrs3_1y"] = np.round(reference["ogrs3_1y"], 6)
    out["ogrs3_2y"] = np.round(reference["ogrs3_2y"], 6)
    out["ogrs3_band"] = reference["ogrs3_band"]
    unavailable = np.asarray(reference["ogrs3_unavailable"], dtype=object)
    static = arp_columns(columns)
    out["arp_2y"] = np.round(static["arp_2y"], 6)
    out["arp_band"] = static["arp_band"]
    arp_unavailable = np.asarray(static["arp_reason"], dtype=object)
    out["warnings"] = _warnings(
        columns, n, models["reoffence"].features.ranges_, config.range_tolerance, unavailable, arp_unavailable
    )
    out["scored_at"] = scored_at or utc_now()
    return out
