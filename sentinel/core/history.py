"""How often the same text went to the same number lately: CHT's duplicate-message limit, persisted.

CHT (`lib/history.js`) keeps, per recipient and text, a count and the time of the last message, in
memory. A message that comes 30 minutes or more after the previous identical one starts the count
again at 1; otherwise the count goes on, however long the run of messages (so a slow auto-responder
loop is caught too). A message is `duplicate` when its count exceeds the limit: `sms.duplicate_limit`
(the documented name) or `sms.allowed_duplicates_limit` (the name CHT's code reads, which wins when
both are set), read as JavaScript `parseInt`, default 5 when absent or not a positive number, at most
20. In memory, a restart forgets the counts and a loop starts again. Here they also live in the
sentinel database, one document per (recipient, text):

    {_id: "sms-history:<sha1 of recipient and text>", type: "sms_history", count, last: epoch ms}

and in memory between batches (loaded once at start-up, only the runs still open: last message less
than 30 minutes ago). A batch's new counts are written with its lookup-index entries, *before* its
documents: after a crash a count may be one too high (a later identical message may be held back),
never too low (a loop would get an extra message through). Documents of runs that have ended are
deleted, a few hundred per batch: those found at start-up, and those whose run ended while running
(another deleter, such as a scheduled cleanup, may race with this: a 409 on either side is harmless,
a write over a deleted doc goes in without its old revision).

Reads:  `sms-history:` docs of the sentinel database at start-up (`load`).
Writes: nothing itself; `pending_writes()` gives the docs to save (tombstones for ended runs
        included), `saved()` and `merge()` are told how that went.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc

ID_PREFIX = "sms-history:"
TYPE = "sms_history"
WINDOW = timedelta(minutes=30)
WINDOW_MS = int(WINDOW.total_seconds() * 1000)
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
MAX_ENTRIES = 100_000  # beyond this the runs with the oldest last message are forgotten
DELETES_PER_BATCH = 500
SWEEP_EVERY_MS = 5 * 60 * 1000
LOAD_PAGE = 1000


def _js_parse_int(value: Any) -> int | None:
    """JavaScript `parseInt(value)` in base 10 (`"2.5"` -> 2, `"3abc"` -> 3); None for NaN."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        value = int(value)  # JS prints the number first; parseInt(2.7) is 2
    text = str(value).strip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    digits = ""
    for char in text:
        if not ("0" <= char <= "9"):
            break
        digits += char
    return sign * int(digits) if digits else None


def duplicate_limit(settings: Any) -> int:
    """How many identical messages may go to one number in a run; the next one is `duplicate`."""
    sms = settings.get("sms") if hasattr(settings, "get") else None
    if not isinstance(sms, dict):
        return DEFAULT_LIMIT
    value = sms.get("allowed_duplicates_limit")
    if value is None:
        value = sms.get("duplicate_limit")
    limit = _js_parse_int(value)
    if limit is None or limit <= 0:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


def history_id(to: Any, text: Any) -> str:
    digest = hashlib.sha1(f"{to}\x00{text}".encode()).hexdigest()
    return ID_PREFIX + digest


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _record_of(doc: Doc) -> tuple[int, int] | None:
    """(count, last ms) of a stored doc; also reads the first version's `times: [ms, ...]`."""
    count, last = doc.get("count"), doc.get("last")
    if isinstance(count, int) and not isinstance(count, bool) and isinstance(last, (int, float)) and not isinstance(last, bool):
        return max(count, 0), int(last)
    times = [t for t in doc.get("times") or [] if isinstance(t, (int, float)) and not isinstance(t, bool)]
    if times:
        return len(times), int(max(times))
    return None


