"""CHT's `multi_report_alerts`: when enough reports counted by an alert's rule came in within its time
window, the newest one gets an alert message to every recipient (spec 2.6; CHT multi_report_alerts.js).

Reads:  the report (hydrated); settings `multi_report_alerts`, `forms`; the earlier reports of the
        window, newest first, through the view `sentinel/reports_by_date` in pages of 100
        (only the ids of the alert's forms are loaded, in bulk, and hydrated; the batch's copies win,
        so a report processed earlier in the same batch is seen with its alert tasks).
Writes: on the report: `tasks`, one per phone, each `{messages, state, state_history, type: "alert",
        alert_name, counted_reports: [ids]}`; `errors` for recipients that give no phone.
Config: multi_report_alerts: [{name, is_report_counted, num_reports_threshold, time_window_in_days,
        forms?, message | translation_key, recipients: [...]}]

Per alert (CHT runOneAlert), for a report of one of its `forms` (any form without `forms`):
1. `is_report_counted(report, latestReport)` must be true of the report itself, else nothing happens.
   It is JavaScript function source, or a JsonLogic rule over `{report, latest_report, args}`.
2. The reports of the alert's forms reported in the `time_window_in_days` days before this one
   (strictly before its `reported_date`), that are valid submissions and pass `is_report_counted`,
   are counted, with the report itself first.
3. Reports listed in the `counted_reports` of an earlier task of this alert (on any counted report)
   are old; the others are new.
4. With at least `num_reports_threshold` counted: one message per phone from `recipients` evaluated
   over each new report (`^\\+[0-9]+$` as written, anything else JavaScript or JsonLogic over
   `new_report`, giving a phone or a list of phones), de-duplicated, in order. A recipient that gives
   no phone records an error on the report instead. Templates also see `new_reports`,
   `num_counted_reports`, `alert_name`, `num_reports_threshold` and `time_window_in_days`.

Each message's uuid comes from the report, the alert name and the phone: a report processed again
after a crash gets no second message.

Deliberate differences from CHT: a recipient expression that throws, or gives undefined or null, is
reported as "Could not find a phone number" without the JavaScript error's text (it may hold personal
data, and quickjs words it differently anyway); `forms` that is not a list is ignored, as CHT does,
but silently; a `reported_date` string is read as a date (CHT's range query never finds one).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterator, Mapping

from sentinel.core import clock
from sentinel.core.context import Context
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, is_report, js_truthy
from sentinel.messaging.messages import add_error_message, add_message

name = "multi_report_alerts"
doc_types = ("data_record",)

MAX_NUM_REPORTS_THRESHOLD = 100
PAGE_SIZE = 100  # CHT's BATCH_SIZE
DAY_MS = 24 * 60 * 60 * 1000
REQUIRED = ("is_report_counted", "name", "num_reports_threshold", "message", "recipients", "time_window_in_days")
_LITERAL_PHONE = re.compile(r"^\+[0-9]+$")
_JS_INT = re.compile(r"^\s*([+-]?[0-9]+)")


# --- configuration ---------------------------------------------------------------------------------


def js_parse_int(value: Any) -> int | None:
    """JavaScript `parseInt(value)`, None for NaN."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = repr(value) if abs(value) >= 1e21 else str(int(value)) if value.is_integer() else str(value)
    else:
        text = str(value)
    match = _JS_INT.match(text)
    return int(match.group(1)) if match else None


def check_config(section: Any, settings: Any) -> list[str]:
    """CHT's init (validateConfig): required fields, integers, the threshold, recipients, unique names."""
    if not isinstance(section, list):
        return ["multi_report_alerts: must be a list of alerts"]
    problems: list[str] = []
    names = []
    for i, alert in enumerate(section):
        where = f"multi_report_alerts[{i}]"
        if not isinstance(alert, Mapping):
            problems.append(f"{where}: must be an object with {', '.join(REQUIRED)}")
            continue
        names.append(alert.get("name"))
        missing = [field for field in REQUIRED if not js_truthy(alert.get(field))]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)} (expecting fields: {', '.join(REQUIRED)})")
        for field in ("time_window_in_days", "num_reports_threshold"):
            if alert.get(field) is not None and js_parse_int(alert.get(field)) is None:
                problems.append(f'{where}.{field}: expecting an integer, eg: "{field}": "3"')
        threshold = js_parse_int(alert.get("num_reports_threshold"))
        if threshold is not None and threshold > MAX_NUM_REPORTS_THRESHOLD:
            problems.append(f"{where}.num_reports_threshold: should be at most {MAX_NUM_REPORTS_THRESHOLD}, found {threshold}")
        recipients = alert.get("recipients")
        if recipients is not None and not isinstance(recipients, list):
            problems.append(f'{where}.recipients: expecting an array, eg: "recipients": ["+9779841452277", "new_report.contact.phone"]')
        for j, recipient in enumerate(recipients if isinstance(recipients, list) else []):
            if isinstance(recipient, (str, dict)) and not (isinstance(recipient, str) and _LITERAL_PHONE.match(recipient)):
                problems += settings.expressions.syntax_problems(recipient, ("new_report",), f"{where}.recipients[{j}]")
        counted = alert.get("is_report_counted")
        if js_truthy(counted):
            problems += settings.expressions.syntax_problems(counted, where=f"{where}.is_report_counted", function=True)
    if len(set(map(_name_key, names))) != len(names):
        problems.append(f"multi_report_alerts: alert names should be unique, found {', '.join(map(str, names))}")
    return problems


