"""An embedded CouchDB-protocol server for development, tests and CI: PouchDB Server from npm.

`PouchDBServer` starts `node_modules/pouchdb-server` (installed by `npm ci` from our lock file; for an
installed wheel, wherever `sentinel.core.paths.find_pouchdb_server` finds it) on a free loopback port with
its data in a folder (a temporary one unless given), waits until it answers, and stops it. Started
with `--unhandled-rejections=warn`: without it one unsupported request (`filter=_selector`) kills the
whole server on Node >= 15. When it cannot start, it raises `EmbeddedServerError`, which the command
line prints as one message (no traceback) and exits with 2.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from sentinel.core.errors import SentinelError
from sentinel.core.paths import INSTALLED, POUCHDB_SERVER_ENV, POUCHDB_SERVER_VERSION, find_pouchdb_server, pouchdb_server_candidates


class EmbeddedServerError(SentinelError, RuntimeError):
    """PouchDB Server is missing or would not start (a RuntimeError too, as it was before)."""


def not_found_message() -> str:
    """What to do when PouchDB Server is nowhere: where it was looked for, and the three ways out."""
    places = pouchdb_server_candidates()
    if os.environ.get(POUCHDB_SERVER_ENV):  # it alone is looked at, so it must go for the folder to count
        missing, unset = f"is not where {POUCHDB_SERVER_ENV} says: no file {places[0]}", f", and unset {POUCHDB_SERVER_ENV}"
    else:
        missing, unset = "is not installed; looked for it in:\n" + "\n".join(f"    {path}" for path in places), ""
    checkout = "" if INSTALLED else "  - or, in the checkout: `make install` (runs `npm ci`)\n"
    return (
        f"PouchDB Server (the embedded database of --embedded) {missing}\n"
        f"Either:\n"
        f"  - install it in the current folder (needs Node 18+): npm install pouchdb-server@{POUCHDB_SERVER_VERSION}{unset}\n"
        f"{checkout}"
        f"  - or set {POUCHDB_SERVER_ENV} to the path of its bin (node_modules/pouchdb-server/bin/pouchdb-server)\n"
        f"  - or run against a CouchDB instead: set COUCH_URL=http://user:pass@host:5984/medic (or pass --couch-url)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PouchDBServer:
    def __init__(self, data_dir: str | Path | None = None, port: int | None = None, in_memory: bool = False):
        bin_path = find_pouchdb_server()
        if bin_path is None:
            raise EmbeddedServerError(not_found_message())
        self.bin = bin_path
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="sentinel-pouchdb-"))
        self.port = port or free_port()
        self.in_memory = in_memory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "PouchDBServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        storage = ["--in-memory"] if self.in_memory else ["--dir", str(self.data_dir)]
        log = open(self.data_dir / "server.log", "ab")
        try:
            self.process = subprocess.Popen(
                ["node", "--unhandled-rejections=warn", str(self.bin), "--host", "127.0.0.1", "--port", str(self.port), *storage],
                cwd=self.data_dir,  # it writes config.json and log.txt into its working directory
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is for Sentinel, which stops us in order
            )
        except FileNotFoundError:
            raise EmbeddedServerError(
                f"Node.js (`node`) is not on PATH: PouchDB Server ({self.bin}) needs Node 18+; "
                "install Node, or set COUCH_URL to a CouchDB instead"
            ) from None
        finally:
            log.close()
        atexit.register(self.stop)  # never leave a server behind, even when the caller forgets
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedServerError(f"PouchDB Server exited with {self.process.returncode}; see {self.data_dir / 'server.log'}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise EmbeddedServerError(f"PouchDB Server did not answer on {self.url} within {timeout}s")

    def stop(self, remove_data: bool | None = None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        atexit.unregister(self.stop)
        if remove_data if remove_data is not None else self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self, downtime: float = 0.0) -> None:
        """Stop and start again on the same port with the same data (for outage tests)."""
        self.stop(remove_data=False)
        time.sleep(downtime)
        self.start()

    def __enter__(self) -> "PouchDBServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

