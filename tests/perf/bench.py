# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: this collection's capture playbook against linode.cloud, on the same emulated fleet.

    .venv/bin/python tests/perf/bench.py [--smoke] [--speed S] [--sizes N ...] [--contenders NAME ...]
                                         [--linode-cloud-up-to N] [--sliced N ...] [--slices K]
                                         [--profile FORMAT] [--json OUT] [--png OUT] [--keep] [--verbose] [--report JSON]

For every contender and every fleet size N (default 1, 10, 100, 500, 1000, linode.cloud up to 100; forks =
min(N, 50)) it starts a fresh Linode API emulator (one --speed for all runs, the documented rate limits on)
serving N running Linodes whose disks have mixed used sizes, captures every disk with the contender's
playbook, and measures: wall time; the ideal, max(critical path, request floor): the slowest host's shutdown
+ capture + boot (from the emulator's own events), and the least time the run's requests need under the
documented per-token limits; wall/ideal; API requests by endpoint and per host (the emulator's request log);
429 answers; failed hosts (play recap), and those whose failure names a 429; duplicate images; instances not
back in their power state; seconds to the first API request and after the last boot; controller CPU seconds
(user + sys of the ansible-playbook process trees), in total and per host.

``--sliced N`` (in a full run: 1000) also captures a fleet of N as ``--slices`` (4) ansible-playbook jobs
started together on one token and one emulator, each with its AWX slice of the inventory, and reports it as
one row beside the single job of N. ``--profile`` runs every ansible-playbook under py-spy.

Contenders, each in its own virtualenv:

- ``ours``: ``ansible-playbook golden_image.linode.capture`` from a private copy of the work tree,
  with this repository's .venv (the interpreter running this script);
- ``linode.cloud``: tests/perf/linode_cloud_capture.yml, when ``LINODE_CLOUD_COLLECTIONS`` (a
  collections path holding ansible_collections/linode/cloud) and ``LINODE_CLOUD_VENV`` (a venv with
  ansible-core and linode.cloud's requirements.txt) are set; otherwise it is skipped, and the report
  says why.

``--smoke`` runs N = 1 and 10 only, at a higher speed, ours only unless LINODE_CLOUD_COLLECTIONS is
set, in about two minutes, and exits non-zero when one of our correctness columns fails (failed hosts,
duplicate images, instances not back in their power state). See tests/perf/README.md.
"""

from __future__ import annotations

import argparse
import calendar
import collections
import json
import math
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import apishim  # noqa: E402  pylint: disable=wrong-import-position
import fleetgen  # noqa: E402  pylint: disable=wrong-import-position
from linode_emulator.fleet import RateLimits  # noqa: E402  pylint: disable=wrong-import-position
from linode_emulator.routes import ROUTES, Api  # noqa: E402  pylint: disable=wrong-import-position
from perfkit import GIT_TIMEOUT_S, Emulator, snapshot_collection  # noqa: E402  pylint: disable=wrong-import-position

OURS = "ours"
LINODE_CLOUD = "linode.cloud"
SIZES = (1, 10, 100, 500, 1000)
SMOKE_SIZES = (1, 10)
# linode.cloud runs up to this N unless --linode-cloud-up-to says otherwise: at 500 its run takes about an hour.
LINODE_CLOUD_MAX_N = 100
# The concurrent-slices mode: a fleet of N captured by SLICES ansible-playbook jobs at once, one token, one
# emulator, each job with its slice of the inventory (AWX's job slicing); in a full run, N = 1000.
SLICES = 4
SLICED_SIZES = (1000,)
MAX_FORKS = 50
# Host 1's chain, with the emulator's recorded durations, is 28 + (30 + 5400 / 3.2) + 24 = 1769 emulated seconds:
# 442 s real at speed 4, 44 s at the smoke's speed 40.
DEFAULT_SPEED = 4.0
SMOKE_SPEED = 40.0

# The goals of issue 12 for this collection (judged at the default speed, not with --smoke).
GOAL_RATIO = 1.3                    # wall/ideal at N = 500
GOAL_REQUESTS_PER_HOST = 7          # at N = 100, 500 and 1000
GOAL_REQUESTS_SIZES = (100, 500, 1000)
GOAL_FIRST_REQUEST_S = 10.0         # N = 500: from the start to the first API request
GOAL_AFTER_LAST_BOOT_S = 15.0       # N = 500: from the last boot's end to the end of the play
GOAL_CPU_PER_HOST_S = 0.25          # N = 500: controller CPU per host
# "Flat": requests per host never grow by more than this factor from one N to the next.
FLAT_FACTOR = 1.1

CHECK_TIMEOUT_S = 60
KILL_GRACE_S = 10
# A playbook may take this many times the modelled ideal, plus a fixed allowance, before it is killed.
PLAYBOOK_TIMEOUT_FACTOR = 8
PLAYBOOK_TIMEOUT_BASE_S = 600

TASK_LINE = re.compile(r"^TASK \[(.*?)\]", re.MULTILINE)
FATAL_LINE = re.compile(r"^fatal: \[(\S+)\]: (?:FAILED|UNREACHABLE)! => (.*)$", re.MULTILINE)
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                   r"(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?", re.MULTILINE)
POWER_PATH = re.compile(r"^/v4(?:beta)?/linode/instances/(\d+)/(shutdown|boot)$")
IMAGES_PATH = re.compile(r"^/v4(?:beta)?/images$")
ACTIONS = (("linode_shutdown", "shutdown"), ("disk_imagize", "capture"), ("linode_boot", "boot"))


# ---------------------------------------------------------------------------- set-up

def linode_cloud_setup() -> tuple:
    """(collections path, venv, None) when linode.cloud can run, else (None, None, the reason it is skipped)."""
    collections_path = os.environ.get("LINODE_CLOUD_COLLECTIONS")
    venv = os.environ.get("LINODE_CLOUD_VENV")
    if not collections_path:
        return None, None, "LINODE_CLOUD_COLLECTIONS is not set (a collections path holding ansible_collections/linode/cloud)"
    module = os.path.join(collections_path, "ansible_collections", "linode", "cloud", "plugins", "modules", "image.py")
    if not os.path.isfile(module):
        return None, None, "LINODE_CLOUD_COLLECTIONS=%s holds no ansible_collections/linode/cloud" % collections_path
    if not venv:
        return None, None, "LINODE_CLOUD_VENV is not set (a venv with ansible-core and linode.cloud's requirements.txt)"
    python = os.path.join(venv, "bin", "python")
    if not os.path.isfile(os.path.join(venv, "bin", "ansible-playbook")) or not os.path.isfile(python):
        return None, None, "LINODE_CLOUD_VENV=%s has no bin/ansible-playbook" % venv
    checked = subprocess.run([python, "-c", "import linode_api4, polling, ansible_specdoc"], capture_output=True, text=True,
                             timeout=CHECK_TIMEOUT_S, check=False)
    if checked.returncode != 0:
        return None, None, "LINODE_CLOUD_VENV=%s lacks linode.cloud's requirements: %s" % (
            venv, (checked.stderr.strip().splitlines() or ["?"])[-1])
    return collections_path, venv, None


def tool_version(python: str, code: str) -> str:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    return done.stdout.strip() or "?"


def collection_version(collections_path: str, namespace: str, name: str) -> str:
    for meta in ("MANIFEST.json", "galaxy.yml"):
        path = os.path.join(collections_path, "ansible_collections", namespace, name, meta)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle) if meta.endswith(".json") else yaml.safe_load(handle)
            version = (document.get("collection_info") or document).get("version")
            if version:
                return str(version)
    return "?"


# ---------------------------------------------------------------------------- emulator

# ---------------------------------------------------------------------------- one run

def descendants(root: int) -> dict:
    """pid -> start time (clock ticks after boot) of every process below ``root``, from /proc (empty without it)."""
    children = collections.defaultdict(list)
    started = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                # pid (comm) state ppid ... starttime: comm may hold spaces and parentheses, so split after the last ')'.
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children[int(fields[1])].append(int(entry))
        started[int(entry)] = fields[19]
    found = {}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found[child] = started[child]
                pending.append(child)
    return found


def signal_known(processes: dict, sent: int) -> None:
    """Send ``sent`` to each of ``processes`` (pid -> start time) that is still that same process."""
    for pid, started in processes.items():
        try:
            with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
                if handle.read().rsplit(")", 1)[1].split()[19] != started:
                    continue
            os.kill(pid, sent)
        except (OSError, IndexError):
            continue


def stop_group(process) -> int:
    """Stop a process started in its own session, with its process group and every process below it.

    Ansible's workers call setsid(), so they are outside the playbook's group: they are found in /proc
    (before each signal) and, should they outlive the playbook, killed after it.
    """
    tree = {}
    for sent in (signal.SIGTERM, signal.SIGKILL):
        tree.update(descendants(process.pid))
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            pass
        signal_known(tree, sent)
        try:
            returncode = process.wait(KILL_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        returncode = process.wait(KILL_GRACE_S)
    signal_known(tree, signal.SIGKILL)
    return returncode


def run_playbooks(commands: list, env: dict, run_dir: str, timeout: float) -> dict:
    """Run ``commands`` side by side, each in its own session; wall time, CPU of their process trees, exit codes, output.

    One command is one job; several are concurrent jobs (the slices of a sliced job), started together.
    Wall time runs from the first start to the last end; the CPU is the sum over every process tree
    (``getrusage(RUSAGE_CHILDREN)`` before and after); each job is killed ``timeout`` s after its start.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    jobs = []
    try:
        for index, command in enumerate(commands):
            name = "ansible-playbook.log" if len(commands) == 1 else "ansible-playbook-%d.log" % (index + 1)
            output = open(os.path.join(run_dir, name), "w", encoding="utf-8")  # pylint: disable=consider-using-with
            started = time.time()
            process = subprocess.Popen(command, env=env, cwd=run_dir, stdout=output, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                       start_new_session=True)
            jobs.append(dict(process=process, output=output, output_path=output.name, start=started, timed_out=False))
        for job in jobs:
            try:
                job["returncode"] = job["process"].wait(max(0.0, job["start"] + timeout - time.time()))
            except subprocess.TimeoutExpired:
                job["timed_out"] = True
                job["returncode"] = stop_group(job["process"])
            job["end"] = time.time()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): take the playbooks down with us.
        for job in jobs:
            if job["process"].poll() is None:
                stop_group(job["process"])
        raise
    finally:
        for job in jobs:
            job["output"].close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    texts = []
    for job in jobs:
        with open(job["output_path"], encoding="utf-8", errors="replace") as output:
            texts.append(output.read())
    # A job's end is when its wait returned: for all but the first to end, later than its real end by at most
    # the time spent waiting on the jobs before it; the last end (the wall time) is exact.
    started, ended = min(job["start"] for job in jobs), max(job["end"] for job in jobs)
    return dict(start=started, end=ended, wall_s=ended - started, returncode=max(job["returncode"] for job in jobs),
                timed_out=any(job["timed_out"] for job in jobs),
                cpu_user_s=after.ru_utime - before.ru_utime, cpu_sys_s=after.ru_stime - before.ru_stime,
                cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                output="\n".join(texts), output_path=jobs[0]["output_path"], slices=len(jobs),
                jobs=[dict(start_s=job["start"] - started, wall_s=job["end"] - job["start"], returncode=job["returncode"],
                           timed_out=job["timed_out"], output_path=job["output_path"]) for job in jobs])


def slice_of(labels: list, number: int, count: int) -> list:
    """Slice ``number`` (1-based) of ``count``, as AWX slices a job's inventory: the hosts ordered by name, strided."""
    return sorted(labels)[number - 1::count]


def sliced_inventory(inventory: dict, number: int, count: int) -> dict:
    """``inventory`` (fleetgen's) cut down to one slice of its hosts."""
    hosts = inventory["linodes"]["hosts"]
    kept = slice_of(list(hosts), number, count)
    return dict(inventory, linodes={"hosts": dict((label, hosts[label]) for label in kept)})


def py_spy_command(profile: dict, run_dir: str, label: str) -> tuple:
    """The py-spy prefix for one ansible-playbook run, and the file it writes."""
    suffix = {"flamegraph": ".svg", "speedscope": ".speedscope.json", "raw": ".txt"}[profile["format"]]
    path = os.path.join(profile["dir"], label + suffix)
    prefix = [profile["py_spy"], "record", "--subprocesses", "--nonblocking", "--rate", str(profile["rate"]),
              "--format", profile["format"], "--output", path, "--"]
    return prefix, path


def run_one(contender: dict, count: int, speed: float, workdir: str, verbose: bool, slices: int = 1,
            profile: dict | None = None) -> dict:
    """One fresh emulator, one playbook run of ``contender`` over ``count`` hosts (or ``slices`` concurrent jobs), measured."""
    name = contender["name"]
    label = "%s-%d" % (name, count) if slices == 1 else "%s-%dx%d" % (name, slices, count // slices)
    run_dir = os.path.join(workdir, label)
    os.makedirs(run_dir)
    fleet_path = os.path.join(run_dir, "fleet.yml")
    fleetgen.write_yaml(fleet_path, fleetgen.fleet(count))
    inventory = fleetgen.inventory(count)
    inventory_paths = []
    for number in range(1, slices + 1):
        path = os.path.join(run_dir, "inventory.yml" if slices == 1 else "inventory-%d.yml" % number)
        fleetgen.write_yaml(path, inventory if slices == 1 else sliced_inventory(inventory, number, slices))
        inventory_paths.append(path)
    hosts = fleetgen.hosts(count)
    # Each job's forks: the job template's, min(its hosts, MAX_FORKS).
    forks = min(-(-count // slices), MAX_FORKS)
    ideal_model = max(fleetgen.model_chain_s(h["used_mb"]) for h in hosts) / speed
    timeout = PLAYBOOK_TIMEOUT_BASE_S + PLAYBOOK_TIMEOUT_FACTOR * ideal_model

    emulator = Emulator(fleet_path, speed, run_dir)
    shim = None
    load_before = os.getloadavg()[0]
    try:
        info = emulator.start()
        env = dict(os.environ)
        for variable in ("LINODE_API_TOKEN", "LINODE_API_URL", "LINODE_API_VERSION", "LINODE_CA", "LINODE_UA_PREFIX",
                         "ANSIBLE_CONFIG", "ANSIBLE_INVENTORY", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_STDOUT_CALLBACK"):
            env.pop(variable, None)
        env.update(
            ANSIBLE_HOME=os.path.join(run_dir, "ansible-home"),
            ANSIBLE_LOCAL_TEMP=os.path.join(run_dir, "ansible-home", "tmp"),
            ANSIBLE_REMOTE_TMP=os.path.join(run_dir, "ansible-home", "remote-tmp"),
            ANSIBLE_NOCOLOR="true",
            ANSIBLE_FORCE_COLOR="false",
            ANSIBLE_HOST_KEY_CHECKING="false",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            LINODE_TOKEN=info["token"],
        )
        if name == OURS:
            # Our modules' real-world poll schedule (5 s at first), in the emulator's compressed time.
            env.update(ANSIBLE_COLLECTIONS_PATH=contender["collections"], LINODE_API_URL=info["api_url"],
                       LINODE_CA=info["ca_file"] or "", LINODE_POLL_INTERVAL="%g" % (5.0 / speed))
            commands = [[os.path.join(contender["venv"], "bin", "ansible-playbook"), "-i", path,
                         "golden_image.linode.capture", "-f", str(forks)] for path in inventory_paths]
        else:
            api_root = info["url"]
            # linode.cloud reads GET /linode/instances/{id}/ips after every instance call; when the emulator
            # does not serve it, the shim does (see apishim.py) and passes everything else through.
            if not emulator.serves("/linode/instances/%d/ips" % hosts[0]["linode_id"]):
                shim = apishim.ApiShim(info["url"], info["ca_file"], os.path.join(emulator.state_dir, "server.pem"),
                                       os.path.join(emulator.state_dir, "server-key.pem"), emulator.control("state")["linodes"])
                api_root = shim.start()
            # A clean log and fresh rate-limit windows after the probe.
            emulator.control("reset", method="POST")
            env.update(ANSIBLE_COLLECTIONS_PATH=contender["collections"])
            commands = [[os.path.join(contender["venv"], "bin", "ansible-playbook"), "-i", path,
                         os.path.join(HERE, "linode_cloud_capture.yml"), "-f", str(forks),
                         "-e", json.dumps({"linode_cloud_api_url": api_root + "/", "linode_cloud_ca_path": info["ca_file"]})]
                        for path in inventory_paths]
        profiles = []
        if profile:
            for index, command in enumerate(commands):
                prefix, path = py_spy_command(profile, run_dir, label if slices == 1 else "%s-slice%d" % (label, index + 1))
                commands[index] = prefix + command
                profiles.append(path)
        played = run_playbooks(commands, env, run_dir, timeout)
        log = emulator.control("requests")["requests"]
        state = emulator.control("state")
        # Kept with the playbook output when the work directory is (--keep, or a faulty run).
        for filename, document in (("requests.json", log), ("state.json", state)):
            with open(os.path.join(run_dir, filename), "w", encoding="utf-8") as handle:
                json.dump(document, handle)
        shim_log = shim.requests() if shim is not None else []
    finally:
        if shim is not None:
            shim.stop()
        emulator.stop()
    if verbose or played["returncode"] not in (0, 2) or played["timed_out"]:
        sys.stderr.write(played["output"][-20000:])
    result = measure(name, count, forks, speed, hosts, played, log, shim_log, state)
    result.update(command=" ".join(shlex.quote(part) for part in commands[0]), ideal_model_s=ideal_model, timeout_s=timeout,
                  load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)], shim_used=shim is not None,
                  run_dir=run_dir, profiles=profiles)
    return result


# ---------------------------------------------------------------------------- measurements

def fold(path: str) -> str:
    """An endpoint with its ids folded: /v4/linode/instances/1001/disks -> /linode/instances/N/disks."""
    path = re.sub(r"^/v4(?:beta)?", "", path)
    return re.sub(r"/private/\d+", "/private/N", re.sub(r"/\d+(?=/|$)", "/N", path))


def epoch(stamp: str) -> float:
    """Linode's ``2018-01-01T00:01:01`` (UTC, whole seconds) as epoch seconds."""
    return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))


def operation_of(method: str, path: str):
    """The emulator's rate-limit operation for a logged request (its route's), or None for a path it does not route."""
    sub = Api.strip_prefix(path)
    if sub is None:
        return None
    for route in ROUTES:
        if route.method == method and route.pattern.match(sub):
            return route.operation
    return None


# Answers that do not count against the limits: refused by the limiter itself, or before it (token, scopes).
UNCOUNTED_STATUSES = (401, 403, 429)


def request_floor(log: list, speed: float, limits: RateLimits = RateLimits()) -> dict:
    """The least time in which the run's counted requests fit the documented per-token limits, at ``speed``.

    Each limit is a sliding window of L requests per W seconds (W divided by the speed, as the emulator
    does): m requests that count against it need at least (ceil(m / L) - 1) x W, the first L at once and
    L more each time the window has slid by W. The floor is the largest of these over the limits the
    requests meet (overall, each operation, paginated lists, GET /images): no schedule of these requests,
    in any order, is faster; with the limits nested as they are, sending each kind as soon as a slot
    frees reaches it. 429s, 401s and 403s are left out (they do not count), as are paths with no route.
    """
    minute, two_minutes = 60.0 / speed, 120.0 / speed
    buckets = collections.Counter()
    for entry in log:
        if entry["status"] in UNCOUNTED_STATUSES:
            continue
        operation = operation_of(entry["method"], entry["path"])
        if operation is None:
            continue
        buckets["overall"] += 1
        buckets["op " + operation.name] += 1
        if operation.is_list:
            buckets["paginated lists"] += 1
        if operation.is_list_images:
            buckets["GET /images"] += 1
    floors = {}
    for bucket, count in buckets.items():
        if bucket == "overall":
            limit, window = limits.overall_per_2min, two_minutes
        elif bucket == "paginated lists":
            limit, window = limits.list_per_min, minute
        elif bucket == "GET /images":
            limit, window = limits.list_images_per_min, minute
        else:
            limit, window = limits.per_operation_per_min, minute
        floors[bucket] = dict(requests=count, limit=limit, window_s=window, floor_s=(math.ceil(count / float(limit)) - 1) * window)
    if not floors:
        return dict(floor_s=0.0, bucket=None, buckets={})
    binding = max(sorted(floors), key=lambda b: floors[b]["floor_s"])
    return dict(floor_s=floors[binding]["floor_s"], bucket=binding, buckets=floors)


def event_starts(events: list, log: list) -> dict:
    """Event id -> the precise start time: the arrival of the POST that started it (the event's ``created`` is whole seconds).

    Power events match the 200 POST on their instance in the same second, captures the 200 ``POST /images``
    of that second in order; an event with no match keeps its ``created`` time.
    """
    power = collections.defaultdict(list)
    captures = []
    for entry in log:
        if entry["method"] != "POST" or entry["status"] != 200:
            continue
        found = POWER_PATH.match(entry["path"])
        if found:
            power[(int(found.group(1)), found.group(2))].append(entry["time"])
        elif IMAGES_PATH.match(entry["path"]):
            captures.append(entry["time"])
    starts = {}
    for event in sorted(events, key=lambda e: e["id"]):
        created = epoch(event["created"])
        if event["action"] == "disk_imagize":
            pool = captures
        elif event["action"] in ("linode_shutdown", "linode_boot"):
            pool = power[(event["entity"]["id"], event["action"].split("_", 1)[1])]
        else:
            continue
        # The job starts while its POST is handled: in the same whole second as the POST's arrival, or just after.
        matches = [t for t in pool if created - 1.0 <= t < created + 1.0]
        if matches:
            chosen = min(matches)
            pool.remove(chosen)
            starts[event["id"]] = chosen
        else:
            starts[event["id"]] = created
    return starts


# A host's line of the image_capture role's table (a JSON string of the debug task's list): its result and
# reason. Ours prints a reason there only; its fatal line points at it.
TABLE_LINE = re.compile(r'^\s*"(\S+) .*?  ((?:would )?(?:failed|refused|fail|refuse): .*)",?$')


def table_reasons(output: str) -> dict:
    """host -> 'result: reason' from the role's table (the last one printed), for hosts refused or failed."""
    reasons = {}
    for line in output.splitlines():
        found = TABLE_LINE.match(line)
        if found:
            try:
                reasons[found.group(1)] = json.loads('"%s"' % found.group(2))
            except ValueError:
                reasons[found.group(1)] = found.group(2)
    return reasons


def fatal_messages(output: str) -> list:
    """(task, host, message) of every fatal line, the message taken from the role's table when the line points there."""
    table = table_reasons(output)
    found_all, task = [], "?"
    for line in output.splitlines():
        found = TASK_LINE.match(line)
        if found:
            task = found.group(1)
            continue
        found = FATAL_LINE.match(line)
        if found:
            try:
                message = json.loads(found.group(2)).get("msg", found.group(2))
            except ValueError:
                message = found.group(2)
            found_all.append((task, found.group(1), table.get(found.group(1), str(message))))
    return found_all


def failure_reasons(output: str) -> dict:
    """'task: message' (ids, labels and numbers folded) -> how many hosts failed so, from the playbook's output."""
    reasons = collections.Counter()
    for task, _host, message in fatal_messages(output):
        message = re.sub(r"\d+", "N", re.sub(r"bench-\d+", "HOST", message))[:200]
        reasons["%s: %s" % (task, message)] += 1
    return dict(reasons)


RATE_LIMITED = re.compile(r"\b429\b|Too many requests", re.IGNORECASE)


def failed_by_429(output: str) -> list:
    """Hosts whose failure message (a ``fatal:`` line, or the role's table line it points at) names a 429."""
    return sorted(set(host for _task, host, message in fatal_messages(output) if RATE_LIMITED.search(message)))


def measure(name: str, count: int, forks: int, speed: float, hosts: list, played: dict, log: list, shim_log: list,
            state: dict) -> dict:
    by_label = dict((h["label"], h) for h in hosts)
    by_id = dict((h["linode_id"], h) for h in hosts)
    every = sorted(log + [dict(entry, shim=True) for entry in shim_log], key=lambda e: e["time"])

    endpoints = collections.Counter("%s %s" % (e["method"], fold(e["path"])) for e in every)
    statuses = collections.Counter(e["status"] for e in every)

    # Failed hosts: the play recap, and every host missing from it (the run was killed, or never reached it).
    recap = dict((m.group(1), dict(failed=int(m.group(5)), unreachable=int(m.group(4))))
                 for m in RECAP.finditer(played["output"]))
    failed = sorted(label for label in by_label if label not in recap or recap[label]["failed"] or recap[label]["unreachable"])

    # Images: one per host. A duplicate is a second image with a host's label, or from the same instance.
    images = dict((image["id"], image) for image in state.get("images", []))
    from_instance = collections.defaultdict(set)
    for event in state.get("events", []):
        secondary = event.get("secondary_entity") or {}
        if event["action"] == "disk_imagize" and secondary.get("id") in images:
            from_instance[event["entity"]["id"]].add(secondary["id"])
    duplicates = 0
    without_image = []
    for host in hosts:
        labelled = set(i for i, image in images.items() if image.get("label") == host["label"])
        mine = labelled | from_instance.get(host["linode_id"], set())
        duplicates += max(0, len(mine) - 1)
        if not any(images[i].get("status") == "available" for i in mine):
            without_image.append(host["label"])

    # Power: each instance in the state it had when the fleet started.
    power = dict((linode["id"], linode["status"]) for linode in state.get("linodes", []))
    not_restored = sorted(by_id[i]["label"] for i in by_id if power.get(i) != by_id[i]["status"])

    # The ideal: the slowest host's shutdown + capture + boot, each the emulator's event duration (real s).
    events = [e for e in state.get("events", []) if e["action"] in dict(ACTIONS) and e["entity"].get("id") in by_id]
    starts = event_starts(events, log)
    chains = {}
    modelled_steps = 0
    phases = {}
    for action, step in ACTIONS:
        finished = [e for e in events if e["action"] == action and e.get("status") == "finished" and e.get("duration") is not None]
        if finished:
            phases[step] = dict(
                events=len(finished),
                first_start_s=min(starts[e["id"]] for e in finished) - played["start"],
                last_start_s=max(starts[e["id"]] for e in finished) - played["start"],
                first_end_s=min(starts[e["id"]] + e["duration"] for e in finished) - played["start"],
                last_end_s=max(starts[e["id"]] + e["duration"] for e in finished) - played["start"],
                min_duration_s=min(e["duration"] for e in finished), max_duration_s=max(e["duration"] for e in finished))
    for host in hosts:
        total = 0.0
        for action, step in ACTIONS:
            durations = [e["duration"] for e in events if e["entity"]["id"] == host["linode_id"] and e["action"] == action
                         and e.get("status") == "finished" and e.get("duration") is not None]
            if durations:
                total += durations[-1]
            else:
                modelled_steps += 1
                timing = fleetgen.TIMING
                emulated = {"shutdown": timing["shutdown_s"], "capture": fleetgen.capture_s(host["used_mb"]),
                            "boot": timing["boot_s"]}[step]
                total += emulated / speed
        chains[host["label"]] = total
    critical_path = max(chains.values())
    critical = max(chains, key=chains.get)
    floor = request_floor(log, speed)
    ideal = max(critical_path, floor["floor_s"])
    api = [e for e in every if not e.get("shim")]
    boots = phases.get("boot")
    rate_limited = failed_by_429(played["output"])
    return dict(
        contender=name, n=count, forks=forks, speed=speed, slices=played.get("slices", 1),
        wall_s=played["wall_s"], ideal_s=ideal, ratio=played["wall_s"] / ideal, critical_host=critical,
        critical_path_s=critical_path, request_floor_s=floor["floor_s"], request_floor_bucket=floor["bucket"],
        request_floor_buckets=floor["buckets"],
        ideal_modelled_steps=modelled_steps,
        requests=len(every), requests_per_host=len(every) / float(count), requests_by_endpoint=dict(endpoints),
        requests_by_status=dict((str(k), v) for k, v in statuses.items()), shim_requests=len(shim_log),
        answers_429=statuses.get(429, 0),
        failed_hosts=len(failed), failed=failed[:20], failure_reasons=failure_reasons(played["output"]), duplicates=duplicates,
        failed_by_429=len(rate_limited), failed_by_429_hosts=rate_limited[:20],
        hosts_without_image=len(without_image), without_image=without_image[:20],
        not_restored=len(not_restored), not_restored_hosts=not_restored[:20],
        images=len(images),
        cpu_s=played["cpu_s"], cpu_user_s=played["cpu_user_s"], cpu_sys_s=played["cpu_sys_s"],
        cpu_per_host_s=played["cpu_s"] / float(count),
        returncode=played["returncode"], timed_out=played["timed_out"],
        first_request_s=(api[0]["time"] - played["start"]) if api else None,
        last_request_s=(api[-1]["time"] - played["start"]) if api else None,
        after_last_boot_s=(played["wall_s"] - boots["last_end_s"]) if boots else None,
        phases=phases,
        jobs=played.get("jobs", []),
    )


# ---------------------------------------------------------------------------- report

def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    return str(value)


def table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


COLUMNS = (
    # key, header, digits
    ("wall_s", "wall (s)", 1),
    ("critical_path_s", "critical path (s)", 1),
    ("request_floor_s", "request floor (s)", 1),
    ("ideal_s", "ideal (s)", 1),
    ("ratio", "wall/ideal", 2),
    ("requests", "API requests", 0),
    ("requests_per_host", "requests/host", 1),
    ("answers_429", "429s", 0),
    ("failed_hosts", "failed hosts", 0),
    ("failed_by_429", "failed by a 429", 0),
    ("duplicates", "duplicate images", 0),
    ("hosts_without_image", "hosts without image", 0),
    ("not_restored", "not back in power state", 0),
    ("first_request_s", "1st request (s)", 1),
    ("after_last_boot_s", "after last boot (s)", 1),
    ("cpu_s", "controller CPU (s)", 1),
    ("cpu_per_host_s", "CPU/host (s)", 2),
)
# The columns where the contenders are compared ("ahead"): all but the ideal, which is the world's, not theirs.
COMPARED = ("wall_s", "ratio", "requests", "requests_per_host", "answers_429", "failed_hosts", "duplicates", "hosts_without_image",
            "not_restored", "cpu_s")
CORRECTNESS = ("failed_hosts", "duplicates", "hosts_without_image", "not_restored")


def jobs_of(run: dict) -> str:
    """``1``, or ``4 at once`` for concurrent slices."""
    return "1" if run.get("slices", 1) == 1 else "%d at once" % run["slices"]


def whole(runs: list) -> list:
    """The runs of one job each (not the concurrent slices)."""
    return [r for r in runs if r.get("slices", 1) == 1]


def main_table(runs: list) -> str:
    rows = []
    for run in runs:
        cells = [run["contender"], str(run["n"]), jobs_of(run), str(run["forks"])]
        for key, header, digits in COLUMNS:
            value = run.get(key)
            cells.append(fmt(value, digits) if digits or value is None else str(int(value)))
        rows.append(cells)
    return table(["contender", "N", "jobs", "forks"] + [header for key, header, digits in COLUMNS], rows)


def floor_line(run: dict) -> str:
    """Which limit sets a run's request floor, and how many requests met it."""
    bucket = run.get("request_floor_bucket")
    if not bucket:
        return "%s N=%d: no counted request" % (run["contender"], run["n"])
    detail = run["request_floor_buckets"][bucket]
    return "%s N=%d (%s): %.1f s, %s: %d requests at %d per %g s" % (
        run["contender"], run["n"], "1 job" if run.get("slices", 1) == 1 else "%d jobs" % run["slices"], run["request_floor_s"],
        bucket, detail["requests"], detail["limit"], detail["window_s"])


def endpoint_table(runs: list, contender: str) -> str:
    mine = [r for r in runs if r["contender"] == contender]
    if not mine:
        return ""
    endpoints = sorted(set(k for r in mine for k in r["requests_by_endpoint"]),
                       key=lambda k: (-max(r["requests_by_endpoint"].get(k, 0) / float(r["n"]) for r in mine), k))
    rows = []
    for endpoint in endpoints:
        cells = [endpoint]
        for run in mine:
            count = run["requests_by_endpoint"].get(endpoint, 0)
            cells.append("%d (%.1f/host)" % (count, count / float(run["n"])) if count else "-")
        rows.append(cells)
    return table(["%s: endpoint" % contender] + ["N=%d" % r["n"] + ("" if r.get("slices", 1) == 1 else " (%d jobs)" % r["slices"])
                                                 for r in mine], rows)


def phase_table(runs: list) -> str:
    rows = []
    for run in runs:
        cells = [run["contender"], str(run["n"]), jobs_of(run), fmt(run["first_request_s"], 1)]
        for step in ("shutdown", "capture", "boot"):
            phase = run["phases"].get(step)
            cells.append("%.1f-%.1f / %.1f-%.1f" % (phase["first_start_s"], phase["last_start_s"], phase["first_end_s"],
                                                    phase["last_end_s"]) if phase else "-")
        last = run["phases"].get("boot")
        cells.append(fmt(run["wall_s"] - last["last_end_s"], 1) if last else "-")
        rows.append(cells)
    return table(["contender", "N", "jobs", "1st request (s)", "shutdowns started / ended (s)", "captures started / ended (s)",
                  "boots started / ended (s)", "after last boot (s)"], rows)


def goals(runs: list, sizes: list, judged: bool = True) -> list:
    """The issue's goals, each (text, met: True/False/None, evidence).

    ``judged`` False (--smoke, another --speed): the goals about time and CPU are shown, not judged.
    Correctness (no failed host, no duplicate, every instance back, no host failed by a 429) is judged always.
    """
    ours = dict((r["n"], r) for r in whole(runs) if r["contender"] == OURS)
    theirs = dict((r["n"], r) for r in whole(runs) if r["contender"] == LINODE_CLOUD)
    sliced = [r for r in runs if r["contender"] == OURS and r.get("slices", 1) > 1]
    out = []

    def judge(condition):
        return condition if judged else None

    for count in sorted(ours):
        run = ours[count]
        if count == max(ours) or count == 1000:
            out.append(("ours at N=%d: 0 failed hosts, 0 duplicates, every instance back, no host failed by a 429" % count,
                        not any(run.get(key) for key in CORRECTNESS + ("failed_by_429",)),
                        "%d failed (%d by a 429), %d duplicates, %d without image, %d not back" % (
                            run["failed_hosts"], run.get("failed_by_429", 0), run["duplicates"], run["hosts_without_image"],
                            run["not_restored"])))
        if count in GOAL_REQUESTS_SIZES:
            out.append(("ours at N=%d: at most %d API requests per host" % (count, GOAL_REQUESTS_PER_HOST),
                        judge(run["requests_per_host"] <= GOAL_REQUESTS_PER_HOST), "%.2f" % run["requests_per_host"]))
        if count == 500:
            out.append(("ours at N=500: wall <= %g x ideal" % GOAL_RATIO, judge(run["ratio"] <= GOAL_RATIO),
                        "%.2f (%.1f s / %.1f s: critical path %.1f s, request floor %.1f s)" % (
                            run["ratio"], run["wall_s"], run["ideal_s"], run["critical_path_s"], run["request_floor_s"])))
            first = run.get("first_request_s")
            out.append(("ours at N=500: first API request within %g s of the start" % GOAL_FIRST_REQUEST_S,
                        judge(first is not None and first <= GOAL_FIRST_REQUEST_S), fmt(first, 1) + " s"))
            after = run.get("after_last_boot_s")
            out.append(("ours at N=500: end of the play within %g s of the last boot" % GOAL_AFTER_LAST_BOOT_S,
                        judge(after is not None and after <= GOAL_AFTER_LAST_BOOT_S), fmt(after, 1) + " s"))
            out.append(("ours at N=500: controller CPU <= %g s per host" % GOAL_CPU_PER_HOST_S,
                        judge(run["cpu_per_host_s"] <= GOAL_CPU_PER_HOST_S), "%.2f s (%.1f s)" % (run["cpu_per_host_s"], run["cpu_s"])))
    if 1 in ours and 1 in theirs:
        out.append(("ours at N=1: controller CPU no more than linode.cloud's", judge(ours[1]["cpu_s"] <= theirs[1]["cpu_s"]),
                    "%.1f s against %.1f s" % (ours[1]["cpu_s"], theirs[1]["cpu_s"])))
    for run in sliced:
        alone = ours.get(run["n"])
        out.append(("ours, %d concurrent slices of N=%d on one token: 0 failed hosts, 0 duplicates, every host imaged, every "
                    "instance back, no host failed by a 429" % (run["slices"], run["n"]),
                    not any(run.get(key) for key in CORRECTNESS + ("failed_by_429",)),
                    "%d failed (%d by a 429), %d duplicates, %d without image, %d not back; %d 429 answers; wall %.1f s%s" % (
                        run["failed_hosts"], run.get("failed_by_429", 0), run["duplicates"], run["hosts_without_image"],
                        run["not_restored"], run["answers_429"], run["wall_s"],
                        ", one job of %d: %.1f s" % (alone["n"], alone["wall_s"]) if alone else "")))
    series = [ours[n] for n in sorted(ours)]
    if len(series) > 1:
        grows = [(a["n"], b["n"]) for a, b in zip(series, series[1:]) if b["requests_per_host"] > FLAT_FACTOR * a["requests_per_host"]]
        out.append(("ours: requests per host flat as N grows (never up by more than %d%% from one N to the next)"
                    % round(100 * (FLAT_FACTOR - 1)), not grows,
                    ", ".join("N=%d: %.2f" % (r["n"], r["requests_per_host"]) for r in series)))
    if theirs:
        for count in sorted(theirs):
            if count not in ours:
                continue
            behind = [key for key in COMPARED if ours[count][key] > theirs[count][key]
                      or (ours[count][key] == theirs[count][key] and key not in CORRECTNESS + ("answers_429",))]
            out.append(("ours ahead of linode.cloud on every column at N=%d" % count, not behind,
                        "not ahead on: %s" % ", ".join(behind) if behind else "ahead (or both 0) everywhere"))
        failing = ["N=%d: %d failed hosts, %d 429s" % (n, theirs[n]["failed_hosts"], theirs[n]["answers_429"])
                   for n in sorted(theirs) if theirs[n]["failed_hosts"]]
        out.append(("where linode.cloud fails hosts under the rate limits, the table shows it", None,
                    "; ".join(failing) if failing else "linode.cloud failed no host"))
    else:
        out.append(("ours ahead of linode.cloud on every column", None, "not measured: linode.cloud was skipped"))
    return out


def ordered(contenders: dict) -> list:
    """(name, contender) pairs, ours first."""
    return sorted(contenders.items(), key=lambda item: (item[0] != OURS, item[0]))


def report(document: dict) -> str:
    runs = document["runs"]
    out = ["Emulator speed %g (every duration, rate-limit window and Retry-After divided by it), documented rate limits on, "
           "a fresh emulator per run; forks = min(N, %d) a job. Ideal = max(critical path, request floor): the slowest host's "
           "shutdown + capture + boot, and the least time the run's counted requests need under the documented per-token "
           "limits (800 per 2 min, 400 per operation per min, 200 paginated lists per min, 20 GET /images per min). "
           "\"%d at once\": %d ansible-playbook jobs started together on one token and one emulator, each with its AWX slice "
           "of the inventory (hosts by name, every %dth)." % (document["speed"], MAX_FORKS, SLICES, SLICES, SLICES), ""]
    for name, contender in ordered(document["contenders"]):
        if contender.get("skipped"):
            out.append("- %s: SKIPPED: %s" % (name, contender["skipped"]))
        else:
            out.append("- %s: %s" % (name, contender["description"]))
    out += ["", main_table(runs), ""]
    out += ["What sets the request floor (the limit it comes from):", ""] + ["- " + floor_line(r) for r in runs] + [""]
    for name, contender in ordered(document["contenders"]):
        if any(r["contender"] == name for r in runs):
            out += [endpoint_table(runs, name), ""]
    if any(r["shim_requests"] for r in runs):
        out += ["`GET /linode/instances/N/ips`: answered by tests/perf/apishim.py, the emulator does not serve it "
                "(counted above, outside the emulator's rate limits).", ""]
    failures = [(r, reason, hosts) for r in runs for reason, hosts in sorted(r.get("failure_reasons", {}).items(), key=lambda i: -i[1])]
    if failures:
        out += ["Why hosts failed (task: message, numbers folded; a host can fail twice, in a task and in the `always` boot):", ""]
        out += ["- %s N=%d%s: %d x %s" % (r["contender"], r["n"], "" if r.get("slices", 1) == 1 else " (%d jobs)" % r["slices"],
                                          hosts, reason) for r, reason, hosts in failures]
        out.append("")
    out += ["Timeline, seconds after ansible-playbook started (the first of them, for concurrent jobs; from the request log "
            "and the events): first API request; first-last start / first-last end of each kind of job.", "", phase_table(runs), ""]
    profiled = [path for r in runs for path in r.get("profiles", [])]
    if profiled:
        out += ["Profiled with py-spy (its own CPU is in the controller CPU column): " + ", ".join(profiled), ""]
    out.append("Goals (issue 12):")
    if not goals_judged(document):
        out.append("(Not judged here: the goals on time and CPU are about the default speed %g without --smoke; this run is at "
                   "speed %g%s. Correctness is judged, and only ours' decides the exit code.)" % (
                       DEFAULT_SPEED, document["speed"], ", --smoke" if document["smoke"] else ""))
    for text, met, evidence in document["goals"]:
        out.append("- [%s] %s: %s" % ({True: "met", False: "MISSED", None: "info"}[met], text, evidence))
    return "\n".join(out)


def chart(document: dict, path: str) -> str | None:
    """wall/ideal and requests per host against N, one line per contender. None, or why there is no chart."""
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use("Agg")
        from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    except ImportError:
        return "matplotlib is not installed in %s: no chart" % sys.prefix
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.5))
    for name, contender in ordered(document["contenders"]):
        runs = sorted((r for r in whole(document["runs"]) if r["contender"] == name), key=lambda r: r["n"])
        for run in document["runs"]:
            if run["contender"] == name and run.get("slices", 1) > 1:
                label = "%s, %d concurrent slices" % (name, run["slices"])
                left.plot([run["n"]], [run["ratio"]], marker="s", linestyle="none", label=label)
                right.plot([run["n"]], [run["requests_per_host"]], marker="s", linestyle="none", label=label)
        if not runs:
            continue
        sizes = [r["n"] for r in runs]
        left.plot(sizes, [r["ratio"] for r in runs], marker="o", label=name)
        right.plot(sizes, [r["requests_per_host"] for r in runs], marker="o", label=name)
        for run in runs:
            if run["failed_hosts"]:
                left.annotate("%d failed" % run["failed_hosts"], (run["n"], run["ratio"]), textcoords="offset points",
                              xytext=(4, 6), fontsize=8)
    left.axhline(GOAL_RATIO, linestyle="--", color="grey", linewidth=1, label="goal %g" % GOAL_RATIO)
    right.axhline(GOAL_REQUESTS_PER_HOST, linestyle="--", color="grey", linewidth=1, label="goal %d" % GOAL_REQUESTS_PER_HOST)
    for axes, title in ((left, "wall time / ideal"), (right, "API requests per host")):
        axes.set_xscale("log")
        ticks = sorted(set(document["sizes"]) | set(r["n"] for r in document["runs"]))
        axes.set_xticks(ticks)
        axes.set_xticklabels([str(n) for n in ticks])
        axes.set_xlabel("fleet size N (forks = min(N, %d))" % MAX_FORKS)
        axes.set_title(title)
        axes.set_ylim(0, axes.get_ylim()[1] * 1.12)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle("Fleet capture on the Linode API emulator (speed %g, rate limits on)" % document["speed"])
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return None


