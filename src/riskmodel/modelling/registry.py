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

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
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
    result: TrainingResult, settings: Settings, *, training_rows: pd.DataFrame, run_name: str | None = None
) -> dict[str, str]:
    """Log a :class:`~riskmodel.modelling.train.TrainingResult` to MLflow and register candidates.

    Parameters
    ----------
    result : TrainingResult
    settings : Settings
    training_rows : DataFrame
        The training-period releases (for the drift profile and the input example).
    run_name : str, optional

    Returns
    -------
    dict
        Target → registered version number (each now aliased ``candidate``).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

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
            output = tr.model.predict(example)
            info = mlflow.sklearn.log_model(
                tr.model,
                name=f"{target}-model",
                serialization_format="cloudpickle",
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=_requirements(),
                pyfunc_predict_fn="predict",
                registered_model_name=model_name(target),
                await_registration_for=60,
            )
            version = str(info.registered_model_version)
            client.set_registered_model_alias(model_name(target), CANDIDATE, version)
            client.set_model_version_tag(model_name(target), version, "data_fingerprint", result.fingerprint)
            client.set_model_version_tag(model_name(target), version, "run_id", run.info.run_id)
            client.update_model_version(model_name(target), version, description=_card_summary(tr))
            versions[target] = version
    return versions


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
    settings: Settings, *, targets: tuple[str, ...] = TARGETS, gates: GateConfig | None = None
) -> PromotionDecision:
    """Move ``champion`` to each target's ``candidate`` if every gate passes.

    All targets are decided together: when any gate fails nothing changes. The rules are
    :func:`riskmodel.modelling.gates.decide`'s; this function reads what they judge from
    MLflow (the candidate's test figures, and both versions' predictions on the candidate's
    test rows), moves the aliases, and logs every result.
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
            decision.promoted[target] = candidate.version
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
