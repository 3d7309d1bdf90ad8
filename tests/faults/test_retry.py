"""The one retry policy: TransientError retried with capped backoff until success or stop."""
from __future__ import annotations

import threading
import time

import pytest
from pytest_httpserver import HTTPServer

import sentinel.core.retry as retry_module
from sentinel.core.couch import CouchServer
from sentinel.core.embedded import free_port
from sentinel.core.errors import CouchError, TransientError
from sentinel.core.retry import make_retry

from .stubs import DB


# --- retry ---------------------------------------------------------------------------------------------
def test_retry_retries_transient_errors_until_the_call_succeeds(fast_backoff):
    calls = []

    def flaky(value):
        calls.append(value)
        if len(calls) < 4:
            raise TransientError("CouchDB is down")
        return value * 2

    retry = make_retry(threading.Event(), max_wait=0.05)
    assert retry(flaky, 21) == 42
    assert calls == [21, 21, 21, 21]


def test_retry_backs_off_between_attempts(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 0.1)
    times = []

    def flaky():
        times.append(time.monotonic())
        if len(times) < 4:
            raise TransientError("down")

    make_retry(threading.Event(), max_wait=10)(flaky)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] >= 0.09
    assert gaps[2] > gaps[0] * 1.5  # growing waits


def test_retry_waits_at_most_max_wait(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 0.1)
    times = []

    def flaky():
        times.append(time.monotonic())
        if len(times) < 6:
            raise TransientError("down")

    make_retry(threading.Event(), max_wait=0.2)(flaky)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 0.5


def test_retry_does_not_retry_other_errors(fast_backoff):
    calls = []

    def broken():
        calls.append(1)
        raise CouchError(400, "bad_request", "invalid json")

    with pytest.raises(CouchError):
        make_retry(threading.Event())(broken)
    assert calls == [1]


def test_retry_stops_once_the_stop_event_is_set(fast_backoff):
    stop = threading.Event()
    calls = []

    def always_down():
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        raise TransientError("down")

    with pytest.raises(TransientError):
        make_retry(stop, max_wait=0.05)(always_down)
    assert len(calls) == 3


def test_retry_wakes_from_a_long_backoff_when_stopped(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 30.0)
    stop = threading.Event()
    calls = []

    def always_down():
        calls.append(1)
        raise TransientError("down")

    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(TransientError):
        make_retry(stop)(always_down)
    assert time.monotonic() - started < 3.0
    assert len(calls) <= 2


def test_retry_gets_through_5xx_answers_from_the_server(stub, couch, fast_backoff):
    stub.expect_oneshot_request(f"/{DB}/doc").respond_with_json({"error": "unavailable"}, status=503)
    stub.expect_oneshot_request(f"/{DB}/doc").respond_with_data("Bad Gateway", status=502)
    stub.expect_request(f"/{DB}/doc").respond_with_json({"_id": "doc", "_rev": "1-a", "x": 1})
    doc = make_retry(threading.Event(), max_wait=0.05)(couch.db(DB).get, "doc")
    assert doc == {"_id": "doc", "_rev": "1-a", "x": 1}
    assert len(stub.log) == 3


def test_retry_gets_through_a_refused_connection_once_the_server_is_back(fast_backoff):
    port = free_port()
    client = CouchServer(f"http://127.0.0.1:{port}")
    server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
    server.expect_request("/").respond_with_json({"couchdb": "Welcome"})
    attempts = []

    def welcome():
        attempts.append(1)
        if len(attempts) == 3:
            server.start()
        return client.welcome()

    try:
        assert make_retry(threading.Event(), max_wait=0.05)(welcome) == {"couchdb": "Welcome"}
        assert len(attempts) == 3
    finally:
        client.close()
        if server.is_running():
            server.stop()


