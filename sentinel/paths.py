"""Where Sentinel's own files live: `settings/`, `ddocs/` and `node_modules/` beside the packages.

Sentinel runs from its checkout (installed editable by `make`), so these are found relative to this file.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_DIR = PROJECT_ROOT / "settings"
DEFAULTS_FILE = SETTINGS_DIR / "defaults.json"
SCHEMA_FILE = SETTINGS_DIR / "schema.json"
DDOCS_DIR = PROJECT_ROOT / "ddocs"
POUCHDB_SERVER_BIN = PROJECT_ROOT / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
