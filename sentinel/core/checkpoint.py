"""The feed checkpoint: `_local/transitions-seq` `{"value": <last processed seq>}` in the sentinel database.

The value is stored exactly as the server gave it (an integer from PouchDB Server, an opaque string
from CouchDB) and is only ever passed back as `since`. A missing doc means "from the beginning" (`0`).

`save()` uses the revision it last saw: if someone else moved the checkpoint (CHT's test tooling skips
it forward; an operator may reset it) the save gets a 409, and we adopt their value instead of
overwriting it.
"""
from __future__ import annotations

import logging
from typing import Any

from sentinel.core.couch import CouchDB
from sentinel.core.errors import Conflict

log = logging.getLogger(__name__)

CHECKPOINT_ID = "_local/transitions-seq"
START = "0"


class Checkpoint:
    def __init__(self, db: CouchDB, doc_id: str = CHECKPOINT_ID):
        self.db = db
        self.doc_id = doc_id
        self._rev: str | None = None
        self.value: Any = START

    def load(self) -> Any:
        doc = self.db.get(self.doc_id)
        self._rev = doc.get("_rev") if doc else None
        self.value = doc.get("value", START) if doc else START
        if self.value is None:
            self.value = START
        return self.value

    def save(self, value: Any) -> Any:
        """Store `value`; returns the value now in force (someone else's, if they moved it meanwhile)."""
        doc: dict[str, Any] = {"_id": self.doc_id, "value": value}
        if self._rev:
            doc["_rev"] = self._rev
        try:
            self._rev = self.db.put(doc)
            self.value = value
        except Conflict:
            previous = self.value
            self.load()
            log.warning("The checkpoint was moved by someone else (from %s to %s): continuing from there", previous, self.value)
        return self.value
