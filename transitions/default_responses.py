"""CHT's `default_responses`: a reply to every SMS that no form handles, or that was empty.

Reads:  the report (`from`, `errors`, `form`, `sms_message.from`); settings `default_responses.start_date`,
        `forms_only_mode`, `gateway_number`.
Writes: one message to the sender: `empty` (error `sys.empty`), `form_not_found` (with
        `forms_only_mode` and error `sys.form_not_found`), `sms_received` (an unknown form or free text).
        Never to the gateway's own number; never more than `sms.duplicate_limit` identical replies to
        one number in 30 minutes (`duplicate`: the messages library), so two auto-responders cannot loop.
Config: default_responses: {start_date: "YYYY-MM-DD"} (required: empty or invalid disables it, as in CHT).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from sentinel.core import clock
from sentinel.core.context import Context
from sentinel.core.docs import Doc, is_report, js_truthy
from sentinel.messaging.messages import add_message
from sentinel.messaging.recipients import is_gateway

name = "default_responses"
doc_types = ("data_record",)


def start_date(section: Any) -> datetime | None:
    value = section.get("start_date") if isinstance(section, Mapping) else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip()[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _start(ctx: Context) -> datetime | None:
    return start_date(ctx.section("default_responses"))


def config_warnings(section: Any, settings: Any) -> list[str]:
    """CHT silently replies to nothing without a readable start date; say so once instead."""
    if start_date(section) is not None:
        return []
    value = section.get("start_date") if isinstance(section, Mapping) else None
    return [
        f"settings.default_responses.start_date: {value!r} is no YYYY-MM-DD date, so default_responses "
        "replies to nothing (as in CHT, which says nothing about it)"
    ]


def _has_error(doc: Doc, code: str) -> bool:
    return any(isinstance(e, dict) and e.get("code") == code for e in doc.get("errors") or [])


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001 - the transition interface's name
    if not (is_report(doc) and doc.get("from") and not doc.get("kujua_message")):
        return False
    if doc.get("appointment_reply"):  # a yes/no reply appointment_reminders answered (ours, not CHT's)
        return False
    start = _start(ctx)
    reported = clock.parse_date(doc.get("reported_date"), None) if doc.get("reported_date") else None
    if start is None or reported is None or not reported > start:
        return False
    sms = doc.get("sms_message") if isinstance(doc.get("sms_message"), dict) else {}
    return not (isinstance(sms.get("from"), str) and is_gateway(ctx.settings.values, sms["from"]))


def run(doc: Doc, ctx: Context) -> bool:
    if _has_error(doc, "sys.empty"):
        key = "empty"
    elif js_truthy(ctx.settings.get("forms_only_mode")) and _has_error(doc, "sys.form_not_found"):
        key = "form_not_found"
    elif _has_error(doc, "sys.form_not_found") or not isinstance(doc.get("form"), str):
        key = "sms_received"
    else:
        return True
    add_message(doc, ctx, {"translation_key": key}, "reporting_unit", key=f"default_responses:{key}")
    return True
