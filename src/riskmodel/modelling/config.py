"""Training, evaluation, gate and scoring configuration: typed, checked, written down.

The configuration is a tree of pydantic models that refuse what they do not know
(``extra="forbid"``): a misspelt gate would otherwise be silently ignored and the default
applied. An unknown key or a value of the wrong type is refused with its path, e.g.
``gates.min_auc: Input should be a valid number``.

The defaults here are the ones written out in ``training/config.yaml``; a YAML file
overrides any part of them (a test keeps the two identical).
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from riskmodel._constants import RELEASE_COLUMNS
from riskmodel.data.contract import direct_identifier
from riskmodel.data.labels import LabelConfig

__all__ = [
    "DEFAULT_PARAMS",
    "SplitConfig",
    "GateConfig",
    "ScoringConfig",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "Band",
]

#: LightGBM settings. Trees stay small because ``pred_contrib`` (the panel's explanations)
#: costs time in proportion to trees x leaves; seven leaves and half the features per tree
#: did as well as larger trees on the synthetic and NIJ benchmarks
#: (``benchmarks/quality.py``). One thread: LightGBM's OpenMP threads spin-wait, so on a
#: shared two-core machine two threads were several times *slower* than one.
DEFAULT_PARAMS: dict[str, object] = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
    "early_stopping_rounds": 30,
    "n_jobs": 1,
}

#: Model settings riskmodel sets itself: a configuration may not override them.
_FIXED_PARAMS = frozenset({"objective", "monotone_constraints", "random_state", "seed", "verbose", "verbosity"})


def _not_a_bool(value: object) -> object:
    # pydantic reads true as 1; in a configuration it is a mistake
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


Int = Annotated[int, BeforeValidator(_not_a_bool)]
Float = Annotated[float, BeforeValidator(_not_a_bool)]
Band = tuple[float, str]


def _rising_bands(bands: tuple[Band, ...]) -> tuple[Band, ...]:
    if not bands or bands[0][0] != 0.0 or any(b[0] <= a[0] for a, b in zip(bands, bands[1:], strict=False)):
        raise ValueError(f"bands must start at 0 and rise, got {[list(b) for b in bands]}")
    return bands


Bands = Annotated[tuple[Band, ...], AfterValidator(_rising_bands)]


@functools.cache
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


def _lightgbm_params(values: dict[str, Any]) -> dict[str, Any]:
    fixed = sorted(set(values) & _FIXED_PARAMS)
    if fixed:
        raise ValueError(f"{fixed} are set by riskmodel and cannot be configured")
    known = _known_lightgbm_params()
    unknown = sorted(set(values) - known) if known is not None else []
    if unknown:
        raise ValueError(f"unknown LightGBM parameter(s) {unknown}")
    return values


LightGBMParams = Annotated[dict[str, Any], AfterValidator(_lightgbm_params)]


class _Params(TypedDict, total=False):
    """LightGBM settings: ``default`` for all three targets, then each target's own."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    default: LightGBMParams
    reoffence: LightGBMParams
    harm: LightGBMParams
    frequency: LightGBMParams


class _FairnessThresholds(TypedDict, total=False):
    """Probability at which the fairness audit counts a person as flagged, per target."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    reoffence: Float
    harm: Float


class _Section(BaseModel):
    """A part of the configuration: unknown keys refused, values fixed once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Section):
    """How the models are evaluated in time and how their calibration is cross-fitted.

    Evaluation is a rolling-origin (expanding-window) backtest: the releases from
    ``test_from`` onwards are cut into periods of ``evaluation_period`` (``quarter``,
    ``month``, ``half`` or ``year``); each period is scored by the whole procedure fitted
    on the releases whose outcome had matured by the period's first day. ``test_from``
    defaults to two years before the last release whose harm outcome is known. The
    deployed model is the same procedure refitted on every eligible release.

    Calibration is cross-fitted: the training people are dealt into
    ``calibration_folds`` folds; each fold's out-of-fold margin comes from trees fitted
    on the other folds (which also stop the boosting early), and the ``recalibration``
    map is fitted on those margins: ``isotonic`` (a monotone, piecewise-linear map through
    isotonic blocks, flat beyond the rates training saw), ``logistic`` (intercept and
    slope; for frequency a multiplicative correction) or ``auto``, chosen by the
    benchmark's calibration against the truth (``benchmarks/results/quality.md``):
    logistic for the two probabilities, isotonic for the expected count.
    """

    test_from: date | None = None
    evaluation_period: Literal["month", "quarter", "half", "year"] = "quarter"
    calibration_folds: Int = Field(default=5, ge=2, le=20)
    recalibration: Literal["auto", "isotonic", "logistic"] = "auto"
    seed: Int = 0


