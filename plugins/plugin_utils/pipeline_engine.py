# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The golden-image pipeline's engine: what each step's answer means, and which step comes next.

Python without Ansible (the collection's label rules from module_utils aside), so that every
decision has a unit test. Three parts:

- ``bake_problems`` and ``bake_outcome``: a bake's settings, checked before the first write, and what
  a bake on a temporary builder came to (the ``image_bake`` role);
- ``verify_problems``, ``verify_verdict`` and ``verify_tags``: the same for a verification, whether an
  image booted on a temporary test instance passed its checks, and the tags that say so (the
  ``image_verify`` role);
- ``start``, ``advance`` and the views: the pipeline of ``playbooks/golden_image_pipeline.yml``, one
  state that goes through its steps in order (bake or capture, verify, replicate, retention,
  publish). A step that fails stops every later one, so a failed verification never promotes.
  A run may be one stage of the pipeline only (``golden_image_pipeline_stage``), one node of an AWX
  workflow: ``bake`` makes a candidate image, ``verify`` verifies the candidate a bake node published,
  ``promote`` replicates the image a verify node published, runs retention and publishes it. The
  steps outside the stage are skipped, and each stage publishes what the next one takes.

In check mode each step says what it would do (``would``) and nothing is written; a step that would
fail fails the check run the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.images import validate_label as validate_image_label
from ansible_collections.golden_image.linode.plugins.module_utils.temporary import (
    validate_label as validate_instance_label,
)
from ansible_collections.golden_image.linode.plugins.plugin_utils.capture_engine import (
    MIB,
    EngineError,
    disk_problem,
    one_line,
)

VERIFIED_TAG = "golden_image.linode:verified"
VERIFY_FAILED_TAG = "golden_image.linode:verify-failed"
MARKER_TAGS = (VERIFIED_TAG, VERIFY_FAILED_TAG)

# A step's result in the pipeline.
PENDING = "pending"  # not run yet
DONE = "done"  # ran and did what it said
FAILED = "failed"  # ran and failed (in check mode: would fail); every later step is stopped
SKIPPED = "skipped"  # not asked for (no regions to replicate to, no retention), or outside this run's stage
STOPPED = "stopped"  # not run because an earlier step failed
WOULD = "would"  # check mode: what a real run would do
STEP_RESULTS = frozenset([PENDING, DONE, FAILED, SKIPPED, STOPPED, WOULD])

SOURCES = ("bake", "reference")
# The first step makes the image: a bake on a builder, or a capture of a reference instance.
FIRST_STEP = {"bake": "bake", "reference": "capture"}
LATER_STEPS = ("verify", "replicate", "retention", "publish")

# What the image_capture role's outcome means for the pipeline's capture step.
CAPTURE_MADE = frozenset(["captured", "resumed", "updated", "unchanged"])
CAPTURE_WOULD = frozenset(["would_capture", "would_resume", "would_update"])

STAMP_PATTERN = re.compile(r"^[0-9]{8}-[0-9]{6}\Z")
IMAGE_ID_PATTERN = re.compile(r"^private/[0-9]+\Z")

# The stages a run can be (golden_image_pipeline_stage), and the steps each runs: ``all`` is the whole
# pipeline in one job; the others are the nodes of an AWX workflow, bake -> verify -> promote.
STAGES = ("all", "bake", "verify", "promote")
STAGE_STEPS = {"bake": ("bake", "capture"), "verify": ("verify",), "promote": ("replicate", "retention", "publish")}
# What a stage takes from the node before it: AWX hands a node's set_stats artifacts to its children
# as extra vars. The setting holding the id, the variable users and AWX set, and who publishes it.
STAGE_INPUT = {
    "verify": ("candidate_id", "candidate_label", "golden_image_candidate_id", "the bake node"),
    "promote": ("verified_id", "verified_label", "golden_image_verified_id", "the verify node"),
}


def _fail_reason(answer):
    """The one-line reason of a failed task's result, or None when it did not fail.

    The roles and the playbook register module results with ``failed_when: false``, which clears
    ``failed``: a failure is then told by its ``msg``, which this collection's modules only return
    when they fail.
    """
    answer = answer or {}
    if answer.get("skipped"):
        return None
    if answer.get("failed") or answer.get("unreachable") or answer.get("msg"):
        return one_line(answer.get("msg") or "failed without a message")
    return None


def _label_problem(validate, label, variable):
    """Why ``label`` is not a valid label (the modules' own rule), naming the role variable, or None."""
    try:
        validate(label, field=variable)
    except LinodeError as exc:
        return str(exc)
    return None


def _tasks_file_problem(path, variable):
    """A tasks file is looked for relative to the role's and the playbook's directories, not the user's:
    only an absolute path says which file is meant."""
    if path and not str(path).startswith("/"):
        return ("%s must be an absolute path (got %r): a relative one is looked for in the role's and the playbook's "
                "directories, not in yours" % (variable, path))
    return None


def _ssh_key_problem(settings, role):
    if settings.get("host_checks", True) and not settings.get("authorized_keys"):
        return ("%s_authorized_keys is empty: with %s_host_checks on, Ansible logs in to the temporary instance over SSH, "
                "so give the public key of the key it connects with (a generated root password is never shown)"
                % (role, role))
    return None


# The bake (roles/image_bake).

def bake_problems(settings):
    """What is wrong with a bake's settings (the role's variables, without ``image_bake_``), before any request."""
    problems = []
    if bool(settings.get("provision_role")) == bool(settings.get("provision_tasks")):
        problems.append("give exactly one of image_bake_provision_role (a role name) and image_bake_provision_tasks "
                        "(a tasks file) (got %s)" % ("both" if settings.get("provision_role") else "neither"))
    problems.append(_tasks_file_problem(settings.get("provision_tasks"), "image_bake_provision_tasks"))
    problems.append(_label_problem(validate_image_label, settings.get("label"), "image_bake_label"))
    problems.append(_label_problem(validate_instance_label, settings.get("builder_label"), "image_bake_builder_label"))
    problems.append(_ssh_key_problem(settings, "image_bake"))
    return [p for p in problems if p]


def _left_behind(kind, instance, deleted):
    """Why a temporary instance that was created still exists after its delete, or None when it is gone."""
    if instance.get("id") is None:
        return None
    delete_error = _fail_reason(deleted) if deleted else "its delete did not run"
    if not delete_error and (deleted.get("instance") is None or deleted.get("deleted")):
        return None
    return ("the %s %s (Linode %s) was NOT deleted: %s; delete it (linode_instance_temporary state=absent label=%s), "
            "or a later run's cleanup will" % (kind, instance.get("label"), instance.get("id"),
                                               delete_error or "it still exists", instance.get("label")))


def bake_outcome(answers, check_mode=False):
    """What a bake came to, from what its steps answered.

    ``answers``: ``builder`` (the create's result), ``error`` (``{"task", "msg"}`` when a step failed,
    from the rescue), ``capture`` (the image_capture role's ``image_capture_outcome``, once it ran),
    ``deleted`` (the builder's delete result). The result is ``baked``, ``failed`` or, in check mode,
    ``would_bake``; ``builder_left`` says the builder still exists, which the role fails loudly.
    """
    builder = (answers.get("builder") or {}).get("instance") or {}
    capture = answers.get("capture") or {}
    error = answers.get("error") or {}
    outcome = {"result": "would_bake" if check_mode else "baked", "image_id": capture.get("image_id"),
               "reason": "", "builder_id": builder.get("id"), "builder_label": builder.get("label"),
               "builder_left": False}
    reasons = []
    if error:
        reasons.append("%s: %s" % (error.get("task") or "a step", one_line(error.get("msg") or "failed")))
    elif capture and capture.get("result") not in CAPTURE_MADE | CAPTURE_WOULD:
        reasons.append("capture %s: %s" % (str(capture.get("result")).replace("_", " "),
                                           one_line(capture.get("reason")) or "no reason given"))
    elif not check_mode and not capture:
        reasons.append("the bake ended without a capture")
    left = None if check_mode else _left_behind("builder", builder, answers.get("deleted") or {})
    if left:
        outcome["builder_left"] = True
        reasons.append(left)
    if reasons:
        outcome.update(result="failed", reason="; ".join(reasons))
    return outcome


# The verification (roles/image_verify).

def verify_problems(settings, image_pending=False):
    """What is wrong with a verification's settings (the role's variables, without ``image_verify_``).

    ``image_pending``: the image is still to be made (a check run, or a pipeline's plan), so it may be empty.
    """
    problems = []
    if not settings.get("image") and not image_pending:
        problems.append("image_verify_image is required: the id of the image to verify (private/<number>); only a "
                        "check run may leave it empty, for an image an earlier step would make")
    problems.append(_label_problem(validate_instance_label, settings.get("tester_label"), "image_verify_tester_label"))
    problems.append(_ssh_key_problem(settings, "image_verify"))
    commands = settings.get("commands")
    if not isinstance(commands, list) or not all(isinstance(c, str) and c.strip() for c in commands):
        problems.append("image_verify_commands must be a list of commands, each a non-empty string (got %r)" % (commands,))
    problems.append(_tasks_file_problem(settings.get("tasks"), "image_verify_tasks"))
    return [p for p in problems if p]


def _check(name, passed, detail):
    return {"check": name, "passed": passed, "detail": one_line(detail)}


def _df_summary(result):
    """``ext4, 1500.0 MiB used, /`` from a df line the capture engine has already judged good."""
    fields = [line for line in (result.get("stdout") or "").splitlines() if line.strip()][-1].split()
    return "%s, %s MiB used, %s" % (fields[1], round(int(fields[3]) / MIB, 1), fields[6])


def _planned_checks(settings):
    host_checks = bool(settings.get("host_checks", True))
    return (["boots"] + (["SSH answers", "root filesystem"] if host_checks else [])
            + ["command: %s" % c for c in settings.get("commands") or []]
            + (["tasks: %s" % settings["tasks"]] if settings.get("tasks") else []))


def _host_checks(answers, settings):
    """The checks over SSH: it answers, and its root filesystem is one Linode can capture, used below the limit."""
    off = "not checked (image_verify_host_checks: false)"
    if not settings.get("host_checks", True):
        return [_check("SSH answers", None, off), _check("root filesystem", None, off)]
    ssh = answers.get("ssh") or {}
    if not ssh or ssh.get("skipped"):
        return [_check("SSH answers", None, "not run"), _check("root filesystem", None, "not run")]
    if _fail_reason(ssh):
        return [_check("SSH answers", False, _fail_reason(ssh)),
                _check("root filesystem", None, "not run: no SSH")]
    df = answers.get("df") or {}
    problem = disk_problem(df, "/", float(settings.get("size_limit", 6144)), float(settings.get("margin", 0.10)))
    return [_check("SSH answers", True, "within %s s" % ssh.get("elapsed", "?")),
            _check("root filesystem", problem is None, problem or _df_summary(df))]


def _user_checks(answers, settings):
    """Each command must exit 0; the tasks file must pass."""
    checks = []
    results = dict((str(r.get("item")), r) for r in answers.get("commands") or [] if not r.get("skipped"))
    for command in settings.get("commands") or []:
        result = results.get(command)
        if result is None:
            checks.append(_check("command: %s" % command, None, "not run"))
        elif result.get("rc") == 0:
            checks.append(_check("command: %s" % command, True, "exited 0"))
        else:
            said = (result.get("stderr") or result.get("stdout") or result.get("msg") or "").strip().splitlines()
            checks.append(_check("command: %s" % command, False, "exited %s%s" % (
                result.get("rc", "without a code"), ": " + said[-1] if said else "")))
    if settings.get("tasks"):
        tasks = answers.get("tasks")
        name = "tasks: %s" % settings["tasks"]
        # A dict once they ran (empty: passed); anything else (None, or "" from an older ansible-core) is not run.
        if not isinstance(tasks, dict):
            checks.append(_check(name, None, "not run"))
        elif not tasks:
            checks.append(_check(name, True, "passed"))
        else:
            checks.append(_check(name, False, "%s: %s" % (tasks.get("task") or "a task", one_line(tasks.get("msg")))))
    return checks


def verify_verdict(answers, settings, check_mode=False):
    """Whether the image passed its checks on a test instance booted from it.

    ``answers``: ``tester`` (the create's result), ``ssh`` (wait_for_connection's), ``df`` (the
    image_capture role's disk measurement), ``commands`` (the loop's ``results``, each with ``item``),
    ``tasks`` (``{"task", "msg"}`` when the user's tasks failed, ``{}`` when they passed), ``error``
    (``{"task", "msg"}`` when a step outside the checks failed), ``deleted`` (the delete's result).
    ``settings``: ``image``, ``host_checks``, ``size_limit``, ``margin``, ``commands``, ``tasks``.

    The result is ``verified`` (every check that ran passed), ``failed`` (a check failed: the image's
    fault), ``error`` (the verification could not be carried out, for example the test instance could
    not be created: the image is neither verified nor failed) or, in check mode, ``would_verify``.
    ``checks`` lists each check with ``passed`` true, false or null (not run, and why). ``tester_left``
    says the test instance still exists, which the role fails loudly whatever the verdict.
    """
    tester = (answers.get("tester") or {}).get("instance") or {}
    error = answers.get("error") or {}
    failure = "%s: %s" % (error.get("task") or "a step", one_line(error.get("msg") or "failed")) if error else ""
    outcome = {"result": "would_verify" if check_mode else "verified", "image_id": settings.get("image") or None,
               "checks": [], "reason": "", "tester_id": tester.get("id"), "tester_label": tester.get("label"),
               "tester_left": False, "tester_error": ""}
    if check_mode:
        outcome["checks"] = [_check(name, None, "would run") for name in _planned_checks(settings)]
        if error:
            outcome.update(result="error", reason=failure)
        return outcome
    left = _left_behind("test instance", tester, answers.get("deleted") or {})
    if left:
        outcome.update(tester_left=True, tester_error=left)
    if tester.get("id") is None:
        outcome.update(result="error", reason="the test instance was not created: %s" % (failure or "no answer"))
        return outcome
    boots = tester.get("status") == "running"
    outcome["checks"] = [_check("boots", boots, "Linode %s is running" % tester["id"] if boots else
                                "Linode %s is %s, not running%s" % (tester["id"], tester.get("status"),
                                                                    ": " + failure if failure else ""))]
    if boots:
        outcome["checks"] += _host_checks(answers, settings) + _user_checks(answers, settings)
    failed = ["%s: %s" % (c["check"], c["detail"]) for c in outcome["checks"] if c["passed"] is False]
    if failed:
        outcome.update(result="failed", reason="; ".join(failed))
    elif error:
        outcome.update(result="error", reason=failure)
    return outcome


VERDICT_WORDS = {True: "passed", False: "FAILED", None: "not run"}


def verify_report(outcome):
    """The lines a person reads: the verdict, then one line a check."""
    image = outcome.get("image_id") or "the image to be made"
    first = {
        "verified": "image %s verified" % image,
        "failed": "image %s FAILED its verification: %s" % (image, outcome.get("reason")),
        "error": "image %s could not be verified: %s" % (image, outcome.get("reason")),
        "would_verify": "check mode, nothing written: would boot %s on a test instance and run these checks" % image,
    }.get(outcome.get("result"), "image %s: %s" % (image, outcome.get("result")))
    lines = [first]
    for check in outcome.get("checks") or []:
        verdict = "would run" if outcome.get("result") == "would_verify" else VERDICT_WORDS[check["passed"]]
        lines.append("%-9s %s%s" % (verdict, check["check"], "" if verdict == "would run" else ": " + check["detail"]))
    if outcome.get("tester_error"):
        lines.append(outcome["tester_error"])
    return lines


def verify_tags(tags, verified):
    """An image's tags with the verdict's marker, the other marker gone; the source record left to the module."""
    kept = [t for t in tags or [] if t not in MARKER_TAGS and not str(t).startswith("source=linode:")]
    return sorted(set(kept) | {VERIFIED_TAG if verified else VERIFY_FAILED_TAG})


# The pipeline (playbooks/golden_image_pipeline.yml).

def _keep(value):
    """golden_image_keep as a whole number of 1 or more, or None when not asked (unset, null, "")."""
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, bool) or not re.match(r"^[0-9]+\Z", str(value).strip()) or int(value) < 1:
        raise EngineError("golden_image_keep must be a whole number of 1 or more: how many of the newest verified "
                          "images to keep, the new one included (got %r). Leave it unset to delete nothing" % (value,))
    return int(value)


