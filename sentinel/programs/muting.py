"""Muting and unmuting contacts with everything under them, in bulk (CHT lib/muting_utils), shared by
the `muting` and `update_notifications` transitions (spec 2.6, 3.4, 3.8), and the replay of muting
done offline by the CHT webapp (CHT 3.12+ "client-side muting").

- `update_mute_state(ctx, contact, muted, report_id, doc, replay=False)`: CHT `updateMuteState`. The
  contact (hydrated) is the root; on unmute the root is its topmost muted ancestor (the contact itself
  when none is muted). The root and all its descendants (view `sentinel/contacts_by_ancestor`, paged,
  documents included) then get:
  - the contact doc: `muted: <ISO now>` (an already muted contact keeps its date) or no `muted`
    (`update_contact`, CHT `updateContact`: a contact whose doc-level `muting_history` was last
    updated offline, or disagrees, is re-stamped and gets `server_side: {muted, date}`,
    `last_update: server_side`);
  - their valid registrations, active milestone enrollments and upcoming appointments
    (`reports_by_subject` with every subject id at once):
    mute: `scheduled`/`pending` tasks become `muted`; unmute: `muted` tasks due at or after the start
    of today (the `timezone` setting's day) become `scheduled`, older ones stay `muted`;
  - their infodocs: `muting_history` gets `{muted, date, report_id}` appended, unless the last entry
    already has the same `muted` and `report_id` (CHT `addMutingHistory`), so replays add nothing twice.
  With `replay` (a report the webapp already applied offline, see `was_processed_client_side`), it
  returns CHT's replay queue: the ids of the reports of every offline event that came *after* this
  report in any of these contacts' `muting_history.client_side` (events without `report_id` or
  `date` skipped), ordered by `String(date)` (stable), each id once, first place kept
  (`client_events_to_replay`, `sorted_event_queue`). Otherwise it returns `[]`.
  CHT does this 50 contacts at a time with a few requests each; here the whole tree costs a view
  page per 1,000 contacts, one `reports_by_subject` request per 1,000 subject ids, one infodoc
  read per 1,000, and the batch's single `_bulk_docs` writes.
- `is_muted_in_lineage(doc, before_ms)`: the id of the nearest muted ancestor (muted at or before
  `before_ms` when that is given: a new contact is muted only by mutes older than its arrival).
- `process_contact(ctx, doc)`: CHT muting.js `processContact`, for a contact created under a muted
  place (`is_new_contact_with_muted_parent`) or one muted/unmuted offline (`is_last_updated_by_client`):
  the contact is muted now when it is new under a muted place or carries `muted`, else unmuted; its
  registrations follow; its infodoc records the report id of its own last offline event (offline) or
  of the muted ancestor's last infodoc entry (new contact); then `update_contact`.

The doc-level history the webapp writes (CHT webapp muting.transition.ts, documented in CHT's
transitions reference) is `muting_history: {last_update: client_side|server_side, server_side:
{muted, date}, client_side: [{muted, date, report_id}]}` on contacts, and `client_side_transitions:
{muting: true}` on the reports it applied.

Reads: through the batch context. Writes: staged contacts, registrations and infodocs.
"""
from __future__ import annotations

from typing import Any, Iterable

from sentinel.core import clock
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, js_number_string, js_truthy, utc_iso
from sentinel.messaging.messages import set_task_state
from sentinel.programs.appointments import ACTIVE as APPOINTMENT_ACTIVE
from sentinel.programs.registrations import registrations_of, subject_ids

DESCENDANTS_VIEW = "contacts_by_ancestor"
PAGE_SIZE = 1000
CLIENT = "client_side"
SERVER = "server_side"
CLIENT_SIDE_TRANSITIONS = "client_side_transitions"
TRANSITION = "muting"


# --- pure rules -----------------------------------------------------------------------------------


