"""accept_case_reports: a report about a case (`case_id`) replies, takes the case's place and silences
the case registrations' reminders (spec 2.6; CHT accept_case_reports.js).

The cases are documents seeded into one database that Sentinel processes once at NOW (`world`); the
batch and idempotence cases use the per-test fixtures.
"""
from __future__ import annotations

from typing import Any

import pytest

from ..support import HIERARCHY, NOW, drain, processed, report
from .test_accept_patient_reports import (
    BY_CHW, REGISTERED, REPORTED, UNKNOWN, cleared, msg, st, task,
)

NOT_FOUND = msg("Case {{case_id}} not found", event_type="registration_not_found")
SETTINGS = {
    "transitions": {"accept_case_reports": True},
    "forms": {code: {} for code in ("CASE", "SIGNOFF", "CVAL", "CBARE")} | {"PUBC": {"public_form": True}},
    "registrations": [{"form": "CASE"}],
    "accept_case_reports": [
        {"form": "SIGNOFF", "silence_type": "ANC", "messages": [
            NOT_FOUND,
            msg("Case {{case_id}} closed for {{patient_name}}", event_type="report_accepted"),
            msg("Referred", event_type="report_accepted", bool_expr="doc.fields.referred === true"),
            msg("never: no event type"),
        ]},
        {"form": "PUBC", "messages": []},
        {"form": "CBARE", "silence_type": "ANC", "silence_for": "7 days"},
        {"form": "CVAL", "messages": [NOT_FOUND], "validations": {"list": [
            {"property": "note", "rule": "lenMin(5)", "message": [{"locale": "en", "content": "Note {{note}} is too short"}]}]}},
    ],
}
SEEDED: list[dict[str, Any]] = []
ANN = {"_id": "ann", "type": "person", "name": "Ann", "patient_id": "20001",
       "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}


def seed(doc_id: str, form: str, fields: dict[str, Any] | None = None, reported_date: Any = REPORTED, **extra: Any) -> dict[str, Any]:
    doc = {**report(doc_id, form=form, fields=fields or {}, reported_date=reported_date), **extra}
    SEEDED.append(doc)
    return doc


def case(doc_id: str, case_id: str, tasks: list[dict] | None = None, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    more = {"scheduled_tasks": tasks} if tasks is not None else {}
    return seed(doc_id, "CASE", {"patient_name": "Ann", "place_uuid": "clinic", **(fields or {})}, REGISTERED,
                case_id=case_id, **more, **{**BY_CHW, **extra})


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, ANN, *SEEDED]) as w:
        yield w


def ran(world, seeded: dict[str, Any]) -> bool:
    record = world.info(seeded)["transitions"].get("accept_case_reports")
    return record is not None and record["ok"] is True


# --- filter ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seeded, runs", [
    pytest.param(seed("f-known", "SIGNOFF", **BY_CHW), True, id="an SMS from a known sender"),
    pytest.param(seed("f-xml", "SIGNOFF", content_type="xml"), True, id="an app report"),
    pytest.param(seed("f-lower", "signoff", content_type="xml"), False, id="the form code in another case: matched exactly"),
    pytest.param(seed("f-unknown", "SIGNOFF", **{"from": UNKNOWN}), False, id="an SMS from an unknown sender"),
    pytest.param(seed("f-public", "PUBC", **{"from": UNKNOWN}), True, id="a public form from an unknown sender"),
    pytest.param(seed("f-undated", "SIGNOFF", reported_date=0, **BY_CHW), False, id="no reported_date"),
])
def test_it_runs_only_on_configured_valid_dated_submissions(world, seeded, runs):
    assert ran(world, seeded) is runs
    if not runs:
        assert world.unchanged(seeded)


# --- accepted ----------------------------------------------------------------------------------------
ANC, OTHER, SENT = st("ANC", "scheduled", 3, 1), st("OTHER", "scheduled", 3, 1), st("ANC", "sent", -3, 0)
BY_DOC_REG = case("case-a", "40001", [ANC, OTHER, SENT])
BY_DOC = seed("by-doc", "SIGNOFF", case_id="40001", **BY_CHW)
BY_FIELD_REG = case("case-b", "40002", [ANC])
BY_FIELD = seed("by-field", "SIGNOFF", {"case_id": "40002", "patient_id": "20001", "referred": True}, **BY_CHW)


def without_patient(entry: dict[str, Any]) -> dict[str, Any]:
    """CHT messageUtils.generate: registrations given but no patient: the message carries this error."""
    return {**entry, "messages": [{**entry["messages"][0], "error": "messages.errors.patient.missing"}]}


@pytest.mark.parametrize("seeded, tasks", [
    pytest.param(BY_DOC, [without_patient(task("Case 40001 closed for Ann"))],
                 id="doc.case_id, no patient: templates see the case registration, the message is marked patient.missing"),
    pytest.param(BY_FIELD, [task("Case 40002 closed for Ann"), task("Referred")], id="fields.case_id, a patient; a bool_expr that passes"),
])
def test_a_report_about_a_case_replies_and_takes_the_cases_place(world, seeded, tasks):
    assert world.doc(seeded) == {**seeded, "fields": {**seeded["fields"], "place_uuid": "clinic"}, "tasks": tasks}