def _names(settings):
    """The labels a run uses, from the prefix and the run's UTC stamp: the image's <prefix>-<stamp>, the
    temporary instances' bake-<prefix>-<stamp> and verify-<prefix>-<stamp>, each valid by its own rule."""
    prefix, stamp = settings.get("prefix"), settings.get("stamp")
    if not isinstance(stamp, str) or not STAMP_PATTERN.match(stamp):
        raise EngineError("the run's stamp must be YYYYmmdd-HHMMSS (got %r)" % (stamp,))
    if not isinstance(prefix, str) or not prefix:
        raise EngineError("golden_image_prefix is required: it names the images and selects the ones retention may "
                          "delete (got %r)" % (prefix,))
    names = {"label": "%s-%s" % (prefix, stamp), "builder": "bake-%s-%s" % (prefix, stamp),
             "tester": "verify-%s-%s" % (prefix, stamp), "builder_prefix": "bake-%s-" % prefix,
             "tester_prefix": "verify-%s-" % prefix, "keep_prefix": "%s-" % prefix}
    for validate, name in ((validate_image_label, "label"), (validate_instance_label, "tester")) + (
            ((validate_instance_label, "builder"),) if settings.get("source") == "bake" else ()):
        problem = _label_problem(validate, names[name], "label")
        if problem:
            raise EngineError("golden_image_prefix %r makes the %s label %s, which is not valid: %s" % (
                prefix, "image" if name == "label" else name, names[name], problem))
    return names