def is_muted_in_lineage(doc: Any, before_ms: float | None = None) -> str | None:
    """CHT isMutedInLineage: the nearest ancestor that is muted (at or before `before_ms`, if given)."""
    parent = doc.get("parent") if isinstance(doc, dict) else None
    depth = 0
    while isinstance(parent, dict) and depth < 50:
        muted = parent.get("muted")
        if muted:
            if before_ms is None:
                return parent.get("_id")
            when = _ms(muted)
            if when is not None and when <= before_ms:
                return parent.get("_id")
        parent, depth = parent.get("parent"), depth + 1
    return None


def _ms(value: Any) -> float | None:
    """JS `new Date(value).getTime()`, None for NaN."""
    if value is True:
        return 1.0
    moment = clock.parse_date(value)
    return moment.timestamp() * 1000 if moment is not None else None


def replication_ms(info: Any) -> float | None:
    """The infodoc's `initial_replication_date` in ms; None when absent or `unknown` (JS NaN, which
    CHT's `isMutedInLineage` treats as "no date bound": any muted ancestor counts)."""
    return _ms(info.get("initial_replication_date")) if isinstance(info, dict) else None


def is_last_updated_by_client(doc: Any) -> bool:
    """CHT isLastUpdatedByClient: the contact's doc-level muting history was last written offline."""
    history = doc.get("muting_history") if isinstance(doc, dict) else None
    return isinstance(history, dict) and history.get("last_update") == CLIENT


def was_processed_client_side(doc: Any) -> bool:
    """CHT wasProcessedClientSide: the webapp already applied this mute/unmute report offline."""
    marks = doc.get(CLIENT_SIDE_TRANSITIONS) if isinstance(doc, dict) else None
    return isinstance(marks, dict) and js_truthy(marks.get(TRANSITION))


def is_new_contact_with_muted_parent(doc: Any, info: Any) -> bool:
    """CHT isNewContactWithMutedParent: not muted, a muted ancestor (muted before the contact's
    `initial_replication_date`, when the infodoc has a real one), no infodoc muting history yet, and
    not a contact updated offline (those are replayed from their own history)."""
    return (
        isinstance(doc, dict)
        and not js_truthy(doc.get("muted"))
        and is_muted_in_lineage(doc, replication_ms(info)) is not None
        and not (isinstance(info, dict) and js_truthy(info.get("muting_history")))
        and not is_last_updated_by_client(doc)
    )


