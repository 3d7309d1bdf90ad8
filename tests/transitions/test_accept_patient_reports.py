"""accept_patient_reports: a report about a registered patient or place replies, links the latest
registration, silences reminders and records which sent reminder it answers (spec 2.5; CHT
accept_patient_reports.js and tests/integration/sentinel/transitions/accept-patient-reports.spec.js).

Most cases are documents seeded into one database that Sentinel processes once at NOW (`world`);
the batch and idempotence cases use the per-test fixtures.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from unittest.mock import ANY

import pytest


from ..support import CHW, HIERARCHY, NOW, NOW_ISO, drain, processed, report


T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)  # the reports' reported_date
REPORTED = int(T0.timestamp() * 1000)
REGISTERED = REPORTED - 60 * 86400000
UNKNOWN = "+254799999999"
CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
BY_CHW = {"from": CHW["phone"], "contact": {"_id": "chw", "parent": CLINIC_IDS}}
OLD_TS = "2024-01-01T00:00:00.000Z"


def day(offset: float) -> str:
    """An ISO date `offset` days from the reports' reported_date."""
    return (T0 + timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def st(kind: str, state: str, due: float, group: Any = None, **extra: Any) -> dict[str, Any]:
    task = {"type": kind, "state": state, "due": day(due), "state_history": [{"state": state, "timestamp": OLD_TS}], **extra}
    if group is not None:
        task["group"] = group
    return task


def cleared(task: dict[str, Any], by: str) -> dict[str, Any]:
    return {**task, "state": "cleared", "state_history": [*task["state_history"], {"state": "cleared", "timestamp": NOW_ISO}], "cleared_by": by}


def task(text: str, to: str = CHW["phone"], state: str = "pending") -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": to, "message": text}], "state": state, "state_history": [{"state": state, "timestamp": NOW_ISO}]}


def msg(content: str, **extra: Any) -> dict[str, Any]:
    return {"message": [{"locale": "en", "content": content}], **extra}


NOT_FOUND = msg("Patient not found", event_type="registration_not_found")
SETTINGS = {
    "transitions": {"accept_patient_reports": True},
    "forms": {code: {} for code in ("V", "VAL", "VALJ", "MSG", "BARE", "SIL1", "SIL2", "SIL0", "NOSIL", "RESP", "SREG", "SREG2")}
    | {"PUBV": {"public_form": True}},
    "registrations": [{"form": "XREG"}, {"form": "SREG"}, {"form": "SREG2"}],
    "patient_reports": [
        {"form": "V", "messages": [NOT_FOUND]},
        {"form": "PUBV", "messages": []},
        {"form": "BARE"},  # no messages at all: nothing to send (CHT would throw)
        {"form": "VAL", "messages": [NOT_FOUND, msg("ok", event_type="report_accepted")], "silence_type": "ANC",
         "validations": {"list": [
             {"property": "note", "rule": "lenMin(5)", "message": [{"locale": "en", "content": "Note {{note}} is too short"}]},
             {"property": "count", "rule": "integer", "message": [{"locale": "en", "content": "Count must be a number"}]}]}},
        {"form": "VALJ", "messages": [], "validations": {"join_responses": True, "list": [
             {"property": "note", "rule": "lenMin(5)", "message": [{"locale": "en", "content": "Note {{note}} is too short"}]},
             {"property": "count", "rule": "integer", "message": [{"locale": "en", "content": "Count must be a number"}]}]}},
        {"form": "MSG", "messages": [
            NOT_FOUND,
            msg("Thanks {{contact.name}}: visit for {{patient_name}} (LMP {{lmp}})", event_type="report_accepted"),
            msg("Visit yes", event_type="report_accepted", recipient="reporting_unit", bool_expr="doc.fields.visit === 'yes'"),
            msg("Visit big", event_type="report_accepted", bool_expr={">": [{"var": "doc.fields.count"}, 100]}),
            msg("no event type: never (registration sends these, this transition does not)"),
            msg("other event type: never", event_type="something_else"),
        ]},
        {"form": "NOSIL", "messages": [], "silence_type": "", "silence_for": ""},
        {"form": "SIL1", "messages": [], "silence_type": "type1,type2", "silence_for": "1 days"},
        {"form": "SIL2", "messages": [], "silence_type": "type3", "silence_for": ""},
        {"form": "SIL0", "messages": [], "silence_type": "type0, type1,type2"},
        {"form": "RESP", "messages": [], "silence_type": "ANC", "silence_for": "7 days"},
    ],
}
TRANSLATIONS = [{"_id": "messages-en", "code": "en", "type": "translations", "generic": {
    "messages.generic.registration_not_found": "No registration for {{patient_id}}."}}]


def person(doc_id: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "person", "name": doc_id.title(), "patient_id": code, "parent": CLINIC_IDS, **extra}


CONTACTS = [
    *(person(f"p{i}", f"2{i:04d}") for i in range(1, 30)),
    {"_id": "village", "type": "clinic", "name": "Village", "place_id": "30001", "parent": {"_id": "health_center", "parent": {"_id": "district"}}},
]
SEEDED: list[dict[str, Any]] = []


def seed(doc_id: str, form: str, fields: dict[str, Any] | None = None, reported_date: Any = REPORTED, **extra: Any) -> dict[str, Any]:
    doc = {**report(doc_id, form=form, fields=fields or {}, reported_date=reported_date), **extra}
    SEEDED.append(doc)
    return doc


def registration(doc_id: str, patient: str | None = None, tasks: list[dict] | None = None, form: str = "SREG",
                 reported_date: Any = REGISTERED, place: str | None = None, **extra: Any) -> dict[str, Any]:
    fields = {**({"patient_id": patient} if patient else {}), **({"place_id": place} if place else {})}
    more = {"scheduled_tasks": tasks} if tasks is not None else {}
    return seed(doc_id, form, {**fields, **extra.pop("fields", {})}, reported_date, **more, **{**BY_CHW, **extra})


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *CONTACTS, *TRANSLATIONS, *SEEDED]) as w:
        yield w


