"""muting, client side: Sentinel's replay of the muting the CHT webapp did offline (CHT 3.12+).

The webapp mutes and unmutes on the device and marks what it did: contacts carry
`muting_history: {last_update: client_side, server_side: {muted, date}, client_side: [{muted, date,
report_id}]}` and the reports it applied `client_side_transitions: {muting: true}`. Sentinel brings
those contacts to the server's state (re-stamped `muted`, `server_side`, `last_update: server_side`),
mutes or unmutes their registrations, records the infodoc `muting_history`, and replays the offline
events that followed a report in the order they happened (CHT muting.js, lib/muting_utils.js,
webapp muting.transition.ts, and the "client_side muting" cases of
tests/integration/sentinel/transitions/muting.spec.js).

Independent cases are branches of one hierarchy processed once at NOW (`world`); the replay timelines,
which depend on what arrives when, use the per-test fixtures.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from unittest.mock import ANY

import pytest

from sentinel.core.docs import rev_generation

from ..support import CHW, HIERARCHY, NOW, NOW_ISO, drain, new_runner, processed, report, without_rev

HC_IDS = {"_id": "health_center", "parent": {"_id": "district"}}
BY_CHW = {"from": CHW["phone"], "contact": {"_id": "chw", "parent": {"_id": "clinic", "parent": HC_IDS}}}
EARLIER = "2023-12-01T00:00:00.000Z"
FUTURE, PAST = "2024-02-01T00:00:00.000Z", "2023-12-20T00:00:00.000Z"
OFFLINE = "2024-01-01T10:00:00.000Z"  # when the device, offline, muted


def at_minute(minute: int) -> str:
    """A time on the device (offline), a minute after OFFLINE."""
    return f"2024-01-01T10:{minute:02d}:00.000Z"


def msg(content: str, event_type: str) -> dict[str, Any]:
    return {"event_type": event_type, "recipient": "reporting_unit", "message": [{"locale": "en", "content": content}]}


SETTINGS = {
    "transitions": {"muting": True},
    "muting": {
        "mute_forms": ["MUTE"], "unmute_forms": ["UNMUTE"],
        "messages": [msg("Muted", "mute"), msg("Unmuted", "unmute"), msg("Already muted", "already_muted"),
                     msg("Already unmuted", "already_unmuted")],
    },
    "registrations": [{"form": "REG"}],
    "forms": {"MUTE": {}, "UNMUTE": {}, "REG": {}},
}


# --- documents as the webapp leaves them ---------------------------------------------------------------


def event(muted: bool, report_id: str, date: Any) -> dict[str, Any]:
    return {"muted": muted, "date": date, "report_id": report_id}


def offline(server_muted: bool | None, *events: dict[str, Any]) -> dict[str, Any]:
    """A contact's doc-level muting history after offline events (`server_side` None: not there)."""
    history: dict[str, Any] = {"last_update": "client_side", "client_side": list(events)}
    if server_muted is not None:
        history["server_side"] = {"muted": server_muted}
    return history


def reconciled(contact: dict[str, Any], muted: bool, at: str = NOW_ISO) -> dict[str, Any]:
    """`contact` as Sentinel leaves it: `muted` re-stamped (or gone), its history brought up to date."""
    history = {**contact["muting_history"], "last_update": "server_side", "server_side": {"muted": muted, "date": at}}
    doc = {**contact, "muting_history": history}
    if muted:
        doc["muted"] = at
    else:
        doc.pop("muted", None)
    return doc


def place(doc_id: str, parent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "clinic", "name": doc_id.title(), "place_id": f"{doc_id}-code", "parent": parent, **extra}


def person(doc_id: str, parent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "person", "name": doc_id.title(), "patient_id": f"{doc_id}-code", "parent": parent, **extra}


def under(doc: dict[str, Any]) -> dict[str, Any]:
    return {"_id": doc["_id"], **({"parent": doc["parent"]} if "parent" in doc else {})}


