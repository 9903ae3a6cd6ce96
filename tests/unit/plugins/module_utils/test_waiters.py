"""The waiters against jobs as the real API recorded them: late events, no time_remaining, percents that fall back.

Each sequence below is written out from real traffic recorded by the official Go client's
integration tests (a capture of a 366 MB image, a shutdown, a boot), in this file's own words.
The tests assert how long after a job's end the waiter noticed it, and what it cost in requests.
"""

from __future__ import annotations

import json
import random

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.power import send_power_actions
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline, RetryPolicy
from ansible_collections.golden_image.linode.plugins.module_utils.transport import LinodeSession, build_client
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    CAPTURE_FIRST_LOOK_INTERVALS,
    OVERSIZE_HINT,
    CapturesTimedOut,
    PollSchedule,
    capture_progress,
    wait_for_capture,
    wait_for_captures,
    wait_for_instances,
)
from recorded_api import Job, RecordedApi, api_time

# A capture of a 366 MB image: first listed some 15 s in at 64%, then 83, 87, 90 percent, then 0% four
# times in a row, finished after 144 s; time_remaining null throughout.
CAPTURE_S = 144.0
CAPTURE_PROGRESS = [(0, "started", 0), (16, "started", 64), (47, "started", 83), (62, "started", 87),
                    (77, "started", 90), (92, "started", 0)]
# A shutdown: 7% after about 16 s, finished after 28 s.
SHUTDOWN_S = 28.0
SHUTDOWN_PROGRESS = [(0, "started", 0), (15.8, "started", 7)]
# A boot: scheduled first, 45% at about 15 s, finished after 24 s.
BOOT_S = 24.0
BOOT_PROGRESS = [(0, "scheduled", 0), (10, "started", 45), (15, "started", 49)]

IMAGE = {"id": "private/7", "label": "captured", "status": "creating", "created": api_time(0)}


def lag_goal(duration: float) -> float:
    """The issue's goal: noticed within max(5 s, 10% of the job), and never more than 30 s late."""
    return min(30.0, max(5.0, 0.1 * duration))


def linode_cloud_requests(duration: float) -> float:
    """linode.cloud polls the image every 10 s after about six other requests."""
    return 6 + duration / 10.0


@pytest.mark.parametrize("interval,first_look,elapsed,delay", [
    (5, 1, 0, 5),          # the first look comes after one interval
    (5, 1, 5, 5),          # then every interval ...
    (5, 1, 49, 5),
    (5, 1, 100, 10),       # ... until a tenth of the time waited is longer
    (5, 1, 250, 25),
    (5, 1, 300, 30),       # and never more than six intervals
    (5, 1, 10000, 30),
    (5, 12, 0, 60),        # captures: the first look after twelve intervals
    (5, 12, 59, 1),
    (5, 12, 60, 6),
    (0.05, 12, 0, 0.6),    # a fast API: everything scales with the interval
    (0.05, 1, 1000, 0.3),
])
def test_poll_schedule(interval, first_look, elapsed, delay):
    assert PollSchedule(interval, first_look).delay(elapsed) == pytest.approx(delay)


def test_poll_schedule_refuses_a_non_positive_interval():
    with pytest.raises(ValueError):
        PollSchedule(0)


def test_recorded_capture_is_noticed_in_time_and_costs_less_than_linode_cloud(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, CAPTURE_S, CAPTURE_PROGRESS)
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    now = clock.now() - clock.start
    assert image["status"] == "available"
    assert 0 <= now - CAPTURE_S <= lag_goal(CAPTURE_S)
    # The module's own requests before the wait (instance, configs, disk, images, POST) are 5 at most.
    assert len(api.log) + 5 <= linode_cloud_requests(CAPTURE_S)
    assert api.log[0]["time"] == pytest.approx(CAPTURE_FIRST_LOOK_INTERVALS * 5.0)
    # The percent, which fell from 90 to 0, neither shortened nor stretched a wait: every sleep is the schedule's.
    schedule = PollSchedule.for_captures()
    assert clock.sleeps[0] == schedule.first_look
    assert clock.sleeps[1:] == [pytest.approx(schedule.delay(e["time"])) for e in api.log
                                if e["path"] == "/account/events"][:-1]


