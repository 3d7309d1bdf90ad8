"""Infodocs: which transitions ran on which document, kept in the sentinel database (CHT's shape).

    {_id: "<doc id>-info", type: "info", doc_id, initial_replication_date, latest_replication_date,
     transitions: {<name>: {last_rev, seq, ok, run_date}}, ...}

`transitions` missing means "never processed"; `{}` means "processed, nothing ran". Keys written by
others (CHT API's replication dates, `muting_history`, ...) are kept as they are.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sentinel.core.docs import Doc

INFO_SUFFIX = "-info"
# CHT API marks an infodoc while it runs transitions synchronously; Sentinel waits for it to finish.
STARTED_MARKER = "transitions_started"
STARTED_MARKER_TTL = timedelta(minutes=2)


def infodoc_id(doc_id: str) -> str:
    return doc_id + INFO_SUFFIX


def blank(doc_id: str) -> Doc:
    return {
        "_id": infodoc_id(doc_id),
        "type": "info",
        "doc_id": doc_id,
        "initial_replication_date": "unknown",
        "latest_replication_date": "unknown",
    }


def is_processed(info: Doc) -> bool:
    return isinstance(info.get("transitions"), dict)


def record_run(info: Doc, name: str, last_rev: Any, seq: Any, ok: bool, run_date: str) -> None:
    if not isinstance(info.get("transitions"), dict):
        info["transitions"] = {}
    info["transitions"][name] = {"last_rev": last_rev, "seq": seq, "ok": ok, "run_date": run_date}


def api_is_running(info: Doc, now: datetime) -> bool:
    """True while CHT API's `transitions_started` marker is fresh (it will save the doc again)."""
    marker = info.get(STARTED_MARKER)
    if not isinstance(marker, str):
        return False
    try:
        started = datetime.fromisoformat(marker.replace("Z", "+00:00"))
    except ValueError:
        return False
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return now - started < STARTED_MARKER_TTL


def merge_into(current: Doc, ours: Doc) -> Doc:
    """Our `transitions` entries laid over someone else's newer infodoc (after a 409)."""
    merged = dict(current)
    mine = ours.get("transitions")
    if isinstance(mine, dict):
        theirs = current.get("transitions") if isinstance(current.get("transitions"), dict) else {}
        merged["transitions"] = {**theirs, **mine}
    merged.pop(STARTED_MARKER, None)
    return merged