def results_markdown(document: dict, text: str) -> str:
    loads = [load for run in document["runs"] for load in run["load_average"]]
    return "\n".join([
        "# Fleet benchmark: latest results",
        "",
        "Made by `%s` (%s), in %.0f s, at commit %s%s, on %s CPUs (1-minute load average %.1f to %.1f before and after the runs)."
        % (document["command"], time.strftime("%Y-%m-%d", time.gmtime(document["started"])), document["total_s"],
           document["commit"], " with local changes" if document["dirty"] else "", document["cpus"], min(loads), max(loads)),
        "Versions: %s." % "; ".join("%s %s" % item for item in sorted(document["versions"].items())),
        "How it measures: tests/perf/README.md.",
        "",
        text,
        "",
    ])


# ---------------------------------------------------------------------------- main

def find_py_spy() -> str | None:
    """py-spy: $PY_SPY, else next to this interpreter (the venv's bin), else on PATH."""
    candidates = [os.environ.get("PY_SPY"), os.path.join(os.path.dirname(sys.executable), "py-spy"), shutil.which("py-spy")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def git(*args) -> str:
    done = subprocess.run(["git", "-C", REPO] + list(args), capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    return done.stdout.strip()


def interrupted(signum, frame):  # pylint: disable=unused-argument
    """SIGTERM: unwind like Ctrl-C, so the emulator and the playbook are stopped by the ``finally`` blocks.

    A second SIGTERM is ignored: the clean-up it would cut short has timeouts of its own.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(signum)


def main() -> int:
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true",
                        help="N = 1 and 10 at speed %g, ours only unless LINODE_CLOUD_COLLECTIONS is set; "
                             "exit 1 when a correctness column of ours fails" % SMOKE_SPEED)
    parser.add_argument("--speed", type=float, help="emulator speed for every run (default %g; %g with --smoke)" % (DEFAULT_SPEED, SMOKE_SPEED))
    parser.add_argument("--sizes", type=int, nargs="+", help="fleet sizes N (default %s)" % " ".join(map(str, SIZES)))
    parser.add_argument("--contenders", nargs="+", choices=(OURS, LINODE_CLOUD), help="default: both (linode.cloud when set up)")
    parser.add_argument("--json", metavar="OUT", help="default tests/perf/results/bench.json (smoke.json with --smoke)")
    parser.add_argument("--png", metavar="OUT", help="default tests/perf/results/bench.png (smoke.png with --smoke)")
    parser.add_argument("--collection-ref", metavar="REF",
                        help="measure ours as committed at REF (a commit, branch or tag) instead of the work tree")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (fleets, inventories, playbook output)")
    parser.add_argument("--verbose", action="store_true", help="show ansible-playbook's output")
    parser.add_argument("--linode-cloud-up-to", type=int, default=LINODE_CLOUD_MAX_N, metavar="N",
                        help="run linode.cloud at the sizes up to N only (default %d; 500 to include N = 500)" % LINODE_CLOUD_MAX_N)
    parser.add_argument("--sliced", type=int, nargs="*", metavar="N",
                        help="also capture a fleet of N as --slices concurrent jobs on one token (ours); default %s in a full "
                             "run, none with --sizes or --smoke; --sliced with no N: none" % " ".join(map(str, SLICED_SIZES)))
    parser.add_argument("--slices", type=int, default=SLICES, metavar="K", help="concurrent jobs of --sliced (default %d)" % SLICES)
    parser.add_argument("--profile", choices=("flamegraph", "speedscope", "raw"),
                        help="run every ansible-playbook under py-spy record (its workers and modules too), writing one file a "
                             "job under --profile-dir")
    parser.add_argument("--profile-rate", type=int, default=20, metavar="HZ", help="py-spy samples a second (default 20)")
    parser.add_argument("--profile-dir", metavar="DIR", help="default tests/perf/results/profiles")
    parser.add_argument("--report", metavar="JSON", help="run nothing: print the report of an earlier run's JSON again, and redo its "
                                                         "chart and Markdown (RESULTS.md too when it was a full run)")
    args = parser.parse_args()
    if args.report:
        with open(args.report, encoding="utf-8") as handle:
            document = json.load(handle)
        document.setdefault("full", not document["smoke"] and document["sizes"] == list(SIZES)
                            and len([c for c in document["contenders"].values() if not c.get("skipped")]) == len((OURS, LINODE_CLOUD)))
        return publish(document, args.report, args.png or re.sub(r"\.json$", "", args.report) + ".png", False)
    sizes = sorted(set(args.sizes or (SMOKE_SIZES if args.smoke else SIZES)))
    speed = args.speed or (SMOKE_SPEED if args.smoke else DEFAULT_SPEED)
    if args.sliced is None:
        sliced = [] if args.smoke or args.sizes else list(SLICED_SIZES)
    else:
        sliced = sorted(set(args.sliced))
    if speed <= 0 or min(sizes) < 1:
        parser.error("--speed must be positive and every N at least 1")
    if args.slices < 2 or any(n < args.slices for n in sliced):
        parser.error("--slices must be at least 2, and every --sliced N at least --slices")
    profile = None
    if args.profile:
        py_spy = find_py_spy()
        if not py_spy:
            parser.error("--profile needs py-spy (requirements-dev.txt; or set PY_SPY to its path): not found next to %s "
                         "nor on PATH" % sys.executable)
        profile = dict(py_spy=py_spy, format=args.profile, rate=args.profile_rate,
                       dir=os.path.abspath(args.profile_dir or os.path.join(HERE, "results", "profiles")))
        os.makedirs(profile["dir"], exist_ok=True)
    results_dir = os.path.join(HERE, "results")
    stem = "smoke" if args.smoke else "bench"
    json_path = args.json or os.path.join(results_dir, stem + ".json")
    png_path = args.png or os.path.join(results_dir, stem + ".png")
    wanted = args.contenders or [OURS, LINODE_CLOUD]
    command_line = " ".join([".venv/bin/python", "tests/perf/bench.py"] + [shlex.quote(a) for a in sys.argv[1:]])

    started = time.time()
    # The code measured: the commit and whether the work tree differs from it, read before the runs.
    commit, dirty = git("rev-parse", "--short", "HEAD"), bool(git("status", "--porcelain"))
    contenders = {}
    ansible_version = tool_version(sys.executable, "import ansible.release as r; print(r.__version__)")
    versions = {"ansible-core (ours)": ansible_version,
                "linode_api4 (ours)": tool_version(sys.executable, "import importlib.metadata as m; print(m.version('linode_api4'))")}
    if OURS in wanted:
        contenders[OURS] = dict(name=OURS, venv=os.path.dirname(os.path.dirname(sys.executable)),
                                description="ansible-playbook golden_image.linode.capture (role image_capture, host checks off), "
                                            "venv %s" % os.path.dirname(os.path.dirname(sys.executable)))
    if LINODE_CLOUD in wanted:
        if args.smoke and not os.environ.get("LINODE_CLOUD_COLLECTIONS"):
            reason = "LINODE_CLOUD_COLLECTIONS is not set, and --smoke runs linode.cloud only when it is (see tests/perf/README.md)"
            contenders[LINODE_CLOUD] = dict(name=LINODE_CLOUD, skipped=reason)
        else:
            collections_path, venv, reason = linode_cloud_setup()
            if reason:
                contenders[LINODE_CLOUD] = dict(name=LINODE_CLOUD, skipped=reason)
            else:
                version = collection_version(collections_path, "linode", "cloud")
                python = os.path.join(venv, "bin", "python")
                versions["linode.cloud"] = version
                versions["ansible-core (linode.cloud)"] = tool_version(python, "import ansible.release as r; print(r.__version__)")
                versions["linode_api4 (linode.cloud)"] = tool_version(python, "import importlib.metadata as m; print(m.version('linode_api4'))")
                contenders[LINODE_CLOUD] = dict(
                    name=LINODE_CLOUD, collections=collections_path, venv=venv,
                    description="ansible-playbook tests/perf/linode_cloud_capture.yml (linode.cloud %s: instance booted: false, "
                                "image disk_id + wait: true, instance booted: true), venv %s" % (version, venv))
    for contender in contenders.values():
        if contender.get("skipped"):
            print("%s: skipped: %s" % (contender["name"], contender["skipped"]), flush=True)
    active = [c for c in contenders.values() if not c.get("skipped")]
    if not active:
        print("nothing to run", file=sys.stderr)
        return 2

    workdir = tempfile.mkdtemp(prefix="golden-image-bench-")
    runs = []
    completed = False
    try:
        if OURS in contenders:
            contenders[OURS]["collections"] = snapshot_collection(workdir, args.collection_ref)
        plan = [(contender, count, 1) for count in sizes for contender in active
                if contender["name"] == OURS or count <= args.linode_cloud_up_to]
        plan += [(contenders[OURS], count, args.slices) for count in sliced if OURS in contenders]
        for contender, count, slices in plan:
            what = "%s N=%d%s" % (contender["name"], count, "" if slices == 1 else " as %d concurrent slices" % slices)
            print("%s: running (forks %d a job, speed %g)..." % (what, min(-(-count // slices), MAX_FORKS), speed), flush=True)
            run = run_one(contender, count, speed, workdir, args.verbose, slices, profile)
            runs.append(run)
            print("%s: wall %.1f s, ideal %.1f s (%.2f; critical path %.1f s, request floor %.1f s), %d requests (%.1f/host), "
                  "%d 429s, %d failed (%d by a 429), %d duplicates, %d not back in power state, first request %s s, "
                  "after last boot %s s, CPU %.1f s (%.2f/host)"
                  % (what, run["wall_s"], run["ideal_s"], run["ratio"], run["critical_path_s"], run["request_floor_s"],
                     run["requests"], run["requests_per_host"], run["answers_429"], run["failed_hosts"], run["failed_by_429"],
                     run["duplicates"], run["not_restored"], fmt(run["first_request_s"]), fmt(run["after_last_boot_s"]),
                     run["cpu_s"], run["cpu_per_host_s"]), flush=True)
            for path in run["profiles"]:
                print("  profile: %s" % path, flush=True)
        completed = True
    finally:
        # A run that failed a host, duplicated an image or left an instance off keeps its playbook
        # output, inventories and emulator state: such a failure may not come back on a rerun.
        faulty = [os.path.basename(run["run_dir"]) for run in runs if run["failed_hosts"] or run["duplicates"] or run["not_restored"]]
        if args.keep or faulty or not completed:
            print("work directory kept%s: %s" % (
                " (%s)" % ", ".join(faulty) if faulty else "" if completed else " (the run was interrupted)", workdir),
                file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    document = dict(command=command_line, started=started, total_s=time.time() - started, speed=speed, sizes=sizes,
                    sliced=sliced, slices=args.slices, linode_cloud_up_to=args.linode_cloud_up_to, smoke=args.smoke,
                    commit=commit, dirty=dirty, cpus=os.cpu_count(), versions=versions,
                    contenders=dict((name, dict((k, v) for k, v in c.items() if k != "name")) for name, c in contenders.items()),
                    goal=dict(ratio=GOAL_RATIO, requests_per_host=GOAL_REQUESTS_PER_HOST, flat_factor=FLAT_FACTOR,
                              first_request_s=GOAL_FIRST_REQUEST_S, after_last_boot_s=GOAL_AFTER_LAST_BOOT_S,
                              cpu_per_host_s=GOAL_CPU_PER_HOST_S),
                    runs=runs)
    # The committed summary follows full runs only (default sizes and slices, both contenders ran, default --json), not smoke
    # or partial runs.
    document["full"] = (not args.smoke and sizes == list(SIZES) and sliced == list(SLICED_SIZES) and not args.json
                        and len(active) == len((OURS, LINODE_CLOUD)))
    return publish(document, json_path, png_path, True)


def goals_judged(document: dict) -> bool:
    """Whether the goals on time and CPU are judged: at the default speed, not --smoke."""
    return not document["smoke"] and document["speed"] == DEFAULT_SPEED


def publish(document: dict, json_path: str, png_path: str, write_json: bool) -> int:
    """Print the report; write the JSON, the chart, the Markdown (and RESULTS.md after a full run); 1 if ours was incorrect."""
    runs = document["runs"]
    document["goals"] = goals(runs, document["sizes"], goals_judged(document))
    text = report(document)
    print()
    print(text)
    if write_json:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    problem = chart(document, png_path)
    markdown = results_markdown(document, text)
    with open(re.sub(r"\.json$", "", json_path) + ".md", "w", encoding="utf-8") as handle:
        handle.write(markdown)
    if document.get("full"):
        with open(os.path.join(HERE, "RESULTS.md"), "w", encoding="utf-8") as handle:
            handle.write(markdown)
    print()
    print("Total %.0f s. JSON: %s; chart: %s" % (document["total_s"], json_path, problem or png_path))
    broken = [r for r in runs if r["contender"] == OURS and any(r.get(key) for key in CORRECTNESS)]
    for run in broken:
        print("ours N=%d (%s): correctness failed: %d failed hosts %s, %d duplicates, %d hosts without image, %d not back in power state %s"
              % (run["n"], "%d jobs" % run.get("slices", 1), run["failed_hosts"], run["failed"], run["duplicates"],
                 run["hosts_without_image"], run["not_restored"],
                 run["not_restored_hosts"]), file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as stopped:
        print("interrupted: the emulator and the playbook were stopped", file=sys.stderr)
        sys.exit(128 + (stopped.args[0] if stopped.args and isinstance(stopped.args[0], int) else signal.SIGINT))
