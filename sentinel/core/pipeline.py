"""Process one batch of changes: load in bulk, run transitions in memory, write in bulk.

Reads:  the changed docs (`_all_docs`), their infodocs and parked errors (sentinel `_all_docs`),
        lineage, subjects and lookups through the BatchContext.
Writes: changed and staged docs with one `_bulk_docs` on the main database, then infodocs, the lookup
        index's new entries (`lookups`: every document the feed brought or we wrote) and cleared
        parked errors with one `_bulk_docs` on the sentinel database. The checkpoint is the runner's
        business, after this returns.

For each document, in feed order, each enabled transition in `transitions.AVAILABLE` order runs when:
its infodoc record is not at the document's current rev generation (CHT `isRevSame`), it has not run
before unless the transition says `runs_once = False`, and its `filter` accepts the document. They
all work on one hydrated copy, which is minified and written once if any of them changed it.

Outcomes per change: done (infodoc written), requeue (409: someone else edited a doc we wrote; run
it again on their revision), failed (to be parked with its error). A TransientError from anywhere
aborts the batch before anything is written, or is retried around each write by `retry`.
"""
from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

from sentinel.core import infodoc, lineage, lookups, metrics
from sentinel.core.cache import LookupCache
from sentinel.core.context import BatchContext, Context
from sentinel.core.couch import CouchDB
from sentinel.core.docs import Doc, add_error, rev_generation, utc_iso
from sentinel.core.errors import TransientError
from sentinel.core.history import MessageHistory
from sentinel.core.lookups import LookupIndex
from sentinel.core.parking import error_doc_id, parked_doc
from sentinel.core.settings import Settings

log = logging.getLogger(__name__)

IGNORED_IDS = re.compile(r"^_design/|-info$|____tombstone$")
INFODOC_WRITE_ATTEMPTS = 5

Retry = Callable[..., Any]


