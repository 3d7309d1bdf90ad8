"""due_tasks: scheduled messages whose time has come become `pending` (spec 4.2, 3.2, 3.8), against a
real PouchDB Server; plus the scheduler's wiring (job order, `--schedule-interval`, `sentinel tick`)
and the `sms_history_cleanup` job.

Each test seeds its own database (settings, translations, the CHT test hierarchy, its documents),
sets Sentinel up on it (design documents, lookup index, settings) and runs the job as of a given time.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sentinel.daemon import cli

from sentinel.jobs import due_tasks, scheduler
from sentinel.core.couch import CouchDB, CouchServer
from sentinel.core.docs import clone
from sentinel.daemon.runner import Runner

from ..support import CHW, HIERARCHY, new_runner, put_settings, report

NOW = datetime(2024, 1, 10, 10, 0, 0, tzinfo=timezone.utc)  # a Wednesday
NOW_ISO = "2024-01-10T10:00:00.000Z"
CONTACT = {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}
PATIENT = {
    "_id": "patient-1",
    "type": "person",
    "name": "Pat",
    "patient_id": "12345",
    "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}},
}
TRANSLATIONS = {
    "en": {"visit": "Visit for {{patient_name}}, reported by {{contact.name}}", "anc": "{{patient_name}}: husband {{husband_name}}"},
    "fr": {"visit": "Visite pour {{patient_name}}"},
}
EARLIER = "2024-01-01T00:00:00.000Z"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def task(due: Any = NOW_ISO, state: str = "scheduled", **extra: Any) -> dict[str, Any]:
    found = {"due": due, "group": 1, "type": "visits", "message_key": "visit", "recipient": "clinic", "state": state,
             "state_history": [{"state": state, "timestamp": EARLIER}]}
    found.update(extra)
    return {k: v for k, v in found.items() if v is not ...}


def due_report(doc_id: str, *tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    fields = extra.pop("fields", {"patient_id": "12345"})
    return report(doc_id, contact=CONTACT, fields=fields, scheduled_tasks=list(tasks), **extra)


def setup(server: CouchServer, main: CouchDB, docs: list[dict[str, Any]], settings: dict[str, Any] | None = None) -> Runner:
    """Seed settings, translations, the hierarchy, the patient and `docs`; a set-up Sentinel on them."""
    put_settings(main, {"registrations": [{"form": "P"}], **(settings or {})})
    for code, values in TRANSLATIONS.items():
        main.put({"_id": f"messages-{code}", "type": "translations", "code": code, "generic": values})
    results = main.bulk_docs([clone(d) for d in [*HIERARCHY, PATIENT, *docs]])
    assert not [r for r in results if r.get("error")]
    runner = new_runner(server, main)
    assert runner.current is not None, runner.config_error
    return runner


def run(runner: Runner, now: datetime = NOW) -> due_tasks.DueTasksOutcome:
    assert runner.current is not None
    return due_tasks.process(runner.main, runner.sentinel, runner.current[0], now)


def states(main: CouchDB, doc_id: str) -> list[str]:
    return [t.get("state") for t in main.get(doc_id)["scheduled_tasks"]]


# --- which tasks move, and when ----------------------------------------------------------------------

WINDOW = {"schedule_morning_hours": 8, "schedule_morning_minutes": 0, "schedule_evening_hours": 17, "schedule_evening_minutes": 30}
DAY = datetime(2024, 1, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "settings, now, scheduled, expected",
    [
        pytest.param(WINDOW, DAY.replace(hour=8), task(iso(DAY)), "pending", id="window: sent at the morning edge (08:00)"),
        pytest.param(WINDOW, DAY.replace(hour=7, minute=59, second=59), task(iso(DAY)), "scheduled", id="window: waits a second before the morning"),
        pytest.param(WINDOW, DAY.replace(hour=17, minute=30, second=59), task(iso(DAY)), "pending", id="window: sent within the evening minute (17:30:59)"),
        pytest.param(WINDOW, DAY.replace(hour=17, minute=31), task(iso(DAY)), "scheduled", id="window: waits after the evening (17:31)"),
        pytest.param({**WINDOW, "timezone": "Africa/Nairobi"}, DAY.replace(hour=5), task(iso(DAY)), "pending", id="window: read in the settings time zone (05:00Z is 08:00 in Nairobi)"),
        pytest.param({**WINDOW, "timezone": "Africa/Nairobi"}, DAY.replace(hour=15), task(iso(DAY)), "scheduled", id="window: 15:00Z is 18:00 in Nairobi, after the evening"),
        pytest.param({"synthetic_date": "20240110"}, datetime(2030, 6, 1, 3, tzinfo=timezone.utc), task("2024-01-10T11:59:00.000Z"), "pending", id="synthetic_date: the frozen clock (noon) decides what is due"),
        pytest.param({"synthetic_date": "20240110"}, NOW, task("2024-01-10T12:01:00.000Z"), "scheduled", id="synthetic_date: due after the synthetic noon waits although the real clock is later"),
        pytest.param({"synthetic_date": "2024011007"}, NOW, task(NOW_ISO), "scheduled", id="synthetic_date: its hour is outside a window the real clock is inside"),
        pytest.param({}, NOW, task(iso(NOW + timedelta(milliseconds=1))), "scheduled", id="due: a millisecond in the future waits"),
        pytest.param({}, NOW, task(NOW_ISO), "pending", id="due: exactly now is sent"),
        pytest.param({}, NOW, task(iso(NOW - timedelta(days=7))), "pending", id="overdue: exactly 7 days late is still sent"),
        pytest.param({}, NOW, task(iso(NOW - timedelta(days=7, milliseconds=1))), "scheduled", id="overdue: more than 7 days late is left as it is"),
        pytest.param({"max_overdue": "2 days"}, NOW, task(iso(NOW - timedelta(days=3))), "scheduled", id="overdue: max_overdue setting shortens the cutoff"),
        pytest.param({"max_overdue": "30 days"}, NOW, task(iso(NOW - timedelta(days=20))), "pending", id="overdue: max_overdue setting lengthens the cutoff"),
        pytest.param({}, NOW, task(None, timestamp=iso(NOW - timedelta(hours=1))), "pending", id="missing due: null due falls back to the task timestamp"),
        pytest.param({}, NOW, task(..., timestamp=iso(NOW + timedelta(hours=1))), "scheduled", id="missing due: a future timestamp waits"),
        pytest.param({}, NOW, task(None), "pending", id="missing due: no due nor timestamp falls back to reported_date"),
        pytest.param({}, NOW, task("2024-01-10T09:00:00Z"), "pending", id="due: an ISO date without milliseconds is due all the same"),
        pytest.param({}, NOW, task(int((NOW - timedelta(hours=1)).timestamp() * 1000)), "pending", id="due: epoch milliseconds"),
    ],
)
def test_a_scheduled_task_moves_to_pending_only_when_due_inside_the_window(server, main, settings, now, scheduled, expected):
    runner = setup(server, main, [due_report("r1", scheduled, reported_date=int((NOW - timedelta(days=1)).timestamp() * 1000))], settings)
    rev = main.get("r1")["_rev"]
    run(runner, now)
    doc = main.get("r1")
    assert doc["scheduled_tasks"][0]["state"] == expected
    if expected == "scheduled":
        assert doc["_rev"] == rev  # untouched: not even rewritten
    else:
        assert doc["scheduled_tasks"][0]["state_history"][-1] == {"state": "pending", "timestamp": iso(now)}
        assert doc["scheduled_tasks"][0]["messages"][0]["message"] == "Visit for Pat, reported by Chloe CHW"


def test_outside_the_window_nothing_is_sent_or_written(server, main):
    runner = setup(server, main, [due_report("r1", task())], WINDOW)
    rev = main.get("r1")["_rev"]
    outcome = run(runner, DAY.replace(hour=20))  # only appointment reminders could be urgent: none here
    assert not outcome.in_window and outcome.docs == outcome.pending == outcome.written == 0
    assert main.get("r1")["_rev"] == rev
    assert states(main, "r1") == ["scheduled"]


def test_only_scheduled_tasks_are_touched_a_sent_task_sharing_the_due_date_stays_sent(server, main):
    sent = task(NOW_ISO, state="sent", messages=[{"uuid": "old", "to": "+1", "message": "already sent"}])
    for_states = [task(NOW_ISO, state=s) for s in ("pending", "cleared", "muted", "clear", "failed", "delivered")]
    runner = setup(server, main, [due_report("r1", sent, task(NOW_ISO), *for_states)])
    before = main.get("r1")["scheduled_tasks"]
    run(runner)
    after = main.get("r1")["scheduled_tasks"]
    assert [t["state"] for t in after] == ["sent", "pending", "pending", "cleared", "muted", "clear", "failed", "delivered"]
    assert after[0] == before[0]
    assert after[2:] == before[2:]
    assert after[1]["messages"][0]["to"] == CHW["phone"]


def test_messages_are_rendered_at_due_time_in_the_doc_locale(server, main):
    runner = setup(server, main, [due_report("fr", task(), locale="fr"), due_report("en", task())])
    main.put({**main.get("patient-1"), "name": "Patricia"})  # renamed after scheduling: the due time's name is used
    runner = new_runner(server, main)
    run(runner)
    assert main.get("fr")["scheduled_tasks"][0]["messages"][0]["message"] == "Visite pour Patricia"
    assert main.get("en")["scheduled_tasks"][0]["messages"][0]["message"] == "Visit for Patricia, reported by Chloe CHW"


def test_the_template_context_has_the_patient_and_its_registrations(server, main):
    registration = report("reg", form="P", content_type="xml", contact=CONTACT, reported_date=1700000000000,
                          fields={"patient_id": "12345", "husband_name": "Bob"})
    older = report("reg-old", form="P", content_type="xml", contact=CONTACT, reported_date=1600000000000,
                   fields={"patient_id": "12345", "husband_name": "Old Bob"})
    by_uuid = due_report("by-uuid", task(message_key="anc"), fields={"patient_uuid": "patient-1"})  # patient.patient_id
    runner = setup(server, main, [registration, older, due_report("r1", task(message_key="anc")), by_uuid])
    run(runner)
    assert main.get("r1")["scheduled_tasks"][0]["messages"][0]["message"] == "Pat: husband Bob"
    assert main.get("by-uuid")["scheduled_tasks"][0]["messages"][0]["message"] == "Pat: husband Bob"


def test_existing_messages_are_kept_and_sent(server, main):
    kept = {"uuid": "kept-1", "to": "+254711111111", "message": "rendered at registration"}
    runner = setup(server, main, [due_report("r1", task(messages=[kept]))])
    run(runner)
    assert main.get("r1")["scheduled_tasks"][0]["messages"] == [kept]
    assert states(main, "r1") == ["pending"]


@pytest.mark.parametrize(
    "clear_failing, expected",
    [
        pytest.param(True, "clear", id="clear_failing_schedules: a task whose message cannot be generated becomes clear"),
        pytest.param("true", "clear", id="clear_failing_schedules: the string 'true' as CHT documents it"),
        pytest.param("false", "clear", id="clear_failing_schedules: the string 'false' is true too (CHT reads `|| false`, JavaScript truthiness)"),
        pytest.param(False, "scheduled", id="clear_failing_schedules off: it stays scheduled, untouched"),
        pytest.param(None, "scheduled", id="clear_failing_schedules unset: it stays scheduled, untouched"),
    ],
)
def test_a_message_that_cannot_be_generated(server, main, clear_failing, expected):
    sms = {} if clear_failing is None else {"clear_failing_schedules": clear_failing}
    missing_key = task(message_key="no.such.key")
    no_patient = task(message_key="anc", due=iso(NOW - timedelta(minutes=1)))  # registrations but no patient
    runner = setup(server, main, [
        due_report("r1", missing_key, task()),
        report("reg", form="P", content_type="xml", contact=CONTACT, fields={"patient_id": "99999"}),
        due_report("r2", no_patient, fields={"patient_id": "99999"}),
    ], {"sms": sms})
    rev2 = main.get("r2")["_rev"]
    outcome = run(runner)
    r1, r2 = main.get("r1"), main.get("r2")
    assert [t["state"] for t in r1["scheduled_tasks"]] == [expected, "pending"]
    assert "messages" not in r1["scheduled_tasks"][0]  # messages with an error are never kept
    assert r2["scheduled_tasks"][0]["state"] == expected and "messages" not in r2["scheduled_tasks"][0]
    if expected == "clear":
        assert r1["scheduled_tasks"][0]["state_history"][-1] == {"state": "clear", "timestamp": NOW_ISO}
        assert outcome.cleared == 2
    else:
        assert r2["_rev"] == rev2 and outcome.failing == 2


def test_generated_uuids_are_deterministic_so_a_rerun_after_a_crash_gives_the_same(server, main):
    runner = setup(server, main, [due_report("r1", task(), task(iso(NOW - timedelta(hours=1))))])
    original = main.get("r1")
    run(runner)
    first = [t["messages"][0]["uuid"] for t in main.get("r1")["scheduled_tasks"]]
    main.put({**original, "_rev": main.get("r1")["_rev"]})  # as if the write had never landed
    run(runner)
    again = [t["messages"][0]["uuid"] for t in main.get("r1")["scheduled_tasks"]]
    assert again == first and len(set(first)) == 2


# --- paging and robustness ----------------------------------------------------------------------------


def test_pages_through_more_than_a_page_never_stuck_on_one_document_or_one_key(server, main, monkeypatch):
    monkeypatch.setattr(due_tasks, "PAGE_SIZE", 3)
    same = iso(NOW - timedelta(hours=1))
    docs = [due_report(f"r{i:02d}", task(iso(NOW - timedelta(minutes=i)))) for i in range(10)]
    docs.append(due_report("many", *[task(same) for _ in range(8)]))  # one doc with more rows than a page
    docs += [due_report(f"same-{i}", task(same)) for i in range(7)]  # one key over more than two pages
    # docs whose due tasks stay scheduled (no message): their rows stay in the view on every page
    docs += [due_report(f"stuck-{i}", task(same, message_key="no.such.key")) for i in range(7)]
    runner = setup(server, main, docs)
    outcome = run(runner)
    for doc in docs:
        expected = "scheduled" if doc["_id"].startswith("stuck") else "pending"
        assert set(states(main, doc["_id"])) == {expected}, doc["_id"]
    assert outcome.pages > 4 and outcome.failing == 7


def test_a_bad_document_is_logged_and_skipped_the_others_are_sent(server, main, monkeypatch, caplog):
    real = due_tasks.messages.generate

    def generate(doc, *args, **kwargs):
        if doc["_id"] == "bad":
            raise RuntimeError("boom")
        return real(doc, *args, **kwargs)

    monkeypatch.setattr(due_tasks.messages, "generate", generate)
    monkeypatch.setattr(due_tasks, "PAGE_SIZE", 2)
    odd = report("odd", scheduled_tasks={"length": 1, "0": task()})  # the view emits a row, there is no list
    junk = due_report("junk", None, "junk", 7, task())
    runner = setup(server, main, [due_report("a", task()), due_report("bad", task()), odd, junk, due_report("z", task())])
    outcome = run(runner)
    assert states(main, "a") == ["pending"] and states(main, "z") == ["pending"]
    assert states(main, "bad") == ["scheduled"]
    junk_tasks = main.get("junk")["scheduled_tasks"]
    assert junk_tasks[:3] == [None, "junk", 7] and junk_tasks[3]["state"] == "pending"
    assert outcome.errors == 1 and "skipping bad: boom" in caplog.text


def test_a_409_keeps_the_concurrent_edit_and_the_doc_is_sent_on_the_next_run(server, main, monkeypatch):
    runner = setup(server, main, [due_report("r1", task()), due_report("r2", task())])
    real = due_tasks.update_due_tasks

    def edited_meanwhile(doc, *args, **kwargs):
        if doc["_id"] == "r1" and not doc.get("edited"):
            main.put({**main.get("r1"), "edited": "by someone else"})
        return real(doc, *args, **kwargs)

    monkeypatch.setattr(due_tasks, "update_due_tasks", edited_meanwhile)
    outcome = run(runner)
    r1 = main.get("r1")
    assert r1["edited"] == "by someone else" and states(main, "r1") == ["scheduled"]
    assert states(main, "r2") == ["pending"] and outcome.conflicts == 1
    monkeypatch.setattr(due_tasks, "update_due_tasks", real)
    run(runner)
    r1 = main.get("r1")
    assert r1["edited"] == "by someone else" and states(main, "r1") == ["pending"]


def test_the_job_skips_while_settings_are_invalid(server, main):
    runner = setup(server, main, [due_report("r1", task())])
    env = scheduler.JobEnv(runner.main, runner.sentinel, settings=lambda: None, config_error=lambda: None)
    due_tasks.run(env, NOW)
    assert states(main, "r1") == ["scheduled"]


# --- the scheduler and the command line -------------------------------------------------------------


def test_jobs_run_in_cht_order_then_ours():
    assert [name for name, _ in scheduler.JOBS] == ["due_tasks", "reminders", "outbound", "transitions_disabled_reminder", "sms_history_cleanup",
                                                   "milestone_defaults", "order_replan", "order_dispatch",
                                                   "appointment_outcomes", "user_replacement"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        pytest.param([], 300.0, id="schedule interval: 5 minutes by default"),
        pytest.param(["--schedule-interval", "60"], 60.0, id="schedule interval: given in seconds"),
        pytest.param(["--schedule-interval", "0.5"], 0.5, id="schedule interval: fractions allowed"),
    ],
)
def test_run_takes_a_schedule_interval(argv, expected):
    assert cli.parser().parse_args(["run", *argv]).schedule_interval == expected


@pytest.mark.parametrize("value", [pytest.param("0", id="zero"), pytest.param("-5", id="negative"), pytest.param("soon", id="not a number")])
def test_run_refuses_a_bad_schedule_interval(value, capsys):
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["run", "--schedule-interval", value])
    assert "--schedule-interval" in capsys.readouterr().err


def test_sentinel_tick_now_moves_a_due_task_end_to_end(pouchdb, main):
    put_settings(main, {"schedule_morning_hours": 8})
    main.put({"_id": "messages-en", "code": "en", "generic": TRANSLATIONS["en"]})
    main.bulk_docs([clone(d) for d in [*HIERARCHY, PATIENT, due_report("r1", task("2024-01-10T09:00:00.000Z"))]])
    url = f"{pouchdb.url}/{main.name}"
    assert cli.main(["tick", "--now", "2024-01-10T07:59:00Z", "--couch-url", url]) == 0  # before the window
    assert states(main, "r1") == ["scheduled"]
    assert cli.main(["tick", "--now", "2024-01-10T09:00:00Z", "--couch-url", url]) == 0
    sent = main.get("r1")["scheduled_tasks"][0]
    assert sent["state"] == "pending" and sent["state_history"][-1]["timestamp"] == "2024-01-10T09:00:00.000Z"
    assert sent["messages"][0]["message"] == "Visit for Pat, reported by Chloe CHW"


# --- sms_history_cleanup -------------------------------------------------------------------------------


def test_sms_history_cleanup_deletes_expired_counts_paged_and_keeps_the_rest(server, main, sentinel_db, monkeypatch):
    monkeypatch.setattr(scheduler, "HISTORY_PAGE_SIZE", 2)
    sentinel_db.create()
    now_ms = int(NOW.timestamp() * 1000)
    minute = 60_000
    docs = [
        {"_id": "sms-history:old-times", "type": "sms_history", "times": [now_ms - 50 * minute, now_ms - 31 * minute]},
        {"_id": "sms-history:old-last", "type": "sms_history", "count": 3, "last": now_ms - 30 * minute - 1},
        {"_id": "sms-history:empty", "type": "sms_history", "times": []},
        {"_id": "sms-history:fresh-times", "type": "sms_history", "times": [now_ms - 60 * minute, now_ms - 29 * minute]},
        {"_id": "sms-history:fresh-last", "type": "sms_history", "count": 1, "last": now_ms - 30 * minute},
        {"_id": "sms-history:old-2", "type": "sms_history", "count": 9, "last": now_ms - 600 * minute},
        {"_id": "lookup:phone:+1", "type": "lookup", "ids": []},
        {"_id": "t-info", "type": "info", "last": 0},
    ]
    sentinel_db.bulk_docs(docs)
    env = scheduler.JobEnv(main, sentinel_db, settings=lambda: None, config_error=lambda: None)
    assert scheduler.sms_history_cleanup(env, NOW) == 4
    left = {row["id"] for row in sentinel_db.all_docs_range("", "\ufff0", include_docs=False)}
    assert left == {"sms-history:fresh-times", "sms-history:fresh-last", "lookup:phone:+1", "t-info"}
    assert scheduler.sms_history_cleanup(env, NOW) == 0
