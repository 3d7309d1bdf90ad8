"""sentinel/ids.py: CHT's short-code ids for patients, places and cases (spec 3.5).

Pure unit tests of the check digit and the generator, then the batch pool against the real server:
codes in use on any document are never handed out, codes are unique within one pool, and the
`shortcode-id-length` doc sets the length and grows when 200 candidates are all taken. Candidates are
forced by replacing `generate_id`; the database is never mocked.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import pytest

from sentinel.core import ddocs, ids, lookups
from sentinel.core.context import BatchContext
from sentinel.core.ids import add_check_digit, generate_id, is_valid_id
from sentinel.core.lookups import LookupIndex

# --- check digit (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits, expected",
    [
        ("1234", "12348"),
        ("1324", "13249"),  # the same digits transposed get another check digit
        ("4321", "43217"),
        ("9999", "99995"),
        ("0000", "00000"),
        ("0005", "00050"),  # remainder 10 is written as 0
        ("00001", "000012"),
        ("123456789012", "1234567890120"),
    ],
)
def test_the_check_digit_is_the_weighted_sum_mod_11_with_10_written_as_0(digits, expected):
    assert add_check_digit(digits) == expected


@pytest.mark.parametrize("code", ["12348", "13249", "00000", "00050", "1234567890120"])
def test_a_code_with_its_check_digit_is_valid(code):
    assert is_valid_id(code)


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("13248", id="two digits transposed"),
        pytest.param("12349", id="wrong check digit"),
        pytest.param("12a48", id="not digits"),
        pytest.param("", id="empty"),
        pytest.param("5", id="a check digit alone"),
    ],
)
def test_a_code_is_invalid_with(code):
    assert not is_valid_id(code)


@pytest.mark.parametrize("length", range(ids.MIN_ID_LENGTH, ids.MAX_ID_LENGTH + 1))
def test_a_generated_id_has_the_requested_length_and_a_valid_check_digit(length):
    for _ in range(50):
        code = generate_id(length)
        assert len(code) == length and is_valid_id(code)


def test_a_generated_id_may_start_with_zeros_and_keeps_its_length(monkeypatch):
    monkeypatch.setattr(ids._random, "randrange", lambda _n: 0)
    assert generate_id(5) == "00000"


@pytest.mark.parametrize("length", [0, 4, 14, 20])
def test_generating_an_id_outside_lengths_5_to_13_is_refused(length):
    with pytest.raises(ValueError):
        generate_id(length)


# --- the pool against the real server --------------------------------------------------------------

# 200 distinct valid 5-digit candidates; the only candidates the patched generator offers at length 5.
CANDIDATES = [add_check_digit(f"{i:04d}") for i in range(1000, 1200)]
FREE = CANDIDATES[123]


@pytest.fixture
def db(main, sentinel_db):
    """The main database with our design documents installed."""
    sentinel_db.create()
    ddocs.install(main, sentinel_db)
    return main


@pytest.fixture
def new_pool(db, sentinel_db):
    """A batch's pool, over the lookup index built from what the database holds now."""

    def make():
        lookups.build(db, sentinel_db)
        return BatchContext(db, LookupIndex(sentinel_db), None, None).shortcodes

    return make


def offer_only(monkeypatch, candidates: list[str], on_first_call: Callable[[], Any] | None = None) -> None:
    """Make the pool's candidates at length 5 cycle through `candidates`; other lengths stay random."""
    cycle = itertools.cycle(candidates)
    real = ids.generate_id
    called = []

    def fake(length: int) -> str:
        if not called and on_first_call is not None:
            on_first_call()
        called.append(length)
        return next(cycle) if length == 5 else real(length)

    monkeypatch.setattr(ids, "generate_id", fake)


def holder(i: int, doc_type: str, key: str, code: Any) -> dict[str, Any]:
    return {"_id": f"holder-{i:03d}", "type": doc_type, key: code}


