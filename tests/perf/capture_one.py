# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark one capture, one shutdown and one boot, each as one task with ``wait``, on the realistic emulator.

    .venv/bin/python tests/perf/capture_one.py [--sizes T ...] [--speed S] [--runs N] [--collection-ref REF] [--json OUT]
    .venv/bin/python tests/perf/capture_one.py --report OUT.json      # print an earlier run's report again

The emulator runs with its recorded-like defaults (strict X-Filter, events with a null
``time_remaining``, percents that jump and fall back, boots ``scheduled`` first, events listed a few
seconds late) and its default timing, read from ``linode_emulator.fleet.Timing()``: a shutdown, a boot,
and a capture of T emulated seconds from a disk whose ``used_mb`` gives T. Each job is one task of
``ansible-playbook`` between two ``set_fact`` clock readings:

* a capture: ``golden_image.linode.linode_image_capture`` with ``wait: true`` on an offline Linode;
* a shutdown: ``golden_image.linode.linode_instance_power`` ``state: stopped``, ``remember: true``, on a running one;
* a boot: the same module with ``state: running``.

For each job it reports the API requests of the task (the emulator's request log between the two
readings, against the module's own ``api_requests``), when the job ended in the emulator (the
action's arrival in the log plus its event's ``duration`` in ``/__emulator__/state``), when the module
noticed (the first read of the image or the instance after that end; the module returns right
after), hence the lag, with verdicts against the goals below.

With ``--speed S`` the emulator divides every duration by S and the modules get
``LINODE_POLL_INTERVAL=5/S``, the real-world schedule in emulated time; lags are multiplied by S
back to speed 1, which also multiplies the request latencies (an overstatement). ``--collection-ref
REF`` measures the collection of a git commit instead of the work tree. This is a benchmark run by
hand, not a test: nothing here is collected by pytest. See tests/perf/README.md.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

from perfkit import Emulator, resolve_ref, snapshot_collection

try:
    from linode_emulator.fleet import Timing
except ImportError:  # pragma: no cover - the emulator lives in the project's venv
    sys.exit("linode_emulator is not importable: run `make venv` and use .venv/bin/python")


# The recorded capture: 366 MB in 144 s; the default reference size.
REFERENCE_CAPTURE_S = 144.0
# The modules' default poll_interval (plugins/doc_fragments/wait.py), real seconds at speed 1.
DEFAULT_POLL_INTERVAL_S = 5.0

# The goals. Lag: the end of a job lasting T (emulated) seconds is noticed within
# min(LAG_CEILING_S, max(LAG_FLOOR_S, LAG_SHARE x T)).
LAG_FLOOR_S = 5.0
LAG_SHARE = 0.1
LAG_CEILING_S = 30.0
# Requests: a capture no more than linode.cloud's model 6 + T/10; a shutdown or a boot no more than this.
POWER_MAX_REQUESTS = 10

# Each task's wait_timeout: the module's default, or its job's real duration twice plus TASK_SLACK_S if longer.
MODULE_WAIT_TIMEOUT_S = {"capture": 1800, "shutdown": 600, "boot": 600}
TASK_SLACK_S = 120
FIRST_LINODE_ID = 1001
FIRST_DISK_ID = 2001
FIRST_CONFIG_ID = 3001
POWER_LINODE_ID = 1901
POWER_DISK_ID = 2901
POWER_CONFIG_ID = 3901
ACTIONS = {"capture": "disk_imagize", "shutdown": "linode_shutdown", "boot": "linode_boot"}


def linode_cloud_requests(capture_s: float) -> float:
    """linode.cloud's cost for one capture of ``capture_s`` seconds: a model from reading its code, not a measurement.

    It polls ``GET /images/{id}`` every 10 s after about six other requests.
    """
    return 6 + capture_s / 10.0


def lag_goal(job_s: float) -> float:
    """A job lasting ``job_s`` emulated seconds must be noticed within min(30, max(5, 10% of it)) seconds."""
    return min(LAG_CEILING_S, max(LAG_FLOOR_S, LAG_SHARE * job_s))


