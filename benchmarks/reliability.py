"""Reliability benchmark: the reliability suite of ``tests/reliability`` at a larger size.

Builds its own home (a synthetic cohort, trained and promoted champions, as the test
fixtures do), starts ``riskmodel serve`` (two worker processes, a SQLite audit database)
and, on 127.0.0.1 only:

1. load: ``--seconds`` of scoring from ``--clients`` clients, a new connection per request
   (one request in ten has a 400-digit ``previous_sanctions`` and must get 422); worker 1
   is killed after ``--kill-at`` seconds; meanwhile a second version is trained and
   promoted, and the operator calls ``/reload``;
2. an audit outage: the SQLite database made unwritable, a worker killed during it, then
   scoring until every worker answers 200 again;
3. the same outage on PostgreSQL (through a proxy that cuts every connection) when
   ``RISKMODEL_TEST_DATABASE_URL`` is set;
4. schemathesis over the OpenAPI document with a panel key (every check).

Every loop is bounded in count and time; every server started is stopped. The figures
(requests, 200s, 4xx, 5xx, connection errors, audit rows, recovery seconds) and anything
found wrong go to ``benchmarks/results/reliability.md``.

Run from the checkout::

    python benchmarks/reliability.py        # about 5 minutes on a 2-core machine
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[1:1] = [str(ROOT / "tests"), str(ROOT / "tests" / "service"), str(ROOT / "tests" / "reliability")]

from _helpers_root import root_conftest  # noqa: E402  (tests/)
from _machine import cpu_name  # noqa: E402  (benchmarks/ is the script's folder)
from probes import (  # noqa: E402  (tests/reliability/)
    EXCLUDED_CHECKS,
    Answer,
    Kill,
    Load,
    audit_findings,
    audit_outage,
    can_make_unwritable,
    kill_worker,
    load_findings,
    outage_findings,
    pg_behind_proxy,
    pg_request_ids,
    proxy_cut,
    run_schemathesis,
    scoring_bodies,
    sqlite_unwritable,
    tally,
)
from servers import Server, audit_rows, cli_serve_command, free_port, launch_server, server_env, wait_ready  # noqa: E402

WORKERS = 2
TARGETS = ("reoffence", "harm", "frequency")
FAILURE_CODES = {  # `st explain CODE`
    "ST101": "server error",
    "ST103": "undocumented status code",
    "ST108": "response violates the schema",
    "ST201": "schema-violating request accepted",
    "ST202": "schema-valid request rejected",
    "ST204": "wrong response to an undeclared method",
}


@dataclass
class Phase:
    """One part of the run: its answers, audit records and what was found wrong."""

    name: str
    answers: list[Answer]
    audit_rows: int
    recovery_s: float | None = None
    findings: list[str] = field(default_factory=list)


def published(versions: dict[str, str]) -> frozenset:
    """The one set of model versions an answer of these champions holds."""
    return frozenset({tuple(f"riskmodel-{t}/{versions[t]}" for t in TARGETS)})


def start_service(base_env: dict[str, str], work: Path, *, audit_url: str | None = None) -> Server:
    """``riskmodel serve`` on a free port of 127.0.0.1, with a panel and an operator key."""
    from riskmodel.records.audit import AuditStore

    env = server_env(base_env, work, audit_url=audit_url)
    store = AuditStore(env["RISKMODEL_AUDIT_URL"]).create_schema()
    keys = {role: store.create_key(role, label=f"benchmark {role}")[0] for role in ("panel", "operator")}
    store.engine.dispose()
    port = free_port()
    server = launch_server(cli_serve_command(port), env, work / "server.log", f"http://127.0.0.1:{port}")
    server.keys = keys
    return wait_ready(server)


def reload_findings(answers: list[Answer], old: frozenset, new: frozenset, window: tuple[float, float]) -> list[str]:
    """Answers before the reload hold the old versions, answers sent after it the new ones."""
    started, done = window
    early = [a for a in answers if a.status == 200 and a.answered < started and a.versions != old]
    late = [a for a in answers if a.status == 200 and a.sent > done and a.versions != new]
    return [f"{len(early)} answers before the reload not on the old versions"] * bool(early) + [
        f"{len(late)} answers after the reload not on the new versions"
    ] * bool(late)


def kill_recovery(answers: list[Answer], kill: Kill) -> float | None:
    """Seconds from the kill to the first 200 of the restarted worker (None: none came)."""
    back = [a.answered for a in answers if a.status == 200 and a.worker == str(kill.worker) and a.sent > kill.after]
    return min(back) - kill.after if back else None


def load_phase(server: Server, home, rows: list[dict], args) -> Phase:
    """Load with a worker killed, a new version trained and promoted, and ``/reload``."""
    old = published(home.versions)
    before = len(audit_rows(server.audit_url))
    with Load(
        server.base,
        server.keys["panel"],
        scoring_bodies(rows),
        clients=args.clients,
        max_requests=args.max_requests,
        max_seconds=args.seconds,
    ) as load:
        time.sleep(args.kill_at)
        kill = kill_worker(server.process.pid, 1, workers=WORKERS)
        second = root_conftest().build_trained_home(home.home, people=args.people, seed=args.seed + 1)
        started = time.monotonic()
        response = httpx.post(
            f"{server.base}/reload", headers={"Authorization": f"Bearer {server.keys['operator']}"}, timeout=300
        )
        done = time.monotonic()
        load.deadline = max(load.deadline, done + 10.0)  # some load after the reload, still bounded
        while load.running and time.monotonic() < load.deadline + 60:
            time.sleep(0.1)
    new = published(second.versions)
    answers = load.answers
    findings = load_findings(answers, versions={old, new}, kills=[kill], clients=args.clients)
    findings += reload_findings(answers, old, new, (started, done))
    if response.status_code != 200:
        findings.append(f"/reload answered {response.status_code}: {response.text[:200]}")
    audited = [row["request_id"] for row in audit_rows(server.audit_url)][before:]
    findings += audit_findings(answers, audited, lost=tally(answers)["connection_errors"])
    name = f"load: {args.clients} clients, {args.seconds:.0f} s, worker 1 killed at {args.kill_at:.0f} s, /reload"
    return Phase(name, answers, len(audited), kill_recovery(answers, kill), findings)


def sqlite_outage_phase(server: Server, body: bytes) -> Phase:
    """The SQLite audit database unwritable, a worker killed during the outage, recovery."""
    database = Path(server.audit_url[len("sqlite:///") :])
    if not can_make_unwritable(database.parent):
        return Phase("audit outage, SQLite: skipped (cannot make a file unwritable here)", [], 0)
    before = len(audit_rows(server.audit_url))
    run = audit_outage(server, body, lambda: sqlite_unwritable(database), workers=WORKERS)
    audited = [row["request_id"] for row in audit_rows(server.audit_url)][before:]
    return Phase(
        "audit outage, SQLite unwritable, worker 1 killed during it",
        run.answers,
        len(audited),
        run.recovery_s,
        outage_findings(run, audited),
    )


def postgres_outage_phase(base_env: dict[str, str], work: Path, body: bytes, admin_url: str) -> Phase:
    """A server whose audit store is PostgreSQL behind a proxy; the proxy cuts everything."""
    with pg_behind_proxy(admin_url) as (url, schema, proxy):
        server = start_service(base_env, work, audit_url=url)
        try:
            run = audit_outage(server, body, lambda: proxy_cut(proxy), workers=WORKERS, requests=6)
            audited = pg_request_ids(admin_url, schema)
        finally:
            server.stop()
    name = "audit outage, PostgreSQL connections cut, worker 1 killed during it"
    return Phase(name, run.answers, len(audited), run.recovery_s, outage_findings(run, audited))


COLUMNS = ("requests", "ok", "4xx", "outage_503", "5xx", "connection_errors")


def figures(phase: Phase) -> dict[str, int]:
    """The phase's counts; in an outage phase 503 is the expected answer, counted apart from other 5xx."""
    counts = tally(phase.answers)
    outage = sum(a.status == 503 for a in phase.answers) if phase.name.startswith("audit outage") else 0
    return {**{c: counts[c] for c in COLUMNS if c in counts}, "outage_503": outage, "5xx": counts["5xx"] - outage}