def sched(state: str, due: str, group: int = 1) -> dict[str, Any]:
    return {"group": group, "state": state, "translation_key": "beta", "recipient": "clinic", "due": due,
            "state_history": [{"state": state, "timestamp": EARLIER}]}


def moved(task: dict[str, Any], *states: str, at: str = NOW_ISO) -> dict[str, Any]:
    return {**task, "state": states[-1], "state_history": [*task["state_history"], *({"state": s, "timestamp": at} for s in states)]}


def registration(doc_id: str, subject: dict[str, str], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {**report(doc_id, form="REG", fields=subject), "content_type": "xml", "scheduled_tasks": tasks}


def mute_report(doc_id: str, form: str, fields: dict[str, Any], applied_offline: bool = True) -> dict[str, Any]:
    extra = {"client_side_transitions": {"muting": True}} if applied_offline else {}
    return report(doc_id, form=form, fields=fields, content_type="xml", **BY_CHW, **extra)


def reply(text: str) -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": CHW["phone"], "message": text}], "state": "pending",
            "state_history": [{"state": "pending", "timestamp": NOW_ISO}]}


def history(*entries: tuple[bool, str, str]) -> list[dict[str, Any]]:
    return [{"muted": m, "date": d, "report_id": r} for m, d, r in entries]


# --- the world ---------------------------------------------------------------------------------------
SEEDED: list[dict[str, Any]] = []
INFOS: list[dict[str, Any]] = []  # infodocs written before Sentinel runs


def seed(doc: dict[str, Any]) -> dict[str, Any]:
    SEEDED.append(doc)
    return doc


# muted offline (three events, the last a mute), none of its reports synced yet
A_PLACE = seed(place("a-place", HC_IDS))
A_PERSON = seed(person("a-person", under(A_PLACE), muted=at_minute(3), muting_history=offline(
    False, event(True, "a-r1", at_minute(1)), event(False, "a-r2", at_minute(2)), event(True, "a-r3", at_minute(3)))))
A_REG_BY_CODE = seed(registration("a-reg-code", {"patient_id": "a-person-code"}, [sched("pending", FUTURE), sched("scheduled", FUTURE, 2)]))
A_REG_BY_UUID = seed(registration("a-reg-uuid", {"patient_uuid": "a-person"}, [sched("scheduled", FUTURE), sched("sent", PAST, 2)]))

# unmuted offline (the last of three events), its registrations muted
B_PLACE = seed(place("b-place", HC_IDS))
B_PERSON = seed(person("b-person", under(B_PLACE), muting_history=offline(
    True, event(False, "b-r1", at_minute(1)), event(True, "b-r2", at_minute(2)), event(False, "b-r3", at_minute(3)))))
B_REG = seed(registration("b-reg", {"patient_id": "b-person-code"}, [sched("muted", FUTURE), sched("muted", PAST, 2)]))

# muted offline after the server muted and unmuted it: the offline mute follows the server's history
C_PERSON = seed(person("c-person", under(A_PLACE), muted=at_minute(5), muting_history=offline(False, event(True, "c-offline-mute", at_minute(5)))))
INFOS.append({"_id": "c-person-info", "type": "info", "doc_id": "c-person",
              "muting_history": history((True, EARLIER, "c-sms-mute"), (False, "2023-12-15T00:00:00.000Z", "c-sms-unmute"))})

# unmuted offline by a report: already unmuted on the server when the report comes, replayed anyway
D3_PERSON = seed(person("d3-person", under(B_PLACE), muting_history=offline(True, event(False, "d3-unmute", at_minute(1)))))
D3_UNMUTE = seed(mute_report("d3-unmute", "UNMUTE", {"patient_id": "d3-person-code"}))
# the same report, not applied offline: CHT's already_unmuted
D4_PERSON = seed(person("d4-person", under(B_PLACE)))
D4_UNMUTE = seed(mute_report("d4-unmute", "UNMUTE", {"patient_id": "d4-person-code"}, applied_offline=False))