def ran(world, seeded: dict[str, Any]) -> bool:
    record = world.info(seeded)["transitions"].get("accept_patient_reports")
    return record is not None and record["ok"] is True


# --- filter ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seeded, runs", [
    pytest.param(seed("f-known", "V", **BY_CHW), True, id="an SMS from a known sender, the form configured as {}"),
    pytest.param(seed("f-xml", "V", content_type="xml"), True, id="an app report"),
    pytest.param(seed("f-lower", "v", content_type="xml"), False, id="the form code in another case: CHT matches it exactly"),
    pytest.param(seed("f-other", "VX", content_type="xml"), False, id="an unconfigured form"),
    pytest.param(seed("f-unknown", "V", **{"from": UNKNOWN}), False, id="an SMS from an unknown sender"),
    pytest.param(seed("f-public", "PUBV", **{"from": UNKNOWN}), True, id="a public form from an unknown sender"),
    pytest.param(seed("f-undated", "V", reported_date=None, **BY_CHW), False, id="no reported_date"),
    pytest.param(seed("f-not-report", "V", type="person", **BY_CHW), False, id="not a data_record"),
])
def test_it_runs_only_on_configured_valid_dated_submissions(world, seeded, runs):
    assert ran(world, seeded) is runs
    if not runs:
        assert world.unchanged(seeded)


# --- validations -----------------------------------------------------------------------------------
VAL_REG = registration("val-reg", "20001", [st("ANC", "scheduled", 3)])


@pytest.mark.parametrize("seeded, reply", [
    pytest.param(seed("val", "VAL", {"patient_id": "20001", "note": "hi", "count": "x"}, **BY_CHW), "Note hi is too short",
                 id="the first error's message"),
    pytest.param(seed("valj", "VALJ", {"patient_id": "20001", "note": "hi", "count": "x"}, **BY_CHW),
                 "Note hi is too short  Count must be a number", id="join_responses: all, two spaces apart"),
])
def test_an_invalid_report_gets_every_error_one_reply_and_nothing_else(world, seeded, reply):
    assert world.doc(seeded) == {**seeded, "tasks": [task(reply)], "errors": [
        {"code": "invalid_note", "message": "Note hi is too short"}, {"code": "invalid_count", "message": "Count must be a number"}]}
    assert world.unchanged(VAL_REG)  # no silencing, no responded_to_by


VAL_OK_REG = registration("val-ok-reg", "20002", [st("ANC", "scheduled", 3)])
VAL_OK = seed("val-ok", "VAL", {"patient_id": "20002", "note": "hello", "count": 3}, **BY_CHW)