def request_goal(kind: str, job_s: float) -> float:
    return linode_cloud_requests(job_s) if kind == "capture" else POWER_MAX_REQUESTS


def used_mb_for(capture_s: float, timing: Timing) -> int:
    """The disk usage whose capture lasts ``capture_s`` emulated seconds with ``timing`` (rounded to a MB)."""
    if capture_s <= timing.capture_base_s:
        raise ValueError("a capture takes more than %g s (capture_base_s); got %g" % (timing.capture_base_s, capture_s))
    return int(round((capture_s - timing.capture_base_s) * timing.capture_mb_per_s))


# ---------------------------------------------------------------------------- fleet and playbook

def plan_jobs(sizes: list, runs: int, timing: Timing) -> tuple:
    """The fleet's Linodes and the jobs, in the order they run: per run, the captures by size, a shutdown, a boot."""
    linodes, captures = [], []
    for index, size in enumerate(sizes):
        used = used_mb_for(size, timing)
        key = "t%s" % ("%g" % size).replace(".", "_")
        capture = dict(kind="capture", size=size, job_s=timing.capture_s(used), used_mb=used, key=key,
                       linode_id=FIRST_LINODE_ID + index, disk_id=FIRST_DISK_ID + index)
        captures.append(capture)
        linodes.append(dict(
            id=capture["linode_id"], label="perf-capture-%s" % key, region="us-east", status="offline",
            disks=[dict(id=capture["disk_id"], label="Root Disk", filesystem="ext4", size=max(25088, used), used_mb=used,
                        status="ready")],
            configs=[dict(id=FIRST_CONFIG_ID + index, label="Boot Config", root_device="/dev/sda",
                          devices=dict(sda=capture["disk_id"]))]))
    linodes.append(dict(
        id=POWER_LINODE_ID, label="perf-power", region="us-east", status="running",
        disks=[dict(id=POWER_DISK_ID, label="Root Disk", filesystem="ext4", size=25088, used_mb=2000, status="ready")],
        configs=[dict(id=POWER_CONFIG_ID, label="Boot Config", root_device="/dev/sda", devices=dict(sda=POWER_DISK_ID))]))
    jobs = []
    for repeat in range(1, runs + 1):
        for capture in captures:
            jobs.append(dict(capture, repeat=repeat, name="capture_%s_r%d" % (capture["key"], repeat),
                             label="perf-%s-r%d" % (capture["key"], repeat)))
        jobs.append(dict(kind="shutdown", size=None, job_s=timing.shutdown_s, linode_id=POWER_LINODE_ID,
                         repeat=repeat, name="shutdown_r%d" % repeat))
        jobs.append(dict(kind="boot", size=None, job_s=timing.boot_s, linode_id=POWER_LINODE_ID,
                         repeat=repeat, name="boot_r%d" % repeat))
    return linodes, jobs


def write_fleet(path: str, linodes: list, captures: int) -> None:
    """No ``timing``, ``idealised`` or ``rate_limits`` key: the emulator's recorded-like defaults."""
    biggest = max(d["used_mb"] for linode in linodes for d in linode["disks"])
    fleet = dict(
        tokens=[dict(token="perf-token", scopes="*")],
        # Big disks must stay 10% under the image size limit, as on Linode.
        account=dict(image_size_limit_mb=max(6144, int(math.ceil(biggest / 0.9)) + 1),
                     image_count_limit=max(25, captures + 5)),
        linodes=linodes,
    )
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(fleet, handle, sort_keys=False)


def now_expr() -> str:
    return "{{ now().timestamp() }}"