# a place muted offline, and a person created offline under it (so muted on the device too)
E_PLACE = seed(place("e-place", HC_IDS, muted=at_minute(1), muting_history=offline(False, event(True, "e-mute", at_minute(1)))))
E_NEW = seed(person("e-new", under(E_PLACE), muted=at_minute(2), muting_history=offline(False, event(True, "e-mute", at_minute(2)))))
E_NEW_REG = seed(registration("e-new-reg", {"patient_id": "e-new-code"}, [sched("pending", FUTURE)]))
E_MUTE = seed(mute_report("e-mute", "MUTE", {"place_id": "e-place-code"}))


def prepare(main, sentinel, revs) -> None:
    assert not [r for r in sentinel.bulk_docs([dict(i) for i in INFOS]) if r.get("error")]


@pytest.fixture(scope="module")
def world(pouchdb):
    with processed(pouchdb, SETTINGS, [*HIERARCHY, *SEEDED], prepare=prepare) as w:
        yield w


def info_history(world, doc: dict[str, Any]) -> Any:
    return (world.sentinel.get(f"{doc['_id']}-info") or {}).get("muting_history")


# --- contacts muted or unmuted offline -------------------------------------------------------------------


def test_a_contact_muted_offline_is_muted_again_by_the_server_with_its_last_offline_report(world):
    assert world.doc(A_PERSON) == reconciled(A_PERSON, True)
    assert info_history(world, A_PERSON) == history((True, NOW_ISO, "a-r3"))
    assert world.info(A_PERSON)["transitions"]["muting"]["ok"] is True


@pytest.mark.parametrize("reg, expected", [
    pytest.param(A_REG_BY_CODE, ["muted", "muted"], id="by patient_id: pending and scheduled become muted"),
    pytest.param(A_REG_BY_UUID, ["muted", "sent"], id="by patient_uuid: a sent task stays sent"),
])
def test_a_contact_muted_offline_has_its_registrations_muted(world, reg, expected):
    tasks = reg["scheduled_tasks"]
    assert world.doc(reg)["scheduled_tasks"] == [t if t["state"] == s else moved(t, s) for t, s in zip(tasks, expected)]


def test_a_contact_unmuted_offline_is_unmuted_and_its_registrations_rescheduled(world):
    assert world.doc(B_PERSON) == reconciled(B_PERSON, False)
    assert info_history(world, B_PERSON) == history((False, NOW_ISO, "b-r3"))
    future, past = B_REG["scheduled_tasks"]
    assert world.doc(B_REG)["scheduled_tasks"] == [moved(future, "scheduled"), past]  # a past task stays muted


def test_an_offline_mute_after_server_side_muting_is_appended_to_the_servers_history(world):
    assert world.doc(C_PERSON) == reconciled(C_PERSON, True)  # the device's date replaced by the server's
    assert info_history(world, C_PERSON) == history(
        (True, EARLIER, "c-sms-mute"), (False, "2023-12-15T00:00:00.000Z", "c-sms-unmute"), (True, NOW_ISO, "c-offline-mute"))


# --- reports applied offline ------------------------------------------------------------------------------


@pytest.mark.parametrize("contact, unmute, text, recorded", [
    pytest.param(D3_PERSON, D3_UNMUTE, "Unmuted", True, id="applied offline: runs, the unmute reply"),
    pytest.param(D4_PERSON, D4_UNMUTE, "Already unmuted", False, id="not applied offline: already unmuted"),
])
def test_a_report_applied_offline_runs_even_when_the_contact_is_already_in_that_state(world, contact, unmute, text, recorded):
    assert world.doc(unmute) == {**unmute, "tasks": [reply(text)]}
    assert (info_history(world, contact) == history((False, NOW_ISO, unmute["_id"]))) is recorded


