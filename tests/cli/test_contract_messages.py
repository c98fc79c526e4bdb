"""A file the contract refuses whole is named, with what was found and, for another separator, what to do."""

from __future__ import annotations

import pytest
from _helpers_root import root_conftest

from riskmodel.cli import main


def write(folder, name: str, rows: list[dict[str, str]], sep: str) -> None:
    header = sep.join(rows[0])
    lines = [header, *(sep.join(r.values()) for r in rows)]
    (folder / name).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("sep", "words"), [(";", "semicolon-separated"), ("\t", "tab-separated"), (",", None)])
def test_a_missing_column_names_the_file_the_columns_found_and_a_separator_hint(tmp_path, runner, sep, words):
    release = dict(root_conftest().VALID_RELEASE)
    if sep == ",":
        del release["sex"]
    write(tmp_path, "releases.csv", [release], sep)
    write(tmp_path, "reoffences.csv", [dict(root_conftest().VALID_REOFFENCE)], ",")

    result = runner.invoke(main, ["validate", str(tmp_path), "--rejects", str(tmp_path.parent / "rejects.csv")])

    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert str(tmp_path / "releases.csv") in message
    assert "columns found: " in message
    if words:
        assert f"The file looks {words}" in message
    else:
        assert "'sex' is absent" in message and "separated" not in message
        assert "columns found: release_id, person_id, release_date, age_at_release" in message