def _plan(settings, names):
    """Each step's line: what it will do (and, in check mode, would do)."""
    if settings["source"] == "bake":
        provision = ("role %s" % settings["provision_role"]) if settings.get("provision_role") else (
            "tasks %s" % settings.get("provision_tasks"))
        first = ("create builder %s from %s in %s (%s), provision it with %s, capture image %s from its disk, "
                 "delete the builder" % (names["builder"], settings["base_image"], settings["region"], settings["type"],
                                         provision, names["label"]))
    else:
        first = "capture image %s from the disk of %s" % (names["label"], settings["reference"])
    checks = ["it boots"] + (["SSH answers", "its root filesystem is ext3/ext4 and used as expected"]
                             if settings.get("host_checks", True) else [])
    count = len(settings.get("check_commands") or [])
    if count:
        checks.append("%d command%s exit%s 0" % (count, "" if count == 1 else "s", "s" if count == 1 else ""))
    if settings.get("check_tasks"):
        checks.append("tasks %s pass" % settings["check_tasks"])
    verify = ("boot %s on test instance %s in %s (%s) and check that %s; tag it %s, or %s%s" % (
        names["label"], names["tester"], settings["region"], settings["type"], ", ".join(checks), VERIFIED_TAG,
        VERIFY_FAILED_TAG, " and delete it" if settings.get("delete_failed") else ""))
    regions = sorted(settings.get("regions") or [])
    keep = settings["keep"]
    return [
        (FIRST_STEP[settings["source"]], first, None),
        ("verify", verify, None),
        ("replicate", "replicate %s to %s" % (names["label"], ", ".join(regions)),
         None if regions else "no regions to replicate to (golden_image_regions)"),
        ("retention", "keep the %d newest verified images labelled %s*, %s among them, and delete the older verified "
                      "ones" % (keep or 0, names["keep_prefix"], names["label"]),
         None if keep else "golden_image_keep is not set: no image is deleted"),
        ("publish", "publish golden_image_id with set_stats for the next node of the workflow", None),
    ]


