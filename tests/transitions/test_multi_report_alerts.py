"""multi_report_alerts: when `num_reports_threshold` reports counted by `is_report_counted` came in
within `time_window_in_days`, the newest one gets the alert to every recipient, and only reports not
already alerted about are new (spec 2.6; CHT multi_report_alerts.js and its integration tests).

Each scenario gets fresh databases: the reports are saved in order, and Sentinel processes each one
before the next is saved (as reports arrive in production), or all of them in one batch.
"""
from __future__ import annotations

from typing import Any, Iterable
from unittest.mock import ANY

import pytest

from sentinel.core.settings import Settings
from transitions import multi_report_alerts

from ..support import HIERARCHY, NOW, NOW_ISO, drain, new_runner, processed, put_settings, report, without_rev


T = 1704100000000  # 2024-01-01T09:06:40Z
HOUR = 3600 * 1000
DAY = 24 * HOUR
HC_IDS = {"_id": "health_center", "parent": {"_id": "district"}}
SUPERVISOR = "+254700000099"
UNKNOWN = "+254799999999"

PEOPLE = {"a": ("Ann", "+254700000011"), "b": ("Bob", "+254700000012"), "c": ("Cid", "+254700000013")}
CONTACTS = [
    {"_id": "village", "type": "clinic", "name": "Village", "parent": HC_IDS},
    *({"_id": key, "type": "person", "name": n, "phone": p, "parent": {"_id": "village", "parent": HC_IDS}} for key, (n, p) in PEOPLE.items()),
]


def sent_by(person: str, doc_id: str, form: str = "C", reported: int = T, **fields: Any) -> dict[str, Any]:
    return report(doc_id, form=form, reported_date=reported, fields=fields, **{
        "from": PEOPLE[person][1], "contact": {"_id": person, "parent": {"_id": "village", "parent": HC_IDS}}})


def alert(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "cholera",
        "is_report_counted": "function(report, latestReport) { return true; }",
        "num_reports_threshold": 2,
        "time_window_in_days": 7,
        "forms": ["C", "D"],
        "message": "{{num_counted_reports}} {{alert_name}} in {{time_window_in_days}}d (at least {{num_reports_threshold}}); new: {{#new_reports}}{{contact.name}};{{/new_reports}}",
        "recipients": [SUPERVISOR, "new_report.contact.phone"],
        **overrides,
    }


def settings(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"transitions": {"multi_report_alerts": True}, "multi_report_alerts": list(alerts) or [alert()],
            "forms": {"C": {}, "D": {}, "X": {}, "PUB": {"public_form": True}}}


def alert_task(text: str, to: str, counted: list[str], name: str = "cholera") -> dict[str, Any]:
    return {"messages": [{"uuid": ANY, "to": to, "message": text}], "state": "pending",
            "state_history": [{"state": "pending", "timestamp": NOW_ISO}],
            "type": "alert", "alert_name": name, "counted_reports": counted}


@pytest.fixture
def scenario(server, main):
    """scenario(settings, reports, together=False) -> the reports as Sentinel left them."""

    def run(conf: dict[str, Any], reports: Iterable[dict[str, Any]], together: bool = False) -> list[dict[str, Any]]:
        reports = [dict(r) for r in reports]
        put_settings(main, conf)
        main.bulk_docs([dict(d) for d in [*HIERARCHY, *CONTACTS]])
        runner = new_runner(server, main, clock=lambda: NOW)
        if together:  # one request each: PouchDB Server numbers one bulk's documents in no set order
            for doc in reports:
                main.put(doc)
            drain(runner)
        for doc in [] if together else reports:
            main.put(doc)
            drain(runner)
        return [without_rev(main.get(r["_id"])) for r in reports]
    return run


# --- counting only new reports -------------------------------------------------------------------


