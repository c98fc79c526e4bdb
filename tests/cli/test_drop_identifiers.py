"""Every command that reads the tables takes ``--drop-identifiers``, which the refusal suggests (issue 15, item 6)."""

from __future__ import annotations

import pytest

from riskmodel.cli import main


@pytest.fixture
def folder_with_names(tmp_path, make_releases, make_reoffences):
    """A folder whose tables carry a direct identifier (``surname``)."""
    releases = make_releases(3).assign(surname=["Smith", "Jones", "Brown"])
    reoffences = make_reoffences(3).assign(surname=["Smith", "Jones", "Brown"])
    releases.to_csv(tmp_path / "releases.csv", index=False)
    reoffences.to_csv(tmp_path / "reoffences.csv", index=False)
    return tmp_path


COMMANDS = {
    "labels": lambda folder: ["labels", str(folder), "--as-of", "2020-06-01", "--out", str(folder / "out" / "l.csv")],
    "ogrs3": lambda folder: ["ogrs3", str(folder), "--out", str(folder / "out" / "o.csv")],
    "train": lambda folder: ["train", "--data", str(folder), "--as-of", "2020-06-01"],
    "validate": lambda folder: ["validate", str(folder), "--rejects", str(folder / "out" / "r.csv")],
    "backtest": lambda folder: ["backtest", "--data", str(folder), "--as-of", "2020-06-01"],
}
#: Commands that read the tables and then need more than three rows (a model, earlier scores).
NEED_MORE = ("train", "backtest")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_refusal_suggests_the_option(runner, folder_with_names, command):
    result = runner.invoke(main, COMMANDS[command](folder_with_names))
    assert result.exit_code != 0
    assert "--drop-identifiers" in result.output
    assert "Smith" not in result.output  # the refusal names the column, never a value


@pytest.mark.parametrize(
    "command", [pytest.param(c, marks=pytest.mark.slow) if c == "train" else c for c in sorted(COMMANDS)]
)
def test_every_command_reading_the_tables_takes_the_option(runner, folder_with_names, command):
    result = runner.invoke(main, [*COMMANDS[command](folder_with_names), "--drop-identifiers"])
    assert "No such option" not in result.output
    assert "--drop-identifiers" not in result.output  # not refused again
    if command not in NEED_MORE:  # three rows train nothing and there are no earlier scores, but they are read
        assert result.exit_code == 0, result.output


def test_labels_and_ogrs3_write_no_identifier(runner, folder_with_names):
    for command in ("labels", "ogrs3"):
        result = runner.invoke(main, [*COMMANDS[command](folder_with_names), "--drop-identifiers"])
        assert result.exit_code == 0, result.output
    for written in (folder_with_names / "out").glob("*.csv"):
        assert "Smith" not in written.read_text()