def task_of(job: dict, speed: float) -> dict:
    # The module's default wait_timeout, or more for a job too long for it: a slow waiter is measured, not cut short.
    timeout = max(MODULE_WAIT_TIMEOUT_S[job["kind"]], int(2 * job["job_s"] / speed + TASK_SLACK_S))
    if job["kind"] == "capture":
        return {"golden_image.linode.linode_image_capture": dict(
            linode_id=job["linode_id"], disk_id=job["disk_id"], label=job["label"], wait=True, wait_timeout=timeout)}
    if job["kind"] == "shutdown":
        return {"golden_image.linode.linode_instance_power": dict(
            linode_id=job["linode_id"], state="stopped", remember=True, wait=True, wait_timeout=timeout)}
    return {"golden_image.linode.linode_instance_power": dict(
        linode_id=job["linode_id"], state="running", wait=True, wait_timeout=timeout)}


def write_playbook(path: str, jobs: list, speed: float, results_path: str) -> None:
    """Each job's task between two set_fact clock readings, its errors ignored (the result keeps ``failed`` and
    ``msg``); the results saved in any case.

    No ``poll_interval`` option is passed (an older collection may not have it): LINODE_POLL_INTERVAL is.
    """
    tasks = [
        # Two clock readings with nothing between them: the cost of the brackets themselves.
        dict(name="perf calibrate start", **{"ansible.builtin.set_fact": dict(perf_calibrate_start=now_expr())}),
        dict(name="perf calibrate end", **{"ansible.builtin.set_fact": dict(perf_calibrate_end=now_expr())}),
    ]
    saved = dict(calibrate=dict(start="{{ perf_calibrate_start | default('') }}",
                                end="{{ perf_calibrate_end | default('') }}"))
    for job in jobs:
        name = job["name"]
        tasks.append(dict(name="perf %s before" % name, **{"ansible.builtin.set_fact": {"perf_%s_start" % name: now_expr()}}))
        tasks.append(dict(name="perf %s" % name, register="perf_%s_result" % name, ignore_errors=True,
                          **task_of(job, speed)))
        tasks.append(dict(name="perf %s after" % name, **{"ansible.builtin.set_fact": {"perf_%s_end" % name: now_expr()}}))
        saved[name] = dict(start="{{ perf_%s_start | default('') }}" % name, end="{{ perf_%s_end | default('') }}" % name,
                           result="{{ perf_%s_result | default({}) }}" % name)
    save = dict(name="perf save results", vars=dict(perf_saved=saved),
                **{"ansible.builtin.copy": dict(content="{{ perf_saved | to_json }}", dest=results_path, mode="0600")})
    play = dict(name="Benchmark one job per task", hosts="localhost", connection="local", gather_facts=False,
                vars=dict(ansible_python_interpreter="{{ ansible_playbook_python }}"),
                tasks=[dict(name="perf jobs", block=tasks, always=[save])])
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump([play], handle, sort_keys=False, width=1000)


# ---------------------------------------------------------------------------- one series

