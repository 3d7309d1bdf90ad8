"""CHT's `update_sent_forms`: remember on the reporting place when it last sent each reminder form, so
reminders can skip places that already reported (CHT deprecated it; it is kept for old configurations).

Reads:  the report (form, reported_date, contact's parent); settings `reminders` (which forms count).
Writes: the place (staged): `sent_forms: {<form>: <ISO date of the latest report>}`; only later
        reports move it forward. The report itself is not changed, but CHT counts the transition as
        having changed it when the place was written.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from sentinel.core import clock
from sentinel.core.context import Context
from sentinel.core.docs import Doc, is_report

name = "update_sent_forms"
doc_types = ("data_record",)


def _counts(ctx: Context, form: str) -> bool:
    """CHT: a `reminders` entry's form matches the report's, case-insensitive, spaces around allowed."""
    reminders = ctx.section("reminders")
    return any(
        isinstance(r, Mapping) and isinstance(r.get("form"), str) and r["form"]
        and re.fullmatch(r"\s*" + re.escape(r["form"]) + r"\s*", form, re.IGNORECASE)
        for r in (reminders if isinstance(reminders, list) else [])
    )


def _place_id(doc: Doc) -> Any:
    contact = doc.get("contact") if isinstance(doc.get("contact"), dict) else {}
    parent = contact.get("parent") if isinstance(contact.get("parent"), dict) else {}
    return parent.get("_id")


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    return (is_report(doc) and isinstance(doc.get("form"), str) and bool(doc.get("reported_date"))
            and bool(_place_id(doc)) and _counts(ctx, doc["form"]))


def run(doc: Doc, ctx: Context) -> bool:
    place = ctx.load(_place_id(doc))
    reported = clock.parse_date(doc.get("reported_date"), ctx.settings)
    if place is None or reported is None:
        return False
    sent = place.get("sent_forms") if isinstance(place.get("sent_forms"), dict) else {}
    latest = clock.parse_date(sent.get(doc["form"]), ctx.settings)
    if latest is not None and latest >= reported:
        return False
    place["sent_forms"] = {**sent, doc["form"]: clock.to_iso(reported)}
    ctx.stage(place)
    return True
