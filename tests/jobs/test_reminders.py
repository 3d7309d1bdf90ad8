"""reminders: `reminder:<form>:<ms>:<place>` docs and `reminderlog:<form>:<ms>` logs (spec 4.3, 3.7),
against a real PouchDB Server; cron and later.js text schedules; the reminder settings check.

The text-expression tables were produced by later 1.2.0 itself (the version CHT Sentinel uses,
`later.date.localTime()`, `schedule.prev(1, now, start)`), so they pin our evaluator to later.js.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentinel.jobs import reminders
from sentinel.core.couch import CouchDB, CouchServer
from sentinel.core.docs import clone
from sentinel.daemon.runner import Runner
from sentinel.daemon.settings_check import build

from ..support import new_runner, put_settings

UTC = timezone.utc
NOW = datetime(2024, 1, 10, 10, 7, 0, tzinfo=UTC)  # a Wednesday
FIRED = datetime(2024, 1, 10, 10, 5, 0, tzinfo=UTC)
FIRED_MS = int(FIRED.timestamp() * 1000)
NOW_MS = int(NOW.timestamp() * 1000)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- later.js text expressions ---------------------------------------------------------------------

LATER_JS = [  # (expression, now, window start, later's schedule.prev; None: no fire time in the window)
    ('at 0:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T00:00:00.000Z"),
    ('at 0:00', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('at 12:30 am', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T12:30:00.000Z"),
    ('at 12:30 am', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('at 13:00 on Mon', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T13:00:00.000Z"),
    ('at 13:00 on Mon', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('at 13:00 on Tue', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T13:00:00.000Z"),
    ('at 13:00 on Tue', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('at 14:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T14:00:00.000Z"),
    ('at 14:00', "2024-01-01T00:00:00Z", "2023-12-31T23:00:00.000Z", None),
    ('at 14:01', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-01T14:01:00.000Z"),
    ('at 14:01', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('at 1:15 pm and 18:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T13:15:00.000Z"),
    ('at 1:15 pm and 18:00', "2024-01-01T00:00:00Z", "2023-12-31T23:00:00.000Z", None),
    ('at 23:59 on sat', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-30T23:59:00.000Z"),
    ('at 23:59 on sat', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('at 8:00 of feb', "2024-02-29T23:59:59Z", "2024-02-28T22:59:59.000Z", "2024-02-29T08:00:00.000Z"),
    ('at 8:00 of feb', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('at 9:00 am', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T09:00:00.000Z"),
    ('at 9:00 am', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('at 9:00 on Monday', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T09:00:00.000Z"),
    ('at 9:00 on Monday', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('every 1 month', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T00:00:00.000Z"),
    ('every 1 week on Mon at 10:00', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T10:00:00.000Z"),
    ('every 1 week on Mon at 10:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('every 15 minutes on sun', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-31T23:45:00.000Z"),
    ('every 15 minutes on sun', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('every 2 days', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T00:00:00.000Z"),
    ('every 2 days', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('every 2 hours', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T14:00:00.000Z"),
    ('every 2 weeks', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T00:00:00.000Z"),
    ('every 2 weeks on Wed at 6:00 pm', "2024-01-07T08:00:00.500Z", "2023-12-29T08:00:00.000Z", "2024-01-03T18:00:00.000Z"),
    ('every 2 weeks on Wed at 6:00 pm', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('every 3 hours', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T12:00:00.000Z"),
    ('every 3 hours', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('every 5 minutes', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T14:00:00.000Z"),
    ('every weekday', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T00:00:00.000Z"),
    ('every weekday', "2024-01-07T08:00:00.500Z", "2024-01-06T07:00:00.000Z", None),
    ('every weekday at 7:30 am', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T07:30:00.000Z"),
    ('every weekday at 7:30 am', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('every weekend', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-31T00:00:00.000Z"),
    ('every weekend', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('of jan', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T00:00:00.000Z"),
    ('of jan', "2024-02-29T23:59:59Z", "2024-02-28T22:59:59.000Z", None),
    ('on Tue', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T00:00:00.000Z"),
    ('on Tue', "2024-01-01T00:00:00Z", "2023-12-30T23:00:00.000Z", None),
    ('on mon through wed, fri', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T00:00:00.000Z"),
    ('on mon through wed, fri', "2024-01-07T08:00:00.500Z", "2024-01-06T07:00:00.000Z", None),
    ('on mon-wed', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T00:00:00.000Z"),
    ('on mon-wed', "2024-01-07T08:00:00.500Z", "2024-01-06T07:00:00.000Z", None),
    ('on the 15th day', "2024-01-15T13:00:00Z", "2024-01-14T12:00:00.000Z", "2024-01-15T00:00:00.000Z"),
    ('on the 15th day', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the 1st,15th day of the month', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T00:00:00.000Z"),
    ('on the 1st,15th day of the month', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('on the 3rd hour', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T03:00:00.000Z"),
    ('on the 3rd hour', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
    ('on the first day of the month at 6:00', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2024-01-01T06:00:00.000Z"),
    ('on the first day of the month at 6:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the first day of the week', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-31T00:00:00.000Z"),
    ('on the first day of the week', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the first day of the week at 8:00', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-31T08:00:00.000Z"),
    ('on the first day of the week at 8:00', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the first minute', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-02T14:00:00.000Z"),
    ('on the last day of the month', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-31T00:00:00.000Z"),
    ('on the last day of the month', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the last day of the week', "2024-01-02T14:00:30Z", "2023-12-24T14:00:30.000Z", "2023-12-30T00:00:00.000Z"),
    ('on the last day of the week', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", None),
    ('on the last hour', "2024-01-02T14:00:30Z", "2024-01-01T13:00:30.000Z", "2024-01-01T23:00:00.000Z"),
    ('on the last hour', "2024-01-02T14:00:30Z", "2024-01-02T13:00:30.000Z", None),
]


@pytest.mark.parametrize("expression, now, start, expected", [pytest.param(*case, id=f"{case[0]} @ {case[1]} since {case[2]}") for case in LATER_JS])
def test_text_expression_fire_times_match_later_js(expression, now, start, expected):
    assert reminders.TextSchedule(expression, UTC).prev(at(now), at(start)) == (at(expected) if expected else None)


@pytest.mark.parametrize(
    "zone, expression, now, start, expected",
    [
        pytest.param("Africa/Nairobi", "at 9:00 on Mon", "2024-01-01T07:00:00Z", "2023-12-31T06:00:00Z", "2024-01-01T06:00:00Z", id="time zone: 9:00 in Nairobi is 06:00Z"),
        pytest.param("Africa/Nairobi", "at 9:00 on Mon", "2024-01-01T05:00:00Z", "2023-12-31T04:00:00Z", None, id="time zone: not yet 9:00 in Nairobi"),
        pytest.param("America/New_York", "every weekday", "2024-01-01T22:00:00Z", "2023-12-31T21:00:00Z", "2024-01-01T05:00:00Z", id="time zone: days start at local midnight"),
        pytest.param("America/New_York", "at 2:30", "2024-03-10T12:00:00Z", "2024-03-09T11:00:00Z", "2024-03-10T07:30:00Z", id="DST: a time in the spring-forward gap moves past it, as in JavaScript"),
        pytest.param("America/New_York", "at 1:30", "2024-11-03T12:00:00Z", "2024-11-02T11:00:00Z", "2024-11-03T05:30:00Z", id="DST: an ambiguous time is its first occurrence"),
    ],
)
def test_text_expression_reads_times_in_the_settings_zone_like_later_js_local_time(zone, expression, now, start, expected):
    assert reminders.TextSchedule(expression, ZoneInfo(zone)).prev(at(now), at(start)) == (at(expected) if expected else None)


@pytest.mark.parametrize(
    "expression, why",
    [
        pytest.param("after 9:00", "after is not supported", id="after"),
        pytest.param("before 17:00", "before is not supported", id="before"),
        pytest.param("every 30 seconds", "seconds are not supported", id="seconds"),
        pytest.param("every 5 minutes starting on the 2nd minute", "starting on/at is not supported", id="starting on"),
        pytest.param("every 5 minutes between the 10th and 20th minute", "between is not supported", id="between"),
        pytest.param("at 9:00 also at 10:00", "also is not supported", id="also (composite schedules)"),
        pytest.param("at 9:00 except on Sun", "except is not supported", id="except"),
        pytest.param("at 9:00 in 2025", "in <year> is not supported", id="in a year"),
        pytest.param("on the 2nd day instance", "day instances are not supported", id="day instance"),
        pytest.param("on the 1st week of the month", "weeks of the month are not supported", id="week of the month"),
        pytest.param("at 25:00", "expected time", id="an hour later.js cannot read"),
        pytest.param("every week", "expected rank", id="every without a number (later.js: an error)"),
        pytest.param("whenever you like", "not understood", id="gibberish"),
        pytest.param("   ", "empty", id="blank"),
    ],
)
def test_unsupported_text_expressions_are_a_settings_problem_that_says_to_use_cron(expression, why):
    settings = settings_of({"reminders": [{"form": "F", "message": "hi", "text_expression": expression}]})
    problems = reminders.reminder_problems(settings)
    assert len(problems) == 1 and problems[0].startswith("settings.reminders[0]: text_expression")
    assert why in problems[0] and "write the schedule as `cron` instead" in problems[0]


# --- cron -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron, now, start, expected",
    [
        pytest.param("5 10 * * *", "2024-01-10T10:07:00Z", "2024-01-09T10:00:00Z", "2024-01-10T10:05:00Z", id="the latest fire time in the window"),
        pytest.param("5 10 * * *", "2024-01-10T10:05:00.900Z", "2024-01-09T10:00:00Z", "2024-01-10T10:05:00Z", id="a fire time at now (to the second) counts"),
        pytest.param("5 10 * * *", "2024-01-10T10:04:59Z", "2024-01-09T10:00:00Z", "2024-01-09T10:05:00Z", id="before today's: yesterday's"),
        pytest.param("5 10 * * *", "2024-01-10T10:04:59Z", "2024-01-09T11:00:00Z", None, id="none in the window"),
        pytest.param("0 9 1 * 1", "2024-01-10T12:00:00Z", "2023-12-01T00:00:00Z", "2024-01-01T09:00:00Z", id="day of month AND day of week, as later.js (Mon 1 Jan)"),
        pytest.param("0 9 1 * 1", "2024-01-09T12:00:00Z", "2024-01-02T00:00:00Z", None, id="a Monday that is not the 1st does not fire"),
    ],
)
def test_cron_fire_times(cron, now, start, expected):
    assert reminders.CronSchedule(cron, UTC).prev(at(now), at(start)) == (at(expected) if expected else None)


def test_cron_fire_times_are_in_the_settings_zone():
    found = reminders.CronSchedule("0 9 * * *", ZoneInfo("Africa/Nairobi")).prev(at("2024-01-10T07:00:00Z"), at("2024-01-09T07:00:00Z"))
    assert found == at("2024-01-10T06:00:00Z")


# --- the settings check ----------------------------------------------------------------------------

CONTACT_TYPES = [
    {"id": "tier1"},
    {"id": "tier2", "parents": ["tier1"]},
    {"id": "tier3", "parents": ["tier1"]},
    {"id": "tier4", "parents": ["tier3"]},
    {"id": "tier5", "parents": ["tier1", "tier2", "tier3", "tier4"], "person": True},
]


def settings_of(values: dict[str, Any]):
    return build(values)[0]


GOOD = {"form": "F", "translation_key": "sms.reminder", "cron": "0 9 * * 1"}


@pytest.mark.parametrize(
    "config, problem",
    [
        pytest.param(GOOD, None, id="valid: cron"),
        pytest.param({"form": "F", "message": "hi", "text_expression": "at 9:00 am on Mon", "mute_after_form_for": "2 days", "contact_types": ["tier2", "clinic"]}, None, id="valid: text expression, mute, configured and hard-coded types"),
        pytest.param({**GOOD, "form": ""}, "form: must be a non-empty string", id="no form"),
        pytest.param({"form": "F", "cron": "0 9 * * 1"}, "needs a translation_key or a message", id="no message"),
        pytest.param({"form": "F", "message": "hi"}, "needs a cron (or a text_expression)", id="no schedule"),
        pytest.param({**GOOD, "cron": "0 9 * *"}, "not a valid five-field cron expression", id="a cron of four fields"),
        pytest.param({**GOOD, "cron": "61 9 * * *"}, "not a valid five-field cron expression", id="a cron minute out of range"),
        pytest.param({**GOOD, "contact_types": ["nope"]}, "unknown contact type(s) 'nope'", id="an unknown contact type"),
        pytest.param({**GOOD, "contact_types": []}, "must be a non-empty list", id="empty contact_types (CHT: invalid)"),
        pytest.param({**GOOD, "mute_after_form_for": "2 months"}, "mute_after_form_for: must be", id="mute in months (CHT ignores it silently)"),
        pytest.param("F", "must be an object", id="not an object"),
    ],
)
def test_reminder_config_problems(config, problem):
    found = reminders.reminder_problems(settings_of({"contact_types": CONTACT_TYPES, "reminders": [config]}))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


@pytest.mark.parametrize(
    "values, config, expected",
    [
        pytest.param({"contact_types": CONTACT_TYPES}, {}, ["tier2", "tier4"], id="default: the leaf place types"),
        pytest.param({}, {}, ["clinic"], id="default, hard-coded hierarchy: clinic"),
        pytest.param({"contact_types": CONTACT_TYPES}, {"contact_types": ["tier1", "tier1"]}, ["tier1"], id="contact_types given"),
    ],
)
def test_place_types(values, config, expected):
    assert reminders.place_types(config, settings_of(values)) == expected


# --- the job, end to end ----------------------------------------------------------------------------

def lineage(*ids: str) -> dict[str, Any] | None:
    node = None
    for doc_id in reversed(ids):
        node = {"_id": doc_id, **({"parent": node} if node else {})}
    return node


def place(doc_id: str, type_id: str, parent: tuple[str, ...], contact: str | None = None, **extra: Any) -> dict[str, Any]:
    doc = {"_id": doc_id, "name": doc_id, "type": "contact", "contact_type": type_id, **extra}
    if parent:
        doc["parent"] = lineage(*parent)
    if contact:
        doc["contact"] = lineage(contact, doc_id, *parent)
    return doc


def person(doc_id: str, phone: str, parent: tuple[str, ...]) -> dict[str, Any]:
    return {"_id": doc_id, "name": doc_id, "type": "contact", "contact_type": "tier5", "phone": phone, "parent": lineage(*parent)}


CONTACTS = [
    place("PARENT", "tier1", (), "contact1"),
    person("contact1", "+254700000011", ("PARENT",)),
    place("leaf1", "tier2", ("PARENT",), "contact2"),  # reminded
    person("contact2", "+254700000012", ("leaf1", "PARENT")),
    place("leaf2", "tier2", ("PARENT",)),  # no contact
    place("notleaf1", "tier3", ("PARENT",), "contact4"),  # not a leaf type
    person("contact4", "+254700000014", ("notleaf1", "PARENT")),
    place("leaf3", "tier4", ("notleaf1", "PARENT"), "contact6"),  # reminded
    person("contact6", "+254700000016", ("leaf3", "notleaf1", "PARENT")),
    place("notleaf2", "tier3", ("PARENT",), "contact5", muted=1700000000000),
    place("leaf4", "tier4", ("notleaf2", "PARENT"), "contact7", muted="sometime last week"),  # muted itself
    person("contact7", "+254700000017", ("leaf4", "notleaf2", "PARENT")),
    place("leaf5", "tier4", ("notleaf2", "PARENT"), "contact8"),  # under a muted place
    person("contact8", "+254700000018", ("leaf5", "notleaf2", "PARENT")),
]
REMINDER = {"form": "FORM1", "cron": "5 10 * * *", "message": "{{name}} should send FORM1 (week {{week}} of {{year}})"}


def setup(server: CouchServer, main: CouchDB, configs: list[dict[str, Any]], docs: list[dict[str, Any]] = ()) -> Runner:
    put_settings(main, {"contact_types": CONTACT_TYPES, "reminders": configs})
    assert not [r for r in main.bulk_docs([clone(d) for d in [*CONTACTS, *docs]]) if r.get("error")]
    runner = new_runner(server, main)
    assert runner.current is not None, runner.config_error
    return runner


def tick(runner: Runner, now: datetime = NOW) -> None:
    reminders.run(runner.job_env(), now)


def reminder_docs(main: CouchDB) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["doc"] for r in main.all_docs_range("reminder:", "reminder:\ufff0")}


def logs(sentinel: CouchDB) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["doc"] for r in sentinel.all_docs_range("reminderlog:", "reminderlog:\ufff0")}


def test_reminders_create_one_doc_per_leaf_place_with_a_contact_and_log_the_run(server, main):
    runner = setup(server, main, [REMINDER])
    tick(runner)
    docs = reminder_docs(main)
    assert sorted(docs) == [f"reminder:FORM1:{FIRED_MS}:leaf1", f"reminder:FORM1:{FIRED_MS}:leaf3"]
    doc = docs[f"reminder:FORM1:{FIRED_MS}:leaf1"]
    message = doc["tasks"][0]["messages"][0]
    assert {k: v for k, v in doc.items() if k not in ("_rev", "tasks")} == {
        "_id": f"reminder:FORM1:{FIRED_MS}:leaf1",
        "type": "reminder",
        "contact": {"_id": "contact2", "parent": {"_id": "leaf1", "parent": {"_id": "PARENT"}}},
        "place": {"_id": "leaf1", "parent": {"_id": "PARENT"}},
        "form": "FORM1",
        "reported_date": NOW_MS,
    }
    assert doc["tasks"] == [{
        "messages": [{"uuid": message["uuid"], "to": "+254700000012", "message": "leaf1 should send FORM1 (week 2 of 2024)"}],
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": "2024-01-10T10:07:00.000Z"}],
        "form": "FORM1",
        "timestamp": "2024-01-10T10:05:00.000Z",
        "type": "reminder",
    }]
    assert docs[f"reminder:FORM1:{FIRED_MS}:leaf3"]["tasks"][0]["messages"][0]["to"] == "+254700000016"
    log = logs(runner.sentinel)[f"reminderlog:FORM1:{FIRED_MS}"]
    assert {k: log[k] for k in ("type", "reminder", "reported_date")} == {"type": "reminderlog", "reminder": REMINDER, "reported_date": NOW_MS}
    assert isinstance(log["duration"], float)


def test_reminders_are_idempotent_once_per_fire_time(server, main):
    runner = setup(server, main, [REMINDER])
    tick(runner)
    first = {i: d["_rev"] for i, d in reminder_docs(main).items()}
    for later in (NOW, NOW + timedelta(minutes=5), NOW + timedelta(hours=20)):
        tick(runner, later)
        assert {i: d["_rev"] for i, d in reminder_docs(main).items()} == first
        assert list(logs(runner.sentinel)) == [f"reminderlog:FORM1:{FIRED_MS}"]
    # a run that crashed after its reminders but before its log: done again, nothing written twice
    log = runner.sentinel.get(f"reminderlog:FORM1:{FIRED_MS}")
    runner.sentinel.delete_doc(log["_id"], log["_rev"])
    tick(runner, NOW + timedelta(minutes=1))
    assert {i: d["_rev"] for i, d in reminder_docs(main).items()} == first
    assert list(logs(runner.sentinel)) == [f"reminderlog:FORM1:{FIRED_MS}"]
    # the next fire time makes the next reminders
    tick(runner, NOW + timedelta(days=1))
    next_ms = FIRED_MS + 86_400_000
    assert sorted(reminder_docs(main)) == sorted([*first, f"reminder:FORM1:{next_ms}:leaf1", f"reminder:FORM1:{next_ms}:leaf3"])
    assert sorted(logs(runner.sentinel)) == [f"reminderlog:FORM1:{FIRED_MS}", f"reminderlog:FORM1:{next_ms}"]


def test_a_reminder_doc_already_there_is_kept_as_it_is(server, main):
    existing = {"_id": f"reminder:FORM1:{FIRED_MS}:leaf1", "type": "reminder", "form": "FORM1", "tasks": [], "written_by": "CHT"}
    runner = setup(server, main, [REMINDER], [existing])
    tick(runner)
    docs = reminder_docs(main)
    assert docs[existing["_id"]]["written_by"] == "CHT" and docs[existing["_id"]]["_rev"].startswith("1-")
    assert f"reminder:FORM1:{FIRED_MS}:leaf3" in docs


def test_muted_places_and_places_without_a_contact_get_no_reminder(server, main):
    legacy = place("leaf6", "tier2", ("PARENT",), "contact2", tasks=[{"form": "FORM1", "timestamp": "2024-01-10T10:05:00.000Z"}])
    runner = setup(server, main, [REMINDER], [legacy])
    tick(runner)
    reminded = {i.split(":")[-1] for i in reminder_docs(main)}
    assert reminded == {"leaf1", "leaf3"}  # not leaf2 (no contact), leaf4 (muted), leaf5 (muted parent), leaf6 (legacy task)


DAY = 86_400_000


@pytest.mark.parametrize(
    "form, reported, muted",
    [
        pytest.param("FORM1", FIRED_MS - DAY, True, id="mute_after_form_for: the form sent a day ago mutes"),
        pytest.param("FORM1", FIRED_MS - 2 * DAY, True, id="mute_after_form_for: exactly the duration ago still mutes"),
        pytest.param("FORM1", FIRED_MS - 2 * DAY - 60_000, False, id="mute_after_form_for: longer ago does not"),
        pytest.param("FORM1", FIRED_MS + 60_000, True, id="mute_after_form_for: sent after the fire time, before the run, mutes"),
        pytest.param("OTHER", FIRED_MS - 3_600_000, False, id="mute_after_form_for: another form does not"),
        pytest.param("FORM1", "2024-01-09T10:05:00.000Z", True, id="mute_after_form_for: a reported_date string is read"),
    ],
)
def test_mute_after_form_for(server, main, form, reported, muted):
    sent = {"_id": "sent", "type": "data_record", "form": form, "reported_date": reported, "contact": lineage("contact6", "leaf3", "notleaf1", "PARENT")}
    other = {"_id": "other", "type": "data_record", "form": "FORM1", "reported_date": FIRED_MS, "contact": lineage("contact2", "elsewhere")}
    runner = setup(server, main, [{**REMINDER, "mute_after_form_for": "2 days"}], [sent, other])
    tick(runner)
    reminded = {i.split(":")[-1] for i in reminder_docs(main)}
    assert reminded == ({"leaf1"} if muted else {"leaf1", "leaf3"})


def test_places_are_paged_through_every_type(server, main, monkeypatch):
    monkeypatch.setattr(reminders, "PAGE_SIZE", 2)
    extra = []
    for i in range(5):
        extra += [place(f"more{i}", "tier2", ("PARENT",), f"person{i}"), person(f"person{i}", f"+25470000010{i}", (f"more{i}", "PARENT"))]
    runner = setup(server, main, [REMINDER], extra)
    tick(runner)
    assert {i.split(":")[-1] for i in reminder_docs(main)} == {"leaf1", "leaf3", *(f"more{i}" for i in range(5))}


def test_a_text_expression_reminder_runs_like_cht(server, main):
    runner = setup(server, main, [{"form": "FORM2", "text_expression": "at 10:05 on Wed", "message": "{{name}}", "contact_types": ["tier2"]}])
    tick(runner, NOW - timedelta(minutes=3))  # 10:04: not yet
    assert reminder_docs(main) == {}
    tick(runner)
    assert sorted(reminder_docs(main)) == [f"reminder:FORM2:{FIRED_MS}:leaf1"]
    assert list(logs(runner.sentinel)) == [f"reminderlog:FORM2:{FIRED_MS}"]


def test_an_invalid_reminder_is_skipped_and_the_others_run(server, main, caplog):
    bad = {"form": "BAD", "text_expression": "every 30 seconds", "message": "x"}
    runner = setup(server, main, [REMINDER])
    runner.current = (settings_of({"contact_types": CONTACT_TYPES, "reminders": [bad, REMINDER]}), ())
    tick(runner)
    assert {i.split(":")[1] for i in reminder_docs(main)} == {"FORM1"}
    assert "reminders[0]: invalid, skipped" in caplog.text and "write the schedule as `cron` instead" in caplog.text


@pytest.mark.parametrize(
    "day, week",
    [
        pytest.param("2024-01-01", 1, id="week: Monday 1 January"),
        pytest.param("2023-12-31", 1, id="week: the Sunday before belongs to week 1"),
        pytest.param("2023-12-30", 52, id="week: the Saturday before is week 52"),
        pytest.param("2024-01-07", 2, id="week: weeks start on Sunday"),
        pytest.param("2027-12-31", 1, id="week: 31 December can be week 1"),
        pytest.param("2024-06-15", 24, id="week: mid-year"),
    ],
)
def test_week_in_the_template_context_is_moments_w(day, week):
    assert reminders.moment_week(datetime.fromisoformat(day).date()) == week
