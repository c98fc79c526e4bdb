"""``riskmodel ui``: MLflow's UI on the home's own store, absolutely (issue 15, item 2)."""

from __future__ import annotations

import sys

from riskmodel.cli import ui_command
from riskmodel.settings import Settings


def test_the_command_line_names_the_homes_store_absolutely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"RISKMODEL_HOME": "relative-home"})
    argv = ui_command(settings, 5123, "127.0.0.1")
    assert argv[:4] == [sys.executable, "-m", "mlflow", "ui"]
    options = dict(zip(argv[4::2], argv[5::2], strict=True))
    home = (tmp_path / "relative-home").resolve()
    assert options["--backend-store-uri"] == f"sqlite:///{home / 'mlflow.db'}"
    assert options["--registry-store-uri"] == options["--backend-store-uri"]
    assert options["--default-artifact-root"] == (home / "mlartifacts").as_uri()
    assert options["--port"] == "5123"
    assert options["--host"] == "127.0.0.1"