def run_series(args, timing: Timing, workdir: str, collections: str) -> dict:
    """One emulator at ``args.speed``, one playbook with every job; the measurements."""
    linodes, jobs = plan_jobs(args.sizes, args.runs, timing)
    fleet_path = os.path.join(workdir, "fleet.yml")
    write_fleet(fleet_path, linodes, len(args.sizes) * args.runs)
    results_path = os.path.join(workdir, "results.json")
    playbook = os.path.join(workdir, "capture_one.yml")
    write_playbook(playbook, jobs, args.speed, results_path)
    poll_interval = "%g" % (DEFAULT_POLL_INTERVAL_S / args.speed)

    emulator = Emulator(fleet_path, args.speed, workdir, "emulator.log")
    load_before = os.getloadavg()[0]
    info = emulator.start()
    playbook_run = dict(returncode=None, output_tail="", timed_out=False)
    try:
        home = os.path.join(workdir, "ansible-home")
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_HOME=home,
            ANSIBLE_LOCAL_TEMP=os.path.join(home, "tmp"),
            ANSIBLE_REMOTE_TMP=os.path.join(home, "remote-tmp"),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_NOCOLOR="true",
            LINODE_TOKEN=info["token"], LINODE_API_URL=info["api_url"], LINODE_CA=info["ca_file"] or "",
            LINODE_POLL_INTERVAL=poll_interval,
        )
        env.pop("LINODE_API_TOKEN", None)
        timeout = sum(task_of(j, args.speed).popitem()[1]["wait_timeout"] + 30 for j in jobs) + 120
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", playbook]
        started = time.time()
        output = _run_playbook(command, env, workdir, timeout, playbook_run)
        playbook_s = time.time() - started
        if args.verbose or playbook_run["returncode"] != 0:
            sys.stderr.write(output)
        playbook_run["output_tail"] = "\n".join(output.splitlines()[-40:])
        log = emulator.control("requests")["requests"]
        state = emulator.control("state")
    finally:
        emulator.stop()
    saved = {}
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as handle:
            saved = json.load(handle)
    measured = []
    for job in jobs:
        if not (saved.get(job["name"]) or {}).get("end"):
            measured.append(dict(_job_fields(job, args.speed), error="no result: ansible-playbook %s before this task"
                                 % ("timed out" if playbook_run["timed_out"] else "exited %s" % playbook_run["returncode"])))
            continue
        try:
            measured.append(measure(job, args.speed, saved[job["name"]], log, state))
        except Exception as exc:  # pylint: disable=broad-except
            measured.append(dict(_job_fields(job, args.speed), error="measurement failed: %r" % exc))
    calibrate = None
    if (saved.get("calibrate") or {}).get("end"):
        calibrate = round(float(saved["calibrate"]["end"]) - float(saved["calibrate"]["start"]), 4)
    return dict(speed=args.speed, runs=args.runs, poll_interval=poll_interval, playbook_s=round(playbook_s, 1),
                playbook=playbook_run, set_fact_gap_s=calibrate,
                load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)], cpus=os.cpu_count(),
                jobs=measured, emulator_requests=len(log))


def _run_playbook(command: list, env: dict, cwd: str, timeout: float, outcome: dict) -> str:
    """ansible-playbook in its own session; on timeout its whole process group is killed (by its id)."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                               text=True, start_new_session=True)
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        outcome["timed_out"] = True
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
    outcome["returncode"] = process.returncode
    return output or ""


# ---------------------------------------------------------------------------- measurements

def _job_fields(job: dict, speed: float) -> dict:
    return dict(kind=job["kind"], name=job["name"], repeat=job["repeat"], size=job["size"], used_mb=job.get("used_mb"),
                job_s=job["job_s"], job_real_s=job["job_s"] / speed, speed=speed,
                request_goal=request_goal(job["kind"], job["job_s"]), lag_goal_s=lag_goal(job["job_s"]))


def _bare(path: str) -> str:
    """A log path without its API version prefix, so the old and new clients' paths compare."""
    return re.sub(r"^/v4(beta)?", "", path.split("?", 1)[0]).rstrip("/")


def _number(image_id) -> int | None:
    """N from ``private/N`` or from an integer id."""
    match = re.search(r"(\d+)$", str(image_id)) if image_id is not None else None
    return int(match.group(1)) if match else None


def _parse_created(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))
    except (TypeError, ValueError):
        return None


