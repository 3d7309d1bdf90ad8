"""The one retry policy for CouchDB I/O: retry TransientError with capped exponential backoff.

Retries go on until the call succeeds or `should_stop()` turns true (then the last TransientError is
raised, and the runner exits without moving the checkpoint). Sleeping waits on the stop event, so a
SIGTERM during a CouchDB outage is honoured at once.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from sentinel.core.errors import TransientError

log = logging.getLogger(__name__)

FIRST_WAIT = 0.5
MAX_WAIT = 30.0


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("CouchDB unavailable (%s); retrying in %.1fs (attempt %d)", exc, wait, state.attempt_number)


def make_retry(stop_event: threading.Event, max_wait: float = MAX_WAIT) -> Callable[..., Any]:
    """A `retry(fn, *args)` that calls `fn(*args)` until it does not raise TransientError."""

    def retry(fn: Callable[..., Any], *args: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_exponential(multiplier=FIRST_WAIT, min=FIRST_WAIT, max=max_wait),
            stop=lambda state: stop_event.is_set(),
            sleep=stop_event.wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(fn, *args)

    return retry
