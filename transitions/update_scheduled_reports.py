"""CHT's `update_scheduled_reports`: a weekly or monthly report replaces the earlier ones the same place
sent for the same period (a correction re-sent by SMS).

Reads:  the report (`fields.year` with `week|week_number` or `month|month_num`, its contact's place,
        which must be of a leaf place type); the other reports of that form, period and place
        (view `sentinel/reports_by_period`, through the batch).
Writes: the older duplicates deleted (staged with `_deleted: true`). CHT deletes every other
        duplicate, whatever its date; here the latest by `reported_date` is kept, so a late-arriving
        older report deletes itself instead of the newer one ("replaced by the latest").
"""
from __future__ import annotations

from typing import Any

from sentinel.core.context import Context
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, fields_of, is_report

name = "update_scheduled_reports"
doc_types = ("data_record",)


def _period(doc: Doc) -> tuple[str, Any] | None:
    fields = fields_of(doc)
    if not fields.get("year"):
        return None
    week = fields.get("week") or fields.get("week_number")
    if week:
        return "week", week
    month = fields.get("month") or fields.get("month_num")
    return ("month", month) if month else None


def _leaf_place_types(ctx: Context) -> set[str]:
    places = [t for t in ctx.settings.contact_types() if not t.get("person")] or [
        {"id": "district_hospital"}, {"id": "health_center", "parents": ["district_hospital"]}, {"id": "clinic", "parents": ["health_center"]}]
    return {t.get("id") for t in places if not any(t.get("id") in (o.get("parents") or []) for o in places)}


def _parent_id(doc: Doc, ctx: Context) -> Any:
    """The report's place, only when it is of a leaf place type (CHT getParentId)."""
    contact = doc.get("contact") if isinstance(doc.get("contact"), dict) else {}
    parent = contact.get("parent") if isinstance(contact.get("parent"), dict) else None
    contact_type = ctx.settings.contact_type(parent) if parent else None
    return parent.get("_id") if contact_type and contact_type.get("id") in _leaf_place_types(ctx) else None


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return is_report(doc) and bool(doc.get("form")) and not doc.get("errors") and _period(doc) is not None


def run(doc: Doc, ctx: Context) -> bool:
    parent_id, period = _parent_id(doc, ctx), _period(doc)
    if parent_id is None or period is None:
        return False
    prefix = [doc["form"], fields_of(doc)["year"], period[0], period[1], parent_id]
    rows = ctx.view(SENTINEL_DDOC, "reports_by_period", startkey=prefix, endkey=[*prefix, {}], include_docs=True)
    reports = {row["id"]: row.get("doc") for row in rows if isinstance(row.get("doc"), dict)}
    reports[doc["_id"]] = doc
    if len(reports) < 2:
        return bool(reports)  # CHT: a single row (this report) counts as done
    latest = max(reports.values(), key=lambda r: (_number(r.get("reported_date")), r["_id"]))
    for report in reports.values():
        if report is latest:
            continue
        if report["_id"] == doc["_id"]:
            doc["_deleted"] = True  # this one is the older duplicate
        else:
            ctx.stage({**report, "_deleted": True})
    return True


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