@pytest.mark.parametrize("together", [
    pytest.param(False, id="each processed before the next is saved"),
    pytest.param(True, id="all three in one batch"),
])
def test_a_multi_report_alert_counts_only_new_reports_across_three_successive_reports(scenario, together):
    r1, r2, r3 = scenario(settings(), [
        sent_by("a", "r1", reported=T - 3 * HOUR), sent_by("b", "r2", reported=T - 2 * HOUR), sent_by("c", "r3", form="D", reported=T - HOUR),
    ], together)
    assert "tasks" not in r1  # 1 counted, below the threshold
    assert r2["tasks"] == [  # both are new: the recipients over r2, then over r1, de-duplicated
        alert_task("2 cholera in 7d (at least 2); new: Bob;Ann;", SUPERVISOR, ["r2", "r1"]),
        alert_task("2 cholera in 7d (at least 2); new: Bob;Ann;", PEOPLE["b"][1], ["r2", "r1"]),
        alert_task("2 cholera in 7d (at least 2); new: Bob;Ann;", PEOPLE["a"][1], ["r2", "r1"]),
    ]
    assert r3["tasks"] == [  # r1 and r2 were alerted about by r2: only r3 is new, all three count
        alert_task("3 cholera in 7d (at least 2); new: Cid;", SUPERVISOR, ["r3", "r2", "r1"]),
        alert_task("3 cholera in 7d (at least 2); new: Cid;", PEOPLE["c"][1], ["r3", "r2", "r1"]),
    ]


def test_below_the_threshold_the_report_is_unchanged_and_unrecorded(scenario, sentinel_db):
    (r1,) = scenario(settings(), [sent_by("a", "r1")])
    assert "tasks" not in r1
    assert "multi_report_alerts" not in sentinel_db.get("r1-info")["transitions"]


@pytest.mark.parametrize("conf, reports, alerted", [
    pytest.param(alert(), [sent_by("a", "old", reported=T - 7 * DAY - 2), sent_by("b", "new")], False,
                 id="a report just outside the time window is not counted"),
    pytest.param(alert(), [sent_by("a", "old", reported=T - 7 * DAY - 1), sent_by("b", "new")], True,
                 id="a report at the window's start is counted (CHT: the window ends at reported_date - 1)"),
    pytest.param(alert(), [sent_by("a", "later", reported=T + 1), sent_by("b", "new")], False,
                 id="a report reported after the newest one is not counted"),
    pytest.param(alert(), [sent_by("a", "same", reported=T), sent_by("b", "new")], False,
                 id="a report at the very same time is not counted (CHT: before reported_date - 1)"),
    pytest.param(alert(), [sent_by("a", "x", form="X", reported=T - HOUR), sent_by("b", "new")], False,
                 id="a report of another form is not counted"),
    pytest.param(alert(forms=None), [sent_by("a", "x", form="X", reported=T - HOUR), sent_by("b", "new")], True,
                 id="without forms, every form counts"),
    pytest.param(alert(), [report("stranger", form="C", reported_date=T - HOUR, **{"from": UNKNOWN}), sent_by("b", "new")], False,
                 id="an SMS from an unknown sender is not counted"),
    pytest.param(alert(), [report("public", form="PUB", reported_date=T - HOUR, **{"from": UNKNOWN}), sent_by("b", "new")], False,
                 id="a public form not among the forms is not counted"),
    pytest.param(alert(forms=["C", "PUB"]), [report("public", form="PUB", reported_date=T - HOUR, **{"from": UNKNOWN}), sent_by("b", "new")], True,
                 id="a public form from an unknown sender is counted"),
    pytest.param(alert(is_report_counted="function(r, l) { return r.fields.village === l.fields.village; }"),
                 [sent_by("a", "elsewhere", reported=T - HOUR, village="north"), sent_by("b", "new", village="south")], False,
                 id="is_report_counted (JavaScript) compares each report with the newest"),
    pytest.param(alert(is_report_counted="function(r, l) { return r.fields.village === l.fields.village; }"),
                 [sent_by("a", "here", reported=T - HOUR, village="south"), sent_by("b", "new", village="south")], True,
                 id="is_report_counted (JavaScript) true of both"),
    pytest.param(alert(is_report_counted={"==": [{"var": "report.fields.village"}, {"var": "latest_report.fields.village"}]}),
                 [sent_by("a", "elsewhere", reported=T - HOUR, village="north"), sent_by("b", "new", village="south")], False,
                 id="is_report_counted as a JsonLogic rule over report and latest_report: false"),
    pytest.param(alert(is_report_counted={"==": [{"var": "report.fields.village"}, {"var": "latest_report.fields.village"}]}),
                 [sent_by("a", "here", reported=T - HOUR, village="south"), sent_by("b", "new", village="south")], True,
                 id="is_report_counted as a JsonLogic rule: true"),
    pytest.param(alert(is_report_counted="function(r, l) { return r._id !== 'new'; }"),
                 [sent_by("a", "one", reported=T - 2 * HOUR), sent_by("c", "two", reported=T - HOUR), sent_by("b", "new")], False,
                 id="nothing happens when the newest report itself is not counted"),
    pytest.param(alert(is_report_counted="function(r, l) { return r.fields.sick.really; }"),
                 [sent_by("a", "one", reported=T - HOUR, sick={"really": True}), sent_by("b", "new", sick={"really": True})], True,
                 id="is_report_counted over fields"),
    pytest.param(alert(is_report_counted="function(r, l) { return r.fields.sick.really; }"),
                 [sent_by("a", "one", reported=T - HOUR), sent_by("b", "new", sick={"really": True})], False,
                 id="an is_report_counted that throws counts the report out"),
])
def test_which_reports_are_counted(scenario, conf, reports, alerted):
    *_, newest = scenario(settings(conf), reports)
    assert bool(newest.get("tasks")) is alerted