@pytest.mark.parametrize(
    "doc_type, key, as_number",
    [
        pytest.param("person", "patient_id", False, id="a person's patient_id"),
        pytest.param("clinic", "place_id", False, id="a place's place_id"),
        pytest.param("data_record", "case_id", False, id="a report's case_id"),
        pytest.param("data_record", "patient_id", False, id="a report's patient_id"),
        pytest.param("data_record", "place_id", False, id="a report's place_id"),
        pytest.param("feedback", "case_id", False, id="any other doc's case_id"),
        pytest.param("person", "patient_id", True, id="a patient_id stored as a number"),
    ],
)
def test_the_pool_never_hands_out_a_code_already_used_as(db, new_pool, monkeypatch, doc_type, key, as_number):
    taken = [c for c in CANDIDATES if c != FREE]
    db.bulk_docs([holder(i, doc_type, key, int(c) if as_number else c) for i, c in enumerate(taken)])
    offer_only(monkeypatch, CANDIDATES)
    pool = new_pool()
    assert pool.next() == FREE
    # the only free candidate is handed out: the next id needs a longer code
    second = pool.next()
    assert len(second) == 6 and is_valid_id(second)


def test_the_codes_of_one_pool_are_all_distinct_even_from_the_same_candidates(db, new_pool, monkeypatch):
    offer_only(monkeypatch, CANDIDATES)
    pool = new_pool()
    drawn = [pool.next() for _ in range(len(CANDIDATES))]
    assert sorted(drawn) == sorted(CANDIDATES)


def test_a_thousand_codes_of_one_pool_are_distinct_valid_and_five_digits_long(db, new_pool):
    pool = new_pool()
    drawn = [pool.next() for _ in range(1000)]
    assert len(set(drawn)) == len(drawn)
    assert all(len(c) == 5 and is_valid_id(c) for c in drawn)


@pytest.mark.parametrize(
    "length_doc, length",
    [
        pytest.param(None, 5, id="no length doc: 5"),
        pytest.param({"current_length": 8}, 8, id="8"),
        pytest.param({"current_length": 13}, 13, id="the maximum, 13"),
    ],
)
def test_the_length_comes_from_the_shortcode_id_length_doc(db, new_pool, length_doc, length):
    if length_doc is not None:
        db.put({"_id": "shortcode-id-length", **length_doc})
    pool = new_pool()
    drawn = [pool.next() for _ in range(20)]
    assert all(len(c) == length and is_valid_id(c) for c in drawn)


@pytest.mark.parametrize(
    "length_doc",
    [
        pytest.param(None, id="created"),
        pytest.param({"current_length": 5, "note": "kept"}, id="updated"),
    ],
)
def test_when_all_200_candidates_are_taken_the_length_grows_by_one_and_is_saved(db, new_pool, monkeypatch, length_doc):
    if length_doc is not None:
        db.put({"_id": "shortcode-id-length", **length_doc})
    db.bulk_docs([holder(i, "person", "patient_id", c) for i, c in enumerate(CANDIDATES)])
    offer_only(monkeypatch, CANDIDATES)
    code = new_pool().next()
    assert len(code) == 6 and is_valid_id(code)
    saved = db.get("shortcode-id-length")
    assert {k: v for k, v in saved.items() if k != "_rev"} == {"_id": "shortcode-id-length", **(length_doc or {}), "current_length": 6}


def test_a_length_someone_raised_meanwhile_is_not_lowered(db, new_pool, monkeypatch):
    db.bulk_docs([holder(i, "person", "patient_id", c) for i, c in enumerate(CANDIDATES)])
    offer_only(monkeypatch, CANDIDATES, on_first_call=lambda: db.put({"_id": "shortcode-id-length", "current_length": 9}))
    code = new_pool().next()
    assert is_valid_id(code)
    assert db.get("shortcode-id-length")["current_length"] == 9
