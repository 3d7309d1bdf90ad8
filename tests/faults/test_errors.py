"""CouchDB failures mapped onto the error tree: 5xx, refused and cut connections are transient; 4xx are not;
credentials never show."""
from __future__ import annotations

import threading
import time

import pytest
from werkzeug import Request, Response

from sentinel.core.couch import CouchServer, redact, split_couch_url
from sentinel.core.embedded import free_port
from sentinel.core.errors import Conflict, CouchError, NotFound, TransientError
from sentinel.core.retry import make_retry

from .stubs import DB, PASSWORD, RawServer, client_for, json_response


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

