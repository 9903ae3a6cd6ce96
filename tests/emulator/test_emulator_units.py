"""In-process unit tests of the state model, filters, rate limiter and fleet loader.

These use a FakeClock, so timing is exact and nothing sleeps.
"""

from __future__ import annotations

import pytest

from linode_emulator.auth import grant_for
from linode_emulator.clock import FakeClock, format_countdown, format_time
from linode_emulator.errors import ApiError
from linode_emulator.faults import FaultBook
from linode_emulator.filters import filter_items
from linode_emulator.fleet import FleetError, RateLimits, TokenSpec, load_fleet, parse_fleet
from linode_emulator.ratelimit import Operation, RateLimiter
from linode_emulator.shapes import render_event, render_image
from linode_emulator.state import State

from conftest import FLEETS


def make_state(speed: float = 1.0) -> tuple[State, FakeClock]:
    clock = FakeClock(start=1_700_000_000.0, speed=speed)
    return State(load_fleet(FLEETS / "basic.yml"), clock), clock


def test_shutdown_timeline_with_a_fake_clock() -> None:
    state, clock = make_state()
    state.shutdown(1001, "tester")
    event = state.events[-1]
    clock.advance(7.5)  # half of the 15 s shutdown
    with state.transaction() as now:
        assert state.linodes[1001].status == "shutting_down"
        shape = render_event(event, now)
        assert (shape["percent_complete"], shape["time_remaining"]) == (50, "00:00:08")
    clock.advance(7.5)
    with state.transaction() as now:
        assert state.linodes[1001].status == "offline"
        assert render_event(event, now)["status"] == "finished"
        # The step happened at its scheduled time, not when somebody looked.
        assert event.finished_at == 1_700_000_015.0


def test_speed_divides_capture_time() -> None:
    state, clock = make_state(speed=10)
    image = state.capture(2001, label=None, description=None, tags=[], cloud_init=False, username="t")
    # (20 s + 2900 MB / 100 MB/s) / 10 = 4.9 s
    clock.advance(4.8)
    state.advance()
    assert image.status == "creating"
    clock.advance(0.2)
    state.advance()
    assert (image.status, image.size) == ("available", 2900)
    assert render_image(image)["regions"] == [{"region": "us-east", "status": "available"}]


def test_oversize_capture_fails_after_copying_up_to_the_limit() -> None:
    state, clock = make_state()
    image = state.capture(2006, label="big", description=None, tags=[], cloud_init=False, username="t")
    clock.advance(20 + 6144 / 100)
    state.advance()
    assert image.number not in state.images
    assert state.events[-1].status == "failed"
    assert state.linodes[1003].job is None


def test_reboot_of_a_running_linode_and_busy_rule() -> None:
    state, clock = make_state()
    state.reboot(1001, None, "t")
    with pytest.raises(ApiError) as busy:
        state.capture(2001, label=None, description=None, tags=[], cloud_init=False, username="t")
    assert (busy.value.status, busy.value.entries) == (400, [{"reason": "Linode busy"}])
    clock.advance(40)  # reboot_s defaults to shutdown_s + boot_s
    state.advance()
    assert state.linodes[1001].status == "running"
    assert state.events[-1].action == "linode_reboot"


def test_filters_on_plain_objects() -> None:
    items = [
        {"id": 1, "label": "alpha", "tags": ["a", "shared"], "size": 10, "entity": {"id": 7}},
        {"id": 2, "label": "beta", "tags": ["shared"], "size": 20, "entity": {"id": 8}},
        {"id": 3, "label": "gamma", "tags": [], "size": 30, "entity": {"id": 7}},
    ]
    filterable = ("id", "label", "tags", "size", "entity.id")

    def ids(header: str) -> list[int]:
        return [i["id"] for i in filter_items(items, header, filterable)]

    assert ids('{"tags": "shared"}') == [1, 2]
    assert ids('{"size": {"+gte": 20}}') == [2, 3]
    assert ids('{"size": {"+lt": 20, "+gt": 5}}') == [1]
    assert ids('{"entity.id": 7, "+order_by": "size", "+order": "desc"}') == [3, 1]
    assert ids('{"entity": {"id": "8"}}') == [2]
    assert ids('{"label": {"+or": ["alpha", "gamma"]}}') == [1, 3]
    assert ids('{"+or": [{"label": {"+contains": "et"}}, {"tags": "a"}]}') == [1, 2]
    with pytest.raises(ApiError):
        ids('{"colour": "red"}')


def test_rate_limiter_sliding_window() -> None:
    clock = FakeClock(speed=2)
    limiter = RateLimiter(RateLimits(list_images_per_min=3), clock)
    listing = Operation("GET /images", is_list=True, is_list_images=True)
    assert [limiter.check("t", listing).allowed for _attempt in range(4)] == [True, True, True, False]
    refused = limiter.check("t", listing)
    assert refused.retry_after == 30  # 60 s window at speed 2
    clock.advance(29)
    assert not limiter.check("t", listing).allowed
    clock.advance(1)
    assert limiter.check("t", listing).allowed
    assert limiter.check("someone-else", listing).allowed


def test_fault_rules_times_and_order() -> None:
    book = FaultBook()
    book.add([{"path": "^/v4/x$", "times": 1, "delay_s": 1}, {"path": "^/v4/", "times": 2, "status": 500}])
    first = book.pick("GET", "/v4/x")
    assert first is not None and (first.delay_s, first.status) == (1, 500)
    second = book.pick("GET", "/v4/x")
    assert second is not None and (second.delay_s, second.status) == (0, 500)
    assert book.pick("GET", "/v4/x") is None


def test_fleet_defaults_and_strictness() -> None:
    fleet = parse_fleet({"linodes": [{"id": 1, "disks": [{"id": 2}], "configs": [{"id": 3, "devices": {"sda": 2}}]}]})
    assert fleet.first_token == "demo-token"
    assert (fleet.account.image_size_limit_mb, fleet.account.image_count_limit) == (6144, 25)
    assert (fleet.timing.shutdown_s, fleet.timing.boot_s, fleet.timing.capture_s(250)) == (15, 25, 30)
    assert fleet.rate_limits == RateLimits()
    assert parse_fleet({"linodes": [], "rate_limits": False}).rate_limits is None
    for bad in (
        {},
        {"linodes": [{"id": 1, "colour": "red"}]},
        {"linodes": [{"id": 1, "disks": [{"id": 2, "used_mb": 9, "size": 5}]}]},
        {"linodes": [{"id": 1, "configs": [{"id": 3, "devices": {"sda": 99}}]}]},
        {"linodes": [{"id": 1}, {"id": 1}]},
        {"linodes": [], "images": [{"id": "linode/debian12"}]},
    ):
        with pytest.raises(FleetError):
            parse_fleet(bad)


def test_time_formats() -> None:
    assert format_time(1_514_764_861) == "2018-01-01T00:01:01"
    assert format_countdown(0.2) == "00:00:01"
    assert format_countdown(3725) == "01:02:05"
    assert format_countdown(-3) == "00:00:00"


def test_scopes_read_write_implies_read_only() -> None:
    grant = grant_for(TokenSpec(token="t", scopes="images:read_write,linodes:read_only events:read_only"))
    assert grant.allows("images:read_only") and grant.allows("images:read_write")
    assert grant.allows("linodes:read_only") and not grant.allows("linodes:read_write")
    assert not grant.allows("account:read_only")
    assert grant_for(TokenSpec(token="t", scopes="*")).allows("account:read_write")
