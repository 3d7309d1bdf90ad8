"""Design documents from `ddocs/`, one folder per ddoc, installed at start-up when their content changed.

Layout of a folder `ddocs/<name>/` (becomes `_design/<name>`):
    database                    "main" or "sentinel": which database it belongs in
    views/<view>/map.js         the map function
    views/<view>/reduce         optional: a built-in reduce such as _count (or reduce.js for JS)
    validate_doc_update.js      optional
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sentinel.core.couch import CouchDB
from sentinel.core.errors import Conflict
from sentinel.core.paths import DDOCS_DIR

log = logging.getLogger(__name__)


def read_ddoc(folder: Path) -> tuple[str, dict[str, Any]]:
    """(target database, design document) of one `ddocs/<name>/` folder."""
    database = (folder / "database").read_text().strip()
    if database not in ("main", "sentinel"):
        raise ValueError(f"{folder}/database must say 'main' or 'sentinel', not {database!r}")
    views: dict[str, dict[str, str]] = {}
    for view_dir in sorted((folder / "views").iterdir()) if (folder / "views").is_dir() else ():
        view = {"map": (view_dir / "map.js").read_text().strip()}
        for reduce_file in ("reduce", "reduce.js"):
            if (view_dir / reduce_file).exists():
                view["reduce"] = (view_dir / reduce_file).read_text().strip()
        views[view_dir.name] = view
    ddoc: dict[str, Any] = {"_id": f"_design/{folder.name}", "language": "javascript", "views": views}
    if (folder / "validate_doc_update.js").exists():
        ddoc["validate_doc_update"] = (folder / "validate_doc_update.js").read_text().strip()
    return database, ddoc


SENTINEL_DDOC = "sentinel"  # every view Sentinel queries in the main database is in `_design/sentinel`
# Design documents of earlier versions, removed at start-up: on PouchDB Server every design document in a
# database makes each write to it slower (about 9 ms more per `_bulk_docs` of 500, whatever its views),
# so Sentinel keeps all its views in one.
OBSOLETE = ("_design/sentinel-reports", "_design/sentinel-orders", "_design/sentinel-appointments", "_design/sentinel-gateway")


def all_ddocs(root: Path = DDOCS_DIR) -> list[tuple[str, dict[str, Any]]]:
    return [read_ddoc(folder) for folder in sorted(root.iterdir()) if (folder / "database").exists()]


def install(main: CouchDB, sentinel: CouchDB, root: Path = DDOCS_DIR) -> list[str]:
    """Write every ddoc whose content differs from the installed one; returns the ids written."""
    written = []
    for database, ddoc in all_ddocs(root):
        db = main if database == "main" else sentinel
        for _ in range(3):
            current = db.get(ddoc["_id"])
            if current is not None and {k: v for k, v in current.items() if k != "_rev"} == ddoc:
                break
            doc = dict(ddoc, _rev=current["_rev"]) if current else dict(ddoc)
            try:
                db.put(doc)
            except Conflict:
                continue
            log.info("Installed %s in %s", ddoc["_id"], db.name)
            written.append(ddoc["_id"])
            break
    for ddoc_id in OBSOLETE:
        current = main.get(ddoc_id)
        if current is not None:
            try:
                main.delete_doc(ddoc_id, current["_rev"])
                log.info("Removed %s from %s (its views are in _design/%s now)", ddoc_id, main.name, SENTINEL_DDOC)
            except Conflict:
                pass  # changed meanwhile: removed at the next start
    return written