def _name_key(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else repr(value)


def _alerts(ctx: Context) -> Iterator[Mapping[str, Any]]:
    section = ctx.section(name)
    for alert in section if isinstance(section, list) else []:
        if isinstance(alert, Mapping):
            yield alert


def _forms(alert: Mapping[str, Any]) -> list[Any] | None:
    forms = alert.get("forms")
    return forms if isinstance(forms, list) and forms else None


# --- the transition --------------------------------------------------------------------------------


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return is_report(doc) and bool(doc.get("form")) and ctx.settings.is_valid_submission(doc)


def run(doc: Doc, ctx: Context) -> bool:
    changed = False
    for index, alert in enumerate(_alerts(ctx)):
        forms = _forms(alert)
        if forms is not None and doc.get("form") not in forms:
            continue
        changed = _run_alert(doc, ctx, alert, index) or changed
    return changed


def _run_alert(doc: Doc, ctx: Context, alert: Mapping[str, Any], index: int) -> bool:
    where = f"multi_report_alerts[{index}]"
    is_counted = ctx.settings.expressions.function(alert.get("is_report_counted"), f"{where}.is_report_counted")

    def counts(report: Doc) -> bool:
        return js_truthy(is_counted(report, doc))

    if not counts(doc):
        return False
    counted = [doc, *(r for r in earlier_reports(doc, ctx, alert) if counts(r))]
    threshold = js_parse_int(alert.get("num_reports_threshold"))
    if threshold is None or len(counted) < threshold:
        return False
    old = {i for report in counted for i in _alerted(report, alert.get("name"))}
    new_reports = [r for r in counted if r.get("_id") not in old]
    counted_ids = [r.get("_id") for r in counted]
    extra = {"template_context": {
        "new_reports": new_reports,
        "num_counted_reports": len(counted_ids),
        "alert_name": alert.get("name"),
        "num_reports_threshold": threshold,
        "time_window_in_days": js_parse_int(alert.get("time_window_in_days")),
    }}
    for phone in phones(alert.get("recipients"), new_reports, ctx, where):
        if isinstance(phone, _Error):
            add_error_message(doc, phone.text, ctx)
            continue
        add_message(doc, ctx, alert, phone, key=f"{name}:{alert.get('name')}:{phone}", extra=extra,
                    task_fields={"type": "alert", "alert_name": alert.get("name"), "counted_reports": counted_ids})
    return True  # CHT: `phones.length >= 0`, the report is saved once the threshold is reached


def _alerted(report: Doc, alert_name: Any) -> list[Any]:
    """The ids in the `counted_reports` of this alert's earlier tasks on `report`."""
    tasks = report.get("tasks")
    ids: list[Any] = []
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, Mapping) and task.get("alert_name") == alert_name and isinstance(task.get("counted_reports"), list):
            ids += task["counted_reports"]
    return ids


