"""The ``riskmodel`` command: thin wrappers that turn options into package calls.

Heavy libraries are imported inside each command so that ``--help`` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from riskmodel.settings import Settings

if TYPE_CHECKING:  # annotations only: --help stays instant
    import pandas as pd

    from riskmodel.data.contract import Cohort, ValidatedTable
    from riskmodel.data.labels import LabelConfig
    from riskmodel.modelling.config import TrainConfig
    from riskmodel.modelling.train import TrainingResult
    from riskmodel.reporting.batch import BatchResult

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _settings() -> Settings:
    return Settings.from_env().ensure()


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"{name}: {value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _label_config(window_days: int | None, harm_window_days: int | None, waiting_days: int | None) -> LabelConfig:
    from riskmodel.modelling.config import TrainConfig

    windows = {"window_days": window_days, "harm_window_days": harm_window_days, "waiting_days": waiting_days}
    try:
        return TrainConfig().with_labels(**windows).labels
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _scores_suffix(path: Path) -> Path:
    """``--output``'s path, refused unless it ends in .csv or .parquet (the formats scores are written in)."""
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"{path.name}: the scores file must end in .csv or .parquet")
    return path


def rejects_option(default: str, *, name: str = "rejects_path") -> Callable[[_F], _F]:
    """The ``--rejects FILE`` option of every command that reads the tables (``default`` in words)."""
    return click.option(
        "--rejects",
        name,
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Rejects file (default {default}).",
    )


