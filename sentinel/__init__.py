"""Sentinel: a CouchDB `_changes` follower that runs CHT-style transitions in batches.

The package is layered; a module imports only from its own subpackage and those below it:

    core  <  rules  <  messaging  <  programs  <  jobs  <  gateway  <  daemon

- `core`: infrastructure every part needs (CouchDB, the batch pipeline and context, settings);
- `rules`: the languages configurations are written in (pupil, JavaScript, JsonLogic);
- `messaging`: outgoing messages and schedules;
- `programs`: the engines of registrations, muting, milestones, orders, appointments;
- `jobs`: the scheduler and its jobs; `gateway`: the HTTP API for SMS gateways;
- `daemon`: the runner and the command line, which put everything together.
`transitions/` (a package of its own, beside this one) holds one module per transition.
The layers are named by what they own, from the most shared to the most specific, so that the tree
says which module is the core and which are features.

Public API (what transitions and tools import):
- `Context`, `BatchContext`: what a transition reads through and stages writes on;
- `Settings`: a validated snapshot of the app settings;
- the error tree (`SentinelError` and its subclasses, see `sentinel.core.errors`).
"""
from sentinel.core.context import BatchContext, Context
from sentinel.core.errors import ConfigError, Conflict, CouchError, NotFound, SentinelError, TransientError, TransitionError
from sentinel.core.settings import Settings

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
