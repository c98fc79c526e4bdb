"""Worker processes follow the champions one of them publishes (riskmodel.service.workers)."""

from __future__ import annotations

import json
import threading

from riskmodel.service.workers import ChampionSync


class FakeWorker:
    """A worker's champions, as the service state keeps them."""

    def __init__(self, folder, number, workers, versions, *, fail=False):
        self.versions, self.loads, self.fail = dict(versions), [], fail
        self.sync = ChampionSync(folder, worker=number, workers=workers, load=self.load)
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


def test_a_worker_started_later_does_not_go_back_to_an_earlier_publication(tmp_path):
    first = FakeWorker(tmp_path, 1, 2, V1)
    try:
        first.sync.publish(V1)
        # worker 2 (re)starts after a promotion: it loaded the registry's newer champions
        late = FakeWorker(tmp_path, 2, 2, V2)
        try:
            threading.Event().wait(0.6)  # a few polls
            assert late.loads == [] and late.versions == V2
            assert late.sync.generation == first.sync.generation
        finally:
            late.sync.stop()
    finally:
        first.sync.stop()


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
