"""Real CHT configurations (tests/data/cht-configs) and the documents to try them with.

For a configuration, `hierarchy_for` builds a place chain and two people (a CHW with a phone, a
patient with a short code) of its own contact types, and `trigger_reports` one report for each form
that an enabled transition reacts to: an SMS report (fields filled from the form definition's types,
lengths and ranges) where the form is defined in `forms`, an app (xml) report otherwise.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from transitions.default_responses import start_date as default_responses_start_date

from sentinel.core.settings import load_defaults, read_settings_file, transition_enabled
from sentinel.daemon.settings_check import build

CORPUS_DIR = Path(__file__).parent / "data" / "cht-configs"
SOURCES = json.loads((CORPUS_DIR / "sources.json").read_text())
CORPUS = sorted(p for p in CORPUS_DIR.glob("*.json") if p.name != "sources.json")

CHW_PHONE = "+254700000001"
PATIENT_CODE = "40001"
REPORTED = 1704164645678  # 2024-01-02T03:04:05.678Z, the tests' NOW


def corpus_ids() -> list[str]:
    return [p.stem for p in CORPUS]


def settings_of(path: Path) -> dict[str, Any]:
    return read_settings_file(path)


# --- contacts ---------------------------------------------------------------------------------------
def _types(values: dict[str, Any]) -> list[dict[str, Any]]:
    types = values.get("contact_types")
    return types if isinstance(types, list) and types else load_defaults()["contact_types"]


def _place_chain(types: list[dict[str, Any]], person: dict[str, Any]) -> list[dict[str, Any]]:
    """The longest leaf-to-root chain of place types above a person type."""
    by_id = {t["id"]: t for t in types if isinstance(t, dict) and isinstance(t.get("id"), str)}

    def longest(parents: list[Any], seen: tuple[str, ...]) -> list[dict[str, Any]]:
        chains = [
            [by_id[p]] + longest(by_id[p].get("parents") or [], seen + (p,))
            for p in parents
            if p in by_id and p not in seen and not by_id[p].get("person")
        ]
        return max(chains, key=len, default=[])

    return longest(person.get("parents") or [], ())


def _contact(doc_id: str, type_id: str, parent: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    doc = {"_id": doc_id, "type": "contact", "contact_type": type_id, "reported_date": REPORTED, **extra}
    if parent is not None:
        doc["parent"] = parent
    return doc


def _minified(doc: dict[str, Any]) -> dict[str, Any]:
    parent = doc.get("parent")
    return {"_id": doc["_id"], **({"parent": _minified(parent)} if parent else {})}


@dataclass
class People:
    docs: list[dict[str, Any]]
    chw: dict[str, Any]
    patient: dict[str, Any]


def hierarchy_for(values: dict[str, Any]) -> People:
    types = _types(values)
    persons = [t for t in types if isinstance(t, dict) and t.get("person") and t.get("parents")]
    person = max(persons, key=lambda t: len(_place_chain(types, t)))
    chain = list(reversed(_place_chain(types, person)))  # root first
    docs: list[dict[str, Any]] = []
    parent: dict[str, Any] | None = None
    for i, place_type in enumerate(chain):
        place = _contact(f"place-{i}", place_type["id"], parent, name=f"{place_type['id']} {i}")
        docs.append(place)
        parent = {"_id": place["_id"], **({"parent": place["parent"]} if "parent" in place else {})}
    leaf = docs[-1] if docs else None
    chw = _contact("chw", person["id"], _minified(leaf) if leaf else None, name="Chloe CHW", phone=CHW_PHONE)
    patient = _contact("patient", person["id"], _minified(leaf) if leaf else None, name="Pat Patient", patient_id=PATIENT_CODE)
    if leaf is not None:
        leaf["contact"] = {"_id": "chw"}
    return People(docs + [chw, patient], chw, patient)


# --- reports ----------------------------------------------------------------------------------------
def _sample(field: Any) -> Any:
    """A value of the field's type that fits its `length` and `range` (CHT JSON form definitions)."""
    field = field if isinstance(field, dict) else {}
    kind = field.get("type")
    low_high = field.get("range") if isinstance(field.get("range"), list) and len(field["range"]) == 2 else None
    if kind in ("integer", "number", "month", "week", "year"):
        return int(low_high[0]) if low_high else {"year": 2024, "month": 1, "week": 1}.get(kind, 5)
    if kind == "date":
        return "2024-01-02"
    if kind == "phone_number":
        return "+254700000099"
    if kind == "boolean":
        return True
    length = field.get("length") if isinstance(field.get("length"), list) and len(field["length"]) == 2 else None
    text = "Test Name"
    if length:
        text = ("Test Name" * 5)[: max(int(length[0]), min(int(length[1]), 9))]
    return text