def test_a_valid_report_goes_on_to_reply_and_silence(world):
    assert world.doc(VAL_OK) == {**VAL_OK, "tasks": [task("ok")], "registration_id": "val-ok-reg"}
    assert world.doc(VAL_OK_REG)["scheduled_tasks"] == [cleared(st("ANC", "scheduled", 3), "val-ok")]


# --- registration_not_found ------------------------------------------------------------------------
@pytest.mark.parametrize("seeded, reply", [
    pytest.param(seed("nf-unknown", "V", {"patient_id": "99999"}, **BY_CHW), "Patient not found", id="an unknown patient_id"),
    pytest.param(seed("nf-place", "V", {"place_id": "99998"}, **BY_CHW), "Patient not found", id="an unknown place_id"),
    pytest.param(seed("nf-none", "V", **BY_CHW), "Patient not found", id="no subject at all"),
    pytest.param(seed("nf-generic", "BARE", {"patient_id": "99999"}, **BY_CHW), "No registration for 99999.",
                 id="no configured message: the generic translation"),
])
def test_a_report_without_patient_or_place_gets_registration_not_found(world, seeded, reply):
    assert world.doc(seeded) == {**seeded, "tasks": [task(reply)], "errors": [{"code": "registration_not_found", "message": reply}]}


NF_PLACE_OK = seed("nf-place-ok", "V", {"place_id": "30001"}, **BY_CHW)


def test_a_known_place_is_enough(world):
    assert world.doc(NF_PLACE_OK) == {**NF_PLACE_OK, "registration_id": "rid-place"}  # the place's latest below


# --- report_accepted messages ----------------------------------------------------------------------
MSG_REG = registration("msg-reg", "20003", fields={"lmp": "Jan"})


@pytest.mark.parametrize("seeded, texts", [
    pytest.param(seed("msg-plain", "MSG", {"patient_id": "20003"}, **BY_CHW), ["Thanks Chloe CHW: visit for P3 (LMP Jan)"],
                 id="report_accepted without bool_expr, templates see the patient and its registration"),
    pytest.param(seed("msg-yes", "MSG", {"patient_id": "20003", "visit": "yes"}, **BY_CHW),
                 ["Thanks Chloe CHW: visit for P3 (LMP Jan)", "Visit yes"], id="a JS bool_expr that passes"),
    pytest.param(seed("msg-big", "MSG", {"patient_id": "20003", "count": 101}, **BY_CHW),
                 ["Thanks Chloe CHW: visit for P3 (LMP Jan)", "Visit big"], id="a JsonLogic bool_expr that passes"),
])
def test_report_accepted_messages_are_sent_when_their_bool_expr_passes(world, seeded, texts):
    assert world.doc(seeded) == {**seeded, "tasks": [task(t) for t in texts], "registration_id": "msg-reg"}


BARE_REG = registration("bare-reg", "20004")
BARE = seed("bare", "BARE", {"patient_id": "20004"}, **BY_CHW)


def test_a_config_without_messages_sends_nothing(world):
    assert world.doc(BARE) == {**BARE, "registration_id": "bare-reg"}


# --- registration_id (CHT's "should add registration to doc" cases) ---------------------------------
for doc_id, extra in [
    ("rid-not-a-registration", {"form": "OTHER", "content_type": "xml", "reported_date": REGISTERED + 9000}),
    ("rid-sms-unconfigured-form", {"form": "XREG", "reported_date": REGISTERED + 5000, "contact": None}),  # neither xml nor in forms
    ("rid-sms-without-contact", {"form": "SREG2", "reported_date": REGISTERED + 6000, "contact": None}),
    ("rid-with-errors", {"reported_date": REGISTERED + 7000, "errors": [{"code": "x", "message": "x"}]}),
    ("rid-xml", {"form": "XREG", "content_type": "xml", "reported_date": REGISTERED + 1000}),
    ("rid-latest", {"form": "SREG", "reported_date": REGISTERED + 3000}),
    ("rid-first", {"form": "SREG2", "reported_date": REGISTERED}),
]:
    registration(doc_id, "20005", **extra)
registration("rid-other-patient", "20006", reported_date=REGISTERED + 8000)
registration("rid-place", place="30001", reported_date=REGISTERED + 4000)
RID = seed("rid", "V", {"patient_id": "20005"}, **BY_CHW)
RID_BOTH = seed("rid-both", "V", {"patient_id": "20005", "place_id": "30001"}, **BY_CHW)
RID_NONE = seed("rid-none", "V", {"patient_id": "20007"}, **BY_CHW)


