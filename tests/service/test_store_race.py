"""Processes that open a fresh home's MLflow store together do not race its migrations.

Service workers started side by side (``bentoml serve`` without ``riskmodel serve``'s
preparation) each opened an empty ``mlflow.db`` and ran MLflow's migrations at once
(``duplicate column name: step``, ``Online migration expected to match one row``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CONNECT = (
    "from riskmodel.settings import Settings\n"
    "from riskmodel.modelling.registry import connect\n"
    "connect(Settings.from_env())\n"
    "print('connected')\n"
)


@pytest.mark.slow
def test_three_processes_open_a_fresh_store_at_once(tmp_path):
    env = {**os.environ, "RISKMODEL_HOME": str(tmp_path)}
    for name in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONNECT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=240) + (p.returncode,) for p in processes]
    for out, err, code in results:
        assert code == 0, err[-2000:]
        assert out.strip() == "connected"
