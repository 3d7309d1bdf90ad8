"""Fixtures: one PouchDB Server for the whole session, fresh databases for every test."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from sentinel.core.couch import CouchDB, CouchServer
from sentinel.core.embedded import PouchDBServer
from sentinel.daemon.runner import Runner

from .support import HIERARCHY, new_runner, put_settings


@pytest.fixture(scope="session")
def pouchdb() -> Iterator[PouchDBServer]:
    server = PouchDBServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(pouchdb: PouchDBServer) -> Iterator[CouchServer]:
    client = CouchServer(pouchdb.url)
    yield client
    client.close()


@pytest.fixture
def main(server: CouchServer) -> Iterator[CouchDB]:
    """A fresh main database (and, after it, its -sentinel database), deleted after the test."""
    name = f"medic-{uuid.uuid4().hex[:10]}"
    db = server.db(name)
    db.create()
    yield db
    db.delete()
    server.db(f"{name}-sentinel").delete()


@pytest.fixture
def sentinel_db(server: CouchServer, main: CouchDB) -> CouchDB:
    return server.db(f"{main.name}-sentinel")


@pytest.fixture
def hierarchy(main: CouchDB) -> list[dict[str, Any]]:
    docs = [dict(d) for d in HIERARCHY]
    main.bulk_docs(docs)
    return docs


@pytest.fixture
def make_runner(server: CouchServer, main: CouchDB) -> Callable[..., Runner]:
    """make_runner(settings) writes the settings doc (if given) and returns a set-up Runner."""

    def make(settings: dict[str, Any] | None = None, **kwargs: Any) -> Runner:
        if settings is not None:
            put_settings(main, settings)
        return new_runner(server, main, **kwargs)

    return make
