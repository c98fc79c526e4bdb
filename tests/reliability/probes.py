"""Probes of a running service, shared by ``tests/reliability`` and ``benchmarks/reliability.py``.

* :class:`Load`: client threads that keep scoring (a new connection per request, so that
  requests spread over the worker processes), each answer kept with its status, worker,
  request id and model versions;
* :func:`worker_pids`, :func:`kill_worker`: the service's worker processes, and killing one;
* :func:`sqlite_unwritable`: a SQLite audit database nobody can write, root included;
* :class:`TcpProxy`: a forwarder to PostgreSQL that can cut every connection (an outage);
* :func:`audit_outage`: scoring through an outage of the audit store and its recovery;
* :func:`run_schemathesis`: schemathesis over the service's OpenAPI document.

Servers are started by ``tests/service/servers.py``. Every loop is bounded in count and
in time, and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
WORKER_MODULE = "_bentoml_impl.worker.service"  # how BentoML starts each worker process
MODEL_FIELDS = ("reoffence_model", "harm_model", "frequency_model")


# --------------------------------------------------------------------------- bodies


def scoring_bodies(rows: list[dict], *, bad_every: int = 10) -> list[tuple[bytes, bool]]:
    """``(body, valid)`` pairs for ``POST /score``: one or two releases each.

    Every ``bad_every``-th body is one release whose ``previous_sanctions`` is an integer
    of 400 digits (too large for a float): it must be refused with a 4xx on its own,
    without failing the valid requests scored beside it.
    """
    bodies = []
    for i, row in enumerate(rows):
        if bad_every and i % bad_every == bad_every - 1:
            bodies.append((json.dumps({"releases": [{**row, "previous_sanctions": 10**400}]}).encode(), False))
        else:
            releases = [row, rows[(i + 7) % len(rows)]] if i % 3 == 0 else [row]
            bodies.append((json.dumps({"releases": releases}).encode(), True))
    return bodies


# --------------------------------------------------------------------------- answers and load


@dataclass(frozen=True)
class Answer:
    """One request sent by a client: when, what came back (``status`` None: no HTTP answer)."""

    sent: float
    answered: float
    valid: bool
    status: int | None
    worker: str | None = None
    request_id: str | None = None
    versions: frozenset = frozenset()
    error: str = ""


def versions_of(records: list[dict]) -> frozenset:
    """The sets of model versions in one answer (one element when the answer is consistent)."""
    return frozenset(tuple(r.get(f) for f in MODEL_FIELDS) for r in records)


def post(client: httpx.Client, body: bytes, *, valid: bool = True, path: str = "/score") -> Answer:
    """Send one body; a transport error is an :class:`Answer` without status, never an exception."""
    sent = time.monotonic()
    try:
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    except httpx.TransportError as exc:
        return Answer(sent, time.monotonic(), valid, None, error=type(exc).__name__)
    versions: frozenset = frozenset()
    if response.status_code == 200:
        with suppress(ValueError, AttributeError):
            versions = versions_of(response.json())
    return Answer(
        sent,
        time.monotonic(),
        valid,
        response.status_code,
        worker=response.headers.get("X-Riskmodel-Worker"),
        request_id=response.headers.get("X-Request-Id"),
        versions=versions,
    )


def fresh_client(base: str, key: str | None, *, timeout: float = 60.0) -> httpx.Client:
    """A client that opens a new connection for every request (as separate panel users would)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(base_url=base, headers=headers, timeout=timeout, limits=limits)


