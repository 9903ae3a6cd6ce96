# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting, in one place: a deadline plus adaptive polling.

Linode reports a running job as an event with ``percent_complete`` and ``time_remaining``. Rather
than polling at a fixed rate (linode.cloud polls every 10 s, whatever the job), the waiters here
read that estimate and sleep until close to the expected end, so a capture costs a handful of
requests however long it takes, and its end is noticed within a small share of its duration.
They stop at once when the job fails or the image disappears.
"""

from __future__ import annotations

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.images import get_image, image_number, pending_regions
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline

# With no estimate from the API, poll again after this share of the time already spent, so the
# end of a job is noticed within that share of its duration (and never sooner than MIN_POLL_S).
POLL_SHARE_OF_ELAPSED = 0.05
MIN_POLL_S = 1.0
MAX_POLL_S = 60.0
# time_remaining comes in whole seconds: look again slightly after the announced end.
END_MARGIN_S = 0.25

OVERSIZE_HINT = (
    "Linode deleted the image while capturing it and gives no reason (reads now answer 404). "
    "This usually means the disk's usage (df \"Used\") is over the account's image size limit "
    "(6 GB by default; keep usage at least 10%% below it) or the account's image quota is full: "
    "free space on the disk, delete unused images, or ask Linode Support to raise the limit. "
    "Image %s from disk %s."
)


def parse_time_remaining(value) -> float | None:
    """Seconds from an event's ``time_remaining``: the API sends ``"hh:mm:ss"`` (a string in the spec), or null."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    seconds = 0.0
    try:
        for part in str(value).strip().split(":"):
            seconds = seconds * 60 + float(part)
    except ValueError:
        return None
    return seconds


def _event_delay(elapsed: float, event: dict | None) -> float:
    if not event:
        return next_poll_delay(elapsed, None, None)
    return next_poll_delay(elapsed, event.get("percent_complete"), parse_time_remaining(event.get("time_remaining")))


def next_poll_delay(elapsed: float, percent_complete: float | None, time_remaining: float | None) -> float:
    """How long to sleep before looking again at a job that has run for ``elapsed`` seconds.

    Prefers the API's own ``time_remaining``; else extrapolates ``percent_complete``; else polls
    after a share of the elapsed time.
    """
    if time_remaining is not None and time_remaining > 0:
        delay = time_remaining + END_MARGIN_S
    elif percent_complete and 0 < percent_complete < 100 and elapsed > 0:
        delay = elapsed * (100.0 - percent_complete) / percent_complete + END_MARGIN_S
    else:
        # Blind polling is the only case that needs a ceiling; an estimate is trusted as it is
        # (the task's deadline still bounds it), which keeps a long capture as cheap as a short one.
        delay = min(MAX_POLL_S, elapsed * POLL_SHARE_OF_ELAPSED)
    return max(MIN_POLL_S, delay)


def list_events(client, filters: dict, page_size: int = 25) -> list:
    """The newest events matching ``filters`` (one request)."""
    query = dict(filters)
    query.setdefault("+order_by", "created")
    query.setdefault("+order", "desc")
    return client.get("/account/events?page_size=%d" % page_size, filters=query)["data"]


def get_event(client, event_id: int) -> dict:
    return client.get("/account/events/%d" % event_id)


def find_capture_event(client, linode_id: int, image_id: str) -> dict | None:
    """The ``disk_imagize`` event of this image's capture, or None if the API shows none yet."""
    events = list_events(client, {"action": "disk_imagize", "entity.id": linode_id})
    number = image_number(image_id)
    for event in events:
        secondary = event.get("secondary_entity") or {}
        if secondary.get("id") in (image_id, number):
            return event
    # Without a secondary entity the newest capture of this Linode is ours: captures of one
    # Linode cannot overlap (the API answers "Linode busy").
    unowned = [e for e in events if not e.get("secondary_entity")]
    return unowned[0] if unowned else None


def wait_for_capture(client, image: dict, linode_id: int, disk_id: int, deadline: Deadline) -> dict:
    """Wait until the image is ``available``; fail at once if its capture fails or it vanishes."""
    image_id = image["id"]
    started = deadline.clock.now()
    event = find_capture_event(client, linode_id, image_id)
    polls = 0
    while True:
        if event and event.get("status") == "failed":
            raise LinodeError("Capture of image %s failed (event %s). %s" % (
                image_id, event.get("id"), OVERSIZE_HINT % (image_id, disk_id)))
        if event and event.get("status") == "finished":
            # Finished: look at once the first time, then give the image's status a moment to follow.
            delay = MIN_POLL_S / 2 if polls else 0.0
        else:
            delay = _event_delay(deadline.clock.now() - started, event)
        _sleep_or_time_out(deadline, delay, "image %s to become available" % image_id)
        polls += 1
        current = get_image(client, image_id)
        if current is None:
            raise LinodeError(OVERSIZE_HINT % (image_id, disk_id))
        if current.get("status") == "available":
            return current
        event = get_event(client, event["id"]) if event else find_capture_event(client, linode_id, image_id)


def wait_for_instance_status(client, linode_id: int, action: str, wanted: str, deadline: Deadline) -> dict:
    """Wait for a power job (``linode_boot``, ``linode_shutdown``, ``linode_reboot``) to end in ``wanted``."""
    started = deadline.clock.now()
    instance = client.get("/linode/instances/%d" % linode_id)
    while instance.get("status") != wanted:
        events = list_events(client, {"action": action, "entity.id": linode_id}, page_size=25)
        event = events[0] if events else None
        if event and event.get("status") == "failed":
            raise LinodeError("%s of Linode %s failed (event %s)" % (action, linode_id, event.get("id")))
        delay = _event_delay(deadline.clock.now() - started, event)
        _sleep_or_time_out(deadline, delay, "Linode %s to be %s" % (linode_id, wanted))
        instance = client.get("/linode/instances/%d" % linode_id)
    return instance


def wait_until_free(client, linode_id: int, deadline: Deadline) -> None:
    """Sleep until the jobs now running on a Linode should have ended (after a "Linode busy")."""
    started = deadline.clock.now()
    running = list_events(client, {"entity.id": linode_id, "status": "started"})
    delay = max([_event_delay(deadline.clock.now() - started, e) for e in running] or [MIN_POLL_S])
    _sleep_or_time_out(deadline, delay, "Linode %s to be free of other jobs" % linode_id)


def wait_for_replication(client, image_id: str, deadline: Deadline) -> dict:
    """Wait until every region of an image is ``available``."""
    started = deadline.clock.now()
    while True:
        image = get_image(client, image_id)
        if image is None:
            raise LinodeError("Image %s disappeared while it was being replicated" % image_id)
        pending = pending_regions(image)
        if not pending:
            return image
        delay = next_poll_delay(deadline.clock.now() - started, None, None)
        _sleep_or_time_out(deadline, max(delay, 2 * MIN_POLL_S),
                           "image %s to be available in %s" % (image_id, ", ".join(pending)))


def _sleep_or_time_out(deadline: Deadline, delay: float, what: str) -> None:
    if deadline.expired():
        raise LinodeError("Timed out after %d s waiting for %s (wait_timeout)" % (deadline.seconds, what))
    deadline.sleep(delay)
