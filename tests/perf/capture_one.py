# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark one ``linode_image_capture`` task with ``wait: true``, against the Linode API emulator.

    .venv/bin/python tests/perf/capture_one.py [--speed S] [--sizes T ...] [--runs N] [--json OUT]

For each capture length T (emulated seconds at speed 1, from the disk's ``used_mb`` and the fleet's
timing) it runs one capture task through ``ansible-playbook`` against an offline Linode, N times,
and measures from the emulator's request log and Ansible's own timing:

1. the API requests of the task, against linode.cloud's documented cost of about 6 + T/10 (a model);
2. how long after the emulator finished the capture the module noticed (the request that saw the
   image ``available``), in real seconds, as a share of the capture, and scaled back to speed 1;
3. the module's overhead: the task's wall time minus the capture's real duration.

It then runs one reference capture at speed 1 (``--reference-size``, 30.5 s by default) so the
speed-1 lag and overhead are also measured, not only modelled. This is a benchmark run by hand, not a test: nothing here is
collected by pytest. See tests/perf/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import yaml

from perfkit import Emulator, snapshot_collection


# The emulator's default timing (emulated seconds): capture = CAPTURE_BASE_S + used_mb / CAPTURE_MB_PER_S.
CAPTURE_BASE_S = 20
CAPTURE_MB_PER_S = 25
# The waiter's fixed margins (plugins/module_utils/waiters.py): they do not scale with the speed. It
# looks LAST_SECOND_SPLIT_S before the end that time_remaining (whole seconds, rounded up) announces,
# and once more at it when that was early.
LAST_SECOND_SPLIT_S = 0.5
MIN_POLL_S = 1.0

# The goals of issue 3 ("Performance").
MAX_REQUESTS = 8
LAG_FLOOR_S = 2.0
LAG_SHARE = 0.05
MAX_OVERHEAD_S = 1.0

# The log has arrival times; the emulator starts the job a little later while it handles the POST.
SEEN_TOLERANCE_S = 0.05
# Ansible's own time per task (fork, module transfer, interpreter start) is well under this.
PER_TASK_SLACK_S = 30
FIRST_LINODE_ID = 1001
FIRST_DISK_ID = 2001
FIRST_CONFIG_ID = 3001


def linode_cloud_requests(capture_s: float) -> float:
    """linode.cloud's cost for one capture of ``capture_s`` seconds: a model from reading its code, not a measurement.

    It polls ``GET /images/{id}`` every 10 s after about six other requests (see ../shared/docs/linode-facts.md).
    """
    return 6 + capture_s / 10.0


def lag_goal(capture_s: float) -> float:
    """Completion must be noticed within max(2 s, 5% of the capture's duration)."""
    return max(LAG_FLOOR_S, LAG_SHARE * capture_s)


def used_mb_for(capture_s: float) -> int:
    if capture_s <= CAPTURE_BASE_S:
        raise ValueError("a capture takes more than %d s (capture_base_s); got %s" % (CAPTURE_BASE_S, capture_s))
    return int(round((capture_s - CAPTURE_BASE_S) * CAPTURE_MB_PER_S))


def capture_seconds(used_mb: int) -> float:
    return CAPTURE_BASE_S + used_mb / float(CAPTURE_MB_PER_S)


# ---------------------------------------------------------------------------- fleet and playbook

def write_fleet(path: str, sizes: list) -> list:
    """One offline Linode per capture length, each with one ext4 disk; returns the targets."""
    targets, linodes = [], []
    for index, size in enumerate(sizes):
        used = used_mb_for(size)
        target = dict(size=size, capture_s=capture_seconds(used), used_mb=used, linode_id=FIRST_LINODE_ID + index,
                      disk_id=FIRST_DISK_ID + index, key="t%s" % ("%g" % size).replace(".", "_"))
        targets.append(target)
        linodes.append(dict(
            id=target["linode_id"], label="perf-%s" % target["key"], region="us-east", status="offline",
            disks=[dict(id=target["disk_id"], label="Root Disk", filesystem="ext4", size=max(25088, used), used_mb=used,
                        status="ready")],
            configs=[dict(id=FIRST_CONFIG_ID + index, label="Boot Config", root_device="/dev/sda",
                          devices=dict(sda=target["disk_id"]))]))
    biggest = max(t["used_mb"] for t in targets)
    fleet = dict(
        tokens=[dict(token="perf-token", scopes="*")],
        # Big disks must stay 10% under the image size limit, as on Linode.
        account=dict(image_size_limit_mb=max(6144, int(math.ceil(biggest / 0.9)) + 1), image_count_limit=1000),
        timing=dict(capture_base_s=CAPTURE_BASE_S, capture_mb_per_s=CAPTURE_MB_PER_S),
        linodes=linodes,
    )
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(fleet, handle, sort_keys=False)
    return targets