def test_a_contact_created_offline_under_a_place_muted_offline_is_muted(world):
    assert world.doc(E_PLACE) == reconciled(E_PLACE, True)
    assert world.doc(E_NEW) == reconciled(E_NEW, True)
    assert info_history(world, E_PLACE) == info_history(world, E_NEW) == history((True, NOW_ISO, "e-mute"))
    assert world.doc(E_NEW_REG)["scheduled_tasks"] == [moved(E_NEW_REG["scheduled_tasks"][0], "muted")]
    assert world.doc(E_MUTE) == {**E_MUTE, "tasks": [reply("Muted")]}


# --- sequences: replays ----------------------------------------------------------------------------------

CLINIC = place("tl-clinic", HC_IDS, muting_history=offline(
    False, event(True, "mutes_clinic", 1000), event(False, "unmutes_newnew", 2000)))
PERSON = person("tl-person", under(CLINIC), muted=3000, muting_history=offline(
    None, event(True, "mutes_person", 500), event(True, "mutes_clinic", 1000), event(False, "unmutes_newnew", 2000),
    event(True, "mutes_person_again", 3000)))
NEWNEW = person("tl-newnew", under(CLINIC), muting_history=offline(None, event(True, "mutes_clinic", 1000), event(False, "unmutes_newnew", 2000)))
PERSON_REG = registration("tl-person-reg", {"patient_id": "tl-person-code"}, [sched("scheduled", FUTURE)])
NEWNEW_REG = registration("tl-newnew-reg", {"patient_id": "tl-newnew-code"}, [sched("scheduled", FUTURE)])
MUTES_PERSON = mute_report("mutes_person", "MUTE", {"patient_id": "tl-person-code"})
MUTES_CLINIC = mute_report("mutes_clinic", "MUTE", {"place_id": "tl-clinic-code"})
UNMUTES_NEWNEW = mute_report("unmutes_newnew", "UNMUTE", {"patient_id": "tl-newnew-code"})
MUTES_PERSON_AGAIN = mute_report("mutes_person_again", "MUTE", {"patient_id": "tl-person-code"})
CONTACTS = [CLINIC, PERSON, NEWNEW]
REGS = [PERSON_REG, NEWNEW_REG]
REPORTS = [MUTES_PERSON, MUTES_CLINIC, UNMUTES_NEWNEW, MUTES_PERSON_AGAIN]
REPLIES = {"mutes_person": "Muted", "mutes_clinic": "Muted", "unmutes_newnew": "Unmuted", "mutes_person_again": "Muted"}


def find(entries: list[dict[str, Any]], report_id: str) -> dict[str, Any]:
    return next(e for e in entries if e.get("report_id") == report_id)


def write(main, runner, docs: list[dict[str, Any]], one_at_a_time: bool) -> None:
    """Write `docs` in this order (one request each: a `_bulk_docs` does not promise the feed its order),
    and let Sentinel process them: together in one batch, or each alone."""
    for doc in docs:
        main.put(dict(doc))
        if one_at_a_time:
            drain(runner)
    drain(runner)


def state(main, sentinel_db) -> dict[str, Any]:
    """Every document of the timeline and the infodocs of its contacts and reports, revs included."""
    ids = [d["_id"] for d in [*CONTACTS, *REGS, *REPORTS]]
    return {"docs": main.all_docs(ids), "infos": sentinel_db.all_docs(f"{i}-info" for i in ids)}


def assert_timeline_outcome(main, sentinel_db) -> None:
    """What CHT's "replay client_side muting history" case checks, and the registrations with it."""
    clinic, person_, newnew = (main.get(d["_id"]) for d in CONTACTS)
    infos = {d["_id"]: sentinel_db.get(f"{d['_id']}-info")["muting_history"] for d in CONTACTS}
    assert "muted" not in clinic and "muted" not in newnew and person_["muted"] == NOW_ISO
    assert [c["muting_history"]["last_update"] for c in (clinic, person_, newnew)] == ["server_side"] * 3
    assert [c["muting_history"]["server_side"]["muted"] for c in (clinic, person_, newnew)] == [False, True, False]
    assert find(infos["tl-clinic"], "mutes_clinic")["muted"] is True
    assert find(infos["tl-clinic"], "unmutes_newnew")["muted"] is False
    assert find(infos["tl-person"], "unmutes_newnew")["muted"] is False
    assert find(infos["tl-person"], "mutes_person_again")["muted"] is True
    assert find(infos["tl-newnew"], "mutes_clinic")["muted"] is True
    assert find(infos["tl-newnew"], "unmutes_newnew")["muted"] is False
    assert main.get("tl-person-reg")["scheduled_tasks"][0]["state"] == "muted"
    assert main.get("tl-newnew-reg")["scheduled_tasks"][0]["state"] == "scheduled"
    for doc in REPORTS:
        assert main.get(doc["_id"])["tasks"] == [reply(REPLIES[doc["_id"]])], doc["_id"]
        assert sentinel_db.get(f"{doc['_id']}-info")["transitions"]["muting"]["ok"] is True


