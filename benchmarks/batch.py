"""Batch benchmark: ``riskmodel score`` on a million synthetic releases, end to end.

Builds its own home under ``benchmarks/out/batch/`` (a 20,000-person synthetic cohort,
trained with the product's default configuration and promoted), makes a Parquet file
of 1,000,000 synthetic releases, then measures, in one run on the same rows:

* **end to end**: ``riskmodel score --input releases.parquet --output scores.parquet``
  as an operator runs it (a fresh process: start-up, loading the champions, reading,
  validating, all three models, OGRS3, needs, warnings, drift, ranking, writing
  Parquet atomically), with explanations for every row and with ``--explain none``;
  wall-clock seconds and the process's peak resident memory (``ru_maxrss`` of that
  process, read by a small launcher that started it);
* **the limits**, in this process on the same rows already in memory as the models'
  feature matrix: LightGBM's raw ``booster.predict`` of the three models, and raw
  ``booster.predict(pred_contrib=True)`` of the model that is explained (reoffence).

Targets (2-core machine): without explanations at least a third of the raw predict
throughput and at most 30 s for the million; with explanations at least half of the raw
``pred_contrib`` throughput; peak memory at most 3 GB in both modes.

Other work on the machine slows both sides of a ratio alike only if it lasts; run it
on a quiet machine, or with ``--repeat 2`` (each figure is the best of its repeats).

Run from the checkout::

    python benchmarks/batch.py                 # about 5 minutes on a 2-core machine
    python benchmarks/batch.py --profile 100000   # also profile 100,000 rows in process
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_name  # benchmarks/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "batch"

TARGETS = {
    "vs_predict": 1.0,  # end to end, --explain none, against raw predict of the three models (issue 16)
    "seconds_none": 6.0,  # end to end, --explain none, the million (issue 16)
    "seconds_all": 25.0,  # end to end, explained, the million (issue 16)
    "vs_contrib": 1 / 2,  # end to end, explained, against raw pred_contrib of the explained model
    "peak_gb": 3.0,  # either mode
}


@dataclass
class EndToEnd:
    explain: str
    seconds: float
    peak_bytes: int
    rows_scored: int
    output_bytes: int
    other_load: float


class Background:
    """CPU used by everything else on the machine while a measurement runs, in cores.

    Other work slows the measured code (and LightGBM's OpenMP threads badly); the
    figure says how quiet the machine was, so a result can be judged.
    """

    def __enter__(self):
        self.start = (time.perf_counter(), _machine_busy(), _own_cpu())
        return self

    def __exit__(self, *exc):
        wall, busy, own = time.perf_counter(), _machine_busy(), _own_cpu()
        self.cores = max(0.0, ((busy - self.start[1]) - (own - self.start[2])) / (wall - self.start[0]))


def _machine_busy() -> float:
    """Non-idle CPU seconds of the whole machine since boot (Linux), else 0."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    import resource

    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# --------------------------------------------------------------------------- set-up


def build_home(home: Path, *, people: int, seed: int):
    """Train the three models on a synthetic cohort with the default configuration and promote them."""
    from riskmodel.data.synth import generate_cohort, write_cohort
    from riskmodel.modelling.config import load_config
    from riskmodel.modelling.registry import promote
    from riskmodel.modelling.workflow import train_and_register
    from riskmodel.settings import Settings

    if home.exists():
        shutil.rmtree(home)
    settings = Settings.from_env({"RISKMODEL_HOME": str(home)}).ensure()
    cohort = generate_cohort(people, seed=seed)
    data = settings.data_dir / "synthetic"
    write_cohort(cohort, data)
    config = load_config()
    train_and_register(data, settings=settings, as_of=cohort.as_of, config=config, truth=cohort.truth)
    decision = promote(settings, gates=config.gates)
    if not decision.passed:
        raise SystemExit("promotion failed: " + "; ".join(decision.failures))
    return settings


def make_releases(path: Path, *, rows: int, seed: int) -> None:
    """``rows`` synthetic releases (topped up by resampling if the cohort falls short)."""
    import numpy as np
    import pandas as pd

    from riskmodel.data.synth import generate_cohort

    people = int(rows / 1.28) + 1_000  # about 1.3 releases a person fall inside the extract
    releases = generate_cohort(people, seed=seed).releases
    if len(releases) < rows:
        extra = releases.sample(rows - len(releases), replace=True, random_state=seed)
        extra = extra.assign(release_id=[f"X{i:08d}" for i in range(len(extra))])
        releases = pd.concat([releases, extra], ignore_index=True)
    releases = releases.iloc[:rows].reset_index(drop=True)
    assert releases["release_id"].is_unique and len(releases) == rows and np.isfinite(releases["age_at_release"]).all()
    releases.to_parquet(path, index=False)


# --------------------------------------------------------------------------- measurements


#: Runs a command and prints its peak RSS. The command is started from this small
#: process, not from the benchmark: a child's ``ru_maxrss`` counts what it held between
#: fork and exec, and a child forked from the benchmark (which holds the rows in memory)
#: would be charged the benchmark's memory.
_LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]);"
    " print('peak_rss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def end_to_end(home: Path, source: Path, output: Path, *, explain: str) -> EndToEnd:
    """One ``riskmodel score`` process: wall-clock seconds and its own peak RSS."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RISKMODEL_TRACKING_URI", "MLFLOW_TRACKING_URI", "RISKMODEL_AUDIT_URL")
    }
    env["RISKMODEL_HOME"] = str(home)
    script = Path(sys.executable).with_name("riskmodel")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "riskmodel.cli"]
    command += ["score", "--input", str(source), "--output", str(output), "--explain", explain]
    output.unlink(missing_ok=True)
    stdout_path = OUT / f"score_{explain}.log"
    with open(stdout_path, "w") as handle, Background() as background:
        start = time.perf_counter()
        code = subprocess.call(
            [sys.executable, "-c", _LAUNCHER, *command], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
        seconds = time.perf_counter() - start
    text = stdout_path.read_text()
    if code != 0:
        raise SystemExit(f"riskmodel score failed ({code}):\n{text}")
    peak_kib = int(re.search(r"peak_rss_kib (\d+)", text).group(1))
    match = re.search(r"rows read (\d+) = rows scored (\d+) \+ rows rejected (\d+)", text)
    if not match:
        raise SystemExit(f"no reconciliation line in the output:\n{text}")
    read, scored, rejected = map(int, match.groups())
    assert read == scored + rejected and rejected == 0, text
    return EndToEnd(explain, seconds, peak_kib * 1024, scored, output.stat().st_size, background.cores)


class Limits:
    """LightGBM alone on the same rows, as the models' feature matrix in memory."""

    def __init__(self, home: Path, source: Path):
        import pandas as pd

        from riskmodel.modelling.registry import load_champions
        from riskmodel.scoring.scoring import validate_for_scoring
        from riskmodel.settings import Settings

        self.home = home
        self.champions = load_champions(Settings.from_env({"RISKMODEL_HOME": str(home)}), compiled=False)
        rows = validate_for_scoring(pd.read_parquet(source), self.champions, line_offset=1).data
        model = self.champions.models["reoffence"]
        self.Xt = model.features.transform(rows)
        self.boosters = {t: m.booster for t, m in self.champions.models.items()}
        for target, other in self.champions.models.items():  # one matrix serves all three
            assert other.features.get_params() == model.features.get_params(), target

    def predict(self) -> tuple[float, float]:
        """Seconds for raw ``predict`` of the three models (all rows in one call each), other load."""
        with Background() as background:
            start = time.perf_counter()
            for booster in self.boosters.values():
                booster.predict(self.Xt)
            seconds = time.perf_counter() - start
        return seconds, background.cores

    def compiled(self) -> tuple[float, float]:
        """Seconds for compiled ``predict`` (lleaves, raw margin) of the three models, other load.

        Compiled with :func:`riskmodel.modelling.compiled.compile_booster` (cached under the
        home, so only the first run compiles); the compile itself is not timed here.
        """
        from riskmodel.modelling.compiled import Compiled, compile_booster

        engines = {}
        for target, booster in self.boosters.items():
            engine = compile_booster(booster, self.home / "compiled")
            if not isinstance(engine, Compiled):
                raise SystemExit(f"{target}: compiled trees unavailable: {engine.reason}")
            engines[target] = engine
        with Background() as background:
            start = time.perf_counter()
            for engine in engines.values():
                engine.margin(self.Xt)
            seconds = time.perf_counter() - start
        return seconds, background.cores

    def contrib(self) -> tuple[float, float]:
        """Seconds for raw ``predict(pred_contrib=True)`` of the explained model.

        The faster of one call on all rows and calls of 50,000 rows (the batch's chunk):
        on a large matrix LightGBM's contributions can be slower per row, and the limit
        should be the best LightGBM does.
        """
        booster = self.boosters["reoffence"]
        with Background() as background:
            start = time.perf_counter()
            booster.predict(self.Xt, pred_contrib=True)
            whole = time.perf_counter() - start
            start = time.perf_counter()
            for first in range(0, len(self.Xt), 50_000):
                booster.predict(self.Xt[first : first + 50_000], pred_contrib=True)
            chunked = time.perf_counter() - start
        log(f"  pred_contrib in one call {whole:.1f} s, in calls of 50,000 rows {chunked:.1f} s")
        return min(whole, chunked), background.cores

    def describe(self) -> str:
        parts = []
        for target, booster in self.boosters.items():
            dump = booster.dump_model(num_iteration=-1)
            leaves = max(t["num_leaves"] for t in dump["tree_info"])
            parts.append(f"{target} {booster.num_trees()} trees of up to {leaves} leaves")
        return f"{self.Xt.shape[1]} features; " + ", ".join(parts)


