"""Hydrating and minifying lineage, with CHT's semantics (shared-libs/lineage).

A stored document keeps only ids of its lineage: `parent: {_id, parent: {_id, ...}}` on contacts and
`contact: {_id, parent: {...}}` on reports. Transitions see them *hydrated*: every id replaced by a copy
of the document, each place's `contact` replaced by the person, and a report's subject attached as
`patient` / `place`. Before a document is saved it is *minified* back to ids.

Pure functions over a `lookup(id) -> doc | None`; the batch context supplies the lookup after loading
every needed id in bulk (`references()` says which ids a document needs). Malformed lineage (a string
where an object belongs, loops, absurd depth) never raises during hydration: whatever cannot be
followed is left as it is.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from sentinel.core.docs import HARDCODED_TYPES, Doc, clone, get_id, is_report

Lookup = Callable[[str], "Doc | None"]
MAX_DEPTH = 50  # CHT's RECURSION_LIMIT


def is_contact(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("type") == "contact" or doc.get("type") in HARDCODED_TYPES)


def parent_ids(ref: Any) -> list[str]:
    """Ids along an embedded parent chain, starting with `ref` itself; stops at loops and at MAX_DEPTH."""
    ids: list[str] = []
    current = ref
    while isinstance(current, dict) and len(ids) < MAX_DEPTH:
        node_id = get_id(current)
        if node_id is None or node_id in ids:
            break
        ids.append(node_id)
        current = current.get("parent")
    if isinstance(current, str) and current and current not in ids and len(ids) < MAX_DEPTH:
        ids.append(current)
    return ids


def references(doc: Doc) -> set[str]:
    """The ids hydrating `doc` needs directly: its contact, its parent chain, its linked docs."""
    refs: set[str] = set()
    contact = doc.get("contact")
    if is_report(doc):
        refs.update(parent_ids(contact) if isinstance(contact, dict) else filter(None, [get_id(contact)]))
    else:
        contact_id = get_id(contact)
        if contact_id:
            refs.add(contact_id)
        refs.update(parent_ids(doc.get("parent")))
        linked = doc.get("linked_docs")
        if is_contact(doc) and isinstance(linked, dict):
            refs.update(filter(None, (get_id(v) for v in linked.values())))
    refs.discard(doc.get("_id"))
    return refs


def _with_contact(doc: Doc, lookup: Lookup) -> Doc:
    contact_id = get_id(doc.get("contact"))
    found = lookup(contact_id) if contact_id else None
    if found is not None:
        doc["contact"] = clone(found)
    return doc


def _fill_parents(node: Doc, lookup: Lookup, chain: list[str]) -> None:
    """Hang copies of the documents of `chain` (parent ids, nearest first) under `node`.

    As in CHT, the chain is the one stored on the document being hydrated, even if a parent has since
    moved; a parent that cannot be found becomes a `{_id}` stub.
    """
    current = node
    for parent_id in chain:
        found = lookup(parent_id)
        parent = _with_contact(clone(found), lookup) if found is not None else {"_id": parent_id}
        current["parent"] = parent
        current = parent


def hydrate_contact(contact_id: str, lookup: Lookup) -> Doc | None:
    """A copy of the contact with its parents and their contacts hydrated (CHT fetchHydratedDoc)."""
    found = lookup(contact_id)
    if found is None:
        return None
    doc = _with_contact(clone(found), lookup)
    _fill_parents(doc, lookup, parent_ids(found.get("parent")))
    return doc


def hydrate(doc: Doc, lookup: Lookup, patient_uuid: str | None = None, place_uuid: str | None = None) -> Doc:
    """A hydrated deep copy of `doc`; `patient_uuid`/`place_uuid` are a report's resolved subjects."""
    out = clone(doc)
    if is_report(out):
        ref = out.get("contact")
        contact_id = get_id(ref)
        if contact_id:
            found = lookup(contact_id)
            contact = _with_contact(clone(found), lookup) if found is not None else {"_id": contact_id}
            # the chain stored on the report; a bare id stores none, so the contact's own is used
            chain = parent_ids(ref)[1:] if isinstance(ref, dict) else parent_ids((found or {}).get("parent"))
            _fill_parents(contact, lookup, chain)
            out["contact"] = contact
        for key, uuid in (("patient", patient_uuid), ("place", place_uuid)):
            subject = hydrate_contact(uuid, lookup) if uuid else None
            if subject is not None:
                out[key] = subject
        return out
    _with_contact(out, lookup)
    _fill_parents(out, lookup, parent_ids(out.get("parent")))
    linked = out.get("linked_docs")
    if is_contact(out) and isinstance(linked, dict):
        for key, value in linked.items():
            linked_id = get_id(value)
            found = lookup(linked_id) if linked_id else None
            if found is not None:
                linked[key] = clone(found)
    return out


def minify_lineage(parent: Any) -> Any:
    """`{_id, parent: {_id, ...}}` of a hydrated parent chain (CHT minifyLineage); loops raise ValueError."""
    if not isinstance(parent, dict) or not get_id(parent):
        return parent
    result: Doc = {"_id": parent["_id"]}
    minified = result
    for _ in range(MAX_DEPTH):
        nxt = parent.get("parent")
        if not isinstance(nxt, dict) or not get_id(nxt):
            return result
        minified["parent"] = {"_id": nxt["_id"]}
        minified = minified["parent"]
        parent = nxt
    raise ValueError(f"Could not minify {result['_id']}, possible parent recursion.")


def minify(doc: Doc) -> Doc:
    """Strip hydrated lineage back to ids, in place, exactly as CHT's lineage.minify; returns `doc`.

    One deliberate difference: a report whose `contact` is a place stub without `_id` (update_clinics'
    `{parent: place}` for a place without a primary contact) keeps only the place's id chain instead of
    the whole place document.
    """
    if doc.get("parent"):
        doc["parent"] = minify_lineage(doc["parent"])
    contact = doc.get("contact")
    if isinstance(contact, dict) and get_id(contact):
        mini: Doc = {"_id": contact["_id"]}
        if contact.get("parent"):
            mini["parent"] = minify_lineage(contact["parent"])
        doc["contact"] = mini
    elif isinstance(contact, dict) and isinstance(contact.get("parent"), dict) and set(contact) == {"parent"}:
        doc["contact"] = {"parent": minify_lineage(contact["parent"])}
    if is_report(doc):
        doc.pop("patient", None)
        doc.pop("place", None)
    linked = doc.get("linked_docs")
    if is_contact(doc) and isinstance(linked, dict):
        doc["linked_docs"] = {k: get_id(v) for k, v in linked.items() if get_id(v) is not None}
    return doc


def ids_to_load(docs: Iterable[Doc]) -> set[str]:
    refs: set[str] = set()
    for doc in docs:
        refs |= references(doc)
    return refs
