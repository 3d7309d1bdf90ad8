"""A small CouchDB client on httpx that works the same against Apache CouchDB 3.x and PouchDB Server.

Reads and writes: whatever the caller asks, over HTTP. Knows nothing about Sentinel's documents.

What it does so that both servers behave alike (see python-deps.md §1.2):
- `seq` values are passed through untouched (PouchDB sends integers, CouchDB opaque strings);
- every request sends `Accept: application/json` and `Accept-Encoding: identity` (PouchDB Server's
  gzip never flushes a streamed feed);
- the changes feed is a streamed long-poll with a heartbeat, given up by the client itself after
  `wait` seconds because PouchDB ignores `timeout=`;
- a missing document inside `_all_docs`/`_bulk_get` answers (`{}` or `error`) means "not there";
- revisions are read from bodies, never from ETags.

Errors: network failures, timeouts and 5xx become `TransientError`; 404 `NotFound`; 409 `Conflict`;
anything else `CouchError`. Credentials never appear in messages: use `redact()` for URLs.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from sentinel.core.errors import Conflict, CouchError, NotFound, TransientError

Doc = dict[str, Any]

HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/json",
    "Accept-Encoding": "identity",
    "User-Agent": "sentinel",
}
KEYS_PER_REQUEST = 1000  # keeps POST bodies and server work per request bounded


def redact(url: str) -> str:
    """`url` with any password replaced by `***`, safe to log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_couch_url(url: str) -> tuple[str, tuple[str, str] | None, str]:
    """Split `http://user:pass@host:port/db` into (server base URL, auth, database name)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"COUCH_URL must look like http://user:pass@host:5984/medic, got {redact(url)!r}")
    db = unquote(parts.path.strip("/"))
    if not db:
        raise ValueError(f"COUCH_URL must name the main database in its path, got {redact(url)!r}")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    auth = (unquote(parts.username or ""), unquote(parts.password or "")) if parts.username else None
    return urlunsplit((parts.scheme, netloc, "", "", "")), auth, db


def doc_path(doc_id: str) -> str:
    """The URL path segment for a document id (`_design/` and `_local/` keep their slash)."""
    for prefix in ("_design/", "_local/"):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix):], safe="")
    return quote(doc_id, safe="")


@dataclass
class ChangesPage:
    """One answer of the changes feed: rows as the server sent them, and where to continue from."""

    results: list[dict[str, Any]]
    last_seq: Any
    pending: int | None = None  # CouchDB says how many changes remain; PouchDB Server does not


class CouchServer:
    """A connection to one CouchDB server. Thread-safe: share one between the feed and the scheduler."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None = None, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers=HEADERS,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        )

    @classmethod
    def from_url(cls, couch_url: str) -> tuple["CouchServer", str]:
        """The server of a COUCH_URL and the name of its main database."""
        base, auth, db = split_couch_url(couch_url)
        return cls(base, auth), db

    def close(self) -> None:
        self._client.close()

    def db(self, name: str) -> "CouchDB":
        return CouchDB(self, name)

    def request(self, method: str, path: str, what: str = "", **kwargs: Any) -> Any:
        """Send one request and return the decoded JSON body, mapping failures onto our error tree."""
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"{what or method + ' ' + path}: {type(exc).__name__}: {exc}") from exc
        return _decode(resp, what or f"{method} {path}")

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._client.stream(method, path, **kwargs)

    def welcome(self) -> dict[str, Any]:
        return self.request("GET", "/", what="GET /")


