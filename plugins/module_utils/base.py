# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of this collection shares: options, client, deadline, errors and results.

A module is a short subclass of ``LinodeModuleBase`` that names its own options and implements
``run_task()``; ``main()`` is ``Subclass.execute()``.
"""

from __future__ import annotations

import abc
import sys
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.golden_image.linode.plugins.module_utils.errors import (
    LinodeError,
    format_api_error,
    one_line,
    redact,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import (
    HAS_LINODE_API4,
    LINODE_API4_IMPORT_ERROR,
    build_client,
    check_token,
    find_token,
    is_api_error,
)
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import (
    DEFAULT_POLL_INTERVAL_S,
    PollSchedule,
)


# The options of the ``golden_image.linode.api`` doc fragment, in one place. ``api_token`` has no
# ``fallback``: ``connect()`` reads the environment itself, so that a missing token file or a token
# that cannot be sent is reported with its source, not as "missing required arguments".
API_ARGUMENT_SPEC = dict(
    api_token=dict(type="str", no_log=True),
    api_url=dict(type="str", default="https://api.linode.com", fallback=(env_fallback, ["LINODE_API_URL"])),
    api_version=dict(type="str", default="v4", choices=["v4", "v4beta"]),
    ca_path=dict(type="path", fallback=(env_fallback, ["LINODE_CA"])),
    request_timeout=dict(type="float", default=30.0),
)
# The options of the ``golden_image.linode.wait`` doc fragment, for the modules that wait for jobs.
WAIT_ARGUMENT_SPEC = dict(
    poll_interval=dict(type="float", default=DEFAULT_POLL_INTERVAL_S, fallback=(env_fallback, ["LINODE_POLL_INTERVAL"])),
)
MAX_POLL_INTERVAL_S = 60.0
# Modules that do not wait still get a deadline for their retries.
DEFAULT_TASK_TIMEOUT_S = 300


class LinodeModuleBase(abc.ABC):
    """Owns the AnsibleModule, the API client, the task's deadline and the result."""

    #: The module's own options, merged with API_ARGUMENT_SPEC.
    argument_spec: dict = {}
    #: Extra AnsibleModule keyword arguments (mutually_exclusive, required_if, ...).
    module_kwargs: dict = {}

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.deadline = Deadline(self.params.get("wait_timeout") or DEFAULT_TASK_TIMEOUT_S)
        self.result: dict = {"changed": False}
        self.warnings: list = []
        self.client = None
        self.token = None

    @classmethod
    def define_module(cls) -> AnsibleModule:
        spec = dict(API_ARGUMENT_SPEC)
        spec.update(cls.argument_spec)
        return AnsibleModule(argument_spec=spec, supports_check_mode=True, **cls.module_kwargs)

    @classmethod
    def execute(cls) -> None:
        """The whole of a module's ``main()``."""
        cls(cls.define_module()).run()

    def connect(self):
        if not HAS_LINODE_API4:
            self.module.fail_json(msg=missing_required_lib("linode_api4"), exception=LINODE_API4_IMPORT_ERROR)
        for option in ("request_timeout", "wait_timeout"):
            if self.params.get(option) is not None and self.params[option] <= 0:
                self.fail("%s must be a positive number of seconds" % option, field=option)
        interval = self.params.get("poll_interval")
        if interval is not None and not 0 < interval <= MAX_POLL_INTERVAL_S:
            self.fail("poll_interval must be more than 0 and at most %d seconds (got %s)" % (MAX_POLL_INTERVAL_S, interval),
                      field="poll_interval")
        self.client = build_client(
            self._token(), self.params["api_url"], self.params["api_version"],
            self.params["ca_path"], self.params["request_timeout"], self.deadline)
        return self.client

    def _token(self) -> str:
        """The token from ``api_token`` or the environment, kept out of every result, and checked before it is sent."""
        self.token, source = find_token(self.params.get("api_token"))
        # A token from the environment is no parameter: register it so that AnsibleModule masks it everywhere.
        self.module.no_log_values.add(self.token)
        check_token(self.token, source)
        return self.token

    def schedule(self, captures: bool = False) -> PollSchedule:
        """The poll schedule of this task's waits (``poll_interval``); captures are first looked at later."""
        interval = self.params.get("poll_interval") or DEFAULT_POLL_INTERVAL_S
        return PollSchedule.for_captures(interval) if captures else PollSchedule(interval)

    def run(self) -> None:
        try:
            self.connect()
            self.run_task()
        except LinodeError as exc:
            self.fail(str(exc), field=exc.field)
        except Exception as exc:  # pylint: disable=broad-except
            if is_api_error(exc):
                self.fail(format_api_error(exc))
            # Not a failure we know: its message and (when tracebacks are on) its traceback, without the token.
            self.fail("Unexpected %s: %s" % (type(exc).__name__, exc))
        self.exit()

    @abc.abstractmethod
    def run_task(self) -> None:
        """The module's work; it fills ``self.result`` and raises ``LinodeError`` to fail."""

    def mark_changed(self) -> None:
        self.result["changed"] = True

    def warn(self, message: str) -> None:
        self.module.warn(one_line(message))

    def _cost(self) -> dict:
        cost = {"elapsed_s": round(self.deadline.elapsed(), 3)}
        if self.client is not None:
            cost["api_requests"] = self.client.session.requests_count()
        return cost

    def fail(self, message: str, field: str | None = None, **extra) -> None:
        """Fail with one line, keeping what the task found or changed before the failure."""
        extra = dict(self.result, **extra)
        extra.update(self._cost())
        if field:
            extra["field"] = field
        if sys.exc_info()[1] is not None:
            # AnsibleModule would format the exception being handled, with its chain, as it is.
            extra["exception"] = self._redact(traceback.format_exc())
        self.module.fail_json(msg=one_line(self._redact(message)), **extra)

    def _redact(self, text: str) -> str:
        return redact(text, self.token or self.params.get("api_token"))

    def exit(self) -> None:
        self.result.update(self._cost())
        self.module.exit_json(**self.result)
