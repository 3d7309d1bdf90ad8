"""Sentinel's own lookup index, kept in the sentinel database: who has this phone, this code?

Transitions find contacts by phone number, by short code (`patient_id`/`place_id`) or by rc_code, and
the id generator asks which codes are in use. The `sentinel/lookups` view answers the same questions,
but a view is brought up to date when it is queried, one document at a time, over every document
written since the last query (PouchDB Server: about 1 ms each, more than all of Sentinel's own work on
a document). So Sentinel keeps its own index, from what it sees anyway:

- one document per key in the sentinel database, `_id: "lookup:<kind>:<value>"`,
  `{type: "lookup", kind, value, ids: [sorted doc ids]}`;
- entries are added for every document the feed brings and every document Sentinel writes, in the same
  batch (the index docs are written with the infodocs, after the documents themselves);
- an entry is only a candidate: a lookup loads the candidates and keeps those whose current version
  (exact as of the feed position) still has the key, in id order as the view would give them. Entries
  that no longer match are dropped from the index on the way. So the index never needs to know a
  document's previous keys, and a crash between writes leaves at worst an extra candidate;
- built once from `_all_docs` (paged, progress logged) the first time Sentinel runs on a database; the
  marker `_local/lookups` in the sentinel database records that it was.

What a lookup sees is therefore every document as of the last time Sentinel saw it: the documents up to
the feed position plus every document that existed when the index was built. A document created or
changed after that and not reached by the feed yet is not seen until it is (while catching up with a
backlog; a caught-up daemon is a second behind). CHT's view reads the state at query time instead.

The same index answers the due_tasks job: ("due", "<UTC hour YYYYMMDDHH>:<shard>") lists the documents
with a `scheduled` task due in that hour, so the job reads a range of small docs instead of a view
over every message (which PouchDB Server would first bring up to date, at 1 ms per document written).

Keys are those of `ddocs/sentinel/views/lookups/map.js`, with every value a string (whole numbers as
JS's `String()` writes them; other floats as Python does, e.g. 1e-05, which no code or phone is): ("phone", p), ("shortcode", code) and ("external", RC_CODE) for contacts, and
("code", c) for every `patient_id`/`place_id`/`case_id` of any document.
"""
from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sentinel.core import clock
from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, js_number_string, js_truthy
from sentinel.core.lineage import is_contact

log = logging.getLogger(__name__)

Key = tuple[str, str]  # ("phone", "+2547...") | ("shortcode", "12345") | ("external", "RC1") | ("code", c)

KINDS = ("phone", "shortcode", "external", "code", "due")
ID_PREFIX = "lookup:"
MARKER_ID = "_local/lookups"
INDEX_VERSION = 3  # 2: the due-index buckets; 3: float values written as JavaScript writes them (0.00001)
MAX_VALUE_LENGTH = 200  # longer values (malformed documents) are not indexed, so never found
SCAN_PAGE = 1000
PROGRESS_SECONDS = 5.0


