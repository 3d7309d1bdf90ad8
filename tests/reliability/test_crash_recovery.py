"""kill -9 in the middle of a large backlog, and stops while CouchDB is away: nothing lost, nothing twice."""
from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sentinel.core.couch import CouchServer
from sentinel.core.embedded import PouchDBServer, free_port

from ..support import HIERARCHY, put_settings, report
from .helpers import (
    ALL_TRANSITIONS,
    CHW_PHONE,
    PROJECT_ROOT,
    assert_shortcodes_unique,
    caught_up,
    checkpoint_of,
    child_env,
    docs_by_id,
    feed_is_empty_after,
    generation,
    parked_errors,
    pending_task,
    sent_entries,
    sentinel_command,
    wait_until,
)

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

