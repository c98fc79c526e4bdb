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
import os
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.modelling.config import GateConfig, ScoringConfig, TrainConfig, config_from_dict, config_to_dict
from riskmodel.evaluation.drift import feature_profile
from riskmodel.modelling.models import BINARY_TARGETS, TARGETS, CalibratedModel
from riskmodel.settings import Settings

__all__ = [
    "EXPERIMENT",
    "model_name",
    "connect",
    "log_training",
    "promote",
    "PromotionDecision",
    "ModelInfo",
    "Champions",
    "load_champions",
    "compare_runs",
    "fairness_tables",
    "CANDIDATE",
    "CHAMPION",
]

EXPERIMENT = "riskmodel"
CANDIDATE = "candidate"
CHAMPION = "champion"


def model_name(target: str) -> str:
    """Registered model name of a target."""
    return f"riskmodel-{target}"


def connect(settings: Settings):
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


def _flat_metrics(result) -> dict[str, float]:
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


def _write_target_artifacts(folder: Path, tr, result) -> None:
    from riskmodel.evaluation.metrics import capture_curve
    from riskmodel.modelling.modelcard import model_card
    from riskmodel.evaluation.plots import calibration_figure, capture_figure, figure_to_png_bytes, roc_figure

    folder.mkdir(parents=True, exist_ok=True)
    y, scores = tr.test_outcome, tr.test_scores
    if tr.target in BINARY_TARGETS:
        (folder / "roc.png").write_bytes(figure_to_png_bytes(roc_figure(y, scores, title=f"How well the {tr.target} score ranks people")))
        (folder / "calibration.png").write_bytes(figure_to_png_bytes(calibration_figure(y, scores, title=f"Predicted and observed {tr.target} rates")))
    (folder / "capture.png").write_bytes(
        figure_to_png_bytes(capture_figure(tr.test_counts, scores, title="Share of reoffences held by the top-ranked people"))
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


def log_training(result, settings: Settings, *, training_rows: pd.DataFrame, run_name: str | None = None) -> dict[str, str]:
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
            mlflow.log_dict({"features": names, "monotone_increasing": [n for n, c in zip(names, tr.model.features.monotone_constraints()) if c]}, f"{target}/features.json")
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


def _card_summary(tr) -> str:
    m = tr.metrics["model"]
    key = "auc" if tr.target in BINARY_TARGETS else "capture_at_10"
    return f"riskmodel {tr.target} model; test {key} {m.get(key, float('nan')):.3f} on {int(m['n'])} releases."


# --------------------------------------------------------------------------- promotion


@dataclass
class PromotionDecision:
    """What ``promote`` decided, with every gate's figure."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    promoted: dict[str, str] = field(default_factory=dict)


def _version(client, target: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name(target), alias)
    except MlflowException:
        return None


def _load_test_rows(client, run_id: str, target: str) -> pd.DataFrame:
    import mlflow

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{target}/test_rows.parquet")
    return pd.read_parquet(local)


def _load_model(version) -> CalibratedModel:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{version.name}/{version.version}")


def _check(decision: PromotionDecision, ok: bool, text: str) -> None:
    decision.checks.append(("PASS " if ok else "FAIL ") + text)
    if not ok:
        decision.failures.append(text)


def promote(settings: Settings, *, targets: tuple[str, ...] = TARGETS, gates: GateConfig | None = None) -> PromotionDecision:
    """Move ``champion`` to each target's ``candidate`` if every gate passes.

    All targets are decided together: when any gate fails nothing changes.

    Gates (figures from the candidate's test rows):

    * absolute: AUC ≥ ``min_auc``; calibration slope within ``calibration_slope``;
      |calibration intercept| ≤ ``max_abs_calibration_intercept``; ECE ≤ ``max_ece``
      (frequency: |observed/expected − 1| ≤ ``max_frequency_calibration_error``);
    * fairness: calibration-in-the-large, false positive and false negative rate gaps
      between groups of at least ``min_group_size`` people within bounds;
    * relative: re-scored on the candidate's own test rows, the current champion's AUC
      (frequency: capture at 10%) exceeds the candidate's by at most ``auc_tolerance``
      and its Brier score is lower by at most ``brier_tolerance``.
    """
    import mlflow

    from riskmodel.evaluation.metrics import binary_metrics, count_metrics

    gates = gates or GateConfig()
    client = connect(settings)
    decision = PromotionDecision(passed=False)
    chosen: dict[str, Any] = {}
    for target in targets:
        candidate = _version(client, target, CANDIDATE)
        if candidate is None:
            _check(decision, False, f"{target}: no version with alias '{CANDIDATE}' (train first)")
            continue
        champion = _version(client, target, CHAMPION)
        if champion is not None and champion.version == candidate.version:
            decision.checks.append(f"PASS {target}: candidate v{candidate.version} is already champion")
            continue
        chosen[target] = candidate
        metrics = mlflow.get_run(candidate.run_id).data.metrics
        prefix = f"{target}.model."
        label = f"{target} v{candidate.version}"
        if target in BINARY_TARGETS:
            auc = metrics.get(prefix + "auc", float("nan"))
            slope = metrics.get(prefix + "calibration_slope", float("nan"))
            intercept = metrics.get(prefix + "calibration_intercept", float("nan"))
            ece = metrics.get(prefix + "ece", float("nan"))
            # Sampling noise allowance: z standard errors of each figure on this many
            # test rows, so a perfectly calibrated model is not refused for a small test
            # period (on large ones the allowance vanishes and the bound is the gate).
            n, prevalence = metrics.get(prefix + "n", 0.0), metrics.get(prefix + "prevalence", 0.5)
            se = 1.0 / np.sqrt(max(n * prevalence * (1 - prevalence), 1.0))
            slack = gates.uncertainty_z * se
            ece_slack = gates.uncertainty_z * 0.8 * np.sqrt(prevalence * (1 - prevalence) * 10 / max(n, 1.0))
            lo, hi = gates.calibration_slope[0] - slack, gates.calibration_slope[1] + slack
            bound = gates.max_abs_calibration_intercept + slack
            _check(decision, auc >= gates.min_auc, f"{label}: AUC {auc:.3f} >= {gates.min_auc}")
            _check(decision, lo <= slope <= hi, f"{label}: calibration slope {slope:.3f} within [{lo:.3f}, {hi:.3f}] (bounds {gates.calibration_slope} ± {slack:.3f} for n={int(n)})")
            _check(decision, abs(intercept) <= bound, f"{label}: |calibration intercept| {abs(intercept):.3f} <= {bound:.3f} ({gates.max_abs_calibration_intercept} + {slack:.3f} for n={int(n)})")
            _check(decision, ece <= gates.max_ece + ece_slack, f"{label}: ECE {ece:.4f} <= {gates.max_ece + ece_slack:.4f} ({gates.max_ece} + {ece_slack:.4f} for n={int(n)})")
        else:
            ratio = metrics.get(prefix + "calibration_ratio", float("nan"))
            _check(decision, abs(ratio - 1) <= gates.max_frequency_calibration_error, f"{label}: observed/expected {ratio:.3f} within 1 ± {gates.max_frequency_calibration_error}")
        # Calibration must hold in every group. Error rates at a fixed threshold are
        # compared across ethnic groups only: age drives risk, so younger people are
        # rightly flagged more often and age-band error-rate gaps are expected.
        for grouping, metric, bound in (
            ("ethnicity", "calibration_in_the_large_gap", gates.max_calibration_gap),
            ("age_band", "calibration_in_the_large_gap", gates.max_calibration_gap),
            ("ethnicity", "false_positive_rate_gap", gates.max_false_positive_rate_gap),
            ("ethnicity", "false_negative_rate_gap", gates.max_false_negative_rate_gap),
        ):
            value = metrics.get(f"{target}.fairness.{grouping}.{metric}")
            if value is not None:
                allowed = bound + gates.uncertainty_z * metrics.get(f"{target}.fairness.{grouping}.{metric}_se", 0.0)
                _check(decision, value <= allowed, f"{label}: {grouping} {metric.replace('_', ' ')} {value:.3f} <= {allowed:.3f} ({bound} + sampling allowance)")
            else:  # said, not silently skipped: a reviewer should know the gate could not judge
                decision.checks.append(
                    f"SKIP {label}: {grouping} {metric.replace('_', ' ')} not computable"
                    " (fewer than two groups on the test rows big enough to judge)"
                )
        if champion is not None:
            rows = _load_test_rows(client, candidate.run_id, target)
            y, counts = rows.pop("__outcome").to_numpy(), rows.pop("__count").to_numpy()
            new, old = _load_model(candidate), _load_model(champion)
            if target in BINARY_TARGETS:
                m_new = binary_metrics(y, new.predict(rows), n_boot=0)
                m_old = binary_metrics(y, old.predict(rows), n_boot=0)
                _check(decision, m_new["auc"] >= m_old["auc"] - gates.auc_tolerance, f"{label}: AUC {m_new['auc']:.4f} vs champion v{champion.version} {m_old['auc']:.4f} on the same {len(y)} test rows (tolerance {gates.auc_tolerance})")
                _check(decision, m_new["brier"] <= m_old["brier"] + gates.brier_tolerance, f"{label}: Brier {m_new['brier']:.4f} vs champion v{champion.version} {m_old['brier']:.4f} (tolerance {gates.brier_tolerance})")
            else:
                m_new = count_metrics(counts, new.predict(rows))
                m_old = count_metrics(counts, old.predict(rows))
                _check(decision, m_new["capture_at_10"] >= m_old["capture_at_10"] - gates.auc_tolerance, f"{label}: capture@10% {m_new['capture_at_10']:.4f} vs champion v{champion.version} {m_old['capture_at_10']:.4f} (tolerance {gates.auc_tolerance})")
    decision.passed = not decision.failures
    if decision.passed:
        for target, candidate in chosen.items():
            client.set_registered_model_alias(model_name(target), CHAMPION, candidate.version)
            decision.promoted[target] = candidate.version
    return decision


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ModelInfo:
    """A served model's identity and validation record."""

    target: str
    name: str
    version: str
    run_id: str
    fingerprint: str
    metrics: dict[str, float]
    model_card: str
    validation: dict[str, Any]
    profile: dict[str, Any]

    @property
    def label(self) -> str:
        """``riskmodel-reoffence/3``: the name and version shown beside a score."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class Champions:
    """The three champion models, their records and the scoring configuration."""

    models: dict[str, CalibratedModel]
    info: dict[str, ModelInfo]
    scoring: ScoringConfig
    config: TrainConfig

    def versions(self) -> dict[str, str]:
        """Target → ``name/version``."""
        return {t: i.label for t, i in self.info.items()}


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
            raise LookupError(f"{model_name(target)} has no '{alias}' version: run `riskmodel train` then `riskmodel promote`")
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
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT], order_by=["attributes.start_time DESC"], max_results=max_runs)
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
                if column in runs.columns and not (target == "frequency" and figure in ("auc", "brier", "ece", "calibration_slope")):
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
        raise LookupError(f"{model_name(target)} has no '{alias}' version: run `riskmodel train` then `riskmodel promote`")
    root = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=target))
    return {
        path.stem.removeprefix("fairness_"): pd.read_csv(path, index_col=0)
        for path in sorted(root.glob("fairness_*.csv"))
    }
