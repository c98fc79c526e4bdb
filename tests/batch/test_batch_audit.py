"""No batch output escapes the audit (issue 10, point 4).

A batch's record is committed while its files are still temporaries, and the files are
renamed into place only after: a batch that cannot be recorded publishes nothing, and a
run killed at any moment leaves either no new output or an output with its record
("recorded but not published" is the one acceptable gap: the record names an output
nobody received).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time

import pytest
from batch_helpers import hidden_files, score_process, wait_for

import riskmodel.reporting.batch as batch_module
from riskmodel.cli import main
from riskmodel.records.audit import AuditStore
from riskmodel.reporting.batch import BatchNotRecorded, run_batch


def records_for(home, output) -> list[dict]:
    """The batch records naming ``output``, newest first."""
    store = AuditStore(home.settings.audit_url)
    return [r for r in store.batch_records(limit=10_000) if r["output_path"] == str(output.resolve())]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def contents(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


#: Audit stores that cannot be written: a SQLite file under a regular file, and a
#: PostgreSQL server that is not there (port 1 on this machine refuses at once).
UNREACHABLE = {
    "sqlite": lambda tmp_path: f"sqlite:///{tmp_path / 'not-a-folder' / 'audit.db'}",
    "postgresql": lambda tmp_path: "postgresql+psycopg://riskmodel@127.0.0.1:1/audit",
}


@pytest.mark.parametrize("kind", sorted(UNREACHABLE))
def test_with_the_audit_unreachable_score_fails_and_publishes_nothing(
    tmp_path, month, home_env, runner, monkeypatch, kind
):
    source = month.write(tmp_path / "releases.parquet", month.releases.head(200))
    earlier = tmp_path / "earlier" / "scores.csv"
    assert runner.invoke(main, ["score", "--input", str(source), "--output", str(earlier)]).exit_code == 0
    before = contents(earlier.parent)
    assert set(before) == {"scores.csv", "scores.csv.rejects.csv", "scores.csv.drift.json"}
    fresh = tmp_path / "fresh" / "scores.parquet"
    report = tmp_path / "fresh" / "report.html"

    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("RISKMODEL_AUDIT_URL", UNREACHABLE[kind](tmp_path))
    rerun = runner.invoke(main, ["score", "--input", str(source), "--output", str(earlier)])
    first = runner.invoke(main, ["score", "--input", str(source), "--output", str(fresh), "--report", str(report)])

    assert contents(earlier.parent) == before  # the earlier output, rejects and drift, byte for byte
    assert hidden_files(earlier.parent) == []
    assert list(fresh.parent.iterdir()) == []  # no output, rejects, drift, report or temporary
    for result in (rerun, first):
        assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        assert "could not be recorded" in result.stderr and "no scores, rejects or drift file" in result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_record_holds_the_fingerprint_of_the_published_output(tmp_path, month, batch_home, champions, suffix):
    source = month.write(tmp_path / "releases.parquet", month.releases.head(100))
    output = tmp_path / f"scores{suffix}"

    result = run_batch(source, output, champions=champions, store=AuditStore(batch_home.settings.audit_url))

    [record] = records_for(batch_home, output)
    assert record["output_fingerprint"] == result.output_fingerprint == sha256(output)
    assert record["input_fingerprint"] == sha256(source)
    assert record["batch_id"] == result.batch_id


def test_the_record_is_committed_before_the_output_is_published(tmp_path, month, batch_home, champions, monkeypatch):
    source = month.write(tmp_path / "releases.parquet", month.releases.head(100))
    output = tmp_path / "out" / "scores.parquet"
    seen = []
    publish = batch_module._BatchFiles.publish

    def look_then_publish(files):
        seen.append((output.exists(), records_for(batch_home, output)))
        publish(files)

    monkeypatch.setattr(batch_module._BatchFiles, "publish", look_then_publish)
    run_batch(source, output, champions=champions, store=AuditStore(batch_home.settings.audit_url))

    [(published, records)] = seen
    assert not published, "the output was in place before its record"
    assert len(records) == 1, "the output was about to be published without its record"
    assert records[0]["output_fingerprint"] == sha256(output)


def test_a_run_stopped_between_record_and_publish_leaves_a_record_and_no_output(
    tmp_path, month, batch_home, champions, monkeypatch
):
    # "Recorded but not published" is the safe side: the record names an output nobody got.
    source = month.write(tmp_path / "releases.parquet", month.releases.head(100))
    output = tmp_path / "out" / "scores.parquet"

    def killed(files):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(batch_module._BatchFiles, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        run_batch(source, output, champions=champions, store=AuditStore(batch_home.settings.audit_url))

    [record] = records_for(batch_home, output)
    assert record["output_fingerprint"] and record["rows_scored"] == 100
    assert list(output.parent.iterdir()) == []  # no output, rejects, drift, nor temporaries


def test_a_sigterm_while_recording_waits_until_the_files_are_published(
    tmp_path, month, batch_home, champions, monkeypatch
):
    source = month.write(tmp_path / "releases.parquet", month.releases.head(100))
    output = tmp_path / "out" / "scores.parquet"
    store = AuditStore(batch_home.settings.audit_url)
    record_batch = store.record_batch

    def stopped_while_recording(**values):
        os.kill(os.getpid(), signal.SIGTERM)  # handled in this (main) thread by the batch's stopper
        time.sleep(0.05)  # let the handler run here, in the middle of the record
        record_batch(**values)

    def unhandled(signum, frame):
        raise AssertionError("a SIGTERM reached the process outside the batch's handling")

    monkeypatch.setattr(store, "record_batch", stopped_while_recording)
    previous = signal.signal(signal.SIGTERM, unhandled)  # instead of the default: ending pytest
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            run_batch(source, output, champions=champions, store=store)
    finally:
        signal.signal(signal.SIGTERM, previous)

    # The stop took effect only once the record and the files were both in place.
    [record] = records_for(batch_home, output)
    assert record["output_fingerprint"] == sha256(output)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "scores.parquet",
        "scores.parquet.drift.json",
        "scores.parquet.rejects.csv",
    ]


def test_an_audit_failure_is_reported_with_what_was_scored(tmp_path, month, champions):
    source = month.write(tmp_path / "releases.parquet", month.releases.head(20))
    output = tmp_path / "out" / "scores.parquet"
    unreachable = AuditStore(f"sqlite:///{tmp_path / 'no-such-folder' / 'audit.db'}")

    with pytest.raises(BatchNotRecorded, match="could not be recorded .* no scores, rejects or drift file") as caught:
        run_batch(source, output, champions=champions, store=unreachable)

    assert caught.value.result.rows_scored == 20
    assert list(output.parent.iterdir()) == []


def test_a_run_killed_when_its_output_appears_has_its_record(tmp_path, month, home_env):
    # SIGKILL cannot be handled: the order of the steps alone must make it safe.
    source = month.write(tmp_path / "releases.parquet")
    output = tmp_path / "out" / "scores.parquet"
    with score_process(home_env.env(), source, output) as process:
        # polled every millisecond: the kill lands within a few milliseconds of the rename
        wait_for(output, process, seconds=240, poll=0.001)
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)

    assert output.exists(), f"the run ended without an output: {stderr}"
    [record] = records_for(home_env, output)
    assert record["output_fingerprint"] == sha256(output)
