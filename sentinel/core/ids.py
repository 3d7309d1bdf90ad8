"""CHT's short-code ids for patients, places and cases (shared-libs/transitions/src/lib/ids.js).

An id is `length - 1` random digits plus a weighted mod-11 check digit (`1234` -> `12348`), so a
transposed pair of digits makes an invalid id. The length lives in the main database's
`shortcode-id-length` doc (`current_length`, 5 to 13); when 200 fresh candidates are all taken the
length grows by one. A candidate is free when no document of any type has it as `patient_id`,
`place_id` or `case_id` (CHT's view `docs_by_shortcode`; Sentinel asks its lookup index, through the
`in_use` callable the batch gives it: `BatchContext.codes_in_use`).

Unlike CHT, which checks 200 candidates for every id, one check yields a pool for the whole batch:
ids handed out in a batch are unique against the database and against each other.

Reads:  `shortcode-id-length`; codes in use through `in_use`.
Writes: `shortcode-id-length`, only when the length must grow (a 409 means a person edited it: theirs wins).
"""
from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Callable

from sentinel.core.errors import Conflict

if TYPE_CHECKING:
    from sentinel.core.couch import CouchDB

log = logging.getLogger(__name__)

ID_LENGTH_DOC_ID = "shortcode-id-length"
MIN_ID_LENGTH = 5
MAX_ID_LENGTH = 13
CANDIDATES_PER_CHECK = 200

_random = random.SystemRandom()


def add_check_digit(digits: str) -> str:
    """Append CHT's weighted mod-11 check digit: Σ dᵢ·(n+1−i) mod 11, with 10 written as 0."""
    offset = len(digits) + 1
    total = sum(int(d) * (offset - i) for i, d in enumerate(digits))
    remainder = total % 11
    return digits + str(0 if remainder == 10 else remainder)


def generate_id(length: int) -> str:
    if not MIN_ID_LENGTH <= length <= MAX_ID_LENGTH:
        raise ValueError(f"id length must be between {MIN_ID_LENGTH} and {MAX_ID_LENGTH}, got {length}")
    digits = "".join(str(_random.randrange(10)) for _ in range(length - 1))
    return add_check_digit(digits)


def is_valid_id(code: str) -> bool:
    return code.isdigit() and len(code) >= 2 and add_check_digit(code[:-1]) == code


class ShortcodePool:
    """Free ids for one batch, checked against the database 200 candidates at a time."""

    def __init__(self, main: "CouchDB", in_use: Callable[[list[str]], set[str]]):
        self._main = main
        self._in_use = in_use
        self._pool: list[str] = []
        self._issued: set[str] = set()
        self._length: int | None = None

    def next(self) -> str:
        while not self._pool:
            self._refill()
        code = self._pool.pop()
        self._issued.add(code)
        return code

    def _current_length(self) -> int:
        if self._length is None:
            doc = self._main.get(ID_LENGTH_DOC_ID) or {}
            length = doc.get("current_length")
            self._length = length if isinstance(length, int) and not isinstance(length, bool) else MIN_ID_LENGTH
            self._length = min(max(self._length, MIN_ID_LENGTH), MAX_ID_LENGTH)
        return self._length

    def _refill(self) -> None:
        length = self._current_length()
        candidates: set[str] = set()
        # a 5-digit id has 10,000 values: 200 distinct candidates always exist
        while len(candidates) < CANDIDATES_PER_CHECK:
            candidates.add(generate_id(length))
        ordered = sorted(candidates)
        used = self._in_use(ordered)
        free = [c for c in ordered if c not in used and c not in self._issued]
        if free:
            _random.shuffle(free)
            self._pool = free
            return
        if length >= MAX_ID_LENGTH:
            raise RuntimeError(f"no free shortcode id of the maximum length {MAX_ID_LENGTH}")
        log.warning("Could not create a unique id of length %s, increasing length", length)
        self._length = length + 1
        self._save_length(self._length)

    def _save_length(self, length: int) -> None:
        doc = self._main.get(ID_LENGTH_DOC_ID) or {"_id": ID_LENGTH_DOC_ID}
        if isinstance(doc.get("current_length"), int) and doc["current_length"] >= length:
            return
        doc["current_length"] = length
        try:
            self._main.put(doc)
        except Conflict:
            log.warning("409 while storing %s: someone edited it, keeping their value", ID_LENGTH_DOC_ID)
