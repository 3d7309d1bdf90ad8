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

from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, utc_iso

ERROR_PREFIX = "sentinel-error:"
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
    """Reads the error docs of the sentinel database by their id prefix (they are few: no view needed)."""

    def __init__(self, db: CouchDB):
        self.db = db

    def all(self) -> list[Doc]:
        rows = self.db.all_docs_range(ERROR_PREFIX, ERROR_PREFIX + "\ufff0")
        return [r["doc"] for r in rows if isinstance(r.get("doc"), dict)]

    @staticmethod
    def due(parked: list[Doc], now: datetime, limit: int = 100) -> list[Doc]:
        """The parked changes whose next attempt has come, earliest first."""
        ready = [d for d in parked if str(d.get("next_attempt", "")) <= utc_iso(now)]
        return sorted(ready, key=lambda d: str(d.get("next_attempt", "")))[:limit]

    def listing(self, limit: int = 20) -> tuple[int, list[Doc]]:
        """(how many are parked, the first `limit` of them by next attempt)."""
        parked = sorted(self.all(), key=lambda d: str(d.get("next_attempt", "")))
        return len(parked), parked[:limit]
