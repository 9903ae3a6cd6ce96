"""The official SDK, unmodified, against the emulator."""

from __future__ import annotations

from linode_api4 import Image, Instance, LinodeClient

from conftest import Emulator, instrument, wait_for


def sdk_client(emu: Emulator) -> LinodeClient:
    client = LinodeClient(emu.token, base_url=emu.api_url, ca_path=emu.ca_file)
    instrument(client.session)  # contract-check the SDK's own traffic too
    return client


def test_sdk_captures_an_image_and_sees_it_become_available(emu: Emulator) -> None:
    client = sdk_client(emu)
    instance = client.load(Instance, 1001)
    disk = next(d for d in instance.disks if d.filesystem == "ext4")
    assert disk.id == 2001

    image = client.images.create(disk, label="sdk-golden", description="made by linode_api4", tags=["sdk-test"])
    assert image.id.startswith("private/")
    assert image.status == "creating"

    # Image.status never refreshes by itself: re-fetch it.
    available = wait_for(
        lambda: (fresh := client.load(Image, image.id)).status == "available" and fresh,
        what="image available",
    )
    assert available.size == 2900
    assert available.label == "sdk-golden" and available.tags == ["sdk-test"]
    assert [r.region for r in available.regions] == ["us-east"]
    assert [i.id for i in client.images(Image.label == "sdk-golden")] == [image.id]  # an X-Filter query


def test_sdk_shuts_an_instance_down_and_boots_it(emu: Emulator) -> None:
    client = sdk_client(emu)
    instance = client.load(Instance, 1001)
    assert instance.status == "running"
    assert instance.shutdown() is True
    wait_for(lambda: client.load(Instance, 1001).status == "offline", what="offline")

    config = instance.configs[0]
    assert config.devices.sda.id == 2001
    assert instance.boot(config) is True

    # invalidate() makes the same object fetch again on the next read.
    def running() -> bool:
        instance.invalidate()
        return instance.status == "running"

    wait_for(running, what="running")
    actions = [e.action for e in client.account.events()]
    assert actions[:2] == ["linode_boot", "linode_shutdown"]
