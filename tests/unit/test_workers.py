"""Worker processes follow the champions one of them publishes (riskmodel.service.workers)."""

from __future__ import annotations

import json
import os
import threading

from riskmodel.service.workers import ChampionSync, service_id


class FakeWorker:
    """A worker's champions, as the service state keeps them (``versions``: what the aliases gave it)."""

    def __init__(self, folder, number, workers, versions, *, fail=False, service="service-1"):
        self.versions, self.loads, self.fail = dict(versions), [], fail
        self.sync = ChampionSync(folder, worker=number, workers=workers, load=self.load, service=service)
        joined = self.sync.join(self.versions)  # as ServiceState.join_workers does
        if joined != self.versions:
            self.load(joined)
        self.sync.acknowledge(self.versions)
        self.sync.start()

    def load(self, versions):
        if self.fail:
            raise RuntimeError("registry unreachable")
        self.loads.append(dict(versions))
        self.versions = dict(versions)


V1 = {"reoffence": "1", "harm": "1", "frequency": "1"}
V2 = {"reoffence": "2", "harm": "2", "frequency": "2"}


def test_a_published_reload_reaches_every_worker_before_wait_returns(tmp_path):
    workers = [FakeWorker(tmp_path, n, 3, V1) for n in (1, 2, 3)]
    try:
        workers[0].versions = dict(V2)  # worker 1 reloaded itself, then publishes
        generation = workers[0].sync.publish(V2)
        assert workers[0].sync.wait(generation, timeout=10) == []
        assert [w.versions for w in workers] == [V2, V2, V2]
        assert workers[0].loads == []  # the publisher does not load again
        assert [w.loads for w in workers[1:]] == [[V2], [V2]]
        for n in (1, 2, 3):
            ack = json.loads((tmp_path / f"worker-{n}.json").read_text())
            assert ack["generation"] == generation and ack["versions"] == V2
    finally:
        for w in workers:
            w.sync.stop()


def test_a_worker_that_cannot_load_is_named_and_keeps_its_versions(tmp_path):
    good, broken = FakeWorker(tmp_path, 1, 2, V1), FakeWorker(tmp_path, 2, 2, V1, fail=True)
    try:
        generation = good.sync.publish(V2)
        assert good.sync.wait(generation, timeout=1.0) == [2]
        assert broken.versions == V1
    finally:
        good.sync.stop()
        broken.sync.stop()


def test_a_restarted_worker_serves_the_published_versions_not_the_moved_aliases(tmp_path):
    first = FakeWorker(tmp_path, 1, 2, V1)  # the service's first worker publishes what it loaded
    try:
        assert json.loads((tmp_path / "champions.json").read_text())["versions"] == V1
        # the aliases moved to V2 without a reload; worker 2 (re)starts and loads them first
        late = FakeWorker(tmp_path, 2, 2, V2)
        try:
            assert late.loads == [V1] and late.versions == V1
            assert late.sync.generation == first.sync.generation
            ack = json.loads((tmp_path / "worker-2.json").read_text())
            assert ack["versions"] == V1 and ack["generation"] == first.sync.generation
            threading.Event().wait(0.6)  # a few polls: nothing more to load
            assert late.loads == [V1] and first.loads == []
        finally:
            late.sync.stop()
    finally:
        first.sync.stop()


def test_a_new_service_starts_from_the_aliases_and_its_workers_follow_its_first(tmp_path):
    old = FakeWorker(tmp_path, 1, 2, V1, service="earlier run")
    old.sync.stop()
    before = json.loads((tmp_path / "champions.json").read_text())["generation"]
    first = FakeWorker(tmp_path, 1, 2, V2, service="this run")  # promoted while the service was down
    second = FakeWorker(tmp_path, 2, 2, V1, service="this run")  # the aliases moved back meanwhile
    try:
        assert first.loads == [] and first.versions == V2
        assert second.loads == [V2] and second.versions == V2
        published = json.loads((tmp_path / "champions.json").read_text())
        assert published == {"generation": before + 1, "versions": V2, "service": "this run"}
    finally:
        first.sync.stop()
        second.sync.stop()


def test_a_worker_names_its_service_by_its_parent_process():
    assert service_id() == service_id()
    assert service_id().split(":")[0] == str(os.getppid())


def test_two_reloads_at_once_get_two_generations(tmp_path):
    a, b = (
        ChampionSync(tmp_path, worker=1, workers=2, load=lambda v: None),
        ChampionSync(tmp_path, worker=2, workers=2, load=lambda v: None),
    )
    generations = []
    threads = [threading.Thread(target=lambda s=s: generations.append(s.publish(V2))) for s in (a, b) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(generations) == list(range(1, 11))
    assert json.loads((tmp_path / "champions.json").read_text())["generation"] == 10


def test_a_publication_of_the_versions_served_is_acknowledged_without_loading(tmp_path):
    workers = [FakeWorker(tmp_path, n, 2, V1) for n in (1, 2)]
    try:
        generation = workers[0].sync.publish(V1)  # e.g. another service on this home started
        assert workers[0].sync.wait(generation, timeout=10) == []
        assert [w.loads for w in workers] == [[], []]
    finally:
        for w in workers:
            w.sync.stop()
