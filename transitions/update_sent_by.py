"""Name the sender of a report: `sent_by` = the name of the first contact with the sender's phone.

Reads:  the report's `from`; contacts by phone (Sentinel's lookup index).
Writes: report.sent_by.
Runs again on a later revision when its previous run did not succeed (CHT: hasRun && ok).
"""
from __future__ import annotations

from sentinel.core.context import BatchContext, Context
from sentinel.core.docs import Doc, is_report

name = "update_sent_by"
doc_types = ("data_record",)  # never runs on anything else: no need to hydrate other docs for it
runs_once = "until_ok"  # CHT: !(hasRun && ok)


def filter(doc: Doc, ctx: Context) -> bool:  # noqa: A001
    return is_report(doc) and bool(doc.get("from")) and "sent_by" not in doc


def prefetch(docs: list[Doc], batch: BatchContext) -> None:
    batch.prefetch_phones(d["from"] for d in docs if is_report(d) and d.get("from") and "sent_by" not in d)


def run(doc: Doc, ctx: Context) -> bool:
    found = ctx.contacts_by_phone(doc["from"])
    sent_by = found[0].get("name") if found else None
    if sent_by:
        doc["sent_by"] = sent_by
        return True
    return False