class GateConfig(_Section):
    """Written-down gates a candidate must pass to become champion.

    Calibration bounds are widened by ``uncertainty_z`` standard errors of the figure on
    the candidate's evaluation rows, but never past ``calibration_slope_limits`` (see
    :func:`riskmodel.modelling.gates.decide`).

    ``min_evaluation_rows`` and ``min_evaluation_events``: the least pooled evidence
    (scored releases, and releases with the outcome) a target's candidate is judged on;
    below it promotion needs ``--accept-small-evaluation``. ``max_auc``: an AUC above it
    is too good to be true (a leak) and refuses, naming the ``leak_features`` features with
    the largest gain. The baseline gate refuses a candidate whose ``baseline_confidence``
    paired bootstrap interval (``baseline_bootstrap`` draws) of its gain over the baseline
    (AUC; frequency: Poisson deviance) lies wholly below ``-baseline_margin``.

    A group's error rate is judged only with ``min_group_positives`` positives (false
    negative rate), ``min_group_negatives`` negatives (false positive rate) or
    ``min_group_selected`` selected (selection rates); frequency's observed/expected ratio
    with ``min_group_positives`` observed reoffences. At 50 the standard error of a rate
    of 0.3 is 0.065, that of a gap between two such groups 0.09, and the allowance
    (``uncertainty_z`` of them) 0.18: already nearly the 0.20 bound. With fewer, the gate
    could refuse nothing, so the check is "not computable" instead.
    """

    min_auc: Float = 0.60
    max_auc: Float = 0.90
    leak_features: Int = 5
    auc_tolerance: Float = 0.01
    brier_tolerance: Float = 0.005
    calibration_slope: tuple[Float, Float] = (0.8, 1.2)
    calibration_slope_limits: tuple[Float, Float] = (0.5, 2.0)
    max_abs_calibration_intercept: Float = 0.2
    max_ece: Float = 0.05
    max_frequency_calibration_error: Float = 0.10
    max_calibration_gap: Float = 0.15
    max_false_positive_rate_gap: Float = 0.20
    max_false_negative_rate_gap: Float = 0.20
    max_observed_to_expected_gap: Float = 0.30
    min_group_size: Int = 100
    min_group_positives: Int = 50
    min_group_negatives: Int = 50
    min_group_selected: Int = 50
    min_evaluation_rows: Int = 300
    min_evaluation_events: Int = 50
    baseline_confidence: Float = Field(default=0.95, gt=0.0, lt=1.0)
    baseline_margin: Float = 0.0
    baseline_bootstrap: Int = 200
    uncertainty_z: Float = 2.0


class ScoringConfig(_Section):
    """Bands, priority rule and panel capacity used when scoring."""

    reoffence_bands: Bands = ((0.0, "low"), (0.50, "medium"), (0.75, "high"), (0.90, "very high"))
    harm_bands: Bands = ((0.0, "low"), (0.30, "medium"), (0.60, "high"), (0.80, "very high"))
    priority_rule: str = "harm_weighted_frequency"
    harm_weight: Float = 1.0
    capacity: Int = 50
    explain_top: Int = 5
    range_tolerance: Float = 0.0


def _default_params() -> dict[str, dict[str, Any]]:
    return {"default": dict(DEFAULT_PARAMS), "reoffence": {}, "harm": {}, "frequency": {}}


def _default_thresholds() -> dict[str, float]:
    return {"reoffence": 0.75, "harm": 0.30}


