"""`sentinel gateway` (issue 8), driven over HTTP with a real client against the real PouchDB Server:
the medic-gateway protocol at /api/sms (incoming SMS become reports that Sentinel processes, replies
handed out and marked, delivery states recorded, retries and lost acknowledgements), basic auth, the
SMS reminder service's API, /health and /metrics.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from sentinel.gateway.app import GatewayServer, create_app
from sentinel.gateway.users import add_user

from ..support import CHW, Clock, drain, put_settings

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)  # 10:00 in Nairobi
AUTH = ("gw", "gateway-password")
SETTINGS: dict[str, Any] = {
    "transitions": {"update_clinics": True, "registration": True, "appointment_reminders": True,
                    "default_responses": True},
    "default_responses": {"start_date": "2020-01-01"},
    "timezone": "Africa/Nairobi",
    "forms": {"P": {"meta": {"code": "P"}, "fields": {
        "age": {"type": "integer", "labels": {"tiny": "A"}, "required": True},
        "patient_name": {"type": "string", "labels": {"tiny": "N"}, "required": True}}},
        # the reminder API's form: sent by a system, not a known contact (so update_clinics leaves it alone)
        "REMINDER": {"meta": {"code": "REMINDER"}, "fields": {}, "public_form": True}},
    "registrations": [{
        "form": "P",
        "events": [{"name": "on_create", "trigger": "add_patient", "params": "", "bool_expr": ""}],
        "messages": [{"event_type": "report_accepted", "recipient": "reporting_unit",
                      "message": [{"locale": "en", "content": "Thank you, {{patient_name}} is registered as {{patient_id}}."}]}],
    }],
    "appointment_reminders": [{
        "form": "REMINDER", "appointment_time": "fields.appointment_time", "notify_window": "fields.notify_window",
        "reminders": [{"before": "1 hour", "message": [{"locale": "en", "content": "Appointment on {{appointment_date}} at {{appointment_time}}."}]}],
        "messages": [{"event_type": "confirmed", "message": [{"locale": "en", "content": "Confirmed, thank you."}]}],
    }],
}


@pytest.fixture
def gateway(main, sentinel_db, hierarchy, make_runner):
    """(client, runner, clock, url): the gateway app on a free loopback port with one user."""
    clock = Clock(NOW)
    runner = make_runner(SETTINGS, clock=clock)
    drain(runner)
    add_user(sentinel_db, *AUTH)
    server = GatewayServer(create_app(main, sentinel_db, clock=clock, batch=25, resend_after=300), port=0).start()
    client = httpx.Client(base_url=server.url, auth=AUTH, timeout=30)
    try:
        yield client, runner, clock, server.url
    finally:
        client.close()
        server.stop()


def exchange(client: httpx.Client, messages=(), updates=()) -> list[dict[str, Any]]:
    response = client.post("/api/sms", json={"messages": list(messages), "updates": list(updates)})
    assert response.status_code == 200, response.text
    return response.json()["messages"]


# --- the protocol --------------------------------------------------------------------------------
def test_get_answers_that_this_is_a_medic_gateway_endpoint(gateway):
    client, *_ = gateway
    assert client.get("/api/sms").json() == {"medic-gateway": True}


def test_a_registration_by_sms_is_answered_and_delivered(gateway, main):
    client, runner, clock, _ = gateway
    assert exchange(client, messages=[{"id": "in-1", "from": CHW["phone"], "content": "P 12 Jane"}]) == []
    drain(runner)  # Sentinel registers Jane and queues the reply
    reports = [r["doc"] for r in main.all_docs_range("sms-in:", "sms-in:\ufff0")]
    assert len(reports) == 1
    report = reports[0]
    assert (report["form"], report["fields"], report["sms_message"]["gateway_ref"]) == ("P", {"age": 12, "patient_name": "Jane"}, "in-1")
    assert report["contact"]["_id"] == CHW["_id"]
    patient_id = report["patient_id"]

    out = exchange(client)
    assert out == [{"id": out[0]["id"], "to": CHW["phone"], "content": f"Thank you, Jane is registered as {patient_id}."}]
    task = main.get(report["_id"])["tasks"][0]
    assert task["state"] == "forwarded-to-gateway"

    assert exchange(client, updates=[{"id": out[0]["id"], "status": "SENT"}]) == []
    assert exchange(client, updates=[{"id": out[0]["id"], "status": "DELIVERED"}]) == []
    task = main.get(report["_id"])["tasks"][0]
    assert task["state"] == "delivered"
    assert [h["state"] for h in task["state_history"]] == ["pending", "forwarded-to-gateway", "sent", "delivered"]


@pytest.mark.parametrize("status, reason, state", [
    pytest.param("UNSENT", None, "received-by-gateway", id="unsent"),
    pytest.param("PENDING", None, "forwarded-by-gateway", id="pending"),
    pytest.param("SENT", None, "sent", id="sent"),
    pytest.param("DELIVERED", None, "delivered", id="delivered"),
    pytest.param("FAILED", "no credit", "failed", id="failed-with-reason"),
    pytest.param("WHATEVER", None, "unrecognised", id="anything-else"),
])
def test_delivery_states_map_to_task_states(gateway, main, status, reason, state):
    client, runner, *_ = gateway
    main.put(message_doc("m1", "+254700000009", "hello"))
    (sent,) = exchange(client)
    update = {"id": sent["id"], "status": status, **({"reason": reason} if reason else {})}
    exchange(client, updates=[update])
    task = main.get("m1")["tasks"][0]
    assert task["state"] == state
    assert task["state_history"][-1]["state"] == state
    if reason:
        assert task["state_details"] == reason


def message_doc(doc_id: str, to: str, text: str, due: str = "2026-03-01T00:00:00.000Z") -> dict[str, Any]:
    return {"_id": doc_id, "type": "data_record", "form": "X", "reported_date": 1772300000000, "tasks": [{
        "messages": [{"uuid": f"uuid-{doc_id}", "to": to, "message": text}], "due": due, "state": "pending",
        "state_history": [{"state": "pending", "timestamp": "2026-03-01T00:00:00.000Z"}]}]}


def test_messages_are_handed_out_oldest_due_first_a_bounded_number_per_call(gateway, main):
    client, *_ = gateway
    docs = [message_doc(f"m{i:02d}", "+254700000009", f"text {i}", due=f"2026-03-01T00:{59 - i:02d}:00.000Z") for i in range(30)]
    main.bulk_docs(docs)
    first = exchange(client)
    assert [m["content"] for m in first] == [f"text {i}" for i in range(29, 4, -1)]  # 25, oldest due first
    second = exchange(client)
    assert [m["content"] for m in second] == [f"text {i}" for i in range(4, -1, -1)]
    assert exchange(client) == []


def test_a_retried_incoming_message_creates_one_report(gateway, main):
    client, runner, *_ = gateway
    incoming = {"id": "in-7", "from": CHW["phone"], "content": "hello there"}
    exchange(client, messages=[incoming])
    exchange(client, messages=[incoming])  # the gateway lost our answer and sends it again
    drain(runner)
    reports = main.all_docs_range("sms-in:", "sms-in:\ufff0")
    assert len(reports) == 1


def test_an_unacknowledged_message_is_offered_again_after_the_timeout_only(gateway, main):
    client, runner, clock, _ = gateway
    main.put(message_doc("m1", "+254700000009", "hello"))
    (offered,) = exchange(client)
    clock.now = NOW + timedelta(seconds=299)
    assert exchange(client) == []  # its acknowledgement may still come
    clock.now = NOW + timedelta(seconds=301)
    assert exchange(client) == [offered]  # lost: offered again
    exchange(client, updates=[{"id": offered["id"], "status": "UNSENT"}])  # acknowledged
    clock.now = NOW + timedelta(hours=2)
    assert exchange(client) == []
    history = [h["state"] for h in main.get("m1")["tasks"][0]["state_history"]]
    assert history == ["pending", "forwarded-to-gateway", "forwarded-to-gateway", "received-by-gateway"]


def test_updates_for_unknown_messages_are_ignored(gateway):
    client, *_ = gateway
    assert exchange(client, updates=[{"id": "nobody", "status": "SENT"}]) == []


@pytest.mark.parametrize("body, message", [
    pytest.param([], "the body must be a JSON object {messages, updates}", id="not-an-object"),
    pytest.param({"messages": {"id": 1}}, "messages and updates must be lists", id="messages-not-a-list"),
    pytest.param({"messages": [{"id": "x", "content": "hi"}]}, "messages[0]: needs id, from and content", id="message-without-from"),
    pytest.param({"updates": [{"id": "x"}]}, "updates[0]: needs id and status", id="update-without-status"),
])
def test_bad_protocol_bodies_are_refused_with_the_reason(gateway, body, message):
    client, *_ = gateway
    response = client.post("/api/sms", json=body)
    assert (response.status_code, response.json()) == (400, {"message": message})


# --- authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [
    pytest.param(None, id="no-credentials"),
    pytest.param(("gw", "wrong-password"), id="wrong-password"),
    pytest.param(("nobody", "gateway-password"), id="unknown-user"),
])
@pytest.mark.parametrize("method, path", [("GET", "/api/sms"), ("POST", "/api/sms"), ("GET", "/metrics"),
                                          ("GET", "/reminder"), ("POST", "/reminder"), ("DELETE", "/reminder/x")])
def test_every_endpoint_but_health_needs_valid_credentials(gateway, auth, method, path):
    *_, url = gateway
    response = httpx.request(method, url + path, auth=auth, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_health_answers_without_credentials(gateway):
    *_, url = gateway
    assert httpx.get(url + "/health").json() == {"ok": True, "couchdb": True}


def test_metrics_show_batches_transitions_messages_and_scheduler_runs(gateway, main):
    client, runner, *_ = gateway
    exchange(client, messages=[{"id": "in-1", "from": CHW["phone"], "content": "P 12 Jane"}])
    drain(runner)
    text = client.get("/metrics").text
    assert "sentinel_batches_total" in text
    assert 'sentinel_documents_processed_total{transition="registration"}' in text
    assert 'sentinel_messages{state="pending"} 1.0' in text
    assert "sentinel_backlog" in text


# --- the reminder API ------------------------------------------------------------------------------
def create(client: httpx.Client, **body: Any) -> httpx.Response:
    base = {"contact_number": "+254711000111", "appointment_time": "2026-03-03T15:30:00+03:00", "notify_window": 2,
            "location": "West Side Clinic", "participant": "Dr Achieng"}
    base.update(body)
    return client.post("/reminder", json={k: v for k, v in base.items() if v is not None})


def test_a_reminder_is_created_booked_listed_and_cancelled(gateway, main):
    client, runner, clock, _ = gateway
    response = create(client)
    assert response.status_code == 200, response.text
    reminder_id = response.json()["reminder_id"]
    assert response.json()["message"] == f"successfully created a reminder with id {reminder_id}"
    drain(runner)  # the appointment transition books it
    got = client.get(f"/reminder/{reminder_id}").json()
    assert got == {
        "reminder_id": reminder_id, "contact_number": "+254711000111",
        "appt_user_dt": "2026-03-03 15:30:00", "appt_sys_dt": "2026-03-03 12:30:00", "notify_sys_dt": "2026-03-03 10:30:00",
        "location": "West Side Clinic", "participant": "Dr Achieng", "reminder_sent": False, "confirm_sent": False,
        "will_attend": None, "status": "booked", "errors": [],
    }
    assert [r["reminder_id"] for r in client.get("/reminder").json()["reminders"]] == [reminder_id]

    # a "yes" from the number confirms it
    exchange(client, messages=[{"id": "in-9", "from": "+254711000111", "content": "Yes"}])
    drain(runner)
    got = client.get(f"/reminder/{reminder_id}").json()
    assert (got["will_attend"], got["confirm_sent"], got["status"]) == (True, True, "confirmed")

    assert client.delete(f"/reminder/{reminder_id}").status_code == 200
    got = client.get(f"/reminder/{reminder_id}").json()
    assert (got["will_attend"], got["status"]) == (False, "cancelled")
    assert [t["state"] for t in main.get(reminder_id)["scheduled_tasks"]] == ["cleared"]
    assert client.get("/reminder/unknown").status_code == 404
    assert client.delete("/reminder/unknown").status_code == 404


@pytest.mark.parametrize("body, field", [
    pytest.param({"contact_number": None}, "contact_number: required", id="no-number"),
    pytest.param({"contact_number": "12"}, "contact_number: '12' is not a valid phone number", id="bad-number"),
    pytest.param({"appointment_time": None}, "appointment_time: required", id="no-time"),
    pytest.param({"appointment_time": "2026-03-03T15:30"}, "appointment_time: '2026-03-03T15:30' has no UTC offset", id="no-offset"),
    pytest.param({"appointment_time": "tomorrow"}, "appointment_time: 'tomorrow' is not an ISO 8601 time", id="not-a-time"),
    pytest.param({"appointment_time": "2026-03-01T15:30:00+03:00"}, "appointment_time: '2026-03-01T15:30:00+03:00' has already passed", id="past"),
    pytest.param({"notify_window": "soon"}, "notify_window: must be a whole number of hours from 1 to 720", id="window-not-a-number"),
    pytest.param({"notify_window": 0}, "notify_window: must be a whole number of hours from 1 to 720", id="window-zero"),
    pytest.param({"location": "x" * 129}, "location: at most 128 characters, got 129", id="location-too-long"),
    pytest.param({"participant": "x" * 257}, "participant: at most 256 characters, got 257", id="participant-too-long"),
])
def test_bad_reminders_answer_400_naming_the_field(gateway, body, field):
    client, *_ = gateway
    response = create(client, **body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(field), response.json()


def test_a_second_reminder_at_the_same_time_for_one_number_is_refused(gateway):
    client, runner, *_ = gateway
    assert create(client).status_code == 200
    drain(runner)
    second = create(client)
    assert second.status_code == 400 and "already has an appointment at that time" in second.json()["message"]
    assert create(client, appointment_time="2026-03-04T15:30:00+03:00").status_code == 200


# --- the command line ------------------------------------------------------------------------------
def test_sentinel_gateway_runs_as_its_own_process_with_a_user_added_by_the_cli(main, sentinel_db, pouchdb, hierarchy, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    env = dict(os.environ, COUCH_URL=f"{pouchdb.url}/{main.name}", PYTHONUNBUFFERED="1")
    added = subprocess.run([sys.executable, "-m", "sentinel", "gateway", "add-user", "ops", "--password-stdin"],
                           input="ops-password\n", env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert "ops-password" not in added.stdout + added.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "gateway.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "sentinel", "gateway", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(url + "/api/sms", auth=("ops", "ops-password")).json() == {"medic-gateway": True}
        assert httpx.get(url + "/api/sms", auth=("ops", "nope")).status_code == 401
    finally:
        process.terminate()
        process.wait(10)
    text = log.read_text()
    assert "ops-password" not in text and "nope" not in text


def test_sentinel_run_serves_the_gateway_beside_the_daemon_and_stops_with_it(main, pouchdb, tmp_path):
    # what `make run` does: the daemon and the gateway in one process, stopped together by SIGTERM
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, COUCH_URL=f"{pouchdb.url}/{main.name}", PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "sentinel", "run", "--gateway-port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        health = None
        for _ in range(150):
            try:
                health = httpx.get(url + "/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None and health.json() == {"ok": True, "couchdb": True}, log.read_text()
        assert httpx.get(url + "/api/sms").status_code == 401
        assert "No gateway users yet" in log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()
