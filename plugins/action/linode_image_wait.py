# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs golden_image.linode.linode_image_wait as any module runs, and shows its progress while it waits.

A wait for a fleet's captures can take an hour, and a task prints nothing until it ends. So, when the
module runs on the controller, this plugin gives it a ``progress_file`` in a private temporary
directory, to which the module writes a JSON snapshot of the wait after each of its rounds
(``waiters.capture_progress``), and a thread of this plugin turns the latest snapshot into one line
on the terminal every ``progress_interval`` seconds (``display.display``: in AWX, a line of the job
output). The lines come from what the wait's own rounds read: they send no API request.

The module itself runs through ``_execute_module``, exactly as the ``normal`` action runs any
module, so ``module_defaults``, ``environment``, ``async`` and check mode reach it unchanged; where
it does not run on the controller, or runs under ``become`` or ``async``, there is no progress and
nothing else changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import PROGRESS_INTERVAL_BOUNDS

display = Display()

PREFIX = "linode_image_wait: "
# How long to wait for the progress thread to end once the module has returned.
STOP_TIMEOUT_S = 5.0


def format_progress(snapshot: dict | None, elapsed: float, now: float | None = None) -> str:
    """One line for a snapshot of ``waiters.capture_progress`` (as the module wrote it), ``elapsed`` s into the task.

    ``now`` (the wall clock) says how long ago the snapshot was written; before any snapshot the line
    says only how long the task has run.
    """
    if not snapshot:
        return PREFIX + "starting, %d s elapsed" % elapsed
    running = snapshot.get("running") or {}
    parts = ["%d of %d done" % (snapshot.get("done", 0), snapshot.get("total", 0)),
             "%d failed" % snapshot.get("failed", 0)]
    waiting = sum(running.values())
    if waiting:
        parts.append("%d running (%s)" % (waiting, ", ".join(
            "%d %s" % (count, status) for status, count in sorted(running.items(), key=lambda item: (-item[1], item[0])))))
    if snapshot.get("finished"):
        parts.append("%d finished, image not read yet" % snapshot["finished"])
    rounds = snapshot.get("rounds", 0)
    when = ["%d s elapsed" % elapsed, "%d poll%s" % (rounds, "" if rounds == 1 else "s")]
    if rounds and now is not None and snapshot.get("written_at") is not None:
        when.append("last %d s ago" % max(0, now - snapshot["written_at"]))
    if snapshot.get("api_requests") is not None:
        when.append("%d API requests" % snapshot["api_requests"])
    return PREFIX + ", ".join(parts) + "; " + ", ".join(when)


def read_snapshot(path: str) -> dict | None:
    """The latest snapshot in ``path``, or None when there is none yet (or it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as snapshot:
            value = json.load(snapshot)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def progress_interval(value) -> int | None:
    """The seconds between two lines for the task's ``progress_interval``; None for none (0, or a value the module refuses)."""
    try:
        seconds = int(60 if value is None else value)
    except (TypeError, ValueError):
        return None
    low, high = PROGRESS_INTERVAL_BOUNDS
    return seconds if low <= seconds <= high else None


class ProgressReporter(object):
    """A thread that shows ``format_progress()`` of the snapshot in ``path`` every ``interval`` seconds until stopped."""

    def __init__(self, path: str, interval: float, show=None, clock=time.monotonic, wall=time.time) -> None:
        self.path = path
        self.interval = interval
        self.show = show or display.display
        self.clock = clock
        self.wall = wall
        self.started = clock()
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linode_image_wait-progress", daemon=True)

    def line(self) -> str:
        return format_progress(read_snapshot(self.path), self.clock() - self.started, self.wall())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.show(self.line())
            self.lines += 1

    def start(self) -> "ProgressReporter":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT_S)


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect

        wrap_async = self._task.async_val and not self._connection.has_native_async
        interval = progress_interval(self._task.args.get("progress_interval"))
        module_args = None
        workdir = reporter = None
        if interval and not wrap_async and not self._task.check_mode and self._runs_on_controller():
            workdir = tempfile.mkdtemp(prefix="linode_image_wait-")
            module_args = dict(self._task.args, progress_file=os.path.join(workdir, "progress.json"))
            reporter = ProgressReporter(module_args["progress_file"], interval).start()
        try:
            result = merge_hash(result, self._execute_module(module_args=module_args, task_vars=task_vars,
                                                             wrap_async=wrap_async))
        finally:
            if reporter is not None:
                reporter.stop()
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

        if not wrap_async:
            # remove a temporary path we created
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _runs_on_controller(self) -> bool:
        """Whether the module runs here, as this user: only then can it write a file this plugin reads."""
        return (getattr(self._connection, "transport", None) == "local"
                and getattr(self._connection, "become", None) is None
                and not self._play_context.become)
