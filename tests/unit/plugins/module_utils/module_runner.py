"""Run a module class as a task would, against a fake API mounted on a real LinodeSession, on a fake clock."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.golden_image.linode.plugins.module_utils.base import DEFAULT_TASK_TIMEOUT_S
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline, RetryPolicy
from ansible_collections.golden_image.linode.plugins.module_utils.transport import LinodeSession, build_client

TOKEN = "secret-token-123"
API_URL = "https://api.example"


class Finished(Exception):
    def __init__(self, failed, result):
        super(Finished, self).__init__(result.get("msg"))
        self.failed = failed
        self.result = result


def run_module(module_class, api, clock, module_args):
    """``module_class``'s run with ``module_args`` (poll_interval and wait_timeout, if it has them): the result as it
    left the module, whether it failed, and its warnings."""
    with patch_module_args(dict(module_args, api_token=TOKEN, api_url=API_URL)):
        module = module_class.define_module()
    task = module_class(module)
    # Modules that do not wait have no wait_timeout: their retries get the base's deadline.
    task.deadline = Deadline(module_args.get("wait_timeout", DEFAULT_TASK_TIMEOUT_S), clock)

    def connect():
        session = LinodeSession(5.0, task.deadline, RetryPolicy(rng=random.Random(7)))
        session.mount("https://", api)
        task.client = build_client(TOKEN, API_URL, "v4", None, 5.0, task.deadline)
        task.client.session = session
        return task.client

    task.connect = connect

    def finish(failed):
        def record(**result):
            raise Finished(failed, result)
        return record

    with mock.patch.object(module, "exit_json", side_effect=finish(False)), \
            mock.patch.object(module, "fail_json", side_effect=finish(True)), \
            mock.patch.object(module, "warn") as warn:
        with pytest.raises(Finished) as finished:
            task.run()
    return dict(finished.value.result), finished.value.failed, [call.args[0] for call in warn.call_args_list]