def start(settings, check_mode=False):
    """The pipeline before its first step, or EngineError naming the variable at fault.

    ``settings``: ``source`` (bake or reference), ``prefix``, ``stamp`` (the run's UTC YYYYmmdd-HHMMSS),
    ``reference`` (the host to capture, for reference), ``base_image``, ``region``, ``type``,
    ``provision_role`` or ``provision_tasks`` (bake), ``check_commands``, ``check_tasks``,
    ``host_checks``, ``regions``, ``keep``, ``delete_failed``; ``stage`` (one of STAGES, ``all`` when
    empty) and, for the verify and promote stages, ``candidate_id`` and ``candidate_label`` or
    ``verified_id`` and ``verified_label``: the image the node before published.
    """
    settings = dict(settings or {})
    stage = settings.get("stage") or "all"
    if stage not in STAGES:
        raise EngineError("golden_image_pipeline_stage must be one of %s (got %r)" % (", ".join(STAGES), stage))
    source = settings.get("source") or "bake"
    if source not in SOURCES:
        raise EngineError("golden_image_source must be bake or reference (got %r)" % (source,))
    settings["source"] = source
    makes_image = stage in ("all", "bake")
    if makes_image and source == "bake" and bool(settings.get("provision_role")) == bool(settings.get("provision_tasks")):
        raise EngineError("a bake needs exactly one of golden_image_provision_role (a role name) and "
                          "golden_image_provision_tasks (a tasks file) (got %s)" % (
                              "both" if settings.get("provision_role") else "neither"))
    if makes_image and source == "reference" and not settings.get("reference"):
        raise EngineError("golden_image_source=reference needs golden_image_host, the instance to capture")
    # Promotion creates no instance: only the stages that do need a region.
    if stage != "promote" and not settings.get("region"):
        raise EngineError("golden_image_region is required: where the builder and the test instance run")
    image_id, image_label = _stage_input(stage, settings, check_mode)
    for option in ("check_commands", "regions"):
        value = settings.get(option)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value)):
            raise EngineError("golden_image_%s must be a list of non-empty strings (got %r)" % (
                "check_commands" if option == "check_commands" else "regions", value))
    settings["keep"] = _keep(settings.get("keep"))
    names = _names(settings)
    if stage in STAGE_INPUT:
        names["label"] = image_label or image_id or "the image %s publishes" % STAGE_INPUT[stage][3]
    plan = _plan(settings, names)
    if stage != "all":
        in_stage = [name for name, _line, _skipped in plan if name in STAGE_STEPS[stage]]
        outside = "not in this job: golden_image_pipeline_stage=%s runs %s only" % (stage, ", ".join(in_stage))
        plan = [(name, line, skipped if name in in_stage else outside) for name, line, skipped in plan]
    steps = [{"step": name, "result": SKIPPED if skipped else PENDING, "detail": skipped or line}
             for name, line, skipped in plan]
    # A promote node's image was verified by the verify node before it; the promotion checks its tag
    # before the first write (``promote_problems``) and again before it publishes it.
    return dict(names, source=source, stage=stage, check_mode=bool(check_mode), keep=settings["keep"],
                image_id=image_id, verified=True if stage == "promote" else None, verification=None, steps=steps)


