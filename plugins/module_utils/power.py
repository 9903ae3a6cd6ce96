# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power actions on one instance or a fleet: restore markers and claims, sending (retried where safe), waiting.

A run that shuts instances down must never leave one off by accident, and two runs must never work
on the same instance. So:

* before any shutdown a run *claims* each instance with a restore marker (``instances.power_marker_tag``:
  the run, the API's time, the status to restore), waits, and reads the instances back: a PUT replaces
  the whole tag list, so when two runs claim at once the last writer wins and the read-back tells the
  other one it lost;
* a marker is judged before it is acted on: the run's own, another run's that still holds (refused),
  one that may be taken (the legacy tag, an expired claim, a run named in ``take_over``), or a stale
  one, whose instance was booted after the marker was written (its removal failed once): a stale
  marker is removed, never acted on;
* boot and shutdown are safe to repeat, so they are sent again after "Linode busy.", no answer or a
  5xx until the deadline; after no answer or a 5xx the instance is read first, and an action that
  did act is not sent twice;
* a marker is removed only once its instance is read back in the status it records, and a removal
  that fails is tried again within the deadline.
"""

from __future__ import annotations

import calendar
import collections
import time

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, NoAnswer, format_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    is_busy_error,
    list_instances,
    read_power_marker,
    set_power_marker,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    PollSchedule,
    list_events,
    wait_until_free,
)

# What each wanted state needs: the action to send, its event, and the status that ends its wait.
POWER_ACTIONS = {
    "running": ("boot", "linode_boot", "running"),
    "stopped": ("shutdown", "linode_shutdown", "offline"),
    "restarted": ("reboot", "linode_reboot", "running"),
}
# Where a state already holds ("restarted" never does), and the statuses already on their way to it.
ALREADY_THERE = {"running": ("running",), "stopped": ("offline", "stopped"), "restarted": ()}
ON_THE_WAY = {"running": ("booting", "rebooting"), "stopped": ("shutting_down",), "restarted": ()}
# After an action got no answer or a 5xx it may have acted: it is sent again only if the instance shows
# none of these. A reboot is left out: the instance runs before and after one, so a reboot that acted
# cannot be told from one that did not, and a second reboot is not harmless: it is never sent twice.
SHOWS_ACTED = {"boot": ("booting", "rebooting", "running"), "shutdown": ("shutting_down", "offline", "stopped")}

# What a marker means to this run.
OWN = "own"          # written by this run
FREE = "free"        # the legacy tag, an expired claim, or a run in take_over: may be taken over
LIVE = "live"        # another run's claim that holds: refused, left alone
STALE = "stale"      # the instance was booted after it was written: removed, never acted on
Verdict = collections.namedtuple("Verdict", "kind marker until")
Verdict.__doc__ = "A marker judged by a run; ``until`` is when a LIVE claim expires (unix seconds, API clock)."

API_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def api_time(epoch: float) -> str:
    """Unix seconds as the API writes times (UTC)."""
    return time.strftime(API_TIME_FORMAT, time.gmtime(epoch))


def api_epoch(stamp: str) -> int:
    """An API time (``2018-01-02T03:04:05``, UTC) in unix seconds."""
    return calendar.timegm(time.strptime(stamp[:19], API_TIME_FORMAT))


def server_epoch(client) -> int:
    """The API's clock at its last answer, in unix seconds (this machine's clock if it gave no Date).

    Markers are written and judged on the API's clock, so two runs on machines whose clocks differ
    still agree on when a claim expires and on which boot came after a marker.
    """
    stamp = client.session.server_time()
    return api_epoch(stamp) if stamp else int(time.time())


def describe_failure(exc: Exception) -> str:
    return format_api_error(exc) if is_api_error(exc) else str(exc)


def _failure_kind(exc: Exception) -> str | None:
    """``busy``, ``unsure`` (no answer or a 5xx: it may have acted), ``refused``; None: not an API failure."""
    if is_busy_error(exc):
        return "busy"
    if isinstance(exc, NoAnswer) or (is_api_error(exc) and exc.status >= 500):
        return "unsure"
    if is_api_error(exc) or isinstance(exc, LinodeError):
        return "refused"
    return None


def _read_instances(client, linode_ids: list) -> dict | None:
    """The instances, or None when the API could not be read this time (the caller looks again later)."""
    try:
        return list_instances(client, linode_ids)
    except Exception as exc:  # pylint: disable=broad-except
        if _failure_kind(exc) is None:
            raise
        return None


def send_power_actions(client, actions: dict, deadline: Deadline, config_id: int | None = None,
                       schedule: PollSchedule | None = None) -> dict:
    """Send ``{linode_id: action}`` (``boot``, ``shutdown``, ``reboot``); return ``{linode_id: reason}`` of those that failed.

    "Linode busy.", no answer and a 5xx are tried again on the poll schedule until the deadline; after
    no answer or a 5xx the instances are read first (one request per 100) and an action that shows it
    acted is not sent again. Every failure is one instance's: the others go on.
    """
    schedule = schedule or PollSchedule()
    errors, last = {}, {}
    to_send, to_check = dict(actions), {}
    first_retry = None
    while True:
        if to_check:
            found = _read_instances(client, sorted(to_check))
            for linode_id, action in sorted(to_check.items()) if found is not None else ():
                if linode_id not in found:
                    errors[linode_id] = "Linode %s no longer exists (%s: %s)" % (
                        linode_id, action, describe_failure(last[linode_id]))
                elif found[linode_id].get("status") not in SHOWS_ACTED[action]:
                    to_send[linode_id] = action
            to_check = {} if found is not None else to_check
        busy = {}
        for linode_id, action in sorted(to_send.items()):
            body = {"config_id": config_id} if (config_id is not None and action in ("boot", "reboot")) else {}
            try:
                client.post("/linode/instances/%d/%s" % (linode_id, action), data=body)
            except Exception as exc:  # pylint: disable=broad-except
                kind = _failure_kind(exc)
                if kind is None:
                    raise
                last[linode_id] = exc
                if kind == "busy":
                    busy[linode_id] = action
                elif kind == "unsure" and action in SHOWS_ACTED:
                    to_check[linode_id] = action
                elif kind == "unsure":
                    errors[linode_id] = ("%s of Linode %s may or may not have been done (%s); a reboot is not sent "
                                         "twice" % (action, linode_id, describe_failure(exc)))
                else:
                    errors[linode_id] = describe_failure(exc)
        to_send = busy
        if not (to_send or to_check):
            return errors
        first_retry = deadline.clock.now() if first_retry is None else first_retry
        if not wait_until_free(deadline, deadline.clock.now() - first_retry, schedule):
            for linode_id, action in sorted(list(to_check.items()) + list(to_send.items())):
                errors[linode_id] = "%s of Linode %s did not go through within %d s (wait_timeout); last answer: %s" % (
                    action, linode_id, deadline.seconds, describe_failure(last[linode_id]))
            return errors


def booted_since(client, markers: dict) -> set:
    """The ids of ``{linode_id: unix_time}`` whose instance has a finished ``linode_boot`` created after that time.

    One request per 100 instances, filtered on what events can be filtered on (action, entity.id,
    created); the status is read here.
    """
    if not markers:
        return set()
    events = list_events(client, "linode_boot", list(markers), api_time(min(markers.values()) + 1))
    return set(e["entity"]["id"] for e in events
               if e.get("status") == "finished" and e["entity"]["id"] in markers
               and api_epoch(e.get("created") or "1970-01-01T00:00:00") > markers[e["entity"]["id"]])


def judge_markers(client, instances: dict, run_id: str, claim_ttl: int, take_over: list = ()) -> dict:
    """``{linode_id: Verdict}`` for the instances of ``{linode_id: instance}`` that carry a marker.

    Events are read (one request per 100) only for instances that are off under a marker whose
    staleness changes what happens: one that records ``running`` (it would be booted back) or another
    run's live claim (it would be refused).
    """
    markers = dict((i, read_power_marker(instance)) for i, instance in instances.items())
    markers = dict((i, m) for i, m in markers.items() if m is not None)
    now = server_epoch(client)
    kinds = {}
    for linode_id, marker in markers.items():
        if marker.run_id is None:
            kinds[linode_id] = FREE
        elif marker.run_id == run_id:
            kinds[linode_id] = OWN
        elif marker.run_id in take_over or now >= marker.created + claim_ttl:
            kinds[linode_id] = FREE
        else:
            kinds[linode_id] = LIVE
    off = ALREADY_THERE["stopped"]
    stale = booted_since(client, dict(
        (i, m.created) for i, m in markers.items()
        if m.created is not None and instances[i]["status"] in off and (m.status == "running" or kinds[i] == LIVE)))
    return dict((i, Verdict(STALE if i in stale else kinds[i], m, m.created + claim_ttl if kinds[i] == LIVE else None))
                for i, m in markers.items())


def write_power_markers(client, writes: dict) -> tuple:
    """Write ``{linode_id: (instance, tag or None)}``; return ``({linode_id: instance}, {linode_id: reason})``.

    No retry: a claim that could not be written costs that instance its turn, not a shutdown.
    """
    written, errors = {}, {}
    for linode_id, (instance, tag) in sorted(writes.items()):
        try:
            written[linode_id] = set_power_marker(client, instance, tag)
        except Exception as exc:  # pylint: disable=broad-except
            if _failure_kind(exc) is None:
                raise
            errors[linode_id] = "its restore marker could not be written, so it was not shut down: %s" % (
                describe_failure(exc))
    return written, errors


def confirm_claims(client, claims: dict, deadline: Deadline, pause: float) -> tuple:
    """Read ``{linode_id: tag}`` back after ``pause`` s; return ``({linode_id: instance}, {linode_id: marker or None})``.

    The second dict holds the claims lost: the instance now carries another marker (that run wrote
    last) or none. One request per 100 instances.
    """
    deadline.sleep(pause)
    found = list_instances(client, sorted(claims))
    lost = {}
    for linode_id, tag in claims.items():
        marker = read_power_marker(found[linode_id]) if linode_id in found else None
        if marker is None or marker.tag != tag:
            lost[linode_id] = marker
    return found, lost


def forget_power_markers(client, instances: dict, deadline: Deadline, schedule: PollSchedule | None = None) -> tuple:
    """Remove the markers of ``{linode_id: instance}``; return ``({linode_id: instance}, {linode_id: reason})``.

    A PUT of tags is safe to repeat, so no answer, a 5xx or "busy" is tried again on the poll schedule
    until the deadline (at least once, even past it); any other refusal ends that instance's tries.
    """
    schedule = schedule or PollSchedule()
    latest, errors, last = {}, {}, {}
    pending = dict(instances)
    first_retry = None
    while pending:
        retry = {}
        for linode_id, instance in sorted(pending.items()):
            try:
                latest[linode_id] = set_power_marker(client, instance, None)
            except Exception as exc:  # pylint: disable=broad-except
                kind = _failure_kind(exc)
                if kind is None:
                    raise
                if kind == "refused":
                    errors[linode_id] = describe_failure(exc)
                else:
                    retry[linode_id], last[linode_id] = instance, exc
        pending = retry
        if not pending:
            break
        first_retry = deadline.clock.now() if first_retry is None else first_retry
        if not wait_until_free(deadline, deadline.clock.now() - first_retry, schedule):
            for linode_id in pending:
                errors[linode_id] = "%s (tried until wait_timeout)" % describe_failure(last[linode_id])
            break
    return latest, errors
