"""CHT's report validations: the `validations` block of `registrations` and `patient_reports` (spec 2.7).

    "validations": {"join_responses": true, "list": [
        {"property": "patient_name", "rule": "lenMin(1) && lenMax(30)", "translation_key": "..."},
        {"property": "lmp", "rule": "integer && between(0,40)", "message": [{"locale": "en", "content": "..."}]}]}

**Reads** only its arguments, plus other documents through the `query(view_name, keys) -> rows`
callable the caller gives (rows as CouchDB view rows `{id, key, value}`), at most one call per rule
function evaluated:
    query("reports_by_field", [[field, value], ...])   `_design/sentinel` (unique, uniqueWithin, exists)
    query("lookups", [["phone", phone]])               `_design/sentinel`         (uniquePhone)
Both views are in `_design/sentinel` (`sentinel.ddocs.SENTINEL_DDOC`). **Writes** nothing: `validate()` returns the errors
`{code: "invalid_<property>", message: <unrendered text>}`; the message library renders them, adds them
to `doc.errors` and sends the reply (`join_responses`).

**The rule language** (pupil, as CHT 4.15+ runs it, shared-libs/validation/src):
- Calls `name` or `name(arg, ...)`; arguments are strings in '…' or "…" (no escapes inside; an empty
  string '' is dropped by the reader, as in CHT, so `equals('')` is `equals()`) or numbers (read with
  parseFloat). Function names are case-insensitive. `otherX('field', …)` runs X on another field's value.
- `&&`, `||`, `!`, parentheses, and the ternary `cond ? then : else` (else optional, missing = valid).
- **No precedence**: `&&` and `||` are applied strictly left to right (`a || b && c` is `(a || b) && c`),
  and `!` negates the operand right after it. A ternary takes everything before `?` in its block as the
  condition and runs to the end of the block; only the chosen branch is evaluated. Every operand of
  `&&`/`||` is evaluated (no short-circuit: a call that throws still throws), except that a database-backed
  function whose result cannot change the outcome is not queried.
- Reader quirks kept from CHT: whitespace outside strings is dropped, not a separator (`len Min` is
  `lenMin`); `\\x` outside a string is the character x; an identifier followed only by whitespace (or a
  `\\`) at the very end of the rule is silently dropped by CHT, so we drop it too (`rule_problems`
  reports it). Unlike CHT's reader, incomplete rules are errors here: a trailing operator or `!`, an
  unclosed argument list or string, `:` outside a ternary, a ternary inside a ternary without parentheses.
  As in CHT, a top-level ternary whose last token closes a parenthesised group is an error ("All blocks
  weren't closed."), `()` is valid (always true) and a trailing comma in arguments is allowed.
- The rule is evaluated over `Object.assign({}, doc, doc.fields)` (fields on top); the value checked is
  that of the entry's `property`, set to `''` when absent or null (CHT mutates the values: later rules see it).

**Functions** (CHT 4.15 validator_functions + validation_utils; the comparisons are JavaScript's):
    equals(v) iequals(v) in(a, b, …) integer equalsTo('field')   loose `==` ('5' equals 5; integer: parseInt(x) == x,
                                              so '5' and '  5' are integers, '2.3' and '' are not)
    sequals siequals                          strict `===`; iequals/siequals lower-case both sides: a non-string
                                              value or argument makes CHT throw (see "errors" below)
    lenMin lenMax lenEquals                   UTF-16 length of a string or array; anything else has no
                                              length (false); lenEquals uses String(value)
    min max between(lo, hi)                   parseFloat(value) ('12abc' is 12, '' fails) against the numbers
    required                                  JS truthy: '' (an absent value), 0, false fail
    optional                                  always true; it does not excuse the other calls of the rule
    numeric alpha alphanumeric email          !isNaN(parseFloat(v)) && isFinite(v); /^[a-zA-Z]+$/; /^[a-zA-Z0-9]+$/;
                                              /^[A-Z0-9._%+-]+@[A-Z0-9.-]+\\.[A-Z]{2,4}$/i, on String(value)
    regex('re', 'flags')                      a JavaScript RegExp, translated to Python `re` (\\d \\w \\s \\b . $
                                              and flags dgimsuy with JS meaning; no variable-width lookbehind)
    unique('f1', …)                           true unless ANOTHER report of ANY form, without errors, has the
                                              same value (lower-cased) for EVERY listed field; `form` can be
                                              listed to restrict to this form. Fields are matched at the top
                                              level and in `fields` of the other reports (CHT's free-text index)
    uniqueWithin('f1', …, '7 days')           the same, counting only reports whose reported_date is after
                                              now minus the duration (now, not the report's date)
    exists('FORM', 'field')                   true if ANOTHER report of form FORM (case-insensitive), without
                                              errors, has the same value for `field`
    isAfter('-1 days') isBefore('4 weeks')    the property's date (epoch ms or ISO 8601) is on or after
                                              (on or before) the day of reported_date + (−) the duration;
                                              days compared in `tz`; reported_date absent means now
    isISOWeek('week'[, 'year'])               fields exist, week is 1–2 digits, 1 ≤ week ≤ ISO weeks of the
                                              year (4 digits; the current year in `tz` without a year field)
    validPhone('field')                       phone_is_valid(value) (the settings' phone validation)
    uniquePhone('field')                      no contact has that phone (`lookups` ['phone', value])
Durations are moment's `parseInt(n) + ' ' + unit` (years, quarters, months, weeks, days, hours, minutes,
seconds, ms and their short forms): a unit moment does not know is a zero duration, no unit means ms.
An unknown function is valid (pupil); `rule_problems` reports it.

Differences from CHT 4.15, all for values CHT cannot handle: CHT throws on a non-string or absent value
in unique/exists (its nouveau path calls `value.includes`) and so fails them; here an absent, empty or
0 value matches no report (unique passes, exists fails) and a number is compared as String(number).
uniquePhone without a value passes without querying (CHT's `key: undefined` returns every contact).
Field names are lower-cased on both sides (CHT lower-cases them only in its index). The index keeps
values up to 200 characters. Dates that are neither numbers, ISO 8601 nor RFC 2822 are invalid (moment
falls back to `new Date(string)`).

**Errors**: a rule that does not parse, a missing or non-string rule, or a JavaScript TypeError/SyntaxError
in a function (iequals on a number, an invalid regex) makes CHT drop every result and return the single
error `'Error on pupil validations: ' + JSON.stringify(e)`, which CHT's addError records as
`{code: 'invalid_report', message}`; `validate()` returns that one error (parse errors carry CHT's
`{"message", "pos"}`, pos = token index). Otherwise one error per failing entry, in list order, with
code `invalid_<property>` (every entry is checked, so two entries on one property can give two errors with
the same code; CHT's addError later keeps the first of a code), message from `translation_key` (translate(key, locale)) else `messages`/`message` (the entry for the locale,
else the first; a string as is), or None when the entry has neither `message` nor `translation_key`.

**Configuration check**: `rule_problems(rule, where)` lists parse errors with their character position,
unknown functions, missing arguments, invalid regexes and durations, and text CHT silently ignores;
`validations_problems(block, where)` runs it over a whole `validations` block.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence

from .docs import js_truthy

REPORTS_VIEW = "reports_by_field"
PHONES_VIEW = "lookups"
MAX_INDEXED_LENGTH = 200  # as ddocs/sentinel/views/reports_by_field/map.js
INDEX_SKIPPED = ("_id", "_rev", "type", "refid", "content")  # and names ending in _date

Query = Callable[[str, list], list]


@dataclass(frozen=True)
class Failure:
    """One failed validation: `code` and the raw (unrendered) `message`, with the entry it came from
    (None for the single 'Error on pupil validations' failure)."""

    code: str
    message: Any
    validation: Mapping[str, Any] | None = None

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def validate(
    doc: Mapping[str, Any],
    validations_config: Any,
    *,
    now: datetime,
    query: Query,
    phone_is_valid: Callable[[str], bool],
    translate: Callable[[str, str], Any],
    locale: str | None = None,
    tz: tzinfo = timezone.utc,
) -> list[dict[str, Any]]:
    """CHT validation.validate: the errors `{code, message}` of `doc` (empty when valid).

    `validations_config` is a `validations` block (`{join_responses, list}`) or its list. `locale` is the
    message language (the caller's `settings.locale_for(doc)`; default doc.locale, sms_message.locale, 'en');
    `tz` the zone of day boundaries and of the current year.
    """
    return [f.as_error() for f in failures(
        doc, validations_config, now=now, query=query, phone_is_valid=phone_is_valid,
        translate=translate, locale=locale, tz=tz,
    )]


def failures(
    doc: Mapping[str, Any],
    validations_config: Any,
    *,
    now: datetime,
    query: Query,
    phone_is_valid: Callable[[str], bool],
    translate: Callable[[str, str], Any],
    locale: str | None = None,
    tz: tzinfo = timezone.utc,
) -> list[Failure]:
    """`validate()` with the entry of each failure (see `Failure`)."""
    entries = _entries(validations_config)
    values = _flatten(doc)
    if locale is None:
        sms = doc.get("sms_message")
        locale = doc.get("locale") or (sms.get("locale") if isinstance(sms, dict) else None) or "en"
    ctx = _Context(values, now if now.tzinfo else now.replace(tzinfo=timezone.utc), tz, query, phone_is_valid)
    try:
        failed = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise _Crash()  # CHT reads validation.property / .rule of it: a TypeError, or an undefined rule
            key = _js_key(entry.get("property", UNDEFINED))
            current = values.get(key, UNDEFINED)
            if current is None or current is UNDEFINED:
                values[key] = ""
            if not _evaluate(_compiled(entry.get("rule", UNDEFINED)), ctx, key, True):
                failed.append((entry, key))
        return [Failure("invalid_" + key, _message(entry, translate, locale), entry) for entry, key in failed]
    except _Crash as crash:
        return [Failure("invalid_report", "Error on pupil validations: " + crash.json)]


# --- configuration checks -------------------------------------------------------------------------


def rule_problems(rule: Any, where: str) -> list[str]:
    """Every problem of one rule, each `"<where>: ..."`; empty when the rule is sound."""
    if not isinstance(rule, str):
        return [f"{where}: the rule must be a string, not {json.dumps(rule)}"]
    try:
        tokens, dropped = _tokenize(rule)
    except _RuleSyntaxError as error:
        return [f"{where}: cannot parse {json.dumps(rule)}: {error.message} at character {error.column + 1}"]
    problems = []
    if dropped is not None:
        problems.append(
            f"{where}: CHT ignores {json.dumps(dropped)} at the end of {json.dumps(rule)}, because whitespace or"
            " a backslash follows it; remove what follows it"
        )
    try:
        tree = _Parser(tokens, rule).parse()
    except _RuleSyntaxError as error:
        return [
            *problems,
            f"{where}: cannot parse {json.dumps(rule)}: {error.message} at character {error.column + 1}{error.hint}",
        ]
    for call in _calls(tree):
        problems.extend(f"{where}: {p} in {json.dumps(rule)}" for p in _call_problems(call))
    return problems


def validations_problems(block: Any, where: str) -> list[str]:
    """Problems of a `validations` block (`{join_responses, list}`) or of its list; `where` is its path."""
    items, path = (block.get("list"), f"{where}.list") if isinstance(block, dict) else (block, where)
    if items is None:
        return []
    if not isinstance(items, list):
        return [f"{path}: must be a list of {{property, rule}} entries"]
    problems = []
    for i, entry in enumerate(items):
        if not isinstance(entry, dict):
            problems.append(f"{path}[{i}]: must be an object with property and rule")
            continue
        if not isinstance(entry.get("property"), str) or not entry["property"]:
            problems.append(f"{path}[{i}].property: must be a non-empty string")
        problems.extend(rule_problems(entry.get("rule"), f"{path}[{i}].rule"))
    return problems


# --- JavaScript values ----------------------------------------------------------------------------


class _Undefined:
    """JavaScript `undefined` (a missing key), distinct from null (None)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()
_JS_SPACE = (  # JavaScript's \s: what trim() removes and the rule reader skips
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
_PARSE_FLOAT = re.compile(_DECIMAL)
_STRING_NUMBER = re.compile(rf"{_DECIMAL}|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_PARSE_INT = re.compile(r"[+-]?[0-9]+")


class _Crash(Exception):
    """A JavaScript exception inside CHT's validate: every result is dropped for one error."""

    def __init__(self, payload: Mapping[str, Any] | None = None):
        super().__init__(payload)
        self.json = json.dumps(payload or {}, separators=(",", ":"), ensure_ascii=False)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness, `undefined` included."""
    return value is not UNDEFINED and js_truthy(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _js_number_string(number: float | int) -> str:
    """JavaScript's String(number)."""
    if isinstance(number, int) and abs(number) < 2**53:
        return str(number)
    number = float(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(number))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent += len(digits) - len(text)
    k, n = len(text), len(text) + exponent
    prefix = "-" if number < 0 else ""
    if k <= n <= 21:
        return prefix + text + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + text[:n] + "." + text[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * -n + text
    e = n - 1
    mantissa = text if k == 1 else text[0] + "." + text[1:]
    return f"{prefix}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_string(value: Any) -> str:
    """JavaScript's String(value)."""
    if isinstance(value, str):
        return value
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return _js_number_string(value)
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else _js_string(v) for v in value)
    return "[object Object]"


def _js_key(value: Any) -> str:
    return _js_string(value)


def _get(values: Mapping[str, Any], key: Any) -> Any:
    return values.get(_js_key(key), UNDEFINED)


def _to_primitive(value: Any) -> Any:
    return _js_string(value) if isinstance(value, (list, dict)) else value


def _to_number(value: Any) -> float:
    """JavaScript's ToNumber."""
    if value is UNDEFINED:
        return math.nan
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_number(value):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip(_JS_SPACE)
        if not text:
            return 0.0
        if not _STRING_NUMBER.fullmatch(text):
            return math.nan
        if text[:2].lower() in ("0x", "0o", "0b"):
            return float(int(text, 0))
        return float(text.replace("Infinity", "inf"))
    return _to_number(_to_primitive(value))


def _parse_float(value: Any) -> float:
    match = _PARSE_FLOAT.match(_js_string(value).lstrip(_JS_SPACE))
    return float(match.group().replace("Infinity", "inf")) if match else math.nan


def _parse_int(value: Any) -> float:
    match = _PARSE_INT.match(_js_string(value).lstrip(_JS_SPACE))
    return float(int(match.group())) if match else math.nan


def _loose_equal(a: Any, b: Any) -> bool:
    """JavaScript's `a == b`."""
    if a is None or a is UNDEFINED or b is None or b is UNDEFINED:
        return (a is None or a is UNDEFINED) and (b is None or b is UNDEFINED)
    if isinstance(a, bool):
        return _loose_equal(1 if a else 0, b)
    if isinstance(b, bool):
        return _loose_equal(a, 1 if b else 0)
    a_object, b_object = isinstance(a, (list, dict)), isinstance(b, (list, dict))
    if a_object and b_object:
        return a is b
    if a_object or b_object:
        return _loose_equal(_to_primitive(a), _to_primitive(b))
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return _to_number(a) == _to_number(b)


def _strict_equal(a: Any, b: Any) -> bool:
    """JavaScript's `a === b`."""
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    return type(a) is type(b) and a == b


def _compare(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Operands of a JavaScript relational comparison, or None when it is false whatever the operator."""
    a, b = _to_primitive(a), _to_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    x, y = _to_number(a), _to_number(b)
    return None if math.isnan(x) or math.isnan(y) else (x, y)


def _ge(a: Any, b: Any) -> bool:
    pair = _compare(a, b)
    return pair is not None and pair[0] >= pair[1]


def _le(a: Any, b: Any) -> bool:
    pair = _compare(a, b)
    return pair is not None and pair[0] <= pair[1]


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _length(value: Any) -> Any:
    """`value.length`: UNDEFINED when it has none; a TypeError on null/undefined."""
    if value is None or value is UNDEFINED:
        raise _Crash()
    if isinstance(value, str):
        return _utf16_length(value)
    if isinstance(value, list):
        return len(value)
    return UNDEFINED


def _lower(value: Any) -> str:
    """`value.toLowerCase()`, a TypeError for anything but a string."""
    if not isinstance(value, str):
        raise _Crash()
    return value.lower()


def _flatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`Object.assign({}, doc, doc.fields)`."""
    values = dict(doc)
    fields = doc.get("fields")
    if isinstance(fields, dict):
        values.update(fields)
    elif isinstance(fields, list):
        values.update((str(i), v) for i, v in enumerate(fields))
    return values


def _entries(config: Any) -> list[Any]:
    items = config.get("list") if isinstance(config, dict) else config
    return list(items) if isinstance(items, list) else []


def _message(entry: Mapping[str, Any], translate: Callable[[str, str], Any], locale: str) -> Any:
    """CHT validation's translateMessage + message-utils getMessage (raw text, not rendered)."""
    if not _truthy(entry.get("message")) and not _truthy(entry.get("translation_key")):
        return None
    key = entry.get("translation_key") if _truthy(entry.get("translation_key")) else entry.get("translationKey")
    if _truthy(key):
        return translate(key, locale)
    messages = entry.get("messages") if _truthy(entry.get("messages")) else entry.get("message")
    if not isinstance(messages, list) or not messages:
        return messages if _truthy(messages) else ""
    chosen = next((m for m in messages if isinstance(m, dict) and m.get("locale") == locale), messages[0])
    if chosen is None:
        return ""  # message?.content: undefined
    content = chosen.get("content", UNDEFINED) if isinstance(chosen, dict) else UNDEFINED
    if not isinstance(content, str):
        raise _Crash()  # message.content.trim() on a non-string
    return content.strip(_JS_SPACE) or ""


# --- reading a rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ident number string , : ? && || ! ( )
    text: str
    index: int  # position among the tokens (CHT's error `pos`)
    column: int  # position in the rule


class _RuleSyntaxError(Exception):
    def __init__(self, message: str, token: _Token | None, column: int, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.pos = token.index if token is not None and message not in _MESSAGES_WITHOUT_POS else None
        self.column = column

    def crash(self) -> _Crash:
        return _Crash({"message": self.message} if self.pos is None else {"message": self.message, "pos": self.pos})


_SINGLE_CHAR_TOKENS = {",": ",", ":": ":", "?": "?", "!": "!", "(": "(", ")": ")"}
_UNEXPECTED = {
    "ident": "Unexpected identifier",
    "string": "Unexpected string",
    "number": "Unexpected string",  # CHT checks `accept.string` first for both
    ",": "Unexpected function argument separator",
    "&&": "Unexpected logical AND",
    "||": "Unexpected logical OR",
    "!": "Unexpected logical NOT",
    "(": "Unexpected opening bracket",
    ")": "Unexpected closing bracket",
    "?": "Unexpected ternary 'then'",
    ":": "Unexpected ternary 'else'",
}
_NOT_CLOSED = "All blocks weren't closed."
_MESSAGES_WITHOUT_POS = {_UNEXPECTED["?"], _UNEXPECTED[":"], _NOT_CLOSED}


def _tokenize(rule: str) -> tuple[list[_Token], str | None]:
    """CHT's pupil lexer, character for character; also returns the identifier it drops at the end."""
    tokens: list[tuple[str, str, int]] = []
    pending, pending_at = "", 0
    escape_next = in_string = False
    quote: str | None = None
    string_at = 0
    last = len(rule) - 1
    i = 0
    while i <= last:
        ch = rule[i]
        following = rule[i + 1] if i < last else None
        start_string = end_string = append = ignore = False
        push: list[tuple[str, str, int]] = []
        if escape_next:
            escape_next, append = False, True
        elif ch == quote:
            end_string = True
        elif in_string:
            append = True
        elif ch in "\"'":
            start_string = True
        elif ch == "\\":
            escape_next = ignore = True
        elif ch in _SINGLE_CHAR_TOKENS:
            push.append((ch, ch, i))
        elif ch in "&|" and following == ch:
            push.append((ch * 2, ch * 2, i))
            i += 1
        elif ch in _JS_SPACE:
            ignore = True
        else:
            append = True
        if append:
            if not pending:
                pending_at = string_at if in_string else i
            pending += ch
        if i >= last:
            append = False
        if not append and not ignore and pending:
            if in_string:
                kind = "string"
            elif not math.isnan(_parse_float(pending)) and math.isfinite(_to_number(pending)):
                kind = "number"
            else:
                kind = "ident"
            push.insert(0, (kind, pending, pending_at))
            pending = ""
        if start_string:
            in_string, quote, string_at = True, ch, i
        if end_string:
            in_string, quote = False, None
        tokens.extend(push)
        i += 1
    if in_string:
        raise _RuleSyntaxError("Unterminated string", None, string_at)
    if escape_next and not pending:
        raise _RuleSyntaxError("Unexpected end of rule after \\", None, last)
    return [_Token(kind, text, n, col) for n, (kind, text, col) in enumerate(tokens)], (pending or None)


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    column: int


@dataclass(frozen=True)
class _Seq:
    """Operands combined left to right: ((operator or None, negated, node), ...)."""

    items: tuple[tuple[str | None, bool, Any], ...]


@dataclass(frozen=True)
class _Ternary:
    condition: _Seq
    then: _Seq
    otherwise: _Seq | None


class _Parser:
    """Recursive descent over CHT's tokens:
        rule    := ε | block
        block   := seq ['?' seq [':' seq]]
        seq     := unary (('&&' | '||') unary)*
        unary   := ['!'] primary
        primary := ident ['(' [arg (',' arg)* [',']] ')'] | '(' [block] ')'
    """

    def __init__(self, tokens: list[_Token], rule: str):
        self.tokens, self.rule, self.at, self.depth = tokens, rule, 0, 0
        self.last_group_close = -1

    def parse(self) -> Any:
        if not self.tokens:
            return _Seq(())
        tree = self.block()
        if self.at < len(self.tokens):
            token = self.tokens[self.at]
            raise self.error("Can't close the root block." if token.kind == ")" else _UNEXPECTED[token.kind], token)
        if isinstance(tree, _Ternary) and self.last_group_close == len(self.tokens) - 1:
            # CHT closes a root ternary only on the last token, unless that token closes a group
            raise _RuleSyntaxError(
                _NOT_CLOSED, None, len(self.rule),
                " (CHT cannot end a ternary outside parentheses with a parenthesised group: wrap the ternary in"
                " parentheses)",
            )
        return tree

    def peek(self) -> str | None:
        return self.tokens[self.at].kind if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        if self.at >= len(self.tokens):
            raise self.error("Unexpected end of rule", None)
        token = self.tokens[self.at]
        self.at += 1
        return token

    def error(self, message: str, token: _Token | None) -> _RuleSyntaxError:
        return _RuleSyntaxError(message, token, token.column if token is not None else len(self.rule))

    def block(self) -> Any:
        condition = self.seq()
        if self.peek() != "?":
            return condition
        self.take()
        then = self.seq()
        otherwise = None
        if self.peek() == ":":
            self.take()
            otherwise = self.seq()
        return _Ternary(condition, then, otherwise)

    def seq(self) -> _Seq:
        items = [(None, *self.unary())]
        while self.peek() in ("&&", "||"):
            operator = self.take().kind
            items.append((operator, *self.unary()))
        return _Seq(tuple(items))

    def unary(self) -> tuple[bool, Any]:
        if self.peek() != "!":
            return False, self.primary()
        self.take()
        if self.peek() == "!":
            raise self.error(_UNEXPECTED["!"], self.tokens[self.at])
        return True, self.primary()

    def primary(self) -> Any:
        if self.at >= len(self.tokens):
            raise self.error("Unexpected end of rule", None)
        token = self.take()
        if token.kind == "ident":
            if self.peek() != "(":
                return _Call(token.text, (), token.column)
            self.take()
            return _Call(token.text, self.arguments(), token.column)
        if token.kind == "(":
            self.depth += 1
            if self.peek() == ")":
                node: Any = _Seq(())
            else:
                node = self.block()
            if self.at >= len(self.tokens):
                raise self.error(_NOT_CLOSED, None)
            close = self.take()
            if close.kind != ")":
                raise self.error(_UNEXPECTED[close.kind], close)
            self.depth -= 1
            self.last_group_close = close.index
            return node
        raise self.error(_UNEXPECTED[token.kind], token)

    def arguments(self) -> tuple[Any, ...]:
        args: list[Any] = []
        while True:
            if self.at >= len(self.tokens):
                raise self.error("Unexpected end of rule: the argument list is not closed", None)
            token = self.take()
            if token.kind == ")":
                return tuple(args)
            if token.kind not in ("string", "number"):
                raise self.error(_UNEXPECTED[token.kind], token)
            args.append(token.text if token.kind == "string" else _parse_float(token.text))
            if self.at >= len(self.tokens):
                raise self.error("Unexpected end of rule: the argument list is not closed", None)
            separator = self.take()
            if separator.kind == ")":
                return tuple(args)
            if separator.kind != ",":
                raise self.error(_UNEXPECTED[separator.kind], separator)


@lru_cache(maxsize=2048)
def _parse(rule: str) -> Any:
    """The tree of a rule, or the _RuleSyntaxError it raises (cached per rule string either way)."""
    try:
        tokens, _dropped = _tokenize(rule)
        return _Parser(tokens, rule).parse()
    except _RuleSyntaxError as error:
        return error


def _compiled(rule: Any) -> Any:
    if not isinstance(rule, str):
        raise _Crash()  # CHT: rule.split of undefined / a number
    tree = _parse(rule)
    if isinstance(tree, _RuleSyntaxError):
        raise tree.crash()
    return tree


def _calls(node: Any) -> Iterable[_Call]:
    if isinstance(node, _Call):
        yield node
    elif isinstance(node, _Seq):
        for _operator, _negated, operand in node.items:
            yield from _calls(operand)
    elif isinstance(node, _Ternary):
        for part in (node.condition, node.then, node.otherwise):
            if part is not None:
                yield from _calls(part)


# --- evaluation -------------------------------------------------------------------------------------


@dataclass
class _Context:
    values: dict[str, Any]
    now: datetime
    tz: tzinfo
    query: Query
    phone_is_valid: Callable[[str], bool]


def _evaluate(node: Any, ctx: _Context, key: str, needed: bool) -> bool:
    """pupil's validator: left to right, no precedence. `needed` False: the result cannot matter."""
    if isinstance(node, _Seq):
        result = True
        for operator, negated, operand in node.items:
            operand_needed = needed and (not result if operator == "||" else result)
            value = _evaluate(operand, ctx, key, operand_needed)
            if negated:
                value = not value
            result = (result or value) if operator == "||" else (result and value)
        return result
    if isinstance(node, _Ternary):
        branch = node.then if _evaluate(node.condition, ctx, key, needed) else node.otherwise
        return True if branch is None else _evaluate(branch, ctx, key, needed)
    name = node.name.lower()
    args = list(node.args)
    if name.startswith("other"):
        name = name[5:]
        value = _get(ctx.values, args.pop(0) if args else UNDEFINED)
    else:
        value = ctx.values.get(key, UNDEFINED)
    function = _FUNCTIONS.get(name)
    if function is None:
        return True  # pupil: an unknown function is valid
    if name in _DATABASE_FUNCTIONS and not needed:
        return True
    return bool(function(ctx, value, *args))


def _f_equals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _loose_equal(value, other)


def _f_sequals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _strict_equal(value, other)


def _f_iequals(ctx: _Context, value: Any, other: Any = UNDEFINED, *_: Any) -> bool:
    return _lower(value) == _lower(other)


def _f_lenmin(ctx: _Context, value: Any, minimum: Any = UNDEFINED, *_: Any) -> bool:
    return _ge(_length(value), minimum)


def _f_lenmax(ctx: _Context, value: Any, maximum: Any = UNDEFINED, *_: Any) -> bool:
    return _le(_length(value), maximum)


def _f_lenequals(ctx: _Context, value: Any, length: Any = UNDEFINED, *_: Any) -> bool:
    if value is None or value is UNDEFINED:
        raise _Crash()  # value.toString()
    return _loose_equal(_utf16_length(_js_string(value)), _parse_int(length))


def _f_min(ctx: _Context, value: Any, minimum: Any = UNDEFINED, *_: Any) -> bool:
    return _ge(_parse_float(value), minimum)


def _f_max(ctx: _Context, value: Any, maximum: Any = UNDEFINED, *_: Any) -> bool:
    return _le(_parse_float(value), maximum)


def _f_between(ctx: _Context, value: Any, minimum: Any = UNDEFINED, maximum: Any = UNDEFINED, *_: Any) -> bool:
    number = _parse_float(value)
    return _ge(number, minimum) and _le(number, maximum)


def _f_in(ctx: _Context, value: Any, *options: Any) -> bool:
    return any(_loose_equal(option, value) for option in options)


def _f_required(ctx: _Context, value: Any, *_: Any) -> bool:
    return _truthy(value)


def _f_optional(ctx: _Context, value: Any, *_: Any) -> bool:
    return True


def _f_numeric(ctx: _Context, value: Any, *_: Any) -> bool:
    return not math.isnan(_parse_float(value)) and math.isfinite(_to_number(value))


_ALPHA = re.compile(r"[a-zA-Z]+")
_ALPHANUMERIC = re.compile(r"[a-zA-Z0-9]+")
_EMAIL = re.compile(r"[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,4}", re.IGNORECASE | re.ASCII)


def _f_alpha(ctx: _Context, value: Any, *_: Any) -> bool:
    return _ALPHA.fullmatch(_js_string(value)) is not None


def _f_alphanumeric(ctx: _Context, value: Any, *_: Any) -> bool:
    return _ALPHANUMERIC.fullmatch(_js_string(value)) is not None


def _f_email(ctx: _Context, value: Any, *_: Any) -> bool:
    return _EMAIL.fullmatch(_js_string(value)) is not None


def _f_regex(ctx: _Context, value: Any, pattern: Any = UNDEFINED, flags: Any = UNDEFINED, *_: Any) -> bool:
    source = "(?:)" if pattern is UNDEFINED else _js_string(pattern)
    try:
        compiled, sticky = _js_regex(source, _js_string(flags) if _truthy(flags) else "")
    except JSRegexError:
        raise _Crash() from None  # new RegExp throws a SyntaxError
    text = _js_string(value)
    return (compiled.match(text) if sticky else compiled.search(text)) is not None


def _f_integer(ctx: _Context, value: Any, *_: Any) -> bool:
    return _loose_equal(_parse_int(value), value)


def _f_equalsto(ctx: _Context, value: Any, other_key: Any = UNDEFINED, *_: Any) -> bool:
    return _loose_equal(value, _get(ctx.values, other_key))


def _f_exists(ctx: _Context, value: Any, form: Any = UNDEFINED, field: Any = UNDEFINED, *_: Any) -> bool:
    if form is UNDEFINED or field is UNDEFINED:
        return False  # CHT: a TypeError caught by the function, which then returns undefined
    return _reports_exist(ctx, [field], form=_index_key("form", _js_string(form)))


def _f_unique(ctx: _Context, value: Any, *fields: Any) -> bool:
    return bool(fields) and not _reports_exist(ctx, list(fields))


def _f_uniquewithin(ctx: _Context, value: Any, *args: Any) -> bool:
    if len(args) < 2:
        return False  # no fields: CHT's exists() rejects, caught, undefined
    try:
        return not _reports_exist(ctx, list(args[:-1]), within=args[-1])
    except _NoStartDate:
        return False


def _f_isafter(ctx: _Context, value: Any, duration: Any = UNDEFINED, *_: Any) -> bool:
    return _compare_date(ctx, value, duration, after=True)


def _f_isbefore(ctx: _Context, value: Any, duration: Any = UNDEFINED, *_: Any) -> bool:
    return _compare_date(ctx, value, duration, after=False)


def _f_isisoweek(ctx: _Context, value: Any, week_field: Any = UNDEFINED, year_field: Any = UNDEFINED, *_: Any) -> bool:
    values = ctx.values
    if _js_key(week_field) not in values or (_truthy(year_field) and _js_key(year_field) not in values):
        return False
    year = _get(values, year_field) if _truthy(year_field) else ctx.now.astimezone(ctx.tz).year
    week = _get(values, week_field)
    if not re.fullmatch(r"[0-9]{1,2}", _js_string(week)) or not re.fullmatch(r"[0-9]{4}", _js_string(year)):
        return False
    return _ge(week, 1) and _le(week, _iso_weeks_in_year(int(_to_number(year))))


def _f_validphone(ctx: _Context, value: Any, field: Any = UNDEFINED, *_: Any) -> bool:
    phone = _get(ctx.values, field)
    if _is_number(phone):
        phone = _js_string(phone)
    return isinstance(phone, str) and phone != "" and bool(ctx.phone_is_valid(phone))


def _f_uniquephone(ctx: _Context, value: Any, field: Any = UNDEFINED, *_: Any) -> bool:
    phone = _get(ctx.values, field)
    if _is_number(phone):
        phone = _js_string(phone)
    if not isinstance(phone, str) or phone == "":
        return True
    return not ctx.query(PHONES_VIEW, [["phone", phone]])


_FUNCTIONS: dict[str, Callable[..., bool]] = {
    "equals": _f_equals,
    "iequals": _f_iequals,
    "sequals": _f_sequals,
    "siequals": _f_iequals,  # both sides are strings, so === and == agree
    "lenmin": _f_lenmin,
    "lenmax": _f_lenmax,
    "lenequals": _f_lenequals,
    "min": _f_min,
    "max": _f_max,
    "between": _f_between,
    "in": _f_in,
    "required": _f_required,
    "optional": _f_optional,
    "numeric": _f_numeric,
    "alpha": _f_alpha,
    "alphanumeric": _f_alphanumeric,
    "email": _f_email,
    "regex": _f_regex,
    "integer": _f_integer,
    "equalsto": _f_equalsto,
    "exists": _f_exists,
    "unique": _f_unique,
    "uniquewithin": _f_uniquewithin,
    "isafter": _f_isafter,
    "isbefore": _f_isbefore,
    "isisoweek": _f_isisoweek,
    "validphone": _f_validphone,
    "uniquephone": _f_uniquephone,
}
_DATABASE_FUNCTIONS = {"exists", "unique", "uniquewithin", "uniquephone"}
_MIN_ARGS = {
    "equals": 1, "iequals": 1, "sequals": 1, "siequals": 1, "lenmin": 1, "lenmax": 1, "lenequals": 1,
    "min": 1, "max": 1, "between": 2, "in": 1, "regex": 1, "equalsto": 1, "exists": 2, "unique": 1,
    "uniquewithin": 2, "isafter": 1, "isbefore": 1, "isisoweek": 1, "validphone": 1, "uniquephone": 1,
}
FUNCTION_NAMES = (
    "equals iequals sequals siequals lenMin lenMax lenEquals min max between in required optional numeric "
    "alpha alphanumeric email regex integer equalsTo exists unique uniqueWithin isAfter isBefore isISOWeek "
    "validPhone uniquePhone"
).split()


def _call_problems(call: _Call) -> list[str]:
    name = call.name.lower()
    args = list(call.args)
    if name.startswith("other"):
        if not args:
            return [f"{call.name}() needs the name of the other field first"]
        name, args = name[5:], args[1:]
    if name not in _FUNCTIONS:
        return [f"unknown function '{call.name}' (CHT treats it as always valid)"]
    needed = _MIN_ARGS.get(name, 0)
    if len(args) < needed:
        return [f"{call.name} needs {needed} argument{'s' if needed > 1 else ''}, not {len(args)}"]
    problems = []
    if name in ("iequals", "siequals") and not isinstance(args[0], str):
        problems.append(f"{call.name} needs a quoted string argument")
    if name == "regex":
        flags = args[1] if len(args) > 1 and _truthy(args[1]) else ""
        try:
            _js_regex(_js_string(args[0]), _js_string(flags))
        except JSRegexError as error:
            problems.append(f"invalid regular expression /{_js_string(args[0])}/{_js_string(flags)}: {error}")
    for duration in ([args[0]] if name in ("isafter", "isbefore") else [args[-1]] if name == "uniquewithin" else []):
        problem = _duration_problem(duration)
        if problem:
            problems.append(f"{call.name}: {problem}")
    return problems


# --- other reports ----------------------------------------------------------------------------------


class _NoStartDate(Exception):
    """uniqueWithin with a duration that is not a string: CHT's duration.split throws, caught, undefined."""


_NO_LIMIT = object()


def _index_key(field: str, value: Any) -> list[str] | None:
    """The `reports_by_field` key of a field's value, None when no report can have it in the index."""
    name = field.lower()
    if not name or name in INDEX_SKIPPED or name.endswith("_date"):
        return None
    if isinstance(value, str):
        text = value.lower()
    elif _is_number(value) and value == value and value != 0:
        text = _js_number_string(value).lower()
    else:
        return None  # '', 0, booleans, null, absent, objects: CHT's index has no such entry
    return [name, text] if 0 < len(text) <= MAX_INDEXED_LENGTH else None


def _reports_exist(ctx: _Context, fields: Sequence[Any], form: Any = _NO_LIMIT, within: Any = _NO_LIMIT) -> bool:
    """CHT validation_utils.exists: another report, without errors, with every field's value (and the form)."""
    keys: list[list[str]] = []
    for field in fields:
        key = _index_key(_js_key(field), _get(ctx.values, field))
        if key is None:
            return False
        keys.append(key)
    if form is not _NO_LIMIT:
        if form is None:
            return False
        keys.append(form)
    unique_keys = [list(k) for k in dict.fromkeys(tuple(k) for k in keys)]
    rows = ctx.query(REPORTS_VIEW, unique_keys)
    found: dict[tuple[str, ...], dict[str, Any]] = {tuple(k): {} for k in unique_keys}
    for row in rows:
        key = tuple(row.get("key") or ())
        if key in found and isinstance(row.get("id"), str):
            found[key][row["id"]] = row.get("value") or {}
    candidates = set.intersection(*(set(ids) for ids in found.values()))
    candidates.discard(ctx.values.get("_id"))
    if not candidates:
        return False
    start = _start_date(ctx, within)
    values = found[tuple(unique_keys[0])]
    for doc_id in candidates:
        value = values[doc_id]
        if value.get("has_errors"):
            continue
        reported = value.get("reported_date")
        if start is None or (_is_number(reported) and reported >= start):
            return True
    return False


def _start_date(ctx: _Context, within: Any) -> float | None:
    """CHT parseStartDate: epoch ms of now minus the duration; None: no limit."""
    if within is _NO_LIMIT or not _truthy(within):
        return None
    if not isinstance(within, str):
        raise _NoStartDate()
    duration = _parse_duration(within)
    if duration is None:
        return None  # moment().subtract(invalid) is NaN, and `!NaN` means no limit
    start = _add(ctx.now.astimezone(ctx.tz), duration, -1)
    return None if start is None else start.timestamp() * 1000


# --- dates and durations (moment) -------------------------------------------------------------------


_DURATION_UNITS = {
    "year": "year", "years": "year", "y": "year",
    "quarter": "quarter", "quarters": "quarter", "Q": "quarter",
    "month": "month", "months": "month", "M": "month",
    "week": "week", "weeks": "week", "w": "week",
    "day": "day", "days": "day", "d": "day",
    "hour": "hour", "hours": "hour", "h": "hour",
    "minute": "minute", "minutes": "minute", "m": "minute",
    "second": "second", "seconds": "second", "s": "second",
    "millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond",
}
_OTHER_MOMENT_UNITS = {  # units moment knows that are not durations: the duration is invalid
    "date", "dates", "D", "isoweek", "isoweeks", "W", "weekday", "weekdays", "e", "isoweekday",
    "isoweekdays", "E", "dayofyear", "dayofyears", "DDD", "weekyear", "weekyears", "gg", "isoweekyear",
    "isoweekyears", "GG",
}
_UNIT_MS = {"hour": 3_600_000, "minute": 60_000, "second": 1000, "millisecond": 1}


@dataclass(frozen=True)
class _Duration:
    months: int
    days: int
    milliseconds: int


def _unit(text: str) -> str | None:
    """moment's normalizeUnits (exact alias, then lower-cased): a duration unit, 'other', or None."""
    for candidate in (text, text.lower()):
        if candidate in _DURATION_UNITS:
            return _DURATION_UNITS[candidate]
        if candidate in _OTHER_MOMENT_UNITS:
            return "other"
    return None


def _parse_duration(text: str) -> _Duration | None:
    """CHT parseDuration: moment.duration(parseInt(parts[0]), parts[1]); None when moment finds it invalid."""
    parts = text.split(" ")
    count = _parse_int(parts[0])
    unit_text = parts[1] if len(parts) > 1 else ""
    if not unit_text:
        return None if math.isnan(count) else _Duration(0, 0, int(count))
    unit = _unit(unit_text)
    if unit is None:
        return _Duration(0, 0, 0)  # an unknown unit is dropped: a valid, zero duration
    if unit == "other" or math.isnan(count):
        return None
    n = int(count)
    if unit in ("year", "quarter", "month"):
        return _Duration(n * {"year": 12, "quarter": 3, "month": 1}[unit], 0, 0)
    if unit in ("week", "day"):
        return _Duration(0, n * (7 if unit == "week" else 1), 0)
    return _Duration(0, 0, n * _UNIT_MS[unit])


def _duration_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"the duration must be quoted, like '2 weeks', not {_js_string(value)}"
    parts = value.split(" ")
    unit = _unit(parts[1]) if len(parts) > 1 and parts[1] else None
    if math.isnan(_parse_int(parts[0])) or unit in (None, "other"):
        return f"'{value}' is not a duration like '2 weeks' (a number, one space, a unit)"
    return None


def _add(moment: datetime, duration: _Duration, sign: int) -> datetime | None:
    """moment's add/subtract: months (day clamped), then calendar days, then elapsed milliseconds."""
    try:
        if duration.months:
            total = moment.year * 12 + moment.month - 1 + sign * duration.months
            year, month = divmod(total, 12)
            month += 1
            last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
            moment = moment.replace(year=year, month=month, day=min(moment.day, last_day))
        if duration.days:
            moment = moment + timedelta(days=sign * duration.days)  # wall-clock: keeps the time of day
        if duration.milliseconds:
            elapsed = timedelta(milliseconds=sign * duration.milliseconds)
            moment = (moment.astimezone(timezone.utc) + elapsed).astimezone(moment.tzinfo)
        return moment
    except (ValueError, OverflowError):
        return None


_ISO_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def _moment(value: Any, ctx: _Context) -> datetime | None:
    """moment(value) in `tz`: now for undefined, epoch ms, ISO 8601 or RFC 2822; None when invalid."""
    try:
        if value is UNDEFINED:
            return ctx.now.astimezone(ctx.tz)
        if _is_number(value):
            return datetime.fromtimestamp(value / 1000, ctx.tz) if math.isfinite(value) else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        match = _ISO_YEAR_MONTH.fullmatch(text)
        if match:
            parsed = datetime(int(match[1]), int(match[2]), 1)
        elif re.match(r"[0-9]{4}", text) and text.isascii():
            parsed = datetime.fromisoformat(text.replace(",", "."))
        else:
            parsed = parsedate_to_datetime(text)
        if parsed is None:
            return None
        return parsed.replace(tzinfo=ctx.tz) if parsed.tzinfo is None else parsed.astimezone(ctx.tz)
    except (ValueError, OverflowError, OSError, TypeError, IndexError):
        return None


def _compare_date(ctx: _Context, value: Any, duration: Any, after: bool) -> bool:
    """CHT compareDate: the value's day against the day of reported_date ± duration, in `tz`."""
    if not isinstance(duration, str):
        return False
    parsed = _parse_duration(duration)
    tested = _moment(value, ctx)
    reported = _moment(ctx.values.get("reported_date", UNDEFINED), ctx)
    if parsed is None or tested is None or reported is None:
        return False
    control = _add(reported, parsed, 1 if after else -1)
    if control is None:
        return False
    tested_day, control_day = tested.astimezone(ctx.tz).date(), control.astimezone(ctx.tz).date()
    return tested_day >= control_day if after else tested_day <= control_day


def _iso_weeks_in_year(year: int) -> int:
    """moment().year(year).isoWeeksInYear(): 53 or 52 (ISO weeks repeat every 400 years)."""
    year = year % 400 or 400
    return date(year, 12, 28).isocalendar()[1]


# --- JavaScript regular expressions -------------------------------------------------------------------


class JSRegexError(ValueError):
    """A pattern or flags `new RegExp` rejects (or that Python cannot run)."""


_JS_FLAG_BITS = {"d": 0, "g": 0, "i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "u": 0, "v": 0, "y": 0}
_WORD = "A-Za-z0-9_"
_BOUNDARY = rf"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NOT_BOUNDARY = rf"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
_SPACE_CLASS = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LINE_END = r"\n\r\u2028\u2029"


@lru_cache(maxsize=512)
def _js_regex(source: str, flags: str) -> tuple[re.Pattern[str], bool]:
    """(compiled Python pattern, sticky) for `new RegExp(source, flags)`; raises JSRegexError."""
    if any(f not in _JS_FLAG_BITS for f in flags) or len(set(flags)) != len(flags) or {"u", "v"} <= set(flags):
        raise JSRegexError(f"invalid flags '{flags}'")
    unicode_mode = "u" in flags or "v" in flags
    multiline, dotall = "m" in flags, "s" in flags
    out: list[str] = []
    i, n, in_class = 0, len(source), False
    while i < n:
        ch = source[i]
        if ch == "\\":
            if i + 1 >= n:
                raise JSRegexError("\\ at end of pattern")
            esc = source[i + 1]
            i += 2
            if esc == "d":
                out.append("0-9" if in_class else "[0-9]")
            elif esc == "D":
                out.append(r"\D" if in_class else "[^0-9]")
            elif esc == "w":
                out.append(_WORD if in_class else f"[{_WORD}]")
            elif esc == "W":
                out.append(r"\W" if in_class else f"[^{_WORD}]")
            elif esc == "s":
                out.append(_SPACE_CLASS if in_class else f"[{_SPACE_CLASS}]")
            elif esc == "S":
                out.append(r"\S" if in_class else f"[^{_SPACE_CLASS}]")
            elif esc == "b":
                out.append(r"\x08" if in_class else _BOUNDARY)
            elif esc == "B":
                out.append("B" if in_class else _NOT_BOUNDARY)
            elif esc == "k" and source.startswith("<", i) and not in_class:
                end = source.find(">", i)
                if end < 0:
                    raise JSRegexError("invalid named reference")
                out.append(f"(?P={source[i + 1:end]})")
                i = end + 1
            elif esc == "c" and i < n and source[i].isascii() and source[i].isalpha():
                out.append(re.escape(chr(ord(source[i]) % 32)))
                i += 1
            elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", source[i:i + 2]):
                out.append("\\x" + source[i:i + 2])
                i += 2
            elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", source[i:i + 4]):
                out.append("\\u" + source[i:i + 4])
                i += 4
            elif esc == "u" and unicode_mode and source.startswith("{", i):
                end = source.find("}", i)
                if end < 0:
                    raise JSRegexError("invalid unicode escape")
                out.append(re.escape(chr(int(source[i + 1:end], 16))))
                i = end + 1
            elif esc in "fnrtv0123456789":
                out.append("\\" + esc)
            elif esc.isascii() and esc.isalpha():
                if unicode_mode:
                    if esc in "pP":
                        raise JSRegexError(f"\\{esc}{{...}} property escapes are not supported")
                    raise JSRegexError(f"invalid escape \\{esc}")
                out.append(esc)  # an identity escape outside unicode mode
            else:
                out.append(re.escape(esc))
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append("]")
            elif ch in "[&~|-" and (ch == "[" or source[i + 1:i + 2] == ch):
                out.append("\\" + ch)
            else:
                out.append(ch)
            i += 1
            continue
        if ch == "[":
            if source.startswith("[^]", i):
                out.append(r"[\s\S]")
                i += 3
            elif source.startswith("[]", i):
                out.append("(?!)")
                i += 2
            else:
                in_class = True
                out.append("[")
                i += 1
                if source.startswith("^", i):
                    out.append("^")
                    i += 1
            continue
        if ch == "(" and source.startswith("(?", i):
            rest = source[i + 2:]
            if rest[:1] in (":", "=", "!"):
                out.append("(?" + rest[0])
                i += 3
            elif rest[:2] in ("<=", "<!"):
                out.append("(?" + rest[:2])
                i += 4
            else:
                named = re.match(r"<([A-Za-z_][A-Za-z0-9_]*)>", rest)
                if not named:
                    raise JSRegexError("invalid group")
                out.append(f"(?P<{named[1]}>")
                i += 2 + len(named[0])
            continue
        if ch == ".":
            out.append("." if dotall else f"[^{_LINE_END}]")
        elif ch == "$":
            out.append(rf"(?=[{_LINE_END}]|\Z)" if multiline else r"\Z")
        elif ch == "^" and multiline:
            out.append(rf"(?:\A|(?<=[{_LINE_END}]))")
        else:
            out.append(ch)
        i += 1
    if in_class:
        raise JSRegexError("unterminated character class")
    bits = 0
    for flag in flags:
        bits |= _JS_FLAG_BITS[flag]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile("".join(out), bits & ~re.MULTILINE), "y" in flags
    except (re.error, OverflowError, ValueError) as error:
        raise JSRegexError(str(error)) from None