@pytest.mark.parametrize("seeded, expected", [
    pytest.param(RID, "rid-latest", id="the latest valid registration of the patient"),
    pytest.param(RID_BOTH, "rid-place", id="the latest of the patient's and the place's"),
])
def test_registration_id_is_the_latest_valid_registration_by_reported_date(world, seeded, expected):
    assert world.doc(seeded) == {**seeded, "registration_id": expected}


def test_without_registrations_there_is_no_registration_id(world):
    assert world.doc(RID_NONE) == RID_NONE and ran(world, RID_NONE)


# --- silencing (CHT's "should silence registrations" case, one patient per report) -----------------
def silencing_registrations(prefix: str, patient: str) -> tuple[dict, dict]:
    a = registration(f"{prefix}-a", patient, [
        st("type0", "scheduled", 10, id=1), st("type1", "pending", -2, id=2), st("type2", "scheduled", 3, id=3),
        st("type2", "sent", -10, id=4), st("type3", "muted", -10, id=5)])
    b = registration(f"{prefix}-b", patient, [
        st("type0", "scheduled", -10, "a", id=1), st("type1", "pending", -10, "a", id=2), st("type1", "scheduled", 10, "a", id=3),
        st("type2", "scheduled", 2, "a", id=4), st("type2", "pending", 5, "a", id=5), st("type2", "delivered", -5, "a", id=6),
        st("type1", "pending", 10, "b", id=1), st("type2", "scheduled", -20, "b", id=2), st("type2", "muted", 2, "b", id=3),
        st("type2", "sent", -20, "b", id=4), st("type3", "muted", 1, "b", id=5)], form="SREG2")
    return a, b


SIL = {form: (silencing_registrations(f"sil-{form.lower()}", code), seed(f"sil-{form.lower()}", form, {"patient_id": code}, **BY_CHW))
       for form, code in (("NOSIL", "20010"), ("SIL1", "20011"), ("SIL2", "20012"), ("SIL0", "20013"))}
SIL_PLACE_REG = registration("sil-place-reg", place="30001", tasks=[st("type3", "pending", 4)], form="XREG", content_type="xml")
SIL_OTHER_REG = registration("sil-other-reg", "20014", [st("type3", "pending", 4)])


def test_without_silence_type_nothing_is_cleared(world):
    (a, b), doc = SIL["NOSIL"]
    ta = a["scheduled_tasks"]
    # responded_to_by does not depend on silencing: the sent reminder of 10 days ago is answered
    assert world.doc(a)["scheduled_tasks"] == [*ta[:3], {**ta[3], "responded_to_by": [doc["_id"]]}, ta[4]]
    assert world.unchanged(b)
    assert world.doc(doc) == {**doc, "registration_id": "sil-nosil-a"}


def test_silence_for_clears_every_clearable_task_of_a_group_with_a_task_due_in_the_window(world):
    (a, b), doc = SIL["SIL1"]
    ta, tb = a["scheduled_tasks"], b["scheduled_tasks"]
    by = doc["_id"]
    # a: no groups; type1 has a task due by +1 day, and so has type2 (the sent one, 10 days ago)
    assert world.doc(a)["scheduled_tasks"] == [
        ta[0], cleared(ta[1], by), cleared(ta[2], by), {**ta[3], "responded_to_by": [by]}, ta[4]]
    # b: group a of type1 and type2, group b of type2; not group b of type1 (due in 10 days), not type3
    assert world.doc(b)["scheduled_tasks"] == [
        tb[0], cleared(tb[1], by), cleared(tb[2], by), cleared(tb[3], by), cleared(tb[4], by), tb[5],
        tb[6], cleared(tb[7], by), cleared(tb[8], by), tb[9], tb[10]]


def test_without_silence_for_every_clearable_task_of_the_types_is_cleared(world):
    (a, b), doc = SIL["SIL2"]
    ta, tb = a["scheduled_tasks"], b["scheduled_tasks"]
    assert world.doc(a)["scheduled_tasks"] == [*ta[:3], {**ta[3], "responded_to_by": [doc["_id"]]}, cleared(ta[4], doc["_id"])]
    assert world.doc(b)["scheduled_tasks"] == [*tb[:10], cleared(tb[10], doc["_id"])]


