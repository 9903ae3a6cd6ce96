"""linode_image_wait as a task runs it, against recorded captures on the fake clock.

What a result holds (``available``, ``errors``, ``would_wait``; nothing under Ansible's own ``failed``),
check mode with the images a check-mode capture returns, and the progress file the action plugin
reads, with what it costs in requests: nothing.
"""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest

from ansible_collections.golden_image.linode.plugins.modules.linode_image_wait import LinodeImageWait
from module_runner import run_module
from recorded_api import api_time

CAPTURE_PROGRESS = [(0, "started", 0), (16, "started", 64), (92, "started", 0)]


def run_wait(api, clock, check_mode=False, **args):
    """Run the module with ``args`` against ``api``: the result, with ``failed`` True or False and the warnings."""
    args.setdefault("poll_interval", 5)
    args.setdefault("wait_timeout", 3600)
    result, failed, warnings = run_module(LinodeImageWait, api, clock, dict(args, _ansible_check_mode=check_mode))
    assert "failed" not in result, "the module must not return a key named failed"
    return dict(result, failed=failed, warnings=warnings)


def image(number, linode_id, status="creating", with_id=True):
    return {"id": "private/%d" % number if with_id else None, "label": "img-%d" % number, "status": status,
            "created": api_time(0), "tags": ["golden", "source=linode:%d,disk:%d" % (linode_id, 2000 + linode_id)]}


def test_available_and_errors_by_id_and_the_task_fails_naming_the_failed_one(recorded_api, clock):
    api, _client = recorded_api
    api.add_capture(1, 7, 0, 144.0, CAPTURE_PROGRESS)
    api.add_capture(2, 8, 0, 100.0, CAPTURE_PROGRESS, outcome="failed")
    result = run_wait(api, clock, images=[image(7, 1), image(8, 2), image(9, 3, status="available")])
    assert result["failed"]
    assert sorted(result["available"]) == ["private/7", "private/9"]
    assert result["available"]["private/7"]["status"] == "available"
    assert list(result["errors"]) == ["private/8"]
    assert result["errors"]["private/8"].startswith("Capture of image private/8 failed (event 1001).")
    assert result["msg"] == "1 of 3 captures failed: " + result["errors"]["private/8"]
    assert result["would_wait"] == []
    assert result["api_requests"]["total"] == len(api.log)


def test_an_event_message_with_line_breaks_is_one_line_in_errors(recorded_api, clock):
    api, _client = recorded_api
    job = api.add_capture(1, 7, 0, 100.0, CAPTURE_PROGRESS, outcome="failed", image_removed=False)
    job.message = "copy failed\r\non the host\r\n"
    result = run_wait(api, clock, images=[image(7, 1)])
    assert result["failed"]
    assert "(event 1000, copy failed on the host); the image is left creating" in result["errors"]["private/7"]
    assert "\n" not in result["msg"] and "\r" not in result["msg"]


def test_a_timeout_is_in_errors_for_each_image_not_available_by_then(recorded_api, clock):
    api, _client = recorded_api
    api.add_capture(1, 7, 0, 144.0, CAPTURE_PROGRESS)
    api.add_capture(2, 8, 0, 5000.0, CAPTURE_PROGRESS)
    api.add_capture(3, 9, 0, 100.0, CAPTURE_PROGRESS, outcome="failed")
    result = run_wait(api, clock, images=[image(7, 1), image(8, 2), image(9, 3)], wait_timeout=600)
    assert result["failed"]
    assert result["available"] == {}
    assert sorted(result["errors"]) == ["private/7", "private/8", "private/9"]
    # private/7's capture had finished, but its image is read only with the last ones: it is not claimed available.
    assert result["errors"]["private/7"] == (
        "Timed out after 600 s waiting for image private/7 to become available (wait_timeout); its capture had "
        "finished, but the image was not read again")
    assert result["errors"]["private/8"] == (
        "Timed out after 600 s waiting for image private/8 to become available (wait_timeout)")
    assert result["errors"]["private/9"].startswith("Capture of image private/9 failed (event 1002).")
    assert result["msg"].startswith("3 of 3 captures failed: Timed out after 600 s")


def test_check_mode_waits_for_nothing_and_fails_for_no_image_without_id(recorded_api, clock):
    api, _client = recorded_api
    preview = image(100, 1, with_id=False)
    given = [preview, image(8, 2), image(9, 3, status="available")]
    result = run_wait(api, clock, check_mode=True, images=given)
    assert not result["failed"], result["msg"]
    assert result["would_wait"] == [preview, image(8, 2)]
    assert list(result["available"]) == ["private/9"]
    assert result["errors"] == {}
    assert api.log == [] and result["api_requests"]["total"] == 0
    assert clock.sleeps == []