def profile(home: Path, source: Path, rows: int, *, explain: bool) -> Path:
    """cProfile of :func:`riskmodel.reporting.batch.score_file` on the first ``rows`` rows, in process."""
    import cProfile
    import pstats

    import pyarrow.parquet as pq

    from riskmodel.modelling.registry import load_champions
    from riskmodel.reporting.batch import score_file
    from riskmodel.settings import Settings

    champions = load_champions(Settings.from_env({"RISKMODEL_HOME": str(home)}))
    subset = OUT / f"profile_{rows}.parquet"
    pq.write_table(pq.read_table(source).slice(0, rows), subset)
    profiler = cProfile.Profile()
    profiler.enable()
    score_file(subset, OUT / "profile_scores.parquet", champions=champions, explain=explain)
    profiler.disable()
    report = OUT / f"profile_{'explain' if explain else 'none'}.txt"
    with open(report, "w") as handle:
        pstats.Stats(profiler, stream=handle).sort_stats("cumulative").print_stats(40)
    return report


# --------------------------------------------------------------------------- report


def machine() -> str:
    cpu = cpu_name()
    import lightgbm
    import pyarrow

    return (
        f"{os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}, LightGBM {lightgbm.__version__},"
        f" pyarrow {pyarrow.__version__}; {platform.system()} {platform.release()}"
    )


