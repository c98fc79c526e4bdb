"""MLflow tracking and registry: log a training run, register candidates, promote, load.

Models are logged with :func:`mlflow.sklearn.log_model` using **cloudpickle**
serialisation, chosen deliberately: the artifact holds LightGBM and riskmodel's own
estimator types, which skops would refuse unless each were trusted by name. The registry
is the partnership's own store under ``RISKMODEL_HOME``, written only by its own
training runs, so unpickling its artifacts trusts nothing outside it.

Registered names are ``riskmodel-reoffence``, ``riskmodel-harm`` and
``riskmodel-frequency``. Every new version gets the alias ``candidate``;
:func:`promote` moves ``champion`` only when every gate passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskmodel.evaluation.drift import feature_profile
from riskmodel.modelling.champions import Champions, ModelInfo
from riskmodel.modelling.config import GateConfig, TrainConfig, config_from_dict, config_to_dict
from riskmodel.modelling.gates import Evidence, GateResult, decide, no_candidate
from riskmodel.modelling.models import BINARY_TARGETS, TARGETS, CalibratedModel
from riskmodel.settings import Settings

if TYPE_CHECKING:  # annotations only: MLflow is imported where it is used
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from riskmodel.modelling.train import TargetResult, TrainingResult
    from riskmodel.records.audit import AuditStore

__all__ = [
    "EXPERIMENT",
    "model_name",
    "connect",
    "log_training",
    "promote",
    "PromotionDecision",
    "load_champions",
    "compare_runs",
    "fairness_tables",
    "CANDIDATE",
    "CHAMPION",
    "config_hash",
    "trained_champions",
    "ChampionState",
    "champions_state",
    "set_champion",
    "CLOUDPICKLE_NOTE",
]

EXPERIMENT = "riskmodel"
CANDIDATE = "candidate"
CHAMPION = "champion"

logger = logging.getLogger(__name__)


def model_name(target: str) -> str:
    """Registered model name of a target."""
    return f"riskmodel-{target}"


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the settings' store and return a client.

    The experiment's artifacts go under ``RISKMODEL_HOME/mlartifacts`` (an absolute
    location: a relative default would follow the working directory).
    """
    import mlflow
    from mlflow import MlflowClient

    # Artifact downloads (model cards, profiles) are small: no progress bars on stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        client.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    if not os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run` the project chose the run
        mlflow.set_experiment(EXPERIMENT)
    return client


def _requirements() -> list[str]:
    # Given explicitly: MLflow's inference would load the model in a subprocess.
    names = ["scikit-learn", "lightgbm", "pandas", "numpy", "cloudpickle"]
    return [f"{name}=={package_version(name)}" for name in names]


class _CloudpickleChosen(logging.Filter):
    """Drops MLflow's warning against (cloud)pickle: the project chose it (module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pickle" not in record.getMessage()


_explained_cloudpickle = False

#: Why models are saved with cloudpickle (said once per training process, instead of MLflow's warning).
CLOUDPICKLE_NOTE = (
    "models are saved with cloudpickle deliberately (they hold LightGBM and riskmodel's own estimators, which"
    " skops would refuse; the registry is the partnership's own store): MLflow's warning against pickle is silenced"
)


@contextmanager
def _cloudpickle_chosen() -> Iterator[None]:
    """Silence MLflow's cloudpickle warning around ``log_model``; say why once per process."""
    global _explained_cloudpickle
    if not _explained_cloudpickle:
        logger.info(CLOUDPICKLE_NOTE)
        _explained_cloudpickle = True
    sklearn_logger, chosen = logging.getLogger("mlflow.sklearn"), _CloudpickleChosen()
    sklearn_logger.addFilter(chosen)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle.*")
            yield
    finally:
        sklearn_logger.removeFilter(chosen)