@pytest.mark.parametrize("order, one_at_a_time", [
    pytest.param([*CONTACTS, *REGS, *REPORTS], False, id="as listed, one batch"),
    pytest.param([*REGS, *REPORTS, *CONTACTS], False, id="the reports first, one batch"),
    pytest.param([*REGS, *reversed(REPORTS), *reversed(CONTACTS)], False, id="reversed, one batch"),
    pytest.param([*CONTACTS, *REGS, *REPORTS], True, id="one at a time"),
])
def test_offline_events_synced_together_are_replayed_in_the_order_they_happened(main, sentinel_db, make_runner, order, one_at_a_time):
    main.bulk_docs([dict(d) for d in HIERARCHY])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    write(main, runner, order, one_at_a_time)
    assert_timeline_outcome(main, sentinel_db)


def test_a_report_synced_late_replays_the_offline_events_after_it(main, sentinel_db, make_runner):
    main.bulk_docs([dict(d) for d in HIERARCHY])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    write(main, runner, [*CONTACTS, *REGS, MUTES_PERSON, UNMUTES_NEWNEW, MUTES_PERSON_AGAIN], False)
    clinic, person_, newnew = (main.get(d["_id"]) for d in CONTACTS)
    assert ("muted" in clinic, "muted" in person_, "muted" in newnew) == (False, True, False)
    assert find(sentinel_db.get("tl-person-info")["muting_history"], "mutes_person_again")["muted"] is True

    main.put(dict(MUTES_CLINIC))  # mutes everything under the clinic, then replays the unmute and the mute after it
    drain(runner)
    assert_timeline_outcome(main, sentinel_db)
    replayed = {d["_id"]: rev_generation(sentinel_db.get(f"{d['_id']}-info")["transitions"]["muting"]["last_rev"]) for d in REPORTS}
    assert replayed == {"mutes_person": 1, "mutes_clinic": 1, "unmutes_newnew": 2, "mutes_person_again": 2}  # CHT: rev > 1 when replayed
    person_history = sentinel_db.get("tl-person-info")["muting_history"]
    assert [(e["muted"], e["report_id"]) for e in person_history[-3:]] == [
        (True, "mutes_clinic"), (False, "unmutes_newnew"), (True, "mutes_person_again")]


@pytest.mark.parametrize("report_first", [False, True], ids=["the contact first", "the report first"])
def test_a_contact_and_the_offline_report_that_muted_it_mute_it_once(main, sentinel_db, make_runner, report_first):
    contact = person("d-person", {"_id": "clinic", "parent": HC_IDS}, muted=at_minute(1), muting_history=offline(False, event(True, "d-mute", at_minute(1))))
    reg = registration("d-reg", {"patient_id": "d-person-code"}, [sched("scheduled", FUTURE)])
    mute = mute_report("d-mute", "MUTE", {"patient_id": "d-person-code"})
    main.bulk_docs([dict(d) for d in [*HIERARCHY, reg]])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    write(main, runner, [mute, contact] if report_first else [contact, mute], False)
    assert without_rev(main.get("d-person")) == reconciled(contact, True)
    assert sentinel_db.get("d-person-info")["muting_history"] == history((True, NOW_ISO, "d-mute"))
    assert main.get("d-reg")["scheduled_tasks"] == [moved(reg["scheduled_tasks"][0], "muted")]  # one transition
    assert without_rev(main.get("d-mute")) == {**mute, "tasks": [reply("Muted")]}  # muted, not "already muted"


