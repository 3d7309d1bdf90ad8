"""Who a message goes to, and whether a sender may be answered at all (CHT message-utils, lib/messages).

`resolve(context, recipient, ...)` is message-utils' `getPhone`: `getRecipient` and then the
`outgoing_phone_replace` / `outgoing_phone_filters` rules (`apply_outgoing_rules`).

`context` is what the recipient is resolved against. CHT resolves it against the *extended template
context* (spec 6.1: `patient`, `place`, extras, then the keys of the patient, place and report with
their `fields`); the hydrated report itself (its `contact` with the parent chain embedded,
`patient` and `place` hydrated the same way) gives the same answer for the rules that walk lineage,
and differs only where a top-level name (rule 8) or `contact` comes from the patient or place first.
Pass whichever the caller builds; both are plain mappings here.

A recipient is a string, or an array whose first entry that resolves wins (strings and numbers
only, trimmed, empty ones dropped). Each entry is matched against these rules in order, and **the
first rule that matches decides** that entry, even when it finds no phone:

1. `reporting_unit`: the sender (`from`, else `contact.phone`).
2. `ancestor:<type>`: the primary contact's phone of the first ancestor whose `type` or
   `contact_type` is `<type>`, for the patient, then the place, then the report.
3. `link:<tag>`: the phone of `linked_docs[<tag>]` on the patient's, place's, then report contact's
   lineage (hydration replaces the stored id by the contact doc; a bare id has no phone), then, as
   for `ancestor:`, an ancestor whose type is `<tag>`.
4. `parent` / `grandparent`: the primary contact's phone two / three levels up from the patient, else
   the place, else the report's contact.
5. `clinic`: the clinic's contact phone (patient, place, report), else `contact.phone`.
6. `health_center`, `district` (type `district_hospital`).
7. a key of `fields` with a truthy value; 8. a top-level key with a truthy value;
9. a dotted path (`fields.a.b`, `patient.parent.contact.phone`; numeric segments index arrays);
10. a string that passes `phones.validate({}, r)`: full validation with no region, so only
    international numbers (`+254...`) are taken literally.

When no entry resolves: the sender when `default_to_sender` (and there is one), else the first
entry as written. With no usable entry at all: the sender.

Deviation, on purpose: CHT would put whatever a rule returns in `to`, an object or `true` included
(recipient `"contact"` gives the contact doc). Here only strings and numbers (as strings) count as
resolved; anything else lets the next entry, then the fallback, decide.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable, Mapping

from sentinel.core import phones
from sentinel.core.docs import js_truthy

CLINIC = "clinic"
HEALTH_CENTER = "health_center"
DISTRICT_HOSPITAL = "district_hospital"
DENIED = "denied"

_MAX_DEPTH = 100  # lineage is JSON, so never cyclic; this only bounds a malformed chain


# --- lineage ---------------------------------------------------------------------------------------


def _walk_start(doc: Any) -> Any:
    """CHT: a doc with a `parent` is its own first facility; anything else starts at its `contact`."""
    if not isinstance(doc, Mapping):
        return None
    return doc if js_truthy(doc.get("parent")) else doc.get("contact")


def _chain(doc: Any) -> Iterable[Mapping[str, Any]]:
    node = _walk_start(doc)
    for _ in range(_MAX_DEPTH):
        if not isinstance(node, Mapping):
            return
        yield node
        node = node.get("parent")


def find_ancestor(doc: Any, contact_type: str) -> Mapping[str, Any] | None:
    """CHT `getParent(doc, type)`: the first node of `doc`'s chain whose `type` or `contact_type` is it.

    The chain starts at `doc` itself when it has a `parent`, else at `doc.contact`.
    """
    for node in _chain(doc):
        if node.get("type") == contact_type or node.get("contact_type") == contact_type:
            return node
    return None


def ancestors(doc: Any) -> dict[str, Mapping[str, Any]]:
    """The places spec 6.1's `extract(x)` adds to the template context, only those found.

    Keys: `clinic`, `health_center`, `district` (type `district_hospital`), and the deprecated
    aliases `parent` (= health_center) and `grandparent` (= district). A key is absent, not None,
    when there is no such ancestor, because lodash `defaults` then lets a later source fill it
    (`parent` falls back to the doc's own `parent`).
    """
    found: dict[str, Mapping[str, Any]] = {}
    for key, contact_type, alias in (
        ("clinic", CLINIC, None),
        ("health_center", HEALTH_CENTER, "parent"),
        ("district", DISTRICT_HOSPITAL, "grandparent"),
    ):
        node = find_ancestor(doc, contact_type)
        if node is not None:
            found[key] = node
            if alias:
                found[alias] = node
    return found


def _contact_phone(node: Any) -> Any:
    contact = node.get("contact") if isinstance(node, Mapping) else None
    return contact.get("phone") if isinstance(contact, Mapping) else None


def _ancestor_phone(doc: Any, contact_type: str) -> Any:
    return _contact_phone(find_ancestor(doc, contact_type))


def _linked_phone(doc: Any, tag: str) -> Any:
    """CHT `getLinkedPhone`: the first truthy `linked_docs[tag]` up the chain, and its `phone`."""
    for node in _chain(doc):
        linked = node.get("linked_docs")
        value = linked.get(tag) if isinstance(linked, Mapping) else None
        if js_truthy(value):
            return value.get("phone") if isinstance(value, Mapping) else None  # an unhydrated id has none
    return None


def _levels_up_phone(context: Mapping[str, Any], levels: int) -> Any:
    """CHT `resolveAncestor`: from the patient, else place, else the context, `levels` parents up."""
    subject = next((s for s in (context.get("patient"), context.get("place")) if js_truthy(s)), context)
    node = _walk_start(subject)
    for _ in range(levels):
        node = node.get("parent") if isinstance(node, Mapping) else None
        if not js_truthy(node):
            return None
    return _contact_phone(node)


def _first(*values: Any) -> Any:
    """JavaScript `a || b || ...` over already computed values."""
    for value in values:
        if js_truthy(value):
            return value
    return values[-1] if values else None


def _subjects(context: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return context.get("patient"), context.get("place"), context


# --- recipient rules -------------------------------------------------------------------------------


def _js_string(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _as_phone(value: Any) -> str | None:
    """A resolved value as `to`: strings as they are, numbers as JS prints them, anything else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _js_string(value) if js_truthy(value) else None
    return None


def _object_path_get(obj: Any, path: str) -> Any:
    """npm object-path `get(obj, "a.b.0.c")`: own keys only; an integer segment indexes an array."""
    for segment in path.split("."):
        if isinstance(obj, Mapping):
            if segment not in obj:
                return None
            obj = obj[segment]
        elif isinstance(obj, list):
            try:
                index = int(segment)
            except ValueError:
                return None
            if str(index) != segment or not 0 <= index < len(obj):
                return None
            obj = obj[index]
        else:
            return None
    return obj


def _sender(context: Mapping[str, Any], sender: Any) -> Any:
    if js_truthy(sender):
        return sender
    contact = context.get("contact")
    return _first(context.get("from"), contact.get("phone") if isinstance(contact, Mapping) else None)


def resolve_entry(context: Mapping[str, Any], recipient: str, sender: Any = None) -> str | None:
    """One recipient entry through rules 1-10 (see the module docstring); None when it resolves to nothing."""
    patient, place, report = _subjects(context)
    if recipient == "reporting_unit":
        value = _sender(context, sender)
    elif recipient.startswith("ancestor:"):
        contact_type = recipient.split(":")[1]
        value = _first(*(_ancestor_phone(s, contact_type) for s in (patient, place, report)))
    elif recipient.startswith("link:"):
        tag = recipient.split(":")[1]
        value = _first(
            _linked_phone(patient, tag),
            _linked_phone(place, tag),
            _linked_phone(context.get("contact"), tag),
            _ancestor_phone(patient, tag),
            _ancestor_phone(place, tag),
            _ancestor_phone(context.get("contact"), tag),
        )
    elif recipient == "parent":
        value = _levels_up_phone(context, 2)
    elif recipient == "grandparent":
        value = _levels_up_phone(context, 3)
    elif recipient == "clinic":
        contact = context.get("contact")
        value = _first(
            *(_ancestor_phone(s, CLINIC) for s in (patient, place, report)),
            contact.get("phone") if isinstance(contact, Mapping) else None,
        )
    elif recipient == "health_center":
        value = _first(*(_ancestor_phone(s, HEALTH_CENTER) for s in (patient, place, report)))
    elif recipient == "district":
        value = _first(*(_ancestor_phone(s, DISTRICT_HOSPITAL) for s in (patient, place, report)))
    elif isinstance(context.get("fields"), Mapping) and js_truthy(context["fields"].get(recipient)):
        value = context["fields"][recipient]
    elif js_truthy(context.get(recipient)):
        value = context[recipient]
    elif "." in recipient:
        value = _object_path_get(context, recipient)
    elif phones.validate({}, recipient):
        value = recipient
    else:
        value = None
    return _as_phone(value)


def _entries(recipient: Any) -> list[str]:
    """CHT `normalizeRecipient`: a list of trimmed, non-empty strings (numbers turned into strings)."""
    items = recipient if isinstance(recipient, list) else [recipient]
    entries = []
    for item in items:
        if isinstance(item, str) or (isinstance(item, (int, float)) and not isinstance(item, bool)):
            text = (item if isinstance(item, str) else _js_string(item)).strip()
            if text:
                entries.append(text)
    return entries


def get_recipient(context: Any, recipient: Any, *, sender: Any = None, default_to_sender: bool = True) -> str | None:
    """CHT `getRecipient`, before the outgoing phone rules."""
    if not isinstance(context, Mapping):
        return None
    from_ = _as_phone(_sender(context, sender))
    entries = _entries(recipient)
    if not entries:
        return from_
    for entry in entries:
        phone = resolve_entry(context, entry, sender)
        if phone:
            return phone
    return (from_ if default_to_sender else None) or entries[0]


def resolve(
    context: Any,
    recipient: Any,
    *,
    sender: Any,
    default_to_sender: bool = True,
    settings: Mapping[str, Any] | None,
) -> str | None:
    """The `to` of a message (CHT `getPhone`): `get_recipient`, then `apply_outgoing_rules`.

    `sender` is the reporting unit's phone; pass None (or "") to take it from the context as CHT
    does (`context.from || context.contact.phone`). `default_to_sender` is the app setting
    `sms.default_to_sender` (see `default_to_sender_setting`).

    Raises `re.error` when an `outgoing_phone_filters` pattern is not a valid regex (CHT throws
    too, and lib/messages records a `parse_error` on the report instead of the message).
    """
    phone = get_recipient(context, recipient, sender=sender, default_to_sender=default_to_sender)
    return apply_outgoing_rules(settings, phone)


def default_to_sender_setting(settings: Mapping[str, Any] | None) -> bool:
    """`settings.sms.default_to_sender ?? true`, read as JavaScript truthiness."""
    sms = settings.get("sms") if isinstance(settings, Mapping) else None
    value = sms.get("default_to_sender") if isinstance(sms, Mapping) else None
    return True if value is None else js_truthy(value)


# --- outgoing phone rules --------------------------------------------------------------------------


_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")
_JS_REPLACEMENT = re.compile(r"\$(\$|&|`|'|<[^>]*>|\d{1,2})")


@lru_cache(maxsize=256)
def _js_regex(pattern: str) -> re.Pattern[str]:
    """A JavaScript regex source as a Python pattern: `(?<name>` groups, ASCII `\\d` `\\w` `\\b`."""
    return re.compile(_JS_NAMED_GROUP.sub("(?P<", pattern), re.ASCII)


def _js_replacement(template: str, match: re.Match[str]) -> str:
    """`String.prototype.replace`'s replacement patterns: `$$`, `$&`, `` $` ``, `$'`, `$n`, `$nn`, `$<name>`."""
    groups = match.re.groups

    def one(token: re.Match[str]) -> str:
        code = token.group(1)
        if code == "$":
            return "$"
        if code == "&":
            return match.group(0)
        if code == "`":
            return match.string[: match.start()]
        if code == "'":
            return match.string[match.end():]
        if code.startswith("<"):
            if not match.re.groupindex:
                return token.group(0)
            name = code[1:-1]
            return (match.group(name) or "") if name in match.re.groupindex else ""
        if len(code) == 2 and 1 <= int(code) <= groups:
            return match.group(int(code)) or ""
        if 1 <= int(code[0]) <= groups:
            return (match.group(int(code[0])) or "") + code[1:]
        return token.group(0)

    return _JS_REPLACEMENT.sub(one, template)


def apply_outgoing_rules(settings: Mapping[str, Any] | None, phone: Any) -> Any:
    """`outgoing_phone_replace` then each of `outgoing_phone_filters`, as CHT applies them.

    - `outgoing_phone_replace: {match, replace}`: when the phone starts with `match` (a plain prefix,
      not a regex), that prefix becomes `replace` (default "").
    - `outgoing_phone_filters: [{match, replace}]`: in order, the first match of the regex `match` is
      replaced by `replace` (JavaScript replacement syntax, `$1` etc.). A filter whose `match` or
      `replace` is empty is skipped, so a filter cannot delete; use `outgoing_phone_replace`.
    """
    if not js_truthy(phone) or not isinstance(phone, str) or not isinstance(settings, Mapping):
        return phone
    replacement = settings.get("outgoing_phone_replace")
    if isinstance(replacement, Mapping) and js_truthy(replacement.get("match")):
        prefix = _js_string(replacement["match"])
        replace = replacement.get("replace")
        if phone.startswith(prefix):
            phone = (_js_string(replace) if js_truthy(replace) else "") + phone[len(prefix):]
    filters = settings.get("outgoing_phone_filters")
    if not phone or not isinstance(filters, list):
        return phone
    for rule in filters:
        if not isinstance(rule, Mapping) or not js_truthy(rule.get("match")) or not js_truthy(rule.get("replace")):
            continue
        template = _js_string(rule["replace"])
        phone = _js_regex(_js_string(rule["match"])).sub(lambda m: _js_replacement(template, m), phone, count=1)
    return phone


# --- deny rules (spec 3.1) -------------------------------------------------------------------------


def _js_parse_int(value: Any) -> int | None:
    """JavaScript `parseInt(value)` (base 10, or 16 after `0x`); None for NaN."""
    if isinstance(value, bool) or value is None:
        return None
    text = _js_string(value).strip()
    sign = -1 if text.startswith("-") else 1
    if text[:1] in "+-" and text:
        text = text[1:]
    base = 10
    if text[:2].lower() == "0x":
        text, base = text[2:], 16
    digits = ""
    for char in text:
        if char.isascii() and char.lower() in "0123456789abcdef"[:base]:
            digits += char
        else:
            break
    return sign * int(digits, base) if digits else None


def _sanitize(value: str) -> str:
    return value.lower().strip()


def _utf16_len(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def is_gateway(settings: Mapping[str, Any] | None, sender: Any) -> bool:
    """CHT `isMessageFromGateway`: both strings, and `phones.same(gateway_number, sender)`."""
    gateway = settings.get("gateway_number") if isinstance(settings, Mapping) else None
    return isinstance(gateway, str) and isinstance(sender, str) and phones.same(gateway, sender)


def initial_state_for_sender(settings: Mapping[str, Any] | None, sender: Any) -> str | None:
    """`"denied"` when the report's sender (`doc.from`) may not be answered, else None.

    CHT `isOutgoingAllowed(doc.from)`: no sender is allowed; denied when the sender is the gateway
    (`gateway_number`, compared with `phones.same`), or `outgoing_deny_shorter_than` (parsed as
    `parseInt`, ignored unless > 0) is more than its trimmed length, or `outgoing_deny_with_alphas`
    is exactly `true` and it holds an ASCII letter, or it starts (case-insensitively, trimmed) with
    an entry of the comma-separated `outgoing_deny_list`. The caller then checks for duplicates.
    """
    if not js_truthy(sender):
        return None
    if is_gateway(settings, sender):
        return DENIED
    settings = settings if isinstance(settings, Mapping) else {}
    text = sender if isinstance(sender, str) else _js_string(sender)
    shorter_than = _js_parse_int(settings.get("outgoing_deny_shorter_than"))
    if shorter_than is not None and shorter_than > 0 and _utf16_len(_sanitize(text)) < shorter_than:
        return DENIED
    if settings.get("outgoing_deny_with_alphas") is True and re.search(r"[a-zA-Z]", text):
        return DENIED
    deny_list = settings.get("outgoing_deny_list")
    if isinstance(deny_list, str) and deny_list:
        sanitized = _sanitize(text)
        for item in deny_list.split(","):
            prefix = _sanitize(item)
            if prefix and sanitized.startswith(prefix):
                return DENIED
    return None
