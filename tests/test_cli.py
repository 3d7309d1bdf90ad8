"""The `sentinel` command as operators use it: a real process, signals, credentials in COUCH_URL.

These tests run their own PouchDB Server with an admin password, so that credentials are really
used (and must never be printed).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from sentinel.core.couch import CouchServer
from sentinel.core.embedded import PouchDBServer

from .support import HIERARCHY, report

PASSWORD = "s3cret-Pa55"
SETTINGS = {"transitions": {"update_clinics": True, "update_sent_by": True}}


@pytest.fixture(scope="module")
def secured() -> Iterator[PouchDBServer]:
    server = PouchDBServer().start()
    httpx.put(f"{server.url}/_config/admins/admin", content=json.dumps(PASSWORD), timeout=10).raise_for_status()
    yield server
    server.stop()


@pytest.fixture
def couch_url(secured: PouchDBServer) -> str:
    return f"http://admin:{PASSWORD}@127.0.0.1:{secured.port}/medic-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def couch(couch_url: str):
    server, name = CouchServer.from_url(couch_url)
    main = server.db(name)
    main.create()
    main.bulk_docs([dict(d) for d in HIERARCHY])
    yield main
    main.delete()
    server.db(f"{name}-sentinel").delete()
    server.close()


def sentinel(*args: str, couch_url: str | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("COUCH_URL", None)
    if couch_url:
        env["COUCH_URL"] = couch_url
    return subprocess.run([sys.executable, "-m", "sentinel", *args], env=env, capture_output=True, text=True, timeout=60, **kwargs)


class Daemon:
    """`sentinel run` in the background, its log in a file."""

    def __init__(self, couch_url: str, log_path: Path):
        env = dict(os.environ, COUCH_URL=couch_url)
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sentinel", "run", "--batch-size", "50"], env=env, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, text: str, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.count(text) >= count:
                return
            assert self.process.poll() is None, f"sentinel exited early:\n{self.log}"
            time.sleep(0.1)
        raise AssertionError(f"{text!r} x{count} not logged within {timeout}s:\n{self.log}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.log_file.close()
        return code


@pytest.fixture
def daemon(couch_url: str, couch, tmp_path: Path) -> Iterator[Daemon]:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    assert sentinel("settings", "push", str(settings), couch_url=couch_url).returncode == 0
    process = Daemon(couch_url, tmp_path / "sentinel.log")
    process.wait_for("Following")
    yield process
    if process.process.poll() is None:
        process.process.kill()
        process.process.wait()


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_daemon_processes_changes_and_stops_cleanly_on_sigterm(daemon: Daemon, couch):
    couch.put(report("r1", **{"from": "+254700000001"}))
    wait_until(lambda: "sent_by" in couch.get("r1"))
    assert couch.get("r1")["contact"]["_id"] == "chw"
    assert daemon.stop() == 0
    assert "Stopped at seq" in daemon.log


def test_sigusr1_pauses_the_feed_and_resumes_it(daemon: Daemon, couch):
    daemon.signal(signal.SIGUSR1)
    daemon.wait_for("Transitions feed paused")
    couch.put(report("r1", **{"from": "+254700000001"}))
    time.sleep(1.5)
    assert "sent_by" not in couch.get("r1")
    daemon.signal(signal.SIGUSR1)
    daemon.wait_for("Transitions feed resumed")
    wait_until(lambda: "sent_by" in couch.get("r1"))
    assert daemon.stop() == 0


def test_sigusr2_runs_the_scheduled_jobs_now(daemon: Daemon):
    daemon.wait_for("Task transitions_disabled_reminder completed")
    daemon.signal(signal.SIGUSR2)
    daemon.wait_for("Task transitions_disabled_reminder completed", count=2, timeout=10)
    assert daemon.stop() == 0


def test_the_password_never_appears_in_logs_or_output(daemon: Daemon, couch, couch_url):
    couch.put(report("r1", **{"from": "+254700000001"}))
    wait_until(lambda: "sent_by" in couch.get("r1"))
    status = sentinel("status", couch_url=couch_url)
    bad_url = couch_url.replace("127.0.0.1", "127.0.0.1:1").rsplit(":", 1)[0]  # nonsense port syntax
    broken = sentinel("status", couch_url=bad_url)
    daemon.stop()
    for text in (daemon.log, status.stdout, status.stderr, broken.stdout, broken.stderr):
        assert PASSWORD not in text
    assert "admin:***@" in daemon.log


def test_status_reports_checkpoint_backlog_failures_and_settings(couch, couch_url, daemon: Daemon):
    couch.put(report("r1", **{"from": "+254700000001"}))
    wait_until(lambda: "sent_by" in couch.get("r1"))
    wait_until(lambda: json.loads(sentinel("status", "--json", couch_url=couch_url).stdout)["backlog"] == 0)
    daemon.stop()
    couch.put(report("r2", **{"from": "+254700000001"}))
    result = sentinel("status", "--json", couch_url=couch_url)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["checkpoint"] is not None
    assert status["backlog"] == 1 and status["backlog_exact"] is True
    assert status["parked_failures"] == 0 and status["failures"] == []
    assert status["settings"] == {
        "valid": True, "rev": couch.get("settings")["_rev"], "transitions": ["update_clinics", "update_sent_by"], "warnings": []
    }
    human = sentinel("status", couch_url=couch_url).stdout
    assert "backlog:     1 change(s)" in human and "transitions enabled: update_clinics, update_sent_by" in human


def test_status_shows_invalid_settings_with_every_problem(couch, couch_url):
    couch.put({"_id": "settings", "settings": {"transitions": {"nope": True}, "schedule_evening_hours": 99}})
    human = sentinel("status", couch_url=couch_url).stdout
    assert "INVALID" in human and 'Unknown transition "nope"' in human and "schedule_evening_hours" in human


def test_settings_warnings_are_in_the_start_up_log_status_and_check_config(couch, couch_url, tmp_path):
    lenient = {"synthetic_date": "", "schedule_morning_hours": "6", "transitions": {"update_sent_by": "true"}}
    file = tmp_path / "lenient.json"
    file.write_text(json.dumps(lenient))
    checked = sentinel("check-config", str(file))
    assert checked.returncode == 0 and "3 warning(s)" in checked.stdout
    pushed = sentinel("settings", "push", str(file), couch_url=couch_url)
    assert pushed.returncode == 0 and "settings.schedule_morning_hours" in pushed.stdout
    process = Daemon(couch_url, tmp_path / "sentinel.log")
    try:
        process.wait_for("Following")
        assert "3 value(s) ignored or read as CHT reads them" in process.log
        for path in ("settings.synthetic_date", "settings.schedule_morning_hours", "settings.transitions.update_sent_by"):
            assert path in process.log
        couch.put(report("r1", **{"from": "+254700000001"}))
        wait_until(lambda: "sent_by" in couch.get("r1"))  # the transition enabled with "true" runs
    finally:
        process.stop()
    status = json.loads(sentinel("status", "--json", couch_url=couch_url).stdout)["settings"]
    assert status["valid"] is True and [w.split(":")[0] for w in status["warnings"]] == [
        "settings.synthetic_date", "settings.schedule_morning_hours", "settings.transitions.update_sent_by"
    ]
    human = sentinel("status", couch_url=couch_url).stdout
    assert "warnings:    3 settings value(s)" in human and "settings.synthetic_date" in human


def test_a_push_the_daemon_queues_is_sent_at_once_not_at_the_next_interval(couch, couch_url, tmp_path, httpserver):
    httpserver.expect_request("/in", method="POST").respond_with_json({})
    settings = {"transitions": {"mark_for_outbound": True}, "outbound": {"referral": {
        "relevant_to": "doc.form === 'REF'",
        "destination": {"base_url": httpserver.url_for("/"), "path": "/in"},
        "mapping": {"id": "doc._id", "patient": "doc.fields.patient_id"},
    }}}
    file = tmp_path / "outbound.json"
    file.write_text(json.dumps(settings))
    assert sentinel("settings", "push", str(file), couch_url=couch_url).returncode == 0
    process = Daemon(couch_url, tmp_path / "sentinel.log")  # the jobs' interval is the default 5 minutes
    try:
        process.wait_for("Following")
        process.wait_for("Task outbound completed")
        couch.put(report("ref-1", form="REF", fields={"patient_id": "12345"}))
        wait_until(lambda: len(httpserver.log) == 1)
        assert httpserver.log[0][0].get_json() == {"id": "ref-1", "patient": "12345"}
    finally:
        process.stop()


def test_tick_runs_the_scheduled_jobs_once_as_of_the_given_time(couch, couch_url):
    couch.put({"_id": "settings", "settings": {"transitions": {"nope": True}}})
    result = sentinel("tick", "--now", "2026-01-31T09:00:00Z", couch_url=couch_url)
    assert result.returncode == 0, result.stderr
    assert "as of 2026-01-31T09:00:00+00:00: 0 failed" in result.stdout
    assert "Task transitions_disabled_reminder completed" in result.stderr
    assert 'Unknown transition "nope"' in result.stderr  # the reminder names the problems
    assert sentinel("tick", "--now", "yesterday", couch_url=couch_url).returncode != 0


def test_settings_push_validates_before_writing_and_keeps_other_keys(couch, couch_url, tmp_path):
    couch.put({"_id": "settings", "settings": {"locale": "en"}, "other": "kept"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"transitions": {"nope": True}}))
    refused = sentinel("settings", "push", str(bad), couch_url=couch_url)
    assert refused.returncode == 1 and 'Unknown transition "nope"' in refused.stdout
    assert couch.get("settings")["settings"] == {"locale": "en"}
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SETTINGS))
    assert sentinel("settings", "push", str(good), couch_url=couch_url).returncode == 0
    doc = couch.get("settings")
    assert doc["settings"] == SETTINGS and doc["other"] == "kept"


def test_run_without_couch_url_explains_what_to_set():
    result = sentinel("run")
    assert result.returncode != 0
    assert "COUCH_URL is not set" in result.stderr
