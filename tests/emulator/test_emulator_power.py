"""Power actions: transitions, their events, "Linode busy", and power hooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

from conftest import Emulator, expect_invalid_request, new_session, wait_for


def instance(api: requests.Session, emu: Emulator, linode_id: int) -> dict[str, Any]:
    response = api.get(f"{emu.api_url}/linode/instances/{linode_id}")
    assert response.status_code == 200
    return response.json()


def events_for(api: requests.Session, emu: Emulator, linode_id: int, action: str) -> list[dict[str, Any]]:
    response = api.get(
        f"{emu.api_url}/account/events",
        headers={"X-Filter": f'{{"entity.id": {linode_id}, "entity.type": "linode", "action": "{action}"}}'},
    )
    assert response.status_code == 200
    return response.json()["data"]


def watch_status(api: requests.Session, emu: Emulator, linode_id: int, final: str) -> list[str]:
    """Every distinct status seen until ``final`` is reached."""
    seen: list[str] = []

    def reached() -> bool:
        status = instance(api, emu, linode_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == final

    wait_for(reached, timeout=10, what=f"linode {linode_id} {final}")
    return seen


def test_shutdown_goes_through_shutting_down_to_offline_with_an_event(api: requests.Session, emu: Emulator) -> None:
    response = api.post(f"{emu.api_url}/linode/instances/1001/shutdown")
    assert response.status_code == 200 and response.json() == {}
    assert instance(api, emu, 1001)["status"] == "shutting_down"
    event = events_for(api, emu, 1001, "linode_shutdown")[0]
    assert event["status"] == "started"
    assert 0 <= event["percent_complete"] < 100
    assert event["entity"] == {"id": 1001, "label": "web-1", "type": "linode", "url": "/v4/linode/instances/1001"}

    assert watch_status(api, emu, 1001, "offline")[-2:] == ["shutting_down", "offline"]
    event = events_for(api, emu, 1001, "linode_shutdown")[0]
    assert event["status"] == "finished"
    assert event["percent_complete"] == 100
    assert event["time_remaining"] is None


def test_boot_goes_through_booting_to_running_with_progress(api: requests.Session, emu: Emulator) -> None:
    response = api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3003})
    assert response.status_code == 200 and response.json() == {}
    percents = []

    def finished() -> bool:
        event = events_for(api, emu, 1002, "linode_boot")[0]
        percents.append(event["percent_complete"])
        return event["status"] == "finished"

    wait_for(finished, what="linode_boot finished")
    assert percents == sorted(percents) and percents[-1] == 100
    assert len(set(percents)) > 2  # progress really moved
    event = events_for(api, emu, 1002, "linode_boot")[0]
    assert event["secondary_entity"]["id"] == "3003"
    assert instance(api, emu, 1002)["status"] == "running"


def test_boot_picks_the_config_as_the_spec_says(api: requests.Session, emu: Emulator) -> None:
    # 1002 has two configs and has not been booted: the API cannot choose.
    response = api.post(f"{emu.api_url}/linode/instances/1002/boot")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "config_id"
    response = api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 999})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "config_id", "reason": "Config not found"}]
    with expect_invalid_request():
        response = api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": "3002"})
    assert response.status_code == 400

    # Boot with 3002, shut down, boot without config_id: the last booted config is used.
    assert api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3002}).status_code == 200
    watch_status(api, emu, 1002, "running")
    assert api.post(f"{emu.api_url}/linode/instances/1002/shutdown").status_code == 200
    watch_status(api, emu, 1002, "offline")
    assert api.post(f"{emu.api_url}/linode/instances/1002/boot").status_code == 200
    assert events_for(api, emu, 1002, "linode_boot")[0]["secondary_entity"]["id"] == "3002"


def test_reboot_goes_through_rebooting_back_to_running(api: requests.Session, emu: Emulator) -> None:
    response = api.post(f"{emu.api_url}/linode/instances/1001/reboot")
    assert response.status_code == 200 and response.json() == {}
    assert watch_status(api, emu, 1001, "running")[0] == "rebooting"
    assert events_for(api, emu, 1001, "linode_reboot")[0]["status"] == "finished"


def test_power_action_during_a_power_job_is_linode_busy(api: requests.Session, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    for action in ("shutdown", "boot", "reboot"):
        response = api.post(f"{emu.api_url}/linode/instances/1001/{action}")
        assert response.status_code == 400
        assert response.json() == {"errors": [{"reason": "Linode busy"}]}
    watch_status(api, emu, 1001, "offline")
    # Once the job is over the linode takes orders again.
    assert api.post(f"{emu.api_url}/linode/instances/1001/boot").status_code == 200


def test_power_action_during_a_capture_is_linode_busy(api: requests.Session, emu: Emulator) -> None:
    created = api.post(f"{emu.api_url}/images", json={"disk_id": 2001, "label": "busy-check"})
    assert created.status_code == 200
    for action in ("shutdown", "reboot"):
        response = api.post(f"{emu.api_url}/linode/instances/1001/{action}")
        assert response.status_code == 400
        assert response.json()["errors"][0]["reason"] == "Linode busy"
    assert instance(api, emu, 1001)["status"] == "running"
    image_url = f"{emu.api_url}/images/{created.json()['id']}"
    wait_for(lambda: api.get(image_url).json()["status"] == "available", what="capture to finish")
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200


def test_redundant_power_actions_are_accepted_without_change(api: requests.Session, emu: Emulator) -> None:
    before = len(emu.state()["events"])
    assert api.post(f"{emu.api_url}/linode/instances/1002/shutdown").json() == {}  # already offline
    assert api.post(f"{emu.api_url}/linode/instances/1001/boot").json() == {}  # already running
    assert instance(api, emu, 1002)["status"] == "offline"
    assert instance(api, emu, 1001)["status"] == "running"
    assert len(emu.state()["events"]) == before


def test_unknown_linode_is_404(api: requests.Session, emu: Emulator) -> None:
    for method, path in (("GET", "/linode/instances/9999"), ("POST", "/linode/instances/9999/shutdown")):
        response = api.request(method, f"{emu.api_url}{path}")
        assert response.status_code == 404
        assert response.json() == {"errors": [{"reason": "Not found"}]}


def test_power_hooks_run_when_the_machine_stops_and_starts(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"

    def hook(word: str) -> list[str]:
        return [sys.executable, "-c", f"open({str(marks)!r}, 'a').write({word + chr(10)!r})"]

    fleet = tmp_path / "hooks.yml"
    fleet.write_text(
        yaml.safe_dump(
            {
                "rate_limits": False,
                "linodes": [
                    {
                        "id": 1,
                        "label": "hooked",
                        "disks": [{"id": 10, "label": "root", "used_mb": 100}],
                        "configs": [{"id": 20, "label": "boot", "devices": {"sda": 10}}],
                        "power_hooks": {"on_offline": hook("offline"), "on_running": hook("running")},
                    }
                ],
            }
        )
    )
    emu = own_emulator("--speed", "50", fleet=fleet)
    with new_session(emu) as api:
        assert api.post(f"{emu.api_url}/linode/instances/1/shutdown").status_code == 200
        # The ticker runs the hook at the deadline even though nobody polls the API.
        wait_for(lambda: marks.exists() and marks.read_text() == "offline\n", what="on_offline hook")
        assert instance(api, emu, 1)["status"] == "offline"
        assert api.post(f"{emu.api_url}/linode/instances/1/boot").status_code == 200
        wait_for(lambda: marks.read_text() == "offline\nrunning\n", what="on_running hook")
        assert api.post(f"{emu.api_url}/linode/instances/1/reboot").status_code == 200
        wait_for(lambda: marks.read_text() == "offline\nrunning\noffline\nrunning\n", what="hooks of a reboot")
