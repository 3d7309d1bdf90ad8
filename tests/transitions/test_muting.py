"""muting: a mute/unmute report mutes or unmutes its subject and everything under it, with their
schedules and muting history; new contacts under a muted place are muted (spec 2.6, 3.4, 3.8; CHT
muting.js, lib/muting_utils.js and tests/integration/sentinel/transitions/muting.spec.js).

Most cases are separate branches of one hierarchy, seeded into one database that Sentinel processes
once at NOW (`world`); sequences (mute then unmute) and the bulk case use the per-test fixtures.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from unittest.mock import ANY

import pytest


from ..support import CHW, HIERARCHY, NOW, NOW_ISO, drain, processed, report


CLINIC_IDS = {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
HC_IDS = {"_id": "health_center", "parent": {"_id": "district"}}
BY_CHW = {"from": CHW["phone"], "contact": {"_id": "chw", "parent": CLINIC_IDS}}
EARLIER = "2023-12-01T00:00:00.000Z"
FUTURE, PAST = "2024-02-01T00:00:00.000Z", "2023-12-20T00:00:00.000Z"
EARLIER_TODAY, YESTERDAY = "2024-01-02T00:30:00.000Z", "2024-01-01T23:59:59.000Z"  # NOW is 2024-01-02T03:04


def msg(content: str, event_type: str) -> dict[str, Any]:
    return {"event_type": event_type, "recipient": "reporting_unit", "message": [{"locale": "en", "content": content}]}


SETTINGS = {
    "transitions": {"muting": True},
    "muting": {
        "mute_forms": ["MUTE", "mute2"], "unmute_forms": ["UNMUTE"],
        "validations": {"list": [{"property": "reason", "rule": "lenMax(10)", "message": [{"locale": "en", "content": "Reason too long"}]}]},
        "messages": [msg("Muted {{patient_name}}{{place.name}}", "mute"), msg("Unmuted", "unmute"), msg("Already muted", "already_muted"),
                     msg("Already unmuted", "already_unmuted"), msg("Nobody {{patient_id}}{{place_id}}", "contact_not_found")],
    },
    "registrations": [{"form": "REG"}],
    "forms": {"MUTE": {}, "mute2": {}, "UNMUTE": {}, "OTHER": {}, "REG": {}},
}


def person(doc_id: str, parent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "person", "name": doc_id.title(), "patient_id": f"p-{doc_id}", "parent": parent, **extra}


def place(doc_id: str, type_: str, parent: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": type_, "name": doc_id.title(), **({"parent": parent} if parent else {}), **extra}


def under(doc: dict[str, Any]) -> dict[str, Any]:
    """A minified parent reference to `doc`."""
    return {"_id": doc["_id"], **({"parent": doc["parent"]} if "parent" in doc else {})}


def sched(state: str, due: str | None, group: int = 1) -> dict[str, Any]:
    task = {"group": group, "state": state, "translation_key": "beta", "recipient": "clinic",
            "state_history": [{"state": state, "timestamp": EARLIER}]}
    if due is not None:
        task["due"] = due
    return task


def moved(task: dict[str, Any], state: str, at: str = NOW_ISO) -> dict[str, Any]:
    return {**task, "state": state, "state_history": [*task["state_history"], {"state": state, "timestamp": at}]}


def registration(doc_id: str, subject: dict[str, str], tasks: list[dict[str, Any]], form: str = "REG", **extra: Any) -> dict[str, Any]:
    return {**report(doc_id, form=form, fields=subject), "content_type": "xml", "scheduled_tasks": tasks, **extra}


def mute_report(doc_id: str, form: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return report(doc_id, form=form, fields=fields, **{**BY_CHW, **extra})


def reply(text: str) -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": CHW["phone"], "message": text}], "state": "pending",
            "state_history": [{"state": "pending", "timestamp": NOW_ISO}]}


def history(*entries: tuple[bool, str, str | None]) -> list[dict[str, Any]]:
    return [{"muted": m, "date": d, **({"report_id": r} if r else {})} for m, d, r in entries]


# --- the world: independent branches under the support hierarchy -------------------------------------
SEEDED: list[dict[str, Any]] = []
INFOS: list[dict[str, Any]] = []  # infodocs written before Sentinel runs


def seed(*docs: dict[str, Any]) -> dict[str, Any]:
    SEEDED.extend(docs)
    return docs[0]


# a person is muted alone
A_CLINIC = seed(place("a-clinic", "clinic", HC_IDS))
A_PERSON = seed(person("a-person", under(A_CLINIC)))
A_SIBLING = seed(person("a-sibling", under(A_CLINIC)))
A_REG = seed(registration("a-reg", {"patient_id": "p-a-person"}, [sched("scheduled", FUTURE), sched("pending", FUTURE, 2), sched("sent", PAST, 3)]))
A_SIBLING_REG = seed(registration("a-sibling-reg", {"patient_id": "p-a-sibling"}, [sched("scheduled", FUTURE)]))
A_MUTE = seed(mute_report("a-mute", "MUTE", {"patient_id": "p-a-person"}))

# a clinic is muted with everyone under it; an already muted person keeps its date
B_CLINIC = seed(place("b-clinic", "clinic", HC_IDS, place_id="b-code"))
B_ONE = seed(person("b-one", under(B_CLINIC)))
B_OLD = seed(person("b-old", under(B_CLINIC), muted=EARLIER))
B_CLINIC_REG = seed(registration("b-clinic-reg", {"place_id": "b-code"}, [sched("pending", FUTURE), sched("muted", FUTURE, 2)]))
B_ONE_REG = seed(registration("b-one-reg", {"patient_uuid": "b-one"}, [sched("scheduled", PAST), sched("cleared", FUTURE, 2)]))
B_NOT_REG = seed(registration("b-not-reg", {"patient_id": "p-b-one"}, [sched("scheduled", FUTURE)], form="OTHER"))  # not a registration form
B_ERR_REG = seed(registration("b-err-reg", {"patient_id": "p-b-one"}, [sched("scheduled", FUTURE)], errors=[{"code": "x", "message": "x"}]))
B_MUTE = seed(mute_report("b-mute", "mute2", {"place_id": "b-code"}, content_type="xml"))

# an unmute goes up to the topmost muted ancestor and down to everything under it
C_HC = seed(place("c-hc", "health_center", {"_id": "district"}, muted=EARLIER))
C_CLINIC = seed(place("c-clinic", "clinic", under(C_HC), muted=EARLIER))
C_PERSON = seed(person("c-person", under(C_CLINIC), muted=EARLIER))
C_COUSIN = seed(person("c-cousin", under(C_HC), muted=EARLIER))
C_REG = seed(registration("c-reg", {"patient_id": "p-c-person"}, [
    sched("muted", FUTURE), sched("muted", EARLIER_TODAY, 2), sched("muted", YESTERDAY, 3), sched("muted", None, 4), sched("muted", "garbage", 5),
    sched("pending", FUTURE, 6)]))
C_COUSIN_REG = seed(registration("c-cousin-reg", {"patient_id": "p-c-cousin"}, [sched("muted", FUTURE)]))
C_UNMUTE = seed(mute_report("c-unmute", "UNMUTE", {"patient_id": "p-c-person"}))
INFOS.append({"_id": "c-hc-info", "type": "info", "doc_id": "c-hc", "muting_history": history((True, EARLIER, "c-old-mute"))})
INFOS.append({"_id": "c-person-info", "type": "info", "doc_id": "c-person", "muting_history": history((True, EARLIER, "c-old-mute"))})

# nothing to do: already muted, already unmuted
D_MUTED = seed(person("d-muted", CLINIC_IDS, muted=EARLIER))
D_UNMUTED = seed(person("d-unmuted", CLINIC_IDS))
D_MUTE = seed(mute_report("d-mute", "MUTE", {"patient_id": "p-d-muted"}))
D_UNMUTE = seed(mute_report("d-unmute", "UNMUTE", {"patient_id": "p-d-unmuted"}))

# refused: unknown subject, failed validation
E_UNKNOWN = seed(mute_report("e-unknown", "MUTE", {"patient_id": "nobody"}))
E_PERSON = seed(person("e-person", CLINIC_IDS))
E_INVALID = seed(mute_report("e-invalid", "MUTE", {"patient_id": "p-e-person", "reason": "far too long a reason"}))

# new contacts under a muted place
F_CLINIC = seed(place("f-clinic", "clinic", HC_IDS, muted=EARLIER))
INFOS.append({"_id": "f-clinic-info", "type": "info", "doc_id": "f-clinic", "muting_history": history((True, EARLIER, "f-mute"))})
F_NEW = seed(person("f-new", under(F_CLINIC)))
F_NEW_REG = seed(registration("f-new-reg", {"patient_id": "p-f-new"}, [sched("scheduled", FUTURE), sched("pending", FUTURE, 2)]))
F_GRANDCHILD_PLACE = seed(place("f-home", "clinic", under(F_CLINIC)))  # a place under it too
F_ARRIVED_BEFORE = seed(person("f-before", under(F_CLINIC)))  # replicated before the mute
INFOS.append({"_id": "f-before-info", "type": "info", "doc_id": "f-before", "initial_replication_date": "2023-11-01T00:00:00.000Z"})
F_ARRIVED_AFTER = seed(person("f-after", under(F_CLINIC)))
INFOS.append({"_id": "f-after-info", "type": "info", "doc_id": "f-after", "initial_replication_date": "2023-12-15T00:00:00.000Z"})
F_HAS_HISTORY = seed(person("f-history", under(F_CLINIC)))  # muted and unmuted before
INFOS.append({"_id": "f-history-info", "type": "info", "doc_id": "f-history", "muting_history": history((True, EARLIER, "x"), (False, EARLIER, "y"))})
F_NOT_CONTACT = seed({"_id": "f-thing", "type": "thing", "parent": under(F_CLINIC)})
F_UNKNOWN_TYPE = seed({"_id": "f-ct", "type": "contact", "contact_type": "unconfigured", "parent": under(F_CLINIC)})

# filter
G_PERSON = seed(person("g-person", CLINIC_IDS))
G_OTHER = seed(mute_report("g-other", "OTHER", {"patient_id": "p-g-person"}))
G_UNKNOWN_SENDER = seed(mute_report("g-unknown-sender", "MUTE", {"patient_id": "p-g-person"}, **{"from": "+254799999999", "contact": None}))
G_JUNK = seed(mute_report("g-junk", "mute", {"patient_id": "p-g-person"}, content_type="xml"))  # another case: matches


def prepare(main, sentinel, revs) -> None:
    assert not [r for r in sentinel.bulk_docs([dict(i) for i in INFOS]) if r.get("error")]


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *SEEDED], prepare=prepare) as w:
        yield w


def info_history(world, doc: dict[str, Any]) -> Any:
    return (world.sentinel.get(f"{doc['_id']}-info") or {}).get("muting_history")


# --- muting a person -------------------------------------------------------------------------------


def test_muting_a_person_mutes_it_and_its_registrations_and_records_the_history(world):
    assert world.doc(A_PERSON) == {**A_PERSON, "muted": NOW_ISO}
    assert info_history(world, A_PERSON) == history((True, NOW_ISO, "a-mute"))
    tasks = A_REG["scheduled_tasks"]
    assert world.doc(A_REG) == {**A_REG, "scheduled_tasks": [moved(tasks[0], "muted"), moved(tasks[1], "muted"), tasks[2]]}
    assert world.doc(A_MUTE) == {**A_MUTE, "tasks": [reply("Muted A-Person")]}
    assert world.info(A_MUTE)["transitions"]["muting"]["ok"] is True


def test_muting_a_person_leaves_its_place_and_siblings_alone(world):
    for doc in (A_CLINIC, A_SIBLING, A_SIBLING_REG):
        assert world.unchanged(doc)
    assert info_history(world, A_CLINIC) is None and info_history(world, A_SIBLING) is None


# --- muting a place --------------------------------------------------------------------------------


def test_muting_a_place_mutes_everything_under_it_and_their_registrations(world):
    assert world.doc(B_CLINIC) == {**B_CLINIC, "muted": NOW_ISO}
    assert world.doc(B_ONE) == {**B_ONE, "muted": NOW_ISO}
    clinic_tasks, one_tasks = B_CLINIC_REG["scheduled_tasks"], B_ONE_REG["scheduled_tasks"]
    assert world.doc(B_CLINIC_REG) == {**B_CLINIC_REG, "scheduled_tasks": [moved(clinic_tasks[0], "muted"), clinic_tasks[1]]}
    assert world.doc(B_ONE_REG) == {**B_ONE_REG, "scheduled_tasks": [moved(one_tasks[0], "muted"), one_tasks[1]]}
    assert world.doc(B_MUTE) == {**B_MUTE, "tasks": [reply("Muted B-Clinic")]}


def test_an_already_muted_descendant_keeps_its_date_but_gets_the_history_entry(world):
    assert world.unchanged(B_OLD)
    assert info_history(world, B_OLD) == history((True, NOW_ISO, "b-mute"))
    assert info_history(world, B_CLINIC) == info_history(world, B_ONE) == history((True, NOW_ISO, "b-mute"))


@pytest.mark.parametrize("doc", [B_NOT_REG, B_ERR_REG], ids=["a report whose form is not a registration", "a registration with errors"])
def test_only_valid_registrations_are_muted(world, doc):
    assert world.unchanged(doc)


# --- unmuting --------------------------------------------------------------------------------------


def test_unmuting_goes_up_to_the_topmost_muted_ancestor_and_down_to_all_under_it(world):
    for doc in (C_HC, C_CLINIC, C_PERSON, C_COUSIN):
        assert world.doc(doc) == {k: v for k, v in doc.items() if k != "muted"}, doc["_id"]
        assert info_history(world, doc)[-1] == {"muted": False, "date": NOW_ISO, "report_id": "c-unmute"}
    assert info_history(world, C_HC) == history((True, EARLIER, "c-old-mute"), (False, NOW_ISO, "c-unmute"))
    assert world.doc(C_UNMUTE) == {**C_UNMUTE, "tasks": [reply("Unmuted")]}
    assert info_history(world, {"_id": "district"}) is None


@pytest.mark.parametrize("index, state", [
    pytest.param(0, "scheduled", id="due in the future: scheduled again"),
    pytest.param(1, "scheduled", id="due earlier today: scheduled again (not yet a day late)"),
    pytest.param(2, "muted", id="due yesterday: stays muted"),
    pytest.param(3, "scheduled", id="no due date: scheduled again (moment(undefined) is now)"),
    pytest.param(4, "muted", id="an unreadable due date: stays muted"),
    pytest.param(5, "pending", id="not muted: untouched"),
])
def test_unmuting_reschedules_only_muted_tasks_not_yet_due(world, index, state):
    task = C_REG["scheduled_tasks"][index]
    expected = task if state == task["state"] else moved(task, state)
    assert world.doc(C_REG)["scheduled_tasks"][index] == expected
    assert world.doc(C_COUSIN_REG)["scheduled_tasks"] == [moved(C_COUSIN_REG["scheduled_tasks"][0], "scheduled")]


# --- nothing to do, refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("report_doc, subject, text", [
    pytest.param(D_MUTE, D_MUTED, "Already muted", id="muting a muted contact"),
    pytest.param(D_UNMUTE, D_UNMUTED, "Already unmuted", id="unmuting an unmuted contact"),
])
def test_a_subject_already_in_that_state_gets_the_already_message_and_nothing_else(world, report_doc, subject, text):
    assert world.doc(report_doc) == {**report_doc, "tasks": [reply(text)]}
    assert world.unchanged(subject)
    assert info_history(world, subject) is None


def test_an_unknown_subject_gets_the_contact_not_found_error_and_message(world):
    assert world.doc(E_UNKNOWN) == {**E_UNKNOWN, "tasks": [reply("Nobody nobody")],
                                    "errors": [{"code": "Nobody {{patient_id}}{{place_id}}", "message": "Nobody nobody"}]}  # CHT: the code is the unrendered text


def test_a_report_failing_validation_gets_the_errors_and_mutes_nobody(world):
    assert world.doc(E_INVALID) == {**E_INVALID, "tasks": [reply("Reason too long")],
                                    "errors": [{"code": "invalid_reason", "message": "Reason too long"}]}
    assert world.unchanged(E_PERSON)


# --- new contacts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [F_NEW, F_GRANDCHILD_PLACE, F_ARRIVED_AFTER], ids=["a person", "a place", "replicated after the mute"])
def test_a_new_contact_under_a_muted_place_is_muted_with_the_places_mute_report(world, doc):
    assert world.doc(doc) == {**doc, "muted": NOW_ISO}
    assert info_history(world, doc) == history((True, NOW_ISO, "f-mute"))
    assert world.info(doc)["transitions"]["muting"]["ok"] is True


def test_a_new_contacts_registrations_are_muted(world):
    tasks = F_NEW_REG["scheduled_tasks"]
    assert world.doc(F_NEW_REG) == {**F_NEW_REG, "scheduled_tasks": [moved(tasks[0], "muted"), moved(tasks[1], "muted")]}


@pytest.mark.parametrize("doc", [F_ARRIVED_BEFORE, F_HAS_HISTORY, F_NOT_CONTACT, F_UNKNOWN_TYPE, F_CLINIC], ids=[
    "replicated before the mute", "muted or unmuted before", "not a contact", "an unconfigured contact type", "muted itself"])
def test_other_contacts_under_a_muted_place_are_left_alone(world, doc):
    assert world.unchanged(doc)
    assert "muting" not in (world.info(doc).get("transitions") or {})


# --- filter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc, runs", [
    pytest.param(G_OTHER, False, id="another form"),
    pytest.param(G_UNKNOWN_SENDER, False, id="an SMS from an unknown sender"),
    pytest.param(G_JUNK, True, id="the mute form in another case"),
])
def test_it_runs_only_on_mute_and_unmute_forms_from_valid_submissions(world, doc, runs):
    assert ("muting" in world.info(doc)["transitions"]) is runs


# --- sequences, per test -------------------------------------------------------------------------------


def at(*ymd_hm: int) -> datetime:
    return datetime(*ymd_hm, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_unmuting_after_a_due_date_leaves_the_past_tasks_muted(main, sentinel_db, make_runner):
    now = [at(2024, 1, 2, 9)]
    reg = registration("reg", {"patient_id": "p-pat"}, [sched("scheduled", iso(at(2024, 1, 5, 9))), sched("scheduled", iso(at(2024, 1, 20, 9)), 2)])
    main.bulk_docs([dict(d) for d in HIERARCHY] + [person("pat", CLINIC_IDS), reg])
    runner = make_runner(SETTINGS, clock=lambda: now[0])
    main.put(mute_report("mute", "MUTE", {"patient_id": "p-pat"}, content_type="xml"))
    drain(runner)
    assert [t["state"] for t in main.get("reg")["scheduled_tasks"]] == ["muted", "muted"]
    now[0] = at(2024, 1, 10, 9)  # the first task was due on the 5th
    main.put(mute_report("unmute", "UNMUTE", {"patient_id": "p-pat"}, content_type="xml"))
    drain(runner)
    tasks = main.get("reg")["scheduled_tasks"]
    assert [t["state"] for t in tasks] == ["muted", "scheduled"]
    assert [h["state"] for h in tasks[1]["state_history"]] == ["scheduled", "muted", "scheduled"]
    assert "muted" not in main.get("pat")
    assert sentinel_db.get("pat-info")["muting_history"] == history((True, iso(at(2024, 1, 2, 9)), "mute"), (False, iso(at(2024, 1, 10, 9)), "unmute"))


def test_a_mute_then_a_contact_added_later_under_the_muted_place(main, sentinel_db, make_runner):
    main.bulk_docs([dict(d) for d in HIERARCHY])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(mute_report("mute", "MUTE", {"place_id": "clinic"}, content_type="xml"))
    drain(runner)
    assert main.get("chw")["muted"] == NOW_ISO and main.get("clinic")["muted"] == NOW_ISO
    assert "muted" not in main.get("health_center")
    main.put(person("newborn", CLINIC_IDS))
    drain(runner)
    assert main.get("newborn")["muted"] == NOW_ISO
    assert sentinel_db.get("newborn-info")["muting_history"] == history((True, NOW_ISO, "mute"))


def test_muting_a_district_with_2000_descendants_is_done_in_bulk(main, sentinel_db, make_runner):
    district = place("big", "district_hospital", None, place_id="big-code")
    clinics = [place(f"big-c{i:02d}", "clinic", {"_id": "big"}) for i in range(20)]
    people = [person(f"big-c{i:02d}-p{j:03d}", under(c)) for i, c in enumerate(clinics) for j in range(99)]
    regs = [registration(f"big-reg{k}", {"patient_id": people[k * 97]["patient_id"]}, [sched("scheduled", FUTURE)]) for k in range(20)]
    contacts = [district, *clinics, *people]
    assert len(contacts) - 1 >= 2000
    main.bulk_docs([dict(d) for d in [*contacts, *regs]])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    drain(runner, timeout=120)  # the contacts themselves first: nothing to do

    calls = []
    original = runner.server.request

    def counting(method, path, *args, **kwargs):
        calls.append(f"{method} {path}")
        return original(method, path, *args, **kwargs)

    runner.server.request = counting
    try:
        main.put(mute_report("big-mute", "MUTE", {"place_id": "big-code"}, content_type="xml"))
        drain(runner, timeout=120)
    finally:
        runner.server.request = original

    assert len(calls) < 50, calls
    ids = [c["_id"] for c in contacts]
    stored = main.all_docs(ids)
    assert all(stored[i].get("muted") == NOW_ISO for i in ids)
    infos = sentinel_db.all_docs(f"{i}-info" for i in ids)
    assert all(infos[f"{i}-info"]["muting_history"] == history((True, NOW_ISO, "big-mute")) for i in ids)
    assert all(t["state"] == "muted" for d in main.all_docs(r["_id"] for r in regs).values() for t in d["scheduled_tasks"])