def table(
    rows: int,
    runs: dict[str, list[EndToEnd]],
    predict_s: list[tuple[float, float]],
    contrib_s: list[tuple[float, float]],
    compiled_s: list[tuple[float, float]],
    models: str,
    command: str,
) -> str:
    best = {mode: min(r, key=lambda e: e.seconds) for mode, r in runs.items()}
    peak = {mode: max(e.peak_bytes for e in r) for mode, r in runs.items()}
    best_predict, best_contrib, best_compiled = min(predict_s), min(contrib_s), min(compiled_s)
    compiled_rate = rows / best_compiled[0]
    predict_rate, contrib_rate = rows / best_predict[0], rows / best_contrib[0]
    none_rate, all_rate = rows / best["none"].seconds, rows / best["all"].seconds
    checks = [
        (
            "`--explain none`: throughput vs raw `predict` of the 3 models",
            f"{none_rate:,.0f} vs {predict_rate:,.0f} rows/s = {none_rate / predict_rate:.2f}",
            f">= {TARGETS['vs_predict']:.2f}",
            none_rate / predict_rate >= TARGETS["vs_predict"],
        ),
        (
            "`--explain none`: 1M releases end to end",
            f"{best['none'].seconds * 1_000_000 / rows:.1f} s",
            f"<= {TARGETS['seconds_none']:.0f} s",
            best["none"].seconds * 1_000_000 / rows <= TARGETS["seconds_none"],
        ),
        (
            "explained: 1M releases end to end",
            f"{best['all'].seconds * 1_000_000 / rows:.1f} s",
            f"<= {TARGETS['seconds_all']:.0f} s",
            best["all"].seconds * 1_000_000 / rows <= TARGETS["seconds_all"],
        ),
        (
            "explained: throughput vs raw `pred_contrib` of the explained model",
            f"{all_rate:,.0f} vs {contrib_rate:,.0f} rows/s = {all_rate / contrib_rate:.2f}",
            f">= {TARGETS['vs_contrib']:.2f}",
            all_rate / contrib_rate >= TARGETS["vs_contrib"],
        ),
        (
            "`--explain none`: peak memory",
            f"{peak['none'] / 1e9:.2f} GB",
            f"<= {TARGETS['peak_gb']:.0f} GB",
            peak["none"] / 1e9 <= TARGETS["peak_gb"],
        ),
        (
            "explained: peak memory",
            f"{peak['all'] / 1e9:.2f} GB",
            f"<= {TARGETS['peak_gb']:.0f} GB",
            peak["all"] / 1e9 <= TARGETS["peak_gb"],
        ),
    ]
    lines = [
        "# Batch scoring benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()}",
        "",
        f"{rows:,} synthetic releases (Parquet) scored by `riskmodel score` end to end: a fresh process that loads the",
        "champions, reads, validates, scores with all three models and OGRS3, checks drift, ranks and writes Parquet",
        f"atomically. Limits: LightGBM alone on the same rows in memory. Models: {models}.",
        "",
        "| measurement | seconds | rows/s | peak memory | other load on the machine |",
        "|---|---:|---:|---:|---:|",
        f"| end to end, `--explain none` | {best['none'].seconds:.1f} | {none_rate:,.0f} | {peak['none'] / 1e9:.2f} GB"
        f" | {best['none'].other_load:.2f} cores |",
        f"| end to end, explained (top factors for every row) | {best['all'].seconds:.1f} | {all_rate:,.0f}"
        f" | {peak['all'] / 1e9:.2f} GB | {best['all'].other_load:.2f} cores |",
        f"| limit: raw `predict` of the 3 models | {best_predict[0]:.1f} | {predict_rate:,.0f} |"
        f" | {best_predict[1]:.2f} cores |",
        f"| limit: compiled trees (lleaves) `predict` of the 3 models | {best_compiled[0]:.1f} | {compiled_rate:,.0f} |"
        f" | {best_compiled[1]:.2f} cores |",
        f"| limit: raw `predict(pred_contrib=True)` of the reoffence model | {best_contrib[0]:.1f}"
        f" | {contrib_rate:,.0f} | | {best_contrib[1]:.2f} cores |",
        "",
        "| target | measured | target | |",
        "|---|---|---|---|",
        *[f"| {name} | {value} | {target} | {'PASS' if ok else 'FAIL'} |" for name, value, target, ok in checks],
        "",
        f"Output: {best['all'].output_bytes / 1e6:,.0f} MB of Parquet explained,"
        f" {best['none'].output_bytes / 1e6:,.0f} MB without.",
        f"Each figure is the best of {len(predict_s)} run(s); end to end includes about 3 s of process start-up and"
        " model loading. Other load: CPU used by other processes during the measurement (0 = a quiet machine; on 2"
        " cores, 1 means half of it was taken).",
        "",
        f"Command: `{command}`",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="releases to score (default 1,000,000)")
    parser.add_argument("--train-people", type=int, default=20_000, help="people in the training cohort")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (best counts)")
    parser.add_argument("--reuse", action="store_true", help="reuse the home and input of an earlier run")
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS", help="also profile this many rows in process")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "batch.md")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    home, source = OUT / "home", OUT / f"releases_{args.rows}.parquet"
    if not (args.reuse and home.exists()):
        log(f"training champions on a synthetic cohort of {args.train_people:,} people (default configuration)")
        build_home(home, people=args.train_people, seed=0)
    if not (args.reuse and source.exists()):
        log(f"making {args.rows:,} synthetic releases")
        make_releases(source, rows=args.rows, seed=7)

    log("loading the same rows for the limits")
    limits = Limits(home, source)
    log(limits.describe())
    runs: dict[str, list[EndToEnd]] = {"none": [], "all": []}
    predict_s, contrib_s, compiled_s = [], [], []
    for _ in range(args.repeat):
        predict_s.append(limits.predict())
        log(f"raw predict, 3 models: {predict_s[-1][0]:.1f} s (other load {predict_s[-1][1]:.2f} cores)")
        compiled_s.append(limits.compiled())
        log(f"compiled predict, 3 models: {compiled_s[-1][0]:.1f} s (other load {compiled_s[-1][1]:.2f} cores)")
        runs["none"].append(end_to_end(home, source, OUT / "scores_none.parquet", explain="none"))
        run = runs["none"][-1]
        log(
            f"end to end, --explain none: {run.seconds:.1f} s, peak {run.peak_bytes / 1e9:.2f} GB"
            f" (other load {run.other_load:.2f} cores)"
        )
        contrib_s.append(limits.contrib())
        log(f"raw pred_contrib, reoffence: {contrib_s[-1][0]:.1f} s (other load {contrib_s[-1][1]:.2f} cores)")
        runs["all"].append(end_to_end(home, source, OUT / "scores_all.parquet", explain="all"))
        run = runs["all"][-1]
        log(
            f"end to end, explained: {run.seconds:.1f} s, peak {run.peak_bytes / 1e9:.2f} GB"
            f" (other load {run.other_load:.2f} cores)"
        )

    command = "python benchmarks/batch.py" + "".join(
        f" --{k.replace('_', '-')} {v}"
        for k, v in (("rows", args.rows), ("repeat", args.repeat))
        if v != parser.get_default(k)
    )
    text = table(args.rows, runs, predict_s, contrib_s, compiled_s, limits.describe(), command)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    best_none = min(runs["none"], key=lambda e: e.seconds)
    best_all = min(runs["all"], key=lambda e: e.seconds)
    figures = {
        "rows": args.rows,
        "end_to_end_none_s": best_none.seconds,
        "end_to_end_all_s": best_all.seconds,
        "peak_none_gb": best_none.peak_bytes / 1e9,
        "peak_all_gb": best_all.peak_bytes / 1e9,
        "raw_predict_s": min(predict_s)[0],
        "compiled_predict_s": min(compiled_s)[0],
        "raw_pred_contrib_s": min(contrib_s)[0],
        "other_load_cores": {
            "end_to_end_none": best_none.other_load,
            "end_to_end_all": best_all.other_load,
            "raw_predict": min(predict_s)[1],
            "compiled_predict": min(compiled_s)[1],
        },
        "command": command,
    }
    args.results.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(text)
    if args.profile:
        del limits
        for explain in (False, True):
            log(f"profile written to {profile(home, source, args.profile, explain=explain)}")


if __name__ == "__main__":
    main()
