"""Automatic order planning (issue 6, the eFORSK ePROM design) as pure logic: no database.

An *order job* (one entry of the `order_jobs` setting) plans orders of `order_form` for a subject
(patient) from its reports of `trigger_form`. This module parses and checks job configuration
(`parse_order_job`, `order_jobs_problems`) and computes, for one subject, which order documents to
create, move, revive and cancel (`plan_subject` → `PlanDiff`). The `order_planning` transition, the
dispatcher (scheduler job) and the CLI read and write the documents; see
`../shared/reference/schedules-orders-reminders.md` §2.

Order k (0, 1, …) of a trigger is due `delay_days × (k+1)` calendar days (wall clock of the settings
zone) after the anchor, never sooner than one hour after it was planned. Order documents have a
deterministic `_id` `order:<job>:<trigger>:<k>`, so re-planning is idempotent.

Choices where the design or the reference is ambiguous:

- **require_answer timing** is series-anchored (`anchor + X·(k+1)`), clamped to `now + 1h`.
  Order k is planned only when order k−1 is `answered`; an `expired`, `failed`, `ordered` or
  user-cancelled k−1 ends (or holds) the series.
- **One-hour rule**: `due = max(natural due, planned_at + 1h)`; `planned_at` is stored on the order.
  An order whose due must change is re-planned: `due = max(natural, now + 1h)`, `planned_at = now`.
  An unchanged planned order keeps its due even once it is past (the dispatcher sends it).
- **Missed periods** (job restarted late, trigger edited to an earlier anchor, old trigger): per
  series (trigger), of the orders that would be new or moved and whose natural due is before
  `now + 1h`, only the highest k is planned (at `now + 1h`), and only when it is above every order
  already planned or sent in the series; the others are skipped (planned ones cancelled, reason
  `missed`). With require_answer there is a single candidate anyway. Across several triggers of one
  subject the Y stop rule limits the total.
- **Y stop rule** counts the subject's `answers` (every report of `order_form`, whatever the job;
  for a self-repeating job that includes the triggers), the orders of other jobs for the same form
  that are planned/ordering/ordered, and this job's ordering/ordered orders. This job's planned
  orders are kept up to `Y − count`, earliest due first; the rest are cancelled (`stop_if_existing`).
- **Default Y**: 1, or Z+1 with repeats; for a self-repeating job (`trigger_form == order_form`)
  there is no default limit ("repeats itself forever unless the stop rule is set").
- **created_after** compares the trigger's `reported_date` (creation), inclusive. When it is absent
  from the job the caller must pass the date the job first appeared (`OrderJob.created_after` is
  None means no filter here).
- **Cancellation by Sentinel** sets `cancelled_by: "sentinel"` and `cancel_reason`; such an order
  can be revived (back to `planned`, re-planned at `now + 1h` at the earliest) when it applies again,
  e.g. a job stopped and restarted. Any other `cancelled_by` (a user) is final.
- **Test mode**: a `test` job plans only for patients with `test: true`, orders carry `test: true`;
  a planned order whose test flag differs from the mode is updated in place (same id), or cancelled
  (`test_mode`) when the patient is not a test contact.
- **Consent**: `consent_withdrawn` true, or any non-empty value other than false/"false"/"no"
  (a date, even unparseable) counts as withdrawn; any non-empty `date_of_death` counts as deceased.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from dateutil.relativedelta import relativedelta

from sentinel.core import clock
from sentinel.messaging.schedules import MISSING, get_path

SETTING = "order_jobs"
STATUSES = ("stopped", "test", "active")
MAX_REPEATS = 30
SYSTEM = "sentinel"
ONE_HOUR = timedelta(hours=1)

PLANNED, ORDERING, ORDERED, ANSWERED, EXPIRED, FAILED, CANCELLED = (
    "planned", "ordering", "ordered", "answered", "expired", "failed", "cancelled")
ACTIVE_STATES = (PLANNED, ORDERING, ORDERED)
SENT_STATES = (ORDERING, ORDERED, ANSWERED, EXPIRED, FAILED)

# cancellation reasons
TRIGGER_GONE = "trigger_gone"
TRIGGER_NOT_MATCHING = "trigger_not_matching"
STOP_IF_EXISTING = "stop_if_existing"
MAX_REACHED = "max_reached"
DECEASED = "deceased"
CONSENT_WITHDRAWN = "consent_withdrawn"
JOB_STOPPED = "job_stopped"
TEST_MODE = "test_mode"
MISSED = "missed"
WAITING_FOR_ANSWER = "waiting_for_answer"


class OrderJobError(ValueError):
    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class OrderJob:
    id: str
    status: str
    trigger_form: str
    order_form: str
    delay_days: int
    anchor: str = "reported_date"
    created_after: datetime | None = None
    condition: Any = None
    repeat_enabled: bool = False
    max_repeats: int = 0
    require_answer: bool = True
    expiry_days: int | None = None
    reminder_days: int | None = None
    stop_if_existing: int | None = 1  # None: no limit
    message: Mapping[str, Any] = field(default_factory=dict)  # translation_key/message, recipient
    reminder: Mapping[str, Any] = field(default_factory=dict)  # translation_key/message; default: message

    @property
    def max_orders(self) -> int:
        return self.max_repeats + 1 if self.repeat_enabled else 1

    @property
    def self_repeating(self) -> bool:
        return self.trigger_form == self.order_form


def order_id(job_id: str, trigger_id: str, k: int) -> str:
    return f"order:{job_id}:{trigger_id}:{k}"


def same_form(a: Any, b: Any) -> bool:
    """Form codes compare as CHT compares them from SMS: trimmed, case-insensitive."""
    return isinstance(a, str) and isinstance(b, str) and a.strip().upper() == b.strip().upper()


# --- configuration --------------------------------------------------------------------------------
def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _build(raw: Any, where: str, settings: Any) -> tuple[OrderJob | None, list[str]]:
    if not isinstance(raw, Mapping):
        return None, [f"{where}: must be an object"]
    problems: list[str] = []

    def need_string(key: str) -> str | None:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key}: must be a non-empty string, got {value!r}")
            return None
        return value

    job_id = need_string("id")
    trigger_form = need_string("trigger_form")
    order_form = need_string("order_form")
    status = raw.get("status")
    if status not in STATUSES:
        problems.append(f"{where}.status: must be one of {', '.join(STATUSES)}, got {status!r}")
    anchor = raw.get("anchor", "reported_date")
    if anchor is None:
        anchor = "reported_date"
    if not isinstance(anchor, str) or not anchor.strip() or any(not p for p in anchor.split(".")):
        problems.append(f"{where}.anchor: must be \"reported_date\" or a dotted date path such as \"fields.visit_date\", got {anchor!r}")
    delay = raw.get("delay_days")
    if not _nonneg_int(delay):
        problems.append(f"{where}.delay_days: must be a whole number of days ≥ 0, got {delay!r}")
    created_after = None
    if raw.get("created_after") is not None:
        created_after = clock.parse_date(raw.get("created_after"), settings)
        if created_after is None:
            problems.append(f"{where}.created_after: must be a date such as \"2024-01-31\", got {raw.get('created_after')!r}")
    condition = raw.get("condition")
    if condition is not None and not isinstance(condition, (str, Mapping, bool)):
        problems.append(f"{where}.condition: must be a JS expression string or a JsonLogic rule, got {condition!r}")

    repeat = raw.get("repeat")
    enabled, max_repeats, require_answer = False, 0, True
    if repeat is not None:
        if not isinstance(repeat, Mapping):
            problems.append(f"{where}.repeat: must be an object {{enabled, max_repeats, require_answer}}")
        else:
            enabled = repeat.get("enabled", False)
            if not isinstance(enabled, bool):
                problems.append(f"{where}.repeat.enabled: must be true or false, got {enabled!r}")
                enabled = False
            require_answer = repeat.get("require_answer", True)
            if not isinstance(require_answer, bool):
                problems.append(f"{where}.repeat.require_answer: must be true or false, got {require_answer!r}")
                require_answer = True
            if enabled:
                max_repeats = repeat.get("max_repeats")
                if not _nonneg_int(max_repeats) or max_repeats < 1 or max_repeats > MAX_REPEATS:
                    problems.append(f"{where}.repeat.max_repeats: must be a whole number from 1 to {MAX_REPEATS}, got {max_repeats!r}")
                    max_repeats = 0
                if _nonneg_int(delay) and delay == 0:
                    problems.append(f"{where}.delay_days: must be at least 1 with repeats")
    if enabled and trigger_form and trigger_form == order_form:
        problems.append(f"{where}.repeat: not allowed when order_form == trigger_form (the job repeats by itself through its answers)")

    for key in ("expiry_days", "reminder_days"):
        value = raw.get(key)
        if value is not None and (not _nonneg_int(value) or value == 0):
            problems.append(f"{where}.{key}: must be a whole number of days ≥ 1 (or absent), got {value!r}")
    if raw.get("expiry_days") and raw.get("reminder_days") and _nonneg_int(raw["expiry_days"]) \
            and _nonneg_int(raw["reminder_days"]) and raw["reminder_days"] >= raw["expiry_days"]:
        problems.append(f"{where}.reminder_days: must be less than expiry_days")

    if "stop_if_existing" in raw and raw["stop_if_existing"] is not None:
        y = raw["stop_if_existing"]
        if not _nonneg_int(y) or y < 1:
            problems.append(f"{where}.stop_if_existing: must be a whole number ≥ 1, got {y!r}")
            y = 1
    elif trigger_form and trigger_form == order_form:
        y = None
    else:
        y = (max_repeats + 1) if enabled else 1

    message: dict[str, Any] = {}
    for key in ("translation_key", "recipient"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where}.{key}: must be a non-empty string, got {value!r}")
    if raw.get("translation_key") is not None and raw.get("message") is not None:
        problems.append(f"{where}: give either translation_key or message, not both")
    if raw.get("translation_key") is None and raw.get("message") is None:
        problems.append(f"{where}: needs translation_key or message (the order message)")
    for key in ("translation_key", "message", "recipient"):
        if raw.get(key) is not None:
            message[key] = raw[key]
    reminder: dict[str, Any] = {}
    if raw.get("reminder_translation_key") is not None and raw.get("reminder_message") is not None:
        problems.append(f"{where}: give either reminder_translation_key or reminder_message, not both")
    rkey = raw.get("reminder_translation_key")
    if rkey is not None and (not isinstance(rkey, str) or not rkey.strip()):
        problems.append(f"{where}.reminder_translation_key: must be a non-empty string, got {rkey!r}")
    for key in ("translation_key", "message"):
        if raw.get(f"reminder_{key}") is not None:
            reminder[key] = raw[f"reminder_{key}"]

    if problems:
        return None, problems
    return OrderJob(
        id=job_id, status=status, trigger_form=trigger_form, order_form=order_form, delay_days=delay,
        anchor=anchor, created_after=created_after, condition=condition, repeat_enabled=enabled,
        max_repeats=max_repeats, require_answer=require_answer, expiry_days=raw.get("expiry_days"),
        reminder_days=raw.get("reminder_days"), stop_if_existing=y, message=message, reminder=reminder,
    ), []


def parse_order_job(raw: Any, where: str = "order_jobs[0]", settings: Any = None) -> OrderJob:
    """One `order_jobs` entry → OrderJob; raises OrderJobError with every problem."""
    job, problems = _build(raw, where, settings)
    if job is None:
        raise OrderJobError(problems)
    return job


def _jobs(settings: Any) -> Any:
    return clock.setting(settings, SETTING) if settings is not None else None


def order_jobs_problems(settings: Any, previous_settings: Any = None, expressions: Any = None) -> list[str]:
    """The settings check for `order_jobs` (paths `settings.order_jobs[i].key`).

    With `previous_settings`, refuses a changed `trigger_form`/`order_form` of a job id that existed.
    With `expressions` (an `Expressions`), also compiles each condition.
    """
    jobs = _jobs(settings)
    if jobs is None:
        return []
    if not isinstance(jobs, list):
        return [f"settings.{SETTING}: must be a list of jobs"]
    problems: list[str] = []
    seen: set[str] = set()
    previous = {}
    old = _jobs(previous_settings)
    if isinstance(old, list):
        previous = {j.get("id"): j for j in old if isinstance(j, Mapping)}
    for i, raw in enumerate(jobs):
        where = f"settings.{SETTING}[{i}]"
        job, found = _build(raw, where, settings)
        problems.extend(found)
        job_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(job_id, str):
            if job_id in seen:
                problems.append(f"{where}.id: duplicate job id {job_id!r}")
            seen.add(job_id)
            before = previous.get(job_id)
            if before is not None:
                for key in ("trigger_form", "order_form"):
                    if before.get(key) != raw.get(key):
                        problems.append(
                            f"{where}.{key}: trigger_form and order_form of an existing job cannot change "
                            f"(job {job_id!r} had {key} {before.get(key)!r}, now {raw.get(key)!r}); create a new job instead")
        if expressions is not None and isinstance(raw, Mapping) and isinstance(raw.get("condition"), (str, Mapping)):
            problems.extend(expressions.syntax_problems(raw["condition"], ("doc",), f"{where}.condition"))
    return problems


# --- planning -------------------------------------------------------------------------------------
@dataclass
class PlanDiff:
    """Documents to write for one subject: each is the full order document to save."""

    create: list[dict] = field(default_factory=list)
    move: list[dict] = field(default_factory=list)     # planned orders whose due (or test flag) changed
    revive: list[dict] = field(default_factory=list)   # cancelled by Sentinel, planned again
    cancel: list[dict] = field(default_factory=list)   # planned → cancelled (cancelled_by "sentinel")

    @property
    def docs(self) -> list[dict]:
        return self.create + self.move + self.revive + self.cancel

    @property
    def empty(self) -> bool:
        return not self.docs


def _truthy_flag(value: Any) -> bool:
    if value is None or value is False or value == "":
        return False
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0"):
        return False
    return True


def _deceased(patient: Mapping[str, Any]) -> bool:
    return _truthy_flag(patient.get("date_of_death"))


def _withdrawn(patient: Mapping[str, Any]) -> bool:
    return _truthy_flag(patient.get("consent_withdrawn"))


def _system_cancelled(order: Mapping[str, Any]) -> bool:
    return order.get("state") == CANCELLED and order.get("cancelled_by") == SYSTEM


def _planned_at(order: Mapping[str, Any], settings: Any) -> datetime | None:
    at = clock.parse_date(order.get("planned_at"), settings)
    if at is not None:
        return at
    for entry in reversed(order.get("state_history") or []):
        if isinstance(entry, Mapping) and entry.get("state") == PLANNED:
            return clock.parse_date(entry.get("timestamp"), settings)
    return None


def anchor_time(job: OrderJob, trigger: Mapping[str, Any], settings: Any = None) -> datetime | None:
    value = get_path(trigger, job.anchor)
    return None if value is MISSING else clock.parse_date(value, settings)


def natural_due(job: OrderJob, anchor: datetime, k: int, settings: Any = None) -> datetime:
    return clock.add_duration(anchor, relativedelta(days=job.delay_days * (k + 1)), settings)


def trigger_applies(job: OrderJob, trigger: Mapping[str, Any], expressions: Any, settings: Any = None) -> bool:
    if (trigger.get("form") is not None and not same_form(trigger.get("form"), job.trigger_form)) or trigger.get("_deleted"):
        return False
    if job.created_after is not None:
        created = clock.parse_date(trigger.get("reported_date"), settings)
        if created is None or created < job.created_after:
            return False
    if anchor_time(job, trigger, settings) is None:
        return False
    if job.condition is None or job.condition is True:
        return True
    if job.condition is False:
        return False
    check = expressions.condition(job.condition, ("doc",), f"order_jobs[{job.id}].condition")
    return bool(check(doc=trigger))


@dataclass
class _Want:
    k: int
    trigger: str
    due: datetime            # the due to store
    existing: dict | None    # planned or Sentinel-cancelled order, if any
    change: bool             # new, revived or moved (needs a write)


def _series_wants(job: OrderJob, trigger_id: str, anchor: datetime, series: dict[int, dict], now: datetime,
                  settings: Any, cancel: list[tuple[dict, str]]) -> list[_Want]:
    soon = now + ONE_HOUR
    if job.require_answer and job.max_orders > 1:
        candidates: list[int] = []
        for k in range(job.max_orders):
            doc = series.get(k)
            state = doc.get("state") if doc else None
            if state == ANSWERED:
                continue
            if doc is None or state == PLANNED or _system_cancelled(doc):
                candidates = [k]
            break
        allowed = set(candidates)
        for k, doc in series.items():
            if doc.get("state") == PLANNED and k not in allowed and k < job.max_orders:
                cancel.append((doc, WAITING_FOR_ANSWER))
    else:
        candidates = [k for k in range(job.max_orders)
                      if series.get(k) is None or series[k].get("state") == PLANNED or _system_cancelled(series[k])]

    wants: list[_Want] = []
    overdue: list[_Want] = []
    floor = max((k for k, d in series.items() if d.get("state") in SENT_STATES), default=-1)
    for k in candidates:
        doc = series.get(k)
        nat = natural_due(job, anchor, k, settings)
        if doc is not None and doc.get("state") == PLANNED:
            at = _planned_at(doc, settings) or now
            keep = max(nat, at + ONE_HOUR)
            stored = clock.parse_date(doc.get("due"), settings)
            if stored is not None and stored == keep:
                wants.append(_Want(k, trigger_id, stored, doc, False))
                floor = max(floor, k)
                continue
        want = _Want(k, trigger_id, max(nat, soon), doc, True)
        (overdue if nat < soon else wants).append(want)
    if overdue:
        best = max(overdue, key=lambda w: w.k)
        if best.k > floor:
            wants.append(best)
            overdue.remove(best)
        for w in overdue:
            if w.existing is not None and w.existing.get("state") == PLANNED:
                cancel.append((w.existing, MISSED))
    return wants


def _history(doc: dict, state: str, now: datetime, **extra: Any) -> None:
    doc.setdefault("state_history", []).append({"state": state, "timestamp": clock.to_iso(now), **extra})


def plan_subject(job: OrderJob, triggers: Iterable[Mapping[str, Any]], answers: Iterable[Mapping[str, Any]],
                 existing_orders: Iterable[Mapping[str, Any]], patient: Mapping[str, Any] | None, now: datetime,
                 expressions: Any, *, settings: Any = None, subject_id: str | None = None) -> PlanDiff:
    """Re-plan one subject for one job.

    - `triggers`: the subject's current (not deleted) reports of `job.trigger_form`;
    - `answers`: the subject's reports of `job.order_form` (any job, manual ones too);
    - `existing_orders`: the subject's order documents (every job; other jobs count for the Y rule);
    - `patient`: the patient document (None: unknown, no stop rules from it);
    - `now`: aware datetime; `expressions`: an `Expressions`; `settings` for the zone.
    Only orders in state `planned` (and ones cancelled by Sentinel, which may be revived) are changed.
    """
    patient = patient or {}
    subject = subject_id or patient.get("patient_id") or patient.get("_id")
    orders = [o for o in existing_orders if isinstance(o, Mapping)]
    mine = [o for o in orders if o.get("job") == job.id]
    by_trigger: dict[str, dict[int, dict]] = {}
    for o in mine:
        by_trigger.setdefault(o.get("trigger"), {})[o.get("k")] = o  # type: ignore[index]
    test = job.status == "test"

    stop_reason = None
    if job.status == "stopped":
        stop_reason = JOB_STOPPED
    elif _deceased(patient):
        stop_reason = DECEASED
    elif _withdrawn(patient):
        stop_reason = CONSENT_WITHDRAWN
    elif test and patient.get("test") is not True:
        stop_reason = TEST_MODE

    cancel: list[tuple[dict, str]] = []
    wants: list[_Want] = []
    live: set[str] = set()
    for trig in triggers:
        tid = trig.get("_id")
        if not isinstance(tid, str):
            continue
        live.add(tid)
        series = by_trigger.get(tid, {})
        if not trigger_applies(job, trig, expressions, settings):
            cancel.extend((d, TRIGGER_NOT_MATCHING) for d in series.values() if d.get("state") == PLANNED)
            continue
        if subject is None:
            subject = trig.get("patient_id") or (trig.get("fields") or {}).get("patient_id")
        for k, d in series.items():
            if d.get("state") == PLANNED and (not isinstance(k, int) or k >= job.max_orders):
                cancel.append((d, MAX_REACHED))
        if stop_reason:
            cancel.extend((d, stop_reason) for d in series.values() if d.get("state") == PLANNED)
            continue
        anchor = anchor_time(job, trig, settings)
        assert anchor is not None
        wants.extend(_series_wants(job, tid, anchor, series, now, settings, cancel))
    for tid, series in by_trigger.items():
        if tid not in live:
            cancel.extend((d, TRIGGER_GONE) for d in series.values() if d.get("state") == PLANNED)

    # the Y stop rule
    if job.stop_if_existing is not None:
        count = sum(1 for a in answers if isinstance(a, Mapping) and not a.get("_deleted"))
        count += sum(1 for o in orders if o.get("job") != job.id and o.get("form") == job.order_form
                     and o.get("state") in ACTIVE_STATES)
        count += sum(1 for o in mine if o.get("state") in (ORDERING, ORDERED))
        budget = max(job.stop_if_existing - count, 0)
        wants.sort(key=lambda w: (w.due, w.trigger, w.k))
        for w in wants[budget:]:
            if w.existing is not None and w.existing.get("state") == PLANNED:
                cancel.append((w.existing, STOP_IF_EXISTING))
        wants = wants[:budget]

    diff = PlanDiff()
    for w in wants:
        due = clock.to_iso(w.due)
        doc = w.existing
        if doc is None:
            new = {
                "_id": order_id(job.id, w.trigger, w.k), "type": "order", "job": job.id, "form": job.order_form,
                "trigger": w.trigger, "patient": subject, "patient_id": patient.get("patient_id"), "k": w.k, "due": due, "state": PLANNED, "test": test,
                "planned_at": clock.to_iso(now), "expiry_days": job.expiry_days, "reminder_days": job.reminder_days,
                "state_history": [],
            }
            _history(new, PLANNED, now, due=due)
            diff.create.append(new)
        elif doc.get("state") == CANCELLED:
            new = copy.deepcopy(dict(doc))
            new.update(state=PLANNED, due=due, test=test, planned_at=clock.to_iso(now))
            new.pop("cancelled_by", None)
            new.pop("cancel_reason", None)
            _history(new, PLANNED, now, due=due)
            diff.revive.append(new)
        elif w.change or bool(doc.get("test")) != test:
            new = copy.deepcopy(dict(doc))
            if w.change:
                new.update(due=due, planned_at=clock.to_iso(now))
            new["test"] = test
            _history(new, PLANNED, now, due=new["due"])
            diff.move.append(new)
    done: set[Any] = set()
    for doc, reason in cancel:
        if doc.get("_id") in done:
            continue
        done.add(doc.get("_id"))
        new = copy.deepcopy(dict(doc))
        new.update(state=CANCELLED, cancelled_by=SYSTEM, cancel_reason=reason)
        _history(new, CANCELLED, now, reason=reason)
        diff.cancel.append(new)
    return diff


__all__ = [
    "ACTIVE_STATES", "OrderJob", "OrderJobError", "PlanDiff", "SENT_STATES", "SETTING", "SYSTEM",
    "anchor_time", "natural_due", "order_id", "order_jobs_problems", "parse_order_job", "plan_subject",
    "same_form", "trigger_applies",
]
