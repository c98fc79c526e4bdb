"""`riskmodel validate` only reads its input folder.

The rejects file goes where --rejects says, or into the current directory.
"""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.cli import main


@pytest.fixture
def extract(tmp_path, make_releases, make_reoffences):
    """An input folder with one bad release row, as a data extract arrives."""
    folder = tmp_path / "extract"
    folder.mkdir()
    make_releases(3, changes={1: {"sex": "X"}}).to_csv(folder / "releases.csv", index=False)
    make_reoffences(2).to_csv(folder / "reoffences.csv", index=False)
    return folder


def test_the_default_rejects_file_goes_to_the_current_directory_not_the_input_folder(
    runner, tmp_path, extract, monkeypatch
):
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)

    result = runner.invoke(main, ["validate", str(extract)])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in extract.iterdir()) == ["releases.csv", "reoffences.csv"]  # untouched
    assert f"rejects: {here / 'rejects.csv'}" in result.stdout.splitlines()
    assert pd.read_csv(here / "rejects.csv")["column"].tolist() == ["sex"]


def test_rejects_go_where_the_option_says(runner, tmp_path, extract, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chosen = tmp_path / "checks" / "october.csv"

    result = runner.invoke(main, ["validate", str(extract), "--rejects", str(chosen)])

    assert result.exit_code == 0, result.output
    assert pd.read_csv(chosen)["column"].tolist() == ["sex"]
    assert not (tmp_path / "rejects.csv").exists() and not (extract / "rejects.csv").exists()


@pytest.mark.parametrize("inside", [".", "sub"])
def test_run_from_inside_the_input_folder_the_default_is_refused(runner, extract, monkeypatch, inside):
    (extract / "sub").mkdir()
    monkeypatch.chdir(extract / inside)

    result = runner.invoke(main, ["validate", str(extract)])

    assert result.exit_code == 1
    assert "--rejects: the default rejects file would be written into the input folder" in result.stderr
    assert not list(extract.rglob("rejects.csv"))


def test_the_help_says_where_the_rejects_file_goes(runner):
    result = runner.invoke(main, ["validate", "--help"])
    assert "rejects.csv in the current directory; never written into FOLDER" in " ".join(result.stdout.split())
