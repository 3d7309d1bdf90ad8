"""sentinel/recipients.py: recipient resolution (spec 6.3), outgoing phone rules, lineage ancestors
(spec 6.1) and the deny rules (spec 3.1). Pure unit tests on hydrated documents.

The lineage below is hydrated as CHT hydrates it: each place carries its primary contact doc, and
the report's `contact` carries the parent chain; `patient` and `place` are hydrated the same way.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from sentinel.messaging import recipients

SENDER = "+254711000000"
CHW_PHONE = "+254711000001"
CLINIC_PHONE = "+254722000001"
HC_PHONE = "+254722000002"
DISTRICT_PHONE = "+254722000003"
P_CLINIC_PHONE = "+254733000001"
P_HC_PHONE = "+254733000002"
P_DISTRICT_PHONE = "+254733000003"
SUPERVISOR_PHONE = "+254744000001"


def place(type_: str, phone: str | None, parent: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": f"{type_}-{phone}", "type": type_, **extra}
    if phone is not None:
        doc["contact"] = {"_id": f"person-{phone}", "type": "person", "phone": phone}
    if parent is not None:
        doc["parent"] = parent
    return doc


# The reporter's lineage: CHW -> clinic -> health centre -> district.
DISTRICT = place("district_hospital", DISTRICT_PHONE)
HEALTH_CENTER = place("health_center", HC_PHONE, DISTRICT)
CLINIC = place("clinic", CLINIC_PHONE, HEALTH_CENTER)
CHW = {"_id": "chw", "type": "person", "phone": CHW_PHONE, "parent": CLINIC}

# The patient lives in another branch.
P_DISTRICT = place("district_hospital", P_DISTRICT_PHONE)
P_HEALTH_CENTER = place("health_center", P_HC_PHONE, P_DISTRICT)
P_CLINIC = place("clinic", P_CLINIC_PHONE, P_HEALTH_CENTER)
PATIENT = {"_id": "patient", "type": "person", "name": "Pat", "phone": "+254755000000", "parent": P_CLINIC}


def report(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "report",
        "type": "data_record",
        "form": "V",
        "from": SENDER,
        "contact": CHW,
        "fields": {"patient_id": "12345", "alt_phone": "+254766000000", "nested": {"phone": "+254766000001"}},
        "caregiver_phone": "+254777000000",
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


SUPERVISOR = {"_id": "supervisor", "type": "person", "phone": SUPERVISOR_PHONE}
LINKED_CLINIC = place("clinic", CLINIC_PHONE, HEALTH_CENTER, linked_docs={"chw_supervisor": SUPERVISOR})
LINKED_CHW = {**CHW, "parent": LINKED_CLINIC}
CUSTOM_AREA = {"_id": "area", "type": "contact", "contact_type": "chw_area", "contact": {"phone": "+254788000001"}, "parent": HEALTH_CENTER}


def resolve(context: Any, recipient: Any, *, sender: Any = None, default_to_sender: bool = True, settings: Any = None) -> Any:
    return recipients.resolve(context, recipient, sender=sender, default_to_sender=default_to_sender, settings=settings or {})


# --- the rules, one by one ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context, recipient, expected",
    [
        # 1. reporting_unit
        pytest.param(report(), "reporting_unit", SENDER, id="reporting_unit is the report's from"),
        pytest.param(report(**{"from": None}), "reporting_unit", CHW_PHONE, id="reporting_unit without from is the contact's phone"),
        # 2. ancestor:<type>
        pytest.param(report(), "ancestor:health_center", HC_PHONE, id="ancestor: the primary contact of the first ancestor of that type"),
        pytest.param(report(patient=PATIENT), "ancestor:health_center", P_HC_PHONE, id="ancestor: the patient's lineage comes before the report's"),
        pytest.param(report(place=P_CLINIC), "ancestor:clinic", P_CLINIC_PHONE, id="ancestor: the place's lineage starts at the place itself"),
        pytest.param(report(contact={**CHW, "parent": CUSTOM_AREA}), "ancestor:chw_area", "+254788000001", id="ancestor: contact_type of a configurable hierarchy matches"),
        pytest.param(report(), "ancestor:region", SENDER, id="ancestor: no ancestor of that type falls back to the sender"),
        # 3. link:<tag>
        pytest.param(report(contact=LINKED_CHW), "link:chw_supervisor", SUPERVISOR_PHONE, id="link: the hydrated linked doc's phone on the contact's lineage"),
        pytest.param(report(patient={**PATIENT, "parent": LINKED_CLINIC}), "link:chw_supervisor", SUPERVISOR_PHONE, id="link: found on the patient's lineage"),
        pytest.param(report(patient={**PATIENT, "linked_docs": {"chw_supervisor": {"phone": "+254799000000"}}, "parent": LINKED_CLINIC}), "link:chw_supervisor", "+254799000000", id="link: the nearest linked doc wins"),
        pytest.param(report(contact={**CHW, "parent": place("clinic", CLINIC_PHONE, HEALTH_CENTER, linked_docs={"chw_supervisor": "supervisor"})}), "link:chw_supervisor", SENDER, id="link: an unhydrated linked id has no phone"),
        pytest.param(report(), "link:health_center", HC_PHONE, id="link: without a linked doc, an ancestor whose type is the tag"),
        # 4. parent / grandparent
        pytest.param(report(), "parent", HC_PHONE, id="parent: two levels up from the report's contact"),
        pytest.param(report(), "grandparent", DISTRICT_PHONE, id="grandparent: three levels up from the report's contact"),
        pytest.param(report(patient=PATIENT), "parent", P_HC_PHONE, id="parent: two levels up from the patient"),
        pytest.param(report(place=P_CLINIC), "parent", P_DISTRICT_PHONE, id="parent: a place with a parent counts itself as level 0"),
        pytest.param(report(contact={**CHW, "parent": HEALTH_CENTER}), "grandparent", SENDER, id="grandparent: a chain too short falls back to the sender"),
        # 5. clinic
        pytest.param(report(), "clinic", CLINIC_PHONE, id="clinic: the clinic's primary contact"),
        pytest.param(report(patient=PATIENT), "clinic", P_CLINIC_PHONE, id="clinic: the patient's clinic first"),
        pytest.param(report(contact={**CHW, "parent": HEALTH_CENTER}), "clinic", CHW_PHONE, id="clinic: without a clinic, the contact's phone rather than from"),
        # 6. health_center / district
        pytest.param(report(), "health_center", HC_PHONE, id="health_center: the health centre's primary contact"),
        pytest.param(report(patient=PATIENT), "health_center", P_HC_PHONE, id="health_center: the patient's first"),
        pytest.param(report(), "district", DISTRICT_PHONE, id="district: the district hospital's primary contact"),
        pytest.param(report(place=P_CLINIC), "district", P_DISTRICT_PHONE, id="district: the place's first"),
        # 7-9. fields, top-level, dotted path
        pytest.param(report(), "alt_phone", "+254766000000", id="a key of fields"),
        pytest.param(report(), "caregiver_phone", "+254777000000", id="a top-level property"),
        pytest.param(report(), "fields.nested.phone", "+254766000001", id="a dotted path"),
        pytest.param(report(patient=PATIENT), "patient.parent.contact.phone", P_CLINIC_PHONE, id="a dotted path through the hydrated patient"),
        pytest.param(report(contacts=[{"phone": "+254700000010"}, {"phone": "+254700000011"}]), "contacts.1.phone", "+254700000011", id="a dotted path with an array index"),
        pytest.param(report(), "fields.nested.missing", SENDER, id="a dotted path to nothing falls back to the sender"),
        pytest.param(report(fields={"count": 254700000012}), "count", "254700000012", id="a numeric value is returned as a string"),
        # 10. a literal phone number
        pytest.param(report(), "+254700000099", "+254700000099", id="a valid international number is used as it is"),
        pytest.param(report(), "+1 (201) 555-0123", "+1 (201) 555-0123", id="a literal number keeps its formatting"),
        pytest.param(report(), "0700000099", SENDER, id="a national number is not a literal (validated with no region)"),
        pytest.param(report(), "+254123", SENDER, id="an invalid international number is not a literal"),
    ],
)
def test_each_rule(context: dict[str, Any], recipient: str, expected: str) -> None:
    assert resolve(context, recipient) == expected


# --- order of precedence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context, recipient, expected",
    [
        pytest.param(report(fields={"clinic": "+254700000020"}), "clinic", CLINIC_PHONE, id="a named rule wins over a field of the same name"),
        pytest.param(report(fields={"reporting_unit": "+254700000021"}), "reporting_unit", SENDER, id="reporting_unit wins over a field of that name"),
        pytest.param(report(fields={"caregiver_phone": "+254700000022"}), "caregiver_phone", "+254700000022", id="a field wins over a top-level property"),
        pytest.param(report(fields={"caregiver_phone": ""}), "caregiver_phone", "+254777000000", id="an empty field lets the top-level property decide"),
        pytest.param(report(**{"fields.nested.phone": "+254700000023"}), "fields.nested.phone", "+254700000023", id="a top-level key with a dot wins over the path"),
        pytest.param(report(**{"+254700000024": "+254700000025"}), "+254700000024", "+254700000025", id="a top-level key wins over a literal number"),
        pytest.param(report(health_center="+254700000026", contact={**CHW, "parent": CLINIC | {"parent": None}}), "health_center", SENDER, id="a matched rule that finds nothing does not try later rules"),
        pytest.param(report(**{"x.y": None}), "x.y", SENDER, id="a dotted recipient that resolves to nothing does not become a literal"),
    ],
)
def test_order_of_precedence(context: dict[str, Any], recipient: str, expected: str) -> None:
    assert resolve(context, recipient) == expected


# --- arrays and fallbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "context, recipient, kwargs, expected",
    [
        pytest.param(report(), ["clinic", "district"], {}, CLINIC_PHONE, id="array: the first entry that resolves wins"),
        pytest.param(report(), ["ancestor:region", "district"], {}, DISTRICT_PHONE, id="array: an entry that does not resolve lets the next try"),
        pytest.param(report(), ["ancestor:region", "link:nobody"], {}, SENDER, id="array: none resolves, so the sender"),
        pytest.param(report(), ["ancestor:region", "link:nobody"], {"default_to_sender": False}, "ancestor:region", id="array: none resolves and no defaulting, so the first entry as written"),
        pytest.param(report(), [None, "", "  ", True, {"x": 1}, "  district  "], {}, DISTRICT_PHONE, id="array: non-strings and blanks are dropped and entries trimmed"),
        pytest.param(report(), [None, ""], {"default_to_sender": False}, SENDER, id="array: no usable entry gives the sender even without defaulting"),
        pytest.param(report(), [], {}, SENDER, id="an empty array gives the sender"),
        pytest.param(report(), None, {}, SENDER, id="no recipient gives the sender"),
        pytest.param(report(), "   ", {}, SENDER, id="a blank recipient gives the sender"),
        pytest.param(report(), "nobody", {"default_to_sender": False}, "nobody", id="unresolved without defaulting: the raw recipient"),
        pytest.param(report(), "0700000099", {"default_to_sender": False}, "0700000099", id="a national number without defaulting comes back as written"),
        pytest.param(report(**{"from": None}, contact={"_id": "x"}), "nobody", {}, "nobody", id="unresolved and no sender to default to: the raw recipient"),
        pytest.param(report(), "reporting_unit", {"sender": "+254700000030"}, "+254700000030", id="an explicit sender is the reporting unit"),
        pytest.param(report(), "nobody", {"sender": "+254700000031"}, "+254700000031", id="an explicit sender is the fallback"),
        pytest.param(report(), ["contact", "clinic"], {}, CLINIC_PHONE, id="deviation: an object value is not a phone, the next entry decides"),
        pytest.param(report(), "contact", {}, SENDER, id="deviation: an object value alone falls back to the sender"),
        pytest.param(None, "clinic", {}, None, id="no context resolves to None"),
    ],
)
def test_arrays_and_fallbacks(context: Any, recipient: Any, kwargs: dict[str, Any], expected: Any) -> None:
    assert resolve(context, recipient, **kwargs) == expected


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param({}, True, id="missing sms settings default to the sender"),
        pytest.param({"sms": {}}, True, id="a missing key defaults to the sender"),
        pytest.param({"sms": {"default_to_sender": None}}, True, id="null defaults to the sender"),
        pytest.param({"sms": {"default_to_sender": False}}, False, id="false turns defaulting off"),
        pytest.param({"sms": {"default_to_sender": 0}}, False, id="a falsy value turns defaulting off"),
        pytest.param({"sms": {"default_to_sender": True}}, True, id="true keeps defaulting on"),
    ],
)
def test_default_to_sender_setting(settings: dict[str, Any], expected: bool) -> None:
    assert recipients.default_to_sender_setting(settings) is expected


# --- outgoing phone rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, phone, expected",
    [
        pytest.param({"outgoing_phone_replace": {"match": "+254", "replace": "0"}}, "+254712345678", "0712345678", id="replace: a matching prefix is replaced"),
        pytest.param({"outgoing_phone_replace": {"match": "254", "replace": "0"}}, "+254712345678", "+254712345678", id="replace: only a prefix, never a match further in"),
        pytest.param({"outgoing_phone_replace": {"match": "+"}}, "+254712345678", "254712345678", id="replace: a missing replace removes the prefix"),
        pytest.param({"outgoing_phone_replace": {"match": "", "replace": "0"}}, "+254712345678", "+254712345678", id="replace: an empty match does nothing"),
        pytest.param({"outgoing_phone_replace": {"match": ".", "replace": "0"}}, "+254712345678", "+254712345678", id="replace: match is a plain string, not a regex"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+254", "replace": "0"}]}, "+254712345678", "0712345678", id="filter: a regex replaces"),
        pytest.param({"outgoing_phone_filters": [{"match": "7", "replace": "X"}]}, "+254712345677", "+254X12345677", id="filter: only the first match is replaced"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+(\\d{3})(\\d+)$", "replace": "00$1-$2"}]}, "+254712345678", "00254-712345678", id="filter: $1 and $2 insert the groups"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+(?<cc>\\d{3})", "replace": "($<cc>)"}]}, "+254712345678", "(254)712345678", id="filter: JavaScript named groups work"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+", "replace": "$$"}]}, "+254712345678", "$254712345678", id="filter: $$ is a literal dollar"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+", "replace": "[$&]"}]}, "+254712345678", "[+]254712345678", id="filter: $& is the whole match"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+", "replace": "$9"}]}, "+254712345678", "$9254712345678", id="filter: a group that does not exist stays literal"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+254", "replace": ""}]}, "+254712345678", "+254712345678", id="filter: an empty replace skips the filter"),
        pytest.param({"outgoing_phone_filters": [{"match": "^\\+254", "replace": "0"}, {"match": "^0", "replace": "00254"}]}, "+254712345678", "00254712345678", id="filters run in order, each on the previous result"),
        pytest.param({"outgoing_phone_filters": [None, {"replace": "x"}, {"match": "^\\+", "replace": "00"}]}, "+254712345678", "00254712345678", id="filters: malformed entries are skipped"),
        pytest.param({"outgoing_phone_replace": {"match": "+254", "replace": "0"}, "outgoing_phone_filters": [{"match": "^0", "replace": "+254"}]}, "+254712345678", "+254712345678", id="replace runs before the filters"),
        pytest.param({"outgoing_phone_replace": {"match": "+254712345678"}, "outgoing_phone_filters": [{"match": "^$", "replace": "x"}]}, "+254712345678", "", id="filters are skipped once the phone is empty"),
        pytest.param({"outgoing_phone_filters": {"match": "^\\+", "replace": "00"}}, "+254712345678", "+254712345678", id="filters that are not a list are ignored"),
        pytest.param({"outgoing_phone_replace": {"match": "+254", "replace": "0"}}, None, None, id="no phone stays None"),
        pytest.param({}, "+254712345678", "+254712345678", id="no rules leave the phone as it is"),
        pytest.param(None, "+254712345678", "+254712345678", id="no settings leave the phone as it is"),
    ],
)
def test_apply_outgoing_rules(settings: Any, phone: Any, expected: Any) -> None:
    assert recipients.apply_outgoing_rules(settings, phone) == expected


@pytest.mark.parametrize(
    "recipient, expected",
    [
        pytest.param("clinic", "0722000001", id="rules apply to a resolved phone"),
        pytest.param("nobody", "0711000000", id="rules apply to the sender fallback"),
        pytest.param(["nobody"], "0711000000", id="rules apply to an array's fallback"),
    ],
)
def test_resolve_applies_outgoing_rules(recipient: Any, expected: str) -> None:
    settings = {"outgoing_phone_replace": {"match": "+254", "replace": "0"}}
    assert resolve(report(), recipient, settings=settings) == expected


def test_an_invalid_filter_regex_raises() -> None:
    with pytest.raises(re.error):
        resolve(report(), "clinic", settings={"outgoing_phone_filters": [{"match": "(", "replace": "x"}]})


# --- ancestors (spec 6.1) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, expected",
    [
        pytest.param(report(), {"clinic": CLINIC, "health_center": HEALTH_CENTER, "district": DISTRICT, "parent": HEALTH_CENTER, "grandparent": DISTRICT}, id="a report walks from its contact"),
        pytest.param(PATIENT, {"clinic": P_CLINIC, "health_center": P_HEALTH_CENTER, "district": P_DISTRICT, "parent": P_HEALTH_CENTER, "grandparent": P_DISTRICT}, id="a contact with a parent walks from itself"),
        pytest.param(CLINIC, {"clinic": CLINIC, "health_center": HEALTH_CENTER, "district": DISTRICT, "parent": HEALTH_CENTER, "grandparent": DISTRICT}, id="a place is its own clinic"),
        pytest.param({**CHW, "parent": HEALTH_CENTER}, {"health_center": HEALTH_CENTER, "district": DISTRICT, "parent": HEALTH_CENTER, "grandparent": DISTRICT}, id="a missing ancestor is absent, not None"),
        pytest.param({"contact": {"parent": {"contact_type": "clinic", "type": "contact"}}}, {"clinic": {"contact_type": "clinic", "type": "contact"}}, id="contact_type matches as type does"),
        pytest.param({"parent": "", "contact": {"parent": CLINIC}}, {"clinic": CLINIC, "health_center": HEALTH_CENTER, "district": DISTRICT, "parent": HEALTH_CENTER, "grandparent": DISTRICT}, id="a falsy parent walks from the contact"),
        pytest.param({"contact": "chw"}, {}, id="an unhydrated contact id has no ancestors"),
        pytest.param({"_id": "r"}, {}, id="no parent and no contact: none"),
        pytest.param(None, {}, id="not a doc: none"),
    ],
)
def test_ancestors(doc: Any, expected: dict[str, Any]) -> None:
    assert recipients.ancestors(doc) == expected


# --- deny rules (spec 3.1) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, sender, expected",
    [
        pytest.param({}, "+254712345678", None, id="an ordinary sender is allowed"),
        pytest.param({"gateway_number": "+254700000000", "outgoing_deny_with_alphas": True}, None, None, id="no sender is allowed whatever the rules"),
        pytest.param({"outgoing_deny_shorter_than": 20}, "", None, id="an empty sender is allowed"),
        # gateway
        pytest.param({"gateway_number": "+254700000000"}, "+254700000000", "denied", id="gateway: the gateway's own number is denied"),
        pytest.param({"gateway_number": "+254700000000"}, "0700000000", "denied", id="gateway: compared with phones.same, so formats differ"),
        pytest.param({"gateway_number": "+254700000000"}, "+254700000001", None, id="gateway: another number is allowed"),
        pytest.param({"gateway_number": 254700000000}, "+254700000000", None, id="gateway: a non-string gateway number is ignored"),
        # outgoing_deny_list
        pytest.param({"outgoing_deny_list": "SAFARICOM,mpesa"}, "Safaricom-Alerts", "denied", id="deny list: a prefix matches case-insensitively"),
        pytest.param({"outgoing_deny_list": "SAFARICOM, mpesa "}, " MPESA", "denied", id="deny list: entries and sender are trimmed"),
        pytest.param({"outgoing_deny_list": "+2547000"}, "+254700012345", "denied", id="deny list: a number prefix matches"),
        pytest.param({"outgoing_deny_list": "mpesa"}, "my-mpesa", None, id="deny list: only a prefix, not a substring"),
        pytest.param({"outgoing_deny_list": ", ,"}, "+254712345678", None, id="deny list: empty entries deny nothing"),
        pytest.param({"outgoing_deny_list": ["mpesa"]}, "mpesa", None, id="deny list: only a comma-separated string is read"),
        # outgoing_deny_shorter_than
        pytest.param({"outgoing_deny_shorter_than": 5}, "1234", "denied", id="shorter than: a short code is denied"),
        pytest.param({"outgoing_deny_shorter_than": 5}, "12345", None, id="shorter than: exactly the length is allowed"),
        pytest.param({"outgoing_deny_shorter_than": "5"}, " 1234 ", "denied", id="shorter than: a string limit, and the sender's trimmed length"),
        pytest.param({"outgoing_deny_shorter_than": "5 digits"}, "1234", "denied", id="shorter than: the limit is read with parseInt"),
        pytest.param({"outgoing_deny_shorter_than": 0}, "1", None, id="shorter than: zero turns the rule off"),
        pytest.param({"outgoing_deny_shorter_than": "abc"}, "1", None, id="shorter than: a non-number turns the rule off"),
        # outgoing_deny_with_alphas
        pytest.param({"outgoing_deny_with_alphas": True}, "MPESA", "denied", id="alphas: a sender with letters is denied"),
        pytest.param({"outgoing_deny_with_alphas": True}, "+254712345678", None, id="alphas: a number is allowed"),
        pytest.param({"outgoing_deny_with_alphas": "true"}, "MPESA", None, id="alphas: only the boolean true turns the rule on"),
        pytest.param({"outgoing_deny_with_alphas": False}, "MPESA", None, id="alphas: false allows letters"),
    ],
)
def test_initial_state_for_sender(settings: dict[str, Any], sender: Any, expected: str | None) -> None:
    assert recipients.initial_state_for_sender(settings, sender) == expected
