"""Who may use `sentinel gateway`: users with hashed passwords in the sentinel database
(`_local/gateway-users`: not replicated, not in any view), added with `sentinel gateway add-user`.

Passwords are hashed with scrypt (hashlib; n=2**14, r=8, p=1, a random 16-byte salt) and checked in
constant time. The gateway reads the users again at most every REFRESH_SECONDS, so a new user works
without a restart. Credentials are never logged.

Reads/writes: `_local/gateway-users` in the sentinel database.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from typing import Any

from sentinel.core.couch import CouchDB

DOC_ID = "_local/gateway-users"
REFRESH_SECONDS = 30.0
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: Any) -> bool:
    try:
        scheme, salt, digest = str(stored).split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=_N, r=_R, p=_P, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def add_user(sentinel: CouchDB, name: str, password: str) -> None:
    """Add (or replace) a user; the sentinel database must exist."""
    if not name or ":" in name:
        raise ValueError("a user name must be non-empty and without ':'")
    if len(password) < 8:
        raise ValueError("a password must have at least 8 characters")
    doc = sentinel.get(DOC_ID) or {"_id": DOC_ID, "users": {}}
    doc.setdefault("users", {})[name] = hash_password(password)
    sentinel.put(doc)


class Users:
    """The gateway's view of its users, re-read at most every REFRESH_SECONDS."""

    def __init__(self, sentinel: CouchDB):
        self.sentinel = sentinel
        self._users: dict[str, str] = {}
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._verified: set[bytes] = set()  # digests of (name, password, stored hash) already checked

    def _current(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._read_at >= REFRESH_SECONDS:
                doc = self.sentinel.get(DOC_ID) or {}
                users = doc.get("users")
                self._users = {k: v for k, v in users.items() if isinstance(v, str)} if isinstance(users, dict) else {}
                self._read_at = time.monotonic()
            return self._users

    def any(self) -> bool:
        return bool(self._current())

    def check(self, name: Any, password: Any) -> bool:
        if not isinstance(name, str) or not isinstance(password, str):
            return False
        stored = self._current().get(name)
        if stored is None:
            check_password(password, hash_password("-"))  # the same work either way: no user probing by timing
            return False
        # scrypt costs ~50 ms on purpose; a gateway polling every second sends the same credentials
        key = hashlib.sha256("\0".join((name, password, stored)).encode()).digest()
        if key in self._verified:
            return True
        if not check_password(password, stored):
            return False
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified.add(key)
        return True
