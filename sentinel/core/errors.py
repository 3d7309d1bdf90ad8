"""Sentinel's exception tree.

    SentinelError
      ConfigError        bad settings: every problem listed; transitions stay disabled (fail closed), never retried
      TransientError     CouchDB unreachable, 5xx, timeouts: the step is retried with backoff, the checkpoint waits
      CouchError         any other unexpected answer from CouchDB (4xx other than 404/409), with status and reason
        NotFound         404
        Conflict         409 on a single-document write
      TransitionError    raised by a transition's run(): recorded on the doc and in its infodoc, the others still run

A transition may raise any exception; the pipeline treats all of them as TransitionError.
"""
from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "CouchError",
    "NotFound",
    "SentinelError",
    "TransientError",
    "TransitionError",
]


class SentinelError(Exception):
    """Root of every error Sentinel raises on purpose."""


class ConfigError(SentinelError):
    """The settings are invalid. `problems` lists every problem found, one line each; `warnings` what
    would only have been warned about (shown beside the problems, so one check tells everything)."""

    def __init__(self, problems: list[str] | str, warnings: list[str] | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.warnings = list(warnings or [])
        super().__init__("; ".join(self.problems))


class TransientError(SentinelError):
    """CouchDB could not be reached or answered 5xx; retrying later may succeed."""


class CouchError(SentinelError):
    """CouchDB answered with an error status that retrying will not fix."""

    def __init__(self, status: int, error: str, reason: str, what: str = ""):
        self.status = status
        self.error = error
        self.reason = reason
        super().__init__(f"{what}: {status} {error}: {reason}" if what else f"{status} {error}: {reason}")


class NotFound(CouchError):
    """404 from CouchDB."""


class Conflict(CouchError):
    """409 from CouchDB: someone else wrote the document first."""


class TransitionError(SentinelError):
    """A transition failed on a document. Recorded as CHT does: `{code: "<name>_error'", message}`."""
