"""mark_for_outbound and the `outbound` job: CHT's outbound push (sentinel/jobs/outbound.py).

The transition queues a relevant document in `task:outbound:<id>` (sentinel database) and never
changes it; the job (run here with `tick`) maps the hydrated document to the payload, POSTs it to a
real HTTP endpoint (pytest-httpserver) and records the push in the infodoc's `completed_tasks`.
Everything else is the real PouchDB Server. The mapping, URL and hash rules themselves are checked
at the end without a database.
"""
from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from pytest_httpserver import HTTPServer

from sentinel.jobs import outbound
from sentinel.core.expressions import Expressions
from sentinel.daemon.settings_check import build
from transitions import mark_for_outbound

from ..support import CHW, Clock, ClockedWorld, drain, report

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)  # a Monday
MINUTE = timedelta(minutes=1)
KEY = "referral"
PASSWORD_KEY = "example.com"
SECRET = "s3cr3t-never-in-the-log"
ENV = "SENTINEL_SECRET_EXAMPLE_COM"
CONTACT = {"_id": "chw", "parent": CHW["parent"]}
MAPPING = {
    "patient_id": "doc.fields.patient_id",
    "chw.name": "doc.contact.name",  # the report is hydrated: its contact's name and place come along
    "chw.clinic": "doc.contact.parent.name",
    "event.temp_c": {"expr": "((doc.fields.temp_f - 32) * (5.0/9.0)).toFixed(2)"},
    "event.notes": {"path": "doc.fields.notes", "optional": True},
}
EXPECTED = {"patient_id": "12345", "chw": {"name": "Chloe CHW", "clinic": "Clinic"}, "event": {"temp_c": "37.78"}}


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def referral(doc_id: str = "r1", **fields: Any) -> dict[str, Any]:
    return report(doc_id, form="REF", contact=CONTACT, fields={"patient_id": "12345", "temp_f": 100, **fields})


def push(httpserver: HTTPServer, path: str = "/api/referral", **overrides: Any) -> dict[str, Any]:
    conf = {
        "relevant_to": "doc.type === 'data_record' && doc.form === 'REF'",
        "destination": {"base_url": httpserver.url_for("/"), "path": path,
                        "auth": {"type": "basic", "username": "sentinel", "password_key": PASSWORD_KEY}},
        "mapping": MAPPING,
    }
    conf.update(overrides)
    return conf


def app_settings(pushes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"transitions": {"mark_for_outbound": True}, "outbound": pushes, **extra}


@pytest.fixture
def world(main, sentinel_db, make_runner, hierarchy):
    def make(settings: dict[str, Any]) -> ClockedWorld:
        clock = Clock(T0)
        runner = make_runner(settings, clock=clock)
        drain(runner)
        return ClockedWorld(main, sentinel_db, runner, clock)

    return make


@pytest.fixture
def endpoint(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """The receiving system: answers 200 `{}` to every POST unless a test says otherwise."""
    yield httpserver


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    return SECRET


def received(server: HTTPServer, path: str | None = None) -> list[Any]:
    return [request for request, _ in server.log if path is None or request.path == path]


def task(w: ClockedWorld, doc_id: str = "r1") -> dict[str, Any] | None:
    return w.sentinel.get(f"task:outbound:{doc_id}")


def completed(w: ClockedWorld, doc_id: str = "r1") -> list[dict[str, Any]]:
    return (w.sentinel.get(f"{doc_id}-info") or {}).get("completed_tasks", [])


def tick(w: ClockedWorld, at: datetime) -> None:
    assert w.tick(at)["outbound"] is None  # the job never fails on what a push config does


# --- a push ----------------------------------------------------------------------------------------


def test_a_relevant_report_is_queued_and_the_document_is_not_changed(world, endpoint, secret):
    w = world(app_settings({KEY: push(endpoint)}))
    stored = w.save(referral())

    assert stored["_rev"].startswith("1-")  # CHT's transition returns false
    assert task(w) == {"_id": "task:outbound:r1", "_rev": task(w)["_rev"], "type": "task:outbound",
                       "created": ms(T0), "doc_id": "r1", "queue": [KEY]}
    assert w.sentinel.get("r1-info")["transitions"] == {}  # never recorded as run: every revision is looked at
    assert received(endpoint) == []  # nothing is sent during the batch


def test_a_relevant_report_is_pushed_once_with_the_mapped_body_and_basic_auth(world, endpoint, secret, caplog):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({"ok": True})
    caplog.set_level(logging.DEBUG)
    w = world(app_settings({KEY: push(endpoint)}))
    w.save(referral())

    tick(w, T0 + MINUTE)
    tick(w, T0 + 10 * MINUTE)

    [request] = received(endpoint)
    assert request.get_json() == EXPECTED
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"sentinel:{SECRET}".encode()).decode()
    assert task(w) is None  # the queue is empty: the task is gone
    assert completed(w) == [{"type": "outbound", "name": KEY, "timestamp": ms(T0 + MINUTE), "hash": outbound.payload_hash(EXPECTED)}]
    assert SECRET not in caplog.text
    assert "pushed r1 to referral" in caplog.text