def earlier_reports(doc: Doc, ctx: Context, alert: Mapping[str, Any]) -> Iterator[Doc]:
    """The reports of the alert's forms in its time window before `doc`, newest first, hydrated, valid
    submissions only (CHT fetchReports).

    The window's rows come from `reports_by_date`, read in pages of PAGE_SIZE; a batch reads the
    union of its reports' windows once (so many alert reports in one batch cost one pass, not one
    each), and hydrates each earlier report once per version.
    """
    reported = clock.parse_date(doc.get("reported_date"), ctx.settings)
    days = js_parse_int(alert.get("time_window_in_days"))
    if reported is None or days is None:
        return
    latest = math.floor(reported.timestamp() * 1000) - 1  # CHT: latestReport.reported_date - 1
    earliest = latest - days * DAY_MS
    forms = _forms(alert)
    ids = [doc_id for date, doc_id, form in _window_rows(ctx, days, earliest, latest) if earliest <= date <= latest
           and doc_id != doc.get("_id") and (forms is None or form in forms)]
    for start in range(0, len(ids), PAGE_SIZE):
        page = ids[start:start + PAGE_SIZE]
        ctx.batch.load_many(page)
        found = [d for d in (ctx.batch.lookup(i) for i in page) if d is not None]
        fresh = [d for d in found if ctx.batch.memo.get(("hydrated", d["_id"]), (None,))[0] is not d]
        ctx.batch.prefetch(fresh)
        for stored in found:
            memo_key = ("hydrated", stored["_id"])
            if ctx.batch.memo.get(memo_key, (None,))[0] is not stored:  # new, or a newer version in the batch
                ctx.batch.memo[memo_key] = (stored, ctx.batch.hydrated(stored))
            report = ctx.batch.memo[memo_key][1]
            if ctx.settings.is_valid_submission(report):
                yield report


def _window_rows(ctx: Context, days: int, earliest: int, latest: int) -> list[tuple[float, str, Any]]:
    """(reported_date ms, id, form) of the reports from `earliest` to `latest`, newest first. The first
    call in a batch reads the union of the windows of all the batch's reports at once; a window it
    does not cover (a report dated outside them) is read on its own."""
    key = ("reports_by_date", days)
    cached = ctx.batch.memo.get(key)
    if cached is None:
        stamps = [math.floor(d.timestamp() * 1000) - 1 for d in
                  (clock.parse_date(r.get("reported_date"), ctx.settings) for r in ctx.batch.changed_docs) if d is not None]
        low, high = min([*stamps, latest]) - days * DAY_MS, max([*stamps, latest])
        cached = ctx.batch.memo[key] = (low, high, _read_window(ctx, low, high))
    if cached[0] <= earliest and latest <= cached[1]:
        return cached[2]
    return _read_window(ctx, earliest, latest)


def _read_window(ctx: Context, earliest: int, latest: int) -> list[tuple[float, str, Any]]:
    rows: list[tuple[float, str, Any]] = []
    params: dict[str, Any] = {"startkey": [latest, {}], "endkey": [earliest], "descending": True, "limit": PAGE_SIZE}
    while True:
        page = ctx.view(SENTINEL_DDOC, "reports_by_date", **params)
        rows += [(r["key"][0], r["id"], r.get("value")) for r in page if isinstance(r.get("key"), list)]
        if len(page) < PAGE_SIZE:
            return rows
        params = {**params, "startkey": page[-1]["key"], "skip": 1}


class _Error:
    """A recipient that gave no phone: CHT's `{error}` entry, recorded on the report."""

    def __init__(self, text: str) -> None:
        self.text = text


def phones(recipients: Any, reports: list[Doc], ctx: Context, where: str) -> list[Any]:
    """CHT getPhones: each report's phones (recipients in order, flattened), de-duplicated in order;
    an entry that gives no phone is an `_Error`."""
    found: list[Any] = []
    for report in reports:
        for recipient in recipients if isinstance(recipients, list) else [recipients]:
            for phone in _recipient_phones(recipient, report, ctx, where):
                if isinstance(phone, _Error) or phone not in found:
                    found.append(phone)
    return found


def _recipient_phones(recipient: Any, report: Doc, ctx: Context, where: str) -> list[Any]:
    if not js_truthy(recipient):
        return []
    if isinstance(recipient, str) and _LITERAL_PHONE.match(recipient):
        return [recipient]
    shown = recipient if isinstance(recipient, str) else _json(recipient)
    if not isinstance(recipient, (str, dict)):
        return [_Error(f'{name} : phone number for "{shown}" is not a string or array of strings. '
                       f'Message will not be sent. Found: "{_json(recipient)}"')]
    value = ctx.settings.expressions.value(recipient, ("new_report",), f"{where}.recipients")(new_report=report)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item if isinstance(item, str) else _Error(
            f'{name} : one of the phone numbers for "{shown}" is not a string. Message will not be sent. Found : {_json(item)}')
            for item in value]
    if value is None:  # threw, or gave undefined or null (they cannot be told apart here)
        return [_Error(f'{name} : Could not find a phone number for "{shown}". Message will not be sent.')]
    return [_Error(f'{name} : phone number for "{shown}" is not a string or array of strings. '
                   f'Message will not be sent. Found: "{_json(value)}"')]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
