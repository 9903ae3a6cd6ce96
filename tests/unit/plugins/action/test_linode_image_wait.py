"""The linode_image_wait action plugin: its progress line, its reporter thread, and when it shows progress at all.

The module is replaced by a stand-in that writes snapshots to the ``progress_file`` it is given, as
the module does after each round; everything else (the reporter thread, the file, the lines) is real.
"""

from __future__ import annotations

import json
import os
import threading
import time
from unittest import mock

import pytest

from ansible_collections.golden_image.linode.plugins.action import linode_image_wait as action
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import capture_progress

NOW = 1_800_000_000.0


def snapshot(**values):
    base = dict(total=100, done=0, available=0, finished=0, failed=0, running={}, rounds=0, elapsed_s=0.0,
                api_requests=0, written_at=NOW)
    base.update(values)
    return base


@pytest.mark.parametrize("name,given,elapsed,line", [
    ("no snapshot yet", None, 4.6,
     "linode_image_wait: starting, 4 s elapsed"),
    ("before the first look", snapshot(running={"not looked at yet": 100}), 60.2,
     "linode_image_wait: 0 of 100 done, 0 failed, 100 running (100 not looked at yet); 60 s elapsed, 0 polls, "
     "0 API requests"),
    ("mid-wait, the most common status first", snapshot(done=37, available=37, failed=2, rounds=41, api_requests=95,
                                                        running={"scheduled": 3, "started": 58}, written_at=NOW - 12),
     812.9,
     "linode_image_wait: 37 of 100 done, 2 failed, 61 running (58 started, 3 scheduled); 812 s elapsed, 41 polls, "
     "last 12 s ago, 95 API requests"),
    ("equal counts in the order of their names", snapshot(rounds=1, running={"started": 50, "not listed yet": 50},
                                                          api_requests=1),
     70.0,
     "linode_image_wait: 0 of 100 done, 0 failed, 100 running (50 not listed yet, 50 started); 70 s elapsed, 1 poll, "
     "last 0 s ago, 1 API requests"),
    ("finished captures whose images are not read yet", snapshot(done=99, finished=99, rounds=30, api_requests=31,
                                                                 running={"started": 1}, written_at=NOW - 3),
     700.0,
     "linode_image_wait: 99 of 100 done, 0 failed, 1 running (1 started), 99 finished, image not read yet; "
     "700 s elapsed, 30 polls, last 3 s ago, 31 API requests"),
    ("all done", snapshot(done=98, available=98, failed=2, rounds=50, api_requests=60), 900.0,
     "linode_image_wait: 98 of 100 done, 2 failed; 900 s elapsed, 50 polls, last 0 s ago, 60 API requests"),
    ("a snapshot written after the clock was read", snapshot(rounds=2, running={"started": 100}, written_at=NOW + 1),
     65.0,
     "linode_image_wait: 0 of 100 done, 0 failed, 100 running (100 started); 65 s elapsed, 2 polls, last 0 s ago, "
     "0 API requests"),
])
def test_format_progress(name, given, elapsed, line):
    assert action.format_progress(given, elapsed, NOW) == line, name


def test_a_snapshot_as_the_waiter_makes_it_formats():
    made = capture_progress(3, {"a": {}}, {}, {"b": (1, 2), "c": (1, 3)}, {"b", "c"},
                            {"b": {"status": "started"}}, 4, 33.3)
    assert action.format_progress(made, 40, None) == (
        "linode_image_wait: 1 of 3 done, 0 failed, 2 running (1 not listed yet, 1 started); 40 s elapsed, 4 polls")


@pytest.mark.parametrize("given,seconds", [
    (None, 60), (60, 60), ("30", 30), (5, 5), (600, 600),
    # No progress: off, or refused by the module (which then fails, naming progress_interval).
    (0, None), (4, None), (601, None), ("soon", None), ([5], None),
])
def test_progress_interval(given, seconds):
    assert action.progress_interval(given) == seconds


@pytest.mark.parametrize("content,expected", [
    (json.dumps(snapshot(done=5)), snapshot(done=5)),
    (None, None),             # not written yet
    ('{"total": 1', None),    # never happens (the module replaces the file whole), but must not break a line
    ("[1, 2]", None),
])
def test_read_snapshot(tmp_path, content, expected):
    path = tmp_path / "progress.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert action.read_snapshot(str(path)) == expected


def test_the_reporter_shows_the_latest_snapshot_every_interval_until_stopped(tmp_path):
    path = str(tmp_path / "progress.json")
    lines = []
    shown = threading.Semaphore(0)

    def show(line):
        lines.append(line)
        shown.release()

    reporter = action.ProgressReporter(path, 0.05, show).start()
    assert shown.acquire(timeout=5)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(snapshot(done=10, available=10, rounds=3, running={"started": 90}), out)
    while not lines[-1].startswith("linode_image_wait: 10 of 100 done"):
        assert shown.acquire(timeout=5)
    started = time.monotonic()
    reporter.stop()
    assert time.monotonic() - started < 1, "stop() must not wait for the next interval"
    count = len(lines)
    time.sleep(0.2)
    assert len(lines) == count, "no line after stop()"
    assert lines[0].startswith("linode_image_wait: starting, 0 s elapsed")
    assert reporter.lines == count