def test_reports_are_read_page_by_page(pouchdb):
    earlier = [sent_by("a", f"e{i:03d}", reported=T - HOUR - i * 1000) for i in range(230)]
    newest = sent_by("b", "newest")

    def already_run(main, sentinel, revs):
        sentinel.bulk_docs([{"_id": f"{d['_id']}-info", "type": "info", "doc_id": d["_id"], "transitions": {"multi_report_alerts": {
            "ok": True, "last_rev": revs[d["_id"]], "seq": 1, "run_date": "2023-12-01T00:00:00.000Z"}}} for d in earlier])

    conf = settings(alert(num_reports_threshold=100, recipients=[SUPERVISOR], message="{{num_counted_reports}}"))
    with processed(pouchdb, conf, [*HIERARCHY, *CONTACTS, *earlier, newest], prepare=already_run) as world:
        tasks = world.doc(newest)["tasks"]
    assert tasks == [alert_task("231", SUPERVISOR, ["newest", *(d["_id"] for d in earlier)])]


# --- recipients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("recipients, to", [
    pytest.param(["new_report.contact.phone", "new_report.from", SUPERVISOR, SUPERVISOR], [PEOPLE["b"][1], SUPERVISOR, PEOPLE["a"][1]],
                 id="de-duplicated, in order: each new report's recipients in turn"),
    pytest.param(["[new_report.contact.phone, '+254700000098']"], [PEOPLE["b"][1], "+254700000098", PEOPLE["a"][1]],
                 id="an expression giving a list of phones"),
    pytest.param([{"var": "new_report.contact.phone"}], [PEOPLE["b"][1], PEOPLE["a"][1]], id="a JsonLogic expression"),
    pytest.param([], [], id="none: the report is saved all the same"),
])
def test_recipients_are_phones_from_each_new_report(scenario, sentinel_db, recipients, to):
    _, newest = scenario(settings(alert(recipients=recipients, message="Alert")), [sent_by("a", "one", reported=T - HOUR), sent_by("b", "new")])
    assert newest.get("tasks", []) == [alert_task("Alert", phone, ["new", "one"]) for phone in to]
    assert sentinel_db.get("new-info")["transitions"]["multi_report_alerts"]["ok"] is True


@pytest.mark.parametrize("recipient, error", [
    pytest.param("new_report.contact.parent.parent.parent.parent.phone",
                 'multi_report_alerts : Could not find a phone number for "new_report.contact.parent.parent.parent.parent.phone". Message will not be sent.',
                 id="an expression that throws"),
    pytest.param("new_report.fields.count", 'multi_report_alerts : phone number for "new_report.fields.count" is not a string or array of strings. '
                 'Message will not be sent. Found: "3"', id="an expression giving a number"),
    pytest.param("[new_report.fields.count]", 'multi_report_alerts : one of the phone numbers for "[new_report.fields.count]" is not a string. '
                 'Message will not be sent. Found : 3', id="a list holding a number"),
])
def test_a_recipient_that_gives_no_phone_records_an_error_and_the_others_get_the_alert(scenario, recipient, error):
    (newest,) = scenario(settings(alert(num_reports_threshold=1, recipients=[recipient, SUPERVISOR], message="Alert")), [sent_by("b", "new", count=3)])
    assert newest["errors"] == [{"code": error, "message": error}]
    assert newest["tasks"] == [alert_task("Alert", SUPERVISOR, ["new"])]


