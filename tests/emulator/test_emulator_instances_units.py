"""In-process tests of created instances (FakeClock: exact times) and of the credential checks."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from linode_emulator.clock import FakeClock
from linode_emulator.credentials import password_problem, ssh_key_problem
from linode_emulator.errors import ApiError
from linode_emulator.fleet import parse_fleet, with_timing
from linode_emulator.shapes import render_event
from linode_emulator.state import State

from conftest import FLEETS

START = 1_700_000_000.0


def make_state(**changes: Any) -> tuple[State, FakeClock]:
    clock = FakeClock(start=START)
    data = yaml.safe_load((FLEETS / "basic.yml").read_text())
    data.update(changes)
    return State(parse_fleet(data), clock), clock


def create(state: State, label: str, image: str | None = "linode/debian12", booted: bool = True) -> Any:
    return state.create_linode(label=label, region="us-east", type_id="g6-nanode-1", image_id=image, tags=[],
                               booted=booted, swap_mb=512, username="tester")


def at(state: State, clock: FakeClock, seconds: float) -> float:
    """Move the clock to ``seconds`` after the start and apply every step due."""
    clock.advance(START + seconds - clock.now())
    return state.advance()


def test_create_then_boot_timeline_is_exact() -> None:
    # Defaults: create 40 s (scheduled for the first 5 s), then the fleet's 25 s boot (scheduled 5 s).
    state, clock = make_state()
    linode = create(state, "timeline")
    event = state.events[-1]
    timeline = []
    for second in (4.9, 5, 39.9, 40, 44.9, 45, 64.9, 65):
        now = at(state, clock, second)
        timeline.append((second, linode.status, [render_event(state, e, now)["status"] for e in state.events]))
    assert timeline == [
        (4.9, "provisioning", ["scheduled"]),
        (5, "provisioning", ["started"]),
        (39.9, "provisioning", ["started"]),
        (40, "booting", ["finished", "scheduled"]),
        (44.9, "booting", ["finished", "scheduled"]),
        (45, "booting", ["finished", "started"]),
        (64.9, "booting", ["finished", "started"]),
        (65, "running", ["finished", "finished"]),
    ]
    assert event.finished_at == START + 40  # its scheduled time, not when somebody looked
    assert [d.status for d in linode.disks.values()] == ["ready", "ready"]
    assert linode.last_booted_config_id == next(iter(linode.configs))


def test_power_actions_while_provisioning_are_linode_busy() -> None:
    state, clock = make_state()
    linode = create(state, "busy-one")
    with pytest.raises(ApiError, match="Linode busy."):
        state.boot(linode.id, None, "tester")
    at(state, clock, 41)
    with pytest.raises(ApiError, match="Linode busy."):
        state.shutdown(linode.id, "tester")  # now booting


def test_deleting_an_instance_while_it_captures_fails_the_capture_and_its_image() -> None:
    state, clock = make_state()
    linode = create(state, "captured", booted=False)
    at(state, clock, 41)
    image = state.capture(linode.root_disk_id, label="half", description=None, tags=[], cloud_init=False,
                          username="tester")
    assert image.source == (linode.id, linode.root_disk_id)
    state.delete_linode(linode.id, "tester")
    capture_event = next(e for e in state.events if e.action == "disk_imagize")
    assert capture_event.status == "failed"
    assert image.number not in state.images  # unrecorded.failed_capture: delete (the default)
    at(state, clock, 41 + 13)
    assert not state.label_taken("captured", state.advance())


def test_the_label_is_held_for_the_delete_and_then_free() -> None:
    state, clock = make_state()
    linode = create(state, "held", image=None)
    at(state, clock, 41)
    state.delete_linode(linode.id, "tester")
    assert state.label_taken("held", at(state, clock, 41 + 12.9))
    with pytest.raises(ApiError, match="Label must be unique"):
        create(state, "held", image=None)
    with pytest.raises(ApiError, match="Label must be unique"):
        state.update_linode(1001, {"label": "held"})
    assert not state.label_taken("held", at(state, clock, 41 + 13))
    assert create(state, "held", image=None).label == "held"


def test_timing_changes_apply_to_jobs_started_afterwards() -> None:
    state, clock = make_state()
    first = create(state, "before")
    state.fleet = with_timing(state.fleet, {"create_s": 100})
    second = create(state, "after")
    assert state.fleet.timing.boot_s == 25  # the fleet's, kept
    at(state, clock, 41)
    assert (first.status, second.status) == ("booting", "provisioning")


def key_line(kind: str, data: bytes | None = None) -> str:
    blob = data if data is not None else len(kind).to_bytes(4, "big") + kind.encode() + bytes(40)
    return f"{kind} {base64.b64encode(blob).decode()} someone@example"


@pytest.mark.parametrize(
    "password,problem",
    [
        ("thisIsYourRootPassword", None),  # recorded, accepted by Linode
        ("aComplexP@ssword", None),  # the spec's example
        ("4<e#0[=KfB!I|fBX'v&!'q$M5c8+3M3fNYCF7*yd8F2Cb5", None),  # a recorded random one
        ("Ab1!xyz", "Password does not meet strength requirement"),  # 7 characters: too guessable
        ("hunter22", "Password does not meet strength requirement"),
        ("Password123!", "Password does not meet strength requirement"),  # a common word dressed up
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaA1", "Password does not meet strength requirement"),  # repeats
        ("correcthorsebatterystaple", "Password does not meet strength requirement"),  # one class only
        ("Ab1!", "Length must be 7-128 characters"),
        ("Aa1!" * 33, "Length must be 7-128 characters"),
    ],
)
def test_password_strength(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


@pytest.mark.parametrize(
    "key,problem",
    [
        (key_line("ssh-ed25519"), None),
        (key_line("ecdsa-sha2-nistp256"), None),
        (key_line("ssh-rsa").rsplit(" ", 1)[0], None),  # no comment
        ("ssh-ed25519", "expected '<type> <base64 data> [comment]'"),
        (key_line("ssh-foo"), "unknown key type 'ssh-foo'"),
        ("ssh-ed25519 AAAA_valid_public_ssh_key_123456785== me", "its data is not base64"),
        (key_line("ssh-rsa", len("ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519"), "its data is not a ssh-rsa key"),
        (key_line("ssh-ed25519") + "\n" + key_line("ssh-ed25519"), "one key per entry, on one line"),
    ],
)
def test_ssh_public_keys(key: str, problem: str | None) -> None:
    assert ssh_key_problem(key) == problem
