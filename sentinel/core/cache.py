"""Memory kept across batches: contact and place documents, and lookups by phone or short code.

Reports from the same health workers need the same lineage and the same phone lookups batch after
batch; reading them again (documents, and the lookup index of `lookups.py`) would cost more than the
transitions. Entries are exact as of the feed position Sentinel has
processed: every change in a batch drops its cached content, a changed contact forgets exactly the
lookups its change affects (a phone or code it gained or lost), and a deletion forgets every lookup
that involved the document, before anything is read. So a cached answer is what a read at that point
of the feed would have given. Sentinel's own writes are observed the same way, and a 409 forgets the
documents involved.

Reads and writes: memory only. Bounded by MAX_DOCS documents and MAX_KEYS lookups (least recently used
go first). Documents are kept as compact JSON, so every `get_doc` returns a private copy.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Iterable

from sentinel.core.docs import Doc
from sentinel.core.lookups import Key, keys_of

MAX_DOCS = 5000
MAX_KEYS = 20000

class LookupCache:
    def __init__(self, max_docs: int = MAX_DOCS, max_keys: int = MAX_KEYS):
        self.max_docs = max_docs
        self.max_keys = max_keys
        self._docs: OrderedDict[str, bytes] = OrderedDict()
        self._keys: OrderedDict[Key, list[str]] = OrderedDict()
        self._keys_by_id: dict[str, set[Key]] = {}
        self._doc_keys: dict[str, frozenset[Key]] = {}  # the lookup keys of the version last observed

    # --- documents ---------------------------------------------------------------------------------
    def get_doc(self, doc_id: str) -> Doc | None:
        raw = self._docs.get(doc_id)
        if raw is None:
            return None
        self._docs.move_to_end(doc_id)
        return json.loads(raw)

    def put_doc(self, doc: Doc) -> None:
        self._docs[doc["_id"]] = json.dumps(doc, separators=(",", ":")).encode()
        self._docs.move_to_end(doc["_id"])
        self._doc_keys[doc["_id"]] = frozenset(keys_of(doc))
        while len(self._docs) > self.max_docs:
            old, _ = self._docs.popitem(last=False)
            self._doc_keys.pop(old, None)

    def drop_doc(self, doc_id: str) -> None:
        """Forget a document's content (it changed) but not yet the lookups: see `observe`."""
        self._docs.pop(doc_id, None)

    # --- lookups -----------------------------------------------------------------------------------
    def get_key(self, key: Key) -> list[str] | None:
        try:
            ids = self._keys[key]
        except (KeyError, TypeError):
            return None
        self._keys.move_to_end(key)
        return list(ids)

    def put_key(self, key: Key, ids: list[str]) -> None:
        self._keys[key] = list(ids)
        self._keys.move_to_end(key)
        for doc_id in ids:
            self._keys_by_id.setdefault(doc_id, set()).add(key)
        while len(self._keys) > self.max_keys:
            old, old_ids = self._keys.popitem(last=False)
            self._unlink(old, old_ids)

    def _unlink(self, key: Key, ids: list[str]) -> None:
        for doc_id in ids:
            keys = self._keys_by_id.get(doc_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_id[doc_id]

    # --- forgetting --------------------------------------------------------------------------------
    def observe(self, doc: Doc) -> None:
        """A new version of a contact: keep it, and forget exactly the lookups whose answer it changes.

        Only keys the document gained or lost are affected; when its previous keys are unknown, every
        lookup that involved it is forgotten as well.
        """
        new = frozenset(keys_of(doc))
        old = self._doc_keys.get(doc["_id"])
        if old is None:
            self.forget([doc["_id"]])
            changed: Iterable[Key] = new
        else:
            changed = old ^ new
        for key in changed:
            stale = self._keys.pop(key, None)
            if stale is not None:
                self._unlink(key, stale)
        self.put_doc(doc)

    def forget(self, ids: Iterable[str]) -> None:
        """Forget documents, and every lookup whose answer included one of them."""
        for doc_id in ids:
            self._docs.pop(doc_id, None)
            self._doc_keys.pop(doc_id, None)
            for key in self._keys_by_id.pop(doc_id, set()):
                stale = self._keys.pop(key, None)
                if stale is not None:
                    self._unlink(key, [i for i in stale if i != doc_id])
