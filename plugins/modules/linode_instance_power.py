#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: linode_instance_power
short_description: Boot, shut down or reboot Linode instances, one or a fleet, and bring them back
version_added: 0.1.0
description:
  - Brings one Linode instance (O(linode_id) or O(linode_label)) or many (O(linode_ids)) to a power state and, by
    default, waits until they are there.
  - For many instances, every read and every wait is shared by all of them, so a fleet of a hundred costs a few reads
    plus one action per instance that needs it.
  - Reports no change for instances already in that state (except O(state=restarted), which always reboots), and
    waits without sending anything for instances already on their way there (for example V(shutting_down)).
  - An instance in any status but V(running) and V(offline) that a job of Linode's holds (V(migrating), V(resizing),
    V(provisioning), V(rebuilding), V(cloning), V(restoring), V(busy), ...) is refused before any write and left
    alone, with an error that names the status and says to try again when it is running or offline. Such a job ends
    running or offline, nothing says which, and a power action is answered "Linode busy.". O(state=restored) refuses
    none, as the duty to boot an instance back stays (its boot is retried until O(wait_timeout)).
  - A boot or shutdown under way (V(booting), V(rebooting), V(shutting_down), V(stopped)) is waited for, or its
    "Linode busy." retried, except by a claim (O(remember=true)), which refuses it unless the instance carries this
    run's own marker. Someone else is changing the instance's power at that moment, so the status to restore would be
    a guess, and a rerun a minute later costs nothing.
  - Boots and shutdowns are safe to repeat, so one answered "Linode busy." (another job, such as a capture, runs on the
    instance), not answered at all (connection reset, O(request_timeout)) or answered with a 5xx is sent again on the
    poll schedule until O(wait_timeout); after no answer or a 5xx the instance is read first, and an action that shows
    it acted (V(booting), V(shutting_down), ...) is not sent again. A reboot is never sent twice. An instance whose
    action still failed at the deadline fails on its own.
  - With O(remember=true), O(state=stopped) first claims every instance it is given, running or not, with a restore
    marker, a tag C(golden_image:<run_id>:<unix_time>:<status>) (at most 44 characters) naming the run (O(run_id)),
    the API's time of the claim and the status to restore, V(running) or V(offline). After one poll interval (or as
    long as writing the markers took, if longer) it reads the instances back and shuts down only those that still
    carry its own marker; a tag list is replaced as a whole, so when two runs claim at once the last writer wins and
    the other one refuses those instances.
  - An instance claimed by another run whose claim holds (see O(claim_ttl) and O(take_over)) is refused, with an error
    naming that run and until when, and left alone, marker included. O(state=restored) never touches it either and
    reports the run in RV(instances.<id>.claimed_by); if that marker records V(running) and the instance is not running,
    the instance also fails (it is left off; pass the O(run_id) of the run that stopped it, or O(take_over)).
  - O(state=restored) boots the instances whose marker is this run's, or another run's that has expired or is named in
    O(take_over), or the tag C(golden_image.linode:restore=running) of earlier versions, and records V(running). It
    then removes the marker of every instance read back in the status its marker records (markers that record
    V(offline) are simply removed, as a restore never shuts anything down). A removal that fails is tried again until
    O(wait_timeout), then reported as a warning (the instance is back; the marker left is recognised as stale later).
    An instance it could not boot back fails, and its marker becomes C(golden_image.linode:restore=running), as the run
    ends and its claim with it, while any later run still boots the instance back, with no O(take_over).
  - A marker is stale when its instance was booted after it was written (a finished C(linode_boot) event created after
    the marker's time); its removal failed once, and the instance has been running since, so whoever turned it off
    since meant it. A stale marker is removed and never acted on. The events are read only for instances that are off
    under a marker that would boot them back or hold them (one request per 100 of them). The legacy tag has no time
    and is never judged stale.
  - Waits on the instances' own C(status), one request a round for the whole fleet, on the schedule O(poll_interval)
    describes (every 5 s at first), because the power events' estimates are not usable. The events are read only for an
    instance that is neither there nor on its way after a minute, to tell a failed job from a slow one.
  - One instance that fails (one that does not exist, one refused for its status, a refused claim, a marker that could
    not be written, an action that did not go through, a wait that timed out) never stops the others; the task fails
    at the end, naming each one.
author:
  - golden_image.linode maintainers (@golden-image)
extends_documentation_fragment:
  - golden_image.linode.api
  - golden_image.linode.wait
attributes:
  check_mode:
    support: full
    description:
      - Reads the instances (and the events a marker needs) and reports what a real run would change, claims and
        refusals included, without any write. A check run neither claims nor reads claims back.
  diff_mode:
    support: full
    description: Shows the statuses before and after.
options:
  linode_id:
    description:
      - ID of the Linode instance. Exactly one of O(linode_id), O(linode_label) and O(linode_ids) is required.
    type: int
  linode_label:
    description:
      - Label of the Linode instance.
    type: str
  linode_ids:
    description:
      - IDs of several Linode instances, handled together.
      - An ID that does not exist fails that entry only; the others are acted on. The task fails afterwards, naming
        each instance that failed, and RV(instances) has every instance's outcome.
    type: list
    elements: int
  state:
    description:
      - V(running) boots the instances that do not run; V(stopped) shuts down those that are not offline;
        V(restarted) reboots them; V(restored) boots the ones an earlier O(remember=true) recorded as running (see the
        description for which markers count) and removes the markers.
    type: str
    required: true
    choices: [running, stopped, restarted, restored]
  remember:
    description:
      - With O(state=stopped), claim every instance with a restore marker before shutting any down, so that
        O(state=restored) (of this run, or of a later one once the claim has expired) boots back the ones that ran,
        and so that a concurrent run leaves them alone. Costs one tag write per instance and one more listing per 100
        instances.
    type: bool
    default: false
  run_id:
    description:
      - Names the run in the markers it writes, and tells its own markers from other runs'.
      - Pass the same ID to the O(state=stopped) and the O(state=restored) tasks of one run (a role passes one for the
        whole run). A restore with another ID boots only the instances whose claims have expired or whose run is in
        O(take_over).
      - 1 to 12 letters, digits, C(.), C(_) or C(-).
      - By default a fresh random ID for each task; RV(run_id) returns it.
    type: str
  claim_ttl:
    description:
      - Seconds after its time (the API's clock) that another run's marker keeps holding its instance. After that it is
        expired, and may be taken over (its recorded status is kept) or, by O(state=restored), acted on.
      - Set it longer than a whole run takes, from its shutdown to its restore, on every task of every run.
      - By default three times O(wait_timeout).
    type: int
  take_over:
    description:
      - Run IDs whose claims this task may take over at once, as if expired, for example those of a run that was
        killed. The status their markers record is kept.
    type: list
    elements: str
    default: []
  config_id:
    description:
      - ID of the config profile to boot or reboot with. By default Linode uses the only or last booted one.
      - Only with O(linode_id) or O(linode_label).
    type: int
  wait:
    description:
      - Wait until the instances are V(running) or V(offline).
      - With O(state=restored) and O(wait=false) no marker of an instance that is booted is removed, as its boot is not
        confirmed; a later O(state=restored) removes it.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds the whole task may take, "Linode busy" waits and retries included.
    type: int
    default: 600
seealso:
  - module: golden_image.linode.linode_image_capture
"""

EXAMPLES = r"""
- name: Shut web-1 down before capturing it
  golden_image.linode.linode_instance_power:
    linode_label: web-1
    state: stopped
  register: power

- name: Boot it again with its usual config
  golden_image.linode.linode_instance_power:
    linode_id: "{{ power.instance.id }}"
    state: running
  when: power.previous_status == 'running'

- name: Claim a whole fleet for this run and shut it down, remembering which instances ran
  golden_image.linode.linode_instance_power:
    linode_ids: "{{ groups['web'] | map('extract', hostvars, 'linode_id') | list }}"
    state: stopped
    remember: true
    run_id: "{{ tower_job_id | default('manual') }}"
    claim_ttl: 7200
  run_once: true
  register: claimed

- name: Bring back every instance this run claimed that was running
  golden_image.linode.linode_instance_power:
    linode_ids: "{{ groups['web'] | map('extract', hostvars, 'linode_id') | list }}"
    state: restored
    run_id: "{{ tower_job_id | default('manual') }}"
    claim_ttl: 7200
  run_once: true

- name: Bring back the instances of a run that was killed (its job was 4711)
  golden_image.linode.linode_instance_power:
    linode_ids: "{{ groups['web'] | map('extract', hostvars, 'linode_id') | list }}"
    state: restored
    take_over: ["4711"]
  run_once: true
"""

RETURN = r"""
run_id:
  description: The run ID of the task's markers (O(run_id), or the random one it was given).
  returned: always
  type: str
  sample: 3f9a01c2
previous_status:
  description: Status of the instance before the task.
  returned: with O(linode_id) or O(linode_label)
  type: str
  sample: running
status:
  description: Status of the instance after the task (in check mode, the status a real run would end in).
  returned: with O(linode_id) or O(linode_label)
  type: str
  sample: offline
instance:
  description: The instance as the Linode API returns it.
  returned: with O(linode_id) or O(linode_label)
  type: dict
instances:
  description:
    - One entry per instance (see RV(instances.<id>)), keyed by its ID as a string (for example V("1001")), in the order
      of O(linode_ids) (one entry with O(linode_id) or O(linode_label)).
    - RV(instances.<id>.error) and RV(instances.<id>.claimed_by) are there only when they apply. For an id that does
      not exist, RV(instances.<id>.label), RV(instances.<id>.previous_status), RV(instances.<id>.status),
      RV(instances.<id>.restore_status) and RV(instances.<id>.instance) are null.
  returned: always
  type: dict
  contains:
    <id>:
      description: The outcome for the instance whose ID is C(<id>), with the keys below.
      type: dict
      returned: for each instance
      contains:
        id:
          description: ID of the instance (as a number; the key it is under is the same as a string).
          type: int
          returned: always
          sample: 1001
        label:
          description: Label of the instance (null if it does not exist).
          type: str
          returned: always
          sample: web-1
        previous_status:
          description: Status before the task (null if it does not exist).
          type: str
          returned: always
          sample: running
        status:
          description: Status after the task (in check mode, the status a real run would end in).
          type: str
          returned: always
          sample: offline
        restore_status:
          description:
            - The status a O(state=restored) brings it back to, V(running) or V(offline), as found before the task.
            - V(running) if it ran or was booting; else the status its marker records, unless that marker is stale; else
              V(offline) if it was off or shutting down. This is what O(remember=true) writes in its marker.
            - Null if the instance does not exist, or if it was in a job's status (V(migrating), ...) with no marker,
              which may end running; it is never recorded as V(offline).
          type: str
          returned: always
          sample: running
        changed:
          description: Whether the task changed this instance (an action sent, a marker written or removed).
          type: bool
          returned: always
          sample: true
        error:
          description:
            - Why this instance failed, on one line. The task fails when any entry has one.
            - A refused claim reads C(claimed by run <run_id> until <time> UTC (claim_ttl) ...); an instance a restore
              leaves off under another run's claim reads C(left offline) and names that run and until when.
          type: str
          returned: when this instance failed
        refused_status:
          description:
            - The status for which this instance was refused before any write (see the description), for example
              V(migrating); RV(instances.<id>.error) names it too.
          type: str
          returned: when the instance was refused for its status
          sample: migrating
        claimed_by:
          description:
            - The run ID of another run whose claim holds this instance. With O(state=stopped) the instance was refused
              (and RV(instances.<id>.error) says so). With O(state=restored) it was left alone, as that run restores it;
              it has an RV(instances.<id>.error) too when it is left off although that marker records V(running).
          type: str
          returned: when another run's live claim holds the instance
        instance:
          description: The instance as the Linode API returned it last (null if it does not exist).
          type: dict
          returned: always
  sample:
    "1001": {id: 1001, label: web-1, previous_status: running, status: offline, restore_status: running,
             changed: true, instance: {id: 1001, status: offline}}
    "1002": {id: 1002, label: web-2, previous_status: running, status: running, restore_status: running,
             changed: false, claimed_by: "4711", error: "claimed by run 4711 until 2025-01-01T12:00:00 UTC (claim_ttl), ...",
             instance: {id: 1002, status: running}}
elapsed_s:
  description: Seconds the task took.
  returned: always
  type: float
api_requests:
  description: Linode API requests the task sent, by HTTP method, and their C(total).
  returned: always
  type: dict
  sample: {GET: 3, POST: 1, total: 4}
field:
  description:
    - The option at fault when the task failed because of one (the failure's C(msg) says why), for example
      V(linode_ids) when one of them does not exist, or V(run_id).
    - Instances that failed on their own have their reason in RV(instances.<id>.error).
  returned: on failure, when an option is at fault
  type: str
  sample: linode_ids
"""

import secrets

from ansible_collections.golden_image.linode.plugins.module_utils.base import WAIT_ARGUMENT_SPEC, LinodeModuleBase
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, one_line
from ansible_collections.golden_image.linode.plugins.module_utils.instances import (
    LEGACY_POWER_MARKER_TAG,
    RUN_ID_PATTERN,
    get_instance,
    list_instances,
    power_marker_tag,
    read_power_marker,
    restore_status,
    set_power_marker,
    status_refusal,
    tags_with_marker,
)
from ansible_collections.golden_image.linode.plugins.module_utils.power import (
    ALREADY_THERE,
    LIVE,
    ON_THE_WAY,
    OWN,
    POWER_ACTIONS,
    STALE,
    api_time,
    confirm_claims,
    forget_power_markers,
    judge_markers,
    send_power_actions,
    server_epoch,
    write_power_markers,
)
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error, require_scopes
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import wait_for_instances


class LinodeInstancePower(LinodeModuleBase):
    argument_spec = dict(
        linode_id=dict(type="int"),
        linode_label=dict(type="str"),
        linode_ids=dict(type="list", elements="int"),
        state=dict(type="str", required=True, choices=["running", "stopped", "restarted", "restored"]),
        remember=dict(type="bool", default=False),
        run_id=dict(type="str"),
        claim_ttl=dict(type="int"),
        take_over=dict(type="list", elements="str", default=[]),
        config_id=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )
    argument_spec.update(WAIT_ARGUMENT_SPEC)
    module_kwargs = dict(
        mutually_exclusive=[("linode_id", "linode_label", "linode_ids"), ("linode_ids", "config_id")],
        required_one_of=[("linode_id", "linode_label", "linode_ids")],
    )

    def __init__(self, module):
        super(LinodeInstancePower, self).__init__(module)
        self.run_id = None
        # The ids in the order of the task, and the instances as first read and as last read or written.
        self.order = []
        self.previous = {}
        self.latest = {}
        # Per instance: why it failed, which live run claims it, the status to restore; and what changed.
        self.errors = {}
        self.claimed_by = {}
        self.restore = {}
        self.refused_status = {}
        self.changed_ids = set()

    def run_task(self):
        self._check_run_options()
        self._get_instances()
        # In check mode too: the capture role's check-mode read is its last step before the first shutdown.
        require_scopes(self.client, ["linodes:read_write"], "shut down, boot and tag instances")
        state = self.params["state"]
        claiming = state == "stopped" and self.params["remember"]
        verdicts = {}
        if claiming or state == "restored":
            verdicts = judge_markers(self.client, self.latest, self.run_id, self._claim_ttl(), self.params["take_over"])
        for linode_id, instance in self.latest.items():
            verdict = verdicts.get(linode_id)
            marker = read_power_marker(instance) if verdict is None else (
                verdict.marker if verdict.kind != STALE else None)
            self.restore[linode_id] = restore_status(instance, marker)
        if state == "restored":
            self._restore(verdicts)
        else:
            self._refuse_unsettled(verdicts, claiming)
            claimed = self._claim(verdicts) if claiming else None
            self._power(state, claimed)
        self._report()

    def _refuse_unsettled(self, verdicts, claiming):
        """Before any write: refuse an instance in a job's status (migrating, ...), and, for a claim, one whose
        boot or shutdown is not this run's. Without a claim such a boot or shutdown is waited for or retried."""
        for linode_id in self.order:
            instance = self.latest.get(linode_id)
            verdict = verdicts.get(linode_id)
            # Another run's live claim explains a boot or shutdown: that refusal, naming the run, comes next.
            if instance is None or linode_id in self.errors or (verdict is not None and verdict.kind == LIVE):
                continue
            reason = status_refusal(instance, self.run_id, settling=not claiming)
            if reason is not None:
                self.errors[linode_id] = reason
                self.refused_status[linode_id] = instance["status"]

    def _check_run_options(self):
        run_id = self.params["run_id"]
        if run_id is not None and not RUN_ID_PATTERN.match(run_id):
            raise LinodeError("run_id must be 1 to 12 letters, digits, '.', '_' or '-' (it goes into a tag), got %r"
                              % run_id, field="run_id")
        bad = [r for r in self.params["take_over"] if not RUN_ID_PATTERN.match(r)]
        if bad:
            raise LinodeError("take_over lists run IDs, of 1 to 12 letters, digits, '.', '_' or '-'; got %s"
                              % ", ".join(repr(r) for r in bad), field="take_over")
        if self.params["claim_ttl"] is not None and self.params["claim_ttl"] <= 0:
            raise LinodeError("claim_ttl must be a positive number of seconds", field="claim_ttl")
        # A task that is not given a run gets one of its own: it then claims as a run of its own.
        self.run_id = run_id if run_id is not None else secrets.token_hex(4)

    def _claim_ttl(self):
        return self.params["claim_ttl"] or 3 * self.params["wait_timeout"]

    def _get_instances(self):
        ids = self.params["linode_ids"]
        if ids is None:
            instance = get_instance(self.client, self.params["linode_id"], self.params["linode_label"])
            self.order, self.latest = [instance["id"]], {instance["id"]: instance}
        else:
            self.order = list(dict.fromkeys(ids))
            # No ids, no listing: an empty filter would list every instance of the account.
            found = list_instances(self.client, sorted(self.order)) if self.order else {}
            for linode_id in self.order:
                if linode_id in found:
                    self.latest[linode_id] = found[linode_id]
                else:
                    self.errors[linode_id] = "No Linode instance has id %s (linode_ids)" % linode_id
        self.previous = dict(self.latest)

    def _refuse(self, linode_id, run_id, until):
        self.claimed_by[linode_id] = run_id
        self.errors[linode_id] = ("claimed by run %s until %s UTC (claim_ttl), so it was not shut down; list that run "
                                  "in take_over if it was killed" % (run_id, api_time(until)))

    def _claim(self, verdicts):
        """Mark every instance as this run's, then keep those whose marker is still ours after a pause."""
        now = server_epoch(self.client)
        tags = {}
        for linode_id in self.latest:
            verdict = verdicts.get(linode_id)
            if linode_id in self.errors:
                continue
            if verdict is not None and verdict.kind == LIVE:
                self._refuse(linode_id, verdict.marker.run_id, verdict.until)
            elif verdict is not None and verdict.kind == OWN and verdict.marker.status == self.restore[linode_id]:
                tags[linode_id] = verdict.marker.tag
            else:
                tags[linode_id] = power_marker_tag(self.run_id, now, self.restore[linode_id])
        writes = [i for i, tag in tags.items() if tags_with_marker(self.latest[i], tag) != (self.latest[i].get("tags") or [])]
        self.changed_ids.update(writes)
        if self.module.check_mode or not writes:
            return set(tags)
        started = self.deadline.clock.now()
        written, failed = write_power_markers(self.client, dict((i, (self.latest[i], tags[i])) for i in writes))
        self.latest.update(written)
        self.errors.update(failed)
        claims = dict((i, tag) for i, tag in tags.items() if i not in failed)
        if not claims:
            return set()
        # Another run that read an instance before our write may write its own marker after it, as late
        # after its read as our writes took after ours: wait that long, at least a poll interval.
        pause = max(self.schedule().interval, self.deadline.clock.now() - started)
        found, lost = confirm_claims(self.client, claims, self.deadline, pause)
        self.latest.update(found)
        for linode_id, marker in lost.items():
            if marker is not None and marker.run_id is not None:
                self._refuse(linode_id, marker.run_id, marker.created + self._claim_ttl())
            else:
                self.errors[linode_id] = ("its restore marker was removed or replaced before the shutdown (by another run "
                                          "or by hand), so it was not shut down")
        return set(claims) - set(lost)

    def _power(self, state, claimed):
        """running, stopped, restarted: act on the instances (with remember, the claimed ones) that need it."""
        ids = [i for i in self.order if i in self.latest and i not in self.errors and (claimed is None or i in claimed)]
        plan = [i for i in ids if self.latest[i]["status"] not in ALREADY_THERE[state] + ON_THE_WAY[state]]
        self._act(state, plan, [i for i in ids if self.latest[i]["status"] in ON_THE_WAY[state]])

    def _restore(self, verdicts):
        """Boot what the markers that count record as running, then remove the markers of what is back."""
        boot, on_the_way, forget = [], [], []
        for linode_id in self.order:
            verdict = verdicts.get(linode_id)
            if verdict is None or linode_id in self.errors:
                continue
            status = self.latest[linode_id]["status"]
            if verdict.kind == LIVE:
                self.claimed_by[linode_id] = verdict.marker.run_id
                # Left off while it should run: that run is meant to boot it, but if it never does (or this
                # task should have had its run_id), an instance off with no error is what must never happen.
                if verdict.marker.status == "running" and status not in ALREADY_THERE["running"]:
                    self.errors[linode_id] = ("left %s: run %s claims it until %s UTC (claim_ttl) and is to boot it; "
                                              "pass that run's run_id, or list it in take_over if it was killed"
                                              % (status, verdict.marker.run_id, api_time(verdict.until)))
            elif verdict.kind == STALE or verdict.marker.status != "running" or status == "running":
                forget.append(linode_id)
            elif status in ON_THE_WAY["running"]:
                on_the_way.append(linode_id)
            else:
                boot.append(linode_id)
        self._act("running", boot, on_the_way)
        if self.params["wait"]:
            forget.extend(i for i in boot + on_the_way if i not in self.errors and self.latest[i]["status"] == "running")
        self._forget(forget)
        self._release([i for i in boot + on_the_way if i in self.errors])

    def _release(self, ids):
        """Instances this task could not boot back: their run is ending, so its claim goes, but the duty to boot
        them stays. The legacy marker says just that (any later run boots them back, with no take_over)."""
        if self.module.check_mode:
            return
        for linode_id in ids:
            try:
                self.latest[linode_id] = set_power_marker(self.client, self.latest[linode_id], LEGACY_POWER_MARKER_TAG)
            except Exception as exc:  # pylint: disable=broad-except
                if not is_api_error(exc) and not isinstance(exc, LinodeError):
                    raise
                self.warn("Linode %s was not booted back and keeps this run's claim (%s): a later run needs take_over "
                          "to boot it" % (linode_id, exc))

    def _act(self, state, plan, on_the_way):
        """Send the action of ``state`` to ``plan``, then wait for it and for the instances already on their way."""
        action, event_action, final_status = POWER_ACTIONS[state]
        self.changed_ids.update(plan)
        waiting = plan + on_the_way if self.params["wait"] else []
        if self.module.check_mode:
            for linode_id in plan + waiting:
                self.latest[linode_id] = dict(self.latest[linode_id], status=final_status)
            return
        # The API's clock before the actions: only events created since then are this run's.
        since = self.client.session.server_time()
        if plan:
            errors = send_power_actions(self.client, dict((i, action) for i in plan), self.deadline,
                                        self.params["config_id"], self.schedule())
            self.errors.update(errors)
            waiting = [i for i in waiting if i not in errors]
        if waiting:
            latest, failed = wait_for_instances(self.client, dict((i, final_status) for i in waiting), event_action,
                                                self.deadline, self.schedule(), since)
            self.latest.update(latest)
            self.errors.update(failed)

    def _forget(self, ids):
        self.changed_ids.update(ids)
        if self.module.check_mode or not ids:
            return
        latest, failed = forget_power_markers(self.client, dict((i, self.latest[i]) for i in ids), self.deadline,
                                              self.schedule())
        self.latest.update(latest)
        for linode_id, reason in sorted(failed.items()):
            marker = read_power_marker(self.latest[linode_id])
            self.warn("Linode %s is %s, but its restore marker %s could not be removed: %s. It is recognised as stale "
                      "once the instance has been booted since; remove the tag by hand to free the instance at once."
                      % (linode_id, self.latest[linode_id]["status"], marker.tag if marker else "", reason))

    def _report(self):
        entries = {}
        for linode_id in self.order:
            instance = self.latest.get(linode_id)
            entry = dict(
                id=linode_id,
                label=instance["label"] if instance else None,
                previous_status=self.previous[linode_id]["status"] if instance else None,
                status=instance["status"] if instance else None,
                restore_status=self.restore.get(linode_id),
                changed=linode_id in self.changed_ids,
                instance=instance,
            )
            # Only when they apply, so that "error is defined" tells a failed instance.
            if linode_id in self.errors:
                entry["error"] = self.errors[linode_id] = one_line(self.errors[linode_id])
            if linode_id in self.claimed_by:
                entry["claimed_by"] = self.claimed_by[linode_id]
            if linode_id in self.refused_status:
                entry["refused_status"] = self.refused_status[linode_id]
            # Keyed by the id as linode_ids names it; a string, as the keys of a result are once Ansible has it.
            entries[str(linode_id)] = entry
        if self.changed_ids:
            self.mark_changed()
        self.result.update(run_id=self.run_id, instances=entries)
        self.result["diff"] = dict(before=dict((key, e["previous_status"]) for key, e in entries.items()),
                                   after=dict((key, e["status"]) for key, e in entries.items()))
        if self.params["linode_ids"] is None:
            only = entries[str(self.order[0])]
            self.result.update(previous_status=only["previous_status"], status=only["status"], instance=only["instance"])
        if self.errors:
            missing = any(i not in self.latest for i in self.errors)
            raise LinodeError("; ".join("Linode %s: %s" % (i, self.errors[i]) for i in self.order if i in self.errors),
                              field="linode_ids" if missing else None)


def main():
    LinodeInstancePower.execute()


if __name__ == "__main__":
    main()
