"""Start the real service (``bentoml serve`` in a subprocess) for tests over HTTP.

Servers listen on a free port of 127.0.0.1, use a home built by the shared fixtures, keep
their BentoML state and audit database in temporary folders, and are always stopped
(their whole process group) by the fixture that started them.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "serving"
READY_TIMEOUT_S = 120.0  # a bound on waiting, not a speed check


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_serve_command(port: int) -> list[str]:
    """``riskmodel serve --port P`` (which execs ``bentoml serve``)."""
    return [sys.executable, "-c", "from riskmodel.cli import main; main()", "serve", "--port", str(port)]


def bentoml_serve_command(port: int) -> list[str]:
    """``python -m bentoml serve service:RiskService --working-dir serving`` (what ``riskmodel serve`` execs)."""
    from riskmodel.cli import serve_command

    return serve_command(port, "127.0.0.1")


@dataclass
class Server:
    """A running service and what a test needs to talk to it."""

    base: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    @property
    def audit_url(self) -> str:
        return self.env["RISKMODEL_AUDIT_URL"]

    def client(self, role: str | None = None, *, key: str | None = None, timeout: float = 60.0) -> httpx.Client:
        """An HTTP client, authenticated with ``role``'s key (or ``key``) when given."""
        key = key if key is not None else (self.keys[role] if role else None)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=timeout)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        """Terminate the server's process group; kill it if it does not stop."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        else:
            self.process.wait()


def server_env(base_env: dict[str, str], work: Path, *, audit_url: str | None = None) -> dict[str, str]:
    """A child environment with BentoML state and (by default) a SQLite audit db in ``work``."""
    env = dict(base_env)
    env["BENTOML_HOME"] = str(work / "bentoml")
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env["RISKMODEL_AUDIT_URL"] = audit_url or f"sqlite:///{work / 'audit.db'}"
    return env


def launch_server(command: list[str], env: dict[str, str], log: Path, base: str) -> Server:
    """Start a server process (see :meth:`Server.wait_ready`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
    return Server(base=base, process=process, log=log, env=env)


def wait_ready(server: Server, *, path: str = "/readyz") -> Server:
    """Wait (bounded) for ``path`` to answer 200; on failure, stop the server and say why.

    A server whose audit database is unreachable is never ready: wait for ``/livez``.
    """
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                if client.get(f"{server.base}{path}").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    server.stop()
    raise TimeoutError(f"server not ready after {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def serve(tmp_path_factory) -> Iterator:
    """``serve(base_env, command="cli"|"bentoml", audit_url=None, roles=(...), wait=True)`` → :class:`Server`.

    With ``wait=False`` it returns at once (pass the server to :func:`wait_ready`), so that
    several servers can start together. Every server started through it is stopped when
    the module's tests are done.
    """
    from riskmodel.records.audit import AuditStore

    started: list[Server] = []

    def start(
        base_env: dict[str, str],
        *,
        command: str = "cli",
        audit_url: str | None = None,
        roles=("panel", "operator", "auditor"),
        wait: bool = True,
    ) -> Server:
        work = tmp_path_factory.mktemp("server")
        env = server_env(base_env, work, audit_url=audit_url)
        keys, key_ids = {}, {}
        if roles:
            store = AuditStore(env["RISKMODEL_AUDIT_URL"]).create_schema()
            for role in roles:
                keys[role], key_ids[role] = store.create_key(role, label=f"test {role}")
            store.engine.dispose()
        port = free_port()
        argv = cli_serve_command(port) if command == "cli" else bentoml_serve_command(port)
        server = launch_server(argv, env, work / "server.log", f"http://127.0.0.1:{port}")
        started.append(server)
        server.keys, server.key_ids = keys, key_ids
        return wait_ready(server) if wait else server

    yield start
    for server in started:
        server.stop()


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///...`` URL."""
    assert url.startswith("sqlite:///"), url
    return Path(url[len("sqlite:///") :])


def audit_rows(url: str) -> list[sqlite3.Row]:
    """Every ``score_requests`` row of a SQLite audit db, oldest first (read directly)."""
    with closing(sqlite3.connect(sqlite_path(url))) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM score_requests ORDER BY id").fetchall()
