"""default_responses: a reply to messages no form handles, never to the gateway, never in a loop (spec 2.6)."""
from __future__ import annotations

import pytest

from ..support import NOW, drain, report

SENDER = "+254711111111"
GATEWAY = "+13125551212"
SETTINGS = {
    "transitions": {"default_responses": True},
    "default_responses": {"start_date": "2023-01-01"},
    "gateway_number": GATEWAY,
    "forms": {"V": {}},
}
TEXTS = {"sms_received": "Thank you.", "empty": "Your message was empty.", "form_not_found": "Unknown form."}


def incoming(doc_id: str, **extra) -> dict:
    doc = report(doc_id, reported_date=1700000000000, **{"from": SENDER}, sms_message={"from": SENDER, "message": "hi"})
    doc.pop("form")
    doc.update(extra)
    return doc


def replies(doc: dict) -> list[tuple[str, str]]:
    return [(t["messages"][0].get("message"), t["state"]) for t in doc.get("tasks") or []]


@pytest.mark.parametrize(
    "settings, extra, expected",
    [
        pytest.param({}, {}, [("Thank you.", "pending")], id="free text: sms_received"),
        pytest.param({}, {"form": "X", "errors": [{"code": "sys.form_not_found"}]}, [("Thank you.", "pending")], id="unknown form: sms_received"),
        pytest.param({"forms_only_mode": True}, {"form": "X", "errors": [{"code": "sys.form_not_found"}]}, [("Unknown form.", "pending")], id="unknown form in forms_only_mode"),
        pytest.param({}, {"errors": [{"code": "sys.empty"}]}, [("Your message was empty.", "pending")], id="empty message"),
        pytest.param({}, {"form": "V"}, [], id="a known form: no reply"),
        pytest.param({}, {"reported_date": 1600000000000}, [], id="before start_date"),
        pytest.param({"default_responses": {"start_date": ""}}, {}, [], id="no start_date: disabled"),
        pytest.param({"default_responses": {"start_date": "not a date"}}, {}, [], id="an invalid start_date: disabled"),
        pytest.param({}, {"sms_message": {"from": GATEWAY}}, [], id="the gateway's own message"),
        pytest.param({}, {"kujua_message": True}, [], id="an outgoing message"),
    ],
)
def test_the_reply(main, make_runner, settings, extra, expected):
    main.put({"_id": "messages-en", "code": "en", "generic": TEXTS})
    runner = make_runner({**SETTINGS, **settings}, clock=lambda: NOW)
    main.put(incoming("r", **extra))
    drain(runner)
    assert replies(main.get("r")) == expected


def test_identical_replies_beyond_the_duplicate_limit_are_held_back(main, make_runner):
    main.put({"_id": "messages-en", "code": "en", "generic": TEXTS})
    runner = make_runner({**SETTINGS, "sms": {"duplicate_limit": 2}}, clock=lambda: NOW)
    main.bulk_docs([incoming(f"r{i}") for i in range(4)])
    drain(runner)
    states = [replies(main.get(f"r{i}"))[0][1] for i in range(4)]
    assert sorted(states) == ["duplicate", "duplicate", "pending", "pending"]
