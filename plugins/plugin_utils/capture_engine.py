# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_capture role's engine: what each host's capture has come to, step by step.

Pure Python (no Ansible import), so that every transition has a unit test. The role keeps one
``state`` per serial batch, a dict of host name to outcome, and after each step (one module run for
the whole batch, or one task per host where the host itself must be contacted) calls
``advance(state, step, answer)``, which returns a new state and never changes the one it got.

A step applies to the hosts in the results of ``STEPS[step]`` and leaves every other host alone; an
answer about a host the step does not apply to is refused (``EngineError``), as is an unknown step
or result. Outcomes only move forward: once ``refused`` or ``failed``, a host is never captured,
and the steps that bring instances back (``restore``, ``ssh``) apply to every host whatever its
result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# What a host's ``result`` can be. The report, set_stats and the role's README document them.
PENDING = "pending"  # nothing decided yet: will be captured unless a check refuses it
REFUSED = "refused"  # a check said no before anything was shut down
CAPTURING = "capturing"  # the capture started (or a killed run's was found) and is being waited for
CAPTURED = "captured"  # this run made the image
RESUMED = "resumed"  # an earlier, killed run's capture finished under this run
UPDATED = "updated"  # the image existed; its description or tags were changed
UNCHANGED = "unchanged"  # the image existed as asked; nothing was done
FAILED = "failed"  # something went wrong after the checks; the reason says what
# Check mode (--check) ends after the checks: what a real run would do.
WOULD_CAPTURE = "would_capture"
WOULD_RESUME = "would_resume"
WOULD_UPDATE = "would_update"
WOULD_REFUSE = "would_refuse"
WOULD_FAIL = "would_fail"

RESULTS = frozenset([PENDING, REFUSED, CAPTURING, CAPTURED, RESUMED, UPDATED, UNCHANGED, FAILED,
                     WOULD_CAPTURE, WOULD_RESUME, WOULD_UPDATE, WOULD_REFUSE, WOULD_FAIL])
# The results that fail a host at the end of the role.
FAILING = frozenset([REFUSED, FAILED, WOULD_REFUSE, WOULD_FAIL])
# The results whose image id a workflow's next node may use as a new image.
NEW_IMAGE = frozenset([CAPTURED, RESUMED])
ANY = RESULTS

# The results each step applies to. `error` is the role's rescue: an unexpected failure of a step.
STEPS = {
    "preflight": frozenset([PENDING]),
    "host_checks": frozenset([PENDING]),
    "record": frozenset([PENDING]),
    "shutdown": frozenset([PENDING]),
    "check_mode": frozenset([PENDING, REFUSED, FAILED, UNCHANGED]),
    "capture": frozenset([PENDING]),
    "wait": frozenset([CAPTURING]),
    "error": frozenset([PENDING, CAPTURING]),
    "restore": ANY,
    "ssh": ANY,
    "replicate": frozenset([CAPTURED, RESUMED, UPDATED, UNCHANGED]),
}

# The row of the report file and the table; the other keys of an outcome are the engine's own.
REPORT_KEYS = ("host", "linode_id", "linode_label", "disk_id", "disk_label", "image_id", "size", "duration_s",
               "result", "reason")
TAKE_OVER_HINT = " (if that run was killed, run again with -e '{\"image_capture_take_over\": [\"%s\"]}')"
MARKER_PREFIX = "golden_image:"
FILESYSTEMS = ("ext3", "ext4")
MIB = 1048576.0


class EngineError(ValueError):
    """A step was asked for that the engine does not know, or that cannot follow the host's state."""


def one_line(text):
    """Reasons are read in a table: any run of whitespace (an API's ``\\r\\n`` included) is one space."""
    return re.sub(r"\s+", " ", str(text if text is not None else "")).strip()


def _is_id(value):
    return isinstance(value, int) and not isinstance(value, bool) or bool(re.match(r"^[0-9]+$", str(value)))


