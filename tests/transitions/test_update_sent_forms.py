"""update_sent_forms: the reporting place remembers when it last sent each reminder form (spec 2.6)."""
from __future__ import annotations

import pytest

from ..support import CHW, NOW, drain, report

SETTINGS = {"transitions": {"update_sent_forms": True},
            "reminders": [{"form": "W", "cron": "0 9 * * 1", "message": "Send W"}]}
CONTACT = {"_id": CHW["_id"], "parent": CHW["parent"]}


@pytest.mark.parametrize(
    "before, form, reported, expected",
    [
        pytest.param(None, "W", 1700000000000, {"W": "2023-11-14T22:13:20.000Z"}, id="first report"),
        pytest.param(None, " w ", 1700000000000, {" w ": "2023-11-14T22:13:20.000Z"}, id="case and spaces around the form"),
        pytest.param({"W": "2020-01-01T00:00:00.000Z", "X": "y"}, "W", 1700000000000, {"W": "2023-11-14T22:13:20.000Z", "X": "y"}, id="a later report moves it"),
        pytest.param({"W": "2025-01-01T00:00:00.000Z"}, "W", 1700000000000, {"W": "2025-01-01T00:00:00.000Z"}, id="an earlier report does not"),
        pytest.param(None, "V", 1700000000000, None, id="not a reminder form"),
    ],
)
def test_sent_forms_on_the_place(main, hierarchy, make_runner, before, form, reported, expected):
    if before is not None:
        clinic = main.get("clinic")
        main.put({**clinic, "sent_forms": before})
    runner = make_runner(SETTINGS, clock=lambda: NOW)
    main.put(report("r", form=form, reported_date=reported, contact=CONTACT))
    drain(runner)
    assert main.get("clinic").get("sent_forms") == expected