def test_header_auth_sends_the_secret_as_the_authorization_header(world, endpoint, monkeypatch):
    monkeypatch.setenv("SENTINEL_SECRET_RAPIDPRO_TOKEN", "Token 123456789abcdef")
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    auth = {"type": "header", "name": "Authorization", "value_key": "rapidpro-token"}
    w = world(app_settings({KEY: push(endpoint, destination={"base_url": endpoint.url_for("/"), "path": "api/referral", "auth": auth})}))
    w.save(referral())

    tick(w, T0 + MINUTE)

    [request] = received(endpoint)
    assert request.headers["Authorization"] == "Token 123456789abcdef"


def test_muso_sih_auth_logs_in_for_a_token_sent_as_a_query_parameter(world, endpoint, secret):
    endpoint.expect_request("/login", method="POST").respond_with_json({"statut": 200, "data": {"username_token": "tok-1"}})
    endpoint.expect_request("/api/referral", method="POST", query_string={"token": "tok-1"}).respond_with_json({})
    auth = {"type": "muso-sih", "username": "sentinel", "password_key": PASSWORD_KEY, "path": "/login"}
    w = world(app_settings({KEY: push(endpoint, destination={"base_url": endpoint.url_for("/"), "path": "/api/referral", "auth": auth})}))
    w.save(referral())

    tick(w, T0 + MINUTE)

    login, pushed = received(endpoint)
    assert login.form.to_dict() == {"login": "sentinel", "password": SECRET}
    assert pushed.get_json() == EXPECTED and task(w) is None


def test_no_auth_sends_no_authorization_header(world, endpoint):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint, destination={"base_url": endpoint.url_for("/"), "path": "/api/referral"})}))
    w.save(referral())

    tick(w, T0 + MINUTE)

    [request] = received(endpoint)
    assert "Authorization" not in request.headers and task(w) is None


# --- which documents ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [
    pytest.param(report("other-form", form="V", contact=CONTACT), id="another form"),
    pytest.param({"_id": "p1", "type": "person", "name": "Pat", "parent": {"_id": "clinic"}}, id="a contact"),
    pytest.param(report("no-fields", form="REF", contact=CONTACT, fields=None), id="relevant_to throws (counts as false)"),
])
def test_a_document_no_config_is_relevant_to_is_neither_queued_nor_pushed(world, endpoint, secret, doc):
    conf = push(endpoint, relevant_to="doc.type === 'data_record' && doc.form === 'REF' && doc.fields.patient_id.length > 0")
    w = world(app_settings({KEY: conf}))
    w.save(doc)

    tick(w, T0 + MINUTE)

    assert task(w, doc["_id"]) is None
    assert received(endpoint) == []


def test_a_config_without_relevant_to_is_never_relevant(world, endpoint, secret):
    conf = push(endpoint)
    del conf["relevant_to"]
    w = world(app_settings({KEY: conf}))
    w.save(referral())
    assert task(w) is None


def test_each_relevant_config_is_queued_and_pushed_to_its_own_destination(world, endpoint, secret):
    endpoint.expect_request("/a", method="POST").respond_with_json({})
    endpoint.expect_request("/b", method="POST").respond_with_json({})
    w = world(app_settings({"a": push(endpoint, path="/a"), "b": push(endpoint, path="/b"),
                            "contacts": push(endpoint, path="/c", relevant_to="doc.type === 'person'")}))
    w.save(referral())
    assert task(w)["queue"] == ["a", "b"]

    tick(w, T0 + MINUTE)

    assert [r.path for r in received(endpoint)] == ["/a", "/b"]
    assert [t["name"] for t in completed(w)] == ["a", "b"]