def test_it_clears_the_silence_types_clearable_tasks_and_sets_no_registration_id_nor_responded_to_by(world):
    assert world.doc(BY_DOC_REG)["scheduled_tasks"] == [cleared(ANC, "by-doc"), OTHER, SENT]
    assert world.doc(BY_FIELD_REG)["scheduled_tasks"] == [cleared(ANC, "by-field")]
    assert "registration_id" not in world.doc(BY_DOC)


NO_PLACE_REG = case("case-c", "40003", [st("ANC", "scheduled", 3, 1), st("ANC", "scheduled", 20, 2)], fields={"place_uuid": None})
NO_PLACE = seed("no-place", "CBARE", {"case_id": "40003"}, **BY_CHW)


def test_without_a_place_on_the_case_the_report_keeps_its_fields_and_silence_for_limits_the_groups(world):
    assert world.doc(NO_PLACE) == NO_PLACE and ran(world, NO_PLACE)
    t = NO_PLACE_REG["scheduled_tasks"]
    assert world.doc(NO_PLACE_REG)["scheduled_tasks"] == [cleared(t[0], "no-place"), t[1]]


# --- rejected ----------------------------------------------------------------------------------------
case("case-errors", "40004", errors=[{"code": "x", "message": "x"}])


@pytest.mark.parametrize("seeded", [
    pytest.param(seed("nf-none", "SIGNOFF", **BY_CHW), id="no case id"),
    pytest.param(seed("nf-unknown", "SIGNOFF", case_id="49999", **BY_CHW), id="an unknown case id"),
    pytest.param(seed("nf-invalid", "SIGNOFF", case_id="40004", **BY_CHW), id="a case whose registration has errors"),
])
def test_a_report_without_a_valid_case_registration_gets_registration_not_found(world, seeded):
    text = f"Case {seeded.get('case_id', '')} not found"
    assert world.doc(seeded) == {**seeded, "tasks": [task(text)], "errors": [{"code": "registration_not_found", "message": text}]}


VAL_REG = case("case-val", "40005", [st("ANC", "scheduled", 3, 1)])
VAL = seed("val", "CVAL", {"case_id": "40005", "note": "hi"}, **BY_CHW)


def test_an_invalid_report_gets_its_errors_and_one_reply_and_nothing_else(world):
    assert world.doc(VAL) == {**VAL, "tasks": [task("Note hi is too short")], "errors": [{"code": "invalid_note", "message": "Note hi is too short"}]}
    assert world.unchanged(VAL_REG)


# --- in one batch, and processed again -------------------------------------------------------------
def test_two_reports_in_one_batch_silencing_the_same_case_both_record_their_clears(main, sentinel_db, hierarchy, make_runner):
    settings = {**SETTINGS, "accept_case_reports": [{"form": "SIGNOFF", "silence_type": "ANC"}, {"form": "CBARE", "silence_type": "ANC,OTHER"}]}
    reg = report("reg", form="CASE", case_id="40001", fields={}, reported_date=REGISTERED, scheduled_tasks=[ANC, OTHER], **BY_CHW)
    main.put(reg)
    runner = make_runner(settings, clock=lambda: NOW)
    drain(runner)
    before = int(main.get("reg")["_rev"].split("-")[0])
    # two requests: PouchDB Server does not number the documents of one _bulk_docs in their order
    main.put(report("r1", form="SIGNOFF", case_id="40001", reported_date=REPORTED, **BY_CHW))
    main.put(report("r2", form="CBARE", case_id="40001", reported_date=REPORTED, **BY_CHW))
    drain(runner)  # both are in the feed before this: one batch
    after = main.get("reg")
    assert int(after["_rev"].split("-")[0]) == before + 1
    assert after["scheduled_tasks"] == [cleared(ANC, "r1"), cleared(OTHER, "r2")]
    for doc_id in ("r1", "r2"):
        assert sentinel_db.get(f"{doc_id}-info")["transitions"]["accept_case_reports"]["ok"] is True
        assert sentinel_db.get(f"sentinel-error:{doc_id}") is None


def test_a_report_processed_again_changes_nothing_more(main, sentinel_db, hierarchy, make_runner):
    main.put(report("reg", form="CASE", case_id="40001", fields={"patient_name": "Ann"}, reported_date=REGISTERED, scheduled_tasks=[ANC], **BY_CHW))
    main.put(report("r1", form="SIGNOFF", case_id="40001", reported_date=REPORTED, **BY_CHW))
    drain(make_runner(SETTINGS, clock=lambda: NOW))
    first, reg = main.get("r1"), main.get("reg")
    assert len(first["tasks"]) == 1 and reg["scheduled_tasks"] == [cleared(ANC, "r1")]

    info = sentinel_db.get("r1-info")
    info["transitions"] = {}
    sentinel_db.put(info)
    main.put({**first, "note": "edited"})
    drain(make_runner(clock=lambda: NOW))

    again = main.get("r1")
    assert {k: v for k, v in again.items() if k not in ("_rev", "note")} == {k: v for k, v in first.items() if k != "_rev"}
    assert main.get("reg") == reg


@pytest.mark.parametrize("section, problem", [
    pytest.param([{"form": "S", "silence_for": "soon"}], "accept_case_reports[0].silence_for", id="a bad silence_for"),
    pytest.param("S", "accept_case_reports: must be a list", id="not a list"),
])
def test_check_config_reports_problems(section, problem):
    from sentinel.core.settings import Settings
    from transitions import accept_case_reports

    assert any(p.startswith(problem) for p in accept_case_reports.check_config(section, Settings({"accept_case_reports": section})))