# ---------------------------------------------------------------------------- the action plugin

class FastReporter(action.ProgressReporter):
    """The real reporter at a hundredth of the interval, recording its lines."""

    lines_shown: list = []

    def __init__(self, path, interval, show=None, **kwargs):
        FastReporter.lines_shown = []
        super(FastReporter, self).__init__(path, interval / 100.0, FastReporter.lines_shown.append, **kwargs)


def make_plugin(args, transport="local", become=False, async_val=0, check_mode=False):
    task = mock.MagicMock()
    task.args = dict(args)
    task.async_val = async_val
    task.check_mode = check_mode
    connection = mock.MagicMock()
    connection.transport = transport
    connection.become = mock.MagicMock() if become else None
    connection.has_native_async = False
    connection._shell.tmpdir = None
    play_context = mock.MagicMock()
    play_context.become = become
    return action.ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)


def run_plugin(plugin, monkeypatch, module_seconds=0.3):
    """Run the plugin with a module that writes a snapshot every 10 ms for ``module_seconds``; (result, calls)."""
    monkeypatch.setattr(action, "ProgressReporter", FastReporter)
    FastReporter.lines_shown = []
    calls = []

    def execute_module(module_args=None, task_vars=None, wrap_async=False):
        args = plugin._task.args if module_args is None else module_args
        calls.append(dict(module_args=module_args, wrap_async=wrap_async, args=dict(args)))
        path = args.get("progress_file")
        deadline = time.monotonic() + module_seconds
        rounds = 0
        while time.monotonic() < deadline:
            if path:
                with open(path + ".tmp", "w", encoding="utf-8") as out:
                    json.dump(snapshot(rounds=rounds, done=rounds, available=rounds, running={"started": 100 - rounds},
                                       written_at=time.time()), out)
                os.replace(path + ".tmp", path)
            rounds += 1
            time.sleep(0.01)
        return {"changed": False, "available": {}, "errors": {}}

    with mock.patch.object(action.ActionBase, "run", return_value={}), \
            mock.patch.object(plugin, "_execute_module", side_effect=execute_module), \
            mock.patch.object(plugin, "_remove_tmp_path") as remove_tmp_path:
        result = plugin.run(task_vars={})
    return result, calls, remove_tmp_path


def test_on_the_controller_the_module_gets_a_progress_file_and_its_snapshots_are_shown(monkeypatch):
    plugin = make_plugin({"images": [], "progress_interval": 5, "api_url": "https://from.module_defaults"})
    result, calls, remove_tmp_path = run_plugin(plugin, monkeypatch)
    assert result == {"changed": False, "available": {}, "errors": {}}
    (call,) = calls
    path = call["args"]["progress_file"]
    # The task's arguments, module_defaults included, go to the module as they are, with the progress file added.
    assert call["args"] == {"images": [], "progress_interval": 5, "api_url": "https://from.module_defaults",
                            "progress_file": path}
    assert call["wrap_async"] == 0
    lines = FastReporter.lines_shown
    assert len(lines) >= 3
    assert all(line.startswith("linode_image_wait: ") for line in lines)
    assert any(line.startswith("linode_image_wait: 1") and " of 100 done, 0 failed, " in line for line in lines)
    # The temporary directory is gone, and the connection's own tmp path is cleaned up as the normal action does.
    assert not os.path.exists(os.path.dirname(path))
    remove_tmp_path.assert_called_once()


def test_progress_stops_and_the_directory_goes_when_the_module_raises(monkeypatch):
    plugin = make_plugin({"images": []})
    monkeypatch.setattr(action, "ProgressReporter", FastReporter)
    seen = []

    def execute_module(module_args=None, task_vars=None, wrap_async=False):
        seen.append(module_args["progress_file"])
        raise RuntimeError("connection lost")

    with mock.patch.object(action.ActionBase, "run", return_value={}), \
            mock.patch.object(plugin, "_execute_module", side_effect=execute_module):
        with pytest.raises(RuntimeError):
            plugin.run(task_vars={})
    assert not os.path.exists(os.path.dirname(seen[0]))
    assert not [t for t in threading.enumerate() if t.name == "linode_image_wait-progress"]


@pytest.mark.parametrize("name,args,kwargs", [
    ("a remote host: the module could not write a file here", {}, dict(transport="ssh")),
    ("become: the module may run as a user who cannot write here", {}, dict(become=True)),
    ("async: the module returns at once", {}, dict(async_val=600)),
    ("check mode: the module returns at once", {}, dict(check_mode=True)),
    ("progress off", {"progress_interval": 0}, {}),
    ("a progress_interval the module refuses", {"progress_interval": 3}, {}),
])
def test_no_progress_and_the_task_as_it_is(monkeypatch, name, args, kwargs):
    plugin = make_plugin(dict({"images": []}, **args), **kwargs)
    result, calls, _remove = run_plugin(plugin, monkeypatch, module_seconds=0.1)
    assert result == {"changed": False, "available": {}, "errors": {}}, name
    (call,) = calls
    assert call["module_args"] is None, "the module runs with the task's own arguments"
    assert "progress_file" not in call["args"]
    assert call["wrap_async"] == bool(kwargs.get("async_val"))
    assert FastReporter.lines_shown == []