def no_retry(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@dataclass
class Change:
    """One row of the changes feed, reduced to what the pipeline needs."""

    id: str
    seq: Any = None
    rev: str | None = None
    deleted: bool = False
    doc: Doc | None = None  # the document as the feed sent it (include_docs), if it did

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Change":
        changes = row.get("changes") or [{}]
        doc = row.get("doc")
        usable = isinstance(doc, dict) and doc.get("_id") == row["id"] and not doc.get("_deleted")
        return cls(
            id=row["id"],
            seq=row.get("seq"),
            rev=changes[0].get("rev"),
            deleted=bool(row.get("deleted")),
            doc=doc if usable else None,
        )


@dataclass
class BatchOutcome:
    seen: int = 0
    processed: int = 0
    written: int = 0
    ran: int = 0
    echoes: int = 0  # changes that were the feed's echo of our own writes
    requeue: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    wake_jobs: set[str] = field(default_factory=set)  # scheduled jobs with work this batch queued (outbound)

    def absorb(self, other: "BatchOutcome") -> None:
        """Add the work of another pass (a re-run, one change of a serial fallback) to this one."""
        self.processed += other.processed
        self.written += other.written
        self.ran += other.ran
        self.failed += other.failed
        self.wake_jobs |= other.wake_jobs


class RecentWrites:
    """The last documents (and infodocs) we wrote, so the feed's echo of our own write costs no read.

    A change is served from here only when its rev is exactly the rev we wrote; each entry is used
    once. Kept as compact JSON (a private copy on every take), at most `capacity` documents and
    `max_bytes` of JSON (documents with many tasks are large); the oldest go first.
    """

    REVS_CAPACITY = 200_000  # ids and revs only: an echo whose body was evicted is still known as ours

    def __init__(self, capacity: int = 20000, max_bytes: int = 24 * 1024 * 1024):
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._docs: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._infos: dict[str, bytes] = {}
        self._revs: OrderedDict[str, str] = OrderedDict()

    def ours(self, change: Change) -> bool:
        """True when the change is a revision we wrote, even if its body is no longer kept."""
        return change.rev is not None and self._revs.get(change.id) == change.rev

    def remember(self, doc: Doc) -> None:
        self._drop(doc["_id"])
        self._revs[doc["_id"]] = doc["_rev"]
        self._revs.move_to_end(doc["_id"])
        while len(self._revs) > self.REVS_CAPACITY:
            self._revs.popitem(last=False)
        entry = (doc["_rev"], _compact(doc))
        self._docs[doc["_id"]] = entry
        self._bytes += len(entry[1])
        while self._docs and (len(self._docs) > self.capacity or self._bytes > self.max_bytes):
            self._drop(next(iter(self._docs)))

    def _drop(self, doc_id: str) -> None:
        entry = self._docs.pop(doc_id, None)
        if entry is not None:
            self._bytes -= len(entry[1])
        info = self._infos.pop(doc_id, None)
        if info is not None:
            self._bytes -= len(info)

    def remember_info(self, doc_id: str, info: Doc) -> None:
        if doc_id in self._docs:
            old = self._infos.get(doc_id)
            self._infos[doc_id] = _compact(info)
            self._bytes += len(self._infos[doc_id]) - (len(old) if old is not None else 0)

    def take(self, change: Change) -> tuple[Doc, Doc | None] | None:
        entry = self._docs.get(change.id)
        if entry is None or change.rev is None or entry[0] != change.rev:
            return None
        info = self._infos.get(change.id)
        self._drop(change.id)
        return json.loads(entry[1]), (json.loads(info) if info is not None else None)


def _compact(doc: Doc) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def is_ignored(doc_id: str) -> bool:
    return bool(IGNORED_IDS.search(doc_id))


class Pipeline:
    def __init__(self, main: CouchDB, sentinel: CouchDB, recent: RecentWrites | None = None, retry: Retry = no_retry):
        self.main = main
        self.sentinel = sentinel
        self.recent = recent or RecentWrites()
        self.retry = retry
        self.cache = LookupCache()  # lineage and lookups across batches, exact as of the feed position
        self.history = MessageHistory()  # the duplicate-message counts; the runner loads them at start-up
        # ids with a parked error, when the runner knows them (None: unknown, look for every id)
        self.parked_ids: set[str] | None = None

    # --- the batch ---------------------------------------------------------------------------------
    def process(
        self, changes: Sequence[Change], settings: Settings, transitions: Sequence[ModuleType], now: datetime
    ) -> BatchOutcome:
        out = BatchOutcome(seen=len(changes))
        live: dict[str, Change] = {}
        deleted: dict[str, Change] = {}
        for change in changes:
            if is_ignored(change.id):
                continue
            live.pop(change.id, None)
            deleted.pop(change.id, None)
            (deleted if change.deleted else live)[change.id] = change  # the last change of an id wins

        for change in changes:  # changed since we cached them (lookups are settled once they are loaded)
            (self.cache.forget([change.id]) if change.deleted else self.cache.drop_doc(change.id))
        batch = BatchContext(self.main, LookupIndex(self.sentinel), settings, now, self.cache, self.history)
        docs, infos, parked = self._load(live, batch, out)
        for doc_id in live:  # every change's infodoc is one object, shared with the batch (muting history...)
            infos.setdefault(doc_id, infodoc.blank(doc_id))
        batch.add_infos(infos)
        batch.changed_docs = [docs[i] for i in live if i in docs]
        candidates = {i: self._candidates(transitions, docs[i], infos.get(i, {})) for i in live if i in docs}
        self._prefetch(batch, [docs[i] for i, names in candidates.items() if names], transitions)
        self._run_deletion_hooks(deleted, batch, transitions, out)

        pending_infos: dict[str, Doc] = {}
        for change in live.values():
            stored = batch.lookup(change.id)
            if stored is None:  # deleted since the change was read: its deletion will come through the feed
                continue
            info = infos.get(change.id) or infodoc.blank(change.id)
            if infodoc.api_is_running(info, now):
                log.debug("Skipping %s: CHT API is running transitions on it", change.id)
                continue
            try:
                todo = candidates.get(change.id, ())
                results = self._apply(stored, info, change, batch, todo, now) if todo else {}
            except TransientError:
                raise
            except Exception as exc:  # a bug or a document we cannot handle: park it, go on
                log.exception("Processing %s failed", change.id)
                batch.unstage_origin(change.id)
                out.failed.append((change, f"{type(exc).__name__}: {exc}"))
                continue
            out.processed += 1
            out.ran += len(results)
            for name, ok in results.items():
                (metrics.processed if ok else metrics.failed).labels(transition=name).inc()
            if results or not infodoc.is_processed(info):
                for name, ok in results.items():
                    infodoc.record_run(info, name, stored.get("_rev"), change.seq, ok, utc_iso(now))
                info.setdefault("transitions", {})
                info.pop(infodoc.STARTED_MARKER, None)
                pending_infos[change.id] = info

        # Index entries go first: had the documents been written first, a crash in between would leave
        # codes and phones in the database that a lookup (the id generator's above all) cannot see.
        # The same goes for the message counts of the duplicate limit (see `history`).
        entries = self.retry(batch.index.pending_writes)
        self._save_sentinel_docs([doc for doc, _ in entries.values()] + self.history.pending_writes(), entries)
        done = self._write_docs(batch, live, out)
        cleared = [parked[i] for i in done if i in parked]
        to_save = {pending_infos[i]["_id"]: pending_infos[i] for i in done if i in pending_infos}
        done_ids = set(done)
        for info, origins in batch.staged_infodocs():  # other documents' infodocs changed by a transition
            if origins & done_ids:
                to_save.setdefault(info["_id"], info)
        self._save_sentinel_docs(list(to_save.values()) + [{"_id": e["_id"], "_rev": e["_rev"], "_deleted": True} for e in cleared])
        out.wake_jobs |= batch.jobs_to_wake(done_ids)
        if self.parked_ids is not None:
            self.parked_ids.difference_update(e["doc_id"] for e in cleared)
        return out

    def _load(
        self, live: dict[str, Change], batch: BatchContext, out: BatchOutcome
    ) -> tuple[dict[str, Doc], dict[str, Doc], dict[str, Doc]]:
        """The changed docs, their infodocs and parked errors."""
        docs: dict[str, Doc] = {}
        infos: dict[str, Doc] = {}
        echoes: set[str] = set()
        for change in live.values():
            echo = self.recent.take(change)
            if echo is not None:  # the feed's echo of our own write: nothing to read
                docs[change.id] = echo[0]
                echoes.add(change.id)
                if echo[1] is not None:
                    infos[change.id] = echo[1]
            elif change.doc is not None:  # sent with the feed
                docs[change.id] = change.doc
        docs.update(self.retry(self.main.all_docs, [i for i in live if i not in docs]))
        out.echoes = len(echoes)
        self._observe(docs.values())
        # echoes (served from memory, or evicted but known by their rev) were entered when written:
        # observing them again would re-read their index entries (due-hour buckets with thousands of ids)
        ours = {i for i in docs if i not in echoes and self.recent.ours(live[i])}
        batch.index.observe(doc for i, doc in docs.items() if i not in echoes and i not in ours)
        self.cache.forget(i for i in live if i not in docs)  # deleted meanwhile
        # an echo's parked error (if any) was cleared by the write it echoes
        may_be_parked = [i for i in live if i not in infos and (self.parked_ids is None or i in self.parked_ids)]
        wanted = [infodoc.infodoc_id(i) for i in live if i not in infos] + [error_doc_id(i) for i in may_be_parked]
        found = self.retry(self.sentinel.all_docs, wanted)
        parked: dict[str, Doc] = {}
        for doc_id in live:
            if infodoc.infodoc_id(doc_id) in found:
                infos[doc_id] = found[infodoc.infodoc_id(doc_id)]
            if error_doc_id(doc_id) in found:
                parked[doc_id] = found[error_doc_id(doc_id)]
        batch.add(docs.values())
        return docs, infos, parked

    def _prefetch(self, batch: BatchContext, docs: list[Doc], transitions: Sequence[ModuleType]) -> None:
        """Bulk-load lineage and lookups, only for the documents some transition may run on."""
        if not docs:
            return
        self.retry(batch.prefetch, docs)
        for transition in transitions:
            if hasattr(transition, "prefetch"):
                self.retry(transition.prefetch, docs, batch)

    def _observe(self, docs: Iterable[Doc]) -> None:
        """Tell the cross-batch cache about new versions: contacts are kept, anything else forgotten
        (with any lookup it answered: it may have been a contact before)."""
        for doc in docs:
            (self.cache.observe(doc) if lineage.is_contact(doc) else self.cache.forget([doc["_id"]]))

    def _run_deletion_hooks(self, deleted: dict[str, Change], batch: BatchContext, transitions: Sequence[ModuleType], out: BatchOutcome) -> None:
        hooks = [t for t in transitions if hasattr(t, "on_delete")]
        for change in deleted.values() if hooks else ():
            ctx = Context(batch, change.id, change.seq, infodoc.blank(change.id))
            for transition in hooks:
                try:
                    transition.on_delete(change.id, ctx)
                except TransientError:
                    raise
                except Exception as exc:
                    log.exception("%s.on_delete failed for %s", transition.name, change.id)
                    batch.unstage_origin(change.id)
                    out.failed.append((change, f"{transition.name}.on_delete: {type(exc).__name__}: {exc}"))
                    break

    # --- one document --------------------------------------------------------------------------------
    def _apply(
        self, stored: Doc, info: Doc, change: Change, batch: BatchContext, transitions: Sequence[ModuleType], now: datetime
    ) -> dict[str, bool]:
        """Run the candidate transitions on a hydrated copy of `stored`; stage it if changed. {name: ok}."""
        doc = batch.hydrated(stored)
        doc.pop("transitions", None)  # CHT < 3.0 kept run records on the doc itself
        ctx = Context(batch, change.id, change.seq, info)
        results: dict[str, bool] = {}
        for transition in transitions:
            if not self._can_run(transition, doc, ctx):
                continue
            try:
                changed = transition.run(doc, ctx)
            except TransientError:
                raise
            except Exception as exc:
                name = transition.name
                log.error("Transition %s failed on %s: %s: %s", name, change.id, type(exc).__name__, exc)
                add_error(doc, {"code": f"{name}_error'", "message": f"Transition error on {name}: {exc}"})
                results[name] = False
                continue
            if changed:
                results[transition.name] = True
        if results:
            batch.stage(lineage.minify(doc), origin=change.id)
        return results

    @staticmethod
    def _candidates(transitions: Sequence[ModuleType], stored: Doc, info: Doc) -> tuple[ModuleType, ...]:
        """The transitions whose run records allow them on this revision; their filters decide later.

        Skipped: a transition whose `doc_types` exclude the document's type, one recorded at this rev generation (CHT isRevSame), one that already ran
        (`runs_once = True`, the default), or that already ran successfully (`runs_once = "until_ok"`).
        Cheap, and no hydration: a document no transition may run on is never hydrated.
        """
        recorded = info.get("transitions") if isinstance(info.get("transitions"), dict) else {}
        legacy = stored.get("transitions") if isinstance(stored.get("transitions"), dict) else {}
        generation = rev_generation(stored.get("_rev"))
        chosen = []
        for transition in transitions:
            doc_types = getattr(transition, "doc_types", None)
            if doc_types is not None and stored.get("type") not in doc_types:
                continue
            record = recorded.get(transition.name)
            if not isinstance(record, dict):
                record = legacy.get(transition.name) if isinstance(legacy.get(transition.name), dict) else None
            if record is not None and generation == rev_generation(record.get("last_rev")):
                continue
            mode = getattr(transition, "runs_once", True)
            ran = recorded.get(transition.name)
            if mode is True and ran:
                continue
            if mode == "until_ok" and isinstance(ran, dict) and ran.get("ok"):
                continue
            chosen.append(transition)
        return tuple(chosen)

    @staticmethod
    def _can_run(transition: ModuleType, doc: Doc, ctx: Context) -> bool:
        try:
            return bool(transition.filter(doc, ctx))
        except TransientError:
            raise
        except Exception as exc:  # CHT: a filter that throws means "does not apply"
            log.error("Filter of %s failed on %s: %s: %s", transition.name, ctx.doc_id, type(exc).__name__, exc)
            return False

    # --- writes ------------------------------------------------------------------------------------
    def _write_docs(self, batch: BatchContext, live: dict[str, Change], out: BatchOutcome) -> list[str]:
        """Save every staged doc; returns the ids of the changes whose writes all succeeded."""
        staged = batch.staged()
        failed_origins: dict[str, str] = {change.id: "" for change, _ in out.failed}
        requeue: set[str] = set()
        if staged:
            docs = [doc for doc, _ in staged]
            results = self.retry(self.main.bulk_docs, docs)
            conflicted = [doc for doc, result in zip(docs, results) if result.get("error") == "conflict"]
            ours = self._already_written(conflicted)
            for (doc, origins), result in zip(staged, results):
                error = result.get("error")
                if error is None or doc["_id"] in ours:
                    out.written += 1
                    continue
                if error == "conflict":
                    requeue.update(origins)
                    continue
                message = f"saving {doc['_id']}: {error}: {result.get('reason', '')}"
                log.error("Could not save %s: %s", doc["_id"], message)
                for origin in origins:
                    failed_origins.setdefault(origin, message)
            for doc, result in zip(docs, results):
                if result.get("error") is None:
                    self.recent.remember(doc)
            self._observe(doc for doc, result in zip(docs, results) if result.get("error") is None)
            self.cache.forget(doc["_id"] for doc, result in zip(docs, results) if result.get("error") is not None)
        for origin, message in failed_origins.items():
            if message and origin in live:
                out.failed.append((live[origin], message))
        out.requeue.extend(live[i] for i in requeue if i in live and i not in failed_origins)
        return [i for i in live if i not in requeue and i not in failed_origins]

    def _already_written(self, conflicted: list[Doc]) -> set[str]:
        """Ids among 409s whose current content is exactly ours: a retried request that had succeeded."""
        if not conflicted:
            return set()
        current = self.retry(self.main.all_docs, [d["_id"] for d in conflicted])
        same = set()
        for doc in conflicted:
            now = current.get(doc["_id"])
            if now is not None and _without_rev(now) == _without_rev(doc):
                doc["_rev"] = now["_rev"]
                same.add(doc["_id"])
        return same

    def _save_sentinel_docs(self, pending: list[Doc], entries: dict[str, tuple[Doc, set[str]]] | None = None) -> None:
        """Save infodocs, index entries or parked-error deletions; a 409 merges ours over the newer version.

        `entries` are the index docs among them, each with the ids it drops (see `lookups.merge`).
        """
        entries = entries or {}
        for _ in range(INFODOC_WRITE_ATTEMPTS):
            if not pending:
                return
            results = self.retry(self.sentinel.bulk_docs, pending)
            for doc, result in zip(pending, results):
                if result.get("error") is None and doc.get("type") == "info" and isinstance(doc.get("doc_id"), str):
                    self.recent.remember_info(doc["doc_id"], doc)
                if result.get("error") is None and doc.get("type") == "sms_history":
                    self.history.saved(doc["_id"], result.get("rev"))
            conflicted = [doc for doc, r in zip(pending, results) if r.get("error") == "conflict" and not doc.get("_deleted")]
            for doc, result in zip(pending, results):
                if result.get("error") not in (None, "conflict"):
                    log.error("Could not save %s: %s: %s", doc["_id"], result.get("error"), result.get("reason"))
            current = self.retry(self.sentinel.all_docs, [d["_id"] for d in conflicted]) if conflicted else {}
            pending = [self._merge(current.get(d["_id"]), d, entries) for d in conflicted]
        if pending:
            log.error("Gave up saving %d sentinel docs after %d attempts", len(pending), INFODOC_WRITE_ATTEMPTS)

    def _merge(self, current: Doc | None, ours: Doc, entries: dict[str, tuple[Doc, set[str]]]) -> Doc:
        """Our sentinel doc over the version a 409 revealed (none: it was deleted meanwhile)."""
        if current is None:
            return _without_rev(ours)
        if ours["_id"] in entries:
            return lookups.merge(current, ours, entries[ours["_id"]][1])
        if ours.get("type") == "sms_history":
            return self.history.merge(current, ours)
        return infodoc.merge_into(current, ours)

    # --- parking -----------------------------------------------------------------------------------
    def park(self, failures: list[tuple[Change, str]], now: datetime) -> None:
        """Record failed changes in the sentinel database so they are retried later, never lost."""
        if not failures:
            return
        ids = [error_doc_id(change.id) for change, _ in failures]
        existing = self.retry(self.sentinel.all_docs, ids)
        docs = {}
        for change, message in failures:
            docs[change.id] = parked_doc(change.id, change.seq, message, now, existing.get(error_doc_id(change.id)))
        results = self.retry(self.sentinel.bulk_docs, list(docs.values()))
        for doc, result in zip(docs.values(), results):
            if result.get("error"):
                log.error("Could not park %s: %s", doc["doc_id"], result.get("error"))


def _without_rev(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k != "_rev"}