def now_expr() -> str:
    return "{{ now().timestamp() }}"


def write_playbook(path: str, runs: list, results_path: str) -> None:
    """One capture task per run, bracketed by two set_fact tasks that read the clock; then save everything."""
    tasks = [
        # Two clock readings with nothing between them: the cost of the brackets themselves.
        dict(name="perf calibrate start", **{"ansible.builtin.set_fact": dict(perf_calibrate_start=now_expr())}),
        dict(name="perf calibrate end", **{"ansible.builtin.set_fact": dict(perf_calibrate_end=now_expr())}),
    ]
    saved = dict(calibrate=dict(start="{{ perf_calibrate_start }}", end="{{ perf_calibrate_end }}"))
    for run in runs:
        name = run["name"]
        tasks.append(dict(name="perf %s before" % name, **{"ansible.builtin.set_fact": {"perf_%s_start" % name: now_expr()}}))
        tasks.append(dict(
            name=run["task"],
            register="perf_%s_result" % name,
            failed_when=False,
            **{"golden_image.linode.linode_image_capture": dict(
                linode_id=run["linode_id"], disk_id=run["disk_id"], label=run["label"], wait=True,
                wait_timeout=int(run["capture_real_s"] + PER_TASK_SLACK_S * 4))}))
        tasks.append(dict(name="perf %s after" % name, **{"ansible.builtin.set_fact": {"perf_%s_end" % name: now_expr()}}))
        saved[name] = dict(start="{{ perf_%s_start }}" % name, end="{{ perf_%s_end }}" % name,
                           result="{{ perf_%s_result }}" % name)
    tasks.append(dict(name="perf save results", vars=dict(perf_saved=saved),
                      **{"ansible.builtin.copy": dict(content="{{ perf_saved | to_json }}", dest=results_path, mode="0600")}))
    play = dict(name="Benchmark linode_image_capture", hosts="localhost", connection="local", gather_facts=False,
                vars=dict(ansible_python_interpreter="{{ ansible_playbook_python }}"), tasks=tasks)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump([play], handle, sort_keys=False, width=1000)


# ---------------------------------------------------------------------------- emulator

# ---------------------------------------------------------------------------- one series

def run_series(speed: float, sizes: list, repeats: int, workdir: str, verbose: bool) -> dict:
    """Start an emulator at ``speed``, run ``repeats`` captures per size in one playbook, return the measurements."""
    series_dir = tempfile.mkdtemp(prefix="speed-%g-" % speed, dir=workdir)
    fleet_path = os.path.join(series_dir, "fleet.yml")
    targets = write_fleet(fleet_path, sizes)
    runs = []
    for repeat in range(1, repeats + 1):
        # Sizes interleaved, so a slow moment of the machine does not hit one size only.
        for target in targets:
            name = "%s_r%d" % (target["key"], repeat)
            run = dict(target, repeat=repeat, name=name, label="perf-%s-r%d" % (target["key"], repeat),
                       task="perf capture %s" % name, capture_real_s=target["capture_s"] / speed)
            runs.append(run)
    results_path = os.path.join(series_dir, "results.json")
    playbook = os.path.join(series_dir, "capture_one.yml")
    write_playbook(playbook, runs, results_path)

    emulator = Emulator(fleet_path, speed, series_dir, "emulator-%g.log" % speed)
    load_before = os.getloadavg()[0]
    info = emulator.start()
    try:
        junit_dir = os.path.join(series_dir, "junit")
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, "collections"),
            ANSIBLE_HOME=os.path.join(series_dir, "ansible-home"),
            ANSIBLE_LOCAL_TEMP=os.path.join(series_dir, "ansible-home", "tmp"),
            ANSIBLE_REMOTE_TMP=os.path.join(series_dir, "ansible-home", "remote-tmp"),
            ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit",
            JUNIT_OUTPUT_DIR=junit_dir,
            JUNIT_HIDE_TASK_ARGUMENTS="true",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="true",
            LINODE_TOKEN=info["token"], LINODE_API_URL=info["api_url"], LINODE_CA=info["ca_file"] or "",
        )
        env.pop("LINODE_API_TOKEN", None)
        timeout = sum(r["capture_real_s"] + PER_TASK_SLACK_S for r in runs) + 120
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", playbook]
        started = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=series_dir)
        playbook_s = time.time() - started
        if verbose or done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError("ansible-playbook exited %d (output above)" % done.returncode)
        log = emulator.control("requests")["requests"]
        state = emulator.control("state")
    finally:
        emulator.stop()
    with open(results_path, encoding="utf-8") as handle:
        saved = json.load(handle)
    junit = read_junit(junit_dir)
    measured = [measure(run, speed, saved[run["name"]], junit.get(run["task"]), log, state) for run in runs]
    calibrate = float(saved["calibrate"]["end"]) - float(saved["calibrate"]["start"])
    return dict(speed=speed, repeats=repeats, playbook_s=round(playbook_s, 1), set_fact_gap_s=round(calibrate, 4),
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)], cpus=os.cpu_count(),
                runs=measured, summary=summarize(measured, sizes))


