"""Events as recorded (visibility delay, null fields, integer ids), and the idealised options."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from conftest import Emulator, fleet_with, new_session, wait_for


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def test_event_is_listed_only_after_the_event_delay(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    # 30 emulated seconds at speed 40: the event is hidden for 0.75 s.
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, timing={"event_delay_s": 30}))
    url = f"{emu.api_url}/account/events"
    with new_session(emu) as api:
        requested = time.time()
        assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
        assert api.get(url).json() == {"data": [], "page": 1, "pages": 1, "results": 0}
        filtered = api.get(url, headers={"X-Filter": '{"entity.id": 1001}'}).json()
        assert filtered == {"data": [], "page": 0, "pages": 0, "results": 0}
        (hidden,) = emu.state()["events"]  # the control API shows it already
        response = api.get(f"{url}/{hidden['id']}")
        assert response.status_code == 404 and response.json() == {"errors": [{"reason": "Not found"}]}
        assert time.time() - requested < 0.75, "the test was too slow to look before the delay ran out"

        event = wait_for(lambda: api.get(url).json()["data"], what="the event to be listed")[0]
        assert time.time() - requested >= 0.75
        assert event["id"] == hidden["id"]
        # `created` is still the request's time (one-second resolution).
        assert int(requested) - 1 <= parse_time(event["created"]) <= requested + 0.5
        assert api.get(f"{url}/{hidden['id']}").status_code == 200


def test_idealised_events_are_instant_linear_and_spec_shaped(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    idealised = {
        "time_remaining": True,
        "linear_progress": True,
        "instant_events": True,
        "started_at_once": True,
        "spec_event_shapes": True,
    }
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, idealised=idealised))
    url = f"{emu.api_url}/account/events"
    with new_session(emu) as api:
        assert api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3002}).status_code == 200
        event = api.get(url).json()["data"][0]  # listed at once
        assert event["status"] == "started"  # no scheduled phase
        assert event["secondary_entity"]["id"] == "3002"  # the spec's string
        assert event["message"] is None and "duration" not in event
        assert len(event["time_remaining"]) == 8 and event["time_remaining"].count(":") == 2  # "hh:mm:ss"
        seen: list[tuple[int, str | None]] = []

        def finished() -> bool:
            current = api.get(f"{url}/{event['id']}").json()
            if current["status"] == "started":
                seen.append((current["percent_complete"], current["time_remaining"]))
            return current["status"] == "finished"

        wait_for(finished, what="boot")
        percents = [p for p, _left in seen]
        assert percents == sorted(percents) and len(set(percents)) > 2, seen  # linear growth
        done = api.get(f"{url}/{event['id']}").json()
        assert (done["time_remaining"], done["duration"]) == (None, 25 / 40)

        assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
        shutdown = api.get(url, headers={"X-Filter": '{"action": "linode_shutdown"}'}).json()["data"][0]
        assert "secondary_entity" not in shutdown
        wait_for(lambda: api.get(f"{emu.api_url}/linode/instances/1001").json()["status"] == "offline", what="off")
        image = api.post(f"{emu.api_url}/images", json={"disk_id": 2001}).json()
        imagize = api.get(url, headers={"X-Filter": '{"action": "disk_imagize"}'}).json()["data"][0]
        assert imagize["secondary_entity"]["id"] == image["id"]  # "private/N"


def test_recorded_event_fields_by_default(api: Any, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    event = wait_for(lambda: api.get(f"{emu.api_url}/account/events").json()["data"], what="event")[0]
    # Present with the recorded values, not left out.
    assert {"secondary_entity", "duration", "message", "time_remaining", "rate"} <= set(event)
    assert (event["secondary_entity"], event["message"], event["time_remaining"], event["rate"]) == (
        None, "", None, None,
    )
