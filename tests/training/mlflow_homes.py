"""Helpers of the MLflow-convention tests: a home with registered candidates, MLflow processes.

The candidate home is trained once per test session (whichever test asks first) and
never promoted: these tests are about what MLflow holds, not about the gates.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from _helpers_root import root_conftest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)
PEOPLE = 2000


@dataclass
class CandidateHome:
    """A home with one training run logged and its three versions registered as ``candidate``."""

    home: Path
    data: Path
    settings: object
    config: object
    versions: dict
    run_id: str


_HOMES: dict[str, CandidateHome] = {}


def train_candidates(root: Path, *, tracking_uri: str | None = None, seed: int = 3) -> CandidateHome:
    """Generate a cohort in ``root``, train and register (no promotion)."""
    from riskmodel.data.synth import generate_cohort, write_cohort
    from riskmodel.modelling.config import config_from_dict
    from riskmodel.modelling.workflow import train_and_register
    from riskmodel.settings import Settings

    env = {"RISKMODEL_HOME": str(root)}
    if tracking_uri:
        env["RISKMODEL_TRACKING_URI"] = tracking_uri
    settings = Settings.from_env(env).ensure()
    cohort = generate_cohort(PEOPLE, seed=seed)
    data = settings.data_dir / "synthetic"
    write_cohort(cohort, data)
    config = config_from_dict(root_conftest().TEST_CONFIG)
    run = train_and_register(data, settings=settings, as_of=cohort.as_of, config=config, truth=cohort.truth)
    import mlflow

    run_id = mlflow.last_active_run().info.run_id
    return CandidateHome(root, data, settings, config, run.versions, run_id)


def candidate_home(tmp_path_factory) -> CandidateHome:
    """The session's candidate home (trained on first use)."""
    if "home" not in _HOMES:
        _HOMES["home"] = train_candidates(tmp_path_factory.mktemp("candidate_home"))
    return _HOMES["home"]


def readme_releases() -> list[dict]:
    """The releases of the README's ``curl`` example (its JSON body's ``releases``)."""
    text = (REPO / "README.md").read_text()
    body = re.search(r"-d '(\{\"releases\".*?\})'\n", text, flags=re.DOTALL)
    assert body is not None, "README has no curl example with a releases body"
    return json.loads(body.group(1))["releases"]


def csv_rows(home: CandidateHome, n: int = 300) -> pd.DataFrame:
    """Rows of the home's ``releases.csv`` as pandas reads them (blanks are NaN, flags True/False/NaN)."""
    return pd.read_csv(home.data / "releases.csv", nrows=n)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow's settings, the venv's scripts first on PATH (``mlflow`` runs ``uvicorn``)."""
    # no MLflow or riskmodel store settings of this process (MLFLOW_EXPERIMENT_ID, a tracking URI)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k != "RISKMODEL_TRACKING_URI"}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


class Process:
    """A server started by a test, stopped by :meth:`stop` (its whole process group)."""

    def __init__(self, command: list[str], *, env: dict[str, str], log: Path, url: str):
        self.log, self.url = log, url
        self._file = log.open("wb")
        self.proc = subprocess.Popen(
            command, env=env, stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str, *, attempts: int = 600) -> Process:
        """Poll ``path`` until it answers 200 (the process dying fails at once, with its log)."""
        for _ in range(attempts):
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"server not ready:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._file.close()