def read_junit(junit_dir: str) -> dict:
    """Task wall times from the junit callback: from the task's start to its result, in seconds, by task name."""
    times = {}
    for name in os.listdir(junit_dir) if os.path.isdir(junit_dir) else []:
        for case in ET.parse(os.path.join(junit_dir, name)).getroot().iter("testcase"):
            task = case.get("name", "")
            # Test case names look like "[localhost] <play>: <task>" (the play's name has no ": ").
            times[task.split(": ", 1)[-1]] = float(case.get("time", "nan"))
    return times


# ---------------------------------------------------------------------------- measurements

def measure(run: dict, speed: float, saved: dict, junit_s: float | None, log: list, state: dict) -> dict:
    """The numbers of one capture task, from the request log, the emulator's events and Ansible's timing."""
    start, end = float(saved["start"]), float(saved["end"])
    result = saved["result"]
    out = dict(size=run["size"], repeat=run["repeat"], speed=speed, used_mb=run["used_mb"], capture_s=run["capture_s"])
    if result.get("failed") or not result.get("image"):
        out["error"] = result.get("msg", "no image in the result")
        return out
    image_id = result["image"]["id"]
    entries = [e for e in log if start <= e["time"] <= end]
    posts = [e for e in entries if e["method"] == "POST" and e["path"].rstrip("/").endswith("/images")]
    if len(posts) != 1:
        out["error"] = "expected one POST /images in the task, found %d" % len(posts)
        return out
    by_method = {}
    for entry in entries:
        by_method[entry["method"]] = by_method.get(entry["method"], 0) + 1
    event = next((e for e in state["events"] if e["action"] == "disk_imagize"
                  and (e.get("secondary_entity") or {}).get("id") == image_id), None)
    # The event's duration is the emulator's own (finished - started, real seconds); the timing formula is the fallback.
    capture_real = float(event["duration"]) if event and event.get("duration") is not None else run["capture_real_s"]
    # The job starts while the POST is handled, a few ms after the log's arrival time: this finish time is
    # at most that early, which makes the lag below look that much longer, never shorter.
    finished = posts[0]["time"] + capture_real
    image_path = "/images/%s" % image_id
    image_gets = [e for e in entries if e["method"] == "GET" and e["path"].endswith(image_path)]
    # The module returns as soon as it reads the image `available`, so its last read of the image is the one.
    seen = image_gets[-1] if image_gets and image_gets[-1]["time"] >= finished - SEEN_TOLERANCE_S else None
    events_before = [e for e in entries if e["method"] == "GET" and "/account/events" in e["path"]
                     and seen is not None and e["time"] < seen["time"]]
    wall = end - start
    elapsed = float(result["elapsed_s"])
    out.update(
        image=image_id, capture_real_s=capture_real, emulated_capture_s=capture_real * speed,
        requests=len(entries), requests_by_method=by_method, posts=len(posts),
        module_requests=result.get("api_requests", {}).get("total"), module_requests_by_method=result.get("api_requests"),
        linode_cloud_model=linode_cloud_requests(run["capture_s"]),
        image_polls=len(image_gets), events_polls=len([e for e in entries if "/account/events" in e["path"]]),
        wall_s=wall, junit_wall_s=junit_s, elapsed_s=elapsed,
        overhead_s=wall - capture_real, junit_overhead_s=(junit_s - capture_real) if junit_s is not None else None,
        outside_module_s=wall - elapsed, inside_module_s=elapsed - capture_real,
        before_post_s=posts[0]["time"] - start,
        before_first_request_s=(entries[0]["time"] - start) if entries else None,
        # Every request of the task, in real seconds since the task's start bracket.
        timeline=[[round(e["time"] - start, 4), e["method"], e["path"], e["status"]] for e in entries],
        finished_at_s=finished - start,
    )
    if seen is None:
        out["error"] = "no GET %s after the capture finished, although the module returned it available" % image_path
        return out
    lag = seen["time"] - finished
    # What the last events poll before that read: time_remaining is whole real seconds, rounded up, so the
    # waiter's first look lands LAST_SECOND_SPLIT_S before the announced end, then at it; neither scales with the speed.
    rounding = 0.0
    offset = None
    if events_before:
        remaining = finished - events_before[-1]["time"]
        rounding = math.ceil(remaining - 1e-9) - remaining if remaining > 0 else 0.0
        offset = events_before[-1]["time"] - posts[0]["time"]
    fixed = lag - rounding
    # The same waiter at speed 1: the events poll comes `offset` real seconds after the POST as it does
    # here (client and server costs do not scale), so only the rounding of time_remaining changes.
    rounding_1 = 0.0
    if offset is not None:
        remaining_1 = run["capture_s"] - offset
        rounding_1 = math.ceil(remaining_1 - 1e-9) - remaining_1 if remaining_1 > 0 else 0.0
    out.update(
        seen_after_polls=image_gets.index(seen) + 1,
        lag_s=lag, lag_share=lag / capture_real, lag_goal_at_speed_s=lag_goal(capture_real),
        lag_x_speed_s=lag * speed, lag_goal_s=lag_goal(run["capture_s"]),
        rounding_s=rounding, lag_fixed_s=fixed, lag_at_1_model_s=fixed + rounding_1, lag_at_1_worst_s=fixed + 1.0,
        events_poll_after_post_s=offset, after_seen_s=end - seen["time"],
        overhead_fixed_s=out["overhead_s"] - rounding,
    )
    return out