@pytest.mark.parametrize("duration", [300.0, 600.0, 1800.0])
def test_long_captures_are_noticed_within_thirty_seconds_at_a_logarithmic_cost(recorded_api, clock, duration):
    api, client = recorded_api
    api.add_capture(1, 7, 0, duration, CAPTURE_PROGRESS)
    wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert 0 <= clock.now() - clock.start - duration <= lag_goal(duration)
    assert len(api.log) + 5 <= linode_cloud_requests(duration)


def test_a_capture_whose_event_is_listed_late_is_read_from_its_image(recorded_api, clock):
    api, client = recorded_api
    # The event shows up only 90 s after the POST: the first looks find nothing and must not fail.
    api.add_capture(1, 7, 0, CAPTURE_S, CAPTURE_PROGRESS, listed_after=90)
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert image["status"] == "available"
    assert 0 <= clock.now() - clock.start - CAPTURE_S <= lag_goal(CAPTURE_S)
    early_image_reads = [e for e in api.log if e["path"] == "/images/private/7" and e["time"] < 90]
    assert early_image_reads, "with no event listed, the image itself must be read"


def test_a_capture_that_never_gets_an_event_still_ends(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, CAPTURE_S, CAPTURE_PROGRESS, listed_after=10 ** 6)
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert image["status"] == "available"
    assert 0 <= clock.now() - clock.start - CAPTURE_S <= lag_goal(CAPTURE_S)


def test_a_failed_capture_whose_image_vanished_is_explained_at_the_next_look(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, 100.0, CAPTURE_PROGRESS, outcome="failed")
    with pytest.raises(LinodeError) as caught:
        wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert "Capture of image private/7 failed (event 1000)" in str(caught.value)
    assert OVERSIZE_HINT.split(" (", maxsplit=1)[0] in str(caught.value)
    assert clock.now() - clock.start - 100.0 <= lag_goal(100.0)


def test_a_failed_capture_that_leaves_its_image_creating_is_not_waited_for_to_the_deadline(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, 100.0, CAPTURE_PROGRESS, outcome="failed", image_removed=False)
    with pytest.raises(LinodeError) as caught:
        wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert "failed (event 1000, no reason given); the image is left creating" in str(caught.value)
    assert clock.now() - clock.start < 150


def test_a_capture_wait_has_a_deadline(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, CAPTURE_S, CAPTURE_PROGRESS)
    with pytest.raises(LinodeError) as caught:
        wait_for_capture(client, IMAGE, 1, 2, Deadline(100, clock), PollSchedule.for_captures())
    assert "Timed out after 100 s waiting for image private/7 to become available (wait_timeout)" in str(caught.value)
    assert clock.now() - clock.start <= 100 + 1e-6


def test_an_older_capture_of_the_same_linode_is_not_taken_for_this_one(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 6, -3000, -2856, CAPTURE_PROGRESS)   # yesterday's capture, finished long ago
    api.add_capture(1, 7, 0, CAPTURE_S, CAPTURE_PROGRESS)
    image = wait_for_capture(client, IMAGE, 1, 2, client.session.deadline, PollSchedule.for_captures())
    assert image["id"] == "private/7" and clock.now() - clock.start >= CAPTURE_S


def test_a_fleet_round_costs_one_request_per_hundred_captures(recorded_api, clock):
    api, client = recorded_api
    captures, ends = {}, {}
    rng = random.Random(3)
    for index in range(150):
        number, linode_id = 100 + index, 1001 + index
        ends[number] = rng.uniform(200, 900)
        api.add_capture(linode_id, number, 0, ends[number], CAPTURE_PROGRESS, listed_after=rng.uniform(0, 30))
        captures["private/%d" % number] = (linode_id, 2001 + index)
    available, failed = wait_for_captures(client, captures, client.session.deadline, PollSchedule.for_captures(),
                                          api_time(0))
    assert not failed and len(available) == 150
    event_reads = [e for e in api.log if e["path"] == "/account/events"]
    image_reads = [e for e in api.log if e["path"].startswith("/images")]
    per_round = {}
    for entry in event_reads:
        per_round[entry["time"]] = per_round.get(entry["time"], 0) + 1
    # Two event requests a round while more than 100 captures are running, then one; the images are read
    # once, in one listing, when the last capture has ended.
    rounds = sorted(per_round)
    assert per_round[rounds[0]] == 2 and set(per_round.values()) == {1, 2}
    assert [per_round[t] for t in rounds] == sorted((per_round[t] for t in rounds), reverse=True)
    assert [e["path"] for e in image_reads] == ["/images"]
    assert 0 <= image_reads[0]["time"] - max(ends.values()) <= 30.0
    # Each capture's end was noticed at most 30 s late: its Linode's events were read for the last time
    # within 30 s of its end.
    for number, end in ends.items():
        linode_id = 1001 + number - 100
        last_read = max(e["time"] for e in event_reads if '"entity.id": %d}' % linode_id in e["filter"])
        assert 0 <= last_read - end <= 30.0, "capture %d ended at %.1f s, last read at %.1f s" % (number, end, last_read)