@pytest.mark.parametrize("reports_first", [False, True], ids=["the contact first", "the reports first"])
def test_an_offline_unmute_replayed_after_a_server_side_mute_unmutes_up_to_the_muted_place(main, sentinel_db, make_runner, reports_first):
    """While the device was offline the server muted the place (an SMS); on the device, which did not
    know, the person was muted, then unmuted. Replayed in order, the unmute goes up to the topmost
    muted ancestor, as it would have online: the server's mute of the place is undone with it."""
    now = [datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)]
    t1, t2 = "2024-01-01T12:00:00.000Z", NOW_ISO
    sv_place = place("sv-place", HC_IDS)
    sv_person = person("sv-person", under(sv_place))
    sibling = person("sv-sibling", under(sv_place))
    sibling_reg = registration("sv-sibling-reg", {"patient_id": "sv-sibling-code"}, [sched("scheduled", FUTURE)])
    main.bulk_docs([dict(d) for d in [*HIERARCHY, sv_place, sv_person, sibling, sibling_reg]])
    runner = make_runner(SETTINGS, clock=lambda: now[0])
    main.put(mute_report("sms-mute", "MUTE", {"place_id": "sv-place-code"}, applied_offline=False))
    drain(runner)
    assert main.get("sv-sibling-reg")["scheduled_tasks"][0]["state"] == "muted"

    now[0] = NOW
    device = {**sv_person, "_rev": main.get("sv-person")["_rev"],  # the device's version wins the sync
              "muting_history": offline(False, event(True, "sv-mute", at_minute(1)), event(False, "sv-unmute", at_minute(2)))}
    reports = [mute_report("sv-mute", "MUTE", {"patient_id": "sv-person-code"}), mute_report("sv-unmute", "UNMUTE", {"patient_id": "sv-person-code"})]
    write(main, runner, [*reversed(reports), device] if reports_first else [device, *reports], False)

    for doc_id in ("sv-place", "sv-person", "sv-sibling"):
        assert "muted" not in main.get(doc_id), doc_id
    assert main.get("sv-person")["muting_history"]["server_side"] == {"muted": False, "date": t2}
    assert [t["state"] for t in main.get("sv-sibling-reg")["scheduled_tasks"]] == ["scheduled"]
    assert sentinel_db.get("sv-place-info")["muting_history"] == history((True, t1, "sms-mute"), (False, t2, "sv-unmute"))
    assert sentinel_db.get("sv-sibling-info")["muting_history"] == history((True, t1, "sms-mute"), (False, t2, "sv-unmute"))
    assert sentinel_db.get("sv-person-info")["muting_history"] == history(
        (True, t1, "sms-mute"), (False, t2, "sv-unmute"), (True, t2, "sv-mute"), (False, t2, "sv-unmute"))
    assert main.get("sv-mute")["tasks"] == [reply("Muted")]
    assert main.get("sv-unmute")["tasks"] == [reply("Unmuted")]