class MessageHistory:
    """Runs of identical messages to one number (count, time of the last), kept across batches."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[int, int]] = {}  # id -> (count, last ms)
        self._revs: dict[str, str] = {}  # id -> rev of the stored doc (absent: none stored, or deleted)
        self._dirty: set[str] = set()
        self._ended: set[str] = set()  # stored docs of runs that ended, to delete
        self._deleting: set[str] = set()  # tombstones handed out by pending_writes
        self._latest = 0  # the latest `now` seen (ms)
        self._swept = 0

    # --- start-up ------------------------------------------------------------------------------
    def load(self, sentinel: CouchDB, now: datetime) -> None:
        """Read the runs still open (at start-up); those that ended are deleted later, a few per batch."""
        self.__init__()  # a retried start-up starts over
        now_ms = _ms(now)
        self._latest = self._swept = now_ms
        after: str | None = None
        while True:
            rows = sentinel.all_docs_range(after or ID_PREFIX, ID_PREFIX + "\ufff0", limit=LOAD_PAGE + (1 if after else 0))
            page = [r for r in rows if r.get("id") != after]
            for row in page:
                doc = row.get("doc")
                if not isinstance(doc, dict) or not isinstance(doc.get("_rev"), str):
                    continue
                self._revs[doc["_id"]] = doc["_rev"]
                record = _record_of(doc)
                if record is not None and now_ms - record[1] < WINDOW_MS:
                    self._records[doc["_id"]] = record
                else:
                    self._ended.add(doc["_id"])
            if len(page) < LOAD_PAGE:
                return
            after = page[-1]["id"]

    # --- counting ------------------------------------------------------------------------------
    def count(self, to: Any, text: Any, now: datetime) -> int:
        """Record one more message of `text` to `to`; returns its place in the current run (1 = first).

        CHT `history.check`: the run goes on while each message comes less than 30 minutes after the
        previous one."""
        key = history_id(to, text)
        now_ms = _ms(now)
        self._latest = max(self._latest, now_ms)
        previous = self._records.get(key)
        count = previous[0] + 1 if previous is not None and now_ms - previous[1] < WINDOW_MS else 1
        self._records[key] = (count, now_ms)
        self._dirty.add(key)
        self._ended.discard(key)
        if len(self._records) > MAX_ENTRIES:
            self._forget_oldest()
        return count

    def is_duplicate(self, to: Any, text: Any, now: datetime, settings: Any) -> bool:
        """Count this message; True when it goes beyond the limit (CHT: count > limit)."""
        return self.count(to, text, now) > duplicate_limit(settings)

    def _forget_oldest(self) -> None:
        self._sweep(force=True)
        while len(self._records) > MAX_ENTRIES:
            oldest = min(self._records, key=lambda k: self._records[k][1])
            del self._records[oldest]  # a count can only go down this way; its doc stays until it expires
            self._dirty.discard(oldest)

    def _sweep(self, force: bool = False) -> None:
        """Drop the runs that ended (as of the latest `now` seen); their stored docs are to be deleted."""
        if not force and self._latest - self._swept < SWEEP_EVERY_MS:
            return
        self._swept = self._latest
        for key, (_, last) in list(self._records.items()):
            if self._latest - last >= WINDOW_MS and key not in self._dirty:
                del self._records[key]
                if key in self._revs:
                    self._ended.add(key)

    # --- saving --------------------------------------------------------------------------------
    def pending_writes(self) -> list[Doc]:
        """The docs to save now: every run counted since the last save, and up to DELETES_PER_BATCH
        tombstones for runs that ended."""
        self._sweep()
        docs = []
        for key in sorted(self._dirty):
            record = self._records.get(key)
            if record is None:
                continue
            self._deleting.discard(key)
            doc: Doc = {"_id": key, "type": TYPE, "count": record[0], "last": record[1]}
            if key in self._revs:
                doc["_rev"] = self._revs[key]
            docs.append(doc)
        self._dirty.intersection_update(self._records)
        for key in sorted(self._ended - self._dirty)[:DELETES_PER_BATCH]:
            self._ended.discard(key)
            rev = self._revs.get(key)
            if rev is None:
                continue
            self._deleting.add(key)
            docs.append({"_id": key, "_rev": rev, "type": TYPE, "_deleted": True})
        return docs

    def saved(self, doc_id: str, rev: str | None) -> None:
        """A write of `doc_id` succeeded with `rev` (or was taken over by a newer version: None)."""
        if doc_id in self._deleting:
            self._deleting.discard(doc_id)
            self._revs.pop(doc_id, None)  # a tombstone: a later write creates the doc again, without rev
            return
        self._dirty.discard(doc_id)
        if rev is not None:
            self._revs[doc_id] = rev
        else:
            self._revs.pop(doc_id, None)

    def merge(self, current: Doc, ours: Doc) -> Doc:
        """Ours over a newer stored version (a retried write that had landed, or another writer): the
        same run keeps the higher count (never too low), else the later run wins."""
        self._deleting.discard(ours["_id"])
        mine = _record_of(ours) or (0, 0)
        theirs = _record_of(current)
        if theirs is None:
            record = mine
        elif abs(mine[1] - theirs[1]) < WINDOW_MS:
            record = (max(mine[0], theirs[0]), max(mine[1], theirs[1]))
        else:
            record = max(mine, theirs, key=lambda r: r[1])
        if not ours.get("_deleted"):
            self._records[ours["_id"]] = record
        return {"_id": ours["_id"], "_rev": current["_rev"], "type": TYPE, "count": record[0], "last": record[1]}
