"""Reliability against the real PouchDB Server: kill -9 mid-backlog, the server going away under the
daemon, malformed documents, changes that keep failing, and CouchDB answering 5xx or losing answers.

The kill -9 and server-restart scenarios start their own PouchDB Server, so stopping it never disturbs
the session server the other tests share. Seqs are opaque: they are only ever compared for equality or
passed back as `since`.
"""
from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import pytest
import respx

import sentinel.retry as retry_module
import sentinel.runner as runner_module
from sentinel.couch import CouchDB, CouchServer
from sentinel.embedded import PouchDBServer, free_port
from sentinel.parking import error_doc_id
from sentinel.runner import Runner

from .support import HIERARCHY, drain, put_settings, report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_ID = "_local/transitions-seq"
ALL_TRANSITIONS = {
    "generate_shortcode_on_contacts": True,
    "update_clinics": True,
    "update_sent_by": True,
    "resolve_pending": True,
}
CHW_PHONE = "+254700000001"
CHW_CONTACT = {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}


# --- helpers -----------------------------------------------------------------------------------------
def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def checkpoint_of(sentinel_db: CouchDB) -> Any:
    """The stored checkpoint value, or None when Sentinel has not saved one yet."""
    doc = sentinel_db.get(CHECKPOINT_ID)
    return None if doc is None else doc.get("value")


def feed_is_empty_after(main: CouchDB, since: Any) -> bool:
    """`GET /<db>/_changes?since=<since>&limit=1` answers no change."""
    page = main.server.request("GET", f"/{main.name}/_changes", params={"since": str(since), "limit": 1})
    return not page.get("results")


def caught_up(main: CouchDB, sentinel_db: CouchDB) -> bool:
    value = checkpoint_of(sentinel_db)
    return value is not None and feed_is_empty_after(main, value)


def docs_by_id(db: CouchDB) -> dict[str, dict[str, Any]]:
    rows = db.all_docs_range("", "\ufff0")
    return {row["id"]: row["doc"] for row in rows if isinstance(row.get("doc"), dict)}


def generation(doc: dict[str, Any]) -> int:
    return int(doc["_rev"].split("-", 1)[0])


def pending_task(to: str, text: str) -> dict[str, Any]:
    return {
        "messages": [{"uuid": f"uuid-{text}", "to": to, "message": text}],
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": "2024-01-01T00:00:00.000Z"}],
    }


def sent_entries(task: dict[str, Any]) -> int:
    return sum(1 for entry in task.get("state_history", []) if entry.get("state") == "sent")


def assert_shortcodes_unique(docs: Iterable[dict[str, Any]]) -> None:
    codes = [json.dumps(d[k], sort_keys=True) for d in docs for k in ("patient_id", "place_id") if k in d]
    duplicated = sorted({c for c in codes if codes.count(c) > 1}) if len(codes) != len(set(codes)) else []
    assert not duplicated, f"shortcodes given to more than one document: {duplicated[:10]}"


def parked_errors(sentinel_db: CouchDB) -> dict[str, dict[str, Any]]:
    rows = sentinel_db.all_docs_range("sentinel-error:", "sentinel-error:\ufff0")
    return {row["doc"]["doc_id"]: row["doc"] for row in rows if isinstance(row.get("doc"), dict)}


def sentinel_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sentinel", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COUCH_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- 1. kill -9 in the middle of a large backlog -------------------------------------------------------
PERSONS = 2000
REPORTS = 800
CLINICS = 10