# --- failures and retries ----------------------------------------------------------------------------


def test_a_500_from_the_endpoint_leaves_the_task_queued_and_a_later_run_pushes_it(world, endpoint, secret):
    endpoint.expect_ordered_request("/api/referral", method="POST").respond_with_data("down", status=500)
    endpoint.expect_ordered_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint)}))
    w.save(referral())

    tick(w, T0 + MINUTE)
    assert task(w)["queue"] == [KEY]
    assert task(w)["errors"] == {KEY: "server responded with 500"}
    assert completed(w) == []

    tick(w, T0 + 6 * MINUTE)
    assert len(received(endpoint)) == 2
    assert received(endpoint)[1].get_json() == EXPECTED
    assert task(w) is None
    assert [t["name"] for t in completed(w)] == [KEY]


def test_an_unreachable_destination_keeps_the_task_queued_and_is_tried_once_per_run(world, endpoint, secret, caplog):
    dead = {"base_url": "http://127.0.0.1:9", "path": "/x", "auth": {"type": "basic", "username": "u", "password_key": PASSWORD_KEY}}
    w = world(app_settings({KEY: push(endpoint, destination=dead)}))
    w.save_all([referral("r1"), referral("r2")])

    tick(w, T0 + MINUTE)

    assert task(w, "r1")["queue"] == [KEY] and task(w, "r2")["queue"] == [KEY]
    assert "did not answer" in task(w, "r1")["errors"][KEY]
    assert "errors" not in task(w, "r2")  # not tried again in this run
    assert SECRET not in caplog.text


def test_a_missing_credential_is_a_warning_and_keeps_the_task_queued_until_one_is_stored(world, endpoint, caplog):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint)}))
    w.save(referral())

    with caplog.at_level(logging.WARNING, logger="sentinel.jobs.outbound"):
        tick(w, T0 + MINUTE)
    assert received(endpoint) == []
    assert task(w)["queue"] == [KEY]
    assert task(w)["errors"][KEY].startswith("Credentials for 'example.com' have not been configured")
    assert any(r.levelno == logging.WARNING and "Credentials for 'example.com'" in r.getMessage() for r in caplog.records)

    w.sentinel.put({"_id": "_local/credentials", "credentials": {PASSWORD_KEY: SECRET}})  # the other place a secret can live
    tick(w, T0 + 6 * MINUTE)
    [request] = received(endpoint)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"sentinel:{SECRET}".encode()).decode()
    assert task(w) is None
    assert SECRET not in caplog.text


def test_a_bad_mapping_records_an_error_on_the_task_without_stopping_the_other_pushes(world, endpoint, secret):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    bad = {
        "throws": {"x": {"expr": "doc.fields.nothing.deep"}},
        "undefined": {"x": {"expr": "doc.fields.nothing"}},
        "missing": {"y": "doc.fields.missing"},
        "neither": {"z": {"optional": True}},
        "syntax": {"x": {"expr": "doc.fields.("}},
    }
    pushes = {key: push(endpoint, mapping=mapping) for key, mapping in bad.items()}
    w = world(app_settings({**pushes, "good": push(endpoint)}))
    w.save(referral())
    tick(w, T0 + MINUTE)

    assert [r.get_json() for r in received(endpoint)] == [EXPECTED]
    assert task(w)["queue"] == list(bad)
    assert task(w)["errors"] == {
        "throws": "Mapping error for 'throws/x' JS error on source document: 'r1'",
        "undefined": "Mapping error for 'undefined/x' on source document 'r1': expr evaluated to undefined",
        "missing": "Mapping error for 'missing/y' on source document 'r1': cannot find 'doc.fields.missing' on source document",
        "neither": "Mapping error for 'neither/z' either 'expr' or 'path' is required: 'r1'",
        "syntax": "Mapping error for 'syntax/x' JS error on source document: 'r1'",
    }
    rev = task(w)["_rev"]
    tick(w, T0 + 6 * MINUTE)
    assert task(w)["_rev"] == rev  # the same errors again: the task is not rewritten


