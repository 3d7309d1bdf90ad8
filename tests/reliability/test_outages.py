"""CouchDB going away, answering 5xx or losing answers under a running daemon: it waits, retries, and
never moves the checkpoint past work that was not saved."""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any

import httpx
import pytest
import respx

import sentinel.core.retry as retry_module
from sentinel.core.couch import CouchServer
from sentinel.core.embedded import PouchDBServer
from sentinel.daemon.runner import Runner

from ..support import HIERARCHY, drain, put_settings, report
from .helpers import (
    ALL_TRANSITIONS,
    CHW_CONTACT,
    CHW_PHONE,
    assert_shortcodes_unique,
    caught_up,
    checkpoint_of,
    docs_by_id,
    generation,
    parked_errors,
    pending_task,
    sent_entries,
    wait_until,
)


# --- 2. the server stopped and restarted under a running daemon -----------------------------------------
class ThreadedRunner:
    """A Runner looping in a thread, as the daemon's main loop does, with every exception kept."""

    def __init__(self, runner: Runner):
        self.runner = runner
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="sentinel-under-test", daemon=True)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def start(self) -> None:
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 20.0) -> None:
        self.runner.stop()
        self.thread.join(timeout)


@pytest.mark.slow
def test_the_server_going_away_under_the_daemon_pauses_it_without_moving_the_checkpoint(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sentinel")
    couch = PouchDBServer(data_dir=tmp_path / "couch").start()
    client = CouchServer(couch.url)
    daemon_client = CouchServer(couch.url)
    main, sentinel_db = client.db("medic"), client.db("medic-sentinel")
    main.create()
    main.bulk_docs([dict(d) for d in HIERARCHY])
    put_settings(main, {"transitions": ALL_TRANSITIONS})

    runner = Runner(daemon_client, "medic", batch_size=20, idle_wait=0.5)
    saves: list[tuple[float, Any]] = []
    real_save = runner.checkpoint.save

    def recorded_save(value: Any) -> Any:
        result = real_save(value)
        saves.append((time.monotonic(), value))
        return result

    runner.checkpoint.save = recorded_save  # type: ignore[method-assign]

    outage = threading.Event()
    arm = threading.Event()
    real_bulk_docs = runner.main.bulk_docs

    def bulk_docs_with_outage(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if arm.is_set() and not outage.is_set():
            couch.stop(remove_data=False)  # the server dies just as the batch is about to be written
            outage.set()
        return real_bulk_docs(docs)

    runner.main.bulk_docs = bulk_docs_with_outage  # type: ignore[method-assign]
    daemon = ThreadedRunner(runner)

    def write_reports(prefix: str, count: int) -> list[str]:
        docs = [report(f"{prefix}-{i:03d}", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", f"{prefix}{i}")]}) for i in range(count)]
        main.bulk_docs(docs)
        return [d["_id"] for d in docs]

    try:
        daemon.start()
        ids = write_reports("before", 30)
        wait_until(lambda: caught_up(main, sentinel_db), 30, "the first reports to be processed", every=0.2)

        # outage while the daemon waits on the changes feed
        idle_checkpoint = checkpoint_of(sentinel_db)
        couch.stop(remove_data=False)
        down_at = time.monotonic()
        time.sleep(3)
        assert daemon.alive(), daemon.error
        assert runner.checkpoint.value == idle_checkpoint
        restarting_at = time.monotonic()  # from here on the daemon may legitimately reach the server again
        couch.start()
        assert checkpoint_of(sentinel_db) == idle_checkpoint
        assert not [s for s in saves if down_at <= s[0] <= restarting_at]
        ids += write_reports("after-restart", 30)
        wait_until(lambda: caught_up(main, sentinel_db), 40, "reports written after the restart", every=0.2)

        # outage in the middle of a batch, between reading it and writing it
        arm.set()
        ids += write_reports("mid-batch", 30)
        assert outage.wait(30), "the daemon never tried to write the batch"
        down_at = time.monotonic()
        at_outage = runner.checkpoint.value
        time.sleep(3)
        assert daemon.alive(), daemon.error
        assert runner.checkpoint.value == at_outage, "the checkpoint moved while CouchDB was down"
        restarting_at = time.monotonic()
        couch.start()
        assert not [s for s in saves if down_at <= s[0] <= restarting_at], "the checkpoint was saved while CouchDB was down"
        wait_until(lambda: caught_up(main, sentinel_db), 40, "the interrupted batch to be processed", every=0.2)
        assert runner.checkpoint.value != at_outage

        assert daemon.alive(), daemon.error
        assert daemon.error is None
        assert any("CouchDB unavailable" in r.getMessage() for r in caplog.records)
        stored = docs_by_id(main)
        infos = docs_by_id(sentinel_db)
        for doc_id in ids:
            doc = stored[doc_id]
            assert doc["contact"] == CHW_CONTACT and doc["sent_by"] == "Chloe CHW", doc
            assert [sent_entries(t) for t in doc["tasks"]] == [1], doc
            assert generation(doc) == 2, f"{doc_id} was written {generation(doc) - 1} times"
            assert isinstance(infos[f"{doc_id}-info"]["transitions"], dict)
        assert_shortcodes_unique(stored.values())
        assert not parked_errors(sentinel_db)
    finally:
        daemon.stop()
        assert not daemon.alive(), "the runner did not stop"
        daemon_client.close()
        client.close()
        couch.stop()
    assert daemon.error is None, repr(daemon.error)




# --- CouchDB answering 5xx, or losing the answer to a write (respx on top of the real server) ----------
@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 0.01)


def test_5xx_on_a_write_pauses_the_batch_and_retries_it_without_moving_the_checkpoint(main, sentinel_db, hierarchy, make_runner, fast_backoff, caplog):
    caplog.set_level(logging.WARNING, logger="sentinel")
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    drain(runner)
    before = checkpoint_of(sentinel_db)
    main.bulk_docs([report(f"r{i}", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", f"t{i}")]}) for i in range(5)])
    events: list[str] = []

    def bulk_docs(request: httpx.Request):
        if events.count("503") < 3:
            events.append("503")
            return httpx.Response(503, json={"error": "service_unavailable", "reason": "maintenance"})
        events.append("written")
        return request

    def checkpoint(request: httpx.Request):
        events.append("checkpoint")
        return request

    with respx.mock(assert_all_called=False) as mock:
        mock.post(url__regex=rf"/{main.name}/_bulk_docs$").mock(side_effect=bulk_docs)
        mock.put(url__regex=rf"/{main.name}-sentinel/_local/transitions-seq$").mock(side_effect=checkpoint)
        mock.route().pass_through()
        outcome = runner.step()
        assert events[:4] == ["503", "503", "503", "written"]
        assert events.index("checkpoint") > events.index("written")
        assert outcome is not None and outcome.failed == []
        drain(runner)

    assert checkpoint_of(sentinel_db) != before
    assert sum("CouchDB unavailable" in r.getMessage() for r in caplog.records) >= 3
    for i in range(5):
        doc = main.get(f"r{i}")
        assert doc["sent_by"] == "Chloe CHW" and sent_entries(doc["tasks"][0]) == 1
        assert generation(doc) == 2
    assert not parked_errors(sentinel_db)


def test_5xx_on_the_checkpoint_write_is_retried_and_nothing_is_processed_twice(main, sentinel_db, hierarchy, make_runner, fast_backoff):
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    main.bulk_docs([report(f"r{i}", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", f"t{i}")]}) for i in range(5)])
    failures = []

    def checkpoint(request: httpx.Request):
        if len(failures) < 2:
            failures.append(1)
            return httpx.Response(500, json={"error": "internal_server_error"})
        return request

    with respx.mock(assert_all_called=False) as mock:
        mock.put(url__regex=rf"/{main.name}-sentinel/_local/transitions-seq$").mock(side_effect=checkpoint)
        mock.route().pass_through()
        drain(runner)
    assert len(failures) == 2
    for i in range(5):
        doc = main.get(f"r{i}")
        assert sent_entries(doc["tasks"][0]) == 1 and generation(doc) == 2


def test_a_write_whose_answer_is_lost_is_not_written_twice(main, sentinel_db, hierarchy, make_runner, pouchdb, fast_backoff, caplog):
    """The server saved the batch but the connection dropped before its answer came: the retry meets
    409s on documents that already hold exactly our content, and takes them as written."""
    caplog.set_level(logging.INFO, logger="sentinel")
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    drain(runner)
    lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    people = [{"_id": f"p{i}", "type": "person", "name": f"P{i}", "parent": lineage} for i in range(5)]
    reports = [report(f"r{i}", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", f"t{i}")]}) for i in range(5)]
    main.bulk_docs(people + reports)
    lost = []

    def bulk_docs(request: httpx.Request):
        if not lost:
            lost.append(1)
            forwarded = urllib.request.Request(
                f"{pouchdb.url}{request.url.raw_path.decode()}",
                data=request.content,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(forwarded, timeout=30) as answer:
                assert all("error" not in r for r in json.load(answer))
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return request

    with respx.mock(assert_all_called=False) as mock:
        mock.post(url__regex=rf"/{main.name}/_bulk_docs$").mock(side_effect=bulk_docs)
        mock.route().pass_through()
        drain(runner)

    assert lost == [1]
    for doc_id in [p["_id"] for p in people] + [r["_id"] for r in reports]:
        doc = main.get(doc_id)
        assert generation(doc) == 2, f"{doc_id} was written {generation(doc) - 1} times"
    for i in range(5):
        assert [sent_entries(t) for t in main.get(f"r{i}")["tasks"]] == [1]
    assert_shortcodes_unique(docs_by_id(main).values())
    assert not parked_errors(sentinel_db)
    assert not any("Re-running" in r.getMessage() for r in caplog.records)


def test_a_garbled_answer_to_the_checkpoint_write_is_retried_and_does_not_stop_the_daemon(main, sentinel_db, hierarchy, make_runner, fast_backoff):
    """A 200 whose body is not JSON (cut short, or a proxy's page) says nothing about the write: retry it."""
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    main.bulk_docs([report(f"r{i}", **{"from": CHW_PHONE}) for i in range(3)])
    garbled = []

    def checkpoint(request: httpx.Request):
        if not garbled:
            garbled.append(1)
            return httpx.Response(200, text="<html><body>Service starting</body></html>", headers={"Content-Type": "text/html"})
        return request

    with respx.mock(assert_all_called=False) as mock:
        mock.put(url__regex=rf"/{main.name}-sentinel/_local/transitions-seq$").mock(side_effect=checkpoint)
        mock.route().pass_through()
        drain(runner)
    assert garbled == [1]
    assert caught_up(main, sentinel_db)
    for i in range(3):
        assert main.get(f"r{i}")["sent_by"] == "Chloe CHW"