class Load:
    """``clients`` threads sending ``bodies`` round-robin until stopped, bounded by count and time.

    Use as a context manager: the threads start on entry and are stopped and joined on exit.
    """

    def __init__(
        self,
        base: str,
        key: str,
        bodies: list[tuple[bytes, bool]],
        *,
        clients: int,
        max_requests: int,
        max_seconds: float,
    ):
        self.base, self.key, self.bodies = base, key, bodies
        self.clients, self.max_requests, self.max_seconds = clients, max_requests, max_seconds
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._next = iter(range(max_requests))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        self.deadline = time.monotonic() + self.max_seconds
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _client(self) -> None:
        with fresh_client(self.base, self.key) as client:
            while not self._stop.is_set() and time.monotonic() < self.deadline:
                with self._lock:
                    i = next(self._next, None)
                if i is None:
                    return
                body, valid = self.bodies[i % len(self.bodies)]
                answer = post(client, body, valid=valid)
                with self._lock:
                    self.answers.append(answer)

    def wait_for(self, count: int, *, timeout: float = 120.0) -> int:
        """Wait (bounded) until ``count`` answers are in or the clients are done; the number in."""
        until = time.monotonic() + timeout
        while len(self.answers) < count and time.monotonic() < until and self.running:
            time.sleep(0.01)
        return len(self.answers)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def tally(answers: list[Answer]) -> dict[str, int]:
    """Requests, 200s, 4xx, 5xx, other statuses and connection errors."""
    statuses = [a.status for a in answers]
    return {
        "requests": len(statuses),
        "ok": sum(s == 200 for s in statuses),
        "4xx": sum(s is not None and 400 <= s < 500 for s in statuses),
        "5xx": sum(s is not None and s >= 500 for s in statuses),
        "other": sum(s is not None and not (s == 200 or 400 <= s < 600) for s in statuses),
        "connection_errors": sum(s is None for s in statuses),
    }


def audit_findings(answers: list[Answer], audited_ids: list[str], *, lost: int = 0) -> list[str]:
    """What is wrong between the 200 answers and the audit records of a run (empty: nothing).

    Every 200 carries the id of its record; records without a 200 are allowed only for
    requests whose answer was lost (``lost``: e.g. in flight in a killed worker).
    """
    problems = []
    answered = [a.request_id for a in answers if a.status == 200]
    if len(set(audited_ids)) != len(audited_ids):
        problems.append("an audit request id appears twice")
    missing = set(answered) - set(audited_ids)
    if missing or None in answered:
        problems.append(f"{len(missing)} answers with a 200 have no audit record")
    if not 0 <= len(audited_ids) - len(answered) <= lost:
        problems.append(f"{len(audited_ids)} audit records for {len(answered)} answers with a 200 ({lost} lost)")
    return problems


def load_findings(answers: list[Answer], *, versions: set[frozenset], kills: list[Kill], clients: int) -> list[str]:
    """What is wrong with the answers of a load run (empty: nothing).

    Valid bodies get 200, the bad ones 422, none a 5xx; a request without an HTTP answer
    was in flight when a worker was killed (at most one per client and kill); every 200
    holds one set of model versions, one of ``versions``.
    """
    problems = []
    counts = tally(answers)
    if counts["5xx"] or counts["other"]:
        problems.append(f"{counts['5xx']} answers 5xx, {counts['other']} other: {status_counts(answers)}")
    valid = {a.status for a in answers if a.valid and a.status is not None}
    bad = {a.status for a in answers if not a.valid and a.status is not None}
    if valid - {200}:
        problems.append(f"valid requests answered {sorted(valid)}")
    if bad - {422}:
        problems.append(f"requests with a 400-digit number answered {sorted(bad)} (expected 422)")
    lost = [a for a in answers if a.status is None]
    stray = [a for a in lost if not any(k.in_flight(a) for k in kills)]
    if stray or len(lost) > clients * len(kills):
        problems.append(f"{len(lost)} connection errors, {len(stray)} not in flight at a kill: {stray[:3]}")
    mixed = [a.versions for a in answers if a.status == 200 and a.versions not in versions]
    if mixed:
        problems.append(f"{len(mixed)} answers with versions other than {versions}: {mixed[:3]}")
    return problems


def status_counts(answers: list[Answer]) -> dict[str, int]:
    """How many answers had each status (``none``: no HTTP answer)."""
    counts: dict[str, int] = {}
    for answer in answers:
        counts[str(answer.status or "none")] = counts.get(str(answer.status or "none"), 0) + 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------- worker processes


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            children += [int(p) for p in (task / "children").read_text().split()]
    return children


def worker_pids(server_pid: int) -> dict[int, int]:
    """The service's worker processes: worker number (``X-Riskmodel-Worker``) -> pid.

    Found among the descendants of ``server_pid`` (``riskmodel serve`` execs ``bentoml
    serve``, whose arbiter starts one ``_bentoml_impl.worker.service --worker-id N``
    process per worker).
    """
    workers, todo = {}, _children(server_pid)
    while todo:
        pid = todo.pop()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if WORKER_MODULE in argv and "--worker-id" in argv:
            workers[int(argv[argv.index("--worker-id") + 1])] = pid
        todo += _children(pid)
    return workers


