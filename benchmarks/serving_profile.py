"""Where the milliseconds of a one-release ``/score`` request go: table path against lean path.

In process (no HTTP): a :class:`~riskmodel.service.state.ServiceState` on a trained home
with a SQLite audit database. For each path, the request's stages are run one after
another as the service runs them (precheck, validation, features, the three models,
explanation, OGRS3 and ARP, the other output columns, rendering JSON, the audit write),
each timed with ``perf_counter``; the median of each over the requests is reported,
with the whole ``ServiceState.score_request`` and a ``cProfile`` of it.

Run from the checkout, on a home with promoted champions::

    python benchmarks/serving_profile.py --home benchmarks/out/batch/home
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def releases(home: Path, n: int) -> list[dict]:
    """``n`` releases of the home's cohort as a JSON client sends them."""
    from riskmodel.data.contract import find_table, read_table

    frame = read_table(find_table(home / "data" / "synthetic", "releases")).iloc[:n]
    return json.loads(frame.to_json(orient="records"))


def stages(state, key, release: dict, *, lean: bool) -> dict[str, float]:
    """One request's stages, as the service runs them, in milliseconds."""
    from riskmodel.data.contract import check_json_releases, unknown_fields
    from riskmodel.modelling.arp import arp, arp_columns
    from riskmodel.modelling.ogrs3 import ogrs3, ogrs3_columns
    from riskmodel.scoring import scoring, single
    from riskmodel.scoring.explain import top_factors
    from riskmodel.scoring.output import render_rows
    from riskmodel.service.state import _warn_unknown_fields

    champions, config = state.champions, state.champions.config
    extra = {"extra_numeric": config.extra_numeric, "extra_categorical": config.extra_categorical}
    model = champions.models["reoffence"]
    times: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = times.get(name, 0.0) + (now - clock) * 1000
        clock = now

    body = [release]
    assert not check_json_releases(body, **extra)
    lap("precheck (JSON values, columns)")
    if lean:
        rows = single.validate_lean(body, champions)
        lap("validation")
        Xt = model.features.transform_columns(rows.columns, rows.n)
    else:
        rows = scoring.validate_for_scoring(pd.DataFrame.from_records(body), champions, line_offset=0).data
        lap("validation")
        Xt = model.features.transform(rows)
    lap("features")
    for target in ("reoffence", "harm", "frequency"):
        m = champions.models[target]
        m.predict_from_margin(m.margin_from_features(Xt))
    lap("three models")
    top_factors(model.contributions_from_features(Xt), Xt, model.feature_names_, top=champions.scoring.explain_top)
    lap("explanation")
    if lean:
        ogrs3_columns(rows.columns), arp_columns(rows.columns)
    else:
        ogrs3(rows), arp(rows)
    lap("OGRS3 and ARP")
    output = (
        single.score_lean(rows, champions) if lean else scoring.score_columns(rows, champions)[0]
    )  # the whole scoring call, less what was timed above (estimated below)
    lap("_whole scoring call")
    output["warnings"] = _warn_unknown_fields(output["warnings"], unknown_fields(body, **extra))
    texts = render_rows(output)
    lap("rendering JSON")
    state.store.record_requests(
        [
            {
                "request_id": uuid.uuid4().hex,
                "key": key,
                "release_ids": [str(release["release_id"])],
                "model_versions": champions.versions(),
                "outputs": "[" + ", ".join(texts) + "]",
            }
        ]
    )
    lap("audit write")
    parts = ("features", "three models", "explanation", "OGRS3 and ARP")
    times["other output columns (needs, warnings, bands, rank)"] = max(
        0.0, times.pop("_whole scoring call") - sum(times[p] for p in parts)
    )
    return times


def measure(state, key, sample: list[dict], *, lean: bool) -> dict:
    os.environ["RISKMODEL_LEAN"] = "1" if lean else "0"
    for release in sample[:20]:  # warm up
        state.score_request(key, [release])
    per_stage: dict[str, list[float]] = {}
    for release in sample:
        for name, ms in stages(state, key, release, lean=lean).items():
            per_stage.setdefault(name, []).append(ms)
    whole = []
    for release in sample:
        start = time.perf_counter()
        state.score_request(key, [release])
        whole.append((time.perf_counter() - start) * 1000)
    profiler = cProfile.Profile()
    profiler.enable()
    for release in sample[:200]:
        state.score_request(key, [release])
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(18)
    return {
        "stages_ms": {name: statistics.median(values) for name, values in per_stage.items()},
        "score_request_ms": {"p50": float(np.percentile(whole, 50)), "p99": float(np.percentile(whole, 99))},
        "profile": text.getvalue(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="A riskmodel home with promoted champions.")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "serving_profile.md")
    args = parser.parse_args()

    from riskmodel.service.state import ServiceState
    from riskmodel.settings import Settings

    settings = Settings.from_env({"RISKMODEL_HOME": str(args.home)})
    audit = args.home / "profile_audit.db"
    audit.unlink(missing_ok=True)
    state = ServiceState(replace(settings, audit_url=f"sqlite:///{audit}"))
    key = state.authorize(f"Bearer {state.store.create_key('panel')[0]}", "score")
    sample = releases(args.home, args.requests)
    try:
        load_before = os.getloadavg()[0]
        results = {"table": measure(state, key, sample, lean=False), "lean": measure(state, key, sample, lean=True)}
        load_after = os.getloadavg()[0]
    finally:
        state.close()
    engines = {t: s.get("engine") for t, s in getattr(state.champions, "engines", {}).items()}
    names = list(results["table"]["stages_ms"])
    lines = [
        "# Where a one-release `/score` request spends its time",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} CPUs · load average {load_before:.1f} before,"
        f" {load_after:.1f} after (other helpers' work on the machine) · engines {engines}",
        "",
        f"In process (no HTTP), {len(sample)} different releases of the home's cohort, one per request,"
        " SQLite audit database. Stages run one after another as the service runs them; median per stage.",
        "**Before**: the table path (pandas DataFrame; `RISKMODEL_LEAN=0`). **After**: the lean path",
        "(`riskmodel.scoring.single`, numpy and plain Python).",
        "",
        "| stage | before (ms) | after (ms) |",
        "|---|---:|---:|",
        *[
            f"| {name} | {results['table']['stages_ms'][name]:.3f} | {results['lean']['stages_ms'][name]:.3f} |"
            for name in names
        ],
        f"| **sum of stages** | {sum(results['table']['stages_ms'].values()):.3f} |"
        f" {sum(results['lean']['stages_ms'].values()):.3f} |",
        f"| whole `ServiceState.score_request`, p50 | {results['table']['score_request_ms']['p50']:.3f} |"
        f" {results['lean']['score_request_ms']['p50']:.3f} |",
        f"| whole `ServiceState.score_request`, p99 | {results['table']['score_request_ms']['p99']:.3f} |"
        f" {results['lean']['score_request_ms']['p99']:.3f} |",
        "",
        "## cProfile, 200 requests, table path (before)",
        "",
        "```",
        results["table"]["profile"].strip(),
        "```",
        "",
        "## cProfile, 200 requests, lean path (after)",
        "",
        "```",
        results["lean"]["profile"].strip(),
        "```",
        "",
        f"Command: `python benchmarks/serving_profile.py --home {args.home}`",
        "",
    ]
    args.results.write_text("\n".join(lines))
    summary = {k: {"stages_ms": v["stages_ms"], "score_request_ms": v["score_request_ms"]} for k, v in results.items()}
    args.results.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n".join(lines[:25]))


if __name__ == "__main__":
    main()
