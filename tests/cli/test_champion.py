"""``riskmodel champion show`` / ``champion set``: rollback, recorded in MLflow and the audit trail (issue 15, item 1).

Its own home (the session's is read-only): two trained and promoted versions of every
model, so that version 2 is champion and version 1 can be put back.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from _helpers_root import root_conftest

from riskmodel.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from servers import serve  # noqa: E402, F401  (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # its fixture trains two versions

conftest = root_conftest()
TARGETS = ("reoffence", "harm", "frequency")


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """A home whose every target has versions 1 and 2, version 2 champion; and a gates file."""
    root = tmp_path_factory.mktemp("champion_home")
    conftest.build_trained_home(root)
    home = conftest.build_trained_home(root)
    assert set(home.versions.values()) == {"2"}
    gates = root / "gates.yaml"
    gates.write_text(yaml.safe_dump(conftest.TEST_CONFIG))
    strict = root / "strict.yaml"
    strict.write_text(yaml.safe_dump({**conftest.TEST_CONFIG, "gates": {"min_auc": 0.99}}))
    return home, gates, strict


@pytest.fixture
def cli(two_versions, runner):
    home = two_versions[0]

    def invoke(*args: str):
        return runner.invoke(main, list(args), env=home.env())

    return invoke


def show(cli) -> dict[str, list[str]]:
    result = cli("champion", "show")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split("\t") == ["target", "version", "set at", "set by", "forced", "gates", "reason"]
    return {row.split("\t")[0]: row.split("\t") for row in rows}


def audit_events(home):
    from riskmodel.records.audit import AuditStore

    return AuditStore(home.settings.audit_url).events(kind="champion_set")


def version_tags(home, target: str, version: str) -> dict[str, str]:
    from riskmodel.modelling.registry import connect, model_name

    return connect(home.settings).get_model_version(model_name(target), version).tags


def test_show_names_each_champion_with_when_who_and_gates(cli):
    shown = show(cli)
    assert sorted(shown) == sorted(TARGETS)
    for target in TARGETS:
        _, version, set_at, set_by, forced, gates, reason = shown[target]
        assert version == "2"
        assert set_at.startswith("20")
        assert set_by not in ("", "-")
        assert forced == "-"
        assert "passed" in gates and "0 failed" in gates
        assert reason == "promoted: every gate passed"


def test_set_rolls_back_and_records_who_when_why(cli, two_versions):
    home, gates, _ = two_versions
    result = cli("champion", "set", "--target", "harm", "--version", "1", "--reason", "v2 misranks", "--config", gates)
    assert result.exit_code == 0, result.output
    assert "champion: harm v1" in result.output
    assert show(cli)["harm"][1] == "1"
    assert show(cli)["harm"][6] == "v2 misranks"
    assert show(cli)["reoffence"][1] == "2"  # only the target asked for moves
    tags = version_tags(home, "harm", "1")
    assert tags["champion.reason"] == "v2 misranks"
    assert tags["champion.forced"] == "false"
    assert tags["champion.set_by"] and tags["champion.set_at"]
    assert "0 failed" in tags["champion.gates"]
    event = audit_events(home)[0]
    assert event["details"]["target"] == "harm" and event["details"]["version"] == "1"
    assert event["details"]["previous"] == "2" and event["details"]["reason"] == "v2 misranks"
    assert event["details"]["forced"] is False and event["actor"] == tags["champion.set_by"]


def test_set_is_refused_when_a_gate_fails_and_nothing_changes(cli, two_versions):
    home, _, strict = two_versions
    before, events = show(cli)["reoffence"], len(audit_events(home))
    result = cli("champion", "set", "--target", "reoffence", "--version", "1", "--reason", "try", "--config", strict)
    assert result.exit_code == 1
    assert "refused" in result.output and "FAIL" in result.output
    assert show(cli)["reoffence"] == before
    assert len(audit_events(home)) == events


def test_force_sets_it_anyway_and_is_recorded(cli, two_versions):
    home, _, strict = two_versions
    result = cli(
        "champion", "set", "--target", "reoffence", "--version", "1", "--reason", "incident 42", "--force",
        "--config", strict,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "FAIL" in result.output and "forced" in result.output
    assert show(cli)["reoffence"][1] == "1" and show(cli)["reoffence"][4] == "forced"
    assert version_tags(home, "reoffence", "1")["champion.forced"] == "true"
    event = audit_events(home)[0]
    assert event["details"]["forced"] is True and event["details"]["failures"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "harm", "--version", "9", "--reason", "x"), "has no version '9'"),
        (("--target", "harm", "--version", "1", "--reason", "  "), "--reason"),
        (("--target", "nope", "--version", "1", "--reason", "x"), "Invalid value for '--target'"),
        (("--target", "harm", "--version", "1"), "Missing option '--reason'"),
    ],
)
def test_set_refuses_what_it_cannot_do_without_a_traceback(cli, args, message):
    result = cli("champion", "set", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_running_service_serves_the_set_champion_after_reload(cli, two_versions, serve):  # noqa: F811
    home, gates, _ = two_versions
    for target in TARGETS:
        result = cli("champion", "set", "--target", target, "--version", "2", "--reason", "back", "--config", gates)
        assert result.exit_code == 0, result.output
    server = serve(home.env())
    with server.client("auditor") as client:
        assert {m["version"] for m in client.get("/model").json()["models"].values()} == {"2"}
    result = cli("champion", "set", "--target", "reoffence", "--version", "1", "--reason", "undo", "--config", gates)
    assert result.exit_code == 0, result.output
    with server.client("operator") as client:
        reloaded = client.post("/reload")
        assert reloaded.status_code == 200, reloaded.text
    with server.client("auditor") as client:
        models = client.get("/model").json()["models"]
    assert models["reoffence"]["version"] == "1"
    assert models["harm"]["version"] == "2"