def measure(job: dict, speed: float, saved: dict, log: list, state: dict) -> dict:
    """The numbers of one job's task, from the request log, the emulator's events and the module's result."""
    start, end = float(saved["start"]), float(saved["end"])
    result = saved.get("result") or {}
    if not isinstance(result, dict):
        result = {"failed": True, "msg": "unreadable result: %r" % (result,)}
    out = _job_fields(job, speed)
    entries = [e for e in log if start <= e["time"] <= end]
    by_method, not_ok = {}, []
    for entry in entries:
        by_method[entry["method"]] = by_method.get(entry["method"], 0) + 1
        if not 200 <= entry["status"] < 300:
            query = "?" + entry["query"] if entry.get("query") else ""
            not_ok.append("%s %s%s %s" % (entry["method"], entry["path"], query, entry["status"]))
    module_requests = (result.get("api_requests") or {}).get("total")
    out.update(
        requests=len(entries), requests_by_method=by_method, not_2xx=not_ok,
        module_requests=module_requests, module_requests_by_method=result.get("api_requests"),
        wall_s=end - start, elapsed_s=result.get("elapsed_s"), changed=result.get("changed"),
        timeline=[[round(e["time"] - start, 3), e["method"], e["path"] + ("?" + e["query"] if e.get("query") else ""),
                   e["status"]] for e in entries],
    )
    if result.get("failed"):
        out["error"] = str(result.get("msg") or result.get("exception") or "failed without a message")[:2000]

    # The action that started the job (its path), the reads that can see its end, and its event's entity.
    if job["kind"] == "capture":
        image = next((i for i in state["images"] if i.get("label") == job["label"]), None)
        number = _number(image["id"]) if image else _number(((result.get("image") or {}).get("id")))
        out["image"] = image["id"] if image else None
        out["image_status"] = image.get("status") if image else None
        action_path = "/images"
        reads = re.compile(r"^/images(/private/%s|/%s)?$" % (number, number))
        candidates = [e for e in state["events"] if e["action"] == ACTIONS["capture"]
                      and _number((e.get("secondary_entity") or {}).get("id")) == number]
    else:
        action_path = "/linode/instances/%d/%s" % (job["linode_id"], job["kind"])
        reads = re.compile(r"^/linode/instances(/%d)?$" % job["linode_id"])
        candidates = [e for e in state["events"] if e["action"] == ACTIONS[job["kind"]]
                      and (e.get("entity") or {}).get("id") == job["linode_id"]]
        linode = next((i for i in state["linodes"] if i["id"] == job["linode_id"]), {})
        out["status_after_run"] = linode.get("status")
        out["module_status"] = result.get("status")
    actions = [e for e in entries if e["method"] == "POST" and _bare(e["path"]) == action_path]
    out["actions"] = len(actions)
    if not actions:
        out.setdefault("error", "no job was started by the task (no %s request)" % ACTIONS[job["kind"]])
        out["no_job"] = True
        return out
    sent = actions[0]
    # The job's event: created (whole seconds) within a second or two of the action's arrival.
    if job["kind"] != "capture":
        candidates = [e for e in candidates if _parse_created(e.get("created")) is not None
                      and abs(_parse_created(e["created"]) - sent["time"]) < 2.0]
    if not candidates:
        out.setdefault("error", "no %s event in the emulator's state for this job" % ACTIONS[job["kind"]])
        return out
    event = candidates[-1]
    out.update(event_id=event["id"], event_status=event["status"], event_duration_s=event.get("duration"),
               action_at_s=sent["time"] - start)
    if event["status"] != "finished" or event.get("duration") is None:
        out.setdefault("error", "the job's event is %s when the run ended" % event["status"])
        return out
    # The job starts while the action is handled, a ms or two after the log's arrival time: this end is
    # at most that early, which makes the lag look that much longer, never shorter.
    finished = sent["time"] + float(event["duration"])
    out.update(finished_at_s=finished - start, measured_job_s=float(event["duration"]) * speed)
    read_entries = [e for e in entries if e["method"] == "GET" and reads.match(_bare(e["path"]))]
    after = [e for e in read_entries if e["time"] >= finished]
    out["reads"] = len(read_entries)
    if not after:
        out.setdefault("error", "no read of the %s after the job ended (the module returned first)"
                       % ("image" if job["kind"] == "capture" else "instance"))
        return out
    seen = after[0]
    lag = seen["time"] - finished
    out.update(
        seen_at_s=seen["time"] - start, seen_request="%s %s" % (seen["method"], seen["path"]),
        lag_s=lag, lag_at_1_s=lag * speed, lag_share=lag * speed / out["measured_job_s"],
        lag_ok=lag * speed <= out["lag_goal_s"],
        reads_after_seen=len(after) - 1, requests_after_seen=len([e for e in entries if e["time"] > seen["time"]]),
        return_after_seen_s=end - seen["time"],
        reads_before_end=len([e for e in read_entries if e["time"] < finished]),
    )
    out["requests_ok"] = len(entries) <= out["request_goal"]
    return out


# ---------------------------------------------------------------------------- report

def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    return str(value)


