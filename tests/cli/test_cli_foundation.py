"""The foundation commands through click's runner: validate, labels, ogrs3, and --help."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskmodel.cli import main
from riskmodel.data.contract import REJECT_COLUMNS


@pytest.fixture(autouse=True)
def _workdir(tmp_path_factory, monkeypatch):
    """Each command runs from a folder of its own: validate writes its default rejects file there."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def folder(tmp_path, make_releases, make_reoffences):
    """Three valid releases and reoffences as CSV."""
    make_releases(3).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(3).to_csv(tmp_path / "reoffences.csv", index=False)
    return tmp_path


def assert_clean_failure(result, *words):
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")  # click.ClickException
    for word in words:
        assert word in lines[0]


# --------------------------------------------------------------------------- help


def test_main_help(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "labels", "ogrs3"):
        assert command in result.output


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help(runner, command):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main {command}" in result.output or f"Usage: riskmodel {command}" in result.output


# --------------------------------------------------------------------------- validate


def test_validate_a_good_folder(runner, folder):
    result = runner.invoke(main, ["validate", str(folder)])

    assert result.exit_code == 0, result.output
    assert "releases: rows read 3 = rows accepted 3 + rows rejected 0" in result.stdout
    assert "reoffences: rows read 3 = rows accepted 3 + rows rejected 0" in result.stdout
    rejects = pd.read_csv("rejects.csv")  # in the current directory, not in the input folder
    assert list(rejects.columns) == list(REJECT_COLUMNS) and rejects.empty


def test_validate_writes_bad_rows_to_the_rejects_file(runner, tmp_path, make_releases, make_reoffences):
    make_releases(4, changes={2: {"sex": "X"}}).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(2, changes={0: {"proven_date": "2019-01-01"}}).to_csv(tmp_path / "reoffences.csv", index=False)
    rejects_path = tmp_path / "out" / "my_rejects.csv"

    result = runner.invoke(main, ["validate", str(tmp_path), "--rejects", str(rejects_path)])

    assert result.exit_code == 0, result.output
    assert "releases: rows read 4 = rows accepted 3 + rows rejected 1" in result.stdout
    assert "reoffences: rows read 2 = rows accepted 1 + rows rejected 1" in result.stdout
    rejects = pd.read_csv(rejects_path, dtype=str)
    assert rejects[["table", "line", "column", "value"]].to_numpy().tolist() == [
        ["releases", "4", "sex", "X"],
        ["reoffences", "2", "proven_date", "2019-01-01"],
    ]
    assert rejects.loc[0, "release_id"] == "r3"
    assert rejects["reason"].notna().all()


def test_validate_refuses_a_file_without_a_required_column(runner, tmp_path, make_releases, make_reoffences):
    make_releases(2).drop(columns=["previous_sanctions"]).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(2).to_csv(tmp_path / "reoffences.csv", index=False)

    result = runner.invoke(main, ["validate", str(tmp_path)])

    assert_clean_failure(result, "previous_sanctions", "absent")
    assert not Path("rejects.csv").exists()


def test_validate_refuses_a_postcode_column_unless_dropped(runner, tmp_path, make_releases, make_reoffences):
    make_releases(2).assign(postcode="AB1 2CD").to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(2).to_csv(tmp_path / "reoffences.csv", index=False)

    result = runner.invoke(main, ["validate", str(tmp_path)])
    assert_clean_failure(result, "postcode", "identifier")
    assert "AB1 2CD" not in result.output

    result = runner.invoke(main, ["validate", str(tmp_path), "--drop-identifiers"])
    assert result.exit_code == 0, result.output
    assert "rows accepted 2" in result.stdout
    assert "AB1 2CD" not in Path("rejects.csv").read_text()