def start(hosts, now):
    """The state of a batch before any step: ``hosts`` maps each host to its settings (the role's
    per-host variables: linode, disk, label, description, tags, cloud_init, shutdown, host_checks, mount)."""
    state = {}
    for host, settings in hosts.items():
        linode = settings.get("linode")
        if linode is None or str(linode).strip() == "":
            raise EngineError("image_capture_linode of %s is empty: give an instance id or label" % host)
        ids = {"linode_id": int(linode)} if _is_id(linode) else {"linode_label": str(linode)}
        disk = settings.get("disk")
        if disk is not None and str(disk) != "":
            ids.update({"disk_id": int(disk)} if _is_id(disk) else {"disk_label": str(disk)})
        entry = dict(ids, name=host, label=settings.get("label"), description=settings.get("description") or None,
                     tags=list(settings.get("tags") or []), cloud_init=bool(settings.get("cloud_init")))
        state[host] = {
            "host": host, "linode_id": ids.get("linode_id"), "linode_label": ids.get("linode_label"),
            "disk_id": None, "disk_label": None, "image_id": None, "size": None, "duration_s": None,
            "result": PENDING, "reason": "",
            "entry": entry, "source": None, "image": None, "device": None, "linode_status": None,
            "new_capture": False, "shutdown": bool(settings.get("shutdown", True)),
            "host_checks": bool(settings.get("host_checks", True)), "mount": settings.get("mount") or None,
            "restore_status": None, "booted": False, "acted": [], "started_at": float(now),
        }
    return state


# Views of a state, for the role's steps.

def hosts_in(state, *results):
    """The hosts with these results, in the play's order (the state's), so that a module's messages
    that name entries by index (``captures[1]``) follow the inventory."""
    return [host for host, outcome in state.items() if outcome["result"] in results]


def capture_entries(state):
    """The ``captures`` option of linode_image_capture: every pending host's entry."""
    return [state[host]["entry"] for host in hosts_in(state, PENDING)]


def known_disks(state):
    """The disks the preflight read, for the capture step (no second read of each disk)."""
    return [outcome["source"] for outcome in state.values() if outcome["source"]]


def to_stop(state):
    """The instances this run shuts down: pending new captures of hosts that ask for a shutdown."""
    return sorted(outcome["linode_id"] for outcome in state.values()
                  if outcome["result"] == PENDING and outcome["new_capture"] and outcome["shutdown"])


def to_check(state):
    """The hosts whose disk is checked over SSH: pending new captures of running instances."""
    return [host for host in hosts_in(state, PENDING) if state[host]["new_capture"] and state[host]["host_checks"]
            and state[host]["linode_status"] == "running"]


def capturing_images(state):
    return [state[host]["image"] for host in hosts_in(state, CAPTURING)]


def linode_ids(state):
    return sorted(outcome["linode_id"] for outcome in state.values() if isinstance(outcome["linode_id"], int))


def booted(state):
    """The hosts whose instance this run booted, for the wait for SSH."""
    return sorted(host for host, outcome in state.items() if outcome["booted"])


def unchecked(state):
    return sorted(host for host, outcome in state.items() if not outcome["host_checks"])


def row(outcome):
    """A host's row in the report, whether this host itself changed anything (or would, in check mode), and
    whether it fails at the end of the role."""
    line = dict((key, outcome[key]) for key in REPORT_KEYS)
    line["changed"] = bool(outcome["acted"]) or outcome["result"] in (WOULD_CAPTURE, WOULD_RESUME, WOULD_UPDATE)
    line["fails"] = outcome["result"] in FAILING
    return line


def report(states, host=None):
    """One row per host of the play, from the states of every serial batch so far, in play order;
    with ``host``, that host's row alone."""
    if isinstance(states, dict):
        states = [states]
    if host is not None:
        for state in states:
            if host in (state or {}):
                return row(state[host])
        raise EngineError("no outcome for host %s" % host)
    rows, seen = [], set()
    for state in states:
        for host in state or {}:
            if host not in seen:
                seen.add(host)
                rows.append(row(state[host]))
    return rows


TABLE_FORMAT = "%-16s %-24s %-28s %-16s %8s %8s  %s"


def table(rows):
    """The lines a person reads at the end: one per host, the reason on the host's own line."""
    def named(label, ident):
        return "%s (%s)" % (label or "-", ident if ident is not None else "-")
    lines = [TABLE_FORMAT % ("HOST", "INSTANCE", "DISK", "IMAGE", "SIZE MB", "SECONDS", "RESULT")]
    for line in rows:
        lines.append(TABLE_FORMAT % (
            line["host"], named(line["linode_label"], line["linode_id"]), named(line["disk_label"], line["disk_id"]),
            line["image_id"] or "-", "-" if line["size"] is None else line["size"],
            "-" if line["duration_s"] is None else line["duration_s"],
            line["result"].replace("_", " ") + (": " + line["reason"] if line["reason"] else "")))
    counts = {}
    for line in rows:
        counts[line["result"]] = counts.get(line["result"], 0) + 1
    lines.append("%d hosts: %s" % (len(rows), ", ".join("%d %s" % (counts[r], r.replace("_", " "))
                                                        for r in sorted(counts))))
    return lines


