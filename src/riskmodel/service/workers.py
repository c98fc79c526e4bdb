"""Keeping the service's worker processes on one set of champions.

The service runs several worker processes (one Python process cannot use more than one
core for its pandas work). ``POST /reload`` reaches one of them; that worker loads the
registry's current champions, swaps them in, and *publishes* their versions in a small
file under the home, with a new generation number. Every worker watches that file (a
``stat`` every :data:`POLL_SECONDS`), loads exactly the published versions, swaps them in,
and *acknowledges* the generation in a file of its own. The reloading worker answers
only when every worker has acknowledged: after a ``200`` from ``/reload``, every worker
serves the new versions. Within each worker a request still reads one immutable set of
champions, so no request ever sees a mix of versions.

A worker that (re)starts joins the service (:meth:`~ChampionSync.join`): while the service runs
(the published generation names this service, :func:`service_id`), it loads the
published versions, not the registry's ``champion`` aliases, which may have moved since
the last reload; a worker restarted after a crash so serves what the others serve. The
first worker of a newly started service finds nothing published by it and publishes the
versions it loaded from the aliases, which the others then load.

The files (``RISKMODEL_HOME/serving/``): ``champions.json`` (generation, versions and
service) and ``worker-N.json`` (the generation and versions worker N serves). Writes are
atomic (temporary file, then rename).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ChampionSync", "POLL_SECONDS", "service_id"]

#: How often each worker looks at the published champions.
POLL_SECONDS = 0.2

logger = logging.getLogger(__name__)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def service_id() -> str:
    """This running service: the process that started (and restarts) its workers.

    BentoML's server process starts every worker and restarts one that dies, so a
    worker's parent, by process id and start time (ids are reused), names the service.

    Returns
    -------
    str
        ``"<parent pid>:<parent start time>"`` (start time ``?`` where ``/proc`` is absent).
    """
    parent = os.getppid()
    try:  # field 22 of /proc/PID/stat, counted after the command name's closing parenthesis
        started = Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "?"
    return f"{parent}:{started}"


class ChampionSync:
    """One worker's side of the published champions.

    Parameters
    ----------
    folder : Path
        Shared by the workers (``RISKMODEL_HOME/serving``).
    worker : int
        This worker's number, 1..``workers``.
    workers : int
        How many workers serve.
    load : callable
        ``load(versions)`` loads and swaps in exactly those versions (target -> version)
        in this worker; called from the watching thread.
    service : str, optional
        The running service (default :func:`service_id`): workers of one service share
        the published generation; a new service starts from the registry's aliases.
    """

    def __init__(
        self,
        folder: Path,
        *,
        worker: int,
        workers: int,
        load: Callable[[dict[str, str]], None],
        service: str | None = None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.worker, self.workers, self._load = worker, workers, load
        self.service = service_id() if service is None else service
        self._published = self.folder / "champions.json"
        self._stamp = self._mtime()  # before reading: a later publication changes it
        current = _read_json(self._published) or {}
        self.generation: int = int(current.get("generation", 0))
        self._serving: dict[str, str] | None = None  # the versions last acknowledged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ this worker
    def join(self, versions: dict[str, str]) -> dict[str, str]:
        """The versions this (re)starting worker must serve: the service's published ones.

        When this service has published a generation, its versions (the caller loads
        them if they differ from ``versions``) and this worker takes its number. When
        nothing is published, or only by an earlier service, ``versions`` (loaded from
        the aliases) are published as this service's first generation.

        Parameters
        ----------
        versions : dict
            Target -> version number this worker loaded (from the ``champion`` aliases).

        Returns
        -------
        dict
            Target -> version number to serve; then call :meth:`acknowledge`.
        """
        with open(self.folder / "champions.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two workers starting together: one publishes
            self._stamp = self._mtime()  # before reading: a later publication changes it
            current = _read_json(self._published) or {}
            generation = int(current.get("generation", 0))
            if current.get("service") == self.service and current.get("versions"):
                self.generation = generation
                return {str(t): str(v) for t, v in current["versions"].items()}
            self.generation = max(self.generation, generation) + 1
            _write_json(self._published, {"generation": self.generation, "versions": versions, "service": self.service})
            self._stamp = self._mtime()
        return dict(versions)

    def acknowledge(self, versions: dict[str, str], generation: int | None = None) -> None:
        """Say that this worker now serves ``versions`` (at ``generation``, default the current one)."""
        generation = self.generation if generation is None else generation
        self._serving = dict(versions)
        _write_json(self._ack_path(self.worker), {"generation": generation, "versions": versions, "pid": os.getpid()})

    def start(self) -> ChampionSync:
        """Start watching the published champions (a daemon thread)."""
        self._thread = threading.Thread(target=self._watch, name=f"riskmodel-champions-{self.worker}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ reloading
    def publish(self, versions: dict[str, str]) -> int:
        """Publish ``versions`` (already serving here) as a new generation; its number."""
        with open(self.folder / "champions.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two reloads at once still get two generations
            current = _read_json(self._published) or {}
            generation = max(self.generation, int(current.get("generation", 0))) + 1
            self.generation = generation
            _write_json(self._published, {"generation": generation, "versions": versions, "service": self.service})
            self._stamp = self._mtime()
            self.acknowledge(versions, generation)
        return generation

    def wait(self, generation: int, *, timeout: float) -> list[int]:
        """Wait until every worker serves ``generation``; the workers that did not in time."""
        deadline = time.monotonic() + timeout
        while True:
            behind = [
                w
                for w in range(1, self.workers + 1)
                if (_read_json(self._ack_path(w)) or {}).get("generation", -1) < generation
            ]
            if not behind or time.monotonic() >= deadline:
                return behind
            time.sleep(POLL_SECONDS / 4)

    # ------------------------------------------------------------------ internals
    def _ack_path(self, worker: int) -> Path:
        return self.folder / f"worker-{worker}.json"

    def _mtime(self) -> int:
        try:
            return self._published.stat().st_mtime_ns
        except OSError:
            return 0

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            stamp = self._mtime()
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            current = _read_json(self._published)
            if not current or int(current.get("generation", 0)) <= self.generation:
                continue
            try:
                if dict(current["versions"]) != self._serving:  # the same versions need no loading
                    self._load(dict(current["versions"]))
            except Exception:  # noqa: BLE001  (keep serving the old set; the reload times out)
                logger.exception("worker %d could not load the published champions %s", self.worker, current)
                continue
            self.generation = int(current["generation"])
            self.acknowledge(dict(current["versions"]))
