"""Helpers for tests against the real PouchDB Server: fixtures data, running Sentinel until caught up."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sentinel.core.couch import CouchDB, CouchServer
from sentinel.core.docs import clone
from sentinel.daemon.runner import Runner
from sentinel.jobs.scheduler import run_jobs

# CHT's test hierarchy: district_hospital > health_center > clinic, each with a person contact.
DH = {"_id": "district", "type": "district_hospital", "name": "District", "contact": {"_id": "dh-person"}}
HC = {"_id": "health_center", "type": "health_center", "name": "Health Center", "parent": {"_id": "district"}, "contact": {"_id": "hc-person"}}
CLINIC = {
    "_id": "clinic",
    "type": "clinic",
    "name": "Clinic",
    "rc_code": "CLN1",
    "parent": {"_id": "health_center", "parent": {"_id": "district"}},
    "contact": {"_id": "chw"},
}
CHW = {
    "_id": "chw",
    "type": "person",
    "name": "Chloe CHW",
    "phone": "+254700000001",
    "parent": {"_id": "clinic", "parent": {"_id": "health_center", "parent": {"_id": "district"}}},
}
HC_PERSON = {"_id": "hc-person", "type": "person", "name": "Hank HC", "phone": "+254700000002", "parent": {"_id": "health_center", "parent": {"_id": "district"}}}
DH_PERSON = {"_id": "dh-person", "type": "person", "name": "Dora DH", "phone": "+254700000003", "parent": {"_id": "district"}}
HIERARCHY = [DH, HC, CLINIC, CHW, HC_PERSON, DH_PERSON]


def report(doc_id: str, **extra: Any) -> dict[str, Any]:
    doc = {"_id": doc_id, "type": "data_record", "form": "V", "reported_date": 1700000000000, "fields": {}}
    doc.update(extra)
    return doc


def put_settings(main: CouchDB, settings: dict[str, Any]) -> str:
    doc = main.get("settings") or {"_id": "settings"}
    doc["settings"] = settings
    return main.put(doc)


def caught_up(runner: Runner) -> bool:
    page = runner.main.changes(runner.checkpoint.value, limit=1, wait=0.0)
    return not page.results


def drain(runner: Runner, timeout: float = 20.0) -> None:
    """Run batches until the feed has nothing after the checkpoint (Sentinel's own echoes included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runner.current is not None and caught_up(runner):
            return
        runner.step()
    raise AssertionError(f"sentinel did not catch up within {timeout}s (checkpoint {runner.checkpoint.value})")


class Clock:
    """A settable clock for a Runner (`clock=`): tests move `now`."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ClockedWorld:
    """A database and a running Sentinel whose clock the test moves: write, let Sentinel process, read."""

    main: CouchDB
    sentinel: CouchDB
    runner: Runner
    clock: Clock

    def _at(self, at: datetime | None) -> None:
        if at is not None:
            self.clock.now = at

    def save(self, doc: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
        """Write a document (new or over the stored revision) and let Sentinel process it at `at`; the stored document."""
        self._at(at)
        current = self.main.get(doc["_id"])
        doc = clone(doc)
        if current is not None:
            doc["_rev"] = current["_rev"]
        self.main.put(doc)
        drain(self.runner)
        return self.main.get(doc["_id"])

    def save_all(self, docs: list[dict[str, Any]], at: datetime | None = None) -> list[dict[str, Any]]:
        """Write several new documents at once (one Sentinel batch where possible); the stored documents."""
        self._at(at)
        results = self.main.bulk_docs([clone(d) for d in docs])
        assert not [r for r in results if r.get("error")], results
        drain(self.runner)
        return [self.main.get(d["_id"]) for d in docs]

    def edit(self, doc_id: str, at: datetime | None = None, **changes: Any) -> dict[str, Any]:
        doc = self.main.get(doc_id)
        doc.update(changes)
        return self.save(doc, at)

    def delete(self, doc_id: str, at: datetime | None = None) -> None:
        self._at(at)
        self.main.delete_doc(doc_id, self.main.get(doc_id)["_rev"])
        drain(self.runner)

    def settings(self, new: dict[str, Any], at: datetime | None = None) -> None:
        self._at(at)
        put_settings(self.main, new)
        drain(self.runner)

    def doc(self, doc_id: str) -> dict[str, Any] | None:
        return self.main.get(doc_id)

    def tick(self, at: datetime) -> dict[str, str | None]:
        """The scheduled jobs as of `at`, in this process; then Sentinel processes what they wrote."""
        self.clock.now = at
        outcome = run_jobs(self.runner.job_env(), at)
        drain(self.runner)
        return outcome


def new_runner(server: CouchServer, main: CouchDB, **kwargs: Any) -> Runner:
    kwargs.setdefault("idle_wait", 0.2)
    runner = Runner(server, main.name, **kwargs)
    runner.setup()
    return runner


# --- a "world": many cases seeded into one database that Sentinel processes once ---------------------
# Each `drain` costs a fraction of a second, so table-driven transition tests seed all their documents
# first, let Sentinel process them together, then read each outcome.

NOW = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
NOW_ISO = "2024-01-02T03:04:05.678Z"


def without_rev(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_rev"}


@dataclass
class World:
    main: CouchDB
    sentinel: CouchDB
    revs: dict[str, str]  # the rev each seeded doc had when Sentinel saw it
    name: str = ""

    def doc(self, seeded: dict[str, Any]) -> dict[str, Any]:
        return without_rev(self.main.get(seeded["_id"]))

    def rev(self, seeded: dict[str, Any]) -> str:
        return self.main.get(seeded["_id"])["_rev"]

    def unchanged(self, seeded: dict[str, Any]) -> bool:
        return self.rev(seeded) == self.revs[seeded["_id"]]

    def info(self, seeded: dict[str, Any]) -> dict[str, Any]:
        return self.sentinel.get(f"{seeded['_id']}-info")


@contextmanager
def processed(
    pouchdb: Any,
    settings: dict[str, Any],
    docs: list[dict[str, Any]],
    prepare: Callable[..., None] | None = None,
    name: str = "",
) -> Iterator[World]:
    """Fresh databases holding `docs` (after `prepare(main, sentinel, revs)`), processed by Sentinel at NOW."""
    server = CouchServer(pouchdb.url)
    main = server.db(f"medic-{uuid.uuid4().hex[:10]}")
    sentinel = server.db(f"{main.name}-sentinel")
    main.create()
    sentinel.create()
    try:
        put_settings(main, settings)
        copies = [clone(d) for d in docs]
        assert not [r for r in main.bulk_docs(copies) if r.get("error")]
        revs = {d["_id"]: d["_rev"] for d in copies}
        if prepare is not None:
            prepare(main, sentinel, revs)
        drain(new_runner(server, main, clock=lambda: NOW))
        yield World(main, sentinel, revs, name)
    finally:
        main.delete()
        sentinel.delete()
        server.close()