def _stage_input(stage, settings, check_mode):
    """``(image id, label)`` a verify or promote stage works on, from the node before it; ``(None, None)``
    for the stages that make the image. Only a check run may go without the id: a real one fails here,
    before any write, naming the variable."""
    if stage not in STAGE_INPUT:
        return None, None
    id_setting, label_setting, variable, publisher = STAGE_INPUT[stage]
    image_id = settings.get(id_setting) or None
    if image_id is None and not check_mode:
        raise EngineError("golden_image_pipeline_stage=%s needs %s: the id (private/<number>) of the image %s published; "
                          "in an AWX workflow its artifacts become this job's extra vars" % (stage, variable, publisher))
    if image_id is not None and (not isinstance(image_id, str) or not IMAGE_ID_PATTERN.match(image_id)):
        raise EngineError("%s must be a private image id, private/<number> (got %r)" % (variable, image_id))
    return image_id, settings.get(label_setting) or None


def promote_problems(state, answer):
    """Why the image a promote stage was given may not be promoted, from its read-back (linode_image_info),
    before replication and retention write anything: it must exist, be available and carry the verified mark.
    Empty when it may, or when nothing is to be checked (another stage, or a check run without an id)."""
    if state.get("stage") != "promote" or not state.get("image_id"):
        return []
    problem = _unpublishable(state["image_id"], answer)
    return ["golden_image_verified_id %s cannot be promoted: %s" % (state["image_id"], problem)] if problem else []