# The steps.

def advance(state, step, answer=None, **context):
    """A new state: ``state`` after ``step``, whose ``answer`` is what the step's task returned."""
    if step not in STEPS:
        raise EngineError("unknown step %r: one of %s" % (step, ", ".join(sorted(STEPS))))
    new = dict((host, dict(outcome, acted=list(outcome["acted"]))) for host, outcome in (state or {}).items())
    for outcome in new.values():
        if outcome["result"] not in RESULTS:
            raise EngineError("%s: unknown result %r" % (outcome["host"], outcome["result"]))
    applies = sorted(host for host, outcome in new.items() if outcome["result"] in STEPS[step])
    STEP_FUNCTIONS[step](new, applies, answer if answer is not None else {}, context)
    return new


def _fail(outcome, result, reason, append=False):
    reason = one_line(reason)
    if append and outcome["reason"]:
        reason = outcome["reason"] + "; " + reason
    outcome.update(result=result, reason=reason)


def _answers_for(answer, key, applies, state, step, by_linode=False):
    """A batch module's per-entry results, keyed as the module keys them; refuses entries for hosts
    the step does not apply to (a module answering for a host that was not asked is a bug)."""
    entries = (answer or {}).get(key) or {}
    if not isinstance(entries, dict):
        raise EngineError("%s: the module's %s must be a dict keyed by %s" % (step, key, "instance id" if by_linode else "host"))
    allowed = set(str(state[host]["linode_id"]) for host in applies) if by_linode else set(applies)
    wrong = sorted(str(k) for k in entries if str(k) not in allowed)
    if wrong:
        raise EngineError("%s: answer for %s, to which this step does not apply" % (step, ", ".join(wrong)))
    return dict((str(k), v) for k, v in entries.items())


def _preflight(state, applies, answer, context):
    entries = _answers_for(answer, "captures", applies, state, "preflight")
    known = dict((str(i.get("id")), i) for i in context.get("known_instances") or [])
    known.update((i.get("label"), i) for i in context.get("known_instances") or [])
    for host in applies:
        outcome, entry = state[host], entries.get(host)
        if not entry or entry.get("error"):
            instance = known.get(str(outcome["linode_id"]) if outcome["linode_id"] is not None else outcome["linode_label"], {})
            outcome.update(linode_id=instance.get("id", outcome["linode_id"]),
                           linode_label=instance.get("label", outcome["linode_label"]))
            _fail(outcome, REFUSED, (entry or {}).get("error") or answer.get("msg") or "the preflight gave no answer for this host")
            continue
        source, image = entry.get("source") or {}, entry.get("image") or {}
        outcome.update(
            linode_id=source.get("linode_id"), linode_label=source.get("linode_label"),
            linode_status=source.get("linode_status"), disk_id=source.get("disk_id"), disk_label=source.get("disk_label"),
            image_id=image.get("id"), size=image.get("size"), device=source.get("device"), source=source,
            image=image, new_capture=image.get("id") is None)
        outcome["entry"] = {
            "name": host, "linode_id": source.get("linode_id"), "disk_id": source.get("disk_id"),
            "label": image.get("label"), "description": outcome["entry"].get("description"),
            "tags": outcome["entry"].get("tags"), "cloud_init": outcome["entry"].get("cloud_init"),
            # A capture that was to follow a shutdown refuses an instance found running.
            "require_offline": outcome["shutdown"]}
        if not entry.get("changed") and image.get("status") == "available":
            outcome["result"] = UNCHANGED


def _host_checks(state, applies, answer, context):
    limit = float(context.get("size_limit", 6144))
    margin = float(context.get("margin", 0.10))
    checked = set(to_check(state))
    for host in sorted(answer):
        if host not in checked:
            if (answer[host] or {}).get("skipped") or not answer[host]:
                continue
            raise EngineError("host_checks: answer for %s, whose disk is not to be checked" % host)
    for host in sorted(checked):
        problem = disk_problem(answer.get(host) or {}, state[host]["mount"], limit, margin)
        if problem:
            _fail(state[host], REFUSED, "host checks: " + problem)


