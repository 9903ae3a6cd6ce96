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
from ansible_collections.golden_image.linode.plugins.module_utils.instances import list_instances
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline

# With no estimate from the API, poll again after this share of the time already spent, so the
# end of a job is noticed within that share of its duration (and never sooner than MIN_POLL_S).
POLL_SHARE_OF_ELAPSED = 0.05
MIN_POLL_S = 1.0
MAX_POLL_S = 60.0
# An estimate is trusted down to this much.
MIN_ESTIMATED_S = 0.2
# time_remaining counts whole seconds, rounded up, so the job ends somewhere in its last second:
# look this long before the announced end, and once more at it (RECHECK_S later) if it was early.
LAST_SECOND_SPLIT_S = 0.5
RECHECK_S = LAST_SECOND_SPLIT_S

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
        return max(MIN_ESTIMATED_S, time_remaining - LAST_SECOND_SPLIT_S)
    if percent_complete and 0 < percent_complete < 100 and elapsed > 0:
        return max(MIN_ESTIMATED_S, elapsed * (100.0 - percent_complete) / percent_complete)
    # Blind polling is the only case that needs a ceiling; an estimate is trusted as it is
    # (the task's deadline still bounds it), which keeps a long capture as cheap as a short one.
    return max(MIN_POLL_S, min(MAX_POLL_S, elapsed * POLL_SHARE_OF_ELAPSED))


def list_events(client, filters: dict, page_size: int = 25) -> list:
    """The newest events matching ``filters`` (one request)."""
    query = dict(filters)
    query.setdefault("+order_by", "created")
    query.setdefault("+order", "desc")
    return client.get("/account/events?page_size=%d" % page_size, filters=query)["data"]


def capture_events(client, captures: dict) -> dict:
    """``{image_id: event}``: the ``disk_imagize`` event of each capture in ``{image_id: linode_id}`` (one request).

    An event names its image as secondary entity; one without is the newest capture of its Linode,
    since captures of one Linode cannot overlap (the API answers "Linode busy").
    """
    linode_ids = sorted(set(captures.values()))
    events = list_events(client, {"action": "disk_imagize", "+or": [{"entity.id": i} for i in linode_ids]},
                         page_size=500)
    found = {}
    for image_id, linode_id in captures.items():
        number = image_number(image_id)
        mine = [e for e in events if e["entity"]["id"] == linode_id
                and (e.get("secondary_entity") or {}).get("id") in (image_id, number)]
        unowned = [e for e in events if e["entity"]["id"] == linode_id and not e.get("secondary_entity")]
        if mine or unowned:
            found[image_id] = (mine or unowned)[0]
    return found


def read_images(client, image_ids: list) -> dict:
    """``{image_id: image}`` for those that still exist: a read by id for one, one listing for several."""
    if len(image_ids) == 1:
        image = get_image(client, image_ids[0])
        return {image_ids[0]: image} if image is not None else {}
    query = {"is_public": False, "+or": [{"id": i} for i in image_ids]}
    listed = client.get("/images?page_size=500", filters=query)["data"]
    return dict((i["id"], i) for i in listed if i["id"] in image_ids)


