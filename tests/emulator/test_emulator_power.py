"""Power actions: transitions, their events, "Linode busy", and power hooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

from conftest import Emulator, dedupe, expect_invalid_request, fleet_with, is_subsequence, new_session, wait_for

BUSY = {"errors": [{"reason": "Linode busy."}]}  # recorded, with the period


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


def newest_event(api: requests.Session, emu: Emulator, linode_id: int, action: str) -> dict[str, Any]:
    """The newest such event, once listed (events show up timing.event_delay_s after the request)."""
    return wait_for(lambda: events_for(api, emu, linode_id, action), what=f"{action} event")[0]


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
    event = newest_event(api, emu, 1001, "linode_shutdown")
    assert event["status"] == "started"
    # Recorded: 0, then 7% from about 55% of the shutdown on; no countdown; no secondary entity.
    assert event["percent_complete"] in (0, 7)
    assert (event["time_remaining"], event["secondary_entity"], event["message"]) == (None, None, "")
    assert isinstance(event["duration"], float) and event["duration"] < 15 / 40
    assert event["entity"] == {"id": 1001, "label": "web-1", "type": "linode", "url": "/v4/linode/instances/1001"}

    assert watch_status(api, emu, 1001, "offline")[-2:] == ["shutting_down", "offline"]
    event = newest_event(api, emu, 1001, "linode_shutdown")
    assert event["status"] == "finished"
    assert event["percent_complete"] == 100
    assert event["time_remaining"] is None
    assert event["duration"] == 15 / 40  # the total, in real seconds


def test_boot_goes_through_booting_to_running_with_progress(api: requests.Session, emu: Emulator) -> None:
    response = api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3003})
    assert response.status_code == 200 and response.json() == {}
    seen: list[tuple[str, int]] = []

    def finished() -> bool:
        event = newest_event(api, emu, 1002, "linode_boot")
        seen.append((event["status"], event["percent_complete"]))
        return event["status"] == "finished"

    wait_for(finished, what="linode_boot finished")
    statuses, percents = [s for s, _p in seen], [p for _s, p in seen]
    assert is_subsequence(dedupe(statuses), ["scheduled", "started", "finished"]), seen
    # The recorded-like curve: 0, then 45 and 49 at about 60% of the boot, 100 when done.
    assert is_subsequence(dedupe(percents), [0, 45, 49, 100]) and percents[-1] == 100, seen
    event = newest_event(api, emu, 1002, "linode_boot")
    assert event["secondary_entity"] == {
        "id": 3003,  # recorded: an integer
        "label": "Rescue Config",
        "type": "linode_config",
        "url": "/v4/linode/instances/1002/configs/3003",
    }
    assert instance(api, emu, 1002)["status"] == "running"


def test_boot_event_is_scheduled_first(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    # At speed 40: the boot lasts 1 s, of which the first 0.5 s are `scheduled`; events listed at once.
    fleet = fleet_with(tmp_path, timing={"boot_s": 40, "boot_scheduled_s": 20, "event_delay_s": 0})
    emu = own_emulator("--speed", "40", fleet=fleet)
    with new_session(emu) as api:
        assert api.post(f"{emu.api_url}/linode/instances/1002/boot", json={"config_id": 3002}).status_code == 200
        event = newest_event(api, emu, 1002, "linode_boot")
        assert (event["status"], event["percent_complete"], event["duration"]) == ("scheduled", 0, None)
        assert event["time_remaining"] is None
        assert instance(api, emu, 1002)["status"] == "booting"
        started = wait_for(
            lambda: (e := newest_event(api, emu, 1002, "linode_boot"))["status"] == "started" and e, what="started"
        )
        assert started["duration"] >= 0.5  # recorded: the elapsed seconds while started
        watch_status(api, emu, 1002, "running")
        done = newest_event(api, emu, 1002, "linode_boot")
        assert (done["status"], done["percent_complete"], done["duration"]) == ("finished", 100, 1.0)


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
    assert newest_event(api, emu, 1002, "linode_boot")["secondary_entity"]["id"] == 3002


def test_reboot_goes_through_rebooting_back_to_running(api: requests.Session, emu: Emulator) -> None:
    response = api.post(f"{emu.api_url}/linode/instances/1001/reboot")
    assert response.status_code == 200 and response.json() == {}
    assert watch_status(api, emu, 1001, "running")[0] == "rebooting"
    assert newest_event(api, emu, 1001, "linode_reboot")["status"] == "finished"


def test_power_action_during_a_power_job_is_linode_busy(api: requests.Session, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    for action in ("shutdown", "boot", "reboot"):
        response = api.post(f"{emu.api_url}/linode/instances/1001/{action}")
        assert response.status_code == 400
        assert response.json() == BUSY
    watch_status(api, emu, 1001, "offline")
    # Once the job is over the linode takes orders again.
    assert api.post(f"{emu.api_url}/linode/instances/1001/boot").status_code == 200


def test_power_action_during_a_capture_is_linode_busy(api: requests.Session, emu: Emulator) -> None:
    created = api.post(f"{emu.api_url}/images", json={"disk_id": 2001, "label": "busy-check"})
    assert created.status_code == 200
    for action in ("shutdown", "reboot"):
        response = api.post(f"{emu.api_url}/linode/instances/1001/{action}")
        assert response.status_code == 400
        assert response.json() == BUSY
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
        watch_status(api, emu, 1, "offline")
        assert api.post(f"{emu.api_url}/linode/instances/1/boot").status_code == 200
        wait_for(lambda: marks.read_text() == "offline\nrunning\n", what="on_running hook")
        watch_status(api, emu, 1, "running")
        assert api.post(f"{emu.api_url}/linode/instances/1/reboot").status_code == 200
        wait_for(lambda: marks.read_text() == "offline\nrunning\noffline\nrunning\n", what="hooks of a reboot")


def test_a_slow_power_hook_holds_back_its_own_instance_and_nothing_else(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    """A hook runs outside the state lock: while it runs, the API answers every request, the
    instance still shows its old state and its job (so it is busy), other instances move on;
    the new state shows once the hook has returned."""
    started, gate = tmp_path / "hook-started", tmp_path / "gate"
    # Blocks until the test opens the gate (at most 50 s, below the emulator's hook timeout).
    hook = [
        sys.executable, "-c",
        f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); gate = pathlib.Path({str(gate)!r})\n"
        "for _ in range(500):\n    if gate.exists(): break\n    time.sleep(0.1)",
    ]

    def linode(linode_id: int, label: str, **extra: Any) -> dict[str, Any]:
        disk, config = 10 * linode_id, 10 * linode_id + 1
        return {
            "id": linode_id, "label": label, "disks": [{"id": disk, "label": "root", "used_mb": 100}],
            "configs": [{"id": config, "label": "boot", "devices": {"sda": disk}}], **extra,
        }

    fleet = tmp_path / "slow-hook.yml"
    fleet.write_text(
        yaml.safe_dump(
            {
                "rate_limits": False,
                "linodes": [linode(1, "slow-hook", power_hooks={"on_offline": hook}), linode(2, "no-hook")],
            }
        )
    )
    emu = own_emulator("--speed", "50", fleet=fleet)
    # Far below the hook's 50 s: a request that waited for the hook would time out.
    with new_session(emu, timeout=10) as api:
        assert api.post(f"{emu.api_url}/linode/instances/1/shutdown").status_code == 200
        wait_for(started.exists, what="the on_offline hook to start")
        assert instance(api, emu, 1)["status"] == "shutting_down"
        assert api.post(f"{emu.api_url}/linode/instances/1/boot").json() == BUSY
        assert newest_event(api, emu, 1, "linode_shutdown")["status"] == "started"
        assert api.post(f"{emu.api_url}/linode/instances/2/shutdown").status_code == 200
        watch_status(api, emu, 2, "offline")
        assert instance(api, emu, 1)["status"] == "shutting_down"

        gate.touch()
        watch_status(api, emu, 1, "offline")
        assert newest_event(api, emu, 1, "linode_shutdown")["status"] == "finished"