def yes_no(ok) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def verdict(job: dict, ok) -> str:
    """yes/NO, or ``failed`` for a task that failed (its requests and lag say nothing about the goals)."""
    return "failed" if job.get("error") and ok is not False else yes_no(ok)


def table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def methods(counts: dict | None) -> str:
    return " ".join("%s %d" % (k, v) for k, v in sorted((counts or {}).items()) if k != "total") or "-"


def job_label(job: dict) -> str:
    if job["kind"] == "capture":
        label = "capture T=%g (%d MB)" % (job["size"], job["used_mb"])
    else:
        label = job["kind"]
    return label + (" r%d" % job["repeat"] if job.get("runs", 1) > 1 else "")


def report(series: dict, title: str, collection: str) -> str:
    speed = series["speed"]
    jobs = series["jobs"]
    for job in jobs:
        job["runs"] = series["runs"]
    out = ["### %s" % title, "",
           "Collection: %s. Emulator at speed %g with its recorded-like defaults; modules' LINODE_POLL_INTERVAL=%s "
           "(5 s / speed). ansible-playbook took %.0f s (exit %s%s); 1-minute load average %.2f before, %.2f after, "
           "on %s CPUs."
           % (collection, speed, series["poll_interval"], series["playbook_s"], series["playbook"]["returncode"],
              ", timed out" if series["playbook"]["timed_out"] else "", series["load_average"][0],
              series["load_average"][1], series["cpus"]), ""]
    if speed != 1:
        out += ["At speed %g every duration is divided by %g and so is the poll schedule; `lag at speed 1` is the "
                "real lag times %g, which also multiplies the request and module latencies (an overstatement)."
                % (speed, speed, speed), ""]
    out.append(table(
        ["job", "T (s)", "requests (log)", "module api_requests", "by method", "goal (requests)", "met",
         "lag (s)", "lag at speed 1 (s)", "goal (s)", "met", "module elapsed_s", "task wall (s)"],
        [[job_label(j), fmt(j.get("measured_job_s") or j["job_s"], 1), fmt(j.get("requests")),
          fmt(j.get("module_requests")) + ("" if j.get("module_requests") is None or j.get("module_requests") == j.get("requests")
                                           else " (differs)"),
          methods(j.get("requests_by_method")),
          "<= %s" % ("%g" % j["request_goal"] if j["kind"] != "capture" else "%.1f (6+T/10)" % j["request_goal"]),
          verdict(j, None if j.get("requests") is None else j["requests"] <= j["request_goal"]),
          fmt(j.get("lag_s"), 2), fmt(j.get("lag_at_1_s"), 2), fmt(j["lag_goal_s"], 1), verdict(j, j.get("lag_ok")),
          fmt(j.get("elapsed_s"), 1), fmt(j.get("wall_s"), 1)] for j in jobs]))
    problems = [j for j in jobs if j.get("error")]
    if problems:
        out += ["", "Failed or unmeasured:", ""]
        out += ["- **%s**: %s" % (job_label(j), j["error"].replace("\n", " ")) for j in problems]
    out += ["", "Requests of each task (seconds since the task's start bracket; `= end` marks the job's end in the "
            "emulator, `*` the request that first saw it):", ""]
    for job in jobs:
        out.append("- **%s**: %s" % (job_label(job), timeline_text(job)))
    notes = [j for j in jobs if j.get("not_2xx")]
    if notes:
        out += ["", "Answers other than 2xx:", ""]
        out += ["- **%s**: %s" % (job_label(j), "; ".join(j["not_2xx"])) for j in notes]
    return "\n".join(out)


def timeline_text(job: dict) -> str:
    items, marked = [], False
    finished = job.get("finished_at_s")
    for at, method, path, status in job.get("timeline") or []:
        if finished is not None and not marked and at >= finished:
            items.append("= end %.1f" % finished)
            marked = True
        star = "*" if job.get("seen_at_s") is not None and abs(at - job["seen_at_s"]) < 6e-4 else ""
        short = re.sub(r"^/v4(beta)?", "", path)
        items.append("%s%.1f %s %s%s" % (star, at, method, short, "" if 200 <= status < 300 else " **%s**" % status))
    if finished is not None and not marked:
        items.append("= end %.1f" % finished)
    return ", ".join(items) or "no request"


