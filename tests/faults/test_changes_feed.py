"""The changes long-poll: heartbeats, giving up, cut streams, and seqs passed through unchanged."""
from __future__ import annotations

import json
import time
from typing import Callable, Iterator

import pytest
from werkzeug import Request, Response

from sentinel.core.couch import CouchServer
from sentinel.core.errors import TransientError

from .stubs import DB, RawServer, json_response, streamed


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


CHANGES_BODY = b'{"results":[{"seq":1,"id":"a","changes":[{"rev":"1-a"}]}],"last_seq":1}'
ALL_DOCS_BODY = b'{"total_rows":2,"rows":[{"id":"a","key":"a","value":{"rev":"1-a"},"doc":{"_id":"a","_rev":"1-a"}}]}'


@pytest.mark.parametrize(
    "body, cut_at, request_it",
    [
        pytest.param(CHANGES_BODY, 30, lambda db: db.changes("0", limit=10, wait=2.0), id="changes"),
        pytest.param(ALL_DOCS_BODY, 40, lambda db: db.all_docs(["a"]), id="all_docs"),
    ],
)
def test_an_answer_shorter_than_its_content_length_is_a_transient_error(body, cut_at, request_it):
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 500) + body[:cut_at]
    with RawServer(answer) as raw:
        client = CouchServer(raw.url)
        try:
            with pytest.raises(TransientError):
                request_it(client.db(DB))
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


