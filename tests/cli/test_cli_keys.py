"""``riskmodel keys create|list|revoke`` through click's runner."""

from __future__ import annotations

import re

import pytest

from riskmodel.cli import main
from riskmodel.records.audit import AuditStore
from riskmodel.settings import Settings

KEY = re.compile(r"rk_([0-9a-f]{12})_[A-Za-z0-9_-]{40,}")


@pytest.fixture
def store():
    s = AuditStore(Settings.from_env().audit_url)
    yield s
    s.engine.dispose()


def create(runner, role: str, label: str = "") -> tuple[str, str, str]:
    result = runner.invoke(main, ["keys", "create", "--role", role, "--label", label])
    assert result.exit_code == 0, result.output
    return result.stdout, *KEY.fullmatch(result.stdout.splitlines()[-1]).group(0, 1)


@pytest.mark.parametrize("role", ["panel", "operator", "auditor"])
def test_create_prints_the_key_once_alone_on_the_last_line(runner, store, role):
    out, key, key_id = create(runner, role, "IOM panel, north")
    assert out.splitlines()[-1] == key  # alone: nothing else on the line
    assert out.count(key) == 1
    assert key_id in out.splitlines()[0] and role in out.splitlines()[0]
    found = store.authenticate(key)
    assert (found.key_id, found.role, found.label) == (key_id, role, "IOM panel, north")


def test_the_database_holds_the_hash_not_the_key(runner, isolated_home):
    _, key, _ = create(runner, "panel")
    data = b"".join(p.read_bytes() for p in isolated_home.iterdir() if p.name.startswith("audit.db"))
    assert data and key.encode() not in data
    assert key.split("_", 2)[2].encode() not in data


def test_list_shows_every_key_without_the_key_itself(runner):
    _, panel, panel_id = create(runner, "panel", "panel member")
    _, auditor, auditor_id = create(runner, "auditor", "audit team")
    result = runner.invoke(main, ["keys", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split("\t") == ["id", "role", "label", "created", "revoked"]
    lines = {line.split("\t")[0]: line.split("\t") for line in rows}
    assert set(lines) == {panel_id, auditor_id}
    assert lines[panel_id][1:3] == ["panel", "panel member"]
    assert lines[auditor_id][1:3] == ["auditor", "audit team"]
    assert lines[panel_id][4] == "-"  # not revoked
    assert panel not in result.output and auditor not in result.output


def test_revoke(runner, store):
    _, key, key_id = create(runner, "operator")
    _, other, _ = create(runner, "operator")
    result = runner.invoke(main, ["keys", "revoke", key_id])
    assert result.exit_code == 0, result.output
    assert f"revoked {key_id}" in result.stdout
    assert store.authenticate(key) is None
    assert store.authenticate(other) is not None
    (line,) = [line for line in runner.invoke(main, ["keys", "list"]).stdout.splitlines() if line.startswith(key_id)]
    assert line.split("\t")[4] != "-"


@pytest.mark.parametrize("key_id", ["000000000000", "already-revoked"])
def test_revoking_an_unknown_or_revoked_key_fails_cleanly(runner, key_id):
    if key_id == "already-revoked":
        _, _, key_id = create(runner, "panel")
        assert runner.invoke(main, ["keys", "revoke", key_id]).exit_code == 0
    result = runner.invoke(main, ["keys", "revoke", key_id])
    assert result.exit_code == 1  # click.ClickException
    assert result.stderr.strip() == f"Error: no live key with id {key_id}"


def test_create_refuses_an_unknown_role(runner, store):
    result = runner.invoke(main, ["keys", "create", "--role", "admin"])
    assert result.exit_code == 2
    assert "admin" in result.output
    assert store.list_keys() == []