class TrainConfig(_Section):
    """Everything ``riskmodel train`` needs besides the data and ``as_of``.

    ``params`` and ``fairness_thresholds`` are plain dictionaries; a configuration's
    entries are laid over the defaults (``params: {default: {num_leaves: 15}}`` changes
    one setting and keeps the others).

    ``reoffence_from_counts``: fit the reoffence model's trees to the *number* of
    reoffences (Poisson, like the frequency model, which then shares them) and recalibrate
    their log-rate to a probability on the calibration fold. A count says more about a
    person's rate than "any or none" does, so the ranking is better; the probability is
    still calibrated on the binary outcome.

    Examples
    --------
    >>> TrainConfig(gates={"min_auc": 0.7}).gates.min_auc
    0.7
    >>> TrainConfig(params={"harm": {"num_leaves": 15}}).params_for("harm")["num_leaves"]
    15
    """

    labels: LabelConfig = Field(default_factory=LabelConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    extra_numeric: tuple[str, ...] = ()
    extra_categorical: tuple[str, ...] = ()
    reoffence_from_counts: StrictBool = True
    params: _Params = Field(default_factory=_default_params)
    n_boot: Int = 200
    fairness_thresholds: _FairnessThresholds = Field(default_factory=_default_thresholds)
    gates: GateConfig = Field(default_factory=GateConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    seed: Int = 0

    @model_validator(mode="before")
    @classmethod
    def _empty_means_defaults(cls, data: Any) -> Any:
        # an empty YAML section (`gates:`) or list (`extra_numeric:`) reads as None
        if not isinstance(data, dict):
            return data
        empty = {**dict.fromkeys(_SECTIONS, {}), "extra_numeric": (), "extra_categorical": ()}
        return {k: empty[k] if v is None and k in empty else v for k, v in data.items()}

    @field_validator("extra_numeric", "extra_categorical")
    @classmethod
    def _extras_are_further_columns(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # ethnicity is audit only and a direct identifier is never read: neither can become a feature
        for name in names:
            if name == "ethnicity":
                raise ValueError("'ethnicity' is audit only: it is never a model feature")
            if name in RELEASE_COLUMNS:
                raise ValueError(f"{name!r} is a contract column: extra features are further columns")
            found = direct_identifier(name)
            if found is not None:
                raise ValueError(f"{name!r} is a direct identifier ({found[1]}): it is never read, let alone learned")
        if len(set(names)) != len(names):
            raise ValueError(f"a feature is named twice: {sorted({n for n in names if names.count(n) > 1})}")
        return names

    @field_validator("params")
    @classmethod
    def _params_over_defaults(cls, params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        merged = _default_params()
        for target, values in params.items():
            merged[target].update(values)
        return merged

    @field_validator("fairness_thresholds")
    @classmethod
    def _thresholds_over_defaults(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return {**_default_thresholds(), **thresholds}

    def params_for(self, target: str) -> dict[str, Any]:
        """LightGBM parameters of one target (defaults, then its overrides)."""
        return {**self.params.get("default", {}), **self.params.get(target, {})}

    def with_labels(self, **changes: int | None) -> TrainConfig:
        """A copy with some label settings replaced (``None`` keeps the current value).

        Raises
        ------
        ValueError
            When a changed setting is out of range (e.g. a window of 0 days).
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        try:
            labels = LabelConfig.model_validate({**self.labels.model_dump(), **changes})
        except ValidationError as error:
            raise ValueError(_message(error, within=("labels",))) from None
        return self.model_copy(update={"labels": labels})


#: Settings of :class:`TrainConfig` that hold a mapping (an empty one means the defaults).
_SECTIONS = frozenset({"labels", "split", "params", "fairness_thresholds", "gates", "scoring"})


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Setting names allowed where ``loc`` points (for the message about an unknown one)."""
    kind: Any = TrainConfig
    for part in loc[:-1]:
        fields = getattr(kind, "model_fields", None) or getattr(kind, "__annotations__", {})
        field = fields.get(part)
        kind = getattr(field, "annotation", field)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return sorted(kind.model_fields)
    return sorted(getattr(kind, "__annotations__", {}))


def _message(error: ValidationError, *, within: tuple[str, ...] = ()) -> str:
    """One line per mistake, each led by the setting's path (``gates.min_auc: ...``).

    ``within``: the path of the section that was validated on its own.
    """
    lines = []
    for problem in error.errors(include_url=False):
        loc = (*within, *problem["loc"])
        path = ".".join(str(part) for part in loc) or "config"
        if problem["type"] == "extra_forbidden":
            known = _known_keys(loc)
            text = "unknown setting" + (f"; known: {', '.join(known)}" if known else "")
        elif problem["type"] == "value_error":
            text = str(problem["ctx"]["error"])
        else:
            text = f"{problem['msg']} (got {problem['input']!r})"
        lines.append(f"{path}: {text}")
    return "; ".join(lines)


def config_from_dict(data: dict[str, Any] | None) -> TrainConfig:
    """Build a configuration from plain data over the defaults (see :func:`load_config`).

    Raises
    ------
    ValueError
        On an unknown key or a value of the wrong kind, naming its path
        (``gates.min_acu: unknown setting; known: ...``).

    Examples
    --------
    >>> config_from_dict({"scoring": {"capacity": 20}}).scoring.capacity
    20
    >>> config_from_dict({"gates": {"min_auc": "high"}})
    Traceback (most recent call last):
    ...
    ValueError: gates.min_auc: Input should be a valid number, unable to parse string as a number (got 'high')
    """
    try:
        return TrainConfig.model_validate({} if data is None else data)
    except ValidationError as error:
        raise ValueError(_message(error)) from None


def load_config(path: Path | None = None) -> TrainConfig:
    """Load a YAML configuration over the defaults (the defaults alone without a path).

    Raises
    ------
    ValueError
        On an unknown key or a value of the wrong kind, naming the file and the key.
    """
    data = yaml.safe_load(Path(path).read_text()) if path is not None else None
    try:
        return config_from_dict(data)
    except ValueError as exc:
        if path is None:
            raise
        raise ValueError(f"{path}: {exc}") from None


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain (YAML/JSON-ready) form of a configuration: lists for tuples, ISO dates."""
    return config.model_dump(mode="json")
