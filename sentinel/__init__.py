"""Sentinel: a CouchDB `_changes` follower that runs CHT-style transitions in batches.

Public API (what transitions and tools import):
- `Context`, `BatchContext`: what a transition reads through and stages writes on;
- `Settings`: a validated snapshot of the app settings;
- the error tree (`SentinelError` and its subclasses, see `sentinel.errors`).
"""
from .context import BatchContext, Context
from .errors import ConfigError, Conflict, CouchError, NotFound, SentinelError, TransientError, TransitionError
from .settings import Settings

__all__ = [
    "BatchContext",
    "ConfigError",
    "Conflict",
    "Context",
    "CouchError",
    "NotFound",
    "SentinelError",
    "Settings",
    "TransientError",
    "TransitionError",
]
