"""Stub servers (and the fixtures that start them) for the HTTP fault paths of sentinel/core/couch.py and sentinel/core/retry.py.

A real HTTP server (pytest-httpserver, threaded so a slow stream never holds up the next test) plays a
misbehaving CouchDB; a few faults that no well-behaved HTTP server can produce (a body shorter than its
Content-Length, a connection closed before any answer) come from a raw socket server. Everything else
in the test suite talks to the real PouchDB Server.
"""
from __future__ import annotations

import json
import socket
import threading
from typing import Any, Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import sentinel.core.retry as retry_module
from sentinel.core.couch import CouchServer

DB = "medic"
PASSWORD = "s3cr3t-P4ss"


# --- stub servers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stub_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def stub(stub_server: HTTPServer) -> Iterator[HTTPServer]:
    stub_server.clear()
    yield stub_server
    stub_server.clear()


def client_for(stub: HTTPServer, **kwargs: Any) -> CouchServer:
    return CouchServer(stub.url_for("/").rstrip("/"), **kwargs)


@pytest.fixture
def couch(stub: HTTPServer) -> Iterator[CouchServer]:
    client = client_for(stub)
    yield client
    client.close()


class RawServer:
    """A one-request-at-a-time TCP server that answers every request with the same raw bytes, then closes."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2.0)
                received = b""
                try:
                    while b"\r\n\r\n" not in received:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        received += chunk
                    self.requests += 1
                    if self.answer:
                        conn.sendall(self.answer)
                except OSError:
                    pass

    def __enter__(self) -> "RawServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def streamed(chunks: Callable[[], Iterator[bytes]]) -> Callable[[Request], Response]:
    """A handler answering 200 with a body streamed from `chunks()` (no Content-Length)."""

    def handler(_request: Request) -> Response:
        return Response(chunks(), status=200, content_type="application/json", direct_passthrough=True)

    return handler




@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(retry_module, "FIRST_WAIT", 0.01)
