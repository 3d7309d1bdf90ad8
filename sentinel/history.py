"""How often the same text went to the same number lately: CHT's duplicate-message limit, persisted.

CHT counts identical messages per recipient in memory for 30 minutes and marks a message `duplicate`
when the count exceeds `sms.duplicate_limit` (default 5, at most 20): a guard against auto-responder
loops. In memory, a restart forgets the count and a loop starts again. Here the counts live in the
sentinel database, one document per (recipient, text):

    {_id: "sms-history:<sha1 of recipient and text>", type: "sms_history", times: [epoch ms, ...]}

and in memory between batches (loaded once at start-up, only the entries still inside the window).
A batch's new counts are written with its lookup-index entries, *before* its documents: after a crash
a count may be one too high (a later identical message may be held back), never too low (a loop would
get an extra message through).

Reads:  `sms-history:` docs of the sentinel database at start-up (`load`).
Writes: nothing itself; `pending_writes()` gives the docs to save, `expired_docs()` those to delete.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from .couch import CouchDB
from .docs import Doc

ID_PREFIX = "sms-history:"
WINDOW = timedelta(minutes=30)
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
MAX_ENTRIES = 100_000  # beyond this the oldest entries are forgotten (a count can only go down)


def duplicate_limit(settings: Any) -> int:
    """`sms.duplicate_limit`, default 5, capped at 20 as CHT does."""
    sms = settings.get("sms") if hasattr(settings, "get") else None
    value = sms.get("duplicate_limit") if isinstance(sms, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT


def history_id(to: Any, text: str) -> str:
    digest = hashlib.sha1(f"{to}\x00{text}".encode()).hexdigest()
    return ID_PREFIX + digest


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class MessageHistory:
    """Counts of (recipient, text) within the last 30 minutes, kept across batches."""

    def __init__(self) -> None:
        self._times: dict[str, list[int]] = {}
        self._revs: dict[str, str] = {}
        self._dirty: set[str] = set()

    def load(self, sentinel: CouchDB, now: datetime) -> None:
        """Read the entries still inside the window (at start-up)."""
        horizon = _ms(now - WINDOW)
        after: str | None = None
        while True:
            rows = sentinel.all_docs_range(after or ID_PREFIX, ID_PREFIX + "\ufff0", limit=1000)
            rows = [r for r in rows if r.get("id") != after]
            for row in rows:
                doc = row.get("doc")
                if not isinstance(doc, dict):
                    continue
                self._revs[doc["_id"]] = doc["_rev"]
                times = [t for t in doc.get("times") or [] if isinstance(t, int) and t >= horizon]
                if times:
                    self._times[doc["_id"]] = times
            if len(rows) < 999:
                return
            after = rows[-1]["id"]

    def count(self, to: Any, text: str, now: datetime) -> int:
        """Record one more message of `text` to `to`; returns how many there were in the window, it included."""
        key = history_id(to, text)
        horizon = _ms(now - WINDOW)
        times = [t for t in self._times.get(key, []) if t >= horizon]
        times.append(_ms(now))
        self._times[key] = times
        self._dirty.add(key)
        if len(self._times) > MAX_ENTRIES:
            oldest = min(self._times, key=lambda k: max(self._times[k]))
            del self._times[oldest]
        return len(times)

    def is_duplicate(self, to: Any, text: str, now: datetime, settings: Any) -> bool:
        """Count this message; True when it goes beyond `sms.duplicate_limit` (CHT: count > limit)."""
        return self.count(to, text, now) > duplicate_limit(settings)

    def pending_writes(self) -> list[Doc]:
        docs = []
        for key in sorted(self._dirty):
            doc: Doc = {"_id": key, "type": "sms_history", "times": self._times.get(key, [])}
            if key in self._revs:
                doc["_rev"] = self._revs[key]
            docs.append(doc)
        return docs

    def saved(self, doc_id: str, rev: str | None) -> None:
        """A write of `doc_id` succeeded with `rev` (or was taken over by a newer version: None)."""
        self._dirty.discard(doc_id)
        if rev is not None:
            self._revs[doc_id] = rev
        else:
            self._revs.pop(doc_id, None)

    def merge(self, current: Doc, ours: Doc) -> Doc:
        """Ours over a newer stored version (a retried write that had landed): the union of times."""
        times = sorted(set(current.get("times") or []) | set(ours.get("times") or []))
        self._times[ours["_id"]] = times
        return {**ours, "_rev": current["_rev"], "times": times}
