"""The demo cohort's batch output and ``/score`` answers stay as they were.

``expected_*.json`` were written by ``make_golden_pre_issue9.txt`` with the code before the
architecture issue (flat strings for ``needs``, ``warnings`` and ``top_factors``), on the
shared ``trained_home`` (3,000 synthetic people, seed 1) and ``month.csv`` (the cohort's
last 120 days plus two edge rows). The comparison brings both sides to the same
structured form, so it checks values, not spelling: a score, band, rank, factor, need or
warning that changes fails it; ``scored_at`` is left out. Warnings must carry ``code`` and
``field`` now.

When a later issue changes the models on purpose, regenerate the expected files from the
new code and say so in the commit: issue 11 did (rolling-origin evaluation, a refit
champion, cross-fitted calibration, ARP columns), with ``make_golden.txt``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskmodel._constants import NEEDS_PATHWAYS

HERE = Path(__file__).resolve().parent
SCORED_AT = "2000-01-01T00:00:00Z"

#: pathway code (``needs_`` column without the prefix) and pathway words -> words
_NEED_WORDS = {
    **{c.removeprefix("needs_"): w for c, w in NEEDS_PATHWAYS.items()},
    **{w: w for w in NEEDS_PATHWAYS.values()},
}


def _list(value: Any, sep: str = "; ") -> list:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.split(sep) if part]
    return list(value)


def _normalise(record: dict[str, Any], *, structured_warnings: bool) -> dict[str, Any]:
    # a Parquet null reads back as NaN, the stored JSON holds null: both are "unknown"
    out = {k: None if isinstance(v, float) and pd.isna(v) else v for k, v in record.items() if k != "scored_at"}
    out["needs"] = [_NEED_WORDS[n] for n in _list(record.get("needs"))]
    warnings = _list(record.get("warnings"))
    if structured_warnings:
        for warning in warnings:
            assert isinstance(warning, dict) and {"code", "message", "field"} <= set(warning), warning
    out["warnings"] = [w["message"] if isinstance(w, dict) else w for w in warnings]
    out["top_factors"] = [dict(f) for f in _list(record.get("top_factors"))]
    return out


def _same(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(want), (sorted(got), sorted(want))
        for name, value in want.items():
            if isinstance(value, float):
                assert got[name] == pytest.approx(value, abs=1e-9), (want["release_id"], name)
            elif name == "top_factors":
                assert len(got[name]) == len(value), want["release_id"]
                for g, w in zip(got[name], value, strict=True):
                    assert g.keys() == w.keys() and all(
                        g[k] == pytest.approx(w[k], abs=1e-9) if isinstance(w[k], float) else g[k] == w[k] for k in w
                    ), (want["release_id"], g, w)
            else:
                assert got[name] == value, (want["release_id"], name, got[name], value)


@pytest.mark.slow
def test_batch_output_is_unchanged(trained_home, tmp_path):
    from riskmodel.modelling.registry import load_champions
    from riskmodel.reporting.batch import score_file

    output = tmp_path / "scores.parquet"
    score_file(HERE / "month.csv", output, champions=load_champions(trained_home.settings), scored_at=SCORED_AT)
    actual = [_normalise(r, structured_warnings=True) for r in pd.read_parquet(output).to_dict(orient="records")]
    expected = [
        _normalise(r, structured_warnings=False) for r in json.loads((HERE / "expected_batch.json").read_text())
    ]
    assert any(r["warnings"] for r in expected) and any(r["needs"] for r in expected)
    _same(actual, expected)


@pytest.mark.slow
def test_score_answers_are_unchanged(trained_home, tmp_path):
    from riskmodel.service.state import ServiceState

    state = ServiceState(replace(trained_home.settings, audit_url=f"sqlite:///{tmp_path / 'audit.db'}"))
    try:
        key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
        request = json.loads((HERE / "score_request.json").read_text())
        actual = [_normalise(r, structured_warnings=True) for r in state.score(key, request)]
    finally:
        state.close()
        state.store.engine.dispose()
    expected = [
        _normalise(r, structured_warnings=False) for r in json.loads((HERE / "expected_score.json").read_text())
    ]
    assert any(r["warnings"] for r in expected)
    _same(actual, expected)