TITLE = "Capture, shutdown and boot, one task each, on the realistic emulator"


def timing_note(timing: dict, total_s: float) -> str:
    return ("Timing (emulator defaults, emulated seconds): shutdown %g, boot %g (%g of it scheduled), capture %g + "
            "used_mb / %g; events listed %g s after the request. Total %.0f s. linode.cloud's 6 + T/10 is a model, "
            "not a measurement." % (timing["shutdown_s"], timing["boot_s"], timing["boot_scheduled_s"],
                                    timing["capture_base_s"], timing["capture_mb_per_s"], timing["event_delay_s"], total_s))


def main() -> int:
    timing = Timing()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[],
                        help="more capture lengths T (emulated seconds) besides the reference %g, each over %g "
                             "(capture_base_s)" % (REFERENCE_CAPTURE_S, timing.capture_base_s))
    parser.add_argument("--speed", type=float, default=1.0,
                        help="emulator speed (default 1: real time); the modules get LINODE_POLL_INTERVAL=5/speed")
    parser.add_argument("--runs", type=int, default=1, help="how many times to run every job (default 1)")
    parser.add_argument("--collection-ref", metavar="REF",
                        help="measure the collection of this git commit (e.g. 75fe92c) instead of the work tree")
    parser.add_argument("--json", metavar="OUT", help="also write every number here as JSON")
    parser.add_argument("--report", metavar="JSON", help="run nothing: print the report of an earlier --json again")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (fleet, playbook, logs)")
    parser.add_argument("--verbose", action="store_true", help="show ansible-playbook's output")
    args = parser.parse_args()
    if args.report:
        with open(args.report, encoding="utf-8") as handle:
            document = json.load(handle)
        print(report(document["series"], TITLE, document["collection"]["label"]))
        print()
        print(timing_note(document["timing"], document["series"]["playbook_s"]))
        return 0
    if not args.speed > 0 or args.runs < 1:
        parser.error("--speed must be positive and --runs at least 1")
    sizes = [REFERENCE_CAPTURE_S] + [s for s in args.sizes if s != REFERENCE_CAPTURE_S]
    for size in sizes:
        if size <= timing.capture_base_s:
            parser.error("every capture length must be over %g s (capture_base_s); got %g" % (timing.capture_base_s, size))
    args.sizes = sizes
    collection = "the work tree"
    commit = None
    if args.collection_ref:
        commit = resolve_ref(args.collection_ref)
        collection = "git %s (%s)" % (args.collection_ref, commit[:10])

    workdir = tempfile.mkdtemp(prefix="capture-one-")
    try:
        collections = snapshot_collection(workdir, args.collection_ref)
        started = time.time()
        series = run_series(args, timing, workdir, collections)
        timing_used = dict(shutdown_s=timing.shutdown_s, boot_s=timing.boot_s, boot_scheduled_s=timing.boot_scheduled_s,
                           capture_base_s=timing.capture_base_s, capture_mb_per_s=timing.capture_mb_per_s,
                           event_delay_s=timing.event_delay_s)
        print(report(series, TITLE, collection))
        print()
        print(timing_note(timing_used, time.time() - started))
        if args.json:
            document = dict(
                collection=dict(ref=args.collection_ref, commit=commit, label=collection),
                goals=dict(lag_floor_s=LAG_FLOOR_S, lag_share=LAG_SHARE, lag_ceiling_s=LAG_CEILING_S,
                           capture_requests="6 + T/10", power_max_requests=POWER_MAX_REQUESTS),
                timing=timing_used, series=series)
            directory = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(directory, exist_ok=True)
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, sort_keys=True)
    finally:
        if args.keep:
            print("work directory kept: %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    # 1 when a task failed or could not be measured (the report says which and why).
    return 1 if any(j.get("error") for j in series["jobs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
