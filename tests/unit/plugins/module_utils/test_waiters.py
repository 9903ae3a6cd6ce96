from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    MIN_ESTIMATED_S,
    MIN_POLL_S,
    next_poll_delay,
    parse_time_remaining,
    wait_for_capture,
    wait_for_captures,
    wait_for_instances,
)

IMAGE = {"id": "private/7", "label": "web", "status": "creating", "regions": []}


def page(*items):
    return (200, {"data": list(items), "page": 1, "pages": 1, "results": len(items)})


def countdown(seconds):
    return None if seconds is None else "%02d:%02d:%02d" % (seconds // 3600, seconds % 3600 // 60, seconds % 60)


def imagize(status="started", percent=10, remaining=30, event_id=55):
    return {"id": event_id, "action": "disk_imagize", "status": status, "percent_complete": percent,
            "time_remaining": countdown(remaining), "entity": {"id": 1, "type": "linode"},
            "secondary_entity": {"id": "private/7", "type": "image"}}


def test_delay_prefers_time_remaining_then_percent_then_share_of_elapsed():
    # time_remaining is whole seconds rounded up: the first look is half a second before its end.
    assert next_poll_delay(10, 50, 42) == pytest.approx(41.5)
    assert next_poll_delay(10, 25, None) == pytest.approx(30.0)
    assert next_poll_delay(100, None, None) == pytest.approx(5.0)
    assert next_poll_delay(10000, None, None) == 60.0
    assert next_poll_delay(0, 0, None) == MIN_POLL_S
    assert next_poll_delay(3, None, 0.5) == MIN_ESTIMATED_S


@pytest.mark.parametrize("value,seconds", [("00:02:16", 136.0), ("1:00:00", 3600.0), ("05:30", 330.0),
                                           ("42", 42.0), (17, 17.0), (None, None), ("soon", None), (True, None)])
def test_parse_time_remaining(value, seconds):
    assert parse_time_remaining(value) == seconds


def test_capture_wait_sleeps_to_the_expected_end_and_costs_two_requests(client_with, clock):
    available = dict(IMAGE, status="available", size=2900)
    client = client_with([page(imagize(remaining=136)), (200, available)])
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert image["status"] == "available"
    assert clock.sleeps == [pytest.approx(135.5)]
    assert client.session.requests_count() == {"GET": 2, "total": 2}


def test_capture_wait_looks_again_at_the_announced_end_without_rereading_events(client_with, clock):
    client = client_with([page(imagize(remaining=136)), (200, IMAGE), (200, dict(IMAGE, status="available"))])
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert image["status"] == "available"
    assert clock.sleeps == [pytest.approx(135.5), pytest.approx(0.5)]
    assert client.session.requests_count() == {"GET": 3, "total": 3}


def test_capture_wait_re_estimates_when_the_capture_runs_late(client_with, clock):
    client = client_with([page(imagize(remaining=10)), (200, IMAGE), (200, IMAGE),
                          page(imagize(percent=80, remaining=4)), (200, dict(IMAGE, status="available"))])
    wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert clock.sleeps == [pytest.approx(9.5), pytest.approx(0.5), pytest.approx(3.5)]


def test_capture_wait_stops_at_once_on_a_failed_event(client_with, clock):
    client = client_with([page(imagize(status="failed"))])
    with pytest.raises(LinodeError, match="Capture of image private/7 failed .*image size limit"):
        wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert clock.sleeps == []


def test_capture_wait_explains_a_vanished_image(client_with):
    client = client_with([page(imagize(remaining=5)), (404, {"errors": [{"reason": "Not found"}]})])
    with pytest.raises(LinodeError, match=r"deleted the image while capturing it.*over the account's image size limit"):
        wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)


def test_capture_wait_has_a_deadline(client_with, clock):
    script = [page(imagize(remaining=400))] + [(200, IMAGE), (200, IMAGE), page(imagize(remaining=400))] * 5
    client = client_with(script, deadline_s=900)
    with pytest.raises(LinodeError, match=r"Timed out after 900 s waiting for image private/7 .*\(wait_timeout\)"):
        wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert sum(clock.sleeps) == pytest.approx(900)


def test_capture_wait_without_any_estimate_polls_a_share_of_elapsed_time(client_with, clock):
    no_estimate = imagize(percent=0, remaining=None)
    script = [page(no_estimate)]
    for dummy in range(6):
        script += [(200, IMAGE), page(no_estimate)]
    script += [(200, dict(IMAGE, status="available"))]
    client = client_with(script)
    wait_for_capture(client, IMAGE, 1, 2, client.session.deadline)
    assert clock.sleeps[0] == MIN_POLL_S
    assert all(s >= MIN_POLL_S for s in clock.sleeps)


def test_fleet_capture_wait_costs_two_requests_a_round_and_sorts_out_failures(client_with, clock):
    def event(image, linode, status="started", remaining=20):
        return {"id": linode, "action": "disk_imagize", "status": status, "percent_complete": 50,
                "time_remaining": countdown(remaining), "entity": {"id": linode, "type": "linode"},
                "secondary_entity": {"id": image, "type": "image"}}

    images = {"private/1": (11, 21), "private/2": (12, 22), "private/3": (13, 23), "private/4": (14, 24)}
    client = client_with([
        page(event("private/1", 11, remaining=30), event("private/2", 12, remaining=20),
             event("private/3", 13, status="failed", remaining=None), event("private/4", 14)),
        page(dict(IMAGE, id="private/1", status="available"), dict(IMAGE, id="private/2", status="available")),
    ])
    available, failed = wait_for_captures(client, images, client.session.deadline)
    assert sorted(available) == ["private/1", "private/2"]
    assert "Capture of image private/3 failed" in failed["private/3"]
    assert "deleted the image while capturing it" in failed["private/4"]
    assert "disk 24" in failed["private/4"]
    assert clock.sleeps == [pytest.approx(29.5)]
    assert client.session.requests_count() == {"GET": 2, "total": 2}


def test_power_wait_reads_a_whole_fleet_in_two_requests_a_round(client_with, clock):
    def shutdown(linode_id, remaining, status="started"):
        return {"id": 90 + linode_id, "action": "linode_shutdown", "status": status, "percent_complete": 20,
                "time_remaining": countdown(remaining), "entity": {"id": linode_id, "type": "linode"}}

    client = client_with([
        page(shutdown(1, 12), shutdown(2, 9), shutdown(3, 0, status="failed")),
        page({"id": 1, "status": "offline"}, {"id": 2, "status": "offline"}),
    ])
    instances, failed = wait_for_instances(client, {1: "offline", 2: "offline", 3: "offline"}, "linode_shutdown",
                                           client.session.deadline)
    assert sorted(instances) == [1, 2]
    assert list(failed) == [3] and "linode_shutdown of Linode 3 failed" in failed[3]
    assert clock.sleeps == [pytest.approx(11.5)]
    assert client.session.requests_count() == {"GET": 2, "total": 2}
    request = client.session.adapter.sent[0][0]
    assert '"+or"' in request.headers["X-Filter"]