@pytest.mark.parametrize("name,given,check_mode,field,message", [
    ("an image without an id, outside check mode", [image(1, 1, with_id=False)], False, "images",
     "images[0] (label img-1) has no id; only a check-mode capture returns an image without one"),
    ("an image without a source tag", [image(5, 1), dict(image(6, 1), tags=["golden"])], False, "images",
     "images[1] (private/6) has no source tag, so its capture cannot be followed"),
    ("an image without a source tag, in check mode", [dict(image(6, 1, with_id=False), tags=[])], True, "images",
     "images[0] (label img-6) has no source tag"),
])
def test_images_a_wait_cannot_follow_are_refused_before_any_request(recorded_api, clock, name, given, check_mode,
                                                                    field, message):
    api, _client = recorded_api
    result = run_wait(api, clock, check_mode=check_mode, images=given)
    assert result["failed"], name
    assert result["field"] == field
    assert result["msg"].startswith(message), result["msg"]
    assert api.log == []


@pytest.mark.parametrize("interval,accepted", [(0, True), (4, False), (5, True), (60, True), (600, True), (601, False),
                                               (-5, False)])
def test_progress_interval_is_zero_or_from_five_to_six_hundred(recorded_api, clock, interval, accepted):
    api, _client = recorded_api
    result = run_wait(api, clock, images=[image(9, 3, status="available")], progress_interval=interval)
    assert result["failed"] is not accepted
    if not accepted:
        assert result["field"] == "progress_interval"
        assert result["msg"] == ("progress_interval must be 0 (no progress) or from 5 to 600 seconds (got %d)"
                                 % interval)


def test_the_progress_file_holds_the_latest_snapshot_and_costs_no_request(recorded_api, clock, tmp_path):
    api, _client = recorded_api
    api.add_capture(1, 7, 0, 144.0, CAPTURE_PROGRESS)
    api.add_capture(2, 8, 0, 300.0, CAPTURE_PROGRESS)
    path = str(tmp_path / "progress.json")
    written = []
    real_replace = os.replace

    def replace(source, target):
        real_replace(source, target)
        with open(target, encoding="utf-8") as snapshot:
            written.append(json.load(snapshot))

    with mock.patch("os.replace", side_effect=replace):
        result = run_wait(api, clock, images=[image(7, 1), image(8, 2), image(9, 3, status="available")],
                          progress_file=path)
    assert not result["failed"]
    # Before the first round: nothing read, nothing sent; the image given as available counts as done.
    assert written[0]["total"] == 3 and written[0]["done"] == written[0]["available"] == 1
    assert written[0]["running"] == {"not looked at yet": 2} and written[0]["api_requests"] == 0
    # Then one a round, with the requests sent so far.
    assert [w["rounds"] for w in written] == list(range(len(written)))
    assert [w["api_requests"] for w in written] == sorted(w["api_requests"] for w in written)
    assert written[-1]["api_requests"] == result["api_requests"]["total"] == len(api.log)
    assert written[-1]["done"] == written[-1]["available"] == 3
    assert all(isinstance(w["written_at"], float) for w in written)
    with open(path, encoding="utf-8") as last:
        assert json.load(last) == written[-1]
    assert os.listdir(str(tmp_path)) == ["progress.json"], "no partial file is left behind"


def test_no_progress_file_is_written_with_progress_off(recorded_api, clock, tmp_path):
    api, _client = recorded_api
    api.add_capture(1, 7, 0, 144.0, CAPTURE_PROGRESS)
    path = tmp_path / "progress.json"
    result = run_wait(api, clock, images=[image(7, 1)], progress_file=str(path), progress_interval=0)
    assert not result["failed"]
    assert not path.exists()


def test_a_progress_file_that_cannot_be_written_costs_one_warning_and_not_the_wait(recorded_api, clock, tmp_path):
    api, _client = recorded_api
    api.add_capture(1, 7, 0, 144.0, CAPTURE_PROGRESS)
    path = str(tmp_path / "missing-directory" / "progress.json")
    result = run_wait(api, clock, images=[image(7, 1)], progress_file=path)
    assert not result["failed"]
    assert list(result["available"]) == ["private/7"]
    assert len(result["warnings"]) == 1
    assert result["warnings"][0].startswith("progress_file: cannot write %s (" % path)