def _step(state, name):
    for step in state["steps"]:
        if step["step"] == name:
            return step
    raise EngineError("this pipeline has no step %r: its steps are %s" % (name, ", ".join(s["step"] for s in state["steps"])))


def next_step(state):
    """The step to run now, or None once none is left (or one failed)."""
    for step in state["steps"]:
        if step["result"] not in STEP_RESULTS:
            raise EngineError("%s: unknown result %r" % (step["step"], step["result"]))
        if step["result"] == PENDING:
            return step["step"]
    return None


def advance(state, step, answer=None, **context):
    """A new state: ``state`` after ``step``, whose ``answer`` is what it returned. Only the next step
    may advance; a step that fails stops all later ones."""
    new = dict(state, steps=[dict(s) for s in state["steps"]])
    current = _step(new, step)
    expected = next_step(new)
    if expected != step:
        raise EngineError("%s cannot run now: %s" % (step, "the next step is %s" % expected if expected
                                                     else "the pipeline has ended (%s is %s)" % (step, current["result"])))
    answer = answer if answer is not None else {}
    result, detail = ADVANCE[step](new, answer, context)
    current.update(result=result, detail=one_line(detail))
    if result == FAILED:
        for later in new["steps"]:
            if later["result"] == PENDING:
                later.update(result=STOPPED, detail="not run: %s failed" % step)
    return new


