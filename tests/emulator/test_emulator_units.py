"""In-process unit tests of the state model, filters, rate limiter and fleet loader.

These use a FakeClock, so timing is exact and nothing sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from linode_emulator.auth import grant_for
from linode_emulator.clock import FakeClock, format_countdown, format_time
from linode_emulator.errors import ApiError
from linode_emulator.faults import FaultBook
from linode_emulator.filters import filter_items
from linode_emulator.fleet import DEFAULT_PROGRESS, FleetError, RateLimits, TokenSpec, parse_fleet
from linode_emulator.ratelimit import Operation, RateLimiter
from linode_emulator.shapes import render_event, render_image
from linode_emulator.state import State

from conftest import FLEETS


def make_state(speed: float = 1.0, **changes: Any) -> tuple[State, FakeClock]:
    """basic.yml (top-level keys changed by ``changes``; ``timing`` merged) on a FakeClock."""
    clock = FakeClock(start=1_700_000_000.0, speed=speed)
    data = yaml.safe_load((FLEETS / "basic.yml").read_text())
    for key, value in changes.items():
        data[key] = {**data[key], **value} if key == "timing" else value
    return State(parse_fleet(data), clock), clock


def shape_at(state: State, event: Any) -> dict[str, Any]:
    with state.transaction() as now:
        return render_event(state, event, now)


def test_shutdown_timeline_with_a_fake_clock() -> None:
    state, clock = make_state()
    state.shutdown(1001, "tester")
    event = state.events[-1]
    clock.advance(7.5)  # half of the 15 s shutdown
    with state.transaction() as now:
        assert state.linodes[1001].status == "shutting_down"
        shape = render_event(state, event, now)
        # Recorded: 0 until about 55% of the shutdown, no countdown, elapsed seconds as duration.
        assert (shape["percent_complete"], shape["time_remaining"], shape["duration"]) == (0, None, 7.5)
    clock.advance(1)  # 8.5 s: past 55%
    assert shape_at(state, event)["percent_complete"] == 7
    clock.advance(6.5)
    with state.transaction() as now:
        assert state.linodes[1001].status == "offline"
        shape = render_event(state, event, now)
        assert (shape["status"], shape["percent_complete"], shape["duration"]) == ("finished", 100, 15.0)
        # The step happened at its scheduled time, not when somebody looked.
        assert event.finished_at == 1_700_000_015.0


def test_event_delay_hides_a_new_event() -> None:
    state, clock = make_state(timing={"event_delay_s": 30})
    state.shutdown(1001, "tester")
    event = state.events[-1]
    clock.advance(29.9)
    with state.transaction() as now:
        assert state.visible_events(now) == []
        with pytest.raises(ApiError):
            state.get_event(event.id, now)
    clock.advance(0.1)
    with state.transaction() as now:
        assert state.visible_events(now) == [event]
        assert render_event(state, event, now)["created"] == format_time(1_700_000_000)  # the request's time


def test_capture_progress_follows_the_recorded_curve() -> None:
    # Disk 2001: 2,900 MB used; (20 + 2900 / 100) s = 49 s.
    state, clock = make_state()
    state.capture(2001, label=None, description=None, tags=[], cloud_init=False, username="t")
    event = state.events[-1]
    seen = []
    for _second in range(49):
        seen.append(shape_at(state, event)["percent_complete"])
        clock.advance(1)
    assert [seen[int(49 * f) + 1] for f, _p in DEFAULT_PROGRESS["capture"]] == [64, 83, 87, 90, 0]
    assert seen[0] == 0 and seen[-1] == 0  # falls back to 0 before finishing
    assert shape_at(state, event)["percent_complete"] == 100


def test_custom_and_linear_progress() -> None:
    state, clock = make_state(timing={"progress": {"shutdown": [[0.0, 10], [0.5, 50]]}})
    state.shutdown(1001, "t")
    event = state.events[-1]
    assert shape_at(state, event)["percent_complete"] == 10
    clock.advance(7.5)
    assert shape_at(state, event)["percent_complete"] == 50
    linear, clock = make_state(idealised={"linear_progress": True, "time_remaining": True})
    linear.shutdown(1001, "t")
    event = linear.events[-1]
    clock.advance(6)
    assert (shape_at(linear, event)["percent_complete"], shape_at(linear, event)["time_remaining"]) == (
        40, "00:00:09",
    )


def test_boot_is_scheduled_first() -> None:
    state, clock = make_state(timing={"boot_scheduled_s": 5})
    state.boot(1002, 3002, "t")
    event = state.events[-1]
    shape = shape_at(state, event)
    assert (shape["status"], shape["percent_complete"], shape["duration"]) == ("scheduled", 0, None)
    assert shape["secondary_entity"]["id"] == 3002
    clock.advance(5)
    assert (shape_at(state, event)["status"], shape_at(state, event)["duration"]) == ("started", 5.0)
    clock.advance(0.6 * 25 - 5)  # 60% of the 25 s boot
    assert shape_at(state, event)["percent_complete"] == 45
    clock.advance(10)
    assert (shape_at(state, event)["status"], shape_at(state, event)["duration"]) == ("finished", 25.0)
    at_once, _clock = make_state(idealised={"started_at_once": True})
    at_once.boot(1002, 3002, "t")
    assert shape_at(at_once, at_once.events[-1])["status"] == "started"


def test_disk_not_ready_becomes_ready_and_a_capture_waits_for_it() -> None:
    state, clock = make_state(timing={"disk_ready_s": 20})
    disk = state.linodes[1003].disks[2007]
    assert disk.status == "not ready"
    image = state.capture(2007, label=None, description=None, tags=[], cloud_init=False, username="t")
    event = state.events[-1]
    assert (image.status, render_image(image)["size"], render_image(image)["regions"]) == ("creating", 10240, [])
    clock.advance(19)
    assert shape_at(state, event)["status"] == "scheduled" and disk.status == "not ready"
    clock.advance(1)
    assert shape_at(state, event)["status"] == "started" and disk.status == "ready"
    clock.advance(20 + 800 / 100)
    state.advance()
    assert (image.status, image.size) == ("available", 800)
    state.reset()
    assert state.linodes[1003].disks[2007].status == "not ready"  # start over after a reset


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
    assert render_image(image)["total_size"] == 2900


def test_failed_capture_modes() -> None:
    for mode, kept in (("delete", False), ("stay_creating", True)):
        state, clock = make_state(unrecorded={"failed_capture": mode})
        image = state.capture(2006, label="big", description=None, tags=[], cloud_init=False, username="t")
        clock.advance(20 + 6144 / 100)
        state.advance()
        assert (image.number in state.images, image.status) == (kept, "creating")
        assert (state.events[-1].status, state.events[-1].message) == ("failed", "")


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
    assert (busy.value.status, busy.value.entries) == (400, [{"reason": "Linode busy."}])
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
    with pytest.raises(ApiError) as refused:
        ids('{"colour": "red"}')
    assert refused.value.body() == {"errors": [{"field": "X-Filter", "reason": "Cannot filter on colour"}]}
    with pytest.raises(ApiError) as refused:
        ids('{"+order_by": "colour"}')
    assert refused.value.entries[0]["reason"] == "Cannot filter on colour"
    # Lenient (idealised.lenient_filters): any field.
    assert [i["id"] for i in filter_items(items, '{"colour": "red"}', None)] == []
    # A path through a list of objects matches any element.
    nested = [{"id": 1, "interfaces": [{"label": "a"}, {"label": "b"}]}, {"id": 2, "interfaces": []}]
    assert [i["id"] for i in filter_items(nested, '{"interfaces.label": "b"}', ("interfaces.label",))] == [1]


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


def test_rate_limiter_limit_only_headers() -> None:
    limiter = RateLimiter(RateLimits(list_images_per_min=1), FakeClock(), headers="limit_only")
    listing = Operation("GET /images", is_list=True, is_list_images=True)
    assert limiter.check("t", listing).headers == {"X-RateLimit-Limit": "1"}
    refused = limiter.check("t", listing)
    assert not refused.allowed and refused.headers == {"X-RateLimit-Limit": "1"}


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
    # Calibrated to the recordings: shutdown 28 s, boot 24 s, a 366 MB capture about 144 s.
    assert (fleet.timing.shutdown_s, fleet.timing.boot_s) == (28, 24)
    assert round(fleet.timing.capture_s(366)) == 144
    assert (fleet.timing.event_delay_s, fleet.timing.boot_scheduled_s, fleet.timing.disk_ready_s) == (3, 5, 20)
    assert not any(vars(fleet.idealised).values())  # every idealised option is off
    assert (fleet.unrecorded.failed_capture, fleet.unrecorded.rate_limit_headers) == ("delete", "documented")
    custom = parse_fleet(
        {
            "linodes": [],
            "timing": {"event_delay_s": 30, "progress": {"boot": [[0.5, 40]]}},
            "idealised": {"instant_events": True},
            "unrecorded": {"failed_capture": "stay_creating", "rate_limit_headers": "limit_only"},
        }
    )
    assert custom.timing.progress["boot"] == ((0.5, 40),)
    assert custom.timing.progress["capture"] == DEFAULT_PROGRESS["capture"]
    assert custom.idealised.instant_events and custom.timing.event_delay_s == 30
    assert fleet.rate_limits == RateLimits()
    assert parse_fleet({"linodes": [], "rate_limits": False}).rate_limits is None
    for bad in (
        {},
        {"linodes": [{"id": 1, "colour": "red"}]},
        {"linodes": [{"id": 1, "disks": [{"id": 2, "used_mb": 9, "size": 5}]}]},
        {"linodes": [{"id": 1, "configs": [{"id": 3, "devices": {"sda": 99}}]}]},
        {"linodes": [{"id": 1}, {"id": 1}]},
        {"linodes": [], "images": [{"id": "linode/debian12"}]},
        {"linodes": [], "timing": {"event_delay_s": -1}},
        {"linodes": [], "timing": {"progress": {"resize": [[0.5, 1]]}}},
        {"linodes": [], "timing": {"progress": {"boot": [[0.5, 100]]}}},
        {"linodes": [], "timing": {"progress": {"boot": [[0.6, 1], [0.5, 2]]}}},
        {"linodes": [], "timing": {"progress": {"boot": [[1.5, 1]]}}},
        {"linodes": [], "timing": {"progress": {"boot": [0.5]}}},
        {"linodes": [], "idealised": {"instant": True}},
        {"linodes": [], "idealised": {"instant_events": "yes"}},
        {"linodes": [], "unrecorded": {"failed_capture": "explode"}},
        {"linodes": [], "unrecorded": {"colour": "red"}},
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