def disk_problem(result, mount, limit, margin):
    """The first reason Linode could not capture the disk that df describes, or None.

    ``result`` is the image_capture role's df measurement (``tasks/measure_disk.yml``), ``mount`` the
    mount point asked for (None: the one df names), ``limit`` the image size limit in MiB and
    ``margin`` the share of it to keep free. The image_verify role judges a booted image by it too.
    """
    most = round((1 - margin) * limit, 1)
    if not result or result.get("skipped"):
        return "the disk was not checked (no answer from the host)"
    if result.get("unreachable"):
        return "does not answer over SSH: %s" % result.get("msg", "")
    lines = [line for line in (result.get("stdout") or "").splitlines() if line.strip()]
    fields = lines[-1].split() if len(lines) >= 2 else []
    where = mount or (fields[6] if len(fields) >= 7 else "/")
    if result.get("rc", 1) != 0 or len(fields) < 7:
        return "df %s failed: %s" % (where, result.get("stderr") or result.get("msg") or "no df output")
    fstype = fields[1]
    if fstype not in FILESYSTEMS:
        return "%s is %s, and Linode captures only ext3/ext4 disks" % (where, fstype)
    used = round(int(fields[3]) / MIB, 1)
    if used >= most:
        return ('df "Used" of %s is %s MiB, not below %s MiB, %s%% of the %s MiB image size limit: Linode would '
                "delete the image" % (where, used, most, round((1 - margin) * 100, 1), int(limit)))
    return None


def _power_entry(outcome, entries):
    return entries.get(str(outcome["linode_id"]), {})


def _hint(entry):
    return TAKE_OVER_HINT % entry["claimed_by"] if entry.get("claimed_by") is not None else ""


def _refused_for_status(outcome, entry):
    """An instance the power module refused for its status (migrating, ...), before any write: refused, not failed."""
    if entry.get("refused_status") and entry.get("error"):
        # Worded as the capture module's preflight words the same refusal.
        _fail(outcome, REFUSED, "Linode %s (%s) is %s" % (outcome["linode_label"], outcome["linode_id"], entry["error"]))
        return True
    return False


def _record(state, applies, answer, context):
    stopping = set(to_stop(state))
    entries = _answers_for(answer, "instances", [h for h in applies if state[h]["linode_id"] in stopping], state,
                           "record", by_linode=True)
    for host in applies:
        outcome = state[host]
        if outcome["linode_id"] not in stopping:
            continue
        entry = _power_entry(outcome, entries)
        if _refused_for_status(outcome, entry):
            continue
        if "restore_status" in entry and not entry.get("error"):
            outcome["restore_status"] = entry["restore_status"]
        else:
            _fail(outcome, FAILED, "power state: %s%s" % (
                entry.get("error") or answer.get("msg") or "the power module gave no answer for this instance", _hint(entry)))


def _shutdown(state, applies, answer, context):
    stopping = set(to_stop(state))
    entries = _answers_for(answer, "instances", [h for h in applies if state[h]["linode_id"] in stopping], state,
                           "shutdown", by_linode=True)
    marker = MARKER_PREFIX + str(context.get("run_id")) + ":"
    for host in applies:
        outcome = state[host]
        if outcome["linode_id"] not in stopping:
            continue
        entry = _power_entry(outcome, entries)
        tags = (entry.get("instance") or {}).get("tags") or []
        if entry.get("changed"):
            outcome["acted"].append("shutdown")
        if _refused_for_status(outcome, entry):
            continue
        # The claim is read again in the instance as the shutdown's wait read it last: a run that
        # wrote its claim late, over ours, captures, and this one not.
        if entry.get("error") or answer.get("msg") and not entry:
            _fail(outcome, FAILED, "shutdown: %s%s" % (entry.get("error") or answer.get("msg"), _hint(entry)))
        elif entry.get("status") != "offline":
            _fail(outcome, FAILED, "shutdown: Linode %s is %s, not offline" % (outcome["linode_id"], entry.get("status") or "in an unknown state"))
        elif not any(tag.startswith(marker) for tag in tags):
            _fail(outcome, FAILED, "shutdown: another run claimed the instance after this one (its tags: %s)"
                  % ", ".join(tag for tag in tags if tag.startswith("golden_image")))