def test_only_pending_scheduled_and_muted_tasks_are_cleared(world):
    (a, b), doc = SIL["SIL0"]
    by = doc["_id"]
    for reg in (a, b):
        after = world.doc(reg)["scheduled_tasks"]
        for old, new in zip(reg["scheduled_tasks"], after):
            clearable = old["type"] != "type3" and old["state"] in ("pending", "scheduled", "muted")
            assert new["state"] == ("cleared" if clearable else old["state"])
            assert new.get("cleared_by") == (by if clearable else None)


def test_registrations_of_other_subjects_are_left_alone(world):
    assert world.unchanged(SIL_PLACE_REG) and world.unchanged(SIL_OTHER_REG)


# --- responded_to_by (CHT findValidRegistration, medic/medic#4694) ----------------------------------
RESP = {}
for key, code, tasks in [
    ("latest-sent", "20020", [st("ANC", "sent", -20, 1), st("ANC", "sent", -13, 1), st("ANC", "scheduled", 9, 2)]),
    ("delivered", "20021", [st("ANC", "delivered", -10, 1), st("ANC", "failed", -5, 1), st("ANC", "pending", -1, 1)]),
    ("predates", "20022", [st("ANC", "sent", 1, 1), st("ANC", "scheduled", 9, 2)]),
    ("next-group-cleared", "20023", [st("ANC", "sent", -20, 1), st("ANC", "scheduled", 3, 2)]),
    ("same-group-cleared", "20024", [st("ANC", "sent", -20, 1), st("ANC", "scheduled", 3, 1)]),
]:
    RESP[key] = (registration(f"resp-{key}-reg", code, tasks), seed(f"resp-{key}", "RESP", {"patient_id": code}, **BY_CHW))
RESP_FIRST = (registration("resp-first-a", "20025", [st("ANC", "sent", -3, 1)], reported_date=REGISTERED),
              registration("resp-first-b", "20025", [st("ANC", "sent", -2, 1)], reported_date=REGISTERED + 1))
RESP_FIRST_DOC = seed("resp-first", "RESP", {"patient_id": "20025"}, **BY_CHW)


@pytest.mark.parametrize("key, expected", [
    pytest.param("latest-sent", lambda t, by: [t[0], {**t[1], "responded_to_by": [by]}, t[2]],
                 id="the last sent task due before the report"),
    pytest.param("delivered", lambda t, by: [{**t[0], "responded_to_by": [by]}, t[1], cleared(t[2], by)],
                 id="delivered counts; failed and pending do not"),
    pytest.param("predates", lambda t, by: t, id="nothing when the report predates the first task"),
    pytest.param("next-group-cleared", lambda t, by: [t[0], cleared(t[1], by)],
                 id="nothing when a cleared task of the next group's silence window started before the report"),
    pytest.param("same-group-cleared", lambda t, by: [{**t[0], "responded_to_by": [by]}, cleared(t[1], by)],
                 id="a cleared task of the same group does not stop the search"),
])
def test_responded_to_by_records_the_report_on_the_reminder_it_answers(world, key, expected):
    reg, doc = RESP[key]
    assert world.doc(reg)["scheduled_tasks"] == expected(reg["scheduled_tasks"], doc["_id"])


def test_only_the_first_registration_with_such_a_reminder_gets_responded_to_by(world):
    first, second = RESP_FIRST
    assert world.doc(first)["scheduled_tasks"] == [{**first["scheduled_tasks"][0], "responded_to_by": ["resp-first"]}]
    assert world.unchanged(second)
    assert world.doc(RESP_FIRST_DOC)["registration_id"] == "resp-first-b"


# --- in one batch, and processed again -------------------------------------------------------------
BATCH_SETTINGS = {**SETTINGS, "patient_reports": [
    {"form": "V", "messages": [msg("ok {{patient_name}}", event_type="report_accepted")], "silence_type": "ANC"},
    {"form": "V2", "messages": [], "silence_type": "ANC, OTHER"},
], "forms": {**SETTINGS["forms"], "V2": {}}}