def _made(state, step, answer, made, would):
    """The first step: the image exists (or would be made), or the step failed and the pipeline stops."""
    if answer.get("image_id"):
        state["image_id"] = answer["image_id"]
    result = answer.get("result")
    if state["check_mode"] and result in made | would:
        return WOULD, _step(state, step)["detail"]
    if not state["check_mode"] and result in made and state["image_id"]:
        return DONE, "%s: image %s (%s)" % (result, state["image_id"], state["label"])
    return FAILED, answer.get("reason") or "%s ended as %s" % (step, result or "nothing")


def _bake(state, answer, context):
    return _made(state, "bake", answer, frozenset(["baked"]), frozenset(["would_bake"]))


def _capture(state, answer, context):
    return _made(state, "capture", answer, CAPTURE_MADE, CAPTURE_WOULD)


def _verify(state, answer, context):
    result = answer.get("result")
    state["verification"] = {"image_id": answer.get("image_id") or state["image_id"], "label": state["label"],
                             "result": result, "reason": answer.get("reason") or ""}
    if state["check_mode"] and result == "would_verify":
        # The role knows which checks it would run (its host checks may be off): its list, not the plan's.
        return WOULD, "boot %s on test instance %s and check: %s; tag it %s or %s" % (
            state["label"], state["tester"], ", ".join(c["check"] for c in answer.get("checks") or []) or "it boots",
            VERIFIED_TAG, VERIFY_FAILED_TAG)
    if result == "verified" and not answer.get("tester_left"):
        state["verified"] = True
        return DONE, "%s passed: %s" % (state["image_id"], ", ".join(
            c["check"] for c in answer.get("checks") or [] if c.get("passed")))
    state["verified"] = result == "verified"
    reasons = [r for r in (answer.get("reason"), answer.get("tester_error")) if r]
    return FAILED, "; ".join(reasons) or "the verification ended as %s" % (result or "nothing")


def _replicate(state, answer, context):
    if _fail_reason(answer):
        return FAILED, "replication: %s" % _fail_reason(answer)
    if state["check_mode"]:
        return WOULD, _step(state, "replicate")["detail"]
    regions = sorted(r.get("region") for r in (answer.get("image") or {}).get("regions") or [])
    return DONE, "%s is in %s" % (state["image_id"], ", ".join(regions))


def retention_plan(answer, image_id, keep):
    """``(kept, deleted)`` image ids of a prune with ``keep``; in check mode, where the new image does
    not exist yet, the prune could not count it, so the last image it kept would go."""
    kept = [i.get("id") for i in answer.get("kept") or []]
    deleted = [i.get("id") for i in answer.get("deleted") or []]
    if image_id is None or image_id not in kept:
        kept, deleted = kept[:keep - 1], kept[keep - 1:] + deleted
    return kept, deleted


def _retention(state, answer, context):
    if _fail_reason(answer):
        return FAILED, "retention: %s" % _fail_reason(answer)
    kept, deleted = retention_plan(answer, state["image_id"], state["keep"])
    if state["image_id"] is not None and state["image_id"] in deleted:
        # linode_image_prune's protect rules it out: should it ever happen, nothing is published.
        return FAILED, "retention deleted %s, the image just verified" % state["image_id"]
    new = state["image_id"] or state["label"] + " (to be made)"
    listed = ", ".join(str(i) for i in deleted) or "none"
    if state["check_mode"]:
        return WOULD, "would keep %s%s; would delete %s" % (new, "".join(", %s" % i for i in kept), listed)
    return DONE, "kept %s; deleted %s" % (", ".join(str(i) for i in kept), listed)