@pytest.mark.parametrize(("auth", "error"), [
    pytest.param({}, "No auth.type, either declare the type or omit the auth property", id="auth without type"),
    pytest.param({"type": "oauth"}, "Invalid auth type 'oauth'. Supported: basic, header, muso-sih", id="unknown type"),
    pytest.param({"type": "header", "name": "X-Token", "value_key": PASSWORD_KEY},
                 "Unsupported header name 'X-Token'. Supported: authorization", id="header other than Authorization"),
])
def test_a_push_cht_cannot_make_stays_queued_with_chts_message(world, endpoint, secret, auth, error):
    w = world(app_settings({KEY: push(endpoint, destination={"base_url": endpoint.url_for("/"), "path": "/api/referral", "auth": auth})}))
    w.save(referral())
    tick(w, T0 + MINUTE)
    assert received(endpoint) == []
    assert task(w)["errors"] == {KEY: error}


# --- once per document, key and payload -----------------------------------------------------------------


def test_processing_the_same_document_again_does_not_push_it_twice(world, endpoint, secret, make_runner):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint)}))
    w.save(referral())
    tick(w, T0 + MINUTE)
    assert len(received(endpoint)) == 1

    w.edit("r1", note="not in the mapping")  # a new revision with the same payload
    assert task(w) is None
    w.sentinel.delete_doc("_local/transitions-seq", w.sentinel.get("_local/transitions-seq")["_rev"])
    drain(make_runner(clock=w.clock))  # the whole feed processed again, as after a crash before the checkpoint
    assert task(w) is None
    w.sentinel.put({"_id": "task:outbound:r1", "type": "task:outbound", "created": ms(T0), "doc_id": "r1", "queue": [KEY]})
    tick(w, T0 + 6 * MINUTE)  # a task staged again (a batch re-run before the push was recorded)

    assert len(received(endpoint)) == 1
    assert task(w) is None  # dropped: its payload was pushed already
    assert len(completed(w)) == 1


def test_a_document_whose_mapped_payload_changes_is_pushed_again(world, endpoint, secret):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint)}))
    w.save(referral())
    tick(w, T0 + MINUTE)

    w.edit("r1", fields={"patient_id": "12345", "temp_f": 100, "notes": "fever"})
    assert task(w)["queue"] == [KEY]
    tick(w, T0 + 6 * MINUTE)

    assert [r.get_json()["event"] for r in received(endpoint)] == [{"temp_c": "37.78"}, {"temp_c": "37.78", "notes": "fever"}]
    assert len(completed(w)) == 2


def test_a_queued_task_gets_a_config_that_became_relevant_later(world, endpoint, secret):
    endpoint.expect_request("/a", method="POST").respond_with_data("down", status=503)
    endpoint.expect_request("/b", method="POST").respond_with_json({})
    w = world(app_settings({"a": push(endpoint, path="/a"),
                            "b": push(endpoint, path="/b", relevant_to="doc.form === 'REF' && doc.fields.notes === 'urgent'")}))
    w.save(referral())
    tick(w, T0 + MINUTE)
    assert task(w)["queue"] == ["a"]

    w.edit("r1", fields={"patient_id": "12345", "temp_f": 100, "notes": "urgent"})
    assert task(w)["queue"] == ["a", "b"]  # CHT would have ignored the existing task
    tick(w, T0 + 6 * MINUTE)
    assert task(w)["queue"] == ["a"]
    assert [t["name"] for t in completed(w)] == ["b"]


def test_a_task_whose_document_or_config_is_gone_is_cleared(world, endpoint, secret):
    endpoint.expect_request("/a", method="POST").respond_with_data("down", status=503)
    w = world(app_settings({"a": push(endpoint, path="/a"), "b": push(endpoint, path="/a")}))
    w.save_all([referral("r1"), referral("r2")])
    tick(w, T0 + MINUTE)
    assert task(w, "r1")["queue"] == ["a", "b"]

    w.delete("r2")
    w.settings(app_settings({"a": push(endpoint, path="/a")}))
    tick(w, T0 + 6 * MINUTE)

    assert task(w, "r2") is None
    assert task(w, "r1")["queue"] == ["a"]
    assert list(task(w, "r1")["errors"]) == ["a"]