def test_a_circular_offline_history_ends_in_the_state_of_its_last_event(main, sentinel_db, make_runner):
    """CHT's "circular client-side muting" (tampered data): the report synced late is its own replay."""
    clinic = place("tl-clinic", HC_IDS, muting_history=offline(
        False, event(True, "mutes_clinic", 1000), event(False, "unmutes_person", 2000), event(True, "mutes_clinic", 4000)))
    person_ = person("tl-person", under(clinic), muted=3000, muting_history=offline(
        None, event(True, "mutes_clinic", 1000), event(False, "unmutes_person", 2000), event(True, "mutes_clinic", 4000)))
    unmutes = mute_report("unmutes_person", "UNMUTE", {"patient_id": "tl-person-code"})
    main.bulk_docs([dict(d) for d in [*HIERARCHY, clinic, person_, unmutes]])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    drain(runner)
    assert "muted" not in main.get("tl-clinic") and "muted" not in main.get("tl-person")

    main.put(dict(MUTES_CLINIC))
    drain(runner)
    assert main.get("tl-clinic")["muted"] == main.get("tl-person")["muted"] == NOW_ISO
    # mute, replay the unmute after it, then the report's own later event: itself, run again in place
    assert sentinel_db.get("tl-person-info")["muting_history"] == history(
        (True, NOW_ISO, "mutes_clinic"), (False, NOW_ISO, "unmutes_person"),
        (True, NOW_ISO, "mutes_clinic"), (False, NOW_ISO, "unmutes_person"), (True, NOW_ISO, "mutes_clinic"))
    assert main.get("mutes_clinic")["tasks"] == [reply("Muted")]
    assert main.get("unmutes_person")["tasks"] == [reply("Unmuted")]
    assert rev_generation(sentinel_db.get("unmutes_person-info")["transitions"]["muting"]["last_rev"]) == 2  # replayed


def test_a_contact_muted_offline_again_after_sentinel_processed_it_is_processed_again(main, sentinel_db, make_runner):
    now = [NOW]
    later = datetime(2024, 1, 5, 8, 0, tzinfo=timezone.utc)
    contact = person("again", {"_id": "clinic", "parent": HC_IDS}, muted=OFFLINE, muting_history=offline(False, event(True, "r1", OFFLINE)))
    reg = registration("again-reg", {"patient_id": "again-code"}, [sched("scheduled", FUTURE)])
    main.bulk_docs([dict(d) for d in [*HIERARCHY, contact, reg]])
    runner = make_runner(SETTINGS, clock=lambda: now[0])
    drain(runner)
    assert main.get("again")["muted"] == NOW_ISO

    stored = main.get("again")  # the device, offline again, unmutes it
    stored.pop("muted")
    stored["muting_history"]["client_side"].append(event(False, "r2", "2024-01-04T00:00:00.000Z"))
    stored["muting_history"]["last_update"] = "client_side"
    main.put(stored)
    now[0] = later
    drain(runner)
    later_iso = "2024-01-05T08:00:00.000Z"
    assert "muted" not in main.get("again")
    assert main.get("again")["muting_history"]["server_side"] == {"muted": False, "date": later_iso}
    assert sentinel_db.get("again-info")["muting_history"] == history((True, NOW_ISO, "r1"), (False, later_iso, "r2"))
    assert [h["state"] for h in main.get("again-reg")["scheduled_tasks"][0]["state_history"]] == ["scheduled", "muted", "scheduled"]


def test_processing_the_timeline_again_changes_nothing(server, main, sentinel_db, make_runner):
    main.bulk_docs([dict(d) for d in HIERARCHY])
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    write(main, runner, [*CONTACTS, *REGS, *REPORTS], False)
    before = state(main, sentinel_db)

    # every document saved again unchanged (a sync, an edit that changes nothing muting reads) ...
    resaved = [d["_id"] for d in [*CONTACTS, *REPORTS]]
    main.bulk_docs([dict(before["docs"][i]) for i in resaved])
    drain(runner)
    # ... and a Sentinel that starts the feed again from the beginning
    checkpoint = sentinel_db.get("_local/transitions-seq")
    sentinel_db.delete_doc("_local/transitions-seq", checkpoint["_rev"])
    drain(new_runner(server, main, clock=lambda: NOW), timeout=60)

    after = state(main, sentinel_db)
    assert {i: {k: v for k, v in d.items() if k != "_rev"} for i, d in after["docs"].items()} == {
        i: {k: v for k, v in d.items() if k != "_rev"} for i, d in before["docs"].items()}
    assert {i: d["_rev"] for i, d in after["docs"].items() if i not in resaved} == {
        i: d["_rev"] for i, d in before["docs"].items() if i not in resaved}  # registrations not written
    assert after["infos"] == before["infos"]  # not even rewritten
