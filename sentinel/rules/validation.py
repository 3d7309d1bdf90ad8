"""CHT's report validations: the `validations` block of `registrations` and `patient_reports` (spec 2.7).

    "validations": {"join_responses": true, "list": [
        {"property": "patient_name", "rule": "lenMin(1) && lenMax(30)", "translation_key": "..."},
        {"property": "lmp", "rule": "integer && between(0,40)", "message": [{"locale": "en", "content": "..."}]}]}

**Reads** only its arguments, plus other documents through the `query(view_name, keys) -> rows`
callable the caller gives (rows as CouchDB view rows `{id, key, value}`), at most one call per rule
function evaluated:
    query("reports_by_field", [[field, value], ...])   `_design/sentinel` (unique, uniqueWithin, exists)
    query("lookups", [["phone", phone]])               `_design/sentinel`         (uniquePhone)
Both views are in `_design/sentinel` (`sentinel.core.ddocs.SENTINEL_DDOC`). **Writes** nothing: `validate()` returns the errors
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

**Modules**: this one is the entry point (the API, the configuration checks); the port's parts are
`pupil_values` (JavaScript values), `pupil_parser` (reading a rule), `pupil_functions` (evaluation, the
rule functions, the queries of other reports), `pupil_dates` (moment's dates and durations) and
`pupil_regex` (JavaScript regular expressions).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any, Callable, Mapping

from sentinel.core import clock, phones
from sentinel.rules.pupil_functions import _call_problems, _evaluate
from sentinel.rules.pupil_parser import _calls, _compiled, _Parser, _RuleSyntaxError, _tokenize
from sentinel.rules.pupil_values import _JS_SPACE, UNDEFINED, Query, _Context, _Crash, _js_key, _truthy

# The pupil port is split over sentinel/pupil_*.py, with this module as its entry point; re-exported
# here as they were defined here before the split:
from sentinel.rules.pupil_functions import FUNCTION_NAMES, INDEX_SKIPPED, MAX_INDEXED_LENGTH, PHONES_VIEW, REPORTS_VIEW  # noqa: F401
from sentinel.rules.pupil_parser import _parse  # noqa: F401  (tests check its cache through validation._parse)
from sentinel.rules.pupil_regex import JSRegexError  # noqa: F401


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


# --- reading the report and its messages ----------------------------------------------------------


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


def validate_report(ctx: Any, doc: Any, validations: Any) -> list[dict[str, Any]]:
    """CHT's pupil validations of `doc` for a transition: with the batch's queries (`ctx`, a
    `sentinel.core.context.Context`), the settings' phone rules, translations and time zone; the
    errors `{code, message}`."""
    return validate(
        doc,
        validations,
        now=ctx.now,
        query=ctx.batch.validation_query,
        phone_is_valid=lambda p: phones.validate(ctx.settings.values, p),
        translate=ctx.settings.translate,
        locale=ctx.settings.locale_for(doc),
        tz=clock.zone(ctx.settings),
    )