def test_recorded_shutdown_is_noticed_within_five_seconds(recorded_api, clock):
    api, client = recorded_api
    api.add_job(Job("linode_shutdown", 1, 0, SHUTDOWN_S, SHUTDOWN_PROGRESS, listed_after=15))
    api.set_statuses(1, [(0, "shutting_down"), (SHUTDOWN_S, "offline")])
    latest, failed = wait_for_instances(client, {1: "offline"}, "linode_shutdown", client.session.deadline,
                                        PollSchedule(), api_time(0))
    assert not failed and latest[1]["status"] == "offline"
    assert 0 <= clock.now() - clock.start - SHUTDOWN_S <= lag_goal(SHUTDOWN_S)
    # The module sends 3 requests of its own (read, tag, POST): at most 10 in all.
    assert len(api.log) + 3 <= 10
    assert all(e["path"] == "/linode/instances" for e in api.log), "a power wait on schedule reads no events"


def test_recorded_boot_is_not_mistaken_for_the_previous_one(recorded_api, clock):
    api, client = recorded_api
    api.add_job(Job("linode_boot", 1, -900, -876, BOOT_PROGRESS))  # an earlier boot, finished
    api.add_job(Job("linode_boot", 1, 0, BOOT_S, BOOT_PROGRESS, listed_after=14))
    api.set_statuses(1, [(0, "offline"), (2, "booting"), (BOOT_S, "running")])
    latest, failed = wait_for_instances(client, {1: "running"}, "linode_boot", client.session.deadline,
                                        PollSchedule(), api_time(0))
    assert not failed and latest[1]["status"] == "running"
    assert 0 <= clock.now() - clock.start - BOOT_S <= lag_goal(BOOT_S)
    assert len(api.log) + 3 <= 10


def test_a_power_job_that_failed_is_found_from_its_event_once_it_looks_stuck(recorded_api, clock):
    api, client = recorded_api
    api.add_job(Job("linode_shutdown", 1, 0, 20, SHUTDOWN_PROGRESS, outcome="failed"))
    api.set_statuses(1, [(0, "shutting_down"), (20, "running")])
    latest, failed = wait_for_instances(client, {1: "offline"}, "linode_shutdown", client.session.deadline,
                                        PollSchedule(), api_time(0))
    assert "linode_shutdown of Linode 1 failed (event 1000)" in failed[1]
    assert clock.now() - clock.start <= 65


def test_a_failed_event_from_before_the_action_is_ignored(recorded_api, clock):
    api, client = recorded_api
    api.add_job(Job("linode_shutdown", 1, -500, -480, SHUTDOWN_PROGRESS, outcome="failed"))
    api.set_statuses(1, [(0, "running")])  # our shutdown never started: only the deadline ends the wait
    latest, failed = wait_for_instances(client, {1: "offline"}, "linode_shutdown", Deadline(120, clock), PollSchedule(),
                                        api_time(0))
    assert "Timed out after 120 s waiting for Linode 1 to be offline (wait_timeout)" in failed[1]


def test_a_fleet_power_round_costs_one_request(recorded_api, clock):
    api, client = recorded_api
    for linode_id in range(1, 51):
        api.set_statuses(linode_id, [(0, "shutting_down"), (20 + linode_id % 10, "offline")])
    latest, failed = wait_for_instances(client, dict((i, "offline") for i in range(1, 51)), "linode_shutdown",
                                        client.session.deadline, PollSchedule(), api_time(0))
    assert not failed and all(latest[i]["status"] == "offline" for i in range(1, 51))
    assert len(api.log) == len(set(e["time"] for e in api.log)) <= 7


def busy():
    return (400, {"errors": [{"reason": "Linode busy."}]})