def key_value(value: Any) -> str | None:
    """A lookup value as the view's `String(value)` writes it; None for what cannot be a key."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = js_number_string(value)
    else:
        text = str(value)
    return text if 0 < len(text) <= MAX_VALUE_LENGTH else None


def make_key(kind: str, value: Any) -> Key | None:
    text = key_value(value)
    if text is None:
        return None
    return (kind, text.upper() if kind == "external" else text)


def due_ms(task: Any, doc: Any) -> int | None:
    """A task's due time as `messages_by_state` reads it: `task.due || task.timestamp ||
    doc.reported_date` (JavaScript truthiness), as epoch ms; None when it is not a date."""
    value = next((v for v in (task.get("due"), task.get("timestamp"), doc.get("reported_date")) if js_truthy(v)), None)
    moment = clock.parse_date(value, None)
    return int(moment.timestamp() * 1000) if moment is not None else None


def due_hour(ms: int) -> str:
    """The UTC hour of an epoch-ms time, `YYYYMMDDHH`: the buckets of the due index."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y%m%d%H")


def due_keys(doc: Doc) -> set[Key]:
    """("due", "<YYYYMMDDHH>:<shard>") for each `scheduled` task: which hour buckets the due_tasks job
    must look in. 16 shards per hour (by the doc id's hash) keep a busy hour's index docs small."""
    tasks = doc.get("scheduled_tasks")
    if not isinstance(tasks, list):
        return set()
    shard = hashlib.md5(str(doc.get("_id")).encode()).hexdigest()[0]
    keys = set()
    for task in tasks:
        if isinstance(task, dict) and task.get("state") == "scheduled":
            ms = due_ms(task, doc)
            if ms is not None and ms >= 0:
                keys.add(("due", f"{due_hour(ms)}:{shard}"))
    return keys


def keys_of(doc: Doc) -> set[Key]:
    """The keys a document answers, as `map.js` emits them, and its due-index buckets (`due_keys`)."""
    keys: set[Key | None] = set(due_keys(doc))
    if is_contact(doc):
        if doc.get("phone"):
            keys.add(make_key("phone", doc["phone"]))
        for field in ("place_id", "patient_id"):
            if doc.get(field):
                keys.add(make_key("shortcode", doc[field]))
        if doc.get("rc_code"):
            keys.add(make_key("external", doc["rc_code"]))
    for field in ("patient_id", "place_id", "case_id"):
        if doc.get(field):
            keys.add(make_key("code", doc[field]))
    keys.discard(None)
    return keys  # type: ignore[return-value]


def index_id(key: Key) -> str:
    return f"{ID_PREFIX}{key[0]}:{key[1]}"


def index_doc(key: Key, ids: Iterable[str]) -> Doc:
    return {"_id": index_id(key), "type": "lookup", "kind": key[0], "value": key[1], "ids": sorted(set(ids))}


def merge(current: Doc, ours: Doc, removed: Iterable[str] = ()) -> Doc:
    """Our version of an index doc over a newer stored one (a 409): the union, minus what we dropped."""
    ids = (set(current.get("ids") or []) | set(ours.get("ids") or [])) - set(removed)
    return {**ours, "_rev": current["_rev"], "ids": sorted(ids)}


class LookupIndex:
    """The index as one batch sees and changes it.

    Reads: index docs from the sentinel database (`_all_docs`), once per key per batch.
    Writes: nothing itself; `pending_writes()` gives the index docs to save with the infodocs.
    """

    def __init__(self, sentinel: CouchDB):
        self.sentinel = sentinel
        self._stored: dict[Key, Doc | None] = {}  # index docs read this batch (None: none yet)
        self._added: dict[Key, set[str]] = {}
        self._removed: dict[Key, set[str]] = {}

    def observe(self, docs: Iterable[Doc]) -> None:
        """Documents seen in the feed or written by us: their keys become (or stay) entries."""
        for doc in docs:
            for key in keys_of(doc):
                self._added.setdefault(key, set()).add(doc["_id"])
                self._removed.get(key, set()).discard(doc["_id"])

    def candidates(self, keys: Iterable[Key]) -> dict[Key, list[str]]:
        """The ids entered under each key (one read for all keys not read yet this batch)."""
        keys = list(dict.fromkeys(keys))
        self._read([k for k in keys if k not in self._stored])
        return {key: self._ids(key) for key in keys}

    def drop(self, key: Key, doc_id: str) -> None:
        """`doc_id` was found not to have `key` any more: take it out of the index."""
        self._added.get(key, set()).discard(doc_id)
        self._removed.setdefault(key, set()).add(doc_id)

    def pending_writes(self) -> dict[str, tuple[Doc, set[str]]]:
        """Index docs that change, by id, each with the ids it drops (for merging after a 409)."""
        self._read([k for k in (*self._added, *self._removed) if k not in self._stored])
        writes: dict[str, tuple[Doc, set[str]]] = {}
        for key in {*self._added, *self._removed}:
            stored = self._stored.get(key)
            before = set(stored.get("ids") or []) if stored else set()
            after = set(self._ids(key))
            if after == before:
                continue
            doc = index_doc(key, after)
            if stored:
                doc["_rev"] = stored["_rev"]
            writes[doc["_id"]] = (doc, self._removed.get(key, set()))
        return writes

    def _ids(self, key: Key) -> list[str]:
        stored = self._stored.get(key)
        ids = set(stored.get("ids") or []) if stored else set()
        return sorted((ids | self._added.get(key, set())) - self._removed.get(key, set()))

    def _read(self, keys: list[Key]) -> None:
        if not keys:
            return
        found = self.sentinel.all_docs([index_id(k) for k in keys])
        for key in keys:
            doc = found.get(index_id(key))
            self._stored[key] = doc if doc is not None and isinstance(doc.get("ids"), list) else None


def is_built(sentinel: CouchDB) -> bool:
    marker = sentinel.get(MARKER_ID) or {}
    return marker.get("version") == INDEX_VERSION


def build(main: CouchDB, sentinel: CouchDB, retry: Callable[..., Any] = lambda fn, *a: fn(*a)) -> int:
    """Enter every document of the main database into the index, page by page; returns docs scanned.

    Idempotent (entries are unions), so an interrupted build simply starts again. Writes the marker last.
    """
    started = shown = time.monotonic()
    scanned, after = 0, None
    while True:
        rows = retry(main.all_docs_page, after, SCAN_PAGE)
        docs = [r["doc"] for r in rows if isinstance(r.get("doc"), dict) and not r["id"].startswith("_design/")]
        _enter(docs, sentinel, retry)
        scanned += len(rows)
        if len(rows) < SCAN_PAGE:
            break
        after = rows[-1]["id"]
        if time.monotonic() - shown >= PROGRESS_SECONDS:
            shown = time.monotonic()
            log.info("Building the lookup index: %d documents read so far", scanned)
    marker = sentinel.get(MARKER_ID) or {"_id": MARKER_ID}
    sentinel.put({**marker, "version": INDEX_VERSION, "documents": scanned})
    log.info("Lookup index built from %d documents in %.1f s", scanned, time.monotonic() - started)
    return scanned


def _enter(docs: list[Doc], sentinel: CouchDB, retry: Callable[..., Any], attempts: int = 5) -> None:
    """Add the keys of `docs` to the index; a 409 (a retried request that had landed, another
    Sentinel) is resolved by reading the index docs again and re-applying."""
    for _ in range(attempts):
        index = LookupIndex(sentinel)
        index.observe(docs)
        writes = [doc for doc, _ in retry(index.pending_writes).values()]
        if not writes:
            return
        errors = [r for r in retry(sentinel.bulk_docs, writes) if r.get("error")]
        if not errors:
            return
        if any(r.get("error") != "conflict" for r in errors):
            raise RuntimeError(f"could not save {len(errors)} lookup index docs, e.g. {errors[0]}")
    raise RuntimeError(f"lookup index docs still in conflict after {attempts} attempts")
