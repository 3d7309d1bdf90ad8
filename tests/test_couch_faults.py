"""HTTP fault paths of sentinel/couch.py and sentinel/retry.py, against stub servers.

A real HTTP server (pytest-httpserver, threaded so a slow stream never holds up the next test) plays a
misbehaving CouchDB; a few faults that no well-behaved HTTP server can produce (a body shorter than its
Content-Length, a connection closed before any answer) come from a raw socket server. Everything else
in the test suite talks to the real PouchDB Server.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import sentinel.retry as retry_module
from sentinel.couch import CouchServer, redact, split_couch_url
from sentinel.embedded import free_port
from sentinel.errors import Conflict, CouchError, NotFound, TransientError
from sentinel.retry import make_retry

DB = "medic"
PASSWORD = "s3cr3t-P4ss"


# --- stub servers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stub_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def stub(stub_server: HTTPServer) -> Iterator[HTTPServer]:
    stub_server.clear()
    yield stub_server
    stub_server.clear()


def client_for(stub: HTTPServer, **kwargs: Any) -> CouchServer:
    return CouchServer(stub.url_for("/").rstrip("/"), **kwargs)


@pytest.fixture
def couch(stub: HTTPServer) -> Iterator[CouchServer]:
    client = client_for(stub)
    yield client
    client.close()


class RawServer:
    """A one-request-at-a-time TCP server that answers every request with the same raw bytes, then closes."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2.0)
                received = b""
                try:
                    while b"\r\n\r\n" not in received:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        received += chunk
                    self.requests += 1
                    if self.answer:
                        conn.sendall(self.answer)
                except OSError:
                    pass

    def __enter__(self) -> "RawServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def streamed(chunks: Callable[[], Iterator[bytes]]) -> Callable[[Request], Response]:
    """A handler answering 200 with a body streamed from `chunks()` (no Content-Length)."""

    def handler(_request: Request) -> Response:
        return Response(chunks(), status=200, content_type="application/json", direct_passthrough=True)

    return handler


# --- 5xx, refused connections, timeouts: TransientError -----------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_answer_is_a_transient_error(stub, couch, status):
    stub.expect_request(f"/{DB}/doc").respond_with_json({"error": "unavailable", "reason": "try later"}, status=status)
    with pytest.raises(TransientError) as caught:
        couch.db(DB).get("doc")
    assert str(status) in str(caught.value)


def test_a_5xx_answer_without_a_json_body_is_a_transient_error(stub, couch):
    stub.expect_request(f"/{DB}/_bulk_docs", method="POST").respond_with_data("<html>Bad Gateway</html>", status=502)
    with pytest.raises(TransientError):
        couch.db(DB).bulk_docs([{"_id": "a"}])


def test_a_5xx_on_every_kind_of_request_is_a_transient_error(stub, couch):
    stub.expect_request("/", method="GET").respond_with_json({"error": "x"}, status=503)
    stub.expect_request(f"/{DB}/_all_docs", method="POST").respond_with_json({"error": "x"}, status=500)
    stub.expect_request(f"/{DB}/_design/sentinel/_view/contacts_by_phone").respond_with_json({"error": "x"}, status=500)
    stub.expect_request(f"/{DB}/doc", method="PUT").respond_with_json({"error": "x"}, status=500)
    db = couch.db(DB)
    for call in (
        couch.welcome,
        lambda: db.all_docs(["a"]),
        lambda: db.view("sentinel", "contacts_by_phone", keys=["+1"]),
        lambda: db.put({"_id": "doc"}),
    ):
        with pytest.raises(TransientError):
            call()


