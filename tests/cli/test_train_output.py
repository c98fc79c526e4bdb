"""What ``riskmodel train`` prints: the split as a table, no cloudpickle warning (issue 15, item 12)."""

from __future__ import annotations

import logging

from riskmodel.cli import split_table
from riskmodel.modelling import registry

SPLIT = {
    "test_from": "2021-05-03",
    "train_rows": 13740,
    "train_first": "2015-01-01",
    "train_last": "2021-05-02",
    "validation_rows": 1551,
    "validation_first": "2015-01-01",
    "validation_last": "2021-04-30",
    "test_rows": 5466,
    "test_first": "2021-05-03",
    "test_last": "2025-10-22",
}

MLFLOW_WARNING = (
    "Saving scikit-learn models in the pickle or cloudpickle format requires exercising caution because these"
    " formats rely on Python's object serialization mechanism"
)


def test_the_split_is_a_table_not_a_dict():
    lines = split_table(SPLIT)
    assert lines[0] == "split (test from 2021-05-03):"
    assert lines[1].split() == ["part", "rows", "first", "last"]
    assert lines[2].split() == ["train", "13740", "2015-01-01", "2021-05-02"]
    assert [line.split()[0] for line in lines[2:]] == ["train", "validation", "test"]  # no calibration given
    assert not any("{" in line or "'" in line or line != line.rstrip() for line in lines)


def test_mlflow_cloudpickle_warning_is_silenced_and_explained_once(caplog, monkeypatch):
    monkeypatch.setattr(registry, "_explained_cloudpickle", False)
    mlflow_logger = logging.getLogger("mlflow.sklearn")  # MLflow may stop it propagating: listen on it
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    mlflow_logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="riskmodel"):
            for _ in range(3):  # three models per training run
                with registry._cloudpickle_chosen():
                    mlflow_logger.warning(MLFLOW_WARNING)
            mlflow_logger.warning("another warning")
    finally:
        mlflow_logger.removeHandler(handler)
    assert seen == ["another warning"]  # only that warning, only inside log_model
    explained = [r.getMessage() for r in caplog.records if r.name == "riskmodel.modelling.registry"]
    assert explained == [registry.CLOUDPICKLE_NOTE]