def config_option(help_text: str) -> Callable[[_F], _F]:
    """The ``--config FILE`` option (a YAML training configuration) of ``train``, ``promote``, ``champion set``."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


def drop_identifiers_option(func: _F) -> _F:
    """The ``--drop-identifiers`` flag of the commands that read the tables (the refusal suggests it)."""
    return click.option(
        "--drop-identifiers",
        "drop_identifiers",
        is_flag=True,
        help="Drop direct-identifier columns instead of refusing the file.",
    )(func)


def label_options(func: _F) -> _F:
    """The window options shared by ``labels`` and ``train``."""
    func = click.option("--waiting-days", type=int, help="Waiting period for proof (default 183).")(func)
    func = click.option("--harm-window-days", type=int, help="Harm follow-up window (default 730).")(func)
    func = click.option("--window-days", type=int, help="Reoffence follow-up window (default 365).")(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="riskmodel")
def main() -> None:
    """riskmodel: calibrated, explained, fairness-audited reoffending risk for IOM panels.

    State lives under RISKMODEL_HOME (default ~/.riskmodel).
    """


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=20_000, show_default=True, help="People in the cohort.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder (default RISKMODEL_HOME/data/synthetic).",
)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "--panel-start",
    default=None,
    metavar="DATE",
    help="Simulate an IOM panel deciding every release from this date, and write its decisions table.",
)
@click.option(
    "--panel-capacity",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="People the simulated panel adopts each month (the top OGRS3 two-year probabilities).",
)
@click.option(
    "--iom-effect",
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Adoption multiplies the person's reoffending rate by 1 - this (kept in truth).",
)
def synth(
    people: int,
    seed: int,
    out_dir: Path | None,
    fmt: str,
    panel_start: str | None,
    panel_capacity: int,
    iom_effect: float,
) -> None:
    """Write a synthetic historic cohort: releases, reoffences and truth (and decisions, with a panel)."""
    from riskmodel.data.synth import PanelSimulation, format_summary, generate_cohort, summarise, write_cohort

    out_dir = out_dir or _settings().data_dir / "synthetic"
    start = _date(panel_start, "--panel-start")
    panel = PanelSimulation(start, panel_capacity, iom_effect) if start else None
    cohort = generate_cohort(people, seed=seed, panel=panel)
    paths = write_cohort(cohort, out_dir, fmt=fmt)
    click.echo(format_summary(summarise(cohort)))
    if cohort.decisions is not None:
        adopted = int((cohort.decisions["decision"] == "adopt").sum())
        click.echo(
            f"panel from {start}: {len(cohort.decisions)} releases decided, {adopted} adopted"
            f" ({panel_capacity} a month by OGRS3); true effect of adoption: {iom_effect:.0%} fewer offences"
        )
    click.echo(f"extract date (as_of): {cohort.as_of.isoformat()}")
    for name, path in paths.items():
        click.echo(f"wrote {name}: {path}")


def _write_rejects(rejects: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.to_csv(path, index=False)


def _rejects_beside(out_path: Path) -> Path:
    return out_path.with_name(f"{out_path.stem}.rejects.csv")


def _report_rows(validated: Cohort | ValidatedTable, rejects_path: Path) -> None:
    """Warnings, rejects file and reconciliation line of whatever was read (the contract)."""
    for warning in validated.warnings:
        click.echo(f"warning: {warning}", err=True)
    _write_rejects(validated.rejects, rejects_path)
    click.echo(validated.reconciliation())
    click.echo(f"rejects: {rejects_path}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@rejects_option("rejects.csv in the current directory; never written into FOLDER unless given")
@click.option("--drop-identifiers", is_flag=True, help="Drop direct-identifier columns instead of refusing the file.")
def validate(folder: Path, rejects_path: Path | None, drop_identifiers: bool) -> None:
    """Validate FOLDER's releases and reoffences against the data contract.

    The input folder is only read: the rejects file goes where --rejects says, or into
    the current directory.
    """
    from riskmodel.data.contract import ContractError, load_cohort

    if rejects_path is None:
        rejects_path = Path.cwd() / "rejects.csv"
        if rejects_path.parent.resolve().is_relative_to(folder.resolve()):
            raise click.ClickException(
                f"--rejects: the default rejects file would be written into the input folder {folder}"
                " (the current directory); give --rejects FILE outside it"
            )
    try:
        cohort = load_cohort(folder, allow_identifiers=drop_identifiers)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in cohort.warnings:
        click.echo(f"warning: {warning}", err=True)
    _write_rejects(cohort.rejects, rejects_path)
    click.echo(cohort.reconciliation())
    click.echo(f"rejects: {rejects_path}")
    if len(cohort.releases.data) == 0:
        raise click.ClickException("no usable release rows")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as-of", required=True, help="Extract date (YYYY-MM-DD): later outcomes are unknown.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="Labels CSV to write.")
@rejects_option("OUT's name + .rejects.csv")
@label_options
@drop_identifiers_option
def labels(
    folder: Path,
    as_of: str,
    out_path: Path,
    rejects_path: Path | None,
    window_days: int | None,
    harm_window_days: int | None,
    waiting_days: int | None,
    drop_identifiers: bool,
) -> None:
    """Derive reoffence, frequency and harm labels for every release in FOLDER."""
    from riskmodel.data.contract import ContractError, load_cohort
    from riskmodel.data.labels import check_as_of, derive_labels

    as_of_date = _date(as_of, "--as-of")
    config = _label_config(window_days, harm_window_days, waiting_days)
    try:
        cohort = load_cohort(folder, allow_identifiers=drop_identifiers)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    _report_rows(cohort, rejects_path or _rejects_beside(out_path))
    try:
        check_as_of(cohort.releases.data, cohort.reoffences.data, as_of=as_of_date)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    table = derive_labels(cohort.releases.data, cohort.reoffences.data, as_of=as_of_date, config=config)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_path, index=False)
    eligible = table["reoffence"].notna()
    click.echo(
        f"labels: {len(table)} releases; reoffence eligible {int(eligible.sum())}"
        f" (rate {table['reoffence'].mean():.3f}); harm eligible {int(table['harm'].notna().sum())}"
        f" (rate {table['harm'].mean():.3f}); wrote {out_path}"
    )


@main.command(name="ogrs3")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@rejects_option("OUT's name + .rejects.csv")
@drop_identifiers_option
def ogrs3_command(folder: Path, out_path: Path, rejects_path: Path | None, drop_identifiers: bool) -> None:
    """Score FOLDER's releases with the OGRS3 reference formula, and ARP (its successor) beside it."""
    from riskmodel.data.contract import ContractError, find_table, read_table, validate_releases
    from riskmodel.modelling.arp import arp
    from riskmodel.modelling.ogrs3 import ogrs3

    try:
        path = find_table(folder, "releases")
        line_offset = 2 if path.suffix.lower() == ".csv" else 1
        table = validate_releases(read_table(path), line_offset=line_offset, allow_identifiers=drop_identifiers)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    _report_rows(table, rejects_path or _rejects_beside(out_path))
    scores = ogrs3(table.data).join(arp(table.data))
    scores.insert(0, "release_id", table.data["release_id"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out_path, index=False)
    click.echo(
        f"ogrs3: {int(scores['ogrs3_1y'].notna().sum())} scored,"
        f" {int(scores['ogrs3_1y'].isna().sum())} unavailable;"
        f" arp: {int(scores['arp_2y'].notna().sum())} scored,"
        f" {int(scores['arp_2y'].isna().sum())} unavailable; wrote {out_path}"
    )


def split_table(split: dict[str, object]) -> list[str]:
    """The training split as lines of a small table: each part's rows, first and last release."""
    lines = [
        f"split (test from {split.get('test_from', '-')}):",
        f"  {'part':<12}{'rows':>8}  {'first':<12}last",
    ]
    for part in ("train", "validation", "calibration", "test", "refit"):
        if f"{part}_rows" in split:
            first, last = split.get(f"{part}_first", "-"), split.get(f"{part}_last", "-")
            lines.append(f"  {part:<12}{split[f'{part}_rows']!s:>8}  {first!s:<12}{last!s:<12}".rstrip())
    return lines


def _print_training(result: TrainingResult, versions: dict[str, str]) -> None:
    from riskmodel.modelling.registry import CLOUDPICKLE_NOTE

    for line in split_table(result.split):
        click.echo(line)
    click.echo(CLOUDPICKLE_NOTE)
    for target, tr in result.targets.items():
        key = "auc" if target != "frequency" else "capture_at_10"
        figures = ", ".join(f"{name} {m.get(key, float('nan')):.3f}" for name, m in tr.metrics.items())
        click.echo(f"{target}: test {key}: {figures}; registered version {versions.get(target, '-')} as candidate")


def _train_and_report(
    settings: Settings,
    data: Path,
    *,
    as_of: date,
    config: TrainConfig,
    test_from: date | None = None,
    drop_identifiers: bool = False,
    reuse: bool = False,
    run_name: str | None = None,
    register_duplicate: bool = True,
) -> bool:
    """Report the contract's findings on ``data``, then train, log and register (``train``, ``demo``).

    With ``reuse`` (``demo``), nothing is trained when the champions were trained on the
    same tables and configuration; returns whether it trained. Without
    ``register_duplicate`` (``train``'s default), nothing is trained when every target
    already has a version trained on them.
    """
    from riskmodel.data.contract import ContractError
    from riskmodel.modelling.workflow import (
        champions_trained_on,
        load_training_cohort,
        read_truth,
        train_and_register,
    )

    try:
        cohort = load_training_cohort(data, config=config, allow_identifiers=drop_identifiers)
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(cohort.reconciliation())
    for warning in cohort.warnings:
        click.echo(f"warning: {warning}", err=True)
    if len(cohort.rejects):
        rejects_path = settings.reports_dir / "training_rejects.csv"
        _write_rejects(cohort.rejects, rejects_path)
        click.echo(f"rejected rows written to {rejects_path}")
    reused = champions_trained_on(cohort, settings=settings, as_of=as_of, config=config, test_from=test_from)
    if reuse and reused is not None:
        versions = ", ".join(f"{t} v{v}" for t, v in reused.items())
        click.echo(f"the champions ({versions}) were trained on these tables and this configuration: reused")
        return False
    if not register_duplicate and _identical_versions(
        settings, cohort, as_of=as_of, config=config, test_from=test_from
    ):
        return False
    try:
        run = train_and_register(
            cohort,
            settings=settings,
            as_of=as_of,
            config=config,
            truth=read_truth(data),
            test_from=test_from,
            run_name=run_name,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_training(run.result, run.versions)
    _print_run_id()
    return True


def _identical_versions(
    settings: Settings, cohort: Cohort, *, as_of: date, config: TrainConfig, test_from: date | None
) -> bool:
    """Say so and answer True when every target has a version trained on these tables and this configuration."""
    from riskmodel.modelling.registry import config_hash, model_name, trained_versions
    from riskmodel.modelling.train import data_fingerprint

    fingerprint = data_fingerprint(cohort.releases.data, cohort.reoffences.data)
    digest = config_hash(config, as_of=as_of, test_from=test_from)
    found = trained_versions(settings, fingerprint=fingerprint, config_digest=digest)
    if found is None:
        return False
    same = ", ".join(f"version {v} of {model_name(t)}" for t, v in found.items())
    click.echo(
        f"identical to {same} (same data fingerprint {fingerprint[:12]} and configuration): not registered"
        " (use --register-duplicate to register anyway)"
    )
    return True


def _print_run_id() -> None:
    """The MLflow run id of the training just logged (to find it in the UI or with ``mlflow runs describe``)."""
    import mlflow

    run = mlflow.last_active_run()
    if run is not None:
        click.echo(f"MLflow run {run.info.run_id} ({run.info.run_name})")


@main.command()
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with releases and reoffences (and truth, for synthetic data).",
)
@click.option(
    "--as-of",
    required=True,
    help="Extract date (YYYY-MM-DD): the day the tables were taken; must not be later than the extract.",
)
@click.option("--test-from", default=None, help="First release date of the test period (default: from the config).")
@config_option("YAML configuration (defaults: training/config.yaml).")
@label_options
@drop_identifiers_option
@click.option(
    "--run-name", default=None, help='MLflow run name [default: "train as_of DATE" and the data fingerprint\'s start].'
)
@click.option(
    "--register-duplicate",
    is_flag=True,
    help="Train and register even when every target has a version trained on the same data and configuration.",
)
def train(
    data: Path,
    as_of: str,
    test_from: str | None,
    config_path: Path | None,
    window_days: int | None,
    harm_window_days: int | None,
    waiting_days: int | None,
    drop_identifiers: bool,
    run_name: str | None,
    register_duplicate: bool,
) -> None:
    """Train the reoffence, harm and frequency models and register them as candidates.

    Choosing --as-of: it is the extract date, the day the releases and reoffences
    tables were taken from the source systems (`riskmodel synth` prints it for a
    synthetic cohort). It must not be later than the extract: reoffences after the
    extract cannot be in it, so later release windows would read as "no reoffence".

    It decides whose outcome is known. With the default windows:

    \b
      reoffence, frequency: release + 365 days (window) + 183 days (waiting
                            period for proof) <= as-of
      harm:                 release + 730 + 183 days <= as-of

    A later release's outcome is unknown, never 0: it is left out of that target's
    training and testing. So the newest release the reoffence and frequency models
    learn from is about 18 months before as-of, the harm model's about 2.5 years
    (the window options below move these), and the test period starts 730 + 913
    days before as-of unless --test-from or the configuration says otherwise.
    """
    from riskmodel.modelling.config import load_config

    try:
        config = load_config(config_path)
        config = config.with_labels(
            window_days=window_days, harm_window_days=harm_window_days, waiting_days=waiting_days
        )
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    as_of_date, test_from_date = _date(as_of, "--as-of"), _date(test_from, "--test-from")
    _train_and_report(
        _settings(),
        data,
        as_of=as_of_date,
        config=config,
        test_from=test_from_date,
        drop_identifiers=drop_identifiers,
        run_name=run_name,
        register_duplicate=register_duplicate,
    )


accept_small_evaluation_option = click.option(
    "--accept-small-evaluation",
    is_flag=True,
    help="Accept a candidate evaluated on fewer releases or events than the gates ask (recorded).",
)
accept_unaudited_option = click.option(
    "--accept-unaudited",
    "accept_unaudited",
    multiple=True,
    type=click.Choice(["ethnicity", "age_band"]),
    help="Accept that fairness by this grouping cannot be computed (repeatable; recorded).",
)


@main.command()
@config_option("YAML configuration holding the gates.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    type=click.Choice(["reoffence", "harm", "frequency"]),
    help="Targets to promote (default all).",
)
@accept_small_evaluation_option
@accept_unaudited_option
def promote(
    config_path: Path | None, targets: tuple[str, ...], accept_small_evaluation: bool, accept_unaudited: tuple[str, ...]
) -> None:
    """Move the champion alias to the candidates if every gate passes.

    Every gate prints its figure and allowance. A candidate evaluated on too few releases,
    or whose fairness by a grouping cannot be computed, is refused unless accepted
    (--accept-small-evaluation, --accept-unaudited GROUPING); an acceptance is recorded on
    the champion's version in MLflow (who, when, which rule, the figures), in the audit
    trail, on GET /model, in the model card and in the monthly report.
    """
    from riskmodel.modelling.config import load_config
    from riskmodel.modelling.registry import promote as promote_candidates
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    gates = load_config(config_path).gates
    settings = _settings()
    try:
        decision = promote_candidates(
            settings,
            targets=targets or ("reoffence", "harm", "frequency"),
            gates=gates,
            operator=_operator(),
            accept_small_evaluation=accept_small_evaluation,
            accept_unaudited=accept_unaudited,
            store=AuditStore(settings.audit_url),
        )
    except (LookupError, AuditUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in decision.checks:
        click.echo(line)
    if not decision.passed:
        click.echo("promotion refused; nothing changed. Failed gates:", err=True)
        for failure in decision.failures:
            click.echo(f"  - {failure}", err=True)
        sys.exit(1)
    promoted = ", ".join(f"{t} v{v}" for t, v in decision.promoted.items()) or "nothing new"
    click.echo(f"champion: {promoted}")
    for result in decision.acceptances:
        if result.target in decision.promoted:
            click.echo(f"recorded acceptance: {result.target} {result.accepted} by {_operator()}")


def _operator() -> str:
    """Who runs a promotion: ``RISKMODEL_USER``, else the OS user."""
    import os

    from riskmodel.reporting.batch import operator_name

    return os.environ.get("RISKMODEL_USER", "").strip() or operator_name()


def serving_dir() -> Path:
    """The folder holding ``service.py`` and ``bentofile.yaml``."""
    import riskmodel

    folder = Path(riskmodel.__file__).resolve().parents[2] / "serving"
    if not (folder / "service.py").exists():
        raise click.ClickException(
            f"serving/service.py not found next to the package ({folder}); "
            "install riskmodel from its checkout (pip install -e .)"
        )
    return folder


def serve_command(port: int, host: str) -> list[str]:
    """The ``bentoml serve`` command line that ``riskmodel serve`` runs."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "service:RiskService",
        "--working-dir",
        str(serving_dir()),
        "--port",
        str(port),
        "--host",
        host,
    ]


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes [default: RISKMODEL_SERVE_WORKERS or 2].",
)
def serve(port: int, host: str, workers: int | None) -> None:
    """Serve the champion models over HTTP (BentoML): /score, /model, /reload, /audit.

    Before any worker starts, the stores are prepared once, here (the MLflow store's
    tables and the audit schema: workers starting together would otherwise race to
    create them), and a home without a champion for every target is refused with the
    commands to run (exit 2) instead of workers failing and restarting.
    """
    import os

    settings = _settings()
    versions = prepare_serving(settings)
    env = {**os.environ, "RISKMODEL_HOME": str(settings.home)}
    if workers is not None:
        env["RISKMODEL_SERVE_WORKERS"] = str(workers)
    env.setdefault("BENTOML_HOME", str(settings.home / "bentoml"))
    from riskmodel.logs import safe_url

    served = ", ".join(f"{target} v{version}" for target, version in versions.items())
    click.echo(
        f"serving on http://{host}:{port}: champions {served} from {safe_url(settings.tracking_uri)};"
        f" audit records to {safe_url(settings.audit_url)}"
    )
    os.execvpe(sys.executable, serve_command(port, host), env)


#: What ``riskmodel serve`` says on a home without champions.
NO_CHAMPION_HINT = (
    "run `riskmodel train --data DIR --as-of DATE && riskmodel promote` first"
    " (or `riskmodel demo` for the synthetic cohort)"
)


def prepare_serving(settings: Settings) -> dict[str, str]:
    """Prepare the stores for the service's workers, once; the champion versions it will serve.

    Opens the MLflow store (creating or upgrading its tables) and creates the audit
    schema, in this one process, so that workers starting together never race to.
    An audit database that cannot be reached now is not fatal: the service starts,
    is not ready and answers 503 until it can be written.

    Raises
    ------
    SystemExit
        Exit 2, with one message naming the targets without a champion and what to run.
    """
    import logging

    from riskmodel.logs import safe_url
    from riskmodel.modelling.registry import champions_state
    from riskmodel.records.audit import AuditStore, AuditUnavailable, SchemaOutdated

    # MLflow says at INFO that it creates or upgrades its tables: not the operator's concern here
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    states = champions_state(settings)
    missing = [state.target for state in states if not state.version]
    if missing:
        click.echo(
            f"riskmodel serve: no champion for {', '.join(missing)} in {safe_url(settings.tracking_uri)}: "
            + NO_CHAMPION_HINT,
            err=True,
        )
        sys.exit(2)
    store = AuditStore(settings.audit_url)
    try:
        store.create_schema()
    except SchemaOutdated as exc:  # an earlier version's database: never serve (nor write) it as it is
        click.echo(f"riskmodel serve: {exc}", err=True)
        sys.exit(2)
    except AuditUnavailable as exc:
        click.echo(f"warning: {exc}; the service answers 503 until it can be written", err=True)
    finally:
        store.engine.dispose()
    return {state.target: state.version for state in states}


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (only their hashes are stored)."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(["panel", "operator", "auditor"]))
@click.option("--label", default="", help="Who or what the key is for.")
def keys_create(role: str, label: str) -> None:
    """Create a key; it is printed once, alone on the last line."""
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    try:
        key, key_id = AuditStore(_settings().audit_url).create_key(role, label=label)
    except AuditUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {role} key {key_id}; store it now, it is not shown again:")
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """List keys: id, role, label, created, revoked."""
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    try:
        keys = AuditStore(_settings().audit_url).list_keys()
    except AuditUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("id\trole\tlabel\tcreated\trevoked")
    for key in keys:
        revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
        click.echo(f"{key.key_id}\t{key.role}\t{key.label}\t{key.created_at.isoformat()}\t{revoked}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke the key with KEY_ID."""
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    try:
        revoked = AuditStore(_settings().audit_url).revoke_key(key_id)
    except AuditUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if not revoked:
        raise click.ClickException(f"no live key with id {key_id}")
    click.echo(f"revoked {key_id}")


@main.group()
def champion() -> None:
    """Show each target's champion, or set one by hand (a rollback): `champion show`, `champion set`."""


@champion.command("show")
def champion_show() -> None:
    """Each target's champion version, when and by whom it was set, why, and its gates' summary."""
    from riskmodel.modelling.registry import champions_state

    click.echo("target\tversion\tset at\tset by\tforced\tgates\treason")
    for state in champions_state(_settings()):
        forced = "forced" if state.forced else "-"
        cells = (state.version or "none", state.set_at or "-", state.set_by or "-", forced, state.gates or "-")
        click.echo("\t".join((state.target, *cells, state.reason or "-")))


@champion.command("set")
@click.option("--target", required=True, type=click.Choice(["reoffence", "harm", "frequency"]))
@click.option("--version", "version", required=True, type=click.IntRange(min=1), help="Registered version number.")
@click.option("--reason", required=True, help="Why (recorded in MLflow and the audit trail).")
@click.option("--force", is_flag=True, help="Set it even when a gate fails (recorded as forced).")
@config_option("YAML configuration holding the gates.")
@accept_small_evaluation_option
@accept_unaudited_option
def champion_set(
    target: str,
    version: int,
    reason: str,
    force: bool,
    config_path: Path | None,
    accept_small_evaluation: bool,
    accept_unaudited: tuple[str, ...],
) -> None:
    """Make a version the target's champion (a rollback) if its gates pass.

    The version's own absolute and fairness gates are checked (--force sets it anyway,
    recorded). Who, when and why are tagged on the version in MLflow and written to the
    audit trail. A running service serves it after `POST /reload`.
    """
    from riskmodel.modelling.config import load_config
    from riskmodel.modelling.registry import set_champion
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    if not reason.strip():
        raise click.ClickException("--reason: say why the champion changes (it is recorded)")
    settings = _settings()
    try:
        decision = set_champion(
            settings,
            target,
            str(version),
            reason=reason.strip(),
            operator=_operator(),
            force=force,
            gates=load_config(config_path).gates,
            store=AuditStore(settings.audit_url),
            accept_small_evaluation=accept_small_evaluation,
            accept_unaudited=accept_unaudited,
        )
    except (LookupError, AuditUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in decision.checks:
        click.echo(line)
    if target not in decision.promoted:
        click.echo("refused: a gate failed; nothing changed (--force sets it anyway, recorded). Failed:", err=True)
        for failure in decision.failures:
            click.echo(f"  - {failure}", err=True)
        sys.exit(1)
    forced = " (forced past failed gates)" if not decision.passed else ""
    click.echo(f"champion: {target} v{version}{forced}; a running service serves it after POST /reload")


def ui_command(settings: Settings, port: int, host: str) -> list[str]:
    """The ``mlflow ui`` command line of ``riskmodel ui``: the home's tracking store, absolutely."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        settings.tracking_uri,
        "--registry-store-uri",
        settings.tracking_uri,
        "--default-artifact-root",
        settings.artifact_root.as_uri(),
        "--host",
        host,
        "--port",
        str(port),
    ]


@main.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Open MLflow's UI on this home's runs and registered models (RISKMODEL_HOME's store)."""
    import os

    settings = _settings()
    click.echo(f"MLflow UI on http://{host}:{port} (store {settings.tracking_uri})")
    os.execvpe(sys.executable, ui_command(settings, port, host), dict(os.environ))


@main.group()
def audit() -> None:
    """Check the audit database."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 1 at the first record changed, deleted or out of order.

    Records written before the chain began are counted as unchained, not checked. Exit 2
    when the audit database cannot be read.
    """
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    try:
        report = AuditStore(_settings().audit_url).verify()
    except AuditUnavailable as exc:
        error = click.ClickException(str(exc))
        error.exit_code = 2
        raise error from exc
    for line in report.lines():
        click.echo(line, err=line.startswith("BROKEN"))
    if not report.intact:
        sys.exit(1)


@main.group()
def db() -> None:
    """The audit database's schema (Alembic): `db upgrade` after installing a new version, `db current`."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the audit database in place to this version's schema, keeping its records.

    A database made by a version before migrations is adopted as it is. Safe to run
    again (nothing to do) and while nothing else writes; exit 2 when the database cannot
    be reached or upgraded (then nothing was changed).
    """
    from riskmodel.logs import safe_url
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    settings = _settings()
    store = AuditStore(settings.audit_url)
    try:
        before, after = store.upgrade()
    except AuditUnavailable as exc:
        error = click.ClickException(str(exc))
        error.exit_code = 2
        raise error from exc
    finally:
        store.engine.dispose()
    where = safe_url(settings.audit_url)
    if before == after:
        click.echo(f"audit database {where} is at revision {after}: nothing to upgrade")
    else:
        click.echo(f"audit database {where} upgraded from revision {before or '(before migrations)'} to {after}")


@db.command("current")
def db_current() -> None:
    """The audit database's schema revision and this version's; exit 1 when they differ (run `db upgrade`)."""
    from riskmodel.logs import safe_url
    from riskmodel.records.audit import AuditStore, AuditUnavailable

    settings = _settings()
    store = AuditStore(settings.audit_url)
    try:
        current, head = store.revision()
    except AuditUnavailable as exc:
        error = click.ClickException(str(exc))
        error.exit_code = 2
        raise error from exc
    finally:
        store.engine.dispose()
    click.echo(f"audit database {safe_url(settings.audit_url)}: revision {current or '(none)'}; this version: {head}")
    if current != head:
        click.echo("run `riskmodel db upgrade` to upgrade it", err=True)
        sys.exit(1)


def _echo_batch(result: BatchResult) -> None:
    """What a batch did: its warnings, the reconciliation line, its files and drift."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.reconciliation())
    click.echo(f"scores: {result.output_path}; rejects: {result.rejects_path}")
    from riskmodel.evaluation.drift import drift_not_computed

    not_computed = drift_not_computed(result.rows_scored)  # as the drift file says
    if not_computed:
        click.echo(not_computed)
    elif result.drift_flagged:
        shifted = ", ".join(f"{n} PSI {result.drift[n]:.3f}" for n in result.drift_flagged)
        click.echo(f"drift: {shifted} (threshold {result.drift_threshold})")
    else:
        click.echo(f"drift: no feature beyond PSI {result.drift_threshold}")


def _month_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--month``: a month as YYYY-MM, checked before anything is scored."""
    if value is None:
        return None
    from riskmodel.reporting.report import report_period

    try:
        report_period([], month=value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("month: ")) from None
    return value


def score_batch(
    settings: Settings,
    input_path: Path,
    output_path: Path,
    *,
    report: Path | None,
    rejects: Path | None,
    capacity: int | None,
    explain: bool,
    drop_identifiers: bool = False,
    month: str | None = None,
) -> BatchResult:
    """:func:`~riskmodel.reporting.batch.run_batch` with the champions and audit database of ``settings``; the report.

    Used by ``score`` and ``demo``: a batch's files are published only once its audit
    record is committed (a batch that cannot be recorded publishes nothing and fails).
    """
    from riskmodel.data.contract import ContractError
    from riskmodel.modelling.registry import load_champions
    from riskmodel.records.audit import AuditStore
    from riskmodel.reporting.batch import BatchNotRecorded, run_batch
    from riskmodel.reporting.report import write_report

    try:
        champions = load_champions(settings)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        result = run_batch(
            input_path,
            output_path,
            champions=champions,
            store=AuditStore(settings.audit_url),
            rejects_path=rejects,
            capacity=capacity,
            explain=explain,
            allow_identifiers=drop_identifiers,
            progress=sys.stderr.isatty(),
        )
    except ContractError as exc:
        raise click.ClickException(str(exc)) from exc
    except BatchNotRecorded as exc:  # nothing published: only the counts are said
        click.echo(exc.result.reconciliation(), err=True)
        raise click.ClickException(str(exc)) from exc
    _echo_batch(result)
    if report is not None:
        import os

        from riskmodel.records.audit import AuditUnavailable
        from riskmodel.reporting.report import previous_list_decisions

        capacity = result.capacity or champions.scoring.capacity
        try:  # how many of the previous list have a panel decision (the report says so)
            previous = previous_list_decisions(AuditStore(settings.audit_url), capacity=capacity)
        except AuditUnavailable:
            previous = None
        base_url = os.environ.get("RISKMODEL_PANEL_BASE_URL") or None  # each person links to their page
        from riskmodel.reporting.impact_run import latest_summary

        impact = latest_summary(settings)  # the last `riskmodel impact`, shown once enough decisions matured
        write_report(
            result, champions, report, month=month, panel_base_url=base_url, previous_list=previous, impact=impact
        )
        click.echo(f"report: {report}")
    return result


@main.command()
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Releases to score (CSV or Parquet).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=lambda _ctx, _param, path: _scores_suffix(path),
    help="Scores file (.csv or .parquet).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the panel's HTML report here.",
)
@click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    callback=_month_option,
    help="The month the report covers, named in its title (default: the month most releases fall in).",
)
@rejects_option("OUTPUT.rejects.csv", name="rejects")
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Panel capacity: people in the report's list (default from the model's config).",
)
@click.option(
    "--explain",
    type=click.Choice(["all", "none"]),
    default="all",
    show_default=True,
    help="'none' skips top_factors (national-scale rescoring).",
)
@click.option("--drop-identifiers", is_flag=True, help="Drop direct-identifier columns instead of refusing the file.")
def score(
    input_path: Path,
    output_path: Path,
    report: Path | None,
    month: str | None,
    rejects: Path | None,
    capacity: int | None,
    explain: str,
    drop_identifiers: bool,
) -> None:
    """Score a month's releases with the champion models."""
    score_batch(
        _settings(),
        input_path,
        output_path,
        report=report,
        rejects=rejects,
        capacity=capacity,
        explain=explain == "all",
        drop_identifiers=drop_identifiers,
        month=month,
    )


