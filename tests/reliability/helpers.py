"""Helpers shared by the reliability tests (real PouchDB Server; seqs are opaque: only compared for
equality or passed back as `since`)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from sentinel.core.couch import CouchDB

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_ID = "_local/transitions-seq"
ALL_TRANSITIONS = {
    "generate_shortcode_on_contacts": True,
    "update_clinics": True,
    "update_sent_by": True,
    "resolve_pending": True,
}
CHW_PHONE = "+254700000001"
CHW_CONTACT = {"_id": "chw", "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}}


# --- helpers -----------------------------------------------------------------------------------------
def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def checkpoint_of(sentinel_db: CouchDB) -> Any:
    """The stored checkpoint value, or None when Sentinel has not saved one yet."""
    doc = sentinel_db.get(CHECKPOINT_ID)
    return None if doc is None else doc.get("value")


def feed_is_empty_after(main: CouchDB, since: Any) -> bool:
    """`GET /<db>/_changes?since=<since>&limit=1` answers no change."""
    page = main.server.request("GET", f"/{main.name}/_changes", params={"since": str(since), "limit": 1})
    return not page.get("results")


def caught_up(main: CouchDB, sentinel_db: CouchDB) -> bool:
    value = checkpoint_of(sentinel_db)
    return value is not None and feed_is_empty_after(main, value)


def docs_by_id(db: CouchDB) -> dict[str, dict[str, Any]]:
    rows = db.all_docs_range("", "\ufff0")
    return {row["id"]: row["doc"] for row in rows if isinstance(row.get("doc"), dict)}


def generation(doc: dict[str, Any]) -> int:
    return int(doc["_rev"].split("-", 1)[0])


def pending_task(to: str, text: str) -> dict[str, Any]:
    return {
        "messages": [{"uuid": f"uuid-{text}", "to": to, "message": text}],
        "state": "pending",
        "state_history": [{"state": "pending", "timestamp": "2024-01-01T00:00:00.000Z"}],
    }


def sent_entries(task: dict[str, Any]) -> int:
    return sum(1 for entry in task.get("state_history", []) if entry.get("state") == "sent")


def assert_shortcodes_unique(docs: Iterable[dict[str, Any]]) -> None:
    codes = [json.dumps(d[k], sort_keys=True) for d in docs for k in ("patient_id", "place_id") if k in d]
    duplicated = sorted({c for c in codes if codes.count(c) > 1}) if len(codes) != len(set(codes)) else []
    assert not duplicated, f"shortcodes given to more than one document: {duplicated[:10]}"


def parked_errors(sentinel_db: CouchDB) -> dict[str, dict[str, Any]]:
    rows = sentinel_db.all_docs_range("sentinel-error:", "sentinel-error:\ufff0")
    return {row["doc"]["doc_id"]: row["doc"] for row in rows if isinstance(row.get("doc"), dict)}


def sentinel_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sentinel", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COUCH_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env

