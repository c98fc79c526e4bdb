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

from riskmodel.data.labels import LabelConfig
from riskmodel.modelling.models import DEFAULT_PARAMS

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
    the candidate's test rows (see :func:`riskmodel.modelling.registry.promote`).
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
    """Everything ``riskmodel train`` needs besides the data and ``as_of``.

    ``reoffence_from_counts``: fit the reoffence model's trees to the *number* of
    reoffences (Poisson, like the frequency model, which then shares them) and recalibrate
    their log-rate to a probability on the calibration fold. A count says more about a
    person's rate than "any or none" does, so the ranking is better; the probability is
    still calibrated on the binary outcome.
    """

    labels: LabelConfig = field(default_factory=LabelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    extra_numeric: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    reoffence_from_counts: bool = True
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


def _tuple_bands(value, path: str) -> tuple[Band, ...]:
    try:
        bands = tuple((float(edge), str(name)) for edge, name in value)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: expected a list of [lower edge, name] pairs, got {value!r}") from None
    if not bands or bands[0][0] != 0.0 or any(b[0] <= a[0] for a, b in zip(bands, bands[1:])):
        raise ValueError(f"{path}: bands must start at 0 and rise, got {value!r}")
    return bands


def _mapping(value, path: str) -> dict[str, Any]:
    if value is None:  # an empty YAML section
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(value).__name__} {value!r}")
    return dict(value)


def _build(cls, data, path: str) -> dict[str, Any]:
    data = _mapping(data, path)
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
    return data


def _coerce(value, default, path: str):
    """``value`` as the type of the default (YAML gives ints for floats, lists for tuples)."""
    kind = type(default)
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is int:
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise TypeError
            return value
        if kind is tuple and all(isinstance(v, (int, float)) for v in default):
            out = tuple(float(v) for v in value)
            if len(out) != len(default):
                raise TypeError
            return out
    except (TypeError, ValueError):
        raise ValueError(f"{path}: expected {kind.__name__} like {default!r}, got {value!r}") from None
    return value


def _section(cls, base, data, path: str, special=None):
    """Replace the given fields of dataclass instance ``base``, each checked and coerced."""
    values = _build(cls, data, path)
    out = {}
    for key, value in values.items():
        if special and key in special:
            out[key] = special[key](value, f"{path}.{key}")
        else:
            out[key] = _coerce(value, getattr(base, key), f"{path}.{key}")
    return replace(base, **out)


def _date_or_none(value, path: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{path}: {value!r} is not an ISO 8601 date (YYYY-MM-DD) or null") from None


def _names(value, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{path}: expected a list of column names, got {value!r}")
    return tuple(value)


#: Model settings riskmodel sets itself: a configuration may not override them.
_FIXED_PARAMS = frozenset({"objective", "monotone_constraints", "random_state", "seed", "verbose", "verbosity"})


def _known_lightgbm_params() -> frozenset[str] | None:
    import lightgbm as lgb

    names = set(lgb.LGBMClassifier().get_params()) | {"early_stopping_rounds", "monotone_constraints_method"}
    try:  # LightGBM's own parameter names and aliases (a private table: skip the check without it)
        from lightgbm.basic import _ConfigAliases

        for main, aliases in _ConfigAliases._get_all_param_aliases().items():
            names.add(main)
            names.update(aliases)
    except Exception:  # pragma: no cover - a LightGBM without the table
        return None
    return frozenset(names)


def _params(base: dict[str, dict[str, Any]], data, path: str) -> dict[str, dict[str, Any]]:
    from riskmodel.modelling.models import TARGETS

    params = {k: dict(v) for k, v in base.items()}
    sections = _mapping(data, path)
    unknown = set(sections) - {"default", *TARGETS}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; known: {sorted({'default', *TARGETS})}")
    known = _known_lightgbm_params()
    for target, values in sections.items():
        values = _mapping(values, f"{path}.{target}")
        fixed = sorted(set(values) & _FIXED_PARAMS)
        if fixed:
            raise ValueError(f"{path}.{target}: {fixed} are set by riskmodel and cannot be configured")
        if known is not None:
            unknown = sorted(set(values) - known)
            if unknown:
                raise ValueError(f"{path}.{target}: unknown LightGBM parameter(s) {unknown}")
        params.setdefault(target, {}).update(values)
    return params


def load_config(path: Path | None = None) -> TrainConfig:
    """Load a YAML configuration over the defaults (the defaults alone without a path).

    Raises
    ------
    ValueError
        On an unknown key or a value of the wrong kind, naming it and where it is.
    """
    data = yaml.safe_load(Path(path).read_text()) if path is not None else None
    try:
        return config_from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") if path is not None else exc


def config_from_dict(data: dict[str, Any] | None) -> TrainConfig:
    """Build a configuration from plain data over the defaults (see :func:`load_config`).

    Every key is checked: an unknown one (a misspelt gate would otherwise be silently
    ignored and the default applied) or a value of the wrong kind raises
    :class:`ValueError` naming it.
    """
    data = _build(TrainConfig, data, "config")
    base = TrainConfig()
    kwargs: dict[str, Any] = {}
    if "labels" in data:
        labels = _build(LabelConfig, data["labels"], "labels")
        changes = {}
        for key, value in labels.items():
            if key == "harm_groups":
                changes[key] = _names(value, "labels.harm_groups")
            else:
                changes[key] = _coerce(value, getattr(base.labels, key), f"labels.{key}")
        kwargs["labels"] = replace(base.labels, **changes)
    if "split" in data:
        kwargs["split"] = _section(SplitConfig, base.split, data["split"], "split", {"test_from": _date_or_none})
        for key in ("calibration_share", "validation_share"):
            share = getattr(kwargs["split"], key)
            if not 0.0 <= share < 1.0:
                raise ValueError(f"split.{key}: must lie in [0, 1), got {share}")
    if "gates" in data:
        kwargs["gates"] = _section(GateConfig, base.gates, data["gates"], "gates")
    if "scoring" in data:
        bands = {"reoffence_bands": _tuple_bands, "harm_bands": _tuple_bands}
        kwargs["scoring"] = _section(ScoringConfig, base.scoring, data["scoring"], "scoring", bands)
    if "params" in data:
        kwargs["params"] = _params(base.params, data["params"], "params")
    for key in ("extra_numeric", "extra_categorical"):
        if key in data:
            kwargs[key] = _names(data[key], key)
    for key in ("n_boot", "seed", "reoffence_from_counts"):
        if key in data:
            kwargs[key] = _coerce(data[key], getattr(base, key), key)
    if "fairness_thresholds" in data:
        thresholds = _mapping(data["fairness_thresholds"], "fairness_thresholds")
        unknown = set(thresholds) - set(base.fairness_thresholds)
        if unknown:
            raise ValueError(f"fairness_thresholds: unknown target(s) {sorted(unknown)}; known: {sorted(base.fairness_thresholds)}")
        kwargs["fairness_thresholds"] = {
            **base.fairness_thresholds,
            **{k: _coerce(v, 0.5, f"fairness_thresholds.{k}") for k, v in thresholds.items()},
        }
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