# --- cron ------------------------------------------------------------------------------------------------


def test_a_config_with_a_cron_is_pushed_only_by_a_run_near_a_cron_time(world, endpoint, secret):
    endpoint.expect_request("/api/referral", method="POST").respond_with_json({})
    w = world(app_settings({KEY: push(endpoint, cron="5 1 * * *")}, timezone="Africa/Nairobi"))  # 01:05 in Nairobi = 22:05Z
    w.save(referral())
    assert task(w)["queue"] == [KEY]

    tick(w, T0 + MINUTE)
    assert received(endpoint) == [] and task(w)["queue"] == [KEY]  # not due: kept, no error

    tick(w, datetime(2024, 3, 4, 22, 8, tzinfo=timezone.utc))  # 3 minutes after 01:05 in Nairobi
    assert len(received(endpoint)) == 1 and task(w) is None


def test_a_config_with_an_invalid_cron_is_logged_and_never_queued(world, endpoint, secret, caplog):
    w = world(app_settings({KEY: push(endpoint, cron="every day")}))
    with caplog.at_level(logging.ERROR):
        w.save(referral())
    assert task(w) is None
    assert "Invalid cron expression \"every day\" on outbound 'referral' config" in caplog.text


# --- settings: CHT's init accepts any outbound config; what cannot work is logged -------------------------

BAD_CONFIGS = [
    pytest.param({"relevant_to": "doc.type ==="}, "settings.outbound.k.relevant_to: SyntaxError", id="relevant_to does not compile"),
    pytest.param({"destination": {"base_url": "http://x", "path": "/p", "auth": {}}},
                 "settings.outbound.k.destination.auth: No auth.type, either declare the type or omit the auth property", id="auth without type"),
    pytest.param({"destination": {"base_url": "http://x", "path": "/p", "auth": {"type": "digest"}}},
                 "settings.outbound.k.destination.auth: Invalid auth type 'digest'. Supported: basic, header, muso-sih", id="unknown auth type"),
    pytest.param({"destination": {"base_url": "http://x", "path": "/p", "auth": {"type": "header", "name": "X-Key"}}},
                 "settings.outbound.k.destination.auth: Unsupported header name 'X-Key'. Supported: authorization", id="header name"),
    pytest.param({"destination": {"base_url": "http://x"}}, "settings.outbound.k.destination.path: Url must be a string. Received undefined",
                 id="no path"),
    pytest.param({"mapping": {"Padr": {}}}, "settings.outbound.k.mapping.Padr: either 'expr' or 'path' is required", id="mapping entry without path or expr"),
    pytest.param({"mapping": {"x": {"expr": "doc.("}}}, "settings.outbound.k.mapping.x.expr: SyntaxError", id="mapping expr does not compile"),
    pytest.param({"mapping": None}, "settings.outbound.k.mapping: must be an object", id="no mapping"),
    pytest.param({"cron": "61 * * * *"}, "settings.outbound.k.cron: Invalid cron expression \"61 * * * *\" on outbound 'k' config", id="invalid cron"),
]


@pytest.mark.parametrize(("change", "warning"), BAD_CONFIGS)
def test_a_bad_outbound_config_never_disables_transitions_and_its_problem_is_chts(change, warning):
    conf = {"relevant_to": "doc.type === 'data_record'", "destination": {"base_url": "http://x", "path": "/p"},
            "mapping": {"id": "doc._id"}, **change}
    settings, enabled = build({"transitions": {"mark_for_outbound": True, "update_sent_by": True}, "outbound": {"k": conf}})

    assert [t.name for t in enabled] == ["update_sent_by", "mark_for_outbound"]
    assert mark_for_outbound.check_config(settings.section("outbound"), settings) == []
    [found] = mark_for_outbound.config_warnings(settings.section("outbound"), settings)
    assert found.startswith(warning)
    assert found in settings.warnings  # shown in the start-up log, check-config and status


def test_a_good_config_has_no_warnings():
    conf = {"relevant_to": "doc.type === 'data_record'", "destination": {"base_url": "http://x", "path": "/p",
            "auth": {"type": "Basic", "username": "u", "password_key": "k"}}, "mapping": MAPPING, "cron": "*/5 * * * *"}
    settings, _ = build({"transitions": {"mark_for_outbound": True}, "outbound": {"k": conf}})
    assert mark_for_outbound.config_warnings(settings.section("outbound"), settings) == []


