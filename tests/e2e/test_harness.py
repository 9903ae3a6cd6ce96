"""The end-to-end world is what the fleet test says it is: real hosts, real disks, real power."""

from __future__ import annotations

from pathlib import Path

import harness
import sshd_host

MIB = 1024 * 1024
PASS_BELOW = (1 - 0.10) * harness.SIZE_LIMIT_MIB * MIB  # the role's default margin


def test_every_host_is_its_own_sshd_with_its_own_keys(world):
    world.prepare()  # whatever a scenario before left off
    ports = {host.port for host in world.hosts}
    assert len(ports) == len(world.hosts) >= 4
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
        first_ephemeral = int(ranges.read().split()[0])
    assert max(ports) < first_ephemeral, f"{ports}: a host's port in the ephemeral range could be taken while it is off"
    for host in world.hosts:
        login = host.ssh("echo $E2E_SSHD_HOST")
        assert login.returncode == 0, login.stderr
        assert login.stdout.strip() == host.spec["marker"]
        stranger = world.hosts[(world.hosts.index(host) + 1) % len(world.hosts)]
        refused = host.ssh("true", key=stranger.client_key)
        assert refused.returncode == 255, f"{host.name} let {stranger.name}'s key in"


def test_every_disk_is_a_real_mount_of_the_intended_kind(world):
    for host in world.hosts:
        fstype, used = harness.df(host.mount_point)
        if host.plan.kind == "not_ext":
            assert fstype not in ("ext3", "ext4"), (host.name, fstype)
        else:
            assert fstype == "ext4", (host.name, fstype)
            # A loop device, so a real block device and a real filesystem behind the mount.
            assert harness.run(["findmnt", "-n", "-o", "SOURCE", str(host.mount_point)]).stdout.startswith("/dev/loop")
        if host.plan.kind == "over_limit":
            assert used > harness.SIZE_LIMIT_MIB * MIB, (host.name, used)
        else:
            assert used < PASS_BELOW, (host.name, used)


def test_power_hooks_make_ssh_unreachable_and_bring_it_back(world):
    world.prepare()
    host = world.of_kind("good")[0]
    emulator = world.emulator
    assert host.answers()

    emulator.api("POST", f"/linode/instances/{host.linode_id}/shutdown")
    harness.wait_until(lambda: emulator.linode(host.linode_id)["status"] == "offline", 30, f"{host.name} offline")
    # The hook ran before the API showed offline: nothing listens any more.
    assert sshd_host.refuses(host.port)
    assert not host.answers()
    assert not host.up()

    emulator.api("POST", f"/linode/instances/{host.linode_id}/boot")
    harness.wait_until(lambda: emulator.linode(host.linode_id)["status"] == "running", 30, f"{host.name} running")
    assert host.answers()

    mine = [(event["action"], event["outcome"]) for event in world.hook_events() if event["host"] == host.name]
    assert mine[-2:] == [("stop", "ok"), ("start", "ok")], mine
    others = {host.name for host in world.hosts} - {host.name}
    assert all(world.host(name).answers() for name in others)


def test_start_waits_for_a_running_listener_instead_of_starting_a_second_one(world):
    """A listener whose pid file is gone (or that is slow to answer) is the host's sshd: start() must not add a
    second sshd, which could not bind the port and would leave the host looking down (make test, 2 CPUs)."""
    world.prepare()
    host = world.of_kind("good")[0]
    listener = sshd_host.listener_pid(host.spec)
    assert listener is not None
    Path(host.spec["pid_file"]).unlink()
    assert sshd_host.listener_pid(host.spec) == listener  # found by its title
    host.start()
    assert sshd_host.listener_pid(host.spec) == listener
    assert sshd_host.pids_with_command_line(host.spec["config"]) == {listener}, "a second sshd was started"
    assert host.answers()
