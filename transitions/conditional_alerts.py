"""CHT's `conditional_alerts`: a report of an alert's form whose condition holds gets the alert's
message, to the alert's `recipient` (spec 2.6; CHT conditional_alerts.js).

Reads:  the report (hydrated); settings `alerts`, `forms`; when the condition mentions the form code,
        the reports of that form from the report's place (the contact's parent), through the view
        `sentinel/reports_by_form_and_parent` (the batch's copies win over the stored ones).
Writes: on the report: `tasks` (one message per alert whose condition holds).
Config: alerts: [{form, condition, message | translation_key, recipient}] (an object of alerts is
        read by its values, as CHT's `_.values` does).

The condition is JavaScript (or a JsonLogic rule) over `doc`. When its text contains the alert's
form code, `<FORM>(i)` is the i-th most recent report of that form from the same place (0 is the
newest), the report itself included, replacing its stored copy (it may have been changed by earlier
transitions); the stored reports are as saved, the report itself hydrated, as in CHT. A JsonLogic
rule sees that list as the value `<FORM>` (`{"var": "FORM.1.temp"}`).

As in CHT, a report whose contact has no parent place cannot be compared with others: when the
condition needs `FORM(i)` the transition fails (`conditional_alerts_error'`) with CHT's message.

Deliberate difference from CHT: a condition that throws (or times out) counts as false, as every
expression in Sentinel does (CHT fails the transition). An empty or missing condition is a settings
problem (CHT would throw, or never alert, on each report of the form).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterator, Mapping

from sentinel.core import clock
from sentinel.core.context import Context
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, get_id, is_report
from sentinel.messaging.messages import add_message

name = "conditional_alerts"
config_key = "alerts"
doc_types = ("data_record",)

_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")


# --- configuration ---------------------------------------------------------------------------------


def _alerts(section: Any) -> Iterator[tuple[str, Any]]:
    """(key, alert) of each alert: a list's indexes, an object's keys (CHT `_.values`)."""
    if isinstance(section, list):
        yield from ((str(i), alert) for i, alert in enumerate(section))
    elif isinstance(section, Mapping):
        yield from ((str(k), alert) for k, alert in section.items())


def check_config(section: Any, settings: Any) -> list[str]:
    if section is None:
        return []
    if not isinstance(section, (list, Mapping)):
        return ["alerts: must be a list of alerts ({form, condition, message, recipient})"]
    problems: list[str] = []
    for key, alert in _alerts(section):
        where = f"alerts[{key}]"
        if not isinstance(alert, Mapping):
            problems.append(f"{where}: must be an object ({{form, condition, message, recipient}})")
            continue
        if not isinstance(alert.get("form"), str) or not alert["form"]:
            problems.append(f"{where}.form: a form code is required")
        condition = alert.get("condition")
        if condition is None or (isinstance(condition, str) and not condition.strip()):
            problems.append(f"{where}.condition: a condition is required (JavaScript, or a JsonLogic rule)")
            continue
        problems += settings.expressions.syntax_problems(condition, ("doc",), f"{where}.condition")
    return problems


# --- the transition --------------------------------------------------------------------------------


def _matching(ctx: Context, form: Any) -> list[tuple[str, Mapping[str, Any]]]:
    return [(key, alert) for key, alert in _alerts(ctx.section(config_key))
            if isinstance(alert, Mapping) and alert.get("form") == form]


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return (is_report(doc) and bool(doc.get("form")) and bool(_matching(ctx, doc.get("form")))
            and ctx.settings.is_valid_submission(doc))


def run(doc: Doc, ctx: Context) -> bool:
    changed = False
    for key, alert in _matching(ctx, doc.get("form")):
        if _holds(doc, ctx, key, alert):
            add_message(doc, ctx, alert, alert.get("recipient"), key=f"{name}:{key}")
            changed = True
    return changed


def _holds(doc: Doc, ctx: Context, key: str, alert: Mapping[str, Any]) -> bool:
    condition, form = alert.get("condition"), alert["form"]
    where = f"alerts[{key}].condition"
    text = condition if isinstance(condition, str) else json.dumps(condition)
    if form not in text:  # CHT: `alert.condition.indexOf(alert.form) === -1`
        return ctx.settings.expressions.condition(condition, ("doc",), where)(doc=doc)
    reports = same_place_reports(doc, ctx, form)
    if not isinstance(condition, str):  # JsonLogic: the list itself, newest first
        return ctx.settings.expressions.condition(condition, ("doc",), where)(**{"doc": doc, form: reports})
    if not _IDENTIFIER.match(form) or form == "doc" or form.startswith("__"):
        # JavaScript cannot name it (CHT defines it all the same, to no effect)
        return ctx.settings.expressions.condition(condition, ("doc",), where)(doc=doc)
    return ctx.settings.expressions.condition(condition, ("doc", form), where, accessors=(form,))(doc=doc, **{form: reports})


def same_place_reports(doc: Doc, ctx: Context, form: str) -> list[Doc]:
    """CHT getReportsWithSameParentAndForm plus the report itself, newest first (`FORM(0)` first)."""
    contact = doc.get("contact")
    parent_id = get_id(contact.get("parent")) if isinstance(contact, Mapping) else None
    if not parent_id:
        raise ValueError("Missing required argument `parentId` for match query.")  # CHT's rejection
    rows = ctx.view(SENTINEL_DDOC, "reports_by_form_and_parent", key=[form, parent_id], reduce=False, include_docs=True)
    own, docs, replaced = doc.get("_id"), [], False
    for row in rows:
        if own is not None and row.get("id") == own:  # firing on an update: the current doc in its place
            docs.append(doc)
            replaced = True
            continue
        # the batch's current copy (a report of this batch processed before this one was staged anew)
        found = ctx.batch.lookup(row.get("id")) or row.get("doc")
        if isinstance(found, dict):
            docs.append(found)
    if not replaced:  # a new doc (or one the view leaves out: no usable reported_date)
        docs.append(doc)
    docs.sort(key=lambda d: _reported_ms(d, ctx, d.get("_id") == own))  # stable, as JS's sort
    docs.reverse()
    return docs


def _reported_ms(doc: Doc, ctx: Context, is_current: bool) -> float:
    moment = clock.parse_date(doc.get("reported_date"), ctx.settings)
    if moment is None:  # only the report itself can lack one (the view leaves such reports out)
        return math.inf if is_current else -math.inf
    return moment.timestamp() * 1000
