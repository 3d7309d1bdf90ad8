"""Parked changes: documents whose processing keeps failing, kept in the sentinel database to retry.

    {_id: "sentinel-error:<doc id>", type: "sentinel-error", doc_id, seq, error, attempts,
     first_failed, last_failed, next_attempt}

A parked change never blocks the feed (the checkpoint moves past it) and is never dropped: it is
retried when `next_attempt` comes, with a delay growing with the square of the attempts (pillowtop's
PillowError), up to MAX_DELAY. A later successful processing of the document deletes its error doc.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .couch import CouchDB
from .docs import Doc, utc_iso

ERROR_PREFIX = "sentinel-error:"
ERRORS_DDOC = "sentinel-errors"
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)


def error_doc_id(doc_id: str) -> str:
    return ERROR_PREFIX + doc_id


def retry_delay(attempts: int) -> timedelta:
    return min(BASE_DELAY * attempts**2, MAX_DELAY)


def parked_doc(doc_id: str, seq: Any, message: str, now: datetime, previous: Doc | None) -> Doc:
    """The error doc after one more failed attempt (`previous` is the existing one, if any)."""
    attempts = int((previous or {}).get("attempts", 0)) + 1
    doc: Doc = dict(previous or {"_id": error_doc_id(doc_id), "first_failed": utc_iso(now)})
    doc.update(
        type="sentinel-error",
        doc_id=doc_id,
        seq=seq if seq is not None else (previous or {}).get("seq"),
        error=message[:2000],
        attempts=attempts,
        last_failed=utc_iso(now),
        next_attempt=utc_iso(now + retry_delay(attempts)),
    )
    return doc


class ParkedErrors:
    """Reads and writes the error docs of the sentinel database."""

    def __init__(self, db: CouchDB):
        self.db = db

    def due(self, now: datetime, limit: int = 100) -> list[Doc]:
        rows = self.db.view(
            ERRORS_DDOC, "by_next_attempt", endkey=utc_iso(now), include_docs=True, reduce=False, limit=limit
        )
        return [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]

    def listing(self, limit: int = 20) -> tuple[int, list[Doc]]:
        """(how many are parked, the first `limit` of them by next attempt)."""
        totals = self.db.view(ERRORS_DDOC, "by_next_attempt", reduce=True)
        rows = self.db.view(ERRORS_DDOC, "by_next_attempt", include_docs=True, reduce=False, limit=limit)
        count = int(totals[0]["value"]) if totals else 0
        return count, [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]