@main.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with releases and reoffences as of now.",
)
@click.option("--as-of", required=True, help="Extract date of the outcome data (YYYY-MM-DD).")
@click.option(
    "--scores",
    "score_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Earlier score files (default: every batch in the audit database).",
)
@drop_identifiers_option
def backtest(data: Path, as_of: str, score_paths: tuple[Path, ...], drop_identifiers: bool) -> None:
    """Compare earlier scores with the outcomes that have since matured; log to MLflow.

    A target with no figure (no scored release's window and waiting period had closed by
    --as-of, or all that had share one outcome) is named with the reason.
    """
    from riskmodel.reporting.backtest import run_backtest

    try:
        outcome = run_backtest(
            _settings(),
            data,
            as_of=_date(as_of, "--as-of"),
            score_paths=score_paths,
            allow_identifiers=drop_identifiers,
        )
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in outcome.lines():
        click.echo(line)


def _demo_promote(settings: Settings) -> None:
    """Promote the demo's candidates through the configured gates (refused: the demo stops)."""
    from riskmodel.modelling.config import load_config
    from riskmodel.modelling.registry import promote as promote_candidates
    from riskmodel.reporting.batch import operator_name

    decision = promote_candidates(settings, gates=load_config().gates, operator=operator_name())
    for line in decision.checks:
        click.echo(f"  {line}")
    if not decision.passed:
        raise click.ClickException("the candidates failed their gates; nothing promoted")