def test_two_reports_in_one_batch_silencing_the_same_registration_both_record_their_clears(main, sentinel_db, hierarchy, make_runner):
    main.bulk_docs([person("p1", "20001")])
    reg = report("reg", form="SREG", fields={"patient_id": "20001"}, reported_date=REGISTERED, **BY_CHW,
                 scheduled_tasks=[st("ANC", "scheduled", 3, 1), st("OTHER", "scheduled", 4, 1), st("ANC", "sent", -5, 0)])
    main.put(reg)
    runner = make_runner(BATCH_SETTINGS, clock=lambda: NOW)
    drain(runner)
    written = main.get("reg")["_rev"]
    # two requests: PouchDB Server does not number the documents of one _bulk_docs in their order
    main.put(report("r1", form="V", fields={"patient_id": "20001"}, reported_date=REPORTED, **BY_CHW))
    main.put(report("r2", form="V2", fields={"patient_id": "20001"}, reported_date=REPORTED + 1000, **BY_CHW))
    drain(runner)  # both are in the feed before this: one batch

    after = main.get("reg")
    assert int(after["_rev"].split("-")[0]) == int(written.split("-")[0]) + 1  # one write for both reports
    t = reg["scheduled_tasks"]
    assert after["scheduled_tasks"] == [cleared(t[0], "r1"), cleared(t[1], "r2"), {**t[2], "responded_to_by": ["r1", "r2"]}]
    for doc_id in ("r1", "r2"):
        assert sentinel_db.get(f"{doc_id}-info")["transitions"]["accept_patient_reports"]["ok"] is True
        assert sentinel_db.get(f"sentinel-error:{doc_id}") is None
        assert main.get(doc_id)["registration_id"] == "reg"
    assert main.get("r1")["tasks"] == [task("ok P1")]


def test_a_report_processed_again_changes_nothing_more(main, sentinel_db, hierarchy, make_runner):
    main.bulk_docs([person("p1", "20001")])
    main.put(report("reg", form="SREG", fields={"patient_id": "20001"}, reported_date=REGISTERED, **BY_CHW,
                    scheduled_tasks=[st("ANC", "scheduled", 3, 1), st("ANC", "sent", -5, 0)]))
    main.put(report("r1", form="V", fields={"patient_id": "20001"}, reported_date=REPORTED, **BY_CHW))
    drain(make_runner(BATCH_SETTINGS, clock=lambda: NOW))
    first, reg = main.get("r1"), main.get("reg")
    assert len(first["tasks"]) == 1 and first["registration_id"] == "reg"
    assert [t["state"] for t in reg["scheduled_tasks"]] == ["cleared", "sent"] and reg["scheduled_tasks"][1]["responded_to_by"] == ["r1"]

    info = sentinel_db.get("r1-info")
    info["transitions"] = {}
    sentinel_db.put(info)
    main.put({**first, "note": "edited"})
    drain(make_runner(clock=lambda: NOW))

    again = main.get("r1")
    assert {k: v for k, v in again.items() if k not in ("_rev", "note")} == {k: v for k, v in first.items() if k != "_rev"}
    assert main.get("reg") == reg  # same rev: not written again
    assert sentinel_db.get("r1-info")["transitions"]["accept_patient_reports"]["ok"] is True


# --- configuration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("section, problem", [
    pytest.param([{"form": "V", "silence_for": "8 dayz"}], "patient_reports[0].silence_for", id="a bad silence_for"),
    pytest.param([{"form": "V", "silence_type": ["a"]}], "patient_reports[0].silence_type", id="silence_type not a string"),
    pytest.param([{"messages": []}], "patient_reports[0].form", id="no form"),
    pytest.param({"form": "V"}, "patient_reports: must be a list", id="not a list"),
])
def test_check_config_reports_problems(section, problem):
    from sentinel.core.settings import Settings
    from transitions import accept_patient_reports

    settings = Settings({"patient_reports": section})
    assert any(p.startswith(problem) for p in accept_patient_reports.check_config(section, settings))


def test_check_config_accepts_chts_example():
    from sentinel.core.settings import Settings
    from transitions import accept_patient_reports

    section = [{"form": "V", "silence_type": "ANC Reminders, Other", "silence_for": "8 days",
                "validations": {"join_responses": False, "list": [{"property": "patient_id", "rule": "regex('^[0-9]{5,13}$')",
                                                                   "message": [{"locale": "en", "content": "bad id"}]}]},
                "messages": [{"event_type": "report_accepted", "recipient": "clinic", "bool_expr": "doc.fields.visit === 'yes'",
                              "translation_key": "messages.v.ok"}]}]
    assert accept_patient_reports.check_config(section, Settings({"patient_reports": section})) == []