def _check_mode(state, applies, answer, context):
    """--check ends here: say what a real run would have done."""
    for host in applies:
        outcome = state[host]
        if outcome["result"] == PENDING:
            if outcome["new_capture"]:
                outcome["result"] = WOULD_CAPTURE
            elif (outcome["image"] or {}).get("status") != "available":
                outcome["result"] = WOULD_RESUME
            else:
                outcome["result"] = WOULD_UPDATE
        elif outcome["result"] == REFUSED:
            outcome["result"] = WOULD_REFUSE
        elif outcome["result"] == FAILED:
            outcome["result"] = WOULD_FAIL


def _capture(state, applies, answer, context):
    entries = _answers_for(answer, "captures", applies, state, "capture")
    for host in applies:
        outcome, entry = state[host], entries.get(host)
        if not entry or entry.get("error"):
            _fail(outcome, FAILED, "capture: %s" % ((entry or {}).get("error") or answer.get("msg")
                                                    or "the capture module gave no answer for this host"))
            continue
        image = entry.get("image") or {}
        outcome.update(image_id=image.get("id"), image=image, size=image.get("size", outcome["size"]))
        if entry.get("changed"):
            outcome["acted"].append("capture" if outcome["new_capture"] else "update")
        if image.get("status") != "available":
            outcome["result"] = CAPTURING
        else:
            outcome["result"] = UPDATED if entry.get("changed") else UNCHANGED


def _wait(state, applies, answer, context):
    available, errors = answer.get("available") or {}, answer.get("errors") or {}
    for host in applies:
        outcome = state[host]
        if outcome["image_id"] in available:
            outcome.update(result=CAPTURED if outcome["new_capture"] else RESUMED,
                           size=available[outcome["image_id"]].get("size"))
        else:
            _fail(outcome, FAILED, "capture: %s" % (errors.get(outcome["image_id"]) or answer.get("msg")
                                                    or "the wait ended without an answer"))


def _error(state, applies, answer, context):
    for host in applies:
        _fail(state[host], FAILED, answer.get("msg") or "failed")


def _restore(state, applies, answer, context):
    entries = _answers_for(answer, "instances", [h for h in applies if state[h]["linode_id"] is not None], state,
                           "restore", by_linode=True)
    now = context.get("now")
    for host in applies:
        outcome = state[host]
        entry = _power_entry(outcome, entries) if outcome["linode_id"] is not None else {}
        if entry.get("changed"):
            outcome["acted"].append("boot")
            outcome["booted"] = True
        # A host this run already failed for another run's claim is that run's to boot: not failed twice.
        others = entry.get("claimed_by") is not None and outcome["result"] == FAILED
        if not others and (entry.get("error") or outcome["restore_status"] == "running" and entry.get("status") != "running"):
            _fail(outcome, FAILED, "power back on: %s%s" % (
                entry.get("error") or answer.get("msg") or "Linode %s is %s, not running" % (
                    outcome["linode_id"], entry.get("status") or "in an unknown state"), _hint(entry)), append=True)
        if now is not None and outcome["result"] in (CAPTURED, RESUMED, FAILED) and outcome["duration_s"] is None:
            outcome["duration_s"] = round(float(now) - outcome["started_at"], 1)


def _ssh(state, applies, answer, context):
    timeout = context.get("timeout")
    for host in sorted(answer):
        result = answer[host] or {}
        if result.get("skipped") or not result:
            continue
        if host not in state or not state[host]["booted"] or not state[host]["host_checks"]:
            raise EngineError("ssh: answer for %s, whose instance this run did not boot" % host)
        # The task runs with failed_when: false, which clears `failed`: a failure is told by its msg.
        if result.get("msg") or result.get("unreachable"):
            _fail(state[host], FAILED, "SSH did not answer within %s s of the boot: %s" % (timeout, result.get("msg", "")),
                  append=True)


def _replicate(state, applies, answer, context):
    for host in sorted(answer):
        result = answer[host] or {}
        if result.get("skipped") or not result:
            continue
        if host not in applies:
            raise EngineError("replicate: answer for %s, which has no image to replicate" % host)
        if result.get("msg"):
            _fail(state[host], FAILED, "replication: %s" % result.get("msg", "failed"))


STEP_FUNCTIONS = {
    "preflight": _preflight, "host_checks": _host_checks, "record": _record, "shutdown": _shutdown,
    "check_mode": _check_mode, "capture": _capture, "wait": _wait, "error": _error, "restore": _restore,
    "ssh": _ssh, "replicate": _replicate,
}