def _decode(resp: httpx.Response, what: str) -> Any:
    status = resp.status_code
    try:
        body = resp.json() if resp.content else None
    except ValueError:
        if status < 400:  # a success that is not JSON was cut short (or came from a proxy): try again
            raise TransientError(f"{what}: {status} answer is not JSON (cut short?)") from None
        body = None
    if status < 400:
        return body
    error = (body or {}).get("error", "") if isinstance(body, dict) else ""
    reason = (body or {}).get("reason", "") if isinstance(body, dict) else resp.text[:200]
    if status >= 500:
        raise TransientError(f"{what}: {status} {error}: {reason}")
    if status == 404:
        raise NotFound(status, error, reason, what)
    if status == 409:
        raise Conflict(status, error, reason, what)
    raise CouchError(status, error, reason, what)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class CouchDB:
    """One database. Every method is one or a few HTTP requests; none caches anything."""

    def __init__(self, server: CouchServer, name: str):
        self.server = server
        self.name = name
        self._path = "/" + quote(name, safe="")

    def __repr__(self) -> str:
        return f"CouchDB({self.name!r})"

    # --- database ---------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return self.server.request("GET", self._path, what=f"GET {self.name}")

    def exists(self) -> bool:
        try:
            self.info()
            return True
        except NotFound:
            return False

    def create(self, exist_ok: bool = True) -> None:
        try:
            self.server.request("PUT", self._path, what=f"create database {self.name}")
        except CouchError as exc:
            if not (exist_ok and exc.status == 412):
                raise

    def delete(self) -> None:
        try:
            self.server.request("DELETE", self._path, what=f"delete database {self.name}")
        except NotFound:
            pass

    # --- single documents -------------------------------------------------------------------------
    def get(self, doc_id: str) -> Doc | None:
        """The document, or None when it does not exist (or is deleted)."""
        try:
            return self.server.request("GET", f"{self._path}/{doc_path(doc_id)}", what=f"GET {doc_id}")
        except NotFound:
            return None

    def put(self, doc: Doc) -> str:
        """Write `doc` (its `_rev` must be current); set and return its new `_rev`. 409 raises Conflict."""
        body = self.server.request(
            "PUT", f"{self._path}/{doc_path(doc['_id'])}", content=json.dumps(doc), what=f"PUT {doc['_id']}"
        )
        doc["_rev"] = body["rev"]
        return body["rev"]

    def delete_doc(self, doc_id: str, rev: str) -> None:
        self.server.request("DELETE", f"{self._path}/{doc_path(doc_id)}", params={"rev": rev}, what=f"DELETE {doc_id}")

    # --- bulk ------------------------------------------------------------------------------------
    def all_docs(self, keys: Iterable[str]) -> dict[str, Doc]:
        """The existing, non-deleted documents among `keys`, by id (one request per 1000 keys)."""
        found: dict[str, Doc] = {}
        unique = list(dict.fromkeys(k for k in keys if isinstance(k, str) and k))
        for chunk in _chunks(unique, KEYS_PER_REQUEST):
            body = self.server.request(
                "POST",
                f"{self._path}/_all_docs",
                params={"include_docs": "true"},
                content=json.dumps({"keys": chunk}),
                what=f"{self.name}/_all_docs",
            )
            for row in body.get("rows", []):
                doc = row.get("doc")
                if isinstance(doc, dict) and not doc.get("_deleted"):
                    found[doc["_id"]] = doc
        return found

    def all_docs_range(self, startkey: str, endkey: str, include_docs: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "startkey": json.dumps(startkey),
            "endkey": json.dumps(endkey),
            "include_docs": "true" if include_docs else "false",
        }
        if limit is not None:
            params["limit"] = limit
        body = self.server.request("GET", f"{self._path}/_all_docs", params=params, what=f"{self.name}/_all_docs")
        return body.get("rows", [])

    def prefix_pages(self, prefix: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """The documents whose ids start with `prefix`, as `_all_docs` rows with their docs, `page_size`
        at a time, in id order (each page starts after the last id of the one before)."""
        after = None
        while True:
            rows = self.all_docs_range(after or prefix, prefix + "\ufff0", limit=page_size + 1)
            rows = [r for r in rows if r.get("id") != after][:page_size]
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            after = rows[-1]["id"]

    def all_docs_page(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows of `_all_docs` with their documents, in id order, after the id `after`."""
        params: dict[str, Any] = {"include_docs": "true", "limit": limit}
        if after is not None:  # not `skip=1`: `after` may have been deleted since, then nothing is to skip
            params.update(startkey=json.dumps(after), limit=limit + 1)
        body = self.server.request("GET", f"{self._path}/_all_docs", params=params, what=f"{self.name}/_all_docs")
        return [row for row in body.get("rows", []) if row.get("id") != after][:limit]

    def bulk_docs(self, docs: list[Doc]) -> list[dict[str, Any]]:
        """Write `docs` (each with an `_id`) in one request per 1000; one result per doc, in the order
        of `docs`: {id, rev} or {id, error, reason}. `_rev` is updated in place on every doc written.
        """
        results: list[dict[str, Any]] = []
        for chunk in _chunks(docs, KEYS_PER_REQUEST):
            body = self.server.request(
                "POST", f"{self._path}/_bulk_docs", content=json.dumps({"docs": chunk}), what=f"{self.name}/_bulk_docs"
            )
            by_id = {r.get("id"): r for r in body if isinstance(r, dict)}  # matched by id, not by position
            for doc in chunk:
                result = by_id.get(doc["_id"], {"id": doc["_id"], "error": "unknown_error", "reason": "no result"})
                if "error" not in result and "rev" in result:
                    doc["_rev"] = result["rev"]
                results.append(result)
        return results

    # --- views -----------------------------------------------------------------------------------
    def view(self, ddoc: str, view: str, keys: list[Any] | None = None, **params: Any) -> list[dict[str, Any]]:
        """Rows of `_design/<ddoc>/_view/<view>`; `keys` are POSTed, 1000 per request.

        JSON-valued parameters (key, startkey, endkey, start_key, end_key) are encoded here.
        """
        query = {k: (json.dumps(v) if k in _JSON_PARAMS else _param(v)) for k, v in params.items()}
        path = f"{self._path}/_design/{quote(ddoc, safe='')}/_view/{quote(view, safe='')}"
        what = f"{self.name}/{ddoc}/{view}"
        if keys is None:
            return self.server.request("GET", path, params=query, what=what).get("rows", [])
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(list(keys), KEYS_PER_REQUEST):
            body = self.server.request("POST", path, params=query, content=json.dumps({"keys": chunk}), what=what)
            rows.extend(body.get("rows", []))
        return rows

    # --- changes ---------------------------------------------------------------------------------
    def changes(
        self,
        since: Any,
        limit: int,
        wait: float,
        heartbeat_ms: int = 1000,
        should_stop: Callable[[], bool] = lambda: False,
        include_docs: bool = False,
    ) -> ChangesPage:
        """The next changes after `since`, at most `limit`, waiting up to `wait` seconds for the first one.

        Returns at once when changes are there. When none come within `wait` seconds, or `should_stop()`
        turns true while waiting, returns an empty page with `last_seq == since`. With `include_docs`
        each row carries the document's current revision (saves reading them again).
        """
        if wait <= 0:  # a plain request: a long-poll with a heartbeat would never end by itself
            data = self.server.request(
                "GET", f"{self._path}/_changes", params={"since": _param(since), "limit": limit}, what=f"{self.name}/_changes"
            )
            return _page(data, since)
        params = {
            "feed": "longpoll",
            "since": _param(since),
            "limit": limit,
            "heartbeat": heartbeat_ms,
            "timeout": max(int(wait * 1000), 1),
            "include_docs": "true" if include_docs else "false",
        }
        read_timeout = max(3 * heartbeat_ms / 1000, 10.0)
        deadline = time.monotonic() + wait
        body = bytearray()
        try:
            with self.server.stream(
                "GET",
                f"{self._path}/_changes",
                params=params,
                timeout=httpx.Timeout(read_timeout, connect=5.0),
            ) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    _decode(resp, f"{self.name}/_changes")
                for chunk in resp.iter_bytes():
                    body += chunk
                    # Only give up while nothing but heartbeats has come: a page being received is kept.
                    if not chunk.strip() and (should_stop() or time.monotonic() > deadline + 1.0):
                        return ChangesPage([], since)
        except httpx.TransportError as exc:
            raise TransientError(f"{self.name}/_changes: {type(exc).__name__}: {exc}") from exc
        try:
            data = json.loads(body)
        except RecursionError:
            if not include_docs:
                raise
            # a document nested too deeply for Python: take the page without documents instead
            return self.changes(since, limit, wait, heartbeat_ms, should_stop, include_docs=False)
        except ValueError as exc:
            raise TransientError(f"{self.name}/_changes: truncated answer ({len(body)} bytes)") from exc
        return _page(data, since)

    def count_changes_since(self, since: Any, cap: int = 100_000) -> tuple[int, bool]:
        """How many changes follow `since` (CouchDB's `pending` when given, else counted page by page).

        Returns (count, exact); `exact` is False when counting stopped at `cap`.
        """
        page = self.server.request(
            "GET", f"{self._path}/_changes", params={"since": _param(since), "limit": 1}, what=f"{self.name}/_changes"
        )
        if page.get("pending") is not None:
            return len(page.get("results", [])) + int(page["pending"]), True
        count, cursor = 0, since
        while count < cap:
            limit = min(5000, cap - count + 1)  # one more than the cap: "exactly cap" is still exact
            page = self.server.request(
                "GET",
                f"{self._path}/_changes",
                params={"since": _param(cursor), "limit": limit},
                what=f"{self.name}/_changes",
            )
            rows = page.get("results", [])
            count += len(rows)
            if len(rows) < limit:
                return count, True
            cursor = page.get("last_seq")
        return min(count, cap), False


def _page(data: dict[str, Any], since: Any) -> ChangesPage:
    """A changes answer as a page; rows without an id (a trailing `{last_seq}` line) are dropped."""
    results = [row for row in data.get("results", []) if isinstance(row, dict) and "id" in row]
    last_seq = data.get("last_seq")
    if last_seq is None:  # CouchDB's seq_interval can leave it out
        last_seq = results[-1].get("seq", since) if results else since
    return ChangesPage(results, last_seq if last_seq is not None else since, data.get("pending"))


_JSON_PARAMS = {"key", "startkey", "endkey", "start_key", "end_key"}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