def test_validate_refuses_a_corrupt_file(runner, tmp_path, make_reoffences):
    (tmp_path / "releases.parquet").write_bytes(b"PAR1 not really PAR1")
    make_reoffences(1).to_csv(tmp_path / "reoffences.csv", index=False)
    assert_clean_failure(runner.invoke(main, ["validate", str(tmp_path)]), "releases.parquet")


def test_validate_fails_when_no_release_row_is_usable(runner, tmp_path, make_releases, make_reoffences):
    make_releases(2, changes={0: {"sex": "?"}, 1: {"sex": "?"}}).to_csv(tmp_path / "releases.csv", index=False)
    make_reoffences(0).reindex(columns=["person_id", "offence_date", "proven_date", "offence"]).to_csv(
        tmp_path / "reoffences.csv", index=False
    )
    result = runner.invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code != 0
    assert "rows accepted 0 + rows rejected 2" in result.stdout
    assert len(pd.read_csv("rejects.csv")) == 2


# --------------------------------------------------------------------------- labels


@pytest.fixture
def label_folder(tmp_path):
    """r1 released 2020-01-01 (reoffends day 20, proven day 40); r2 released 2021-01-01
    (reoffends only in December 2024); r3 released 2020-01-01, bad sex (rejected)."""
    base = {
        "sex": "M",
        "age_at_release": "30",
        "previous_sanctions": "2",
        "index_offence": "violence",
    }
    pd.DataFrame(
        [
            {"release_id": "r1", "person_id": "p1", "release_date": "2020-01-01", **base},
            {"release_id": "r2", "person_id": "p2", "release_date": "2021-01-01", **base},
            {"release_id": "r3", "person_id": "p3", "release_date": "2020-01-01", **base, "sex": "?"},
        ]
    ).to_csv(tmp_path / "releases.csv", index=False)
    pd.DataFrame(
        [
            {"person_id": "p1", "offence_date": "2020-01-21", "proven_date": "2020-02-10", "offence": "robbery"},
            # long after every window: only dates the extract to late 2024, so as_of 2025-01-01 is allowed
            {"person_id": "p2", "offence_date": "2024-12-01", "proven_date": "2024-12-20", "offence": "robbery"},
        ]
    ).to_csv(tmp_path / "reoffences.csv", index=False)
    return tmp_path


