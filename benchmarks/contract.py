"""Contract benchmark: ``validate_releases`` on one release and on 50,000, in process.

The one-release frames are what ``/score`` validates for a one-release request (a frame
built from the parsed JSON object: numbers as numbers, or every value a string, as a
client sending CSV cells has them); the 50,000-release frames are a synthetic cohort as
a batch reads it, from CSV (every cell text) and from Parquet (typed columns). Each
figure is the best and the median of ``--repeat`` timings (``timeit``) of 200 calls
(one release) or one call (50,000), in milliseconds per call.

``--against REV`` also loads ``src/riskmodel/data/contract.py`` as it was at git
revision ``REV`` and times both versions interleaved, so that other work on the
machine slows both alike. Run from the checkout::

    python benchmarks/contract.py                    # about half a minute on 2 cores
    python benchmarks/contract.py --against HEAD~1   # the same, beside an earlier version
    python benchmarks/contract.py --against HEAD --out benchmarks/results/contract.md
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import timeit
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from _machine import cpu_name  # benchmarks/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from riskmodel.data import contract  # noqa: E402
from riskmodel.data.contract import read_table  # noqa: E402
from riskmodel.data.synth import generate_cohort, write_cohort  # noqa: E402

ONE_RELEASE = {
    "release_id": "r1",
    "person_id": "p1",
    "release_date": "2025-06-01",
    "sex": "M",
    "age_at_release": 31,
    "previous_sanctions": 12,
    "index_offence": "theft_non_motor",
    "age_at_first_sanction": 16,
    "age_at_index_conviction": 30.5,
    "sentence_days": 90,
    "previous_custodial_sentences": 3,
    "previous_violent_sanctions": 2,
    "previous_breaches": 1,
    "needs_accommodation": True,
    "needs_employment": False,
    "needs_mental_health": None,
    "needs_substance_misuse": True,
    "needs_finance": False,
    "needs_family": False,
    "ethnicity": "White",
}


def _frames(rows: int) -> dict[str, pd.DataFrame]:
    """The frames timed: one JSON release, and ``rows`` synthetic releases from CSV and Parquet."""
    cohort = generate_cohort(rows, seed=7)  # about 1.3 releases a person: keep the first rows
    cohort = replace(cohort, releases=cohort.releases.iloc[:rows], truth=cohort.truth.iloc[:rows])
    text = {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in ONE_RELEASE.items()}
    frames = {
        "1 release (JSON /score request)": pd.DataFrame.from_records([ONE_RELEASE]),
        "1 release (JSON, every value a string)": pd.DataFrame.from_records([text]),
    }
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("csv", "parquet"):
            paths = write_cohort(cohort, Path(folder), fmt=fmt)
            frames[f"{rows:,} releases ({fmt.upper()})"] = read_table(paths["releases"])
    return frames


def _load_revision(revision: str):
    """``riskmodel.data.contract`` as it was at git ``revision``, as a separate module."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:src/riskmodel/data/contract.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "contract_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("contract_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _time(module, frame: pd.DataFrame, *, number: int, repeat: int) -> list[float]:
    """Milliseconds per call of ``module.validate_releases(frame)``, one figure per repeat."""
    timer = timeit.Timer(lambda: module.validate_releases(frame))
    return [seconds / number * 1e3 for seconds in timer.repeat(repeat=repeat, number=number)]


def main() -> None:
    """Time, print a Markdown table, and write it to ``--out`` when given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--against", help="git revision of contract.py to time beside the working tree's")
    parser.add_argument("--out", type=Path, help="also write the figures to this Markdown file")
    args = parser.parse_args()
    versions = {"now": contract}
    if args.against:
        versions = {args.against: _load_revision(args.against), "now": contract}
    frames = _frames(args.rows)
    load_before = os.getloadavg()
    lines = ["| frame | version | best ms | median ms |", "|---|---|---:|---:|"]
    for name, frame in frames.items():
        number = 200 if len(frame) == 1 else 1
        timings: dict[str, list[float]] = {v: [] for v in versions}
        for _ in range(args.repeat):  # interleaved, so that load on the machine falls on both
            for label, module in versions.items():
                timings[label] += _time(module, frame, number=number, repeat=1)
        for label, values in timings.items():
            lines.append(f"| {name} | {label} | {min(values):.3f} | {statistics.median(values):.3f} |")
    load_after = os.getloadavg()
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu_name()})"
    before, after = (", ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    command = "python benchmarks/contract.py " + " ".join(sys.argv[1:])
    report = [
        "# Contract benchmark",
        "",
        f"Produced by `{command.strip()}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC;"
        f" {machine}, Python {platform.python_version()}; load average (1, 5, 15 min) {before} before"
        f" and {after} after (other work on the machine included). Milliseconds per `validate_releases` call.",
        "",
        *lines,
    ]
    print("\n".join(report))
    if args.out:
        args.out.write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