def _put_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


@dataclass
class Trigger:
    transition: str
    form: str
    report: dict[str, Any]


def _forms_reacted_to(values: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(transition, form code) for every form an enabled transition of these settings reacts to."""
    enabled = {name for name, conf in (values.get("transitions") or {}).items() if transition_enabled(conf)}

    def forms(section: Any) -> list[str]:
        entries = section if isinstance(section, list) else []
        return [e["form"] for e in entries if isinstance(e, dict) and isinstance(e.get("form"), str)]

    pairs = [("registration", f) for f in forms(values.get("registrations"))]
    pairs += [("accept_patient_reports", f) for f in forms(values.get("patient_reports"))]
    pairs += [("accept_case_reports", f) for f in forms(values.get("accept_case_reports"))]
    pairs += [("conditional_alerts", f) for f in forms(values.get("alerts"))]
    for transition, section, key in (
        ("muting", "muting", "mute_forms"),
        ("death_reporting", "death_reporting", "mark_deceased_forms"),
    ):
        codes = (values.get(section) or {}).get(key) if isinstance(values.get(section), dict) else None
        pairs += [(transition, codes[0])] if isinstance(codes, list) and codes and isinstance(codes[0], str) else []
    forms = values.get("forms") if isinstance(values.get("forms"), dict) else {}
    pairs += [("update_clinics", code) for code in list(forms)[:1]]
    if default_responses_start_date(values.get("default_responses")) is not None:
        pairs += [("default_responses", "")]  # an SMS no form handles
    seen = set()
    for transition, form in pairs:
        if transition in enabled and (transition, form) not in seen:
            seen.add((transition, form))
            yield transition, form


def trigger_reports(values: dict[str, Any], people: People) -> list[Trigger]:
    forms = values.get("forms") if isinstance(values.get("forms"), dict) else {}
    update_clinics = transition_enabled((values.get("transitions") or {}).get("update_clinics"))
    triggers = []
    for n, (transition, code) in enumerate(_forms_reacted_to(values)):
        report: dict[str, Any] = {"_id": f"report-{n}-{transition}", "type": "data_record", "form": code, "reported_date": REPORTED}
        definition = forms.get(code) if isinstance(forms.get(code), dict) else None
        if transition == "default_responses":  # free text from a known phone: CHT API writes no form
            report.pop("form")
            report.update({"from": CHW_PHONE, "sms_message": {"from": CHW_PHONE, "message": "hello", "type": "sms_message"}})
            triggers.append(Trigger(transition, code, report))
            continue
        if definition is not None:  # an SMS report, as CHT API's parser writes it
            fields = definition.get("fields") if isinstance(definition.get("fields"), dict) else {}
            report["fields"] = {name: _sample(field) for name, field in fields.items()}
            report["from"] = CHW_PHONE
            report["sms_message"] = {"from": CHW_PHONE, "form": code, "message": f"{code} ...", "type": "sms_message"}
        else:  # an app report
            report["content_type"] = "xml"
            report["fields"] = {"patient_name": "Pat Patient"}
        if transition != "registration" or definition is None:
            report["fields"].update({"patient_id": PATIENT_CODE, "patient_uuid": people.patient["_id"]})
        if transition == "death_reporting":
            path = (values.get("death_reporting") or {}).get("date_field")
            if isinstance(path, str) and path:
                _put_path(report, path, "2024-01-01")
        if definition is None or not update_clinics:
            report["contact"] = _minified(people.chw)
        triggers.append(Trigger(transition, code, report))
    return triggers


def check_config(path: Path) -> tuple[list[str], list[str]]:
    """(problems, warnings) of `sentinel check-config` for a corpus file."""
    from sentinel.core.errors import ConfigError

    try:
        settings, _ = build(settings_of(path))
    except ConfigError as exc:
        return exc.problems, exc.warnings
    return [], list(settings.warnings)
