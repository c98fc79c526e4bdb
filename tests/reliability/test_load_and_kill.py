"""A load of a few hundred scoring requests with one worker process killed mid-way (issue 10).

Three clients send valid requests (one or two releases) and, one in ten, a release whose
``previous_sanctions`` is a 400-digit integer, on a new connection each. When a third is
answered, worker 1 gets SIGKILL (the server restarts it). Then: no 5xx; valid requests 200,
bad ones 422 (one bad request never fails the others scored beside it); connection errors
only for requests in flight at the kill; every 200 has its audit record and every record
its 200 (but for the lost ones); every answer holds the one set of published versions; and
the restarted worker scores again.
"""

from __future__ import annotations

import pytest
from probes import Load, audit_findings, kill_worker, load_findings, scoring_bodies, until_every_worker_answers
from servers import audit_rows

from riskmodel.data.contract import find_table, read_table

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.timeout(300)]

REQUESTS = 300  # bounds of the load (not speed checks)
CLIENTS = 3
MAX_SECONDS = 150.0
WORKERS = 2  # riskmodel serve's default


def test_load_with_a_worker_killed_loses_no_audit_record_and_mixes_no_versions(serve, trained_home):
    server = serve(trained_home.env())
    rows = read_table(find_table(trained_home.data, "releases")).head(40).to_dict(orient="records")
    published = frozenset(
        {tuple(f"riskmodel-{t}/{trained_home.versions[t]}" for t in ("reoffence", "harm", "frequency"))}
    )
    key = server.keys["panel"]

    with Load(
        server.base, key, scoring_bodies(rows), clients=CLIENTS, max_requests=REQUESTS, max_seconds=MAX_SECONDS
    ) as load:
        load.wait_for(REQUESTS // 3)
        kill = kill_worker(server.process.pid, 1, workers=WORKERS)
        load.wait_for(REQUESTS, timeout=MAX_SECONDS)
    after, done = until_every_worker_answers(server.base, key, scoring_bodies(rows)[0][0], workers=WORKERS)
    answers = load.answers + after

    assert len(load.answers) == REQUESTS, f"only {len(load.answers)} of {REQUESTS} requests in {MAX_SECONDS:.0f} s"
    assert any(a.answered < kill.before for a in answers) and any(a.sent > kill.after for a in answers), "not mid-way"
    assert done is not None, f"the restarted worker never answered 200: {server.log_tail()}"
    lost = sum(a.status is None for a in answers)
    audited = [row["request_id"] for row in audit_rows(server.audit_url)]
    findings = load_findings(answers, versions={published}, kills=[kill], clients=CLIENTS)
    findings += audit_findings(answers, audited, lost=lost)
    assert not findings, "\n".join(findings) + f"\n\nserver log:\n{server.log_tail(20)}"
