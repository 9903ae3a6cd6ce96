# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power actions on one instance or a fleet: plan, send ("Linode busy" included), and wait."""

from __future__ import annotations

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.instances import is_busy_error
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import PollSchedule, wait_until_free

# What each wanted state needs: the action to send, its event, and the status that ends its wait.
POWER_ACTIONS = {
    "running": ("boot", "linode_boot", "running"),
    "stopped": ("shutdown", "linode_shutdown", "offline"),
    "restarted": ("reboot", "linode_reboot", "running"),
}
# Where a state already holds ("restarted" never does), and the statuses already on their way to it.
ALREADY_THERE = {"running": ("running",), "stopped": ("offline", "stopped"), "restarted": ()}
ON_THE_WAY = {"running": ("booting", "rebooting"), "stopped": ("shutting_down",), "restarted": ()}


def send_power_actions(client, actions: dict, deadline: Deadline, config_id: int | None = None,
                       schedule: PollSchedule | None = None) -> dict:
    """Send ``{linode_id: action}`` (``boot``, ``shutdown``, ``reboot``); return ``{linode_id: error}``.

    An action answered "Linode busy." is sent again on the poll schedule until the deadline; other
    failures are collected per instance, so one bad instance does not stop the rest.
    """
    errors = {}
    pending = dict(actions)
    first_busy = None
    while pending:
        busy = {}
        for linode_id, action in sorted(pending.items()):
            body = {"config_id": config_id} if (config_id is not None and action in ("boot", "reboot")) else {}
            try:
                client.post("/linode/instances/%d/%s" % (linode_id, action), data=body)
            except Exception as exc:  # pylint: disable=broad-except
                if is_busy_error(exc):
                    busy[linode_id] = action
                elif is_api_error(exc) or isinstance(exc, LinodeError):
                    errors[linode_id] = exc
                else:
                    raise
        if busy:
            first_busy = deadline.clock.now() if first_busy is None else first_busy
            wait_until_free(sorted(busy), deadline, deadline.clock.now() - first_busy, schedule)
        pending = busy
    return errors
