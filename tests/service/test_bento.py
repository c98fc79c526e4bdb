"""A Bento that says what it serves (issue 12, item 10).

``scripts/build_bento`` builds the Bento (in a temporary ``BENTOML_HOME``) from the
trained home: its labels name the home's champion versions, its requirements are
locked (every one pinned, riskmodel itself only as the wheel), the ``RISKMODEL_*``
variables are declared, and its README is this service's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_bento"
VARIABLES = (
    "RISKMODEL_HOME",
    "RISKMODEL_AUDIT_URL",
    "RISKMODEL_TRACKING_URI",
    "RISKMODEL_SERVE_WORKERS",
    "RISKMODEL_MAX_BODY_BYTES",
    "RISKMODEL_LOG_FORMAT",
)

pytestmark = pytest.mark.timeout(900)


def _env(home: Path, bentoml_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKMODEL_", "MLFLOW_"))}
    env.update(RISKMODEL_HOME=str(home), BENTOML_HOME=str(bentoml_home), BENTOML_DO_NOT_TRACK="True")
    return env


def test_a_home_without_champions_builds_no_bento(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=_env(tmp_path / "home", tmp_path / "bentoml"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no champion for reoffence, harm, frequency" in done.stderr and "riskmodel promote" in done.stderr
    assert not (tmp_path / "bentoml" / "bentos").exists()


@pytest.mark.slow
def test_the_bento_is_labelled_locked_and_documented(trained_home, tmp_path):
    from riskmodel.modelling.registry import champions_state

    bentoml_home = tmp_path / "bentoml"
    env = _env(trained_home.home, bentoml_home)
    built = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=800)
    assert built.returncode == 0, built.stdout + built.stderr
    tag = built.stdout.split("built ", 1)[1].split(":", 2)
    tag = f"{tag[0]}:{tag[1]}"
    shown = subprocess.run(
        [sys.executable, "-m", "bentoml", "get", tag, "-o", "json"], env=env, capture_output=True, text=True, check=True
    )
    bento = json.loads(shown.stdout)

    champions = {state.target: state.version for state in champions_state(trained_home.settings)}
    assert {k: v for k, v in bento["labels"].items() if k.startswith("champion-")} == {
        f"champion-{target}": version for target, version in champions.items()
    }
    assert bento["labels"]["models"] == "registry-in-riskmodel-home"
    assert {env["name"] for env in bento["envs"]} >= set(VARIABLES)

    folder = bentoml_home / "bentos" / tag.split(":")[0] / tag.split(":")[1]
    assert (folder / "README.md").read_text() == (ROOT / "serving" / "README.md").read_text()
    requirements = [
        line.strip()
        for line in (folder / "env" / "python" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements and all("==" in line for line in requirements), requirements
    names = {line.split("==")[0] for line in requirements}
    assert {"bentoml", "mlflow", "lightgbm", "pandas", "scikit-learn"} <= names
    assert "riskmodel" not in names  # the public index's "riskmodel" is another project: only the wheel
    assert [p.name for p in (folder / "env" / "python" / "wheels").iterdir()] == ["riskmodel-0.1.0-py3-none-any.whl"]
