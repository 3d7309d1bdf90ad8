"""`sentinel milestones preview`: a schedule's windows and alert times, printed, before anyone is enrolled.

For a configurator checking a MOTECH schedule: from a reference date (e.g. a birth date) and an
optional preferred alert time, each milestone's four windows and the alerts it would raise. A
relative schedule's next milestone counts from the fulfilment of the previous one; the preview
assumes each milestone is fulfilled at the start of its `due` window (said in the output).

Reads:  a schedule from a JSON file (one schedule, a list of them, or app settings holding
        `milestone_schedules`), or by name from the settings file given or the settings doc.
Writes: nothing (stdout).
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from sentinel.core import clock

from sentinel.programs import milestones
from sentinel.core.errors import ConfigError


def load_schedule(ref: str, settings: Mapping[str, Any]) -> milestones.Schedule:
    """A schedule from a file path, else by name from `settings`; ConfigError naming every problem."""
    path = Path(ref)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError([f"{ref}: not valid JSON: {exc}"]) from None
        if isinstance(data, Mapping) and "milestones" in data:
            candidates = [data]
        elif isinstance(data, list):
            candidates = data
        elif isinstance(data, Mapping):
            candidates = data.get("milestone_schedules") or (data.get("settings") or {}).get("milestone_schedules") or []
        else:
            candidates = []
        if len(candidates) != 1:
            raise ConfigError([f"{ref}: expected one schedule, found {len(candidates)}"])
        config = candidates[0]
    else:
        found = [s for s in settings.get("milestone_schedules") or [] if isinstance(s, Mapping) and s.get("name") == ref]
        if not found:
            raise ConfigError([f"no schedule named {ref!r} in the settings' milestone_schedules, and no such file"])
        config = found[-1]
    try:
        return milestones.parse_schedule(config, where=ref)
    except milestones.ScheduleError as exc:
        raise ConfigError(list(exc.problems)) from None


def preview(schedule: milestones.Schedule, reference: datetime, settings: Mapping[str, Any],
            preferred_time: str | None = None, now: datetime | None = None) -> list[str]:
    """The lines to print."""
    tz = clock.zone(settings)
    reference = reference if reference.tzinfo else clock.localize(reference, tz)
    now = now or reference
    lines = [f"Schedule {schedule.name!r} ({'absolute' if schedule.absolute else 'relative'}), reference "
             f"{_show(reference, tz)}, times in {tz}" + (f", alerts at {preferred_time}" if preferred_time else "")]
    fulfilled: datetime | None = None
    for index, milestone in enumerate(schedule.milestones):
        start = milestones.milestone_start(schedule, index, reference, reference, fulfilled, tz)
        windows = milestones.milestone_windows(schedule, index, start, tz)
        lines.append(f"Milestone {index + 1}: {milestone.name} (counted from {_show(start, tz)})")
        for window in windows:
            if window.start == window.end:
                continue
            lines.append(f"  {window.name:<9} {_show(window.start, tz)}  to  {_show(window.end, tz)}")
        alerts = milestones.alert_times(schedule, index, start, reference, max(now, start), preferred_time, tz)
        for alert in alerts:
            lines.append(f"  alert     {_show(alert.due, tz)}  ({alert.window} window, alert {alert.index + 1}.{alert.number + 1})")
        if not alerts:
            lines.append("  no alerts")
        lines.append(f"  defaults  {_show(milestones.default_time(schedule, index, start, tz), tz)} if not fulfilled")
        due = next((w for w in windows if w.name == "due" and w.start != w.end), windows[0])
        fulfilled = due.start
        if index + 1 < len(schedule.milestones) and not schedule.absolute:
            lines.append(f"  (assumed fulfilled at {_show(fulfilled, tz)}, the start of its due window)")
    return lines


def _show(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


def parse_when(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError([f"{what}: {text!r} is not an ISO 8601 date or date-time"]) from None
    return moment
