"""Outgoing messages for a gateway, and the delivery states it reports (issue 8; CHT api's
`sms-gateway.js` and `message-utils` `setTaskState`, with the medic-gateway protocol's states).

- `hand_out(limit)`: up to `limit` messages to send, as `{id, to, content}`: first those handed out
  before and still not acknowledged `resend_after` seconds later, then `pending` ones, oldest due
  first (view `sentinel/outbox`). Each one's task becomes `forwarded-to-gateway` (a
  `state_history` entry) *before* it is returned: a message whose document could not be written
  (a 409: Sentinel or a field app changed it meanwhile) is not handed out this time, so two
  concurrent polls never both get it.
- `apply_updates(updates)`: `{id, status, reason}` from the gateway: `UNSENT` → `received-by-gateway`,
  `PENDING` → `forwarded-by-gateway`, `SENT` → `sent`, `DELIVERED` → `delivered`, `FAILED` → `failed`
  (the reason as `state_details`), anything else → `unrecognised`; each appended to the task's
  `state_history`. Found by uuid (view `messages_by_uuid`), written in bulk, a 409 read again and
  redone (a few rounds). Unknown ids are counted and ignored.

A task holds one message in practice; when it holds several, they are handed out and change state
together (the state is the task's, as in CHT).

Reads and writes: the main database only.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sentinel.core import clock
from sentinel.core.couch import CouchDB
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.messaging.messages import set_task_state

log = logging.getLogger(__name__)

PENDING, FORWARDED = "pending", "forwarded-to-gateway"
STATUS_TO_STATE = {
    "UNSENT": "received-by-gateway",
    "PENDING": "forwarded-by-gateway",
    "SENT": "sent",
    "DELIVERED": "delivered",
    "FAILED": "failed",
}
UNRECOGNISED = "unrecognised"
CONFLICT_ROUNDS = 3
DEFAULT_LIMIT = 25  # CHT hands out at most 25 per poll
DEFAULT_RESEND_AFTER = 300.0


@dataclass
class UpdatesOutcome:
    applied: int = 0
    unknown: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # could not be written (kept conflicting)


def _task(doc: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any] | None:
    tasks = doc.get(value.get("list"))
    index = value.get("task")
    if isinstance(tasks, list) and isinstance(index, int) and 0 <= index < len(tasks) and isinstance(tasks[index], dict):
        return tasks[index]
    return None


def _last_change(task: Mapping[str, Any]) -> datetime | None:
    history = task.get("state_history")
    if isinstance(history, list) and history and isinstance(history[-1], Mapping):
        return clock.parse_date(history[-1].get("timestamp"))
    return None


def hand_out(main: CouchDB, now: datetime, limit: int = DEFAULT_LIMIT,
             resend_after: float = DEFAULT_RESEND_AFTER) -> list[dict[str, str]]:
    """Messages for the gateway, each marked `forwarded-to-gateway` first (see the module docstring)."""
    if limit <= 0:
        return []
    stale_before = now - timedelta(seconds=resend_after)
    chosen: dict[str, tuple[dict[str, Any], list[tuple[dict[str, Any], str, Any]]]] = {}  # doc id -> (doc, [(task, uuid, where)])
    count = 0
    page = max(limit, 50)
    for state in (FORWARDED, PENDING):
        start: list[Any] = [state, 0, ""]
        while count < limit:
            raw = main.view(SENTINEL_DDOC, "outbox", startkey=start, endkey=[state, {}], include_docs="true", limit=page + 1)
            rows = [r for r in raw if r.get("key") != start][:page]
            for row in rows:
                doc = chosen[row["id"]][0] if row["id"] in chosen else row.get("doc")
                task = _task(doc, row.get("value") or {}) if isinstance(doc, dict) else None
                if task is None or task.get("state") != state:
                    continue
                if state == FORWARDED and (_last_change(task) or now) > stale_before:
                    continue  # handed out recently: its acknowledgement may still come
                chosen.setdefault(row["id"], (doc, []))[1].append((task, row["key"][2], row.get("value") or {}))
                count += 1
                if count >= limit:
                    break
            if len(raw) <= page or not rows:  # the last page
                break
            start = rows[-1]["key"]
    if not chosen:
        return []
    docs = []
    for doc, picked in chosen.values():
        for task in {id(t): t for t, _, _ in picked}.values():
            if task.get("state") == FORWARDED:  # a re-offer: its history says when, for the next timeout
                task.setdefault("state_history", []).append({"state": FORWARDED, "timestamp": clock.to_iso(now)})
            else:
                set_task_state(task, FORWARDED, now)
        docs.append(doc)
    results = main.bulk_docs(docs)
    out = []
    for (doc, picked), result in zip(chosen.values(), results):
        if result.get("error"):
            log.info("gateway: %s changed meanwhile (%s); its messages wait for the next poll", doc["_id"], result.get("error"))
            continue
        for task, uuid, value in picked:
            message = next((m for m in task.get("messages") or [] if isinstance(m, dict) and str(m.get("uuid")) == uuid), None)
            if message is not None:
                HANDED.remember(uuid, doc["_id"], value)
                out.append({"id": uuid, "to": str(message.get("to")), "content": str(message.get("message"))})
    return out


def state_for(status: Any) -> str:
    return STATUS_TO_STATE.get(status.strip().upper(), UNRECOGNISED) if isinstance(status, str) else UNRECOGNISED


class _Handed:
    """Where the messages this process handed out live (uuid -> (doc id, list, task index)), the
    most recent MAX_HANDED of them: a gateway's updates are found with one `_all_docs` request
    instead of a view that PouchDB Server would first bring up to date (≈1 ms per document written
    since its last query). Anything not here (another process handed it out, a restart) is looked up
    in the view `messages_by_uuid`; an entry that no longer matches the document is too."""

    MAX_HANDED = 200_000

    def __init__(self) -> None:
        self._where: OrderedDict[str, tuple[str, str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, uuid: str, doc_id: str, value: Mapping[str, Any]) -> None:
        with self._lock:
            self._where[uuid] = (doc_id, str(value.get("list")), int(value.get("task", -1)))
            self._where.move_to_end(uuid)
            while len(self._where) > self.MAX_HANDED:
                self._where.popitem(last=False)

    def rows(self, main: CouchDB, uuids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """(view-like rows {id, key, value, doc} of the uuids known here, the uuids to look up)."""
        with self._lock:
            known = {u: self._where[u] for u in uuids if u in self._where}
        docs = main.all_docs(list({doc_id for doc_id, _, _ in known.values()})) if known else {}
        rows, missing = [], [u for u in uuids if u not in known]
        for uuid, (doc_id, list_name, index) in known.items():
            doc = docs.get(doc_id)
            task = _task(doc, {"list": list_name, "task": index}) if doc else None
            if task is None or not any(isinstance(m, dict) and str(m.get("uuid")) == uuid for m in task.get("messages") or []):
                missing.append(uuid)
                continue
            rows.append({"id": doc_id, "key": uuid, "value": {"list": list_name, "task": index}, "doc": doc})
        return rows, missing


HANDED = _Handed()


def _message_rows(main: CouchDB, uuids: list[str]) -> list[dict[str, Any]]:
    rows, missing = HANDED.rows(main, uuids)
    if missing:
        rows += main.view(SENTINEL_DDOC, "messages_by_uuid", keys=missing, include_docs="true")
    return rows


def apply_updates(main: CouchDB, updates: Iterable[Mapping[str, Any]], now: datetime) -> UpdatesOutcome:
    """Record the gateway's delivery states (see the module docstring)."""
    outcome = UpdatesOutcome()
    wanted: dict[str, list[Mapping[str, Any]]] = {}
    for update in updates:
        if isinstance(update, Mapping) and isinstance(update.get("id"), (str, int)):
            wanted.setdefault(str(update["id"]), []).append(update)
    for _ in range(CONFLICT_ROUNDS):
        if not wanted:
            break
        rows = _message_rows(main, list(wanted))
        docs: dict[str, dict[str, Any]] = {}
        touched: dict[str, list[str]] = {}
        seen = set()
        for row in rows:
            uuid = row.get("key")
            if uuid in seen or not isinstance(row.get("doc"), dict):
                continue
            doc = docs.setdefault(row["id"], row["doc"])
            task = _task(doc, row.get("value") or {})
            if task is None:
                continue
            seen.add(uuid)
            for update in wanted[uuid]:
                reason = update.get("reason")
                set_task_state(task, state_for(update.get("status")), now,
                               details=str(reason) if reason not in (None, "") else None)
            touched.setdefault(row["id"], []).append(uuid)
        outcome.unknown += [u for u in wanted if u not in seen]
        retry: dict[str, list[Mapping[str, Any]]] = {}
        if docs:
            for doc, result in zip(docs.values(), main.bulk_docs(list(docs.values()))):
                uuids = touched.get(doc["_id"], [])
                if result.get("error") == "conflict":
                    retry.update({u: wanted[u] for u in uuids})
                elif result.get("error"):
                    outcome.failed += uuids
                    log.error("gateway: could not record states on %s: %s", doc["_id"], result.get("error"))
                else:
                    outcome.applied += sum(len(wanted[u]) for u in uuids)
        wanted = retry
    outcome.failed += list(wanted)
    return outcome