NUMBERS = ("capture_real_s", "requests", "module_requests", "image_polls", "events_polls", "lag_s", "lag_share",
           "lag_goal_at_speed_s", "lag_x_speed_s", "lag_goal_s", "rounding_s", "lag_fixed_s", "lag_at_1_model_s",
           "lag_at_1_worst_s", "wall_s", "junit_wall_s", "elapsed_s", "overhead_s", "junit_overhead_s",
           "outside_module_s", "inside_module_s", "before_post_s", "before_first_request_s", "after_seen_s",
           "overhead_fixed_s", "linode_cloud_model")


def summarize(measured: list, sizes: list) -> list:
    """Per size, the median of each number over its runs (so one slow run does not decide), and the worst."""
    rows = []
    for size in sizes:
        runs = [m for m in measured if m["size"] == size]
        good = [m for m in runs if "error" not in m]
        row = dict(size=size, capture_s=runs[0]["capture_s"], runs=len(runs), failed=len(runs) - len(good),
                   errors=[m["error"] for m in runs if "error" in m])
        for key in NUMBERS:
            values = [m[key] for m in good if m.get(key) is not None]
            if values:
                row[key] = statistics.median(values)
                row[key + "_max"] = max(values)
        if good:
            row["requests_by_method"] = good[0]["requests_by_method"]
            row["requests_same_in_log_and_module"] = all(m["requests"] == m["module_requests"] for m in good)
            row["one_post"] = all(m["posts"] == 1 for m in good)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- report

def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    return str(value)


def yes_no(ok) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" for h in headers) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def methods(counts: dict | None) -> str:
    return " ".join("%s %d" % (k, v) for k, v in sorted((counts or {}).items()) if k != "total") or "-"