def wait_for_workers(
    server_pid: int, count: int, *, exclude: tuple[int, ...] = (), timeout: float = 120.0
) -> dict[int, int]:
    """Wait (bounded) until ``count`` worker processes run, none of them one of ``exclude``."""
    until = time.monotonic() + timeout
    workers = worker_pids(server_pid)
    while (len(workers) < count or set(workers.values()) & set(exclude)) and time.monotonic() < until:
        time.sleep(0.05)
        workers = worker_pids(server_pid)
    if len(workers) < count or set(workers.values()) & set(exclude):
        raise TimeoutError(f"expected {count} worker processes (not {exclude}), found {workers}")
    return workers


@dataclass(frozen=True)
class Kill:
    """A worker process killed: its number and pid, and (monotonic) times just before and after."""

    worker: int
    pid: int
    before: float
    after: float

    def in_flight(self, answer: Answer) -> bool:
        """Whether ``answer``'s request was sent before the kill and unanswered until it."""
        return answer.sent <= self.after and answer.answered >= self.before


def kill_worker(server_pid: int, worker: int, *, workers: int = 2) -> Kill:
    """SIGKILL worker number ``worker`` of the service whose main process is ``server_pid``."""
    pid = wait_for_workers(server_pid, workers)[worker]
    before = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    return Kill(worker, pid, before, time.monotonic())


def wait_until_started(server: Any, worker: int, pid: int, *, timeout: float = 120.0) -> bool:
    """Wait (bounded) until process ``pid`` has joined as worker ``worker``; whether it did.

    A worker acknowledges the champions it serves, with its pid, in
    ``RISKMODEL_HOME/serving/worker-N.json`` once it has loaded them (at the end of its start).
    """
    ack = Path(server.env["RISKMODEL_HOME"]) / "serving" / f"worker-{worker}.json"
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        with suppress(OSError, ValueError):
            if json.loads(ack.read_text()).get("pid") == pid:
                return True
        time.sleep(0.1)
    return False


def until_every_worker_answers(
    base: str, key: str, body: bytes, *, workers: int, timeout: float = 120.0
) -> tuple[list[Answer], float | None]:
    """Score ``body`` on new connections until every worker has answered 200 (bounded).

    Returns every answer and the (monotonic) time of the 200 that completed the set
    (None if the bound was reached first).
    """
    answers: list[Answer] = []
    seen: set[str] = set()
    until = time.monotonic() + timeout
    with fresh_client(base, key) as client:
        while time.monotonic() < until:
            answer = post(client, body)
            answers.append(answer)
            if answer.status == 200 and answer.worker:
                seen.add(answer.worker)
                if seen >= {str(w) for w in range(1, workers + 1)}:
                    return answers, answer.answered
            elif answer.status != 200:
                time.sleep(0.05)
    return answers, None


# --------------------------------------------------------------------------- audit outages


def _set_immutable(paths: list[Path], on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True, capture_output=True)


def can_make_unwritable(folder: Path) -> bool:
    """Whether :func:`sqlite_unwritable` works in ``folder`` (as root: ``chattr +i`` must work)."""
    if os.geteuid() != 0:
        return True
    if shutil.which("chattr") is None:
        return False
    probe = folder / ".immutable-probe"
    probe.touch()
    try:
        _set_immutable([probe], True)
    except subprocess.CalledProcessError:
        return False
    finally:
        with suppress(subprocess.CalledProcessError):
            _set_immutable([probe], False)
        probe.unlink()
    return True