def test_each_alert_counts_its_own_earlier_alerts_only(scenario):
    other = alert(name="other", message="Other")
    r1, r2 = scenario(settings(alert(num_reports_threshold=1, recipients=[SUPERVISOR], message="Cholera"), {**other, "num_reports_threshold": 2, "recipients": [SUPERVISOR]}),
                      [sent_by("a", "r1", reported=T - HOUR), sent_by("b", "r2")])
    assert r1["tasks"] == [alert_task("Cholera", SUPERVISOR, ["r1"])]
    assert r2["tasks"] == [alert_task("Cholera", SUPERVISOR, ["r2", "r1"]), alert_task("Other", SUPERVISOR, ["r2", "r1"], name="other")]


def test_a_report_processed_again_gets_no_second_alert(scenario, main, server, sentinel_db):
    (first,) = scenario(settings(alert(num_reports_threshold=1)), [sent_by("a", "r1")])
    info = sentinel_db.get("r1-info")
    sentinel_db.put({**info, "transitions": {}})  # the infodoc write was lost: the change comes again
    doc = main.get("r1")
    doc["note"] = "edited"
    main.put(doc)
    drain(new_runner(server, main, clock=lambda: NOW))
    assert sentinel_db.get("r1-info")["transitions"]["multi_report_alerts"]["ok"] is True
    assert without_rev(main.get("r1"))["tasks"] == first["tasks"]


# --- configuration -------------------------------------------------------------------------------

REQUIRED = "is_report_counted, name, num_reports_threshold, message, recipients, time_window_in_days"


class StartingWith(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith(self)

    __hash__ = str.__hash__


@pytest.mark.parametrize("section, problems", [
    pytest.param([alert()], [], id="a valid alert"),
    pytest.param([alert(num_reports_threshold="3", time_window_in_days="2 days")], [], id="integers as strings (CHT parseInt)"),
    pytest.param([alert(num_reports_threshold=100)], [], id="a threshold of 100"),
    pytest.param(None, ["multi_report_alerts: must be a list of alerts"], id="enabled without alerts"),
    pytest.param([alert(name=None, message="")], [f"multi_report_alerts[0]: missing name, message (expecting fields: {REQUIRED})"], id="required fields"),
    pytest.param([alert(num_reports_threshold=0)], [f"multi_report_alerts[0]: missing num_reports_threshold (expecting fields: {REQUIRED})"], id="a threshold of 0 (falsy, as in CHT)"),
    pytest.param([alert(time_window_in_days="a week")], ['multi_report_alerts[0].time_window_in_days: expecting an integer, eg: "time_window_in_days": "3"'], id="a window that is not an integer"),
    pytest.param([alert(num_reports_threshold=101)], ["multi_report_alerts[0].num_reports_threshold: should be at most 100, found 101"], id="a threshold over 100"),
    pytest.param([alert(recipients="new_report.from")], ['multi_report_alerts[0].recipients: expecting an array, eg: "recipients": ["+9779841452277", "new_report.contact.phone"]'], id="recipients not an array"),
    pytest.param([alert(), alert()], ["multi_report_alerts: alert names should be unique, found cholera, cholera"], id="names not unique"),
    pytest.param([alert(recipients=["new_report.(("])], [StartingWith("multi_report_alerts[0].recipients[0]: SyntaxError")], id="a recipient expression that does not compile"),
    pytest.param([alert(is_report_counted="function(r, l) { return r. }")], [StartingWith("multi_report_alerts[0].is_report_counted: SyntaxError")], id="an is_report_counted that does not compile"),
    pytest.param([alert(is_report_counted="42")], [StartingWith("multi_report_alerts[0].is_report_counted: TypeError")], id="an is_report_counted that is not a function"),
    pytest.param([alert(is_report_counted={"==": [1, 1]})], [], id="an is_report_counted JsonLogic rule"),
    pytest.param([alert(forms="C")], [], id="forms not an array: ignored, as CHT does"),
])
def test_check_config_reports_what_chts_init_rejects(section, problems):
    assert multi_report_alerts.check_config(section, Settings({"multi_report_alerts": section})) == problems
