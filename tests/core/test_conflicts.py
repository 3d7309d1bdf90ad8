"""A 409 means someone else edited the document: their edit is kept and our transitions re-run on it."""
from __future__ import annotations

import transitions.update_sent_by as update_sent_by

from ..support import drain, report

SETTINGS = {"transitions": {"update_clinics": True, "update_sent_by": True}}


def test_a_field_app_edit_racing_sentinel_is_kept_and_the_transitions_rerun_on_it(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    runner = make_runner(SETTINGS)
    main.put(report("r1", **{"from": "+254700000001"}))
    original_run = update_sent_by.run
    raced = []

    def run_while_the_app_edits(doc, ctx):
        if not raced:  # the field app saves its edit while Sentinel is working on the old revision
            app_copy = main.get("r1")
            app_copy["fields"] = {"edited_in_app": True}
            main.put(app_copy)
            raced.append(app_copy["_rev"])
        return original_run(doc, ctx)

    monkeypatch.setattr(update_sent_by, "run", run_while_the_app_edits)
    drain(runner)
    doc = main.get("r1")
    assert doc["fields"] == {"edited_in_app": True}  # their edit survived
    assert doc["contact"]["_id"] == "chw" and doc["sent_by"] == "Chloe CHW"  # and our work was redone on it
    info = sentinel_db.get("r1-info")
    assert info["transitions"]["update_clinics"]["last_rev"] == raced[0]
    assert sentinel_db.get("sentinel-error:r1") is None


def test_a_document_that_keeps_conflicting_is_parked_not_lost(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    runner = make_runner(SETTINGS)
    main.put(report("r1", **{"from": "+254700000001"}))
    original_run = update_sent_by.run

    def always_race(doc, ctx):
        app_copy = main.get("r1")
        app_copy["edits"] = app_copy.get("edits", 0) + 1
        main.put(app_copy)
        return original_run(doc, ctx)

    monkeypatch.setattr(update_sent_by, "run", always_race)
    runner.step()
    parked = sentinel_db.get("sentinel-error:r1")
    assert parked["attempts"] == 1 and "conflicting" in parked["error"]
    monkeypatch.setattr(update_sent_by, "run", original_run)
    drain(runner)  # the app's last edit comes down the feed and is processed normally
    doc = main.get("r1")
    assert doc["sent_by"] == "Chloe CHW" and doc["edits"] >= 1
    assert sentinel_db.get("sentinel-error:r1") is None


def test_a_field_app_edit_of_a_registration_being_silenced_is_kept_and_the_silencing_redone(main, sentinel_db, hierarchy, make_runner, monkeypatch):
    """Silencing writes another document (the registration): a 409 there re-runs the visit on the
    fresh registration, so both the app's edit and the cleared tasks are kept, and one reply is sent."""
    import transitions.accept_patient_reports as accept

    chw = {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}
    main.put({"_id": "pat", "type": "person", "name": "Pat", "patient_id": "12348", "parent": chw["parent"]})
    task = {"due": "2030-01-01T00:00:00.000Z", "type": "ANC", "group": 1, "state": "scheduled",
            "state_history": [{"state": "scheduled", "timestamp": "2024-01-01T00:00:00.000Z"}]}
    main.put(report("reg", form="P", patient_id="12348", contact=chw, fields={"patient_name": "Pat"}, scheduled_tasks=[task]))
    settings = {
        "transitions": {"accept_patient_reports": True},
        "forms": {"P": {}, "V": {}},
        "registrations": [{"form": "P", "events": []}],
        "patient_reports": [{"form": "V", "silence_type": "ANC", "messages": [
            {"event_type": "report_accepted", "recipient": "reporting_unit", "message": [{"locale": "en", "content": "Thanks"}]}]}],
    }
    runner = make_runner(settings)
    drain(runner)
    main.put(report("visit", form="V", contact=chw, fields={"patient_id": "12348"}, **{"from": "+254700000001"}))
    original_run, raced = accept.run, []

    def run_while_the_app_edits_the_registration(doc, ctx):
        if not raced:
            app_copy = main.get("reg")
            app_copy["edited_in_app"] = True
            raced.append(main.put(app_copy))
        return original_run(doc, ctx)

    monkeypatch.setattr(accept, "run", run_while_the_app_edits_the_registration)
    drain(runner)
    registration, visit = main.get("reg"), main.get("visit")
    assert registration["edited_in_app"] is True  # their edit survived
    assert [(t["state"], t.get("cleared_by")) for t in registration["scheduled_tasks"]] == [("cleared", "visit")]
    assert [t["messages"][0]["message"] for t in visit["tasks"]] == ["Thanks"]  # one reply, not two
    assert visit["registration_id"] == "reg"
    assert sentinel_db.get("sentinel-error:visit") is None