def config_hash(config: TrainConfig, *, as_of: date, test_from: date | None = None) -> str:
    """SHA-256 of what a training run was asked to do: its configuration, ``as_of`` and ``test_from``.

    With the data fingerprint it identifies a training run's inputs: two runs with the
    same of both train the same models (see :func:`trained_champions`).
    """
    asked = {"config": config_to_dict(config), "as_of": as_of.isoformat(), "test_from": str(test_from or "")}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def trained_champions(settings: Settings, *, fingerprint: str, config_digest: str) -> dict[str, str] | None:
    """The champions' versions when every target's champion was trained on these inputs, else None.

    Parameters
    ----------
    settings : Settings
    fingerprint : str
        :func:`riskmodel.modelling.train.data_fingerprint` of the validated tables.
    config_digest : str
        :func:`config_hash` of the run's configuration and dates.
    """
    client = connect(settings)
    versions: dict[str, str] = {}
    for target in TARGETS:
        champion = _version(client, target, CHAMPION)
        tags = champion.tags if champion is not None else {}
        if tags.get("data_fingerprint") != fingerprint or tags.get("config_hash") != config_digest:
            return None
        versions[target] = str(champion.version)
    return versions


def _flat_metrics(result: TrainingResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for target, tr in result.targets.items():
        for scorer, metrics in tr.metrics.items():
            for key, value in metrics.items():
                if value is not None and np.isfinite(value):
                    out[f"{target}.{scorer}.{key}"] = float(value)
        for key, value in tr.gaps.items():
            if value is not None and np.isfinite(value):
                out[f"{target}.fairness.{key}"] = float(value)
    return out


def _write_target_artifacts(folder: Path, tr: TargetResult, result: TrainingResult) -> None:
    from riskmodel.evaluation.metrics import capture_curve
    from riskmodel.evaluation.plots import calibration_figure, capture_figure, figure_to_png_bytes, roc_figure
    from riskmodel.modelling.modelcard import model_card

    folder.mkdir(parents=True, exist_ok=True)
    y, scores = tr.test_outcome, tr.test_scores
    if tr.target in BINARY_TARGETS:
        (folder / "roc.png").write_bytes(
            figure_to_png_bytes(roc_figure(y, scores, title=f"How well the {tr.target} score ranks people"))
        )
        (folder / "calibration.png").write_bytes(
            figure_to_png_bytes(calibration_figure(y, scores, title=f"Predicted and observed {tr.target} rates"))
        )
    (folder / "capture.png").write_bytes(
        figure_to_png_bytes(
            capture_figure(tr.test_counts, scores, title="Share of reoffences held by the top-ranked people")
        )
    )
    for grouping, table in tr.fairness.items():
        table.to_csv(folder / f"fairness_{grouping}.csv")
    (folder / "metrics.json").write_text(json.dumps(tr.metrics, indent=2, default=float))
    (folder / "model_card.md").write_text(model_card(tr, result))
    validation = {
        "calibration_bins": _calibration_bins(y, scores["model"]) if tr.target in BINARY_TARGETS else [],
        "capture": capture_curve(tr.test_counts, scores["model"]).to_dict(orient="list"),
        "metrics": tr.metrics["model"],
    }
    (folder / "validation.json").write_text(json.dumps(validation, default=float))
    test = tr.test_rows.copy()
    test["__outcome"] = tr.test_outcome
    test["__count"] = tr.test_counts
    test.to_parquet(folder / "test_rows.parquet", index=False)
    (folder / "feature_profile.json").write_text(json.dumps(tr.profile))


def _calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            out.append({"predicted": float(p[chunk].mean()), "observed": float(y[chunk].mean()), "n": int(len(chunk))})
    return out


def log_training(
    result: TrainingResult,
    settings: Settings,
    *,
    training_rows: pd.DataFrame,
    run_name: str | None = None,
    config_digest: str = "",
) -> dict[str, str]:
    """Log a :class:`~riskmodel.modelling.train.TrainingResult` to MLflow and register candidates.

    Parameters
    ----------
    result : TrainingResult
    settings : Settings
    training_rows : DataFrame
        The training-period releases (for the drift profile and the input example).
    run_name : str, optional
    config_digest : str, optional
        :func:`config_hash` of the run, tagged on each version (with ``data_fingerprint``)
        so that a rerun on the same inputs can be recognised.

    Returns
    -------
    dict
        Target → registered version number (each now aliased ``candidate``).
    """
    import mlflow

    client = connect(settings)
    versions: dict[str, str] = {}
    config_dict = config_to_dict(result.config)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(
            {
                "as_of": result.as_of.isoformat(),
                "data_fingerprint": result.fingerprint,
                **{f"split.{k}": v for k, v in result.split.items()},
                **{f"labels.{k}": v for k, v in config_dict["labels"].items()},
                **{f"params.{t}.{k}": v for t in result.targets for k, v in result.config.params_for(t).items()},
            }
        )
        mlflow.log_metrics(_flat_metrics(result))
        mlflow.set_tags({"data_fingerprint": result.fingerprint, "riskmodel_version": package_version("riskmodel")})
        mlflow.log_dict(config_dict, "config.json")
        example = training_rows.head(5).drop(columns=["ethnicity"], errors="ignore")
        for target, tr in result.targets.items():
            names = list(tr.model.feature_names_)
            mlflow.log_dict(
                {
                    "features": names,
                    "monotone_increasing": [
                        n for n, c in zip(names, tr.model.features.monotone_constraints(), strict=True) if c
                    ],
                },
                f"{target}/features.json",
            )
            Xt = tr.model.features.transform(training_rows)
            tr.profile = feature_profile(Xt, names)
            with tempfile.TemporaryDirectory() as tmp:
                _write_target_artifacts(Path(tmp) / target, tr, result)
                mlflow.log_artifacts(str(Path(tmp) / target), artifact_path=target)
            version = _register_model(tr, example)
            tags = {"data_fingerprint": result.fingerprint, "config_hash": config_digest, "run_id": run.info.run_id}
            client.set_registered_model_alias(model_name(target), CANDIDATE, version)
            for key, value in tags.items():
                if value:
                    client.set_model_version_tag(model_name(target), version, key, value)
            client.update_model_version(model_name(target), version, description=_card_summary(tr))
            versions[target] = version
    return versions


def _register_model(tr: TargetResult, example: pd.DataFrame) -> str:
    """Log a target's model (cloudpickle, chosen: see the module docstring) and register it; its version."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    with _cloudpickle_chosen():
        info = mlflow.sklearn.log_model(
            tr.model,
            name=f"{tr.target}-model",
            serialization_format="cloudpickle",
            signature=infer_signature(example, tr.model.predict(example)),
            input_example=example,
            pip_requirements=_requirements(),
            pyfunc_predict_fn="predict",
            registered_model_name=model_name(tr.target),
            await_registration_for=60,
        )
    return str(info.registered_model_version)


def _card_summary(tr: TargetResult) -> str:
    m = tr.metrics["model"]
    key = "auc" if tr.target in BINARY_TARGETS else "capture_at_10"
    return f"riskmodel {tr.target} model; test {key} {m.get(key, float('nan')):.3f} on {int(m['n'])} releases."


# --------------------------------------------------------------------------- promotion


@dataclass
class PromotionDecision:
    """What :func:`promote` decided: every gate's result and the versions that moved."""

    results: list[GateResult] = field(default_factory=list)
    promoted: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no gate failed (a gate that could not judge does not refuse)."""
        return all(result.passed is not False for result in self.results)

    @property
    def checks(self) -> list[str]:
        """Every result as a line: ``PASS``/``FAIL``/``SKIP`` and its message."""
        return [result.line for result in self.results]

    @property
    def failures(self) -> list[str]:
        """The messages of the failed gates."""
        return [result.message for result in self.results if result.passed is False]


def _version(client: MlflowClient, target: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name(target), alias)
    except MlflowException:
        return None


def _load_test_rows(run_id: str, target: str) -> pd.DataFrame:
    import mlflow

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{target}/test_rows.parquet")
    return pd.read_parquet(local)


def _load_model(version: ModelVersion) -> CalibratedModel:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{version.name}/{version.version}")


def _evidence(target: str, candidate: ModelVersion, champion: ModelVersion | None) -> tuple[Evidence, Evidence | None]:
    """What the gates need of a target's candidate and champion, read from MLflow.

    The champion's predictions (and the candidate's, and the test outcome) are read only
    when there is a champion other than the candidate: the relative gates use them.
    """
    import mlflow

    if champion is not None and champion.version == candidate.version:  # nothing to judge
        return Evidence(target, str(candidate.version)), Evidence(target, str(champion.version))
    logged = mlflow.get_run(candidate.run_id).data.metrics
    metrics = {key[len(target) + 1 :]: value for key, value in logged.items() if key.startswith(f"{target}.")}
    if champion is None:
        return Evidence(target, str(candidate.version), metrics), None
    rows = _load_test_rows(candidate.run_id, target)
    y, counts = rows.pop("__outcome").to_numpy(), rows.pop("__count").to_numpy()
    outcome = y if target in BINARY_TARGETS else counts
    new = Evidence(
        target, str(candidate.version), metrics, outcome=outcome, predictions=_load_model(candidate).predict(rows)
    )
    old = Evidence(target, str(champion.version), predictions=_load_model(champion).predict(rows))
    return new, old


def promote(
    settings: Settings,
    *,
    targets: tuple[str, ...] = TARGETS,
    gates: GateConfig | None = None,
    operator: str = "",
) -> PromotionDecision:
    """Move ``champion`` to each target's ``candidate`` if every gate passes.

    All targets are decided together: when any gate fails nothing changes. The rules are
    :func:`riskmodel.modelling.gates.decide`'s; this function reads what they judge from
    MLflow (the candidate's test figures, and both versions' predictions on the candidate's
    test rows), moves the aliases, and logs every result. Each promoted version is tagged
    with who (``operator``), when and its gates' summary (see :func:`champions_state`).
    """
    gates = gates or GateConfig()
    client = connect(settings)
    decision = PromotionDecision()
    chosen: dict[str, ModelVersion] = {}
    for target in targets:
        candidate = _version(client, target, CANDIDATE)
        if candidate is None:
            decision.results.append(no_candidate(target))
            continue
        champion = _version(client, target, CHAMPION)
        if champion is None or champion.version != candidate.version:
            chosen[target] = candidate
        decision.results += decide(*_evidence(target, candidate, champion), gates)
    for result in decision.results:
        logger.info("promotion gate %s", result.line)
    if decision.passed:
        for target, candidate in chosen.items():
            client.set_registered_model_alias(model_name(target), CHAMPION, candidate.version)
            summary = _gates_summary([r for r in decision.results if r.target == target])
            _tag_champion(client, target, str(candidate.version), operator, "promoted: every gate passed", summary)
            decision.promoted[target] = candidate.version
    return decision


# --------------------------------------------------------------------------- champions by hand

#: Model-version tags that say how a version became champion.
_CHAMPION_TAGS = ("set_at", "set_by", "reason", "forced", "gates")


def _gates_summary(results: list[GateResult]) -> str:
    """``"9 passed, 1 failed, 2 could not judge"`` (no results: ``"not checked"``)."""
    if not results:
        return "not checked"
    passed = sum(r.passed is True for r in results)
    failed = sum(r.passed is False for r in results)
    unjudged = sum(r.passed is None for r in results)
    return f"{passed} passed, {failed} failed, {unjudged} could not judge"


def _tag_champion(
    client: MlflowClient, target: str, version: str, operator: str, reason: str, gates: str, *, forced: bool = False
) -> dict[str, str]:
    tags = {
        "set_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "set_by": operator or "unknown",
        "reason": reason,
        "forced": "true" if forced else "false",
        "gates": gates,
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name(target), version, f"champion.{key}", value)
    return tags


@dataclass(frozen=True)
class ChampionState:
    """A target's champion and how it became one (from its model-version tags).

    ``set_at``, ``set_by``, ``reason``, ``forced`` and ``gates`` are empty for a version
    made champion before these were recorded; ``version`` is empty when there is no
    champion.
    """

    target: str
    version: str
    set_at: str = ""
    set_by: str = ""
    reason: str = ""
    forced: bool = False
    gates: str = ""


def champions_state(settings: Settings) -> list[ChampionState]:
    """Every target's champion version, when it was set, by whom, why and its gates' summary."""
    client = connect(settings)
    out = []
    for target in TARGETS:
        version = _version(client, target, CHAMPION)
        if version is None:
            out.append(ChampionState(target, ""))
            continue
        tags = {key: version.tags.get(f"champion.{key}", "") for key in _CHAMPION_TAGS}
        forced = tags.pop("forced") == "true"
        out.append(ChampionState(target, str(version.version), forced=forced, **tags))
    return out


def set_champion(
    settings: Settings,
    target: str,
    version: str,
    *,
    reason: str,
    operator: str,
    force: bool = False,
    gates: GateConfig | None = None,
    store: AuditStore | None = None,
) -> PromotionDecision:
    """Make ``version`` the champion of ``target`` (a rollback, or a chosen version).

    The version is judged by :func:`riskmodel.modelling.gates.decide` on its own test
    figures: the absolute and fairness gates (the relative gates compare a new candidate
    with the champion it would replace, which a rollback deliberately does not improve
    on). If a gate fails nothing changes, unless ``force``, which is recorded. The change
    is written to the audit trail (``store``, kind ``champion_set``) before the alias
    moves, then tagged on the version (``champion.set_by``, ``champion.set_at``,
    ``champion.reason``, ``champion.forced``, ``champion.gates``). A running service picks
    it up on ``/reload``.

    Raises
    ------
    LookupError
        When the target or version is not registered.
    riskmodel.records.audit.AuditUnavailable
        When the change cannot be recorded (nothing moved).
    """
    from mlflow.exceptions import MlflowException

    if target not in TARGETS:
        raise LookupError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    client = connect(settings)
    try:
        chosen = client.get_model_version(model_name(target), str(version))
    except MlflowException:
        raise LookupError(f"{model_name(target)} has no version {version!r}") from None
    decision = PromotionDecision(results=decide(*_evidence(target, chosen, None), gates or GateConfig()))
    if not decision.passed and not force:
        return decision
    previous = _version(client, target, CHAMPION)
    summary = _gates_summary(decision.results)
    if store is not None:
        details = {
            "target": target,
            "version": str(chosen.version),
            "previous": str(previous.version) if previous is not None else None,
            "reason": reason,
            "forced": bool(force),
            "gates": summary,
            "failures": decision.failures,
        }
        store.record_event("champion_set", actor=operator or "unknown", details=details)
    client.set_registered_model_alias(model_name(target), CHAMPION, str(chosen.version))
    _tag_champion(client, target, str(chosen.version), operator, reason, summary, forced=force)
    logger.info("champion of %s set to v%s by %s (%s): %s", target, chosen.version, operator, summary, reason)
    decision.promoted[target] = str(chosen.version)
    return decision


# --------------------------------------------------------------------------- loading


def load_champions(settings: Settings, *, alias: str = CHAMPION, versions: dict[str, str] | None = None) -> Champions:
    """Load the aliased version of every target (for serving and batch scoring).

    ``versions`` (target -> version number) loads exactly those versions instead: what
    the service's other workers do after a reload (:mod:`riskmodel.service.workers`).

    Raises
    ------
    LookupError
        When a target has no version with the alias (or the version asked for).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = connect(settings)
    models, info = {}, {}
    config: TrainConfig | None = None
    for target in TARGETS:
        if versions is not None:
            try:
                version = client.get_model_version(model_name(target), str(versions[target]))
            except (KeyError, MlflowException) as exc:
                raise LookupError(f"{model_name(target)} version {versions.get(target)!r} not found: {exc}") from None
        else:
            version = _version(client, target, alias)
        if version is None:
            raise LookupError(
                f"{model_name(target)} has no '{alias}' version: run `riskmodel train` then `riskmodel promote`"
            )
        models[target] = _load_model(version)
        run = mlflow.get_run(version.run_id)
        root = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=target))
        info[target] = ModelInfo(
            target=target,
            name=version.name,
            version=str(version.version),
            run_id=version.run_id,
            fingerprint=run.data.tags.get("data_fingerprint", ""),
            metrics={k[len(target) + 1 :]: v for k, v in run.data.metrics.items() if k.startswith(f"{target}.")},
            model_card=(root / "model_card.md").read_text(),
            validation=json.loads((root / "validation.json").read_text()),
            profile=json.loads((root / "feature_profile.json").read_text()),
        )
        if target == "reoffence":
            config = config_from_dict(mlflow.artifacts.load_dict(f"runs:/{version.run_id}/config.json"))
    assert config is not None
    return Champions(models=models, info=info, scoring=config.scoring, config=config)