def test_labels_writes_every_accepted_release_with_blanks_where_ineligible(runner, label_folder, tmp_path):
    out = tmp_path / "labels" / "labels.csv"
    # as_of 2021-07-02 = 2020-01-01 + 548: r1 eligible for reoffence, not for harm (needs + 913);
    # r2 (2021-01-01) eligible for nothing
    result = runner.invoke(main, ["labels", str(label_folder), "--as-of", "2021-07-02", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "releases: rows read 3 = rows accepted 2 + rows rejected 1" in result.stdout
    lines = out.read_text().splitlines()
    assert lines == [
        "release_id,reoffence,frequency,harm",
        "r1,1,1,",
        "r2,,,",
    ]
    # the rejected release is reported, not dropped silently
    rejects = pd.read_csv(tmp_path / "labels" / "labels.rejects.csv", dtype=str)
    assert rejects[["line", "release_id", "column"]].to_numpy().tolist() == [["4", "r3", "sex"]]


def test_labels_warns_about_undeclared_columns(runner, label_folder, tmp_path):
    releases = pd.read_csv(label_folder / "releases.csv", dtype=str).assign(local_flag="1")
    releases.to_csv(label_folder / "releases.csv", index=False)
    result = runner.invoke(
        main, ["labels", str(label_folder), "--as-of", "2025-01-01", "--out", str(tmp_path / "l.csv")]
    )
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "local_flag" in line] != []


def test_labels_as_of_a_day_earlier_censors_r1(runner, label_folder, tmp_path):
    out = tmp_path / "labels.csv"
    result = runner.invoke(main, ["labels", str(label_folder), "--as-of", "2021-07-01", "--out", str(out)])
    assert result.exit_code == 0, result.output  # nothing eligible is not an error
    assert out.read_text().splitlines()[1:] == ["r1,,,", "r2,,,"]


def test_labels_harm_when_long_enough(runner, label_folder, tmp_path):
    out = tmp_path / "labels.csv"
    result = runner.invoke(main, ["labels", str(label_folder), "--as-of", "2025-01-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[1:] == ["r1,1,1,1", "r2,0,0,0"]


def test_labels_honours_window_and_waiting_days(runner, label_folder, tmp_path):
    out = tmp_path / "labels.csv"

    def labels(as_of: str, *windows: str) -> list[str]:
        """The label rows written for ``--as-of`` and the window flags."""
        args = ["labels", str(label_folder), "--as-of", as_of, "--out", str(out), *windows]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        return out.read_text().splitlines()[1:]

    # window 19 days: the day-20 offence falls outside
    assert labels("2025-01-01", "--window-days", "19")[0] == "r1,0,0,1"
    # window 20 and waiting 19 days: proven on day 40 = 20 + 20, one day too late
    assert labels("2025-01-01", "--window-days", "20", "--waiting-days", "19")[0] == "r1,0,0,1"
    # waiting 20 days: proven on the last day, counts
    assert labels("2025-01-01", "--window-days", "20", "--waiting-days", "20")[0] == "r1,1,1,1"
    # and eligibility moves with them: r1 + 40 days = 2020-02-10
    assert labels("2020-02-10", "--window-days", "20", "--waiting-days", "20") == ["r1,1,1,", "r2,,,"]


@pytest.mark.parametrize(
    ("options", "word"),
    [
        (["--as-of", "01/07/2021"], "--as-of"),
        (["--as-of", "2021-07-02", "--window-days", "0"], "window_days"),
        (["--as-of", "2021-07-02", "--waiting-days", "-1"], "waiting_days"),
    ],
)
def test_labels_bad_options_fail_cleanly(runner, label_folder, tmp_path, options, word):
    result = runner.invoke(main, ["labels", str(label_folder), "--out", str(tmp_path / "x.csv"), *options])
    assert_clean_failure(result, word)


# --------------------------------------------------------------------------- ogrs3


def test_ogrs3_command_scores_accepted_releases(runner, tmp_path, make_releases):
    make_releases(3, changes={1: {"age_at_first_sanction": ""}}).to_csv(tmp_path / "releases.csv", index=False)
    out = tmp_path / "ogrs3.csv"

    result = runner.invoke(main, ["ogrs3", str(tmp_path), "--out", str(out)])

    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert scores["release_id"].tolist() == ["r1", "r2", "r3"]
    assert scores["ogrs3_1y"].notna().tolist() == [True, False, True]
    assert "age_at_first_sanction" in scores.loc[1, "ogrs3_unavailable"]
    assert "2 scored, 1 unavailable" in result.stdout
    assert {"arp_2y", "arp_band", "arp_reason"} <= set(scores.columns)
    assert scores["arp_2y"].between(0, 1).tolist() == scores["ogrs3_1y"].notna().tolist()
    assert "arp: 2 scored, 1 unavailable" in result.stdout


def test_ogrs3_command_reports_parquet_rejects_by_row_number(runner, tmp_path, make_releases):
    make_releases(3, changes={2: {"index_offence": "arson"}}).to_parquet(tmp_path / "releases.parquet")
    out = tmp_path / "ogrs3.csv"

    result = runner.invoke(main, ["ogrs3", str(tmp_path), "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "releases: rows read 3 = rows accepted 2 + rows rejected 1" in result.stdout
    rejects = pd.read_csv(tmp_path / "ogrs3.rejects.csv", dtype=str)
    assert rejects[["line", "release_id", "column"]].to_numpy().tolist() == [["3", "r3", "index_offence"]]
    assert pd.read_csv(out)["release_id"].tolist() == ["r1", "r2"]
