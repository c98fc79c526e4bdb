"""The ``riskmodel`` command: thin wrappers that turn options into package calls.

Heavy libraries are imported inside each command so that ``--help`` stays instant.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from riskmodel.settings import Settings

__all__ = ["main"]


def _settings() -> Settings:
    return Settings.from_env().ensure()


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{name}: {value!r} is not an ISO 8601 date (YYYY-MM-DD)")


def _label_config(window_days, harm_window_days, waiting_days, base=None):
    from dataclasses import replace

    from riskmodel.labels import LabelConfig

    config = base or LabelConfig()
    changes = {
        k: v
        for k, v in dict(
            window_days=window_days, harm_window_days=harm_window_days, waiting_days=waiting_days
        ).items()
        if v is not None
    }
    try:
        return replace(config, **changes)
    except ValueError as exc:
        _fail(str(exc))


def label_options(func):
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
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder (default RISKMODEL_HOME/data/synthetic).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
def synth(people: int, seed: int, out_dir: Path | None, fmt: str) -> None:
    """Write a synthetic historic cohort: releases, reoffences and truth."""
    from riskmodel.synth import format_summary, generate_cohort, summarise, write_cohort

    out_dir = out_dir or _settings().data_dir / "synthetic"
    cohort = generate_cohort(people, seed=seed)
    paths = write_cohort(cohort, out_dir, fmt=fmt)
    click.echo(format_summary(summarise(cohort)))
    click.echo(f"extract date (as_of): {cohort.as_of.isoformat()}")
    for name, path in paths.items():
        click.echo(f"wrote {name}: {path}")


def _write_rejects(rejects, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.to_csv(path, index=False)


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path), default=None, help="Rejects file (default FOLDER/rejects.csv).")
@click.option("--drop-identifiers", is_flag=True, help="Drop direct-identifier columns instead of refusing the file.")
def validate(folder: Path, rejects_path: Path | None, drop_identifiers: bool) -> None:
    """Validate FOLDER's releases and reoffences against the data contract."""
    from riskmodel.contract import ContractError, load_cohort

    try:
        cohort = load_cohort(folder, allow_identifiers=drop_identifiers)
    except ContractError as exc:
        _fail(str(exc))
    for warning in cohort.warnings:
        click.echo(f"warning: {warning}", err=True)
    rejects_path = rejects_path or folder / "rejects.csv"
    _write_rejects(cohort.rejects, rejects_path)
    click.echo(cohort.reconciliation())
    click.echo(f"rejects: {rejects_path}")
    if len(cohort.releases.data) == 0:
        _fail("no usable release rows")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as-of", required=True, help="Extract date (YYYY-MM-DD): later outcomes are unknown.")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path), help="Labels CSV to write.")
@label_options
def labels(folder: Path, as_of: str, out_path: Path, window_days, harm_window_days, waiting_days) -> None:
    """Derive reoffence, frequency and harm labels for every release in FOLDER."""
    from riskmodel.contract import ContractError, load_cohort
    from riskmodel.labels import derive_labels

    as_of_date = _date(as_of, "--as-of")
    config = _label_config(window_days, harm_window_days, waiting_days)
    try:
        cohort = load_cohort(folder)
    except ContractError as exc:
        _fail(str(exc))
    click.echo(cohort.reconciliation())
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
def ogrs3_command(folder: Path, out_path: Path) -> None:
    """Score FOLDER's releases with the OGRS3 reference formula."""
    from riskmodel.contract import ContractError, find_table, read_table, validate_releases
    from riskmodel.ogrs3 import ogrs3

    try:
        table = validate_releases(read_table(find_table(folder, "releases")))
    except ContractError as exc:
        _fail(str(exc))
    click.echo(table.reconciliation())
    scores = ogrs3(table.data)
    scores.insert(0, "release_id", table.data["release_id"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out_path, index=False)
    click.echo(f"ogrs3: {int(scores['ogrs3_1y'].notna().sum())} scored, {int(scores['ogrs3_1y'].isna().sum())} unavailable; wrote {out_path}")


if __name__ == "__main__":  # pragma: no cover
    main()
