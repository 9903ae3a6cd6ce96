# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting, in one place: a deadline, a bounded poll schedule, and the API's own record of the result.

What the real API says about a running job is vague (recorded traffic, see the project's Linode
facts): ``time_remaining`` is null for captures and power jobs, ``percent_complete`` jumps (a
capture went 64, 83, 87, 90, then 0, 0, 0, 0 percent before finishing; a shutdown said 7% two
seconds after it had done half its work), and an event may be listed only some time after the
request that started it. So nothing here depends on an estimate:

* a job's end is read from what it changes: an instance's ``status``, an image's ``status`` (or its
  disappearance), a disk's ``status``, an image's regions;
* polls follow ``PollSchedule``, a blind schedule that grows with the time already waited, so the end
  of a job lasting T seconds is noticed within max(poll_interval, T/10) and never more than
  6 x poll_interval (30 s by default) late, at a cost that grows with the logarithm of T up to that
  ceiling;
* events are read only for what the objects do not say: whether a capture failed, and, for a power
  job that seems stuck, whether it failed. An event that is missing, late, ``scheduled``, or whose
  percent goes backwards changes nothing but the next look.

A round costs one request however many captures or instances it covers (one more per 100 of them).
"""

from __future__ import annotations

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.images import (
    get_image,
    image_number,
    list_private_images,
    pending_regions,
)
from ansible_collections.golden_image.linode.plugins.module_utils.instances import get_disk, list_instances
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline

# The default poll_interval: the shortest time between two looks at one job.
DEFAULT_POLL_INTERVAL_S = 5.0
# Past the first looks, the next look comes after this share of the time already waited, so a job's
# end is noticed within that share of its duration ...
SHARE_OF_ELAPSED = 0.1
# ... but never more than this many poll intervals apart (30 s by default).
CEILING_INTERVALS = 6
# A capture is first looked at after this many poll intervals (60 s by default): the shortest
# capture on record took 144 s, and the API takes tens of seconds to even start copying, so earlier
# looks would only cost requests. Power jobs (24-28 s on record) are looked at from the first interval.
CAPTURE_FIRST_LOOK_INTERVALS = 12
# A new instance is first looked at after this many poll intervals (30 s by default): on record a create
# from an image took 15 s at the least, and its boot another 14 s or more.
CREATE_FIRST_LOOK_INTERVALS = 6
# A power job still not on its way after this many intervals (60 s by default; recorded boots and
# shutdowns took 24-28 s) may have failed: from then on its events are read too.
POWER_EVENT_CHECK_INTERVALS = 12
# Events read in one request, and linodes named in one X-Filter.
EVENTS_PAGE_SIZE = 500
IDS_PER_FILTER = 100

# progress_interval of linode_image_wait (0: no progress): the seconds between two progress lines.
PROGRESS_INTERVAL_BOUNDS = (5, 600)

OVERSIZE_HINT = (
    "Linode deleted the image while capturing it and gives no reason (reads now answer 404). "
    "This usually means the disk's usage (df \"Used\") is over the account's image size limit "
    "(6 GB by default; keep usage at least 10%% below it) or the account's image quota is full: "
    "free space on the disk, delete unused images, or ask Linode Support to raise the limit. "
    "Image %s from disk %s."
)

# Statuses on the way to each wanted status: a job that shows them is running as it should.
ON_THE_WAY_TO = {"offline": ("shutting_down", "stopped"), "running": ("booting", "rebooting", "provisioning")}


class PollSchedule(object):
    """When to look again at a job, knowing only how long it has run.

    ``delay(elapsed)`` is ``first_look - elapsed`` before the first look, then
    ``SHARE_OF_ELAPSED * elapsed`` bounded to [interval, CEILING_INTERVALS * interval].
    """

    def __init__(self, interval: float = DEFAULT_POLL_INTERVAL_S, first_look_intervals: float = 1) -> None:
        if interval <= 0:
            raise ValueError("poll interval must be positive, got %r" % (interval,))
        self.interval = float(interval)
        self.ceiling = CEILING_INTERVALS * self.interval
        self.first_look = first_look_intervals * self.interval

    def delay(self, elapsed: float) -> float:
        if elapsed < self.first_look:
            return self.first_look - elapsed
        return min(self.ceiling, max(self.interval, SHARE_OF_ELAPSED * elapsed))

    @classmethod
    def for_captures(cls, interval: float = DEFAULT_POLL_INTERVAL_S) -> "PollSchedule":
        return cls(interval, CAPTURE_FIRST_LOOK_INTERVALS)

    @classmethod
    def for_creates(cls, interval: float = DEFAULT_POLL_INTERVAL_S) -> "PollSchedule":
        return cls(interval, CREATE_FIRST_LOOK_INTERVALS)


def _chunks(items: list, size: int = IDS_PER_FILTER) -> list:
    return [items[first:first + size] for first in range(0, len(items), size)]


def _sleep_or_time_out(deadline: Deadline, delay: float, what: str) -> None:
    if deadline.expired():
        raise LinodeError("Timed out after %d s waiting for %s (wait_timeout)" % (deadline.seconds, what))
    deadline.sleep(delay)


def list_events(client, action: str, linode_ids: list, since: str | None = None) -> list:
    """The newest ``action`` events of these Linodes, created at or after ``since`` (the API's time).

    One request per 100 Linodes. Filters only on what the API can filter events on (``action``,
    ``entity.id``, ``created``); newest first is sorted here.
    """
    events = []
    for chunk in _chunks(sorted(set(linode_ids))):
        query = {"action": action, "+or": [{"entity.id": i} for i in chunk]}
        if since:
            query["created"] = {"+gte": since}
        events.extend(client.get("/account/events?page_size=%d" % EVENTS_PAGE_SIZE, filters=query)["data"])
    return sorted(events, key=lambda e: (e.get("created") or "", e.get("id") or 0), reverse=True)


def _event_image_number(event: dict) -> int | None:
    """The image a ``disk_imagize`` event names: an integer id on record, ``private/N`` in older answers."""
    secondary = event.get("secondary_entity") or {}
    if secondary.get("id") is None:
        return None
    number = image_number(secondary["id"])
    return number if number >= 0 else None


def capture_events(client, captures: dict, since: str | None = None) -> dict:
    """``{image_id: event}``: the ``disk_imagize`` event of each capture of ``{image_id: linode_id}`` that is listed.

    A capture whose event is not listed yet has no entry. An event that names no image is taken for
    the newest capture of its Linode only when just one capture of that Linode is waited for.
    """
    events = list_events(client, "disk_imagize", list(captures.values()), since)
    by_image, unnamed = {}, {}
    for event in events:
        number = _event_image_number(event)
        if number is not None:
            by_image.setdefault(number, event)
        else:
            unnamed.setdefault((event.get("entity") or {}).get("id"), event)
    per_linode = {}
    for linode_id in captures.values():
        per_linode[linode_id] = per_linode.get(linode_id, 0) + 1
    found = {}
    for image_id, linode_id in captures.items():
        event = by_image.get(image_number(image_id))
        if event is None and per_linode[linode_id] == 1:
            event = unnamed.get(linode_id)
        if event is not None:
            found[image_id] = event
    return found


def read_images(client, image_ids: list) -> dict:
    """``{image_id: image or None}``: one read by id for one image, one listing of the private images for several.

    The API cannot filter images on ``id``, and an account holds few private images (25 by default),
    so the listing costs one request a round (GET /images allows 20 a minute; rounds are at least
    poll_interval apart). An image missing from the listing is read by id before it counts as gone.
    """
    if len(image_ids) == 1:
        return {image_ids[0]: get_image(client, image_ids[0])}
    listed = dict((image["id"], image) for image in list_private_images(client))
    return dict((image_id, listed[image_id] if image_id in listed else get_image(client, image_id))
                for image_id in image_ids)


class CapturesTimedOut(LinodeError):
    """The deadline of a wait for captures passed: what had ended by then, and what had not."""

    def __init__(self, seconds: float, available: dict, failed: dict, pending: list, finished: list) -> None:
        super(CapturesTimedOut, self).__init__(
            "Timed out after %d s waiting for image %s to become available (wait_timeout)" % (seconds, ", ".join(pending)))
        self.seconds = seconds
        self.available = available
        self.failed = failed
        # Every image not available or failed, and among them those whose capture's event had finished.
        self.pending = pending
        self.finished = finished


def single_line(text) -> str:
    """``text`` on one line: an event's message may hold raw line breaks, a reason must not."""
    return " ".join(str(text).split())


# How a capture still waited for stands, as ``capture_progress`` names it: its event's status, or one of these.
NOT_LOOKED_AT = "not looked at yet"
NOT_LISTED = "not listed yet"


def capture_progress(total: int, available: dict, failed: dict, pending: dict, watching: set, events: dict,
                     rounds: int, elapsed: float) -> dict:
    """A snapshot of a wait for captures, from what its rounds have read already (no request).

    ``done`` counts the available images and the captures whose event has finished (their images
    are read with the last ones); ``running`` counts the others by their event's status (``started``,
    ``scheduled``, ...), or ``NOT_LISTED`` when no event is listed for them yet (``NOT_LOOKED_AT``
    before the first round). ``percent`` is left out on purpose: the API's ``percent_complete``
    falls back to 0 for the last third of a capture.
    """
    running = {}
    for image_id in watching:
        if image_id in pending:
            event = events.get(image_id)
            status = (event or {}).get("status") or (NOT_LISTED if rounds else NOT_LOOKED_AT)
            running[status] = running.get(status, 0) + 1
    finished = len([i for i in pending if i not in watching])
    return {"total": total, "done": len(available) + finished, "available": len(available), "finished": finished,
            "failed": len(failed), "running": running, "rounds": rounds, "elapsed_s": round(elapsed, 1)}


def wait_for_captures(client, captures: dict, deadline: Deadline, schedule: PollSchedule | None = None,
                      since: str | None = None, progress=None) -> tuple:
    """Wait for the images ``{image_id: (linode_id, disk_id)}`` to become available.

    Returns ``({image_id: image}, {image_id: reason})``: the available images, and the captures that
    failed or whose image vanished (each reason on one line). A round reads the events of the captures
    still running (one request per 100 Linodes); images are read only when an event is not listed or
    failed, or once every event has finished (one request for all of them), so a fleet's wait costs
    about what one capture's does. ``since`` (the API's time of the oldest capture) keeps older events
    out. ``progress``, if given, is called with ``capture_progress()`` before the first round and after
    each one; it sends no request. At the deadline it raises ``CapturesTimedOut``.
    """
    schedule = schedule or PollSchedule.for_captures()
    started = deadline.clock.now()
    pending = dict(captures)
    # Captures whose event has not finished: only their events are read again.
    watching = set(captures)
    events, available, failed = {}, {}, {}
    rounds = 0

    def report():
        if progress is not None:
            progress(capture_progress(len(captures), available, failed, pending, watching, events, rounds,
                                      deadline.clock.now() - started))

    report()
    while pending:
        if deadline.expired():
            raise CapturesTimedOut(deadline.seconds, available, failed, sorted(pending), sorted(set(pending) - watching))
        deadline.sleep(schedule.delay(deadline.clock.now() - started))
        rounds += 1
        if watching:
            events.update(capture_events(client, dict((i, pending[i][0]) for i in watching), since))
        watching -= set(i for i in watching if events.get(i, {}).get("status") == "finished")
        # Failed, or not listed (late, or gone from the list): the image itself says how it stands. The
        # images of finished captures are read once no capture is still running, or together with one
        # that needs a look now: a fleet whose captures end one by one reads its images once, not once each.
        look_now = set(i for i in watching if events.get(i, {}).get("status") not in ("started", "scheduled"))
        to_read = sorted(look_now | (set(pending) - watching)) if look_now or not watching else []
        for image_id, image in read_images(client, to_read).items() if to_read else ():
            event = events.get(image_id) or {}
            if image is None:
                reason = OVERSIZE_HINT % (image_id, pending[image_id][1])
                if event.get("status") == "failed":
                    reason = "Capture of image %s failed (event %s). %s" % (image_id, event.get("id"), reason)
                failed[image_id] = reason
            elif image.get("status") == "available":
                available[image_id] = image
            elif event.get("status") == "failed":
                failed[image_id] = ("Capture of image %s failed (event %s, %s); the image is left %s: delete it "
                                    "before capturing again" % (image_id, event.get("id"), single_line(
                                        event.get("message") or "no reason given"), image.get("status")))
            else:
                continue
            del pending[image_id]
            watching.discard(image_id)
        report()
    return available, failed


def wait_for_capture(client, image: dict, linode_id: int, disk_id: int, deadline: Deadline,
                     schedule: PollSchedule | None = None) -> dict:
    """Wait until one image is ``available``; fail at once if its capture fails or it vanishes."""
    available, failed = wait_for_captures(client, {image["id"]: (linode_id, disk_id)}, deadline, schedule,
                                          image.get("created"))
    if failed:
        raise LinodeError(failed[image["id"]])
    return available[image["id"]]


def wait_for_instances(client, wanted: dict, action: str, deadline: Deadline, schedule: PollSchedule | None = None,
                       since: str | None = None) -> tuple:
    """Wait until every instance of ``{linode_id: status}`` has that status.

    Returns ``({linode_id: instance}, {linode_id: reason})``: the instances as last read, and those
    whose power event (``linode_boot``, ``linode_shutdown``, ``linode_reboot``) failed or that were not
    there at the deadline (after a last look). Neither ends the wait of the others: one instance that
    never gets there must not keep a fleet from being reported (and, after a boot, from losing its
    restore marker).
    A round reads the instances (one request per 100). Events are read only for instances that are
    neither there nor on their way after ``POWER_EVENT_CHECK_INTERVALS`` intervals, and an event
    counts only if it was created at or after ``since`` (the API's time when the action was sent), so
    an earlier job's event is never taken for this one.
    """
    schedule = schedule or PollSchedule()
    started = deadline.clock.now()
    remaining = sorted(wanted)
    latest, failed = {}, {}
    while remaining:
        # Past the deadline this sleeps no more, but the instances are still read once: others' retries
        # may have used up the time, and an instance that got there meanwhile must not be failed unseen.
        deadline.sleep(schedule.delay(deadline.clock.now() - started))
        latest.update(list_instances(client, remaining))
        remaining = [i for i in remaining if latest.get(i, {}).get("status") != wanted[i]]
        stuck = [i for i in remaining if latest.get(i, {}).get("status") not in ON_THE_WAY_TO.get(wanted[i], ())]
        if stuck and since and deadline.clock.now() - started >= POWER_EVENT_CHECK_INTERVALS * schedule.interval:
            newest = {}
            for event in list_events(client, action, stuck, since):
                newest.setdefault(event["entity"]["id"], event)
            for linode_id in stuck:
                event = newest.get(linode_id) or {}
                if event.get("status") == "failed":
                    failed[linode_id] = "%s of Linode %s failed (event %s%s)" % (
                        action, linode_id, event.get("id"), ": %s" % event["message"] if event.get("message") else "")
            remaining = [i for i in remaining if i not in failed]
        if remaining and deadline.expired():
            for linode_id in remaining:
                failed[linode_id] = "Timed out after %d s waiting for Linode %s to be %s (wait_timeout); it is %s" % (
                    deadline.seconds, linode_id, wanted[linode_id], latest.get(linode_id, {}).get("status", "unknown"))
            break
    return latest, failed


def wait_until_free(deadline: Deadline, waited: float, schedule: PollSchedule | None = None) -> bool:
    """Sleep before sending again an action that did not go through, ``waited`` seconds after the first try.

    For "Linode busy." the API says nothing about when the other job ends (its event has no usable
    estimate), and after no answer or a 5xx nothing says when the API is back, so the action is simply
    sent again on the poll schedule. Returns False, without sleeping, once the deadline has passed:
    the caller then fails those instances, each on its own.
    """
    schedule = schedule or PollSchedule()
    if deadline.expired():
        return False
    deadline.sleep(schedule.delay(max(waited, schedule.first_look)))
    return True


def wait_for_replication(client, image_id: str, deadline: Deadline, schedule: PollSchedule | None = None) -> dict:
    """Wait until every region of an image is ``available`` (one request a round)."""
    schedule = schedule or PollSchedule()
    started = deadline.clock.now()
    while True:
        image = get_image(client, image_id)
        if image is None:
            raise LinodeError("Image %s disappeared while it was being replicated" % image_id)
        pending = pending_regions(image)
        if not pending:
            return image
        _sleep_or_time_out(deadline, schedule.delay(deadline.clock.now() - started),
                           "image %s to be available in %s" % (image_id, ", ".join(pending)))


def wait_for_disk_ready(client, linode_id: int, disk: dict, deadline: Deadline,
                        schedule: PollSchedule | None = None) -> dict:
    """Wait until a disk that is ``not ready`` (just created or resized) is ``ready`` (one request a round)."""
    schedule = schedule or PollSchedule()
    started = deadline.clock.now()
    while disk.get("status") == "not ready":
        _sleep_or_time_out(deadline, schedule.delay(deadline.clock.now() - started),
                           "disk %s of Linode %s to be ready" % (disk["id"], linode_id))
        current = get_disk(client, linode_id, disk["id"])
        if current is None:
            raise LinodeError("Disk %s of Linode %s disappeared while waiting for it to be ready" % (disk["id"], linode_id),
                              field="disk_id")
        disk = dict(disk, **current)
    return disk