def figures_row(name: str, counts: dict[str, int], audit_rows: int, recovery_s: float | None) -> str:
    recovery = f"{recovery_s:.2f}" if recovery_s is not None else "–"
    return f"| {name} | {' | '.join(f'{counts[c]:,}' for c in COLUMNS)} | {audit_rows:,} | {recovery} |"


def write_report(path: Path, phases: list[Phase], schemathesis, *, args, machine: str, command: str) -> str:
    rows = [figures(p) for p in phases]
    total = {c: sum(r[c] for r in rows) for c in COLUMNS}
    lines = [
        "# Reliability benchmark",
        "",
        f"Produced by `{command}` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; {machine}.",
        f"`riskmodel serve` with {WORKERS} worker processes; champions trained on a synthetic cohort of"
        f" {args.people:,} people (the test fixtures' settings). All traffic on 127.0.0.1; a new connection per"
        " request. One request in ten carries a 400-digit `previous_sanctions` (expected: 422).",
        "",
        "| phase | requests | 200 | 4xx | 503 in an outage | other 5xx | connection errors | audit rows | recovery s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(figures_row(p.name, r, p.audit_rows, p.recovery_s) for p, r in zip(phases, rows, strict=True)),
        figures_row("**all**", total, sum(p.audit_rows for p in phases), None),
        "",
        "Recovery: after the kill, seconds from the kill to the restarted worker's first 200; after an outage,"
        " seconds from the store being back to every worker having answered 200.",
        "",
        "## Found wrong",
        "",
        *([f"- {p.name}: {f}" for p in phases for f in p.findings] or ["- nothing"]),
        "",
        f"## schemathesis (`--checks all --exclude-checks {','.join(EXCLUDED_CHECKS)}`, {args.examples} examples"
        f" per operation, seed {args.schemathesis_seed})",
        "",
    ]
    if schemathesis.failures or schemathesis.errors:
        for op, codes in sorted(schemathesis.failures.items()):
            lines.append(f"- `{op}`: " + "; ".join(f"{c} {FAILURE_CODES.get(c, '')}".strip() for c in sorted(codes)))
        lines += [f"- error: {e}" for e in schemathesis.errors]
    else:
        lines.append("- no failure: no server error, every answer as the published document describes")
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=3000, help="People in the synthetic cohort.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of the load (a bound).")
    parser.add_argument("--max-requests", type=int, default=100_000, help="A bound on the load's requests.")
    parser.add_argument("--kill-at", type=float, default=15.0, help="Seconds into the load when worker 1 is killed.")
    parser.add_argument("--examples", type=int, default=200, help="schemathesis examples per operation.")
    parser.add_argument("--schemathesis-seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "reliability")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "reliability.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "home").mkdir(parents=True)
    load_before = os.getloadavg()
    print(f"building a home in {args.out / 'home'} ...", flush=True)
    home = root_conftest().build_trained_home(args.out / "home", people=args.people, seed=args.seed)
    from riskmodel.data.contract import find_table, read_table

    rows = read_table(find_table(home.data, "releases")).head(200).to_dict(orient="records")
    body = scoring_bodies(rows[:2], bad_every=0)[0][0]
    (args.out / "audit").mkdir()  # the SQLite database alone in its folder (made unwritable in the outage)
    server = start_service(home.env(), args.out / "sqlite", audit_url=f"sqlite:///{args.out / 'audit' / 'audit.db'}")
    try:
        print("load, kill, reload ...", flush=True)
        phases = [load_phase(server, home, rows, args)]
        print("SQLite audit outage ...", flush=True)
        phases.append(sqlite_outage_phase(server, body))
        print("schemathesis ...", flush=True)
        schemathesis = run_schemathesis(
            server.base,
            server.keys["panel"],
            args.out / "schemathesis",
            max_examples=args.examples,
            seed=args.schemathesis_seed,
            timeout=900,
        )
    finally:
        server.stop()
    if os.environ.get("RISKMODEL_TEST_DATABASE_URL"):
        print("PostgreSQL audit outage ...", flush=True)
        phases.append(
            postgres_outage_phase(home.env(), args.out / "pg", body, os.environ["RISKMODEL_TEST_DATABASE_URL"])
        )
    load_after = os.getloadavg()
    machine = (
        f"{platform.system()} {platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}; load average (1, 5, 15 min)"
        f" {', '.join(f'{x:.2f}' for x in load_before)} before and {', '.join(f'{x:.2f}' for x in load_after)} after"
    )
    command = " ".join(["python benchmarks/reliability.py", *(argv if argv is not None else sys.argv[1:])])
    print(write_report(args.results, phases, schemathesis, args=args, machine=machine, command=command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