def report(series: dict, title: str) -> str:
    speed = series["speed"]
    rows = series["summary"]
    out = ["### %s" % title, "",
           "Emulator speed %g; median of %d run(s) per T (the worst in brackets); verdicts are on the medians (requests: on the worst run). "
           "ansible-playbook took %.0f s; 1-minute load average %.2f before, %.2f after, on %s CPUs (Ansible's share of "
           "the overhead grows with the machine's load)."
           % (speed, series["repeats"], series["playbook_s"], series["load_average"][0], series["load_average"][1],
              series["cpus"]), ""]
    for row in rows:
        if row["failed"]:
            out.append("T=%g s: %d of %d run(s) failed: %s" % (row["size"], row["failed"], row["runs"], "; ".join(row["errors"])))
    out += ["", "**1. API requests of the task** (goal: at most %d, whatever T)" % MAX_REQUESTS, ""]
    out.append(table(
        ["T (s)", "real capture (s)", "requests (log)", "module api_requests.total", "by method (log)",
         "linode.cloud model 6+T/10", "goal <= %d" % MAX_REQUESTS],
        [["%g" % r["capture_s"], fmt(r.get("capture_real_s"), 2), fmt(r.get("requests"), 0) + " (max %s)" % fmt(r.get("requests_max"), 0),
          fmt(r.get("module_requests"), 0) + (" (= log)" if r.get("requests_same_in_log_and_module") else " (differs)"),
          methods(r.get("requests_by_method")), fmt(linode_cloud_requests(r["capture_s"]), 0),
          yes_no(r.get("requests_max") is not None and r["requests_max"] <= MAX_REQUESTS)] for r in rows]))
    out += ["", "**2. Completion noticed**: time of the request that saw the image `available` minus the emulator's "
            "finish (POST time + the event's duration). The goal, max(2 s, 5%% of the capture), is about real captures "
            "(speed 1); here the real capture lasts T/%g. `lag x %g` scales all of the lag back to speed 1, which "
            "overstates it: the waiter looks %g s before the end the event's time_remaining announces (whole real "
            "seconds, rounded up) and once more at it, and neither that rounding nor the split nor the request latency "
            "grows with T. At speed 1 the lag is under %g s plus the latency." % (speed, speed, LAST_SECOND_SPLIT_S,
                                                                                  LAST_SECOND_SPLIT_S), ""]
    out.append(table(
        ["T (s)", "lag real (s)", "share of real capture", "goal at this speed (s)", "met here",
         "lag x %g (s)" % speed, "goal at speed 1 (s)", "met if all lag scaled",
         "rounding (s)", "fixed part (s)", "lag at speed 1 (s)", "met at speed 1"],
        [["%g" % r["capture_s"], fmt(r.get("lag_s"), 3) + " (max %s)" % fmt(r.get("lag_s_max"), 3),
          fmt(100 * r["lag_share"], 0) + "%" if r.get("lag_share") is not None else "-",
          fmt(r.get("lag_goal_at_speed_s"), 2), yes_no(_le(r.get("lag_s"), r.get("lag_goal_at_speed_s"))),
          fmt(r.get("lag_x_speed_s"), 1), fmt(r.get("lag_goal_s"), 1), yes_no(_le(r.get("lag_x_speed_s"), r.get("lag_goal_s"))),
          fmt(r.get("rounding_s"), 3), fmt(r.get("lag_fixed_s"), 3), _range(r.get("lag_fixed_s")),
          _range_verdict(r.get("lag_fixed_s"), r.get("lag_goal_s"), "<=")]
         for r in rows]))
    out += ["", "**3. Module overhead**: the task's wall time (set_fact `now()` brackets; the junit callback's task time "
            "as a cross-check) minus the capture's real duration; goal under %g s. `outside` is Ansible and "
            "interpreter start-up and exit (wall - elapsed_s); `inside` is the module's own time beyond the capture "
            "(elapsed_s - capture), which includes the lag and so the rounding of time_remaining. At speed 1 the "
            "overhead is its fixed part (overhead - rounding) plus a rounding in [0, 1) s. Two back-to-back set_facts "
            "are %.3f s apart." % (MAX_OVERHEAD_S, series["set_fact_gap_s"]), ""]
    out.append(table(
        ["T (s)", "wall (s)", "junit wall (s)", "module elapsed_s", "overhead (s)", "junit overhead (s)",
         "outside (s)", "inside (s)", "of which lag (s)", "before 1st request (s)", "met here",
         "fixed part (s)", "overhead at speed 1 (s)", "met at speed 1"],
        [["%g" % r["capture_s"], fmt(r.get("wall_s"), 2), fmt(r.get("junit_wall_s"), 2), fmt(r.get("elapsed_s"), 2),
          fmt(r.get("overhead_s"), 2) + " (max %s)" % fmt(r.get("overhead_s_max"), 2), fmt(r.get("junit_overhead_s"), 2),
          fmt(r.get("outside_module_s"), 2), fmt(r.get("inside_module_s"), 2), fmt(r.get("lag_s"), 2),
          fmt(r.get("before_first_request_s"), 2), yes_no(_lt(r.get("overhead_s"), MAX_OVERHEAD_S)),
          fmt(r.get("overhead_fixed_s"), 2), _range(r.get("overhead_fixed_s")),
          _range_verdict(r.get("overhead_fixed_s"), MAX_OVERHEAD_S, "<")] for r in rows]))
    return "\n".join(out)


