"""Incoming SMS become reports (issue 8; CHT api's `messaging.js` `createDocs` and `records.js`).

Each message a gateway delivers, `{id, from, content}`, is stored as a `data_record`:

    {_id: "sms-in:<sha256 of the gateway's id>", type: "data_record", from (E.164 when it is a valid
     number, else as sent), reported_date (ms, when received), locale?, form, fields, errors,
     sms_message: {from, message, gateway_ref: <the gateway's id>, form, locale?}}

`form`/`fields`/`errors` come from `sentinel.gateway.sms_parser` when the first word is a form code in the
`forms` setting (compact "CODE value value…" or labelled "CODE field value#field value"); otherwise
`form` is absent and `errors` says `sys.form_not_found` or `sys.empty`, so that `default_responses`
answers as CHT does. The transitions run on it through the normal feed.

The id is deterministic: a gateway that retries a message it already delivered (its
acknowledgement got lost) meets a 409, and no second report is created.

Reads: settings (forms, locale, phone rules). Writes: the reports (one `_bulk_docs` per request).
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Iterable, Mapping

from sentinel.core import clock, phones

from sentinel.gateway import sms_parser
from sentinel.core.couch import CouchDB

ID_PREFIX = "sms-in:"


def report_id(gateway_id: str) -> str:
    return ID_PREFIX + hashlib.sha256(gateway_id.encode()).hexdigest()[:32]


def to_report(message: Mapping[str, Any], settings: Any, now: datetime) -> dict[str, Any]:
    """The `data_record` for one incoming message (see the module docstring)."""
    sender = str(message.get("from") or "")
    text = str(message.get("content") or "")
    values = settings.values if settings is not None else {}
    number = phones.normalize(values, sender) or sender
    locale = values.get("locale") if isinstance(values.get("locale"), str) else None
    forms = values.get("forms") if isinstance(values.get("forms"), Mapping) else {}
    parsed = sms_parser.parse(text, forms, locale or "en", settings.translate if settings is not None else None)
    sms = {"from": number, "message": text, "gateway_ref": str(message.get("id"))}
    doc: dict[str, Any] = {
        "_id": report_id(str(message.get("id"))), "type": "data_record", "from": number,
        "reported_date": int(clock.parse_date(now).timestamp() * 1000), "sms_message": sms,
        "errors": parsed.errors, "fields": parsed.fields,
    }
    if parsed.form:
        doc["form"] = sms["form"] = parsed.form
    if locale:
        doc["locale"] = sms["locale"] = locale
    return doc


def store(main: CouchDB, messages: Iterable[Mapping[str, Any]], settings: Any, now: datetime) -> tuple[int, int]:
    """Save incoming messages as reports; (created, already seen). Messages without an id or sender
    are skipped by the caller's validation."""
    docs = [to_report(m, settings, now) for m in messages]
    if not docs:
        return 0, 0
    created = seen = 0
    for doc, result in zip(docs, main.bulk_docs(docs)):
        if result.get("error") == "conflict":
            seen += 1  # delivered before: the gateway retried
        elif result.get("error"):
            raise RuntimeError(f"could not save incoming message {doc['sms_message']['gateway_ref']}: {result.get('error')}")
        else:
            created += 1
    return created, seen