# --- the payload, the URL and the hash (no database) ----------------------------------------------------

DOC = {"_id": "d1", "type": "data_record", "fields": {"a": 1, "list": ["x", "y"], "none": None, "name": "Ann"},
       "contact": {"name": "C", "parent": {"name": "P"}}}


@pytest.mark.parametrize(("mapping", "expected"), [
    pytest.param({"a": "doc.fields.a"}, {"a": 1}, id="a path"),
    pytest.param({"x.y.z": "doc.contact.parent.name"}, {"x": {"y": {"z": "P"}}}, id="a nested destination"),
    pytest.param({"second": "doc.fields.list.1", "n": "doc.fields.list.length"}, {"second": "y", "n": 2}, id="array index and length"),
    pytest.param({"items.0": "doc.fields.name"}, {"items": ["Ann"]}, id="an index in the destination makes an array"),
    pytest.param({"nothing": "doc.fields.none"}, {"nothing": None}, id="null is a value"),
    pytest.param({"gone": {"path": "doc.fields.none.deeper", "optional": True}}, {}, id="optional and missing"),
    pytest.param({"t": {"expr": "'Patient'"}, "on": {"expr": True}}, {"t": "Patient", "on": True}, id="expr, and a non-string expr"),
    pytest.param({"u": {"expr": "doc.fields.a > 5 ? true : undefined", "optional": True}}, {}, id="optional expr undefined"),
    pytest.param({"s": {"expr": "var n = doc.fields.name; n.toUpperCase()"}}, {"s": "ANN"}, id="expr statements"),
    pytest.param({"j": {"expr": {"cat": ["id:", {"var": "doc._id"}]}}}, {"j": "id:d1"}, id="a JsonLogic expr"),
    pytest.param({"id": {"expr": "[{system: 'cht', value: doc._id}]"}}, {"id": [{"system": "cht", "value": "d1"}]}, id="expr array"),
])
def test_the_mapping_builds_the_payload_as_chts_object_path_and_vm_do(mapping, expected):
    assert outbound.payload(DOC, {"mapping": mapping}, "k", Expressions()) == expected


@pytest.mark.parametrize(("parts", "url"), [
    (("https://example.com", "/api/v1/referral"), "https://example.com/api/v1/referral"),
    (("https://example.com/", "api/v1/referral"), "https://example.com/api/v1/referral"),
    (("https://example.com/base/", "/x/"), "https://example.com/base/x/"),
    (("http://h:5001", "/shr/Encounter?x=1"), "http://h:5001/shr/Encounter?x=1"),
])
def test_the_url_is_joined_as_url_join_does(parts, url):
    assert outbound.url_join(*parts) == url


@pytest.mark.parametrize(("body", "digest"), [
    # sha-256 values computed with CHT's own orderedStringify + crypto code under Node
    (EXPECTED | {"event": {"temp_c": "37.78", "in_danger": True}}, None),
    ({"patient_id": "12345", "chw_id": "def-5678", "event": {"temp_c": "37.78", "in_danger": True}},
     "2ea0054174df7a4ded8868b60a9e4b6a10efa82797aef274225b79c39b82f191"),
    ({"b": [{"z": 1, "a": 2, "10": 3, "2": 4}], "a": 1.5e-7, "c": 0.00001, "d": 1e21, "e": 37, "f": "é\n\u0001\"q",
      "Ä": None, "a\"b": 2.5}, "50fe2a8ca9f6dcfeb438e667ec15431f6b518bb1a4d2994d769b45e3e9fa6395"),
    ({}, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
])
def test_the_payload_hash_is_chts_so_pushes_recorded_by_cht_are_recognised(body, digest):
    if digest is None:  # key order does not matter
        assert outbound.payload_hash(body) == outbound.payload_hash(dict(reversed(list(body.items()))))
    else:
        assert outbound.payload_hash(body) == digest


def test_the_credential_env_name_is_the_key_upper_cased_with_underscores():
    assert outbound.env_name("example.com") == "SENTINEL_SECRET_EXAMPLE_COM"
    assert outbound.env_name("openhim-core:5001") == "SENTINEL_SECRET_OPENHIM_CORE_5001"
