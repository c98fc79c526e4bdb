"""MLflow Project entry point: ``riskmodel train`` with the project's parameters.

The CLI command reports the contract's findings and calls
:func:`riskmodel.modelling.workflow.train_and_register`, the one training workflow.

``--config ""`` (the project's default) means this folder's ``config.yaml``; a relative
path is read against this folder, where ``mlflow run`` starts the command. ``--run-name
""`` keeps the default name. Inside ``mlflow run`` (``MLFLOW_RUN_ID`` set) a failure marks
the run FAILED before the process exits, whatever failed (the tables, the configuration,
training): a run is never left RUNNING.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from riskmodel.cli import main

PROJECT = Path(__file__).resolve().parent


def train_arguments(argv: list[str]) -> list[str]:
    """``riskmodel train``'s arguments: empty ``--config``/``--run-name`` dropped, a relative config made absolute.

    Examples
    --------
    >>> args = train_arguments(["--data", "d", "--config", "", "--run-name", ""])
    >>> args[:2], Path(args[-1]) == PROJECT / "config.yaml"
    (['--data', 'd'], True)
    """
    out, values = [], iter(argv)
    config = ""
    for arg in values:
        if arg in ("--config", "--run-name"):
            value = next(values, "")
            if arg == "--config":
                config = value
            elif value:
                out += [arg, value]
        else:
            out.append(arg)
    path = Path(config) if config else PROJECT / "config.yaml"
    return [*out, "--config", str(path if path.is_absolute() else PROJECT / path)]


def _mark_failed(run_id: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_terminated(run_id, status="FAILED")


def run(argv: list[str]) -> int:
    """Run ``riskmodel train``; its exit code. Inside ``mlflow run`` a failure marks the run FAILED."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    try:
        main(["train", *train_arguments(argv)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        if run_id:
            _mark_failed(run_id)
        raise
    else:
        code = 0
    if code and run_id:
        _mark_failed(run_id)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
