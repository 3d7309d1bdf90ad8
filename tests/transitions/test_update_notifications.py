"""update_notifications: the deprecated on/off forms mute or unmute a patient or place and everything
under it, with CHT's own replies and errors (spec 2.6, 3.8; CHT update_notifications.js and
tests/integration/sentinel/transitions/update-notifications.spec.js). The muting itself is shared with
`muting` (tests/transitions/test_muting.py covers cascades, schedules and history in depth).
"""
from __future__ import annotations

from typing import Any

import pytest

from ..support import HIERARCHY, NOW_ISO, processed
from .test_muting import (
    BY_CHW, CLINIC_IDS, EARLIER, FUTURE, history, moved, mute_report, person, registration, reply, sched,
)


def msg(content: str, event_type: str) -> dict[str, Any]:
    return {"event_type": event_type, "recipient": "reporting_unit", "message": [{"locale": "en", "content": content}]}


SETTINGS = {
    "transitions": {"update_notifications": True},
    "notifications": {
        "on_form": "ON", "off_form": "OFF",
        "validations": {"list": [{"property": "reason", "rule": "lenMax(10)", "message": [{"locale": "en", "content": "Reason too long"}]}]},
        "messages": [msg("Off for {{patient.name}}", "on_mute"), msg("On for {{patient.name}}", "on_unmute"), msg("No {{patient_id}}", "patient_not_found")],
    },
    "registrations": [{"form": "REG"}],
    "forms": {"ON": {}, "OFF": {}, "OTHER": {}, "REG": {}, "X": {}},
}
BARE = {**SETTINGS, "notifications": {"on_form": "ON", "off_form": "OFF"}}

SEEDED: list[dict[str, Any]] = []


def seed(*docs: dict[str, Any]) -> dict[str, Any]:
    SEEDED.extend(docs)
    return docs[0]


OFF_PERSON = seed(person("off-person", CLINIC_IDS))
OFF_REG = seed(registration("off-reg", {"patient_id": "p-off-person"}, [sched("scheduled", FUTURE), sched("pending", FUTURE, 2)]))
OFF = seed(mute_report("off", "OFF", {"patient_id": "p-off-person"}))
ON_PERSON = seed(person("on-person", CLINIC_IDS, muted=EARLIER))
ON_REG = seed(registration("on-reg", {"patient_id": "p-on-person"}, [sched("muted", FUTURE)]))
ON = seed(mute_report("on", "on!", {"patient_id": "p-on-person"}, content_type="xml"))  # junk around the report's code
SAME_PERSON = seed(person("same-person", CLINIC_IDS, muted=EARLIER))
SAME = seed(mute_report("same", "OFF", {"patient_id": "p-same-person"}))
UNKNOWN = seed(mute_report("unknown", "OFF", {"patient_id": "nobody"}))
INVALID_PERSON = seed(person("invalid-person", CLINIC_IDS))
INVALID = seed(mute_report("invalid", "OFF", {"patient_id": "p-invalid-person", "reason": "far too long a reason"}))
OTHER = seed(mute_report("other", "OTHER", {"patient_id": "p-invalid-person"}))
NEW_UNDER_MUTED = seed(person("new-under-muted", {"_id": "on-person-home"}))  # `muting` would mute it; this does not
MUTED_HOME = seed({"_id": "on-person-home", "type": "clinic", "name": "Home", "muted": EARLIER, "parent": CLINIC_IDS["parent"]})


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *SEEDED]) as w:
        yield w


def info_history(world, doc: dict[str, Any]) -> Any:
    return (world.sentinel.get(f"{doc['_id']}-info") or {}).get("muting_history")


def test_the_off_form_mutes_the_patient_and_its_schedules_and_replies_on_mute(world):
    assert world.doc(OFF_PERSON) == {**OFF_PERSON, "muted": NOW_ISO}
    tasks = OFF_REG["scheduled_tasks"]
    assert world.doc(OFF_REG) == {**OFF_REG, "scheduled_tasks": [moved(tasks[0], "muted"), moved(tasks[1], "muted")]}
    assert info_history(world, OFF_PERSON) == history((True, NOW_ISO, "off"))
    assert world.doc(OFF) == {**OFF, "tasks": [reply("Off for Off-Person")]}


def test_the_on_form_unmutes_the_patient_and_its_schedules_and_replies_on_unmute(world):
    assert world.doc(ON_PERSON) == {k: v for k, v in ON_PERSON.items() if k != "muted"}
    assert world.doc(ON_REG) == {**ON_REG, "scheduled_tasks": [moved(ON_REG["scheduled_tasks"][0], "scheduled")]}
    assert world.doc(ON) == {**ON, "tasks": [reply("On for On-Person")]}


def test_a_subject_already_in_that_state_gets_the_same_reply_and_nothing_else(world):
    assert world.doc(SAME) == {**SAME, "tasks": [reply("Off for Same-Person")]}
    assert world.unchanged(SAME_PERSON) and info_history(world, SAME_PERSON) is None


def test_an_unknown_patient_gets_a_notification_error_and_the_patient_not_found_reply(world):
    assert world.doc(UNKNOWN) == {**UNKNOWN, "tasks": [reply("No nobody")], "errors": [{"code": "notification_error", "message": "No nobody"}]}


def test_validations_come_first(world):
    assert world.doc(INVALID) == {**INVALID, "tasks": [reply("Reason too long")], "errors": [{"code": "invalid_reason", "message": "Reason too long"}]}
    assert world.unchanged(INVALID_PERSON)


@pytest.mark.parametrize("doc", [OTHER, NEW_UNDER_MUTED], ids=["another form", "a new contact under a muted place"])
def test_it_runs_only_on_the_on_and_off_forms(world, doc):
    assert world.unchanged(doc)
    assert "update_notifications" not in world.info(doc)["transitions"]


BARE_PERSON = person("bare-person", CLINIC_IDS)


@pytest.mark.parametrize("doc, error", [
    pytest.param(mute_report("bare-off", "OFF", {"patient_id": "p-bare-person"}), "on_mute", id="on_mute"),
    pytest.param(mute_report("bare-unknown", "OFF", {"patient_id": "nobody"}), "patient_not_found", id="patient_not_found"),
])
def test_an_event_without_a_configured_message_is_an_error_instead_of_a_reply(pouchdb, doc, error):
    with processed(pouchdb, BARE, [*HIERARCHY, BARE_PERSON, doc]) as world:
        assert world.doc(doc) == {**doc, "errors": [{"code": "notification_error", "message":
                                  f'Failed to complete notification request, event type "{error}" misconfigured.'}]}