@contextmanager
def sqlite_unwritable(database: Path) -> Iterator[None]:
    """Make a SQLite database unwritable while inside, as a read-only disk would, for root too.

    The database file, its write-ahead log and its folder (which must hold nothing else
    that the server writes) become immutable (``chattr +i``) for root, read-only
    otherwise. The shared-memory file (``-shm``) is left alone: writing to a mapped
    immutable file kills the process with SIGBUS, which no disk outage does. A
    connection opened during the outage is opened read-only by SQLite.
    """
    paths = [p for p in (database, database.with_name(database.name + "-wal")) if p.exists()] + [database.parent]
    modes = {p: p.stat().st_mode for p in paths}
    if os.geteuid() == 0:
        _set_immutable(paths, True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            _set_immutable(paths, False)
        for path, mode in modes.items():
            path.chmod(mode)


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 to ``target`` that can cut every connection (an outage).

    While cut, open connections are closed and new ones are closed as soon as accepted,
    as a database server that went away; :meth:`restore` lets them through again.
    """

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._down = threading.Event()
        self._closed = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every connection and refuse new ones."""
        self._down.set()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._down.clear()

    def close(self) -> None:
        self.cut()
        self._closed.set()
        self._listener.close()
        self._thread.join(timeout=5)


@contextmanager
def proxy_cut(proxy: TcpProxy) -> Iterator[None]:
    """An outage of whatever is behind ``proxy`` while inside."""
    proxy.cut()
    try:
        yield
    finally:
        proxy.restore()


@dataclass
class OutageRun:
    """What :func:`audit_outage` saw: answers before, during and after, and readiness."""

    before: list[Answer] = field(default_factory=list)
    during: list[Answer] = field(default_factory=list)
    after: list[Answer] = field(default_factory=list)
    ready_during: list[int | None] = field(default_factory=list)
    killed: Kill | None = None
    restarted: bool = False  # the killed worker started again during the outage
    recovery_s: float | None = None
    ready_after: bool = False

    @property
    def answers(self) -> list[Answer]:
        return self.before + self.during + self.after


def readiness(base: str) -> int | None:
    """The status of ``GET /readyz`` on a new connection (None: no answer)."""
    try:
        return httpx.get(f"{base}/readyz", timeout=10).status_code
    except httpx.TransportError:
        return None


def _until_not_ready(base: str, *, workers: int, timeout: float) -> list[int | None]:
    """Poll ``/readyz`` until ``2 * workers`` answers in a row are not 200 (bounded)."""
    seen: list[int | None] = []
    until = time.monotonic() + timeout
    while time.monotonic() < until and not (len(seen) >= 2 * workers and 200 not in seen[-2 * workers :]):
        seen.append(readiness(base))
        time.sleep(0.1)
    return seen


def audit_outage(
    server: Any,
    body: bytes,
    outage: Callable[[], AbstractContextManager],
    *,
    workers: int = 2,
    requests: int = 20,
    kill: int | None = 1,
    timeout: float = 120.0,
    ready_timeout: float = 30.0,
) -> OutageRun:
    """Score before, during and after an outage of the audit store (``outage()``).

    ``server`` is a ``servers.Server`` (its ``base``, panel key and main process are used).

    During the outage: ``requests`` scoring requests; readiness polled until it says not
    ready (at most ``ready_timeout``); worker ``kill`` killed, and the outage held until it
    has started again (so that it connects to the store while the store is out), then
    ``requests`` more. After: new connections until every worker has answered 200
    (bounded by ``timeout``); ``recovery_s`` counts from the end of the outage to then.
    """
    run = OutageRun()
    base, key, server_pid = server.base, server.keys["panel"], server.process.pid
    with fresh_client(base, key) as client:
        run.before = [post(client, body) for _ in range(3)]
        with outage():
            run.during = [post(client, body) for _ in range(requests)]
            run.ready_during = _until_not_ready(base, workers=workers, timeout=ready_timeout)
            if kill is not None:
                run.killed = kill_worker(server_pid, kill, workers=workers)
                restarted = wait_for_workers(server_pid, workers, exclude=(run.killed.pid,), timeout=timeout)
                run.restarted = wait_until_started(server, kill, restarted[kill], timeout=timeout)
                run.during += [post(client, body) for _ in range(requests)]
            ended = time.monotonic()
    run.after, done = until_every_worker_answers(base, key, body, workers=workers, timeout=timeout)
    if done is not None:
        run.recovery_s = done - ended
        run.ready_after = all(readiness(base) == 200 for _ in range(2 * workers))
    return run


def outage_findings(run: OutageRun, audited_ids: list[str]) -> list[str]:
    """What is wrong with an :func:`audit_outage` run (empty: nothing).

    Before: 200s. During: only 503s and ``/readyz`` not ready. After: 200 from every
    worker within the bound, only 200 or 503 meanwhile, ready again. Every 200 audited.
    """
    problems = []
    if {a.status for a in run.before} != {200}:
        problems.append(f"before the outage: {status_counts(run.before)}")
    if {a.status for a in run.during} != {503}:
        problems.append(f"during the outage (only 503 allowed): {status_counts(run.during)}")
    if not run.ready_during or run.ready_during[-1] == 200:
        problems.append(f"/readyz still ready during the outage ({len(run.ready_during)} polls)")
    if run.killed is not None and not run.restarted:
        problems.append(f"worker {run.killed.worker} did not start again during the outage")
    if run.recovery_s is None:
        problems.append(f"not every worker scored again after the outage: {status_counts(run.after)}")
    if {a.status for a in run.after} - {200, 503}:
        problems.append(f"after the outage: {status_counts(run.after)}")
    if run.recovery_s is not None and not run.ready_after:
        problems.append("/readyz not ready after the outage")
    return problems + audit_findings(run.answers, audited_ids)


@contextmanager
def pg_schema(admin_url: str, prefix: str = "riskmodel_reliability") -> Iterator[tuple[str, str]]:
    """A fresh schema in the PostgreSQL database of ``admin_url``, dropped on exit.

    Yields a URL whose connections use it (``search_path``) and its name.
    """
    import uuid

    import sqlalchemy as sa

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.engine.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def pg_behind_proxy(admin_url: str) -> Iterator[tuple[str, str, TcpProxy]]:
    """A fresh schema (:func:`pg_schema`) reached through a :class:`TcpProxy`: (URL, schema, proxy)."""
    import sqlalchemy as sa

    with pg_schema(admin_url) as (url, schema):
        target = sa.engine.make_url(url)
        proxy = TcpProxy(target.host or HOST, target.port or 5432)
        try:
            yield target.set(host=HOST, port=proxy.port).render_as_string(hide_password=False), schema, proxy
        finally:
            proxy.close()


def pg_request_ids(admin_url: str, schema: str) -> list[str]:
    """The request ids of the ``score_requests`` records in ``schema``."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(f'SELECT request_id FROM "{schema}".score_requests')).scalars())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- schemathesis


#: Checks left out of ``--checks all``. ``positive_data_acceptance`` expects every request the
#: document allows to be accepted, but the contract has rules across fields (e.g.
#: ``previous_violent_sanctions`` at most ``previous_sanctions``) that JSON Schema cannot
#: state: such a request is rightly refused with a 422 (a documented answer).
EXCLUDED_CHECKS = ("positive_data_acceptance",)


@dataclass
class SchemathesisRun:
    """A schemathesis run: its exit code, output and failures (operation -> failure codes)."""

    returncode: int
    output: str
    failures: dict[str, set[str]]
    errors: list[str]

    def codes(self) -> set[str]:
        return set().union(*self.failures.values()) if self.failures else set()


def _junit_failures(path: Path) -> tuple[dict[str, set[str]], list[str]]:
    failures: dict[str, set[str]] = {}
    errors: list[str] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for failure in case.findall("failure"):
            codes = {c.strip() for c in failure.get("message", "").split(",") if c.strip()}
            failures.setdefault(case.get("name", "?"), set()).update(codes)
        errors += [f"{case.get('name')}: {(e.get('message') or e.text or '')[:300]}" for e in case.findall("error")]
    return failures, errors


def run_schemathesis(
    base: str, key: str, work: Path, *, max_examples: int, seed: int | None = 1, timeout: float = 240.0
) -> SchemathesisRun:
    """``schemathesis run`` (every check but :data:`EXCLUDED_CHECKS`) over ``base``'s OpenAPI document.

    Requests carry ``key`` (a panel key: ``/reload`` and ``/audit`` answer 403).

    Only ``base`` (127.0.0.1) is called; the run is bounded by ``max_examples`` per
    operation, a request timeout and ``timeout`` for the whole process.
    """
    work.mkdir(parents=True, exist_ok=True)
    junit = work / "junit.xml"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/docs.json",
        "--url",
        base,
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(max_examples),
        "--request-timeout",
        "30",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        *(["--seed", str(seed)] if seed is not None else []),
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
    output = (result.stdout + result.stderr).replace(key, "[key]")
    if not junit.exists():
        return SchemathesisRun(result.returncode, output, {}, [f"no report (exit {result.returncode})"])
    failures, errors = _junit_failures(junit)
    return SchemathesisRun(result.returncode, output, failures, errors)