#: Label of the panel key that ``riskmodel demo`` creates (one live at a time).
DEMO_KEY_LABEL = "demo"


def _demo_key(settings: Settings) -> tuple[str, str]:
    """A new panel key labelled ``demo``, the previous live ones revoked; ``(key, key_id)``."""
    from riskmodel.records.audit import AuditStore

    store = AuditStore(settings.audit_url)
    for old in store.list_keys():
        if old.label == DEMO_KEY_LABEL and old.revoked_at is None:
            store.revoke_key(old.key_id)
            click.echo(f"revoked the previous demo key {old.key_id}")
    return store.create_key("panel", label=DEMO_KEY_LABEL)


@main.command()
@click.option(
    "--people", type=click.IntRange(min=500), default=20_000, show_default=True, help="People in the synthetic cohort."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--port", type=int, default=3000, show_default=True)
@click.option(
    "--serve/--no-serve", "serve_after", default=True, show_default=True, help="Start the scoring service at the end."
)
def demo(people: int, seed: int, port: int, serve_after: bool) -> None:
    """The main job on embedded defaults: synthetic cohort, train, register, promote, score the latest month, serve."""
    import pandas as pd

    from riskmodel.data.synth import format_summary, generate_cohort, summarise, write_cohort
    from riskmodel.modelling.config import load_config

    settings = _settings()
    click.echo(f"riskmodel home: {settings.home}")
    data = settings.data_dir / "synthetic"
    cohort = generate_cohort(people, seed=seed)
    write_cohort(cohort, data)
    click.echo(f"[1/5] synthetic cohort of {people} people written to {data}")
    click.echo(format_summary(summarise(cohort)))
    click.echo(f"extract date (as_of): {cohort.as_of.isoformat()}")

    click.echo("[2/5] training the reoffence, harm and frequency models (tracked in MLflow)")
    trained = _train_and_report(settings, data, as_of=cohort.as_of, config=load_config(), reuse=True)

    click.echo("[3/5] promoting the candidates through the quality and fairness gates")
    if trained:
        _demo_promote(settings)
    else:
        click.echo("  nothing new to promote")

    month_start = (pd.Timestamp(cohort.as_of) - pd.offsets.MonthBegin(1)).normalize()
    releases = cohort.releases
    latest = releases.loc[releases["release_date"] >= month_start]
    month = month_start.strftime("%Y-%m")
    month_dir = settings.reports_dir / month
    month_dir.mkdir(parents=True, exist_ok=True)
    latest_path = month_dir / "releases.csv"
    latest.assign(release_date=latest["release_date"].dt.strftime("%Y-%m-%d")).drop(columns=[]).to_csv(
        latest_path, index=False
    )
    click.echo(f"[4/5] scoring the {len(latest)} releases of {month}")
    score_batch(
        settings,
        latest_path,
        month_dir / "scores.csv",
        report=month_dir / "report.html",
        month=month,
        rejects=None,
        capacity=None,
        explain=True,
    )

    key, key_id = _demo_key(settings)
    click.echo(
        f"[5/5] panel API key {key_id} created. Try:\n"
        f"  curl -s -X POST http://127.0.0.1:{port}/score -H 'Authorization: Bearer {key}'"
        f" -H 'Content-Type: application/json' -d @{month_dir / 'example_request.json'}\n"
        f"  or open the panel's workspace at http://127.0.0.1:{port}/panel/ and sign in with the key {key}"
    )
    example = latest.head(1).assign(release_date=latest.head(1)["release_date"].dt.strftime("%Y-%m-%d"))
    (month_dir / "example_request.json").write_text('{"releases": ' + example.to_json(orient="records") + "}")
    if serve_after:
        import os

        env = {**os.environ, "RISKMODEL_HOME": str(settings.home)}
        env.setdefault("BENTOML_HOME", str(settings.home / "bentoml"))
        click.echo(f"serving on http://127.0.0.1:{port} (Ctrl-C to stop)")
        os.execvpe(sys.executable, serve_command(port, "127.0.0.1"), env)


@main.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with releases and reoffences as of --as-of (and maybe a decisions table).",
)
@click.option("--as-of", required=True, help="Extract date of the outcome data (YYYY-MM-DD).")
@click.option(
    "--decisions",
    "decisions_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Decisions table, CSV or Parquet (default: DATA/decisions.*, else the workspace's decision log).",
)
@click.option(
    "--scores",
    "score_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scores files with the expected counts (default: the batch outputs under RISKMODEL_HOME/reports/).",
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the HTML page here."
)
@rejects_option("RISKMODEL_HOME/reports/impact/decisions_rejects.csv")
@click.option("--n-boot", type=click.IntRange(min=100), default=1000, show_default=True, help="Bootstrap resamples.")
def impact(
    data: Path,
    as_of: str,
    decisions_path: Path | None,
    score_paths: tuple[Path, ...],
    report: Path | None,
    rejects_path: Path | None,
    n_boot: int,
) -> None:
    """Did the panel's attention change reoffending? Observed against expected, adopted against not."""
    from riskmodel.data.contract import ContractError
    from riskmodel.reporting.impact_report import headline
    from riskmodel.reporting.impact_run import run_impact

    settings = _settings()
    as_of_day = _date(as_of, "--as-of")
    try:
        run = run_impact(
            settings,
            data,
            as_of=as_of_day,
            decisions_path=decisions_path,
            score_paths=list(score_paths),
            n_boot=n_boot,
            report=report,
        )
    except (ContractError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    if run.decisions_table is not None:
        _report_rows(run.decisions_table, rejects_path or settings.reports_dir / "impact" / "decisions_rejects.csv")
    summary = run.summary
    counts = summary["counts"]
    click.echo(f"decisions: {run.decisions_source}")
    click.echo(
        f"decided releases {counts['decided']}: used {counts['used']} (adopted {counts['adopted']}, not adopted"
        f" {counts['not_adopted']}); left out: unmatured {counts['unmatured']}, no expected count"
        f" {counts['no_expected']}, unknown release {counts['unknown_release']}"
    )
    click.echo(f"expected counts: {summary['expected_source'] or 'none'}")
    for name, group in summary["groups"].items():
        if group["ratio"] is not None:
            interval = f" [{group['low']:.2f}, {group['high']:.2f}]" if group["low"] is not None else ""
            click.echo(
                f"{name}: observed {group['observed']:.0f}, expected {group['expected']:.1f}, O/E {group['ratio']:.2f}"
                + interval
            )
    click.echo(headline(summary))
    for note in summary.get("notes", []):
        click.echo(f"warning: {note}", err=True)
    if run.run_id:
        click.echo(f"logged to MLflow experiment 'impact', run {run.run_id}")
    if report is not None:
        click.echo(f"report: {report}")


if __name__ == "__main__":  # pragma: no cover
    main()
