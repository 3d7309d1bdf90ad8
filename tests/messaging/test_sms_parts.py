"""sentinel/sms_parts.py: SMS part counting (npm `gsm`) and CHT's truncation (spec 6.2, the length rule)."""
from __future__ import annotations

from typing import Any

import pytest

from sentinel.messaging import sms_parts

EURO = "€"  # GSM-7 extension table: two septets
SNOWMAN = "☃"  # not GSM-7, one UTF-16 code unit
GRIN = "😀"  # outside the BMP: two UTF-16 code units


# --- encoding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("", "GSM-7", id="empty text is GSM-7"),
        pytest.param("Hello, world! @£$¥ èéùìò Ç ØøÅå ΔΦΓΛΩΠΨΣΘΞ ÆæßÉ ¤¡¿ ÄÖÑÜ§ äöñüà\r\n", "GSM-7", id="the basic table is GSM-7"),
        pytest.param("{[~]} ^ | \\ € \f", "GSM-7", id="the extension table is GSM-7"),
        pytest.param("Habari ☃", "UCS-2", id="one character outside both tables makes the text UCS-2"),
        pytest.param("Visit tomorrow 😀", "UCS-2", id="an emoji makes the text UCS-2"),
        pytest.param("नमस्ते", "UCS-2", id="Devanagari is UCS-2"),
        pytest.param("`backtick`", "UCS-2", id="a backtick is not in GSM-7"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    assert sms_parts.encoding(text) == expected


# --- parts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("", 1, id="an empty text is one SMS"),
        # GSM-7: 160 in one SMS, 153 per part of a multipart SMS
        pytest.param("a" * 160, 1, id="gsm: 160 characters fit in one SMS"),
        pytest.param("a" * 161, 2, id="gsm: 161 characters take two parts"),
        pytest.param("a" * 306, 2, id="gsm: 2 x 153 characters take two parts"),
        pytest.param("a" * 307, 3, id="gsm: 2 x 153 + 1 characters take three parts"),
        pytest.param("a" * 1530, 10, id="gsm: 10 x 153 characters take ten parts"),
        pytest.param("a" * 1531, 11, id="gsm: 10 x 153 + 1 characters take eleven parts"),
        # extension characters cost two septets
        pytest.param(EURO * 80, 1, id="gsm: 80 extension characters are 160 septets, one SMS"),
        pytest.param(EURO * 81, 2, id="gsm: 81 extension characters are 162 septets, two parts"),
        pytest.param("a" * 159 + "{", 2, id="gsm: 159 characters and one brace are 161 septets, two parts"),
        pytest.param("a" * 158 + "}", 1, id="gsm: 158 characters and one brace are 160 septets, one SMS"),
        pytest.param("a" * 152 + EURO * 76, 2, id="gsm: an extension character that does not fit moves to the next part"),
        pytest.param("a" * 152 + EURO * 77, 3, id="gsm: 306 septets take three parts when a euro would straddle a boundary"),
        # UCS-2: 70 in one SMS, 67 per part
        pytest.param(SNOWMAN * 70, 1, id="ucs2: 70 characters fit in one SMS"),
        pytest.param(SNOWMAN * 71, 2, id="ucs2: 71 characters take two parts"),
        pytest.param(SNOWMAN * 134, 2, id="ucs2: 2 x 67 characters take two parts"),
        pytest.param(SNOWMAN * 135, 3, id="ucs2: 2 x 67 + 1 characters take three parts"),
        pytest.param("a" * 70 + SNOWMAN, 2, id="ucs2: one non-GSM character turns 71 characters into two parts"),
        pytest.param("a" * 160 + SNOWMAN, 3, id="ucs2: a text that GSM-7 would fit in one SMS takes three UCS-2 parts"),
        # characters outside the BMP are two code units and are never split
        pytest.param(GRIN * 35, 1, id="ucs2: 35 emoji are 70 code units, one SMS"),
        pytest.param(GRIN * 36, 2, id="ucs2: 36 emoji are 72 code units, two parts"),
        pytest.param(GRIN * 67, 3, id="ucs2: 134 code units take three parts as an emoji never straddles a boundary"),
    ],
)
def test_parts(text: str, expected: int) -> None:
    assert sms_parts.parts(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("a" * 160, ["a" * 160], id="gsm: a single SMS is one part"),
        pytest.param("a" * 161, ["a" * 153, "a" * 8], id="gsm: a multipart SMS is cut every 153 septets"),
        pytest.param("a" * 152 + EURO + "b" * 10, ["a" * 152, EURO + "b" * 10], id="gsm: an extension character at a boundary starts the next part"),
        pytest.param("a" * 151 + EURO + "b" * 10, ["a" * 151 + EURO, "b" * 10], id="gsm: an extension character that just fits ends the part"),
        pytest.param(SNOWMAN * 71, [SNOWMAN * 67, SNOWMAN * 4], id="ucs2: a multipart SMS is cut every 67 code units"),
        pytest.param("a" * 66 + GRIN + "b" * 10, ["a" * 66, GRIN + "b" * 10], id="ucs2: a surrogate pair at a boundary starts the next part"),
        pytest.param("a" * 65 + GRIN + "b" * 10, ["a" * 65 + GRIN, "b" * 10], id="ucs2: a surrogate pair that just fits ends the part"),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert sms_parts.split(text) == expected
    assert "".join(expected) == text


# --- truncate ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        pytest.param("a" * 1530, None, ("a" * 1530, False), id="ten parts are not truncated by default"),
        pytest.param("a" * 1531, None, ("a" * 1527 + "...", True), id="eleven parts are cut to ten ending in an ellipsis"),
        pytest.param("o" * 1000, 1, ("o" * 150 + "...", True), id="CHT test: gsm with a limit of one keeps 150 characters of the first part"),
        pytest.param(SNOWMAN * 1000, 1, (SNOWMAN * 64 + "...", True), id="CHT test: ucs2 with a limit of one keeps 64 characters of the first part"),
        pytest.param("a" * 160, 1, ("a" * 160, False), id="a single SMS is never truncated"),
        pytest.param("a" * 161, 1, ("a" * 150 + "...", True), id="one septet over a single SMS is cut to a part of a multipart SMS"),
        pytest.param(EURO * 1000, 1, (EURO * 73 + "...", True), id="gsm: extension characters lose three characters for the ellipsis"),
        pytest.param(GRIN * 100, 1, (GRIN * 31 + "...", True), id="ucs2: an emoji is dropped whole rather than cut in half"),
        pytest.param("a" * 66 + GRIN * 10, 1, ("a" * 63 + "...", True), id="ucs2: an emoji moved to the next part is not kept"),
        pytest.param("a" * 400, 2, ("a" * 303 + "...", True), id="the limit counts parts"),
        pytest.param("a" * 400, "2", ("a" * 303 + "...", True), id="a numeric string limit is read as a number"),
        pytest.param("a" * 1531, 0, ("a" * 1527 + "...", True), id="a limit of 0 means the default 10"),
        pytest.param("a" * 1531, "", ("a" * 1527 + "...", True), id="an empty limit means the default 10"),
        pytest.param("a" * 1531, -1, ("a" * 1527 + "...", True), id="a negative limit means the default 10"),
    ],
)
def test_truncate(text: str, limit: Any, expected: tuple[str, bool]) -> None:
    assert sms_parts.truncate(text, limit) == expected


@pytest.mark.parametrize(
    "text, limit",
    [
        pytest.param("a" * 5000, 3, id="gsm"),
        pytest.param(("x" * 151 + "[]") * 40, 4, id="gsm with extension characters at every boundary"),
        pytest.param(SNOWMAN * 5000, 2, id="ucs2"),
        pytest.param(("y" * 65 + GRIN) * 40, 5, id="ucs2 with an emoji at every boundary"),
        pytest.param("Habari " * 300 + GRIN, 1, id="a single emoji at the end makes the truncated part ucs2"),
    ],
)
def test_truncated_text_fits_the_limit_and_ends_in_an_ellipsis(text: str, limit: int) -> None:
    truncated, was_truncated = sms_parts.truncate(text, limit)
    assert was_truncated
    assert truncated.endswith("...")
    assert sms_parts.parts(truncated) <= limit
