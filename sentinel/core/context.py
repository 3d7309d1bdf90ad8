"""What transitions see of the world during one batch, loaded in bulk before they run.

`BatchContext` holds the batch's single in-memory copy of every document it loaded: the changed
documents, their lineage and subjects, and contacts found by phone or reference. Two transitions, or
two reports in one batch, that edit the same document therefore build on each other instead of
racing to a 409. Lookups that were not prefetched are fetched lazily and cached, so they stay correct,
only slower.

`Context` is the per-document view handed to `filter`/`run`: the batch plus the document's infodoc.

Reads:  the main database (`_all_docs`, the id generator's `shortcode-id-length` doc) and Sentinel's
        lookup index (`lookups.LookupIndex`, in the sentinel database) for contacts by phone, short
        code or rc_code and for codes in use.
Writes: nothing; `stage()` records documents for the pipeline to save with one `_bulk_docs`, and
        `stage_infodoc()` / `stage_sentinel_doc()` sentinel-database documents it saves with the infodocs.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from sentinel.core import infodoc, lineage

from sentinel.core.cache import LookupCache
from sentinel.core.couch import CouchDB
from sentinel.core.ddocs import SENTINEL_DDOC
from sentinel.core.docs import Doc, is_report, patient_ref, place_ref
from sentinel.core.history import MessageHistory
from sentinel.core.ids import ShortcodePool
from sentinel.core.lookups import Key, LookupIndex, keys_of, make_key
from sentinel.core.settings import Settings

MAX_LINEAGE_ROUNDS = 8



def subject_keys(report: Doc) -> set[str]:
    """The subject ids a report is found by: the keys `reports_by_subject` emits for it."""
    fields = report.get("fields") if isinstance(report.get("fields"), dict) else {}
    values = (fields.get("patient_id"), fields.get("patient_uuid"), report.get("patient_id"), fields.get("place_id"),
              fields.get("place_uuid"), report.get("place_id"), fields.get("case_id"), report.get("case_id"))
    return {str(v) for v in values if v and not isinstance(v, (dict, list, bool))}


class BatchContext:
    def __init__(
        self,
        main: CouchDB,
        index: LookupIndex,
        settings: Settings,
        now: datetime,
        cache: LookupCache | None = None,
        history: MessageHistory | None = None,
    ):
        self.main = main
        self.index = index
        self.cache = cache if cache is not None else LookupCache()
        self.settings = settings
        self.now = now
        self._docs: dict[str, Doc] = {}
        self._missing: set[str] = set()
        self._lookups: dict[Key, list[str]] = {}  # ("phone"|"shortcode"|"external", value) -> doc ids
        self._staged: dict[str, set[str]] = {}
        self._subject_reports: dict[str, list[str]] = {}  # subject id -> report ids (the view's order)
        self._views: dict[str, list[dict[str, Any]]] = {}
        self._infos: dict[str, Doc] = {}  # infodocs by document id: the batch's own and those loaded for others
        self._staged_infos: dict[str, set[str]] = {}
        self._sentinel_docs: dict[str, Doc | None] = {}  # other sentinel-database docs (outbound tasks), by _id
        self._staged_sentinel: dict[str, set[str]] = {}
        self._wakes: dict[str, str] = {}  # staged sentinel doc id -> the scheduled job that acts on it
        self._created: set[str] = set()  # ids of documents this batch creates (staged without a _rev)
        self.memo: dict[Any, Any] = {}  # per-batch caches of transitions (e.g. multi_report_alerts' window)
        self.changed_docs: list[Doc] = []  # the documents of the batch's changes, as stored (set by the pipeline)
        self.shortcodes = ShortcodePool(main, self.codes_in_use)
        self.history = history if history is not None else MessageHistory()  # kept across batches by the pipeline

    # --- the in-memory copies -------------------------------------------------------------------
    def add(self, docs: Iterable[Doc]) -> None:
        for doc in docs:
            self._docs[doc["_id"]] = doc
            self._missing.discard(doc["_id"])

    def lookup(self, doc_id: str) -> Doc | None:
        """The batch's copy of a document, without fetching."""
        return self._docs.get(doc_id)

    def load_many(self, ids: Iterable[str]) -> None:
        """Fetch, in one request, every id not loaded or known missing yet."""
        wanted = [i for i in dict.fromkeys(ids) if i and i not in self._docs and i not in self._missing]
        unknown = []
        for doc_id in wanted:
            cached = self.cache.get_doc(doc_id)
            if cached is not None:
                self._docs[doc_id] = cached
            else:
                unknown.append(doc_id)
        if not unknown:
            return
        found = self.main.all_docs(unknown)
        self.add(found.values())
        for doc in found.values():
            self.cache.put_doc(doc)
        self._missing.update(i for i in unknown if i not in found)

    def load(self, doc_id: str) -> Doc | None:
        self.load_many([doc_id])
        return self._docs.get(doc_id)

    def complete_lineage(self, docs: Iterable[Doc]) -> None:
        """Load, in a few bulk rounds, every document hydrating `docs` needs (parents, contacts, ...)."""
        frontier = list(docs)
        for _ in range(MAX_LINEAGE_ROUNDS):
            needed = lineage.ids_to_load(frontier)
            new = [i for i in needed if i not in self._docs and i not in self._missing]
            if not new:
                return
            self.load_many(new)
            frontier = [self._docs[i] for i in new if i in self._docs]

    # --- prefetching for the whole batch -----------------------------------------------------------
    def prefetch(self, docs: list[Doc]) -> None:
        """Resolve every report's subject at once, then load all lineage, in a few bulk requests."""
        reports = [d for d in docs if is_report(d)]
        refs = [patient_ref(d) for d in reports] + [place_ref(d) for d in reports]
        self._prefetch([k for k in (make_key("shortcode", r) for r in refs) if k])
        subjects = [s for s in (self.subject_uuid(r) for r in dict.fromkeys(r for r in refs if isinstance(r, str))) if s]
        self.load_many(subjects)
        self.complete_lineage([*docs, *(self._docs[s] for s in subjects if s in self._docs)])

    def prefetch_references(self, kind: str, values: Iterable[Any]) -> None:
        """Look up many `contacts_by_reference` keys in one request (transitions' `prefetch` hooks use this)."""
        self._prefetch([k for k in (make_key(kind, v) for v in values) if k])

    def prefetch_phones(self, phones: Iterable[Any]) -> None:
        """Look up many senders in `contacts_by_phone` in one request, and load their lineage."""
        keys = [k for k in (make_key("phone", p) for p in phones) if k]
        self._prefetch(keys)
        self.complete_lineage([self._docs[i] for k in keys for i in self._lookups.get(k, []) if i in self._docs])

    def _prefetch(self, keys: list[Key]) -> None:
        """Answer lookups from the cross-batch cache, the rest from the lookup index in one read.

        The index gives candidates; only those whose current version has the key are kept (see
        `lookups`), in id order like a view, and the others are dropped from the index.
        """
        to_read: list[Key] = []
        for key in dict.fromkeys(keys):
            if key in self._lookups:
                continue
            cached = self.cache.get_key(key)
            if cached is None:
                to_read.append(key)
            else:
                self._lookups[key] = cached
                self.load_many(cached)
        if not to_read:
            return
        candidates = self.index.candidates(to_read)
        self.load_many(i for ids in candidates.values() for i in ids)
        for key, ids in candidates.items():
            matching = []
            for doc_id in ids:
                doc = self._docs.get(doc_id)
                if doc is not None and key in keys_of(doc):
                    matching.append(doc_id)
                else:
                    self.index.drop(key, doc_id)
            self._lookups[key] = matching
            if key[0] != "code":
                self.cache.put_key(key, matching)

    def codes_in_use(self, codes: list[str]) -> set[str]:
        """Which of `codes` some document has as patient_id, place_id or case_id (for the id generator).

        Every index entry counts, even one a newer version may have dropped: never hand out a code twice.
        """
        found = self.index.candidates([("code", c) for c in codes])
        return {key[1] for key, ids in found.items() if ids}

    def reports_by_subject(self, ids: Iterable[Any]) -> list[Doc]:
        """Reports about any of these subject ids (patient/place uuids or codes, case ids), each once,
        in CHT's order (getReportsBySubject: the view's rows for each id in turn, those of one id by
        document id; not by date). The batch's own copies win over the stored ones, and reports this
        batch wrote (a registration processed earlier in the batch) are included, as a one-at-a-time
        Sentinel would have seen them. Stored answers are cached for the batch.
        View `sentinel/reports_by_subject`."""
        keys = tuple(dict.fromkeys(str(i) for i in ids if isinstance(i, (str, int)) and not isinstance(i, bool) and i != ""))
        if not keys:
            return []
        self.prefetch_subject_reports(keys)
        ids_found = dict.fromkeys(i for key in keys for i in self._subject_reports[key])
        wanted = set(keys)
        for doc_id in self._staged:  # written by this batch, not in the view yet
            doc = self._docs.get(doc_id)
            if doc_id not in ids_found and isinstance(doc, dict) and is_report(doc) and wanted & subject_keys(doc):
                ids_found[doc_id] = None
        return [self._docs[i] for i in ids_found if i in self._docs]

    def prefetch_subject_reports(self, ids: Iterable[Any]) -> None:
        """Read, in one request, the stored reports about every subject id not read yet this batch."""
        keys = [k for k in dict.fromkeys(str(i) for i in ids if isinstance(i, (str, int)) and not isinstance(i, bool) and i != "")
                if k not in self._subject_reports]
        for key in keys:
            self._subject_reports[key] = []
        # a contact this batch creates cannot be named by a stored report yet: nothing to ask
        keys = [k for k in keys if k not in self._created]
        if not keys:
            return
        for row in self.main.view(SENTINEL_DDOC, "reports_by_subject", keys=keys, include_docs=True):
            doc = row.get("doc")
            key = row.get("key")
            if isinstance(doc, dict) and key in self._subject_reports and doc.get("_id") not in self._subject_reports[key]:
                self._subject_reports[key].append(doc["_id"])
                self._docs.setdefault(doc["_id"], doc)

    def view(self, ddoc: str, view: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of one of our views (`ddocs/`), read once per batch for the same parameters. With
        `include_docs`, documents the batch already holds are given as the batch's copies."""
        key = json.dumps([ddoc, view, params], sort_keys=True, default=str)
        if key not in self._views:
            keys = params.pop("keys", None)
            rows = self.main.view(ddoc, view, keys=keys, **params)
            for row in rows:
                doc = row.get("doc")
                if isinstance(doc, dict) and isinstance(doc.get("_id"), str):
                    row["doc"] = self._docs.setdefault(doc["_id"], doc)
            self._views[key] = rows
        return self._views[key]

    # --- infodocs of other documents (muting history, ...) ----------------------------------------
    def add_infos(self, infos: dict[str, Doc]) -> None:
        """The pipeline hands in the infodocs of the batch's changes (the same objects it will save)."""
        self._infos.update(infos)

    def infodocs(self, doc_ids: Iterable[str]) -> dict[str, Doc]:
        """The infodocs of these documents (blank ones for those without), loaded in one request."""
        wanted = [i for i in dict.fromkeys(doc_ids) if isinstance(i, str) and i not in self._infos]
        if wanted:
            found = self.index.sentinel.all_docs(infodoc.infodoc_id(i) for i in wanted)
            for doc_id in wanted:
                self._infos[doc_id] = found.get(infodoc.infodoc_id(doc_id)) or infodoc.blank(doc_id)
        return {i: self._infos[i] for i in doc_ids if i in self._infos}

    def stage_infodoc(self, doc_id: str, origin: str) -> None:
        """Save the (changed) infodoc of `doc_id` with the batch's infodocs."""
        self.infodocs([doc_id])
        self._staged_infos.setdefault(doc_id, set()).add(origin)

    def staged_infodocs(self) -> list[tuple[Doc, set[str]]]:
        """The sentinel-database documents to save with the batch's infodocs: infodocs staged with
        `stage_infodoc`, then documents staged with `stage_sentinel_doc`. (After a 409 the pipeline
        keeps the stored version and lays only an infodoc's `transitions` over it.)"""
        return ([(self._infos[i], origins) for i, origins in self._staged_infos.items()]
                + [(self._sentinel_docs[i], origins) for i, origins in self._staged_sentinel.items()])

    # --- other documents of the sentinel database (outbound tasks) ----------------------------------
    def sentinel_docs(self, ids: Iterable[str]) -> dict[str, Doc]:
        """These sentinel-database documents (those that exist), read once per batch in one request;
        a document staged with `stage_sentinel_doc` is given as staged."""
        ids = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
        wanted = [i for i in ids if i not in self._sentinel_docs]
        if wanted:
            found = self.index.sentinel.all_docs(wanted)
            for doc_id in wanted:
                self._sentinel_docs[doc_id] = found.get(doc_id)
        return {i: self._sentinel_docs[i] for i in ids if self._sentinel_docs.get(i) is not None}

    def stage_sentinel_doc(self, doc: Doc, origin: str, job: str | None = None) -> None:
        """Save `doc` in the sentinel database with the batch's infodocs (only if the change `origin`
        is done). Use a deterministic `_id`; a 409 keeps the stored version. `job`: the scheduled job
        that acts on the document, asked to run as soon as the batch is saved (not at its next interval)."""
        if not isinstance(doc.get("_id"), str) or not doc["_id"]:
            raise ValueError("a staged document needs an _id (use a deterministic one, for idempotence)")
        self._sentinel_docs[doc["_id"]] = doc
        self._staged_sentinel.setdefault(doc["_id"], set()).add(origin)
        if job is not None:
            self._wakes[doc["_id"]] = job

    def jobs_to_wake(self, done: set[str]) -> set[str]:
        """The scheduled jobs that documents staged by these done changes are waiting for."""
        return {job for doc_id, job in self._wakes.items() if self._staged_sentinel.get(doc_id, set()) & done}

    def validation_query(self, view: str, keys: list[Any]) -> list[dict[str, Any]]:
        """The `query` of `validation`: reports by field value from their view, and contacts by
        phone (`uniquePhone`) from the lookup index, as view rows `{id, key}`."""
        if view == "lookups":
            rows = []
            for key in keys:
                if isinstance(key, list) and len(key) == 2:
                    rows += [{"id": doc["_id"], "key": key} for doc in self.contacts_by_reference(key[0], key[1])]
            return rows
        return self.main.view(SENTINEL_DDOC, view, keys=keys)

    # --- lookups for transitions -----------------------------------------------------------------
    def subject_uuid(self, ref: Any) -> str | None:
        """CHT: a patient/place reference is a shortcode if one matches, else taken as a doc `_id`."""
        key = make_key("shortcode", ref)
        if key is None:
            return None
        self._prefetch([key])
        ids = self._lookups.get(key) or []
        return ids[0] if ids else (ref if isinstance(ref, str) else None)

    def contacts_by_phone(self, phone: Any) -> list[Doc]:
        """Contacts whose `phone` is `phone` (as a string), in id order."""
        return self.contacts_by_reference("phone", phone)

    def contacts_by_reference(self, kind: str, value: Any) -> list[Doc]:
        """Contacts by "phone", "shortcode" (patient_id/place_id) or "external" (rc_code), in id order."""
        key = make_key(kind, value)
        if key is None:
            return []
        self._prefetch([key])
        return [self._docs[i] for i in self._lookups.get(key, []) if i in self._docs]

    def hydrated(self, doc: Doc) -> Doc:
        """A hydrated deep copy of `doc` (contact, parents, their contacts, patient and place)."""
        self.complete_lineage([doc])
        patient = place = None
        if is_report(doc):
            patient, place = self.subject_uuid(patient_ref(doc)), self.subject_uuid(place_ref(doc))
            self.load_many([p for p in (patient, place) if p])
            self.complete_lineage([self._docs[p] for p in (patient, place) if p and p in self._docs])
        return lineage.hydrate(doc, self.lookup, patient, place)

    def hydrated_contact(self, doc_id: str) -> Doc | None:
        found = self.load(doc_id)
        if found is None:
            return None
        self.complete_lineage([found])
        return lineage.hydrate_contact(doc_id, self.lookup)

    # --- writes ----------------------------------------------------------------------------------
    def stage(self, doc: Doc, origin: str) -> None:
        """Save `doc` at the end of the batch; `origin` is the id of the change that caused it."""
        if not isinstance(doc.get("_id"), str) or not doc["_id"]:
            raise ValueError("a staged document needs an _id (use a deterministic one, for idempotence)")
        self._docs[doc["_id"]] = doc
        self._missing.discard(doc["_id"])
        self._staged.setdefault(doc["_id"], set()).add(origin)
        if "_rev" not in doc:
            self._created.add(doc["_id"])
        self.index.observe([doc])
        keys = keys_of(doc)
        for key in keys:  # later lookups in this batch find it (and stop finding it under old keys)
            if key in self._lookups and doc["_id"] not in self._lookups[key]:
                self._lookups[key] = sorted([*self._lookups[key], doc["_id"]])
        for key, ids in self._lookups.items():
            if doc["_id"] in ids and key not in keys:
                self._lookups[key] = [i for i in ids if i != doc["_id"]]

    def staged(self) -> list[tuple[Doc, set[str]]]:
        """Documents to write, each with the ids of the changes that staged it."""
        return [(self._docs[i], origins) for i, origins in self._staged.items()]

    def unstage_origin(self, origin: str) -> None:
        """Forget the writes a failed change staged (documents other changes staged too are kept)."""
        for staged in (self._staged, self._staged_infos, self._staged_sentinel):
            for doc_id in [i for i, o in staged.items() if o == {origin}]:
                del staged[doc_id]
            for origins in staged.values():
                origins.discard(origin)


class Context:
    """The view of one document's processing that `filter` and `run` receive."""

    def __init__(self, batch: BatchContext, doc_id: str, seq: Any, info: Doc):
        self.batch = batch
        self.doc_id = doc_id
        self.seq = seq
        self.info = info

    @property
    def settings(self) -> Settings:
        return self.batch.settings

    @property
    def now(self) -> datetime:
        return self.batch.now

    def section(self, name: str) -> Any:
        return self.batch.settings.section(name)

    def has_run(self, name: str) -> bool:
        """True when the infodoc records `name` as having run on this document (CHT hasRun)."""
        recorded = self.info.get("transitions")
        return isinstance(recorded, dict) and bool(recorded.get(name))

    def load(self, doc_id: str) -> Doc | None:
        return self.batch.load(doc_id)

    def stage(self, doc: Doc) -> None:
        self.batch.stage(doc, origin=self.doc_id)

    def contacts_by_phone(self, phone: Any) -> list[Doc]:
        return self.batch.contacts_by_phone(phone)

    def contacts_by_reference(self, kind: str, value: Any) -> list[Doc]:
        return self.batch.contacts_by_reference(kind, value)

    def reports_by_subject(self, ids: Iterable[Any]) -> list[Doc]:
        return self.batch.reports_by_subject(ids)

    def view(self, ddoc: str, view: str, **params: Any) -> list[dict[str, Any]]:
        return self.batch.view(ddoc, view, **params)

    def infodocs(self, doc_ids: Iterable[str]) -> dict[str, Doc]:
        """Other documents' infodocs (this document's own is `self.info`); change one, then `stage_infodoc`."""
        return self.batch.infodocs(doc_ids)

    def stage_infodoc(self, doc_id: str) -> None:
        self.batch.stage_infodoc(doc_id, origin=self.doc_id)

    def hydrated_contact(self, doc_id: str) -> Doc | None:
        return self.batch.hydrated_contact(doc_id)

    def sentinel_docs(self, ids: Iterable[str]) -> dict[str, Doc]:
        """Documents of the sentinel database (outbound tasks); change one, then `stage_sentinel_doc`."""
        return self.batch.sentinel_docs(ids)

    def stage_sentinel_doc(self, doc: Doc, job: str | None = None) -> None:
        self.batch.stage_sentinel_doc(doc, origin=self.doc_id, job=job)

    def next_shortcode(self) -> str:
        """A new patient/place/case id, unique in the database and within this batch."""
        return self.batch.shortcodes.next()

    def translate(self, key: str, locale: str | None = None) -> str:
        return self.batch.settings.translate(key, locale)
