"""An embedded CouchDB-protocol server for development, tests and CI: PouchDB Server from npm.

`PouchDBServer` starts `node_modules/pouchdb-server` (installed by `npm ci` from our lock file) on a
free loopback port with its data in a folder (a temporary one unless given), waits until it answers,
and stops it. Started with `--unhandled-rejections=warn`: without it one unsupported request
(`filter=_selector`) kills the whole server on Node >= 15.
"""
from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from .paths import POUCHDB_SERVER_BIN


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PouchDBServer:
    def __init__(self, data_dir: str | Path | None = None, port: int | None = None, in_memory: bool = False):
        if not POUCHDB_SERVER_BIN.exists():
            raise RuntimeError(f"PouchDB Server is not installed ({POUCHDB_SERVER_BIN}); run `npm ci` (or `make install`)")
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
        self.process = subprocess.Popen(
            ["node", "--unhandled-rejections=warn", str(POUCHDB_SERVER_BIN), "--host", "127.0.0.1", "--port", str(self.port), *storage],
            cwd=self.data_dir,  # it writes config.json and log.txt into its working directory
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal is for Sentinel, which stops us in order
        )
        log.close()
        atexit.register(self.stop)  # never leave a server behind, even when the caller forgets
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PouchDB Server exited with {self.process.returncode}; see {self.data_dir / 'server.log'}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PouchDB Server did not answer on {self.url} within {timeout}s")

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