def test_a_5xx_on_the_changes_feed_is_a_transient_error(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_json({"error": "internal_server_error"}, status=500)
    with pytest.raises(TransientError):
        couch.db(DB).changes("0", limit=10, wait=1.0)


def test_a_refused_connection_is_a_transient_error():
    client = CouchServer(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(TransientError):
            client.welcome()
        with pytest.raises(TransientError):
            client.db(DB).changes("0", limit=10, wait=0.5)
        with pytest.raises(TransientError):
            client.db(DB).bulk_docs([{"_id": "a"}])
    finally:
        client.close()


def test_a_request_that_times_out_is_a_transient_error(stub):
    def slow(_request: Request) -> Response:
        time.sleep(1.5)
        return json_response({"ok": True})

    stub.expect_request(f"/{DB}/doc").respond_with_handler(slow)
    client = client_for(stub, timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(TransientError):
            client.db(DB).get("doc")
        assert time.monotonic() - started < 1.4
    finally:
        client.close()


def test_a_connection_closed_before_any_answer_is_a_transient_error():
    with RawServer(b"") as raw:
        client = CouchServer(raw.url)
        try:
            with pytest.raises(TransientError):
                client.db(DB).get("doc")
            with pytest.raises(TransientError):
                client.db(DB).changes("0", limit=10, wait=0.5)
        finally:
            client.close()


# --- the changes long-poll -----------------------------------------------------------------------------
def heartbeats(seconds: float, every: float = 0.1) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            yield b"\n"
            time.sleep(every)

    return chunks


def test_a_long_poll_that_only_sends_heartbeats_returns_an_empty_page_after_wait(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_handler(streamed(heartbeats(8.0)))
    started = time.monotonic()
    page = couch.db(DB).changes("17", limit=10, wait=0.5, heartbeat_ms=100)
    elapsed = time.monotonic() - started
    assert page.results == []
    assert page.last_seq == "17"  # where it was asked to start: nothing was skipped
    assert 0.5 <= elapsed < 4.0


def test_a_long_poll_gives_up_while_waiting_once_told_to_stop(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_handler(streamed(heartbeats(8.0)))
    stop_at = time.monotonic() + 0.3
    started = time.monotonic()
    page = couch.db(DB).changes(5, limit=10, wait=60.0, heartbeat_ms=100, should_stop=lambda: time.monotonic() > stop_at)
    assert page.results == [] and page.last_seq == 5
    assert time.monotonic() - started < 3.0


def test_a_long_poll_returns_the_changes_that_follow_heartbeats(stub, couch):
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"\n"
            time.sleep(0.1)
        yield json.dumps({"results": [{"seq": 8, "id": "a", "changes": [{"rev": "1-a"}]}], "last_seq": 8}).encode()

    stub.expect_request(f"/{DB}/_changes").respond_with_handler(streamed(chunks))
    page = couch.db(DB).changes(7, limit=10, wait=5.0, heartbeat_ms=100)
    assert [row["id"] for row in page.results] == ["a"]
    assert page.last_seq == 8


def test_a_changes_stream_dropped_mid_body_is_a_transient_error(stub, couch):
    def chunks() -> Iterator[bytes]:
        yield b'{"results":[{"seq":1,"id":"a","changes":[{"rev":"1-a"}]},'
        time.sleep(0.1)
        yield b'{"seq":2,"id":"b","cha'  # ... and the server goes away

    stub.expect_request(f"/{DB}/_changes").respond_with_handler(streamed(chunks))
    with pytest.raises(TransientError):
        couch.db(DB).changes("0", limit=10, wait=5.0, heartbeat_ms=100)


def test_a_changes_answer_shorter_than_its_content_length_is_a_transient_error():
    body = b'{"results":[{"seq":1,"id":"a","changes":[{"rev":"1-a"}]}],"last_seq":1}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 500) + body[:30]
    with RawServer(answer) as raw:
        client = CouchServer(raw.url)
        try:
            with pytest.raises(TransientError):
                client.db(DB).changes("0", limit=10, wait=2.0)
        finally:
            client.close()


def test_an_answer_shorter_than_its_content_length_is_a_transient_error():
    body = b'{"total_rows":2,"rows":[{"id":"a","key":"a","value":{"rev":"1-a"},"doc":{"_id":"a","_rev":"1-a"}}]}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 500) + body[:40]
    with RawServer(answer) as raw:
        client = CouchServer(raw.url)
        try:
            with pytest.raises(TransientError):
                client.db(DB).all_docs(["a"])
        finally:
            client.close()


def test_a_successful_answer_cut_short_without_framing_is_a_transient_error():
    """HTTP/1.0-style answers end when the connection closes: a cut is only visible as broken JSON."""
    body = b'{"total_rows":2,"rows":[{"id":"a","key":"a","value":{"rev":"1-a"},"doc":{"_id":"a","_rev":"1-a"}}]}'
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" + body[:40]
    with RawServer(answer) as raw:
        client = CouchServer(raw.url)
        try:
            with pytest.raises(TransientError):
                client.db(DB).all_docs(["a"])
        finally:
            client.close()


# --- seqs and pending pass through unchanged -----------------------------------------------------------
COUCH_SEQ = "1234-g1AAAAFTeJzLYWBgYMpgTmHgz8tPSTV0MDQy1zMAQsMcoARTIkOS_P___7MSGVAdIAhIomjSRwLdOI-FkmQ?x=1&y=2"


@pytest.mark.parametrize(
    "since, last_seq",
    [
        (0, 3),  # PouchDB Server: integers
        (41, 42),
        ("0", 3),
        ("1233-g1AAAAFTeJzLYWBgYMpgTmHgz8tPSTV0MDQy1zMAQsMcoARTIkOS_P", COUCH_SEQ),  # CouchDB: opaque strings
        (COUCH_SEQ, "1300-g1AAAAxyz"),
        ("now", "5-abc"),
    ],
)
def test_seqs_pass_through_unchanged_and_since_is_sent_exactly(stub, couch, since, last_seq):
    seen: list[str] = []
    rows = [{"seq": last_seq, "id": "a", "changes": [{"rev": "1-a"}]}]

    def handler(request: Request) -> Response:
        seen.append(request.args.get("since"))
        return json_response({"results": rows, "last_seq": last_seq})

    stub.expect_request(f"/{DB}/_changes").respond_with_handler(handler)
    page = couch.db(DB).changes(since, limit=10, wait=1.0)
    assert seen == [str(since)]
    assert page.last_seq == last_seq and type(page.last_seq) is type(last_seq)
    assert page.results[0]["seq"] == last_seq and type(page.results[0]["seq"]) is type(last_seq)


def test_an_empty_page_keeps_since_unchanged(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_json({"results": [], "last_seq": None})
    assert couch.db(DB).changes(COUCH_SEQ, limit=10, wait=1.0).last_seq == COUCH_SEQ


def test_pending_is_passed_through(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_json(
        {"results": [{"seq": "9-x", "id": "a", "changes": [{"rev": "1-a"}]}], "last_seq": "9-x", "pending": 4321}
    )
    page = couch.db(DB).changes("8-x", limit=1, wait=1.0)
    assert page.pending == 4321


def test_a_page_without_pending_says_so(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_json({"results": [{"seq": 9, "id": "a", "changes": []}], "last_seq": 9})
    assert couch.db(DB).changes(8, limit=1, wait=1.0).pending is None


def test_counting_the_backlog_uses_pending_when_the_server_gives_it(stub, couch):
    stub.expect_request(f"/{DB}/_changes").respond_with_json(
        {"results": [{"seq": "9-x", "id": "a", "changes": []}], "last_seq": "9-x", "pending": 99}
    )
    assert couch.db(DB).count_changes_since("8-x") == (100, True)


# --- retry ---------------------------------------------------------------------------------------------
@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 0.01)


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


# --- 4xx: not retried, mapped onto the error tree -------------------------------------------------------
def test_a_404_is_not_found_and_get_answers_none(stub, couch):
    stub.expect_request(f"/{DB}/missing").respond_with_json({"error": "not_found", "reason": "missing"}, status=404)
    assert couch.db(DB).get("missing") is None
    with pytest.raises(NotFound) as caught:
        couch.request("GET", f"/{DB}/missing")
    assert caught.value.status == 404 and caught.value.error == "not_found"
    assert not isinstance(caught.value, TransientError)


def test_a_409_on_a_single_write_is_a_conflict(stub, couch):
    stub.expect_request(f"/{DB}/doc", method="PUT").respond_with_json(
        {"error": "conflict", "reason": "Document update conflict."}, status=409
    )
    with pytest.raises(Conflict) as caught:
        couch.db(DB).put({"_id": "doc", "_rev": "1-old"})
    assert caught.value.status == 409 and "conflict" in str(caught.value)


@pytest.mark.parametrize(
    "status, error",
    [(400, "bad_request"), (401, "unauthorized"), (403, "forbidden"), (412, "file_exists"), (413, "too_large"), (415, "bad_content_type")],
)
def test_other_4xx_are_couch_errors_that_are_not_retried(stub, couch, fast_backoff, status, error):
    stub.expect_request(f"/{DB}/_bulk_docs", method="POST").respond_with_json({"error": error, "reason": "because"}, status=status)
    db = couch.db(DB)
    with pytest.raises(CouchError) as caught:
        make_retry(threading.Event(), max_wait=0.05)(db.bulk_docs, [{"_id": "a"}])
    exc = caught.value
    assert not isinstance(exc, (TransientError, NotFound, Conflict))
    assert (exc.status, exc.error, exc.reason) == (status, error, "because")
    assert len(stub.log) == 1  # not retried


def test_creating_an_existing_database_is_fine_only_when_allowed(stub, couch):
    stub.expect_request(f"/{DB}", method="PUT").respond_with_json({"error": "file_exists", "reason": "exists"}, status=412)
    couch.db(DB).create(exist_ok=True)
    with pytest.raises(CouchError):
        couch.db(DB).create(exist_ok=False)


def test_bulk_docs_reports_per_document_errors_and_updates_revs_of_the_others(stub, couch):
    stub.expect_request(f"/{DB}/_bulk_docs", method="POST").respond_with_json(
        [{"id": "a", "rev": "2-a"}, {"id": "b", "error": "forbidden", "reason": "no"}, {"id": "c", "error": "conflict", "reason": "c"}],
        status=201,
    )
    docs = [{"_id": "a", "_rev": "1-a"}, {"_id": "b", "_rev": "1-b"}, {"_id": "c", "_rev": "1-c"}]
    results = couch.db(DB).bulk_docs(docs)
    assert [r.get("error") for r in results] == [None, "forbidden", "conflict"]
    assert [d["_rev"] for d in docs] == ["2-a", "1-b", "1-c"]


def test_bulk_docs_matches_results_to_their_documents_when_the_server_reorders_them(stub, couch):
    """PouchDB Server puts validation failures first in its `_bulk_docs` answer, out of request order."""
    stub.expect_request(f"/{DB}/_bulk_docs", method="POST").respond_with_json(
        [
            {"id": "b", "error": "forbidden", "reason": "no"},
            {"ok": True, "id": "a", "rev": "2-a"},
            {"ok": True, "id": "c", "rev": "2-c"},
        ],
        status=201,
    )
    docs = [{"_id": "a", "_rev": "1-a"}, {"_id": "b", "_rev": "1-b"}, {"_id": "c", "_rev": "1-c"}]
    results = couch.db(DB).bulk_docs(docs)
    assert [r.get("id") for r in results] == ["a", "b", "c"]
    assert [r.get("error") for r in results] == [None, "forbidden", None]
    assert [d["_rev"] for d in docs] == ["2-a", "1-b", "2-c"]


# --- credentials never show ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        f"http://admin:{PASSWORD}@couch.example:5984/medic",
        f"https://admin:{PASSWORD}@couch.example/medic",
        f"http://admin:{PASSWORD}@127.0.0.1:5984/",
        "http://ad%40min:" + PASSWORD.replace("-", "%2D") + "@couch.example:5984/medic",
        f"http://admin:{PASSWORD}@couch.example:5984/medic?x=1#y",
    ],
)
def test_redact_never_shows_the_password(url):
    shown = redact(url)
    assert PASSWORD not in shown and PASSWORD.replace("-", "%2D") not in shown
    assert "***" in shown
    assert "couch.example" in shown or "127.0.0.1" in shown


def test_redact_leaves_urls_without_a_password_alone():
    assert redact("http://couch.example:5984/medic") == "http://couch.example:5984/medic"
    assert redact("http://admin@couch.example:5984/medic") == "http://admin@couch.example:5984/medic"


def test_a_bad_couch_url_is_reported_without_its_password():
    for bad in (f"ftp://admin:{PASSWORD}@couch.example/medic", f"http://admin:{PASSWORD}@couch.example:5984/"):
        with pytest.raises(ValueError) as caught:
            split_couch_url(bad)
        assert PASSWORD not in str(caught.value)


def test_errors_never_show_the_password(stub):
    base, auth, _ = split_couch_url(f"http://admin:{PASSWORD}@127.0.0.1:{free_port()}/medic")
    refused = CouchServer(base, auth)
    try:
        with pytest.raises(TransientError) as caught:
            refused.db(DB).get("doc")
        assert PASSWORD not in str(caught.value)
    finally:
        refused.close()
    stub.expect_request(f"/{DB}/doc").respond_with_json({"error": "unauthorized", "reason": "Name or password is incorrect."}, status=401)
    base, auth, _ = split_couch_url(f"http://admin:{PASSWORD}@" + stub.url_for("/").split("://", 1)[1] + "medic")
    wrong = CouchServer(base, auth)
    try:
        with pytest.raises(CouchError) as caught_4xx:
            wrong.db(DB).get("doc")
        assert PASSWORD not in str(caught_4xx.value)
        assert caught_4xx.value.status == 401
    finally:
        wrong.close()


def test_split_couch_url_decodes_credentials_and_database():
    base, auth, db = split_couch_url("http://ad%40min:p%3Ass@couch.example:5984/medic%2Dtest")
    assert base == "http://couch.example:5984"
    assert auth == ("ad@min", "p:ss")
    assert db == "medic-test"
