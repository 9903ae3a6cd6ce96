"""Held instances: a linode held in a transitional status (a migration, a resize, ...) is busy until released."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml
from linode_api4 import ApiError, Instance, LinodeClient

from conftest import FLEETS, Emulator, fleet_with, instrument, wait_for

BUSY = {"errors": [{"reason": "Linode busy."}]}  # recorded, with the period
HELD = ["busy", "migrating", "provisioning", "rebuilding", "cloning", "restoring",
        "booting", "rebooting", "shutting_down"]


def sdk_client(emu: Emulator) -> LinodeClient:
    client = LinodeClient(emu.token, base_url=emu.api_url, ca_path=emu.ca_file)
    instrument(client.session)
    return client


def hold(emu: Emulator, linode_id: int, status: str | None) -> requests.Response:
    return emu.control_session.post(f"{emu.url}/__emulator__/hold", json={"linode_id": linode_id, "status": status})


def status_of(emu: Emulator, linode_id: int) -> str:
    return next(linode["status"] for linode in emu.state()["linodes"] if linode["id"] == linode_id)


def writes_answered(api: requests.Session, emu: Emulator, linode_id: int, disk_id: int) -> dict[str, Any]:
    """What each write that needs a free linode is answered: status and body."""
    answers = {}
    for action in ("shutdown", "boot", "reboot"):
        response = api.post(f"{emu.api_url}/linode/instances/{linode_id}/{action}")
        answers[action] = (response.status_code, response.json())
    response = api.post(f"{emu.api_url}/images", json={"disk_id": disk_id, "label": "held-capture"})
    answers["capture"] = (response.status_code, response.json())
    return answers


@pytest.mark.parametrize("status", ["migrating", "restoring", "shutting_down"])
def test_a_held_linode_shows_its_status_and_every_power_action_and_capture_is_linode_busy(
    api: requests.Session, emu: Emulator, status: str
) -> None:
    answer = hold(emu, 1001, status)
    assert answer.status_code == 200 and answer.json()["status"] == status
    assert api.get(f"{emu.api_url}/linode/instances/1001").json()["status"] == status
    assert writes_answered(api, emu, 1001, 2001) == dict.fromkeys(("shutdown", "boot", "reboot", "capture"), (400, BUSY))
    # Nothing happened: no job, no image, no event; reads and tag changes still work.
    state = emu.state()
    assert status_of(emu, 1001) == status and state["events"] == [] and [i["id"] for i in state["images"]] == ["private/4242"]
    response = api.put(f"{emu.api_url}/linode/instances/1001", json={"tags": ["web", "prod", "held"]})
    assert response.status_code == 200 and response.json()["tags"] == ["web", "prod", "held"]


def test_the_sdk_gets_linode_busy_while_held_and_acts_once_released(emu: Emulator) -> None:
    client = sdk_client(emu)
    assert hold(emu, 1001, "migrating").status_code == 200
    instance = client.load(Instance, 1001)
    assert instance.status == "migrating"
    with pytest.raises(ApiError) as busy:
        instance.shutdown()
    assert busy.value.status == 400 and busy.value.errors == ["Linode busy."]
    assert status_of(emu, 1001) == "migrating"

    released = hold(emu, 1001, None)
    assert released.status_code == 200 and released.json()["status"] == "running"
    assert instance.shutdown() is True
    wait_for(lambda: client.load(Instance, 1001).status == "offline", what="offline")
    assert [e.action for e in client.account.events()] == ["linode_shutdown"]


def test_a_held_offline_linode_is_released_offline_and_a_hold_can_change_its_status(emu: Emulator) -> None:
    assert hold(emu, 1002, "rebuilding").json()["status"] == "rebuilding"
    assert hold(emu, 1002, "busy").json()["status"] == "busy"
    assert hold(emu, 1002, None).json()["status"] == "offline"
    # Releasing a linode that is not held changes nothing.
    assert hold(emu, 1002, None).json()["status"] == "offline"


def test_a_hold_is_refused_while_a_job_of_its_own_runs_and_for_bad_input(api: requests.Session, emu: Emulator) -> None:
    assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
    refused = hold(emu, 1001, "migrating")
    assert (refused.status_code, refused.json()) == (400, BUSY)
    assert status_of(emu, 1001) == "shutting_down"
    assert hold(emu, 424242, "migrating").status_code == 404
    for body in ({"linode_id": 1002, "status": "offline"}, {"linode_id": 1002, "status": "sleeping"},
                 {"linode_id": "1002", "status": "busy"}, {"linode_id": 1002}, []):
        answer = emu.control_session.post(f"{emu.url}/__emulator__/hold", json=body)
        assert answer.status_code == 400, body
    assert status_of(emu, 1002) == "offline"
    assert emu.control_session.get(f"{emu.url}/__emulator__/hold").status_code == 405


def test_a_reset_releases_control_holds(emu: Emulator) -> None:
    hold(emu, 1003, "cloning")
    emu.reset()
    assert status_of(emu, 1003) == "running"


def test_the_fleet_file_holds_a_linode_until_released_and_a_reset_holds_it_again(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    linodes = yaml.safe_load((FLEETS / "basic.yml").read_text())["linodes"]
    linodes[0]["hold"] = "migrating"
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, linodes=linodes))
    client = sdk_client(emu)
    assert client.load(Instance, 1001).status == "migrating"
    with pytest.raises(ApiError) as busy:
        client.load(Instance, 1001).boot()
    assert busy.value.status == 400
    assert hold(emu, 1001, None).json()["status"] == "running"
    emu.reset()
    assert status_of(emu, 1001) == "migrating"


# The spec's Linode.status has no `resizing`, so the emulator never shows it.
@pytest.mark.parametrize("hold_value", ["offline", "resizing", "sleeping", 3])
def test_a_fleet_hold_that_is_not_a_transitional_status_stops_the_emulator(
    tmp_path: Path, hold_value: Any
) -> None:
    from linode_emulator.fleet import FleetError, parse_fleet  # pylint: disable=import-outside-toplevel

    data = yaml.safe_load((FLEETS / "basic.yml").read_text())
    data["linodes"][0]["hold"] = hold_value
    with pytest.raises(FleetError, match=r"linodes\[0\]\.hold"):
        parse_fleet(data)


def test_every_hold_status_is_one_the_api_knows() -> None:
    from linode_emulator.fleet import HOLD_STATUSES  # pylint: disable=import-outside-toplevel

    assert list(HOLD_STATUSES) == HELD
