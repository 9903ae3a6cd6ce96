"""Instances created and deleted through the API: POST /linode/instances, DELETE, types, limits, hooks.

The timeline is the recorded one: ``provisioning`` (a ``linode_create`` event, ``scheduled`` first)
for ``timing.create_s``, then a boot (``linode_boot``) unless ``booted`` is false; a deleted
instance reads 404 at once while its label stays taken until its ``linode_delete`` finishes. At the
shared emulator's speed 40 a create lasts 1 s, a boot 0.625 s and a delete 0.325 s.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
import yaml
from linode_api4 import Instance, LinodeClient
from linode_emulator.fleet import FleetError, load_fleet

from conftest import Emulator, dedupe, expect_invalid_request, fleet_with, instrument, is_subsequence, new_session, wait_for

# Strong enough for Linode, as the recordings sent them.
ROOT_PASS = "thisIsYourRootPassword"
LABEL_TAKEN = [{"field": "label", "reason": "Label must be unique among your linodes"}]


def ssh_key(kind: str = "ssh-ed25519", comment: str = "ci@example") -> str:
    """An OpenSSH public key line whose data names its type, as ssh-keygen writes it."""
    blob = len(kind).to_bytes(4, "big") + kind.encode() + (32).to_bytes(4, "big") + bytes(range(32))
    return f"{kind} {base64.b64encode(blob).decode()} {comment}"


def create(api: requests.Session, emu: Emulator, **body: Any) -> requests.Response:
    body.setdefault("region", "us-east")
    body.setdefault("type", "g6-nanode-1")
    return api.post(f"{emu.api_url}/linode/instances", json=body)


def instance(api: requests.Session, emu: Emulator, linode_id: int) -> dict[str, Any]:
    response = api.get(f"{emu.api_url}/linode/instances/{linode_id}")
    assert response.status_code == 200, response.text
    return response.json()


def state_linode(emu: Emulator, linode_id: int) -> dict[str, Any] | None:
    return next((l for l in emu.state()["linodes"] if l["id"] == linode_id), None)


def events_of(emu: Emulator, linode_id: int) -> list[dict[str, Any]]:
    """Every event of a linode, oldest first (the control API shows them before they are listed)."""
    return [e for e in emu.state()["events"] if e["entity"]["id"] == linode_id]


def watch_status(api: requests.Session, emu: Emulator, linode_id: int, final: str) -> list[str]:
    seen: list[str] = []

    def reached() -> bool:
        status = instance(api, emu, linode_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == final

    wait_for(reached, timeout=15, what=f"linode {linode_id} {final}")
    return seen


def errors(response: requests.Response) -> list[dict[str, str]]:
    assert response.status_code == 400, response.text
    return response.json()["errors"]


def test_create_from_a_public_image_provisions_then_boots(api: requests.Session, emu: Emulator) -> None:
    response = create(api, emu, label="bake-1", image="linode/debian12", root_pass=ROOT_PASS, tags=["temp"])
    assert response.status_code == 200, response.text
    created = response.json()
    linode_id = created["id"]
    assert linode_id == 40001  # from 40001 on, above the fleet's ids
    assert (created["label"], created["status"], created["image"]) == ("bake-1", "provisioning", "linode/debian12")
    assert (created["region"], created["type"], created["tags"]) == ("us-east", "g6-nanode-1", ["temp"])
    assert created["specs"] == {"disk": 25600, "memory": 1024, "vcpus": 1, "transfer": 1000, "gpus": 0}
    assert "root_pass" not in created

    # As Linode makes them: an ext4 root disk (the type's disk less 512 MB of swap) holding the image,
    # a swap disk, both not ready while provisioning, and a config booting from them.
    linode = state_linode(emu, linode_id)
    assert [(d["label"], d["filesystem"], d["size"], d["used_mb"], d["status"]) for d in linode["disks"]] == [
        ("Debian 12 Disk", "ext4", 25088, 1500, "not ready"),
        ("512 MB Swap Image", "swap", 512, 0, "not ready"),
    ]
    root, swap = (d["id"] for d in linode["disks"])
    [config] = linode["configs"]
    assert config["label"] == "My Debian 12 Disk Profile" and config["root_device"] == "/dev/sda"
    assert config["devices"]["sda"] == {"disk_id": root, "volume_id": None}
    assert config["devices"]["sdb"] == {"disk_id": swap, "volume_id": None}

    assert dedupe(watch_status(api, emu, linode_id, "running")) == ["provisioning", "booting", "running"]
    disks = api.get(f"{emu.api_url}/linode/instances/{linode_id}/disks").json()["data"]
    assert [d["status"] for d in disks] == ["ready", "ready"]

    create_event, boot_event = events_of(emu, linode_id)
    assert create_event["action"] == "linode_create" and create_event["status"] == "finished"
    # Recorded: the image as secondary entity, its id a string; no countdown; an empty message.
    assert create_event["secondary_entity"] == {
        "id": "linode/debian12", "label": "Debian 12", "type": "image", "url": "/v4/images/linode/debian12",
    }
    assert (create_event["time_remaining"], create_event["message"], create_event["duration"]) == (None, "", 1.0)
    assert boot_event["action"] == "linode_boot" and boot_event["status"] == "finished"
    assert boot_event["secondary_entity"]["id"] == config["id"]
    assert instance(api, emu, linode_id)["status"] == "running"


def test_the_create_event_is_scheduled_then_started(api: requests.Session, emu: Emulator) -> None:
    linode_id = create(api, emu, label="bake-2", image="linode/alpine3.20", authorized_keys=[ssh_key()]).json()["id"]
    seen: list[tuple[str, int]] = []

    def finished() -> bool:
        event = events_of(emu, linode_id)[0]
        seen.append((event["status"], event["percent_complete"]))
        assert event["duration"] is None if event["status"] == "scheduled" else isinstance(event["duration"], float)
        return event["status"] == "finished"

    wait_for(finished, interval=0.01, what="linode_create finished")
    assert is_subsequence(dedupe([s for s, _p in seen]), ["scheduled", "started", "finished"]), seen
    assert seen[-1] == ("finished", 100)


def test_booted_false_and_an_empty_instance_stay_offline(api: requests.Session, emu: Emulator) -> None:
    from_image = create(api, emu, label="unbooted", image="linode/debian12", root_pass=ROOT_PASS, booted=False).json()
    empty = create(api, emu, label="empty-1").json()
    assert empty["image"] is None
    assert dedupe(watch_status(api, emu, from_image["id"], "offline")) == ["provisioning", "offline"]
    assert watch_status(api, emu, empty["id"], "offline")[-1] == "offline"
    assert [e["action"] for e in events_of(emu, from_image["id"])] == ["linode_create"]
    [empty_event] = events_of(emu, empty["id"])
    assert empty_event["secondary_entity"] is None
    assert state_linode(emu, empty["id"])["disks"] == [] and state_linode(emu, empty["id"])["configs"] == []


def test_invalid_bodies_are_refused_field_by_field_and_create_nothing(api: requests.Session, emu: Emulator) -> None:
    before = emu.state()
    assert errors(create(api, emu, region="mars-1", type="g9-huge", image="linode/templeos", root_pass=ROOT_PASS)) == [
        {"field": "region", "reason": "region is not valid"},
        {"field": "type", "reason": "type is not valid"},
        {"field": "image", "reason": "image is not valid"},  # the recorded wording
    ]
    # Recorded, without a field: an image needs a way in.
    assert errors(create(api, emu, label="no-way-in", image="linode/debian12")) == [
        {"reason": "Must provide valid root_pass, authorized_keys, or authorized_users"}
    ]
    assert errors(create(api, emu, image="linode/debian12", root_pass="hunter22")) == [
        {"field": "root_pass", "reason": "Password does not meet strength requirement"}
    ]
    assert errors(create(api, emu, image="linode/debian12", authorized_keys=["ssh-ed25519 AAAA_not_a_key me"])) == [
        {"field": "authorized_keys", "reason": "Key 1 is not a valid SSH public key: its data is not base64"}
    ]
    mislabelled = ssh_key().replace("ssh-ed25519 ", "ssh-rsa ", 1)
    assert errors(create(api, emu, image="private/4242", authorized_keys=[ssh_key(), mislabelled])) == [
        {"field": "authorized_keys", "reason": "Key 2 is not a valid SSH public key: its data is not a ssh-rsa key"}
    ]
    # Requests the spec itself refuses: 7-128 characters, a label pattern, a field it does not have,
    # region and type required.
    with expect_invalid_request():
        assert errors(create(api, emu, image="linode/debian12", root_pass="Ab1!")) == [
            {"field": "root_pass", "reason": "Length must be 7-128 characters"}
        ]
        assert errors(create(api, emu, label="web--1", root_pass=ROOT_PASS))[0]["field"] == "label"
        assert errors(create(api, emu, stackscript_id=10079, colour="blue")) == [
            {"field": "stackscript_id", "reason": "stackscript_id is not modelled by linode-emulator"},
            {"field": "colour", "reason": "colour is not a recognized field"},
        ]
        assert errors(api.post(f"{emu.api_url}/linode/instances", json={"label": "no-region"})) == [
            {"field": "region", "reason": "region is required"},
            {"field": "type", "reason": "type is required"},
        ]
    after = emu.state()
    assert after["linodes"] == before["linodes"] and after["events"] == before["events"]


def test_an_image_still_being_captured_cannot_be_deployed(api: requests.Session, emu: Emulator) -> None:
    image = api.post(f"{emu.api_url}/images", json={"disk_id": 2008, "label": "half-done"}).json()
    assert errors(create(api, emu, image=image["id"], root_pass=ROOT_PASS)) == [
        {"field": "image", "reason": f"Image {image['id']} is not available (status: creating)"}
    ]


def test_labels_are_unique_and_stay_taken_until_the_delete_finishes(api: requests.Session, emu: Emulator) -> None:
    assert errors(create(api, emu, label="web-1")) == LABEL_TAKEN  # a fleet linode's
    linode_id = create(api, emu, label="short-lived").json()["id"]
    assert errors(create(api, emu, label="short-lived")) == LABEL_TAKEN

    response = api.delete(f"{emu.api_url}/linode/instances/{linode_id}")
    assert response.status_code == 200 and response.json() == {}
    # Gone from every read at once ...
    assert api.get(f"{emu.api_url}/linode/instances/{linode_id}").status_code == 404
    assert state_linode(emu, linode_id) is None
    # ... but recorded: a create with its label right after the delete is still refused.
    assert errors(create(api, emu, label="short-lived")) == LABEL_TAKEN
    delete_event = events_of(emu, linode_id)[-1]
    assert delete_event["action"] == "linode_delete" and delete_event["status"] == "scheduled"
    assert (delete_event["duration"], delete_event["secondary_entity"]) == (None, None)
    assert delete_event["entity"] == {
        "id": linode_id, "label": "short-lived", "type": "linode", "url": f"/v4/linode/instances/{linode_id}",
    }
    wait_for(lambda: events_of(emu, linode_id)[-1]["status"] == "finished", what="linode_delete finished")
    assert create(api, emu, label="short-lived").status_code == 200
    assert api.delete(f"{emu.api_url}/linode/instances/{linode_id}").status_code == 404


def test_deleting_a_provisioning_instance_fails_its_create(api: requests.Session, emu: Emulator) -> None:
    linode_id = create(api, emu, label="doomed", image="linode/debian12", root_pass=ROOT_PASS).json()["id"]
    assert api.delete(f"{emu.api_url}/linode/instances/{linode_id}").status_code == 200
    create_event, delete_event = events_of(emu, linode_id)
    assert (create_event["action"], create_event["status"]) == ("linode_create", "failed")
    assert delete_event["action"] == "linode_delete"


def test_account_limit_on_instances(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    # basic.yml has 4 linodes; the account may hold 5.
    emu = own_emulator("--speed", "40", fleet=fleet_with(tmp_path, account={"linode_count_limit": 5}))
    with new_session(emu) as api:
        fifth = create(api, emu, label="fifth")
        assert fifth.status_code == 200
        assert errors(create(api, emu, label="sixth")) == [{"reason": "Account Limit reached. Please open a support ticket."}]
        assert api.delete(f"{emu.api_url}/linode/instances/{fifth.json()['id']}").status_code == 200
        assert create(api, emu, label="sixth").status_code == 200
        assert len(emu.state()["linodes"]) == 5


def test_an_instance_created_from_an_image_can_be_captured_and_deployed_again(
    api: requests.Session, emu: Emulator
) -> None:
    linode_id = create(api, emu, label="bake-src", image="linode/debian12", root_pass=ROOT_PASS).json()["id"]
    watch_status(api, emu, linode_id, "running")
    assert api.post(f"{emu.api_url}/linode/instances/{linode_id}/shutdown").status_code == 200
    watch_status(api, emu, linode_id, "offline")
    root = state_linode(emu, linode_id)["disks"][0]["id"]
    image = api.post(f"{emu.api_url}/images", json={"disk_id": root, "label": "baked"}).json()
    wait_for(lambda: api.get(f"{emu.api_url}/images/{image['id']}").json()["status"] == "available", what="baked")
    assert api.get(f"{emu.api_url}/images/{image['id']}").json()["size"] == 1500  # what the disk held

    verify = create(api, emu, label="verify-1", image=image["id"], authorized_keys=[ssh_key()], type="g6-standard-1")
    assert verify.status_code == 200, verify.text
    linode = state_linode(emu, verify.json()["id"])
    assert [(d["label"], d["size"], d["used_mb"]) for d in linode["disks"]] == [
        ("baked Disk", 50688, 1500), ("512 MB Swap Image", 512, 0),
    ]
    assert events_of(emu, linode["id"])[0]["secondary_entity"]["id"] == image["id"]  # "private/N", a string
    assert watch_status(api, emu, linode["id"], "running")[-1] == "running"


def test_types_are_public_and_filterable(emu: Emulator) -> None:
    with new_session(emu, auth=False) as anonymous:
        types = anonymous.get(f"{emu.api_url}/linode/types").json()
        nanode = anonymous.get(f"{emu.api_url}/linode/types/g6-nanode-1").json()
        standard = anonymous.get(f"{emu.api_url}/linode/types", headers={"X-Filter": '{"class": "standard"}'}).json()
        assert anonymous.get(f"{emu.api_url}/linode/types/g9-huge").status_code == 404
        refused = anonymous.get(f"{emu.api_url}/linode/types", headers={"X-Filter": '{"id": "g6-nanode-1"}'})
    assert "g6-nanode-1" in [t["id"] for t in types["data"]]
    assert (nanode["disk"], nanode["memory"], nanode["price"]) == (25600, 1024, {"hourly": 0.0075, "monthly": 5.0})
    assert {t["class"] for t in standard["data"]} == {"standard"} and standard["results"] >= 2
    assert refused.json() == {"errors": [{"reason": "Cannot filter on id", "field": "X-Filter"}]}


def test_public_base_images_are_listed_and_filterable(api: requests.Session, emu: Emulator) -> None:
    def listed(filt: dict[str, Any]) -> list[dict[str, Any]]:
        return api.get(f"{emu.api_url}/images", headers={"X-Filter": json.dumps(filt)}).json()["data"]

    public = listed({"is_public": True})
    assert {"linode/debian12", "linode/ubuntu24.04"} <= {i["id"] for i in public}
    assert all(i["is_public"] and i["created_by"] == "linode" and i["vendor"] for i in public)
    [debian] = listed({"is_public": True, "vendor": "Debian"})
    assert (debian["id"], debian["size"], debian["status"]) == ("linode/debian12", 1500, "available")
    assert [i["id"] for i in listed({"is_public": False})] == ["private/4242"]


def test_scopes_of_creating_and_deleting(emu: Emulator) -> None:
    with new_session(emu, token="readonly-token") as readonly:
        assert create(readonly, emu, label="not-allowed").status_code == 403
        assert readonly.delete(f"{emu.api_url}/linode/instances/1001").status_code == 403
    assert len(emu.state()["linodes"]) == 4


def test_faults_reach_the_new_routes(api: requests.Session, emu: Emulator) -> None:
    emu.add_faults(
        {"method": "POST", "path": "^/v4/linode/instances$", "times": 1, "status": 500, "after_effect": True},
        {"method": "DELETE", "path": "^/v4/linode/instances/\\d+$", "times": 1, "status": 502},
    )
    # The server acted, the client saw a 500: exactly one instance exists.
    assert create(api, emu, label="ambiguous").status_code == 500
    [made] = [l for l in emu.state()["linodes"] if l["label"] == "ambiguous"]
    # The 502 came before the server acted: the instance is still there.
    assert api.delete(f"{emu.api_url}/linode/instances/{made['id']}").status_code == 502
    assert state_linode(emu, made["id"]) is not None
    assert [(e["method"], e["status"]) for e in emu.request_log()] == [("POST", 500), ("DELETE", 502)]


def test_the_sdk_creates_waits_for_and_deletes_an_instance(emu: Emulator) -> None:
    client = LinodeClient(emu.token, base_url=emu.api_url, ca_path=emu.ca_file)
    instrument(client.session)
    # The SDK's own generated root password must be strong enough for Linode.
    made = client.linode.instance_create("g6-nanode-1", "us-east", image="linode/ubuntu24.04", label="sdk-temp",
                                         tags=["sdk"], root_pass=Instance.generate_root_password())
    assert made.status == "provisioning"

    def running() -> bool:
        made.invalidate()
        return made.status == "running"

    wait_for(running, timeout=15, what="sdk instance running")
    assert [d.label for d in made.disks] == ["Ubuntu 24.04 LTS Disk", "512 MB Swap Image"]
    assert made.delete() is True
    assert [i.id for i in client.linode.instances(Instance.label == "sdk-temp")] == []


def test_timing_can_be_changed_for_one_test_and_reset_restores_it(api: requests.Session, emu: Emulator) -> None:
    answer = emu.control("POST", "timing", {"create_s": 4000}).json()["timing"]
    assert answer["create_s"] == 4000 and answer["boot_s"] == 25  # the rest as the fleet has it
    linode_id = create(api, emu, label="slow-one", image="linode/debian12", root_pass=ROOT_PASS).json()["id"]
    wait_for(lambda: events_of(emu, linode_id)[0]["status"] == "started", what="create started")
    assert instance(api, emu, linode_id)["status"] == "provisioning"
    bad = emu.control_session.post(f"{emu.url}/__emulator__/timing", json={"create_minutes": 1})
    assert bad.status_code == 400 and "create_minutes" in bad.json()["errors"][0]["reason"]
    emu.reset()
    linode_id = create(api, emu, label="fast-again").json()["id"]
    watch_status(api, emu, linode_id, "offline")  # an empty instance: 1 s at the fleet's timing


def test_instance_hook_runs_for_created_instances_only(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    log = tmp_path / "hook.jsonl"
    script = (
        "import json, os, sys; "
        "env = {k[len('LINODE_EMULATOR_'):]: v for k, v in os.environ.items() if k.startswith('LINODE_EMULATOR_')}; "
        f"open({str(log)!r}, 'a').write(json.dumps({{'argv': sys.argv[1:], 'env': env}}) + chr(10))"
    )
    fleet = fleet_with(tmp_path, instance_hook=[sys.executable, "-c", script])
    emu = own_emulator("--speed", "40", fleet=fleet)

    def calls() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    with new_session(emu) as api:
        # A fleet linode's power changes run no instance hook.
        assert api.post(f"{emu.api_url}/linode/instances/1001/shutdown").status_code == 200
        watch_status(api, emu, 1001, "offline")
        image = api.post(f"{emu.api_url}/images", json={"disk_id": 2001, "label": "from-web-1"}).json()
        wait_for(lambda: api.get(f"{emu.api_url}/images/{image['id']}").json()["status"] == "available", what="image")
        assert calls() == []

        made = create(api, emu, label="hooked-1", image=image["id"], root_pass=ROOT_PASS).json()
        wait_for(lambda: len(calls()) == 2, what="created and running hooks")
        root = state_linode(emu, made["id"])["disks"][0]["id"]
        expected_env = {
            "LINODE_ID": str(made["id"]), "LINODE_LABEL": "hooked-1", "IMAGE": image["id"],
            "IMAGE_SOURCE": "1001:2001", "ROOT_DISK": str(root),
        }
        assert [c["argv"] for c in calls()] == [["created", str(made["id"])], ["running", str(made["id"])]]
        assert [c["env"] for c in calls()] == [dict(expected_env, HOOK_EVENT=e) for e in ("created", "running")]
        assert api.post(f"{emu.api_url}/linode/instances/{made['id']}/shutdown").status_code == 200
        wait_for(lambda: len(calls()) == 3, what="offline hook")
        assert api.delete(f"{emu.api_url}/linode/instances/{made['id']}").status_code == 200
        # Synchronous: the hook has run when the DELETE is answered.
        assert [c["argv"][0] for c in calls()] == ["created", "running", "offline", "deleted"]

        public = create(api, emu, label="hooked-2", image="linode/debian12", root_pass=ROOT_PASS, booted=False).json()
        wait_for(lambda: len(calls()) == 5, what="created hook of an unbooted instance")
        assert calls()[-1]["env"]["IMAGE"] == "linode/debian12" and calls()[-1]["env"]["IMAGE_SOURCE"] == ""
        # Shown once the hook process has returned, a moment after it wrote its line.
        assert set(watch_status(api, emu, public["id"], "offline")) <= {"provisioning", "offline"}  # never booted


def test_fleet_files_take_the_new_keys(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump({
        "linodes": [], "account": {"linode_count_limit": 3}, "timing": {"create_s": 5, "delete_s": 1},
        "instance_hook": ["true"],
    }))
    fleet = load_fleet(path)
    assert (fleet.account.linode_count_limit, fleet.timing.create_s, fleet.timing.delete_s) == (3, 5.0, 1.0)
    assert fleet.instance_hook == ("true",)
    path.write_text(yaml.safe_dump({"linodes": [], "instance_hook": "true"}))
    with pytest.raises(FleetError, match="instance_hook"):
        load_fleet(path)
