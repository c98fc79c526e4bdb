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
    "trained_versions",
    "default_run_name",
    "ChampionState",
    "champions_state",
    "set_champion",
    "acceptances_of",
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

    With a local store (SQLite, a folder) the experiment's artifacts go under
    ``RISKMODEL_HOME/mlartifacts`` (an absolute location: a relative default would follow
    the working directory). With a tracking server (``http://``, ``https://``) the
    experiment takes the server's own artifact store (``mlflow server`` proxies it), so
    that every home using the server can load the models.
    """
    import mlflow
    from mlflow import MlflowClient

    # Artifact downloads (model cards, profiles) are small: no progress bars on stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    with _store_lock(settings):  # the first use creates the store's tables: one process at a time
        client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            client.create_experiment(EXPERIMENT, artifact_location=_artifact_location(settings))
    if not os.environ.get("MLFLOW_RUN_ID"):  # inside `mlflow run` the project chose the run
        mlflow.set_experiment(EXPERIMENT)
    return client


@contextmanager
def _store_lock(settings: Settings) -> Iterator[None]:
    """An exclusive lock in the home around a SQLite store's first use.

    Two service workers started together both found an empty ``mlflow.db`` and both ran
    MLflow's migrations (``duplicate column name: step``); with the lock the second finds
    the tables made. A server-backed store needs none.
    """
    if not settings.tracking_uri.startswith("sqlite:") or not settings.home.is_dir():
        yield
        return
    import fcntl

    with open(settings.home / ".mlflow-store.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _artifact_location(settings: Settings) -> str | None:
    """The new experiment's artifact location: the home's folder, or None for a tracking server's store."""
    if settings.tracking_uri.lower().startswith(("http://", "https://")):
        return None
    return settings.artifact_root.as_uri()


def _requirements() -> list[str]:
    from riskmodel.modelling.packaging import requirements

    return requirements()


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


def trained_versions(settings: Settings, *, fingerprint: str, config_digest: str) -> dict[str, str] | None:
    """For every target, its newest version trained on these inputs; None when any target has none.

    A retrain on the same data and configuration would register a duplicate of these
    (``riskmodel train`` says so and registers nothing unless asked).

    Parameters
    ----------
    settings : Settings
    fingerprint : str
        :func:`riskmodel.modelling.train.data_fingerprint` of the validated tables.
    config_digest : str
        :func:`config_hash` of the run's configuration and dates.
    """
    from mlflow.exceptions import MlflowException

    client = connect(settings)
    versions: dict[str, str] = {}
    for target in TARGETS:
        try:
            found = client.search_model_versions(f"name='{model_name(target)}'")
        except MlflowException:
            return None
        same = [
            int(v.version)
            for v in found
            if v.tags.get("data_fingerprint") == fingerprint and v.tags.get("config_hash") == config_digest
        ]
        if not same:
            return None
        versions[target] = str(max(same))
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


def _log_evaluation(tr: TargetResult) -> None:
    """Log the rolling-origin evaluation's periods and the deployed refit of one target.

    Per period (MLflow metrics with ``step`` = the period's number, and
    ``<target>/periods.csv``): releases scored, events, AUC, Brier or calibration ratio and
    calibration-in-the-large; aggregates only, never a person's row. The refit: its first
    and last release, rows, events and tree count (``refit.<target>.*`` parameters and
    ``<target>/refit.json``), and a figure of the figures over the periods.
    """
    import mlflow

    periods = tr.periods
    numeric = [c for c in ("n", "events", "auc", "brier", "calibration_ratio", "calibration_in_the_large",
                           "observed_mean", "predicted_mean", "trees", "fit_rows") if c in periods]  # fmt: skip
    for step, row in enumerate(periods.to_dict(orient="records")):
        values = {f"{tr.target}.period.{c}": float(row[c]) for c in numeric if np.isfinite(float(row[c]))}
        mlflow.log_metrics(values, step=step)
    mlflow.log_text(periods.to_csv(index=False), f"{tr.target}/periods.csv")
    mlflow.log_dict({**tr.refit, "best_iterations": list(map(int, tr.best_iterations))}, f"{tr.target}/refit.json")
    mlflow.log_params({f"refit.{tr.target}.{k}": v for k, v in tr.refit.items()})
    mlflow.log_metrics({f"{tr.target}.refit.rows": float(tr.refit["rows"]),
                        f"{tr.target}.refit.events": float(tr.refit["events"])})  # fmt: skip
    if len(periods):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "periods.png"
            path.write_bytes(_periods_png(tr))
            mlflow.log_artifact(str(path), artifact_path=tr.target)


def _periods_png(tr: TargetResult) -> bytes:
    """AUC and calibration-in-the-large of each evaluation period (model and baseline AUC)."""
    from riskmodel.evaluation.plots import _figure, figure_to_png_bytes

    periods = tr.periods
    fig, ax = _figure(f"The {tr.target} evaluation, period by period")
    x = np.arange(len(periods))
    ax.plot(x, periods["auc"], marker="o", label="model AUC")
    if "baseline_auc" in periods:
        ax.plot(x, periods["baseline_auc"], marker=".", linestyle="--", label="baseline AUC")
    ax.set_xticks(x, [str(s) for s in periods["start"]], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("AUC (any outcome)")
    twin = ax.twinx()
    twin.bar(x, periods["calibration_in_the_large"], alpha=0.25, color="grey", label="observed − predicted mean")
    twin.set_ylabel("observed − predicted mean")
    ax.legend(loc="lower left", fontsize=7)
    return figure_to_png_bytes(fig)


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
    # Aggregates only: person-level evaluation rows stay in the home (_write_evaluation).
    (folder / "feature_profile.json").write_text(json.dumps(tr.profile))


# --------------------------------------------------------------------------- evaluation store

#: Folder under the home holding each run's row-level evaluation predictions.
EVALUATIONS = "evaluations"

#: Columns of an evaluation file besides the contract's: the outcome, the count, and each
#: scorer's prediction as ``__score.<scorer>``.
_OUTCOME, _COUNT, _SCORE = "__outcome", "__count", "__score."


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_evaluation(settings: Settings, run_id: str, tr: TargetResult) -> tuple[str, str]:
    """Keep a target's row-level evaluation beside the data under the home, owner-only.

    The rows (their contract columns, which the champion's model needs to score them, the
    outcome, and every scorer's evaluation prediction) are personal data: they never go
    to MLflow, whose store is shared more widely. They are written to
    ``<home>/evaluations/<run_id>/<target>.parquet`` (folders 0700, file 0600), and the run
    records only that path, relative to the home, and the file's SHA-256.

    Returns
    -------
    (str, str)
        The path relative to the home and the file's SHA-256.
    """
    folder = settings.home / EVALUATIONS / run_id
    for path in (settings.home / EVALUATIONS, folder):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    rows = tr.test_rows.copy()
    rows[_OUTCOME] = tr.test_outcome
    rows[_COUNT] = tr.test_counts
    for scorer, values in tr.test_scores.items():
        rows[f"{_SCORE}{scorer}"] = np.asarray(values, dtype=float)
    path = folder / f"{tr.target}.parquet"
    partial = path.with_suffix(".parquet.partial")
    partial.touch(mode=0o600)
    partial.chmod(0o600)
    rows.to_parquet(partial, index=False)
    partial.replace(path)
    return path.relative_to(settings.home).as_posix(), _sha256(path)


def _record_evaluation(client: MlflowClient, run_id: str, settings: Settings, tr: TargetResult) -> None:
    """Write the target's evaluation rows to the home and tag the run with their path and SHA-256."""
    relative, digest = _write_evaluation(settings, run_id, tr)
    client.set_tag(run_id, f"evaluation.{tr.target}.path", relative)
    client.set_tag(run_id, f"evaluation.{tr.target}.sha256", digest)


def _calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            out.append({"predicted": float(p[chunk].mean()), "observed": float(y[chunk].mean()), "n": int(len(chunk))})
    return out


# --------------------------------------------------------------------------- runs a team can read

#: What each registered model predicts (its registered description).
_MODEL_DESCRIPTIONS: dict[str, str] = {
    "reoffence": "Probability of a proven reoffence within the contract's window after release (binary).",
    "harm": "Probability of a proven violent or sexual reoffence within the harm window after release (binary).",
    "frequency": "Expected number of proven reoffences within the contract's window after release (count).",
}

#: MLflow's limit on a param value's length, and on params per call.
_PARAM_VALUE_LIMIT = 6000
_PARAMS_PER_CALL = 100


def default_run_name(as_of: date, fingerprint: str) -> str:
    """A training run's name when none is given: ``"train as_of 2025-10-22 1a2b3c4d"`` (data fingerprint's start).

    Examples
    --------
    >>> default_run_name(date(2025, 10, 22), "1a2b3c4d5e6f")
    'train as_of 2025-10-22 1a2b3c4d'
    """
    return f"train as_of {as_of.isoformat()} {fingerprint[:8]}".rstrip()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested configuration as ``{"gates.min_auc": 0.6, "split.seed": 0, ...}`` (lists kept whole).

    Examples
    --------
    >>> _flatten({"gates": {"min_auc": 0.6}, "harm_groups": ["violence", "robbery"]})
    {'gates.min_auc': 0.6, 'harm_groups': ['violence', 'robbery']}
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _git_commit() -> str | None:
    """The commit of the checkout riskmodel runs from (None outside a git checkout, or without git)."""
    import subprocess

    folder = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _training_dataset(result: TrainingResult, training_rows: pd.DataFrame):
    """The training data as an MLflow dataset: name, fingerprint, schema and row counts, never a row."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    from riskmodel.modelling.signature import releases_schema

    counts: dict[str, Any] = {"fingerprint": result.fingerprint, "releases_before_test_period": int(len(training_rows))}
    counts.update(
        {k: int(v) for k, v in result.split.items() if k.endswith("_rows") and isinstance(v, int | np.integer)}
    )

    class _Counted(MetaDataset):
        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(counts)}

    source = CodeDatasetSource({"tables": "releases, reoffences", "contract": "v1", "as_of": result.as_of.isoformat()})
    # MLflow keeps a digest of at most 36 characters: the profile holds the whole fingerprint.
    return _Counted(source, name="releases", digest=result.fingerprint[:36], schema=releases_schema())


def _log_run_metadata(
    client: MlflowClient, run_id: str, result: TrainingResult, training_rows: pd.DataFrame, config_digest: str
) -> None:
    """What makes a run readable by a team: every configuration value as a param, the git
    commit, the configuration hash, each target's best iterations and the training data's record.
    """
    import mlflow
    from mlflow.entities import Metric, Param

    logged = client.get_run(run_id).data.params
    flat = _flatten(config_to_dict(result.config))
    params = [Param(key, str(value)[:_PARAM_VALUE_LIMIT]) for key, value in sorted(flat.items()) if key not in logged]
    for start in range(0, len(params), _PARAMS_PER_CALL):
        client.log_batch(run_id, params=params[start : start + _PARAMS_PER_CALL])
    tags = {"config_hash": config_digest, "mlflow.source.git.commit": _git_commit()}
    mlflow.set_tags({key: value for key, value in tags.items() if value})
    now = int(datetime.now(UTC).timestamp() * 1000)
    metrics = []
    for target, tr in result.targets.items():
        iterations = [int(n) for n in getattr(tr, "best_iterations", None) or []]
        metrics += [Metric(f"{target}.best_iterations", n, now, step) for step, n in enumerate(iterations)]
        if iterations:  # the last is the deployed refit's
            metrics.append(Metric(f"{target}.best_iteration", iterations[-1], now, 0))
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    mlflow.log_input(_training_dataset(result, training_rows), context="training")


def _describe_registered_model(client: MlflowClient, target: str) -> None:
    """The registered model's description and tags (what it predicts, for whom, from which contract)."""
    name = model_name(target)
    client.update_registered_model(name, description=_MODEL_DESCRIPTIONS[target])
    tags = {
        "target": target,
        "project": "riskmodel",
        "data_contract": "v1",
        "kind": "binary" if target in BINARY_TARGETS else "count",
    }
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)


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
        The training-period releases (for the drift profile and the run's dataset record:
        its row count and schema, never its rows).
    run_name : str, optional
        Default :func:`default_run_name` ("train as_of 2025-10-22 1a2b3c4d").
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
    run_name = run_name or default_run_name(result.as_of, result.fingerprint)
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
        _log_run_metadata(client, run.info.run_id, result, training_rows, config_digest)
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
            _record_evaluation(client, run.info.run_id, settings, tr)
            _log_evaluation(tr)
            version = _register_model(tr)
            tags = {"data_fingerprint": result.fingerprint, "config_hash": config_digest, "run_id": run.info.run_id}
            client.set_registered_model_alias(model_name(target), CANDIDATE, version)
            for key, value in tags.items():
                if value:
                    client.set_model_version_tag(model_name(target), version, key, value)
            client.update_model_version(model_name(target), version, description=_card_summary(tr))
            _describe_registered_model(client, target)
            versions[target] = version
    return versions


def _register_model(tr: TargetResult) -> str:
    """Log a target's model (cloudpickle, chosen: see the module docstring) and register it; its version.

    The model carries its signature, written from the data contract, a made-up input
    example (never a person's row) and the ``riskmodel``
    package as code, so that it loads where riskmodel is not installed
    (:mod:`riskmodel.modelling.signature`, :mod:`riskmodel.modelling.packaging`).
    """
    import mlflow.sklearn

    from riskmodel.modelling.packaging import package_code
    from riskmodel.modelling.signature import contract_signature, input_example

    features = tr.model.features
    signature = contract_signature(
        extra_numeric=tuple(features.extra_numeric), extra_categorical=tuple(features.extra_categorical)
    )
    with _cloudpickle_chosen(), package_code() as code_paths:
        info = mlflow.sklearn.log_model(
            tr.model,
            name=f"{tr.target}-model",
            serialization_format="cloudpickle",
            signature=signature,
            input_example=input_example(),
            code_paths=code_paths,
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
        """True when no gate failed (an accepted failure, or a gate with nothing to judge, does not refuse)."""
        return all(result.passed is not False for result in self.results)

    @property
    def checks(self) -> list[str]:
        """Every result as a line: ``PASS``/``FAIL``/``ACCEPTED``/``SKIP`` and its message."""
        return [result.line for result in self.results]

    @property
    def failures(self) -> list[str]:
        """The messages of the failed gates."""
        return [result.message for result in self.results if result.passed is False]

    @property
    def acceptances(self) -> list[GateResult]:
        """The results that failed their rule but were accepted by the operator."""
        return [result for result in self.results if result.accepted]


def _version(client: MlflowClient, target: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name(target), alias)
    except MlflowException:
        return None


def _load_evaluation(settings: Settings, run_id: str, target: str) -> pd.DataFrame:
    """A run's row-level evaluation of a target, read back from the home (see :func:`_write_evaluation`).

    Raises
    ------
    LookupError
        When the run records no evaluation file for the target, the file is missing, or
        its SHA-256 is not the one the run recorded; the message names the file and run.
    """
    import mlflow

    tags = mlflow.get_run(run_id).data.tags
    relative, recorded = tags.get(f"evaluation.{target}.path"), tags.get(f"evaluation.{target}.sha256")
    if not relative or not recorded:
        raise LookupError(
            f"run {run_id} records no evaluation file for {target} (tag evaluation.{target}.path): it was trained"
            " before evaluations were kept in the home; retrain to promote it"
        )
    path = settings.home / relative
    if not path.is_file():
        raise LookupError(
            f"{target}: the evaluation file {path} of run {run_id} is missing; promotion needs it"
            " (it is kept in the home that trained the run: use that home, or retrain)"
        )
    if _sha256(path) != recorded:
        raise LookupError(f"{target}: the evaluation file {path} of run {run_id} is not the one the run recorded")
    return pd.read_parquet(path)


def _load_model(version: ModelVersion) -> CalibratedModel:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{version.name}/{version.version}")


def _feature_gains(model: CalibratedModel) -> tuple[tuple[str, float], ...]:
    """The model's features and their total gain in its trees, largest first."""
    gains = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype=float)
    names = [str(name) for name in model.feature_names_]
    order = np.argsort(-gains, kind="stable")
    return tuple((names[i], float(gains[i])) for i in order if i < len(names))


def _evidence(
    settings: Settings, target: str, candidate: ModelVersion, champion: ModelVersion | None
) -> tuple[Evidence, Evidence | None]:
    """What the gates need of a target's candidate and champion.

    The candidate's pooled evaluation figures come from its run in MLflow; its row-level
    evaluation (outcome, every scorer's out-of-time prediction) from the home
    (:func:`_load_evaluation`); its feature gains from its model. The champion, when there
    is one other than the candidate, scores the candidate's evaluation rows.
    """
    import mlflow

    if champion is not None and champion.version == candidate.version:  # nothing to judge
        return Evidence(target, str(candidate.version)), Evidence(target, str(champion.version))
    logged = mlflow.get_run(candidate.run_id).data.metrics
    metrics = {key[len(target) + 1 :]: value for key, value in logged.items() if key.startswith(f"{target}.")}
    rows = _load_evaluation(settings, candidate.run_id, target)
    y, counts = rows.pop(_OUTCOME).to_numpy(dtype=float), rows.pop(_COUNT).to_numpy(dtype=float)
    scores = {
        column.removeprefix(_SCORE): rows.pop(column).to_numpy(dtype=float)
        for column in list(rows.columns)
        if column.startswith(_SCORE)
    }
    outcome = y if target in BINARY_TARGETS else counts
    new = Evidence(
        target,
        str(candidate.version),
        metrics,
        outcome=outcome,
        predictions=scores.get("model"),
        scores=scores,
        feature_gains=_feature_gains(_load_model(candidate)),
    )
    if champion is None:
        return new, None
    return new, Evidence(target, str(champion.version), predictions=_champion_predictions(settings, champion, rows))


def _champion_predictions(settings: Settings, champion: ModelVersion, rows: pd.DataFrame) -> np.ndarray:
    """The champion's predictions on the candidate's evaluation rows, for the relative gates.

    Both sides must be out-of-time: the champion's deployed model was refitted on most of
    these releases, so its own predictions on them would flatter it. So the champion's
    evaluation predictions are matched by ``release_id`` (NaN where its evaluation did not
    score a release: those rows are left out of the comparison). Only when the champion
    has no evaluation in this home, or shares no release with the candidate's, does its
    model score the rows.
    """
    try:
        old = _load_evaluation(settings, champion.run_id, champion.name.removeprefix("riskmodel-"))
    except LookupError:
        old = None
    if old is not None and "release_id" in old.columns and "release_id" in rows.columns:
        scored = old.drop_duplicates("release_id").set_index("release_id")[f"{_SCORE}model"]
        matched = rows["release_id"].map(scored).to_numpy(dtype=float)
        if np.isfinite(matched).any():
            return matched
    return _load_model(champion).predict(rows)


def _acceptance_tags(results: list[GateResult], operator: str, at: str) -> dict[str, str]:
    """Model-version tags recording the accepted rules: ``acceptance.<rule>`` → JSON (who, when, rule, figures)."""
    tags: dict[str, dict[str, Any]] = {}
    for result in results:
        if not result.accepted:
            continue
        empty = {"gates": [], "figures": {}, "messages": []}
        record = tags.setdefault(
            result.accepted, {"rule": result.accepted, "by": operator or "unknown", "at": at, **empty}
        )
        record["gates"].append(result.gate)
        record["figures"].update({k: float(v) if np.isfinite(v) else None for k, v in result.figures.items()})
        record["messages"].append(result.message)
    return {f"{_ACCEPTANCE_PREFIX}{rule}": json.dumps(record, sort_keys=True) for rule, record in tags.items()}


def acceptances_of(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The acceptances recorded on a model version (from its tags), ordered by rule.

    Each is a dict: ``rule`` (``small_evaluation``, ``unaudited.ethnicity``...), ``by``,
    ``at`` (ISO time), ``gates``, ``figures`` and ``messages``.
    """
    out = []
    for key in sorted(tags):
        if key.startswith(_ACCEPTANCE_PREFIX):
            try:
                out.append(json.loads(tags[key]))
            except ValueError:  # written by hand: keep what it says
                out.append({"rule": key.removeprefix(_ACCEPTANCE_PREFIX), "messages": [tags[key]]})
    return out


def _record_acceptances(
    client: MlflowClient, target: str, version: str, results: list[GateResult], operator: str
) -> list[dict[str, Any]]:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    tags = _acceptance_tags(results, operator, at)
    for key, value in tags.items():
        client.set_model_version_tag(model_name(target), version, key, value)
    return [json.loads(value) for value in tags.values()]


def promote(
    settings: Settings,
    *,
    targets: tuple[str, ...] = TARGETS,
    gates: GateConfig | None = None,
    operator: str = "",
    accept_small_evaluation: bool = False,
    accept_unaudited: tuple[str, ...] = (),
    store: AuditStore | None = None,
) -> PromotionDecision:
    """Move ``champion`` to each target's ``candidate`` if every gate passes.

    All targets are decided together: when any gate fails nothing changes. The rules are
    :func:`riskmodel.modelling.gates.decide`'s; this function reads what they judge (the
    candidate's evaluation figures from MLflow, its row-level evaluation from the home, and
    the champion's predictions on those rows), moves the aliases, and logs every result.
    Each promoted version is tagged with who (``operator``), when and its gates' summary
    (see :func:`champions_state`), and with every accepted rule (``acceptance.<rule>``:
    who, when, the rule and its figures).

    Parameters
    ----------
    accept_small_evaluation : bool, default False
        Accept candidates evaluated on fewer rows or events than the gates ask.
    accept_unaudited : tuple of str
        Groupings (``ethnicity``, ``age_band``) whose fairness checks may be not computable.
    store : AuditStore, optional
        When given, the promotion (versions, gates' summary, acceptances) is written to the
        audit trail (kind ``champion_promoted``) before any alias moves.

    Raises
    ------
    LookupError
        When a candidate's evaluation file is missing from the home.
    riskmodel.records.audit.AuditUnavailable
        When ``store`` cannot record the promotion (nothing moved).
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
        decision.results += decide(
            *_evidence(settings, target, candidate, champion),
            gates,
            accept_small_evaluation=accept_small_evaluation,
            accept_unaudited=accept_unaudited,
        )
    for result in decision.results:
        logger.info("promotion gate %s", result.line)
    if not decision.passed or not chosen:
        return decision
    if store is not None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        details = {
            "versions": {target: str(candidate.version) for target, candidate in chosen.items()},
            "gates": {
                target: _gates_summary([r for r in decision.results if r.target == target]) for target in chosen
            },
            "acceptances": {
                target: [json.loads(v) for v in _acceptance_tags(
                    [r for r in decision.acceptances if r.target == target], operator, at).values()]
                for target in chosen
            },
        }  # fmt: skip
        store.record_event("champion_promoted", actor=operator or "unknown", details=details)
    for target, candidate in chosen.items():
        results = [r for r in decision.results if r.target == target]
        client.set_registered_model_alias(model_name(target), CHAMPION, candidate.version)
        _tag_champion(client, target, str(candidate.version), operator, "promoted: every gate passed",
                      _gates_summary(results))  # fmt: skip
        _record_acceptances(client, target, str(candidate.version), results, operator)
        decision.promoted[target] = candidate.version
    return decision


# --------------------------------------------------------------------------- champions by hand

#: Model-version tags that say how a version became champion.
_CHAMPION_TAGS = ("set_at", "set_by", "reason", "forced", "gates")

#: Prefix of the model-version tags recording an accepted rule (``acceptance.small_evaluation``).
_ACCEPTANCE_PREFIX = "acceptance."


def _gates_summary(results: list[GateResult]) -> str:
    """``"9 passed, 1 failed, 2 accepted, 0 could not judge"`` (no results: ``"not checked"``)."""
    if not results:
        return "not checked"
    passed = sum(r.passed is True and not r.accepted for r in results)
    failed = sum(r.passed is False for r in results)
    accepted = sum(bool(r.accepted) for r in results)
    unjudged = sum(r.passed is None for r in results)
    return f"{passed} passed, {failed} failed, {accepted} accepted, {unjudged} could not judge"


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
    champion. ``acceptances`` are the rules accepted when it was made champion
    (:func:`acceptances_of`).
    """

    target: str
    version: str
    set_at: str = ""
    set_by: str = ""
    reason: str = ""
    forced: bool = False
    gates: str = ""
    acceptances: tuple[dict[str, Any], ...] = ()


def champions_state(settings: Settings) -> list[ChampionState]:
    """Every target's champion version, when it was set, by whom, why, its gates' summary and acceptances."""
    client = connect(settings)
    out = []
    for target in TARGETS:
        version = _version(client, target, CHAMPION)
        if version is None:
            out.append(ChampionState(target, ""))
            continue
        tags = {key: version.tags.get(f"champion.{key}", "") for key in _CHAMPION_TAGS}
        forced = tags.pop("forced") == "true"
        acceptances = tuple(acceptances_of(dict(version.tags)))
        out.append(ChampionState(target, str(version.version), forced=forced, acceptances=acceptances, **tags))
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
    accept_small_evaluation: bool = False,
    accept_unaudited: tuple[str, ...] = (),
) -> PromotionDecision:
    """Make ``version`` the champion of ``target`` (a rollback, or a chosen version).

    The version is judged by :func:`riskmodel.modelling.gates.decide` on its own
    evaluation: the evidence, absolute, too-good-to-be-true, fairness and baseline gates
    (the relative gates compare a new candidate with the champion it would replace, which
    a rollback deliberately does not improve on); ``accept_small_evaluation`` and
    ``accept_unaudited`` accept as in :func:`promote`. If a gate fails nothing changes,
    unless ``force``, which is recorded. The change is written to the audit trail
    (``store``, kind ``champion_set``, with the acceptances) before the alias moves, then
    tagged on the version (``champion.set_by``, ``champion.set_at``, ``champion.reason``,
    ``champion.forced``, ``champion.gates``, ``acceptance.<rule>``). A running service
    picks it up on ``/reload``.

    Raises
    ------
    LookupError
        When the target or version is not registered, or its evaluation file is missing
        from the home.
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
    decision = PromotionDecision(
        results=decide(
            *_evidence(settings, target, chosen, None),
            gates or GateConfig(),
            accept_small_evaluation=accept_small_evaluation,
            accept_unaudited=accept_unaudited,
        )
    )
    if not decision.passed and not force:
        return decision
    previous = _version(client, target, CHAMPION)
    summary = _gates_summary(decision.results)
    if store is not None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        details = {
            "target": target,
            "version": str(chosen.version),
            "previous": str(previous.version) if previous is not None else None,
            "reason": reason,
            "forced": bool(force),
            "gates": summary,
            "failures": decision.failures,
            "acceptances": [json.loads(v) for v in _acceptance_tags(decision.acceptances, operator, at).values()],
        }
        store.record_event("champion_set", actor=operator or "unknown", details=details)
    client.set_registered_model_alias(model_name(target), CHAMPION, str(chosen.version))
    _tag_champion(client, target, str(chosen.version), operator, reason, summary, forced=force)
    _record_acceptances(client, target, str(chosen.version), decision.results, operator)
    logger.info("champion of %s set to v%s by %s (%s): %s", target, chosen.version, operator, summary, reason)
    decision.promoted[target] = str(chosen.version)
    return decision


# --------------------------------------------------------------------------- loading


def load_champions(
    settings: Settings, *, alias: str = CHAMPION, versions: dict[str, str] | None = None, compiled: bool = True
) -> Champions:
    """Load the aliased version of every target (for serving and batch scoring).

    ``versions`` (target -> version number) loads exactly those versions instead: what
    the service's other workers do after a reload (:mod:`riskmodel.service.workers`).
    ``compiled``: predict with compiled trees (:mod:`riskmodel.modelling.compiled`), checked
    against LightGBM and cached under the home; each target's engine is in
    ``Champions.engines``.

    Raises
    ------
    LookupError
        When a target has no version with the alias (or the version asked for).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from riskmodel.modelling.modelcard import with_acceptances

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
            model_card=with_acceptances((root / "model_card.md").read_text(), acceptances_of(dict(version.tags))),
            acceptances=tuple(acceptances_of(dict(version.tags))),
            validation=json.loads((root / "validation.json").read_text()),
            profile=json.loads((root / "feature_profile.json").read_text()),
        )
        if target == "reoffence":
            config = config_from_dict(mlflow.artifacts.load_dict(f"runs:/{version.run_id}/config.json"))
    assert config is not None
    engines = _compiled_engines(models, settings) if compiled else {}
    return Champions(models=models, info=info, scoring=config.scoring, config=config, engines=engines)


def _compiled_engines(models: dict[str, CalibratedModel], settings: Settings) -> dict[str, dict[str, object]]:
    """Attach compiled trees to the models (cached under the home); each target's engine.

    ``RISKMODEL_COMPILED=0`` keeps LightGBM's own predict (said in the engine's reason).
    """
    from riskmodel.modelling.compiled import CompileStatus, compile_models

    if os.environ.get("RISKMODEL_COMPILED", "1").strip().lower() in {"0", "false", "no", "off"}:
        status = CompileStatus("lightgbm", "none", "RISKMODEL_COMPILED is off")
        return {target: status.as_dict() for target in models}
    return {target: status.as_dict() for target, status in compile_models(models, settings.home / "compiled").items()}


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