def test_busy_actions_are_sent_again_on_the_poll_schedule(session_with, clock):
    from ansible_collections.golden_image.linode.plugins.module_utils.transport import build_client
    session = session_with([busy(), busy(), busy(), (200, {})])
    client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, session.deadline)
    client.session = session
    errors = send_power_actions(client, {1: "boot"}, session.deadline, schedule=PollSchedule())
    assert errors == {}
    assert clock.sleeps == [pytest.approx(5.0)] * 3
    assert [r.path_url for r, _kwargs in session.adapter.sent] == ["/v4/linode/instances/1/boot"] * 4


def test_busy_actions_stop_at_the_deadline(session_with, clock):
    from ansible_collections.golden_image.linode.plugins.module_utils.transport import build_client
    session = session_with([busy()] * 50, deadline_s=30, policy=RetryPolicy(rng=random.Random(7)))
    client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, session.deadline)
    client.session = session
    errors = send_power_actions(client, {1: "shutdown"}, session.deadline, schedule=PollSchedule())
    assert "within 30 s (wait_timeout); last answer: Linode API 400" in errors[1] and "Linode busy." in errors[1]
    assert len(session.adapter.sent) <= 7


def test_several_images_are_read_in_one_listing_and_a_missing_one_by_id(client_with):
    from ansible_collections.golden_image.linode.plugins.module_utils.waiters import read_images
    listed = {"id": "private/7", "label": "a", "status": "available", "created": "2024-01-01T00:00:00"}
    client = client_with([(200, {"data": [listed], "page": 1, "pages": 1, "results": 1}),
                          (404, {"errors": [{"reason": "Not found"}]})])
    assert read_images(client, ["private/7", "private/8"]) == {"private/7": listed, "private/8": None}
    assert [r.path_url for r, _kwargs in client.session.adapter.sent] == [
        "/v4/images?page_size=500&page=1", "/v4/images/private/8"]


# ---------------------------------------------------------------------------- progress of a wait for captures

def started(status, percent=50):
    return {"status": status, "percent_complete": percent}


@pytest.mark.parametrize("name,state,expected", [
    ("before the first round nothing has been read",
     dict(pending=["a", "b"], watching=["a", "b"], events={}, rounds=0),
     dict(done=0, available=0, finished=0, failed=0, running={"not looked at yet": 2})),
    ("after a round, a capture with no event listed is told apart from a running one",
     dict(pending=["a", "b"], watching=["a", "b"], events={"a": started("started")}, rounds=1),
     dict(done=0, available=0, finished=0, failed=0, running={"started": 1, "not listed yet": 1})),
    ("a finished event counts as done before its image is read",
     dict(pending=["a", "b"], watching=["b"], events={"a": started("finished", 100), "b": started("scheduled", 0)},
          rounds=4),
     dict(done=1, available=0, finished=1, failed=0, running={"scheduled": 1})),
    ("available, failed and running add up to the total",
     dict(available=["a"], failed=["b"], pending=["c"], watching=["c"], events={"c": started("started", 0)}, rounds=9),
     dict(done=1, available=1, finished=0, failed=1, running={"started": 1})),
    ("an event status the waiter does not know is shown as it is",
     dict(pending=["a"], watching=["a"], events={"a": started("notification")}, rounds=2),
     dict(done=0, available=0, finished=0, failed=0, running={"notification": 1})),
    ("all done",
     dict(available=["a", "b"], pending=[], watching=[], events={}, rounds=7),
     dict(done=2, available=2, finished=0, failed=0, running={})),
])
def test_capture_progress(name, state, expected):
    available = dict((i, {"id": i}) for i in state.get("available", []))
    failed = dict((i, "reason") for i in state.get("failed", []))
    pending = dict((i, (1, 2)) for i in state["pending"])
    total = len(available) + len(failed) + len(pending)
    snapshot = capture_progress(total, available, failed, pending, set(state["watching"]), state["events"],
                                state["rounds"], 12.345)
    assert snapshot == dict(expected, total=total, rounds=state["rounds"], elapsed_s=12.3), name
    assert snapshot["done"] + snapshot["failed"] + sum(snapshot["running"].values()) == total
    assert json.loads(json.dumps(snapshot)) == snapshot


