"""Training, evaluation, gate and scoring configuration.

The defaults here are the ones written out in ``training/config.yaml``; a YAML file
overrides any part of them (a test keeps the two identical).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from riskmodel.labels import LabelConfig
from riskmodel.models import DEFAULT_PARAMS

__all__ = [
    "SplitConfig",
    "GateConfig",
    "ScoringConfig",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "Band",
]

Band = tuple[float, str]


@dataclass(frozen=True)
class SplitConfig:
    """How the cohort is split in time and by person.

    Releases before ``test_from`` train the models; later eligible releases are split by
    person (``calibration_share`` to calibration, the rest to test). ``test_from``
    defaults to two years before the last release whose harm outcome is known, so every
    target has a test period. ``validation_share`` of training people are held out for
    early stopping.
    """

    test_from: date | None = None
    calibration_share: float = 0.5
    validation_share: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class GateConfig:
    """Written-down gates a candidate must pass to become champion.

    Calibration bounds are widened by ``uncertainty_z`` standard errors of the figure on
    the candidate's test rows (see :func:`riskmodel.registry.promote`).
    """

    min_auc: float = 0.60
    auc_tolerance: float = 0.01
    brier_tolerance: float = 0.005
    calibration_slope: tuple[float, float] = (0.8, 1.2)
    max_abs_calibration_intercept: float = 0.2
    max_ece: float = 0.05
    max_frequency_calibration_error: float = 0.10
    max_calibration_gap: float = 0.15
    max_false_positive_rate_gap: float = 0.20
    max_false_negative_rate_gap: float = 0.20
    min_group_size: int = 100
    uncertainty_z: float = 2.0


@dataclass(frozen=True)
class ScoringConfig:
    """Bands, priority rule and panel capacity used when scoring."""

    reoffence_bands: tuple[Band, ...] = ((0.0, "low"), (0.50, "medium"), (0.75, "high"), (0.90, "very high"))
    harm_bands: tuple[Band, ...] = ((0.0, "low"), (0.30, "medium"), (0.60, "high"), (0.80, "very high"))
    priority_rule: str = "harm_weighted_frequency"
    harm_weight: float = 1.0
    capacity: int = 50
    explain_top: int = 5
    range_tolerance: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``riskmodel train`` needs besides the data and ``as_of``."""

    labels: LabelConfig = field(default_factory=LabelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    extra_numeric: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"default": dict(DEFAULT_PARAMS), "reoffence": {}, "harm": {}, "frequency": {}}
    )
    n_boot: int = 200
    fairness_thresholds: dict[str, float] = field(default_factory=lambda: {"reoffence": 0.75, "harm": 0.30})
    gates: GateConfig = field(default_factory=GateConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    seed: int = 0

    def params_for(self, target: str) -> dict[str, Any]:
        """LightGBM parameters of one target (defaults, then its overrides)."""
        return {**self.params.get("default", {}), **self.params.get(target, {})}

    def with_labels(self, **changes: int | None) -> "TrainConfig":
        """A copy with some label settings replaced (``None`` keeps the current value)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, labels=replace(self.labels, **changes)) if changes else self


def _tuple_bands(value) -> tuple[Band, ...]:
    return tuple((float(edge), str(name)) for edge, name in value)


def _build(cls, data: dict[str, Any], path: str):
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return data


def load_config(path: Path | None = None) -> TrainConfig:
    """Load a YAML configuration over the defaults (the defaults alone without a path).

    Raises
    ------
    ValueError
        On an unknown key, naming it and where it is.
    """
    data = yaml.safe_load(Path(path).read_text()) if path is not None else None
    return config_from_dict(data or {})


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a configuration from plain data over the defaults (see :func:`load_config`)."""
    _build(TrainConfig, data, "config")
    base = TrainConfig()
    kwargs: dict[str, Any] = {}
    if "labels" in data:
        labels = _build(LabelConfig, dict(data["labels"]), "labels")
        if "harm_groups" in labels:
            labels["harm_groups"] = tuple(labels["harm_groups"])
        kwargs["labels"] = replace(base.labels, **labels)
    if "split" in data:
        split = _build(SplitConfig, dict(data["split"]), "split")
        if split.get("test_from") is not None and not isinstance(split["test_from"], date):
            split["test_from"] = date.fromisoformat(str(split["test_from"]))
        kwargs["split"] = replace(base.split, **split)
    if "gates" in data:
        gates = _build(GateConfig, dict(data["gates"]), "gates")
        if "calibration_slope" in gates:
            gates["calibration_slope"] = tuple(gates["calibration_slope"])
        kwargs["gates"] = replace(base.gates, **gates)
    if "scoring" in data:
        scoring = _build(ScoringConfig, dict(data["scoring"]), "scoring")
        for key in ("reoffence_bands", "harm_bands"):
            if key in scoring:
                scoring[key] = _tuple_bands(scoring[key])
        kwargs["scoring"] = replace(base.scoring, **scoring)
    if "params" in data:
        params = {k: dict(v) for k, v in base.params.items()}
        for target, values in (data["params"] or {}).items():
            params.setdefault(target, {}).update(values or {})
        kwargs["params"] = params
    for key in ("extra_numeric", "extra_categorical"):
        if key in data:
            kwargs[key] = tuple(data[key] or ())
    for key in ("n_boot", "seed"):
        if key in data:
            kwargs[key] = int(data[key])
    if "fairness_thresholds" in data:
        kwargs["fairness_thresholds"] = {**base.fairness_thresholds, **data["fairness_thresholds"]}
    return replace(base, **kwargs)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain (YAML/JSON-ready) form of a configuration."""
    return _plain(asdict(config))