def _publish(state, answer, context):
    """``answer``: the image read back (linode_image_info). Only an available image that still carries the
    verified mark is published; in check mode, where it may not exist yet, the step says it would be."""
    if state["check_mode"]:
        return WOULD, _step(state, "publish")["detail"]
    if not state["verified"] or not state["image_id"]:
        raise EngineError("publish: only a verified image is published")
    problem = _unpublishable(state["image_id"], answer)
    if problem:
        return FAILED, problem
    return DONE, "golden_image_id = %s" % state["image_id"]


def _unpublishable(image_id, answer):
    """Why the image read back (linode_image_info's answer) is not an available image marked verified, or None."""
    if _fail_reason(answer):
        return "reading %s back: %s" % (image_id, _fail_reason(answer))
    image = ((answer.get("images") or [None])[0]) or {}
    if image.get("id") != image_id:
        return "%s does not exist any more" % image_id
    if image.get("status") != "available" or VERIFIED_TAG not in (image.get("tags") or []):
        return "%s is %s%s" % (image_id, image.get("status"), "" if VERIFIED_TAG in (
            image.get("tags") or []) else ", without the %s tag" % VERIFIED_TAG)
    return None


ADVANCE = {"bake": _bake, "capture": _capture, "verify": _verify, "replicate": _replicate,
           "retention": _retention, "publish": _publish}


def fails(state):
    return any(step["result"] == FAILED for step in state["steps"])


def stats(state):
    """What set_stats publishes for the next node of a workflow: the steps, the verification, and
    ``golden_image_id`` only once it was published (verified, replicated and retention done).

    A stage publishes what the next stage takes: the bake ``golden_image_candidate_id`` (not verified
    yet, so not golden_image_id), the verification ``golden_image_verified_id``, the promotion
    ``golden_image_id``. Its steps go under ``golden_image_<stage>_steps``: AWX makes a parent's
    artifacts its children's extra vars, and an extra var ``golden_image_pipeline`` would override the
    child's own state, a fact of that name.
    """
    stage = state.get("stage") or "all"
    if stage == "all":
        data = {"golden_image_pipeline": [dict(s) for s in state["steps"]], "golden_image_label": state["label"]}
    else:
        data = {"golden_image_%s_steps" % stage: [dict(s) for s in state["steps"]]}
    if state.get("verification"):
        data["golden_image_verification"] = dict(state["verification"])
    # The step whose success publishes the stage's image, under which names (all: golden_image_label is always there).
    step, id_name, label_name = {
        "all": ("publish", "golden_image_id", None),
        "bake": (state["steps"][0]["step"], "golden_image_candidate_id", "golden_image_candidate_label"),
        "verify": ("verify", "golden_image_verified_id", "golden_image_verified_label"),
        "promote": ("publish", "golden_image_id", "golden_image_label"),
    }[stage]
    if _step(state, step)["result"] == DONE:
        data[id_name] = state["image_id"]
        if label_name:
            data[label_name] = state["label"]
    return data


TABLE_FORMAT = "%-10s %-8s %s"


STAGE_OUTCOMES = {"all": ("made, verified and published", "published as %s"),
                  "bake": ("made as a candidate", "candidate %s, to be verified"),
                  "verify": ("verified", "verified %s, to be promoted"),
                  "promote": ("promoted and published", "published as %s")}


def _summary(state):
    failed = [s["step"] for s in state["steps"] if s["result"] == FAILED]
    if failed:
        return "failed at %s" % failed[0]
    stage = state.get("stage") or "all"
    would, done = STAGE_OUTCOMES[stage]
    if state["check_mode"]:
        return "would be %s (check mode: nothing was written)" % would
    ran = [s for s in state["steps"] if s["result"] != SKIPPED]
    if ran and all(s["result"] == DONE for s in ran):
        return done % state["image_id"]
    return "not finished"


def table(state):
    """One line a step, with what it did, would do or why not, and the pipeline's outcome."""
    lines = [TABLE_FORMAT % ("STEP", "RESULT", "DETAIL")]
    lines.extend(TABLE_FORMAT % (s["step"], s["result"], s["detail"]) for s in state["steps"])
    lines.append("golden image %s: %s" % (state["label"], _summary(state)))
    return lines


def planned(state):
    """The steps this run will carry out, in order: the plays that prepare a step (its temporary
    instance, its files) do so only for these."""
    return [s["step"] for s in state["steps"] if s["result"] == PENDING]


VIEWS = {"next": next_step, "fails": fails, "stats": stats, "table": table, "planned": planned}
