"""Where Sentinel's own files live: the settings defaults and schema, the design documents, PouchDB Server.

`settings/` and `ddocs/` are folders at the top of the repository. An installed wheel (`pip install .`)
carries them as package data in `sentinel/_data/` (see pyproject.toml); an editable install
(`make install`) has no `_data/` and reads them from the checkout, so edits there count at once.

PouchDB Server (for `sentinel run --embedded`, the tests and the benchmark) is an npm package, never in
the wheel: `find_pouchdb_server()` looks for it where `SENTINEL_POUCHDB_SERVER` says, then in the
checkout's `node_modules/` (from `npm ci`), then in the current directory's `node_modules/`.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # sentinel/, above core/
PACKAGE_DATA = PACKAGE_DIR / "_data"
INSTALLED = (PACKAGE_DATA / "settings").is_dir()  # False when running from the checkout (editable install)
PROJECT_ROOT = PACKAGE_DIR.parent  # the checkout; in an installed wheel, only site-packages
DATA_ROOT = PACKAGE_DATA if INSTALLED else PROJECT_ROOT
SETTINGS_DIR = DATA_ROOT / "settings"
DEFAULTS_FILE = SETTINGS_DIR / "defaults.json"
SCHEMA_FILE = SETTINGS_DIR / "schema.json"
DDOCS_DIR = DATA_ROOT / "ddocs"

POUCHDB_SERVER_ENV = "SENTINEL_POUCHDB_SERVER"  # the path of pouchdb-server's bin (or of its package folder)
POUCHDB_SERVER_VERSION = "4.2.0"  # as pinned in package-lock.json (tests/test_wheel.py checks they agree)
_BIN_IN_NODE_MODULES = Path("node_modules", "pouchdb-server", "bin", "pouchdb-server")
POUCHDB_SERVER_BIN = PROJECT_ROOT / _BIN_IN_NODE_MODULES  # the checkout's, installed by `npm ci`


def pouchdb_server_candidates() -> list[Path]:
    """Where `find_pouchdb_server` looks, in order (the environment variable alone when it is set)."""
    value = os.environ.get(POUCHDB_SERVER_ENV)
    if value:
        path = Path(value).expanduser().absolute()
        return [path / "bin" / "pouchdb-server" if path.is_dir() else path]
    places = [] if INSTALLED else [POUCHDB_SERVER_BIN]
    here = Path.cwd() / _BIN_IN_NODE_MODULES
    return places + ([here] if here not in places else [])


def find_pouchdb_server() -> Path | None:
    """The pouchdb-server bin to start, or None when it is in none of `pouchdb_server_candidates()`."""
    return next((path for path in pouchdb_server_candidates() if path.is_file()), None)