# --------------------------------------------------------------------------- reviewing

#: Figures :func:`compare_runs` shows per target by default.
COMPARE_FIGURES: tuple[str, ...] = ("auc", "brier", "calibration_slope", "ece", "capture_at_10", "calibration_ratio")


def compare_runs(
    settings: Settings,
    *,
    targets: tuple[str, ...] = TARGETS,
    figures: tuple[str, ...] = COMPARE_FIGURES,
    scorer: str = "model",
    max_runs: int = 50,
) -> pd.DataFrame:
    """Training runs side by side, newest first: test figures, versions and aliases.

    Parameters
    ----------
    settings : Settings
    targets : tuple of str
        Targets whose figures to show.
    figures : tuple of str
        Figure names as logged (``<target>.<scorer>.<figure>``); a figure a target does
        not have (AUC for frequency) is left out.
    scorer : str, default "model"
        ``model``, ``baseline``, ``ogrs3`` or ``oracle``.
    max_runs : int, default 50

    Returns
    -------
    pandas.DataFrame
        Indexed by ``run_id``: ``start_time``, ``run_name``, ``as_of``, ``test_from``,
        ``data_fingerprint`` (first 12 characters), then ``<target>.<figure>``,
        ``<target>.version`` and ``<target>.aliases`` (e.g. ``"candidate, champion"``).
    """
    import mlflow

    client = connect(settings)
    runs = mlflow.search_runs(
        experiment_names=[EXPERIMENT], order_by=["attributes.start_time DESC"], max_results=max_runs
    )
    versions: dict[tuple[str, str], Any] = {}
    for target in targets:
        for found in client.search_model_versions(f"name='{model_name(target)}'"):
            # search results carry no aliases: read the version itself
            versions[(target, found.run_id)] = client.get_model_version(found.name, found.version)
    rows = []
    for _, run in runs.iterrows():
        row: dict[str, Any] = {
            "run_id": run["run_id"],
            "start_time": run["start_time"],
            "run_name": run.get("tags.mlflow.runName"),
            "as_of": run.get("params.as_of"),
            "test_from": run.get("params.split.test_from"),
            "data_fingerprint": str(run.get("tags.data_fingerprint") or "")[:12],
        }
        for target in targets:
            for figure in figures:
                column = f"metrics.{target}.{scorer}.{figure}"
                if column in runs.columns and not (
                    target == "frequency" and figure in ("auc", "brier", "ece", "calibration_slope")
                ):
                    row[f"{target}.{figure}"] = run[column]
            version = versions.get((target, run["run_id"]))
            row[f"{target}.version"] = version.version if version is not None else None
            row[f"{target}.aliases"] = ", ".join(sorted(version.aliases)) if version is not None else ""
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.set_index("run_id") if len(table) else table


def fairness_tables(settings: Settings, target: str, *, alias: str = CHAMPION) -> dict[str, pd.DataFrame]:
    """The fairness audit tables (by ethnicity, by age band) of a target's aliased version.

    Raises
    ------
    LookupError
        When the target has no version with the alias.
    """
    import mlflow

    client = connect(settings)
    version = _version(client, target, alias)
    if version is None:
        raise LookupError(
            f"{model_name(target)} has no '{alias}' version: run `riskmodel train` then `riskmodel promote`"
        )
    root = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=target))
    return {
        path.stem.removeprefix("fairness_"): pd.read_csv(path, index_col=0)
        for path in sorted(root.glob("fairness_*.csv"))
    }