def _range(fixed) -> str:
    """A speed-1 value: its fixed part plus a rounding of time_remaining anywhere in [0, 1) s."""
    return "-" if fixed is None else "%.2f to %.2f" % (fixed, fixed + 1.0)


def _range_verdict(fixed, limit, relation: str) -> str:
    """Whether fixed + rounding meets the limit for every rounding in [0, 1), for none, or below which rounding."""
    if fixed is None or limit is None:
        return "-"
    ok = (lambda v: v <= limit) if relation == "<=" else (lambda v: v < limit)
    if ok(fixed + 1.0):
        return "yes"
    if not ok(fixed):
        return "NO"
    return "only if rounding < %.2f s" % (limit - fixed)


def _le(value, limit):
    return None if value is None or limit is None else value <= limit


def _lt(value, limit):
    return None if value is None or limit is None else value < limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--speed", type=float, default=60.0, help="emulator speed for the main series (default 60)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[30, 120, 600, 1800],
                        help="capture lengths T in emulated seconds at speed 1, each over %d (default 30 120 600 1800)" % CAPTURE_BASE_S)
    parser.add_argument("--runs", type=int, default=3, help="captures per T; the table shows medians (default 3)")
    parser.add_argument("--reference-size", type=float, default=30.5,
                        help="T of one extra capture at speed 1, to measure the speed-1 lag and overhead directly; 0: none "
                             "(default 30.5: not a whole number of seconds, so the rounding of time_remaining shows)")
    parser.add_argument("--json", metavar="OUT", help="also write every number here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (fleet, playbook, logs)")
    parser.add_argument("--verbose", action="store_true", help="show ansible-playbook's output")
    args = parser.parse_args()
    if args.speed <= 0 or args.runs < 1:
        parser.error("--speed must be positive and --runs at least 1")
    for size in args.sizes + ([args.reference_size] if args.reference_size else []):
        if size <= CAPTURE_BASE_S:
            parser.error("every capture length must be over %d s (capture_base_s); got %g" % (CAPTURE_BASE_S, size))

    workdir = tempfile.mkdtemp(prefix="capture-one-")
    try:
        snapshot_collection(workdir)
        started = time.time()
        main_series = run_series(args.speed, args.sizes, args.runs, workdir, args.verbose)
        print(report(main_series, "One capture with wait: true, emulator at speed %g" % args.speed))
        reference = None
        if args.reference_size:
            reference = run_series(1.0, [args.reference_size], 1, workdir, args.verbose)
            print()
            print(report(reference, "Reference: one capture at speed 1 (real time), T=%g s" % args.reference_size))
        print()
        print("Total %.0f s. linode.cloud's numbers are a model (6 + T/10, from reading its code), not a measurement."
              % (time.time() - started))
        if args.json:
            document = dict(goals=dict(max_requests=MAX_REQUESTS, lag_floor_s=LAG_FLOOR_S, lag_share=LAG_SHARE,
                                       max_overhead_s=MAX_OVERHEAD_S),
                            timing=dict(capture_base_s=CAPTURE_BASE_S, capture_mb_per_s=CAPTURE_MB_PER_S),
                            waiter=dict(last_second_split_s=LAST_SECOND_SPLIT_S, min_poll_s=MIN_POLL_S),
                            main=main_series, reference=reference)
            directory = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(directory, exist_ok=True)
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, sort_keys=True)
    finally:
        if args.keep:
            print("work directory kept: %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
