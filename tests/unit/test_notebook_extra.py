"""The `notebook` extra: JupyterLab with ipywidgets (so progress bars render), opened as the README says; not in CI."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_notebook_extra_has_jupyterlab_and_ipywidgets_and_ci_does_not_install_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {requirement.split(">")[0].split("=")[0].strip() for requirement in extras["notebook"]}
    assert {"jupyterlab", "ipywidgets"} <= names
    assert "bash scripts/setup test\n" in (ROOT / ".ci" / "run").read_text()  # CI installs [test] only


def test_the_readme_says_how_to_open_the_notebooks():
    readme = (ROOT / "README.md").read_text()
    assert ".venv/bin/pip install -e '.[notebook]'\n.venv/bin/jupyter lab notebooks/\n" in readme