def _js_string(value: Any) -> str:
    """JavaScript String(value), for the dates of offline events (ISO strings, or numbers in tests)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number_string(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if v is None else _js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def client_events_to_replay(contacts: Iterable[Any], report_id: Any) -> list[dict[str, Any]]:
    """CHT getClientMutingEventsToReplay: per contact, every offline event after the first one of
    `report_id` in its `muting_history.client_side` (events without report_id or date are skipped)."""
    events: list[dict[str, Any]] = []
    for contact in contacts:
        history = contact.get("muting_history") if isinstance(contact, dict) else None
        client = history.get(CLIENT) if isinstance(history, dict) else None
        if not isinstance(client, list):
            continue
        found = False
        for event in client:
            if not isinstance(event, dict) or not js_truthy(event.get("report_id")) or not js_truthy(event.get("date")):
                continue
            if found:
                events.append(event)
            elif event.get("report_id") == report_id:
                found = True
    return events


def sorted_event_queue(events: Iterable[dict[str, Any]]) -> list[Any]:
    """CHT getSortedEventQueue: report ids by `String(date)` (a stable sort), each once, first kept.
    (CHT compares with localeCompare; for the ISO dates the webapp writes that is the same order.)"""
    ordered = sorted(events, key=lambda e: _js_string(e.get("date")))
    return list(dict.fromkeys(e.get("report_id") for e in ordered))


def update_contact(contact: Doc, muted: str | None, now: Any) -> bool:
    """CHT updateContact: set (`muted` is the ISO date) or clear the contact's `muted`; an already
    muted contact keeps its date unless its doc-level muting history (offline muting) is out of date,
    which is then brought up to date (`server_side: {muted, date}`, `last_update: server_side`).
    False when nothing changes."""
    history = contact.get("muting_history")
    up_to_date = not history or (
        isinstance(history, dict)
        and history.get("last_update") == SERVER
        and isinstance(history.get(SERVER), dict)
        and history[SERVER].get("muted") is bool(muted)
    )
    stamp = None
    if muted:
        stamp = (contact.get("muted") or muted) if up_to_date else muted
    updated = False
    if not up_to_date and isinstance(history, dict):
        updated = True
        history[SERVER] = {"muted": bool(muted), "date": stamp or utc_iso(now)}
        history["last_update"] = SERVER
    if not up_to_date or contact.get("muted") != stamp:
        updated = True
        if muted:
            contact["muted"] = stamp
        else:
            contact.pop("muted", None)
    return updated


def mute_unsent(registration: Doc, now: Any) -> int:
    """CHT muteUnsentMessages: `scheduled` and `pending` tasks become `muted`."""
    count = 0
    for task in registration.get("scheduled_tasks") or []:
        if isinstance(task, dict) and task.get("state") in ("scheduled", "pending"):
            count += set_task_state(task, "muted", now)
    return count


def unmute_messages(registration: Doc, now: Any, settings: Any) -> int:
    """CHT unmuteMessages: `muted` tasks due at or after the start of today become `scheduled`."""
    today = clock.start_of_day(now, settings)
    count = 0
    for task in registration.get("scheduled_tasks") or []:
        if not isinstance(task, dict) or task.get("state") != "muted":
            continue
        if "due" in task:  # moment(undefined) is now: a task without a due date is rescheduled
            due = clock.parse_date(task.get("due"), settings)
            if due is None or due < today:
                continue
        count += set_task_state(task, "scheduled", now)
    return count


def add_muting_history(info: Doc, muted: str | None, report_id: Any, now: Any) -> bool:
    """CHT addMutingHistory: append `{muted, date, report_id}` unless it repeats the last entry."""
    history = info.get("muting_history")
    if not isinstance(history, list):
        history = info["muting_history"] = []
    last = history[-1] if history else None
    if isinstance(last, dict) and last.get("muted") is bool(muted) and last.get("report_id") == report_id:
        return False
    entry: dict[str, Any] = {"muted": bool(muted), "date": muted or utc_iso(now)}
    if report_id is not None:  # JS drops an undefined report_id
        entry["report_id"] = report_id
    history.append(entry)
    return True


def last_report_id(history: Any) -> Any:
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        return history[-1].get("report_id")
    return None


# --- in bulk, through the batch ---------------------------------------------------------------------


def descendant_ids(ctx: Any, root_id: str) -> list[str]:
    """Every contact under `root_id`, a page of PAGE_SIZE at a time (documents loaded into the batch)."""
    ids: list[str] = []
    after: str | None = None
    while True:
        if after is None:
            rows = ctx.view(SENTINEL_DDOC, DESCENDANTS_VIEW, startkey=[root_id], endkey=[root_id, {}], limit=PAGE_SIZE, include_docs=True)
        else:  # the key holds the id, so the next page starts right after it on any server
            rows = ctx.view(SENTINEL_DDOC, DESCENDANTS_VIEW, startkey=[root_id, after], endkey=[root_id, {}], limit=PAGE_SIZE + 1, include_docs=True)
            rows = [r for r in rows if r.get("id") != after]
        page = [r["id"] for r in rows if isinstance(r.get("id"), str)]
        ids.extend(page)
        if len(rows) < PAGE_SIZE or not page:
            return ids
        after = page[-1]


def topmost_muted(contact: Doc) -> str:
    """The id of the topmost muted contact in the hydrated chain (the contact itself when none is)."""
    root = contact.get("_id")
    node, depth = contact, 0
    while isinstance(node, dict) and depth < 50:
        if node.get("muted") and node.get("_id"):
            root = node["_id"]
        node, depth = node.get("parent"), depth + 1
    return root


def update_registrations(ctx: Any, ids: Iterable[str], muted: str | None, doc: Doc | None = None) -> int:
    """Mute or unmute the valid registrations (and active milestone enrollments, and upcoming
    appointments' reminders) about any of these subject ids; stage the changed ones.
    A registration that is the document being processed (`doc`) is changed on `doc` itself."""
    ids = list(ids)
    if not ids:
        return 0
    changed = 0
    about = ctx.reports_by_subject(ids)
    enrollments = [e for e in about if e.get("type") == "enrollment" and e.get("status") == "active"]
    appointments = [a for a in about if isinstance(a.get("appointment"), dict) and a.get("appointment_status") in APPOINTMENT_ACTIVE]
    # milestone alerts and appointment reminders are muted the same way as registrations' schedules
    for registration in [*registrations_of(ctx, ids), *enrollments, *appointments]:
        target = doc if doc is not None and registration.get("_id") == doc.get("_id") else registration
        count = mute_unsent(target, ctx.now) if muted else unmute_messages(target, ctx.now, ctx.settings)
        if count and target is registration:
            ctx.stage(registration)
        changed += count
    return changed


def update_mute_state(
    ctx: Any, contact: Doc, muted: bool, report_id: str, doc: Doc | None = None, replay: bool = False
) -> list[Any]:
    """CHT updateMuteState for a hydrated contact; with `replay`, CHT's queue of later offline muting
    reports to replay (see the module docstring), else []."""
    stamp = utc_iso(ctx.now) if muted else None
    root = contact.get("_id") if muted else topmost_muted(contact)
    ids = [root, *(i for i in descendant_ids(ctx, root) if i != root)]
    ctx.batch.load_many(ids)
    contacts = [c for c in (ctx.batch.lookup(i) for i in ids) if c is not None]
    events = client_events_to_replay(contacts, report_id) if replay else []
    subjects: list[str] = []
    for found in contacts:
        if update_contact(found, stamp, ctx.now):
            ctx.stage(found)
        subjects.extend(subject_ids(found))
    update_registrations(ctx, subjects, stamp, doc)
    infos = ctx.infodocs([c["_id"] for c in contacts])
    for found in contacts:
        info = infos.get(found["_id"])
        if info is not None and add_muting_history(info, stamp, report_id, ctx.now):
            ctx.stage_infodoc(found["_id"])
    return sorted_event_queue(events)


def process_contact(ctx: Any, doc: Doc) -> bool:
    """CHT muting.js processContact (`doc` is the hydrated contact being processed, `ctx.info` its
    infodoc): a new contact under a muted place, or a contact muted or unmuted offline."""
    stamp = utc_iso(ctx.now) if is_new_contact_with_muted_parent(doc, ctx.info) or js_truthy(doc.get("muted")) else None
    update_registrations(ctx, subject_ids(doc), stamp)
    if is_last_updated_by_client(doc):  # the report of its last offline event
        report_id = last_report_id(doc["muting_history"].get(CLIENT))
    else:  # the last mute of the muted ancestor
        muted_parent = is_muted_in_lineage(doc, replication_ms(ctx.info))
        parent_info = ctx.infodocs([muted_parent]).get(muted_parent) if muted_parent else None
        report_id = last_report_id(parent_info.get("muting_history")) if parent_info else None
    history_changed = add_muting_history(ctx.info, stamp, report_id, ctx.now)
    changed = update_contact(doc, stamp, ctx.now)
    if history_changed and not changed:  # CHT saved the history itself; the infodoc must not wait for a run
        ctx.stage_infodoc(ctx.doc_id)
    return changed
