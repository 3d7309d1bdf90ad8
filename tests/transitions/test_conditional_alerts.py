"""conditional_alerts (`alerts`): a report of an alert's form whose JavaScript (or JsonLogic) condition
holds gets the alert's message to its recipient; `FORM(i)` is the i-th most recent report of the form
from the same place, the report itself included (spec 2.6; CHT conditional_alerts.js and its
integration tests).

The cases are documents seeded into one database that Sentinel processes once at NOW (`world`);
earlier reports of a place are seeded as already processed, as they would be in production.
"""
from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest

from sentinel.core.settings import Settings
from transitions import conditional_alerts

from ..support import HIERARCHY, NOW, NOW_ISO, drain, new_runner, processed, put_settings, report, without_rev


T = 1704100000000  # the newest reports' reported_date (2024-01-01T09:06:40Z)
HC_IDS = {"_id": "health_center", "parent": {"_id": "district"}}
UNKNOWN = "+254799999999"


def place(place_id: str, person: str, phone: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A clinic with one person; the fields a report sent by that person carries."""
    docs = [
        {"_id": place_id, "type": "clinic", "name": place_id, "parent": HC_IDS, "contact": {"_id": f"{place_id}-person"}},
        {"_id": f"{place_id}-person", "type": "person", "name": person, "phone": phone, "parent": {"_id": place_id, "parent": HC_IDS}},
    ]
    return docs, {"from": phone, "contact": {"_id": f"{place_id}-person", "parent": {"_id": place_id, "parent": HC_IDS}}}


PLACES: list[dict[str, Any]] = []
SEEDED: list[dict[str, Any]] = []
ALREADY_RUN: list[str] = []


def by(place_id: str, person: str, phone: str) -> dict[str, Any]:
    docs, sender = place(place_id, person, phone)
    PLACES.extend(docs)
    return sender


def seed(doc_id: str, form: str, temp: Any = None, reported: int = T, already_run: bool = False, **extra: Any) -> dict[str, Any]:
    doc = report(doc_id, form=form, reported_date=reported, fields={} if temp is None else {"temp": temp}, **extra)
    SEEDED.append(doc)
    if already_run:
        ALREADY_RUN.append(doc_id)
    return doc


def mark_already_run(main, sentinel, revs) -> None:
    sentinel.bulk_docs([{"_id": f"{i}-info", "type": "info", "doc_id": i, "transitions": {"conditional_alerts": {
        "ok": True, "last_rev": revs[i], "seq": 1, "run_date": "2023-12-01T00:00:00.000Z"}}} for i in ALREADY_RUN])


FEVER = "FEVER(0).temp > 37 && (!FEVER(1) || FEVER(0).reported_date - FEVER(1).reported_date > 10000)"
RISING = "FEVER(1) && FEVER(0).temp > FEVER(1).temp && 1000 < FEVER(0).reported_date - FEVER(1).reported_date < 10000"
SETTINGS = {
    "transitions": {"conditional_alerts": True},
    "forms": {code: {} for code in ("FEVER", "OTHER", "ME", "PLAIN", "JL", "BAD", "SOLO", "NONE")},
    "alerts": [
        {"form": "FEVER", "condition": RISING.replace("FEVER(0).temp", "FEVER(0).fields.temp").replace("FEVER(1).temp", "FEVER(1).fields.temp"),
         "message": "Fever increased since the last measurement", "recipient": "reporting_unit"},
        {"form": "FEVER", "condition": FEVER.replace(".temp", ".fields.temp"), "message": "Patient has a fever", "recipient": "reporting_unit"},
        {"form": "ME", "condition": "ME(0)._id === doc._id && ME(0).contact.name === 'Mel' && !ME(1)", "message": "Only me"},
        {"form": "PLAIN", "condition": "doc.fields.temp > 37", "message": "Plain {{temp}} at {{contact.parent.name}}", "recipient": "clinic"},
        {"form": "JL", "condition": {">": [{"var": "JL.0.fields.temp"}, {"var": "JL.1.fields.temp"}]}, "message": "Rising (JsonLogic)"},
        {"form": "BAD", "condition": "doc.fields.nothing.deeper > 1", "message": "never"},
        {"form": "BAD", "condition": "doc.form === 'BAD'", "message": "The next alert still runs"},
        {"form": "SOLO", "condition": "SOLO(0) && !SOLO(1)", "message": "never: the contact has no place"},
        {"form": "NONE", "condition": "FEVER(0).fields.temp > 37", "message": "never: no FEVER report in this condition's sense"},
    ],
}


def task(text: str, to: str) -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": to, "message": text}], "state": "pending", "state_history": [{"state": "pending", "timestamp": NOW_ISO}]}


# --- FORM(i): the reports of the form from the same place --------------------------------------------
ALONE = seed("alone", "FEVER", 39, **by("p-alone", "Al", "+254700000011"))

RISE_BY = by("p-rise", "Ria", "+254700000012")
RISE_BEFORE = seed("rise-before", "FEVER", 38, reported=T - 1200, already_run=True, **RISE_BY)
RISE = seed("rise", "FEVER", 39, **RISE_BY)

LONG_BY = by("p-long", "Lo", "+254700000013")
LONG_BEFORE = seed("long-before", "FEVER", 39, reported=T - 60000, already_run=True, **LONG_BY)
LONG = seed("long", "FEVER", 38, **LONG_BY)

OTHERS_BY = by("p-others", "Otto", "+254700000014")
OTHER_FORM = seed("others-other-form", "OTHER", 38, reported=T - 1200, already_run=True, **OTHERS_BY)
OTHER_PLACE = seed("others-other-place", "FEVER", 38, reported=T - 1200, already_run=True, **by("p-others-2", "Oz", "+254700000015"))
OTHERS = seed("others", "FEVER", 39, **OTHERS_BY)

COOL = seed("cool", "FEVER", 36, **by("p-cool", "Col", "+254700000016"))


@pytest.mark.parametrize("seeded, texts", [
    pytest.param(ALONE, ["Patient has a fever"], id="FORM(1) undefined: the report is the only one of its place"),
    pytest.param(RISE, ["Fever increased since the last measurement"], id="FORM(1) is the place's previous report"),
    pytest.param(LONG, ["Patient has a fever"], id="a previous report long before"),
    pytest.param(OTHERS, ["Patient has a fever"], id="other forms and other places are not FORM(1)"),
])
def test_form_i_is_the_ith_most_recent_report_of_the_form_from_the_same_place(world, seeded, texts):
    assert world.doc(seeded) == {**seeded, "tasks": [task(text, seeded["from"]) for text in texts]}
    assert world.info(seeded)["transitions"]["conditional_alerts"]["ok"] is True


def test_a_condition_that_does_not_hold_leaves_the_report_unchanged_and_unrecorded(world):
    assert world.unchanged(COOL)
    assert "conditional_alerts" not in world.info(COOL)["transitions"]


ME = seed("me", "ME", **by("p-me", "Mel", "+254700000017"))


def test_form_0_is_the_current_hydrated_doc_replacing_its_stored_copy(world):
    # ME(0) is the report as transitions see it (hydrated: contact.name), and it is not also ME(1)
    assert world.doc(ME) == {**ME, "tasks": [task("Only me", ME["from"])]}


# --- conditions without FORM(i), recipients, JsonLogic, failures -----------------------------------
PLAIN = seed("plain", "PLAIN", 38.5, **by("p-plain", "Pla", "+254700000018"))

JL_BY = by("p-jl", "Jay", "+254700000019")
JL_BEFORE = seed("jl-before", "JL", 37, reported=T - 5000, already_run=True, **JL_BY)
JL = seed("jl", "JL", 38, **JL_BY)
BAD = seed("bad", "BAD", **by("p-bad", "Bab", "+254700000020"))
NONE = seed("none", "NONE", **by("p-none", "Non", "+254700000021"))


@pytest.mark.parametrize("seeded, expected", [
    pytest.param(PLAIN, [task("Plain 38.5 at p-plain", "+254700000018")], id="a condition without the form code, to the recipient `clinic`"),
    pytest.param(JL, [task("Rising (JsonLogic)", "+254700000019")], id="a JsonLogic rule sees the reports as a list, newest first"),
    pytest.param(BAD, [task("The next alert still runs", "+254700000020")], id="a condition that throws counts as false"),
])
def test_an_alert_whose_condition_holds_adds_its_message(world, seeded, expected):
    assert world.doc(seeded) == {**seeded, "tasks": expected}


def test_a_condition_naming_another_form_evaluates_without_it_and_fails_to_false(world):
    assert world.unchanged(NONE)


# --- which reports -------------------------------------------------------------------------------
LONER = {"_id": "loner", "type": "person", "name": "Lone", "phone": "+254700000022"}
SOLO = seed("solo", "SOLO", content_type="xml", contact={"_id": "loner"})


def test_form_i_needs_the_reports_place_and_fails_as_cht_does_without_one(world):
    doc = world.doc(SOLO)
    assert doc["errors"] == [{"code": "conditional_alerts_error'",
                              "message": "Transition error on conditional_alerts: Missing required argument `parentId` for match query."}]
    assert world.info(SOLO)["transitions"]["conditional_alerts"]["ok"] is False


@pytest.mark.parametrize("seeded", [
    pytest.param(seed("unknown-sender", "PLAIN", 39, **{"from": UNKNOWN}), id="an SMS from an unknown sender"),
    pytest.param(seed("unconfigured", "NOALERT", 39, **by("p-x", "Xi", "+254700000023")), id="a form no alert names"),
    pytest.param(seed("not-a-report", "PLAIN", 39, type="person", **by("p-y", "Yo", "+254700000024")), id="not a data_record"),
    pytest.param(seed("ran-before", "PLAIN", 39, already_run=True, **by("p-z", "Zed", "+254700000025")), id="already run"),
])
def test_it_runs_only_on_valid_reports_of_an_alerts_form_not_yet_processed(world, seeded):
    assert world.unchanged(seeded)


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *PLACES, LONER, *SEEDED], prepare=mark_already_run) as w:
        yield w


# --- idempotence -------------------------------------------------------------------------------


def test_a_report_processed_again_gets_no_second_message(main, sentinel_db, server, hierarchy):
    docs, sender = place("p-again", "Ag", "+254700000026")
    main.bulk_docs([*docs, report("again", form="PLAIN", fields={"temp": 39}, reported_date=T, **sender)])
    put_settings(main, SETTINGS)
    drain(new_runner(server, main, clock=lambda: NOW))
    first = main.get("again")
    info = sentinel_db.get("again-info")
    sentinel_db.put({**info, "transitions": {}})  # the infodoc write was lost: the change comes again
    first["note"] = "edited"
    main.put(first)
    drain(new_runner(server, main, clock=lambda: NOW))
    again = without_rev(main.get("again"))
    assert sentinel_db.get("again-info")["transitions"]["conditional_alerts"]["ok"] is True  # it did run again
    assert again["tasks"] == [task("Plain 39 at p-again", "+254700000026")]


# --- configuration -----------------------------------------------------------------------------------


class StartingWith(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(self)

    __hash__ = str.__hash__


@pytest.mark.parametrize("section, problems", [
    pytest.param(None, [], id="no alerts"),
    pytest.param(SETTINGS["alerts"], [], id="the alerts above"),
    pytest.param({"fever": {"form": "F", "condition": "F(0).temp > 37", "message": "x"}}, [], id="an object of alerts (CHT _.values)"),
    pytest.param([{"form": "F", "condition": True, "message": "x"}], [], id="a constant condition (CHT's tests use true)"),
    pytest.param("F", ["alerts: must be a list of alerts ({form, condition, message, recipient})"], id="not a list"),
    pytest.param([{"condition": "true"}], ["alerts[0].form: a form code is required"], id="no form"),
    pytest.param([{"form": "F"}, {"form": "F", "condition": " "}],
                 ["alerts[0].condition: a condition is required (JavaScript, or a JsonLogic rule)",
                  "alerts[1].condition: a condition is required (JavaScript, or a JsonLogic rule)"], id="no condition"),
    pytest.param([{"form": "F", "condition": "F(0).temp >"}], [StartingWith("alerts[0].condition: SyntaxError")], id="a JavaScript syntax error"),
    pytest.param([{"form": "F", "condition": {"nope": [1]}}], ["alerts[0].condition: unknown JsonLogic operator 'nope'"], id="an unknown JsonLogic operator"),
])
def test_check_config_reports_invalid_alerts(section, problems):
    assert conditional_alerts.check_config(section, Settings({"alerts": section})) == problems
