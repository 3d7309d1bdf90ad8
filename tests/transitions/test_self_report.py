"""self_report: the sender of a configured form becomes the report's subject (spec 2.6)."""
from __future__ import annotations

from unittest.mock import ANY

import pytest

from ..support import CHW, NOW, NOW_ISO, drain, report

SETTINGS = {
    "transitions": {"self_report": True, "update_clinics": True},
    "self_report": [{"form": "S", "messages": [
        {"event_type": "report_accepted", "recipient": "reporting_unit", "message": [{"locale": "en", "content": "Thanks {{patient.name}}"}]},
        {"event_type": "sender_not_found", "recipient": "reporting_unit", "message": [{"locale": "en", "content": "Who are you?"}]},
    ]}],
}


def reply(to: str, text: str) -> dict:
    return {"messages": [{"uuid": ANY, "to": to, "message": text}], "state": "pending",
            "state_history": [{"state": "pending", "timestamp": NOW_ISO}]}


def test_a_known_sender_becomes_the_subject_and_is_thanked(main, hierarchy, make_runner):
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(report("r", form="S", fields={}, **{"from": CHW["phone"]}))
    drain(runner)
    doc = main.get("r")
    assert doc["fields"] == {"patient_uuid": CHW["_id"], **({"patient_id": CHW["patient_id"]} if "patient_id" in CHW else {})}
    assert doc["tasks"] == [reply(CHW["phone"], f"Thanks {CHW['name']}")]
    assert "patient" not in doc  # hydrated for the later transitions only


def test_an_unknown_sender_gets_sender_not_found(main, hierarchy, make_runner):
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(report("r", form="S", fields={}, **{"from": "+254799999999"}))
    drain(runner)
    doc = main.get("r")
    assert doc["tasks"] == [reply("+254799999999", "Who are you?")]
    assert {"code": "sender_not_found", "message": "Who are you?"} in doc["errors"]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"form": "OTHER", "fields": {}}, id="another form"),
        pytest.param({"form": "s", "fields": {}}, id="the form in another case (exact match, as CHT)"),
        pytest.param({"form": "S", "fields": {"patient_id": "12345"}}, id="a report that names its patient"),
        pytest.param({"form": "S", "fields": {"patient_uuid": "x"}}, id="a report that names its patient by uuid"),
    ],
)
def test_it_leaves_alone(main, sentinel_db, hierarchy, make_runner, extra):
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(report("r", **extra, **{"from": CHW["phone"]}))
    drain(runner)
    assert "self_report" not in sentinel_db.get("r-info")["transitions"]
    assert "tasks" not in main.get("r")