def recorded_fleet(clock, size=150, seed=3):
    """A RecordedApi on ``clock`` with ``size`` captures ending between 200 and 900 s, and a client over it."""
    api = RecordedApi(clock)
    session = LinodeSession(5.0, Deadline(3600.0, clock), RetryPolicy(rng=random.Random(7)))
    session.mount("https://", api)
    client = build_client("secret-token-123", "https://api.example", "v4", None, 5.0, session.deadline)
    client.session = session
    captures = {}
    rng = random.Random(seed)
    for index in range(size):
        number, linode_id = 100 + index, 1001 + index
        api.add_capture(linode_id, number, 0, rng.uniform(200, 900), CAPTURE_PROGRESS, listed_after=rng.uniform(0, 30),
                        outcome="failed" if index % 50 == 7 else "finished")
        captures["private/%d" % number] = (linode_id, 2001 + index)
    return api, client, captures


def test_progress_reports_every_round_and_changes_no_request(clock):
    quiet_api, quiet_client, captures = recorded_fleet(clock)
    quiet = wait_for_captures(quiet_client, captures, quiet_client.session.deadline, PollSchedule.for_captures(),
                              api_time(0))
    watched_clock = type(clock)()
    api, client, captures = recorded_fleet(watched_clock)
    snapshots = []
    watched = wait_for_captures(client, captures, client.session.deadline, PollSchedule.for_captures(), api_time(0),
                                progress=snapshots.append)
    # The same requests at the same times, and the same outcome: the callback reads only what the rounds read.
    assert [(e["time"], e["method"], e["path"], e["filter"]) for e in api.log] == [
        (e["time"], e["method"], e["path"], e["filter"]) for e in quiet_api.log]
    assert watched == quiet
    # One snapshot before the first round, then one a round (every round sends at least one request).
    rounds = sorted(set(e["time"] for e in api.log))
    assert [s["rounds"] for s in snapshots] == list(range(len(rounds) + 1))
    assert snapshots[0] == dict(total=150, done=0, available=0, finished=0, failed=0,
                                running={"not looked at yet": 150}, rounds=0, elapsed_s=0.0)
    assert [s["elapsed_s"] for s in snapshots[1:]] == [pytest.approx(t, abs=0.05) for t in rounds]
    for snapshot in snapshots:
        assert snapshot["done"] + snapshot["failed"] + sum(snapshot["running"].values()) == 150
    assert [s["done"] for s in snapshots] == sorted(s["done"] for s in snapshots)
    available, failed = watched
    assert snapshots[-1]["done"] == snapshots[-1]["available"] == len(available) == 147
    assert snapshots[-1]["failed"] == len(failed) == 3 and snapshots[-1]["running"] == {}
    # Mid-wait, finished captures wait for their images to be read together.
    assert any(s["finished"] for s in snapshots)


def test_a_timed_out_wait_says_what_had_ended(recorded_api, clock):
    api, client = recorded_api
    api.add_capture(1, 7, 0, 100.0, CAPTURE_PROGRESS)
    api.add_capture(2, 8, 0, 1000.0, CAPTURE_PROGRESS)
    api.add_capture(3, 9, 0, 150.0, CAPTURE_PROGRESS, outcome="failed")
    with pytest.raises(CapturesTimedOut) as caught:
        wait_for_captures(client, {"private/7": (1, 11), "private/8": (2, 12), "private/9": (3, 13)},
                          Deadline(300, clock), PollSchedule.for_captures(), api_time(0))
    assert str(caught.value) == "Timed out after 300 s waiting for image private/8 to become available (wait_timeout)"
    assert sorted(caught.value.available) == ["private/7"] and sorted(caught.value.failed) == ["private/9"]
    assert caught.value.pending == ["private/8"] and caught.value.finished == []
    assert isinstance(caught.value, LinodeError)


def test_a_failure_message_with_line_breaks_is_one_line(recorded_api, clock):
    api, client = recorded_api
    job = api.add_capture(1, 7, 0, 100.0, CAPTURE_PROGRESS, outcome="failed", image_removed=False)
    job.message = "Disk copy failed:\r\n  I/O error\n"
    available, failed = wait_for_captures(client, {"private/7": (1, 2)}, client.session.deadline,
                                          PollSchedule.for_captures(), api_time(0))
    assert available == {}
    assert "(event 1000, Disk copy failed: I/O error); the image is left creating" in failed["private/7"]
    assert "\n" not in failed["private/7"] and "\r" not in failed["private/7"]