def big_backlog() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(places, persons, reports): a hierarchy without place ids, people without patient ids, reports
    from those people each carrying pending tasks."""
    places: list[dict[str, Any]] = [{"_id": "district", "type": "district_hospital", "name": "District"}]
    for h in range(2):
        places.append({"_id": f"hc-{h}", "type": "health_center", "name": f"HC {h}", "parent": {"_id": "district"}})
    for c in range(CLINICS):
        places.append(
            {
                "_id": f"clinic-{c}",
                "type": "clinic",
                "name": f"Clinic {c}",
                "parent": {"_id": f"hc-{c % 2}", "parent": {"_id": "district"}},
                "contact": {"_id": f"person-{c:05d}"},
            }
        )
    persons = []
    for i in range(PERSONS):
        c = i % CLINICS
        persons.append(
            {
                "_id": f"person-{i:05d}",
                "type": "person",
                "name": f"Person {i}",
                "phone": f"+2547{i:08d}",
                "parent": {"_id": f"clinic-{c}", "parent": {"_id": f"hc-{c % 2}", "parent": {"_id": "district"}}},
            }
        )
    reports = []
    for i in range(REPORTS):
        sender = (i * 7) % PERSONS
        tasks = [pending_task("+254799999999", f"r{i}-a")]
        if i % 3 == 0:
            tasks.append(pending_task("+254799999998", f"r{i}-b"))
        reports.append(
            {
                "_id": f"report-{i:05d}",
                "type": "data_record",
                "form": "V",
                "reported_date": 1700000000000 + i,
                "fields": {},
                "from": f"+2547{sender:08d}",
                "tasks": tasks,
            }
        )
    return places, persons, reports


class Daemon:
    """`sentinel run` as a child process, its output appended to one log file across restarts."""

    def __init__(self, couch_url: str, log_path: Path, batch_size: int = 200):
        self.args = sentinel_command("run", "--couch-url", couch_url, "--batch-size", str(batch_size))
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"===== start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=child_env())

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.alive(), f"the daemon died by itself:\n{self.log_tail()}"
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(10) == -signal.SIGKILL

    def terminate(self, timeout: float) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.mark.slow
def test_kill_9_twice_in_a_large_backlog_then_restart_processes_every_document_exactly_once(tmp_path):
    rng = random.Random(20240607)
    couch = PouchDBServer(data_dir=tmp_path / "couch").start()
    client = CouchServer(couch.url)
    daemon = Daemon(f"{couch.url}/medic", tmp_path / "sentinel.log")
    try:
        main, sentinel_db = client.db("medic"), client.db("medic-sentinel")
        main.create()
        put_settings(main, {"transitions": ALL_TRANSITIONS})
        places, persons, reports = big_backlog()
        seeded = places + persons + reports
        for i in range(0, len(seeded), 1000):
            assert not any("error" in r for r in main.bulk_docs([dict(d) for d in seeded[i : i + 1000]]))

        # first run: killed while it is still giving people their patient ids
        daemon.start()
        seen: list[Any] = []

        def checkpoint_moved_twice() -> bool:
            value = checkpoint_of(sentinel_db)
            if value is not None and (not seen or seen[-1] != value):
                seen.append(value)
            return len(seen) >= 2 or not daemon.alive()

        wait_until(checkpoint_moved_twice, 45, "the first checkpoints", every=0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        daemon.kill9()
        first_kill_at = checkpoint_of(sentinel_db)
        assert not feed_is_empty_after(main, first_kill_at)
        assert "patient_id" not in main.get(persons[-1]["_id"]), "the backlog was done before the first kill"

        # second run: killed while it is working on the reports
        daemon.start()
        wait_until(lambda: "sent_by" in (main.get(reports[0]["_id"]) or {}) or not daemon.alive(), 45, "reports being processed")
        time.sleep(rng.uniform(0.0, 0.4))
        daemon.kill9()
        second_kill_at = checkpoint_of(sentinel_db)
        assert second_kill_at != first_kill_at, "the checkpoint did not move during the second run"
        assert not feed_is_empty_after(main, second_kill_at)
        assert "sent_by" not in main.get(reports[-1]["_id"]), "the backlog was done before the second kill"

        # third run: allowed to catch up
        daemon.start()
        wait_until(lambda: caught_up(main, sentinel_db) or not daemon.alive(), 50, "Sentinel to catch up", every=0.25)
        assert daemon.alive(), daemon.log_tail()

        stored = docs_by_id(main)
        infos = docs_by_id(sentinel_db)
        for place in places:
            doc = stored[place["_id"]]
            assert doc.get("place_id") and "patient_id" not in doc, doc
            assert generation(doc) == 2, f"{doc['_id']} was written {generation(doc) - 1} times"
        for person in persons:
            doc = stored[person["_id"]]
            assert doc.get("patient_id") and "place_id" not in doc, doc
            assert generation(doc) == 2, f"{doc['_id']} was written {generation(doc) - 1} times"
        assert_shortcodes_unique(stored.values())
        by_id = {p["_id"]: p for p in persons}
        for original in reports:
            doc = stored[original["_id"]]
            sender = by_id[f"person-{(int(original['_id'][-5:]) * 7) % PERSONS:05d}"]
            assert doc["contact"]["_id"] == sender["_id"], doc
            assert doc["contact"]["parent"] == sender["parent"], doc
            assert doc["sent_by"] == sender["name"]
            assert "errors" not in doc, doc
            assert len(doc["tasks"]) == len(original["tasks"]), f"tasks added to {doc['_id']}: {doc['tasks']}"
            for task in doc["tasks"]:
                assert task["state"] == "sent"
                assert sent_entries(task) == 1, f"{doc['_id']} was sent twice: {task}"
                assert [e["state"] for e in task["state_history"]] == ["pending", "sent"]
            assert generation(doc) == 2, f"{doc['_id']} was written {generation(doc) - 1} times"
        missing = [d["_id"] for d in seeded if not isinstance(infos.get(f"{d['_id']}-info", {}).get("transitions"), dict)]
        assert not missing, f"{len(missing)} documents without an infodoc, e.g. {missing[:5]}"
        assert not parked_errors(sentinel_db)
        assert "Parking" not in daemon.log_text()

        # SIGTERM: a prompt, clean exit
        started = time.monotonic()
        assert daemon.terminate(timeout=20) == 0, daemon.log_tail()
        assert time.monotonic() - started < 15
        assert "Stopped at seq" in daemon.log_text()
        assert caught_up(main, sentinel_db)
    finally:
        daemon.cleanup()
        client.close()
        couch.stop()


@pytest.mark.slow
def test_a_daemon_started_before_couchdb_waits_for_it_and_sigterm_during_an_outage_stops_it_cleanly(tmp_path):
    couch = PouchDBServer(data_dir=tmp_path / "couch", port=free_port())
    client = CouchServer(couch.url)
    daemon = Daemon(f"{couch.url}/medic", tmp_path / "sentinel.log", batch_size=50)
    try:
        daemon.start()  # nothing listens on the port yet
        time.sleep(2)
        assert daemon.alive(), daemon.log_tail()
        couch.start()
        main, sentinel_db = client.db("medic"), client.db("medic-sentinel")
        wait_until(lambda: main.exists() and main.get("settings") is not None or not daemon.alive(), 30, "Sentinel's start-up")
        assert daemon.alive(), daemon.log_tail()
        assert "CouchDB unavailable" in daemon.log_text()
        main.bulk_docs([dict(d) for d in HIERARCHY])
        put_settings(main, {"transitions": ALL_TRANSITIONS})
        main.bulk_docs([report(f"r{i}", **{"from": CHW_PHONE}) for i in range(20)])
        wait_until(lambda: caught_up(main, sentinel_db) and all("sent_by" in main.get(f"r{i}") for i in range(20)), 40, "the reports")
        before = checkpoint_of(sentinel_db)

        couch.stop(remove_data=False)
        time.sleep(1.5)
        assert daemon.alive(), daemon.log_tail()
        started = time.monotonic()
        assert daemon.terminate(timeout=20) == 0, daemon.log_tail()
        assert time.monotonic() - started < 10, "SIGTERM was not honoured promptly during the outage"

        couch.start()
        assert checkpoint_of(sentinel_db) == before
    finally:
        daemon.cleanup()
        client.close()
        couch.stop()


def test_sigterm_while_waiting_for_couchdb_at_start_up_is_a_clean_stop(tmp_path):
    daemon = Daemon(f"http://127.0.0.1:{free_port()}/medic", tmp_path / "sentinel.log")
    try:
        daemon.start()
        wait_until(lambda: "CouchDB unavailable" in daemon.log_text() or not daemon.alive(), 20, "a retry")
        assert daemon.alive(), daemon.log_tail()
        started = time.monotonic()
        assert daemon.terminate(timeout=20) == 0, daemon.log_tail()
        assert time.monotonic() - started < 5
    finally:
        daemon.cleanup()


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
        couch.start()
        up_at = time.monotonic()
        assert checkpoint_of(sentinel_db) == idle_checkpoint
        assert not [s for s in saves if down_at <= s[0] <= up_at]
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
        couch.start()
        up_at = time.monotonic()
        assert not [s for s in saves if down_at <= s[0] <= up_at], "the checkpoint was saved while CouchDB was down"
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


# --- 3. malformed documents --------------------------------------------------------------------------
DEEP_NESTING = 3000  # deeper than Python's default recursion limit


def put_raw(db: CouchDB, doc_id: str, body: str) -> None:
    """Store a document given as JSON text (Python's own encoder cannot write some of them)."""
    db.server.request("PUT", f"/{db.name}/{doc_id}", content=body)


def deeply_nested_report(doc_id: str, depth: int) -> str:
    head = json.dumps(report(doc_id, **{"from": CHW_PHONE}))[:-1]
    return head + ', "deep": ' + '{"a": ' * depth + "{}" + "}" * depth + "}"


def parent_chain(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {"_id": "chain-0"}
    node = root
    for i in range(1, depth):
        node["parent"] = {"_id": f"chain-{i}"}
        node = node["parent"]
    return root


def malformed_docs() -> list[dict[str, Any]]:
    clinic_lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    return [
        report("bad-from-number", **{"from": 254700000001}),
        report("bad-from-object", **{"from": {"phone": CHW_PHONE}}),
        report("bad-from-true", **{"from": True}),
        report("bad-from-huge-number", **{"from": 1e308}),
        report("bad-contact-string", contact="chw", **{"from": CHW_PHONE}),
        report("bad-contact-number", contact=42),
        report("bad-contact-id-number", contact={"_id": 5, "parent": "clinic"}),
        report("bad-contact-self", contact={"_id": "bad-contact-self", "parent": {"_id": "bad-contact-self"}}),
        report("bad-fields-list", fields=[1, 2, {"patient_id": "x"}], **{"from": CHW_PHONE}),
        report("bad-fields-string", fields="fields", patient_id={"nested": True}, **{"from": CHW_PHONE}),
        report("bad-refid-object", refid={"code": "CLN1"}),
        report("bad-refid-number", refid=12),
        report("bad-form-number", form=12),
        report("bad-form-list", form=["V"]),
        report("bad-tasks-string", tasks="pending", **{"from": CHW_PHONE}),
        report(
            "bad-tasks-items",
            tasks=[1, "x", None, {"state": "pending", "messages": "text"}, {"state": "pending", "messages": [{"to": 5, "message": {"a": 1}}], "state_history": "h"}],
            scheduled_tasks={"not": "a list"},
        ),
        report("bad-errors-string", errors="oops", **{"from": {"x": 1}}),
        report("bad-transitions-string", transitions="legacy", **{"from": CHW_PHONE}),
        report("bad-reported-date", reported_date="yesterday", **{"from": CHW_PHONE}),
        report("bad-huge-field", fields={"blob": "x" * (2 * 1024 * 1024)}, **{"from": CHW_PHONE}),
        report("bad-huge-message", tasks=[pending_task(CHW_PHONE, "y" * 1_000_000)]),
        {"_id": "bad-type-list", "type": ["data_record"], "form": "V", "from": CHW_PHONE},
        {"_id": "bad-type-number", "type": 7, "parent": {"_id": "clinic"}},
        {"_id": "bad-type-missing", "from": CHW_PHONE, "tasks": [pending_task(CHW_PHONE, "no-type")]},
        {"_id": "bad-parent-int", "type": "person", "name": "Int Parent", "parent": 7},
        {"_id": "bad-parent-string", "type": "person", "name": "String Parent", "parent": "clinic"},
        {"_id": "bad-parent-self", "type": "person", "name": "Self Parent", "parent": {"_id": "bad-parent-self"}},
        {"_id": "bad-parent-self-deep", "type": "clinic", "name": "Loop", "parent": {"_id": "bad-parent-self-deep", "parent": {"_id": "bad-parent-self-deep"}}},
        {"_id": "bad-loop-a", "type": "health_center", "name": "Loop A", "parent": {"_id": "bad-loop-b"}, "contact": {"_id": "bad-loop-b"}},
        {"_id": "bad-loop-b", "type": "health_center", "name": "Loop B", "parent": {"_id": "bad-loop-a"}, "contact": {"_id": "bad-loop-a"}},
        {"_id": "bad-parent-chain", "type": "person", "name": "Deep", "parent": parent_chain(80)},
        {"_id": "bad-contact-type", "type": "contact", "contact_type": 5, "name": "Typed"},
        {"_id": "bad-contact-type-unknown", "type": "contact", "contact_type": "no_such_type", "parent": clinic_lineage},
        {"_id": "bad-patient-id-list", "type": "person", "patient_id": ["x"], "parent": clinic_lineage},
        {"_id": "bad-phone-number", "type": "person", "name": "Numeric Phone", "phone": 254711111111, "parent": clinic_lineage},
        {"_id": "bad-linked-docs", "type": "person", "name": "Linked", "linked_docs": ["a"], "parent": clinic_lineage},
        {"_id": "bad-name-huge", "type": "person", "name": "n" * 500_000, "parent": clinic_lineage},
        {"_id": "odd id/with spaces?&%#ü", "type": "person", "name": "Odd Id", "parent": clinic_lineage},
        {"_id": "bad-empty"},
    ]


@pytest.mark.slow
def test_malformed_documents_are_processed_or_recorded_as_errors_and_never_stop_the_feed(main, sentinel_db, hierarchy, make_runner):
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    bad = malformed_docs()
    for doc in bad:  # one at a time: one doc the server refuses must not hide the others
        main.put(dict(doc))
    put_raw(main, "bad-deep-nesting", deeply_nested_report("bad-deep-nesting", DEEP_NESTING))
    bad_ids = [d["_id"] for d in bad] + ["bad-deep-nesting"]
    main.put(report("normal-after", **{"from": CHW_PHONE, "tasks": [pending_task("+254799999999", "normal")]}))

    drain(runner, timeout=60)
    runner.step()  # and it goes on afterwards

    readable = [i for i in bad_ids if i != "bad-deep-nesting"]  # too deep for Python's json module
    stored = main.all_docs(readable + ["normal-after"] + [d["_id"] for d in hierarchy])
    deep = httpx.get(f"{main.server.base_url}/{main.name}/bad-deep-nesting").text
    stored["bad-deep-nesting"] = {"errors": ["(unreadable)"]} if '"errors"' in deep else {}
    infos = docs_by_id(sentinel_db)
    parked = parked_errors(sentinel_db)

    normal = stored["normal-after"]
    assert normal["contact"] == CHW_CONTACT
    assert normal["sent_by"] == "Chloe CHW"
    assert normal["tasks"][0]["state"] == "sent" and sent_entries(normal["tasks"][0]) == 1
    assert isinstance(infos["normal-after-info"]["transitions"], dict)

    unaccounted = []
    for doc_id in bad_ids:
        processed = isinstance(infos.get(f"{doc_id}-info", {}).get("transitions"), dict)
        errors = stored[doc_id].get("errors")
        recorded = isinstance(errors, list) and errors != []
        is_parked = doc_id in parked and bool(parked[doc_id].get("error"))
        if not (processed or recorded or is_parked):
            unaccounted.append(doc_id)
    assert not unaccounted, f"malformed documents neither processed nor recorded as errors: {unaccounted}"

    # documents whose only fault is their lineage still get what they are owed
    for doc_id in ("bad-parent-self", "bad-parent-int", "bad-parent-string", "bad-phone-number", "odd id/with spaces?&%#ü", "bad-name-huge"):
        assert stored[doc_id].get("patient_id"), f"{doc_id} got no patient_id: {parked.get(doc_id)}"
    for doc_id in ("bad-parent-self-deep", "bad-loop-a", "bad-loop-b"):
        assert stored[doc_id].get("place_id"), f"{doc_id} got no place_id: {parked.get(doc_id)}"
    assert stored["bad-patient-id-list"]["patient_id"] == ["x"]
    assert stored["bad-contact-string"]["sent_by"] == "Chloe CHW"
    assert len(stored["bad-huge-field"]["fields"]["blob"]) == 2 * 1024 * 1024
    assert stored["bad-huge-field"]["sent_by"] == "Chloe CHW"
    assert stored["bad-huge-message"]["tasks"][0]["state"] == "sent"
    assert_shortcodes_unique(stored.values())
    for failure in parked.values():
        assert failure["attempts"] >= 1 and failure["next_attempt"] and failure["error"]


# --- 4. a change that keeps failing is parked, retried with growing backoff, then cleared -----------------
FORBID_DDOC = {
    "_id": "_design/test-forbid",
    "validate_doc_update": "function (newDoc) { if (newDoc.forbid) { throw({forbidden: 'forbidden by the test'}); } }",
}


def sentinel_status(couch_url: str) -> dict[str, Any]:
    done = subprocess.run(
        sentinel_command("status", "--json", "--couch-url", couch_url),
        capture_output=True,
        cwd=PROJECT_ROOT,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def set_next_attempt_in_the_past(sentinel_db: CouchDB, doc_id: str) -> None:
    parked = sentinel_db.get(error_doc_id(doc_id))
    parked["next_attempt"] = "2000-01-01T00:00:00.000Z"
    sentinel_db.put(parked)


def minutes_between(start: str, end: str) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds() / 60


@pytest.mark.slow
def test_a_change_that_keeps_failing_is_parked_retried_with_growing_backoff_and_cleared_once_it_succeeds(
    main, sentinel_db, hierarchy, make_runner, pouchdb, monkeypatch
):
    monkeypatch.setattr(runner_module, "PARKED_CHECK_SECONDS", 0.0)
    lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    main.put({"_id": "stubborn", "type": "person", "name": "Stubborn", "forbid": True, "parent": lineage})
    main.put({"_id": "fine", "type": "person", "name": "Fine", "parent": lineage})
    main.put(dict(FORBID_DDOC))  # from now on the server refuses to save `stubborn`
    stubborn_rev = main.get("stubborn")["_rev"]
    couch_url = f"{pouchdb.url}/{main.name}"

    # one change per batch: which document a refused write belongs to is pinned by the next test
    runner = make_runner({"transitions": {"generate_shortcode_on_contacts": True}}, batch_size=1)
    drain(runner)

    # parked with its error; the feed went on past it
    assert main.get("fine").get("patient_id")
    assert main.get("stubborn")["_rev"] == stubborn_rev
    parked = sentinel_db.get(error_doc_id("stubborn"))
    assert parked is not None, "the failing change was dropped"
    assert parked["type"] == "sentinel-error" and parked["doc_id"] == "stubborn"
    assert "forbidden" in parked["error"]
    assert parked["attempts"] == 1 and parked["seq"] is not None
    assert minutes_between(parked["last_failed"], parked["next_attempt"]) == pytest.approx(1)
    info = sentinel_db.get("stubborn-info")
    assert info is None or "generate_shortcode_on_contacts" not in (info.get("transitions") or {})
    main.put({"_id": "later", "type": "person", "name": "Later", "parent": lineage})
    drain(runner)
    assert main.get("later").get("patient_id"), "a parked change blocked the feed"

    status = sentinel_status(couch_url)
    assert status["parked_failures"] == 1
    assert [f["doc_id"] for f in status["failures"]] == ["stubborn"]
    assert "forbidden" in status["failures"][0]["error"] and status["failures"][0]["attempts"] == 1
    assert status["backlog"] == 0

    # not due yet: left alone
    runner.step()
    assert sentinel_db.get(error_doc_id("stubborn"))["attempts"] == 1

    # due, still failing: parked again, with a longer delay
    set_next_attempt_in_the_past(sentinel_db, "stubborn")
    runner.step()
    parked = sentinel_db.get(error_doc_id("stubborn"))
    assert parked["attempts"] == 2
    assert minutes_between(parked["last_failed"], parked["next_attempt"]) == pytest.approx(4)
    assert sentinel_status(couch_url)["failures"][0]["attempts"] == 2

    # due, and the cause is gone: processed, and the error doc is cleared
    ddoc = main.get(FORBID_DDOC["_id"])
    main.delete_doc(ddoc["_id"], ddoc["_rev"])
    set_next_attempt_in_the_past(sentinel_db, "stubborn")
    runner.step()
    drain(runner)
    assert sentinel_db.get(error_doc_id("stubborn")) is None
    stubborn = main.get("stubborn")
    assert stubborn.get("patient_id") and generation(stubborn) == 2
    assert isinstance(sentinel_db.get("stubborn-info")["transitions"], dict)
    assert_shortcodes_unique(docs_by_id(main).values())
    status = sentinel_status(couch_url)
    assert status["parked_failures"] == 0 and status["failures"] == []


def test_a_write_the_server_refuses_parks_its_own_change_and_no_other(main, sentinel_db, hierarchy, make_runner):
    """PouchDB Server answers validation failures first in `_bulk_docs`, out of request order."""
    lineage = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
    people = [{"_id": f"p{i}", "type": "person", "name": f"P{i}", "parent": lineage} for i in range(4)]
    people.insert(2, {"_id": "stubborn", "type": "person", "name": "Stubborn", "forbid": True, "parent": lineage})
    main.bulk_docs(people)
    main.put(dict(FORBID_DDOC))
    stubborn_rev = main.get("stubborn")["_rev"]
    runner = make_runner({"transitions": {"generate_shortcode_on_contacts": True}})
    drain(runner)
    assert list(parked_errors(sentinel_db)) == ["stubborn"]
    assert main.get("stubborn")["_rev"] == stubborn_rev
    for doc in HIERARCHY + [p for p in people if p["_id"] != "stubborn"]:
        stored = main.get(doc["_id"])
        assert stored.get("patient_id") or stored.get("place_id"), f"{doc['_id']} was not processed"
        assert isinstance(sentinel_db.get(f"{doc['_id']}-info")["transitions"], dict)
    info = sentinel_db.get("stubborn-info")
    assert info is None or "generate_shortcode_on_contacts" not in (info.get("transitions") or {})


def test_a_change_whose_processing_breaks_is_parked_and_the_rest_of_the_batch_goes_on(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    """A bug that breaks the whole batch: it is processed change by change, and only the culprit is parked."""
    import transitions.update_sent_by as update_sent_by

    real_prefetch = update_sent_by.prefetch

    def prefetch(docs, batch):
        if any(d.get("_id") == "culprit" for d in docs):
            raise RuntimeError("prefetch bug")
        return real_prefetch(docs, batch)

    monkeypatch.setattr(update_sent_by, "prefetch", prefetch)
    runner = make_runner({"transitions": ALL_TRANSITIONS})
    main.bulk_docs([report("r1", **{"from": CHW_PHONE}), report("culprit", **{"from": CHW_PHONE}), report("r2", **{"from": CHW_PHONE})])
    drain(runner)
    assert main.get("r1")["sent_by"] == "Chloe CHW" and main.get("r2")["sent_by"] == "Chloe CHW"
    assert "sent_by" not in main.get("culprit")
    parked = parked_errors(sentinel_db)
    assert list(parked) == ["culprit"]
    assert "prefetch bug" in parked["culprit"]["error"]


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