def wait_for_captures(client, captures: dict, deadline: Deadline) -> tuple:
    """Wait for the images ``{image_id: (linode_id, disk_id)}`` to become available.

    Returns ``({image_id: image}, {image_id: reason})``: the available images, and the captures
    that failed or whose image vanished, which stop being waited for at once. A round costs two
    requests however many captures there are: one reads the events' estimates, one the images.
    """
    started = deadline.clock.now()
    pending = dict(captures)
    available, failed = {}, {}
    looked_after_finish = recheck = False
    events = {}
    while pending:
        if recheck:
            # The estimate said "now": the image is a moment late, so look at it alone once more.
            delay = RECHECK_S
        else:
            events = capture_events(client, dict((i, src[0]) for i, src in pending.items()))
            for image_id, event in events.items():
                if event.get("status") == "failed":
                    failed[image_id] = "Capture of image %s failed (event %s). %s" % (
                        image_id, event.get("id"), OVERSIZE_HINT % (image_id, pending[image_id][1]))
                    del pending[image_id]
            if not pending:
                break
            ongoing = [events[i] for i in pending if (events.get(i) or {}).get("status") != "finished"]
            elapsed = deadline.clock.now() - started
            if ongoing:
                delay = max(_event_delay(elapsed, e if e.get("status") == "started" else None) for e in ongoing)
            else:
                # All finished: look at once, then give the images' status a moment to follow.
                delay = MIN_POLL_S / 2 if looked_after_finish else 0.0
                looked_after_finish = True
        _sleep_or_time_out(deadline, delay, "image %s to become available" % ", ".join(sorted(pending)))
        images = read_images(client, sorted(pending))
        for image_id in list(pending):
            if image_id not in images:
                failed[image_id] = OVERSIZE_HINT % (image_id, pending.pop(image_id)[1])
            elif images[image_id].get("status") == "available":
                available[image_id] = images[image_id]
                del pending[image_id]
        recheck = not recheck and bool(pending) and any(
            parse_time_remaining(e.get("time_remaining")) for e in events.values() if e.get("status") == "started")
    return available, failed


def wait_for_capture(client, image: dict, linode_id: int, disk_id: int, deadline: Deadline) -> dict:
    """Wait until one image is ``available``; fail at once if its capture fails or it vanishes."""
    available, failed = wait_for_captures(client, {image["id"]: (linode_id, disk_id)}, deadline)
    if failed:
        raise LinodeError(failed[image["id"]])
    return available[image["id"]]


def wait_for_instances(client, wanted: dict, action: str, deadline: Deadline) -> tuple:
    """Wait until every instance of ``{linode_id: status}`` has that status.

    Returns ``({linode_id: instance}, {linode_id: reason})``: the instances as last read, and those
    whose power event (``linode_boot``, ``linode_shutdown``, ``linode_reboot``) failed, which end
    their wait at once. A round costs two requests however many instances there are: one reads the
    events' estimates, one the instances.
    """
    started = deadline.clock.now()
    remaining = sorted(wanted)
    latest, failed = {}, {}
    while remaining:
        newest = {}
        for event in list_events(client, {"action": action, "+or": [{"entity.id": i} for i in remaining]},
                                 page_size=500):
            newest.setdefault(event["entity"]["id"], event)
        for linode_id in remaining:
            if (newest.get(linode_id) or {}).get("status") == "failed":
                failed[linode_id] = "%s of Linode %s failed (event %s)" % (action, linode_id, newest[linode_id]["id"])
        remaining = [i for i in remaining if i not in failed]
        running = [newest[i] for i in remaining if (newest.get(i) or {}).get("status") == "started"]
        elapsed = deadline.clock.now() - started
        delay = max([_event_delay(elapsed, e) for e in running] or [next_poll_delay(elapsed, None, None)])
        if all((newest.get(i) or {}).get("status") == "finished" for i in remaining):
            delay = 0.0
        if remaining:
            _sleep_or_time_out(deadline, delay, "Linode %s to be %s" % (
                ", ".join(str(i) for i in remaining), "/".join(sorted(set(wanted[i] for i in remaining)))))
            latest.update(list_instances(client, remaining))
            remaining = [i for i in remaining if latest.get(i, {}).get("status") != wanted[i]]
    return latest, failed


def wait_until_free(client, linode_ids: list, deadline: Deadline) -> None:
    """Sleep until the jobs now running on these Linodes should have ended (after a "Linode busy")."""
    started = deadline.clock.now()
    running = list_events(client, {"status": "started", "+or": [{"entity.id": i} for i in linode_ids]}, page_size=100)
    delay = max([_event_delay(deadline.clock.now() - started, e) for e in running] or [MIN_POLL_S])
    _sleep_or_time_out(deadline, delay, "Linodes %s to be free of other jobs" % ", ".join(map(str, linode_ids)))


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
