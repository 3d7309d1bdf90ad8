"""`sentinel milestones preview`: a schedule's windows and alerts, printed for a configurator."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

IPTI = {"name": "IPTI Schedule", "milestones": [
    {"name": "IPTI 1", "scheduleWindows": {"earliest": "13 Weeks", "due": "14 Weeks", "late": "16 Weeks", "max": ""},
     "alerts": [{"window": "due", "offset": "0 days", "interval": "1 day", "count": 3},
                {"window": "late", "offset": "0 days", "interval": "1 week", "count": 5}]},
    {"name": "IPTI 2", "scheduleWindows": {"earliest": "4 Weeks", "due": "5 Weeks", "late": "7 Weeks"},
     "alerts": [{"window": "due", "offset": "0 days", "interval": "1 day", "count": 1}]},
]}


def preview(tmp_path, schedule, *args: str, settings: dict | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(schedule))
    extra = []
    if settings is not None:
        (tmp_path / "settings.json").write_text(json.dumps(settings))
        extra = ["--settings", str(tmp_path / "settings.json")]
    return subprocess.run([sys.executable, "-m", "sentinel", "milestones", "preview", str(path), *args, *extra],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_the_ipti_schedule_previews_its_windows_and_alerts_at_the_preferred_time(tmp_path):
    result = preview(tmp_path, IPTI, "--reference", "2026-01-05", "--preferred-time", "09:00",
                     settings={"timezone": "Africa/Nairobi"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "times in Africa/Nairobi" in lines[0]
    assert "  due       Mon 2026-04-06 00:00  to  Mon 2026-04-13 00:00" in lines
    assert "  late      Mon 2026-04-13 00:00  to  Mon 2026-04-27 00:00" in lines
    alerts = [line for line in lines if line.startswith("  alert")]
    # three daily due alerts, then weekly late alerts cut by the window end (2 of 5)
    assert [a.split("  (")[0].strip() for a in alerts[:5]] == [
        "alert     Mon 2026-04-06 09:00", "alert     Tue 2026-04-07 09:00", "alert     Wed 2026-04-08 09:00",
        "alert     Mon 2026-04-13 09:00", "alert     Mon 2026-04-20 09:00"]
    assert "  defaults  Mon 2026-04-27 00:00 if not fulfilled" in lines


@pytest.mark.parametrize(
    "schedule, problem",
    [
        pytest.param({**IPTI, "milestones": [{**IPTI["milestones"][0], "scheduleWindows": {"earliest": "13 weeks", "due": "1 week"}}]},
                     "scheduleWindows.due: ends before the window before it", id="increments instead of end points"),
        pytest.param({**IPTI, "milestones": [{**IPTI["milestones"][0], "alerts": [{"window": "soon", "offset": "0 days", "interval": "1 day", "count": 1}]}]},
                     "unknown window", id="an unknown window name"),
        pytest.param({**IPTI, "milestones": [{**IPTI["milestones"][0], "alerts": [{"window": "due", "offset": "0 days", "interval": "1 month", "count": 2}]}]},
                     "interval", id="months in an alert interval"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_path_of_each_problem(tmp_path, schedule, problem):
    result = preview(tmp_path, schedule, "--reference", "2026-01-05")
    assert result.returncode == 1
    assert problem in result.stdout


def test_a_schedule_name_not_in_the_settings_is_explained(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sentinel", "milestones", "preview", "Nope", "--reference", "2026-01-05"],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and "no schedule named 'Nope'" in result.stdout
