"""The state model: linodes with disks and configs, images, events and jobs.

Nothing here runs on its own. Long operations (create, shutdown, boot,
reboot, capture, replication) are *jobs*: they register timers at the real times
their steps are due, and :meth:`State.advance` fires every timer that is due
whenever anybody looks at the state. So a client that polls sees the same
progression as on Linode, a test can drive everything with a
:class:`~linode_emulator.clock.FakeClock`, and no thread has to spin. (The
server adds one sleeping thread that calls :meth:`State.advance` at the next
deadline, so power hooks run on time even when nobody polls.)

All access goes through one re-entrant lock: the emulator is small, and one
lock makes every request see a consistent account. Power and instance hooks
(real processes) run outside it, one instance's in order on a thread of its
own: a slow hook delays its own instance's next state, never another request.

Objects here are plain Python; :mod:`linode_emulator.shapes` turns them into
the API's JSON shapes.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import math
import os
import subprocess
import threading
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .catalog import TYPES, public_image
from .clock import Clock, parse_time
from .errors import bad_request, linode_busy, not_found, raise_all
from .fleet import IMAGE_ID_PATTERN, Fleet, LinodeSpec, PowerHooks

log = logging.getLogger("linode_emulator.state")

HookCommand = tuple[tuple[str, ...], dict[str, str] | None]

FIRST_IMAGE_NUMBER = 100000
# Ids of what POST /linode/instances creates start at these (or above the fleet's highest).
FIRST_CREATED_IDS = {"linode": 40001, "disk": 50001, "config": 60001}
UNCAPTURABLE_FILESYSTEMS = ("raw", "swap", "initrd")
HOOK_TIMEOUT_S = 60.0
# The image a fleet linode reports; the fleet file does not say where its disks came from.
FLEET_IMAGE = "linode/ubuntu24.04"
DEFAULT_SWAP_MB = 512
DISK_LABEL_MAX = 48
# Recorded reasons (linodego's fixtures; the limit's from a public issue thread, pulumi/templates#184).
LABEL_TAKEN = "Label must be unique among your linodes"
ACCOUNT_LIMIT = "Account Limit reached. Please open a support ticket."


@dataclass
class Disk:
    id: int
    linode_id: int
    label: str
    filesystem: str
    size: int
    used_mb: int
    status: str
    created: float
    updated: float
    # When a fleet disk listed `not ready` becomes ready (timing.disk_ready_s after start/reset).
    ready_at: float | None = None


@dataclass
class Config:
    id: int
    linode_id: int
    label: str
    root_device: str
    devices: dict[str, int]
    created: float
    updated: float


@dataclass
class Job:
    """Something that keeps a linode busy until ``ends``."""

    kind: str
    linode_id: int | None
    started: float
    ends: float
    event: "Event | None" = None
    cancelled: bool = False


@dataclass
class Linode:
    id: int
    label: str
    region: str
    type: str
    status: str
    tags: list[str]
    created: float
    updated: float
    ipv4: str
    ipv6: str
    host_uuid: str
    disks: dict[int, Disk]
    configs: dict[int, Config]
    hooks: PowerHooks
    last_booted_config_id: int | None = None
    job: Job | None = None
    image: str | None = FLEET_IMAGE
    # Made by POST /linode/instances (the fleet's instance_hook applies to these only).
    created_by_api: bool = False
    root_disk_id: int | None = None
    # (linode id, disk id) a private image it was deployed from was captured from, when known.
    image_source: tuple[int, int] | None = None
    # While held in a status (fleet `hold`, control API): the status it rests in once released.
    held_from: str | None = None


@dataclass
class _HookStep:
    """A state change held back until its hooks have run: ``apply(when)`` makes it visible."""

    reached: str
    commands: list[HookCommand]
    apply: Callable[[float], None]
    at: float
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class ImageRegion:
    region: str
    status: str


@dataclass
class Image:
    number: int
    label: str
    description: str | None
    tags: list[str]
    status: str
    size: int
    created: float
    updated: float
    created_by: str
    capabilities: list[str]
    regions: list[ImageRegion]
    type: str = "manual"
    expiry: str | None = None
    total_size: int | None = None  # pre-existing images may pin it; else derived
    job: Job | None = None
    # (linode id, disk id) it was captured from; None for fleet images (their origin is unknown).
    source: tuple[int, int] | None = None

    @property
    def id(self) -> str:
        return f"private/{self.number}"


@dataclass
class Event:
    id: int
    action: str
    entity: dict[str, Any]
    # As the real API sends it: integer ids (an image's N of private/N, a config's id).
    secondary_entity: dict[str, Any] | None
    created: float
    username: str
    # started | finished | failed | notification; a started event shows `scheduled` until `starts`.
    status: str
    # Planned real times: `scheduled` until `starts`, finished at `ends`.
    starts: float
    ends: float
    # The job kind whose progress curve applies (capture, shutdown, boot, reboot), if any.
    kind: str | None = None
    # When GET /account/events first lists it (timing.event_delay_s after the request).
    visible_at: float = 0.0
    finished_at: float | None = None
    final_percent: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Deployable:
    """An image a new instance can be deployed from: its id, label and size (MB), and where it came from."""

    id: str
    label: str
    size_mb: int
    source: tuple[int, int] | None = None


@dataclass(order=True)
class _Timer:
    at: float
    seq: int
    action: Callable[[float], None] = field(compare=False)


def linode_entity(linode: Linode) -> dict[str, Any]:
    return {"id": linode.id, "label": linode.label, "type": "linode", "url": f"/v4/linode/instances/{linode.id}"}


def image_entity_secondary(image: Image) -> dict[str, Any]:
    # Recorded: the integer N of private/N (the spec types the id as a string).
    return {"id": image.number, "label": image.label, "type": "image", "url": f"/v4/images/{image.id}"}


def deployed_image_secondary(image: Deployable) -> dict[str, Any]:
    # Recorded for public images: the id as a string ("linode/debian12"); private ones alike (unrecorded).
    return {"id": image.id, "label": image.label, "type": "image", "url": f"/v4/images/{image.id}"}


def documentation_ipv4(index: int) -> str:
    """The index-th address of the documentation ranges (RFC 5737): never a real host."""
    if index < 254:
        return str(ipaddress.IPv4Address("198.51.100.0") + index + 1)
    return str(ipaddress.IPv4Address("203.0.113.0") + (index - 254) % 254 + 1)


def config_entity_secondary(linode: Linode, config: Config) -> dict[str, Any]:
    return {
        "id": config.id,
        "label": config.label,
        "type": "linode_config",
        "url": f"/v4/linode/instances/{linode.id}/configs/{config.id}",
    }


class State:
    """The emulated account. Build it from a fleet; :meth:`reset` rebuilds it."""

    def __init__(self, fleet: Fleet, clock: Clock) -> None:
        self.fleet = fleet
        self.clock = clock
        self.lock = threading.RLock()
        # Notified when a timer is added, so the server's ticker can re-plan its sleep.
        self.timers_changed = threading.Condition(self.lock)
        # Bumped by every (re)load, so a hook that returns after a reset changes nothing.
        self._generation = 0
        with self.lock:
            self._load(fleet)

    # ------------------------------------------------------------------ setup

    def _load(self, fleet: Fleet) -> None:
        now = self.clock.now()
        self._generation += 1
        # Per linode id, the held-back changes whose hooks run or wait, oldest first.
        self._hook_steps: dict[int, deque[_HookStep]] = {}
        self.linodes: dict[int, Linode] = {}
        self.images: dict[int, Image] = {}
        self.events: list[Event] = []
        self._timers: list[_Timer] = []
        self._timer_seq = itertools.count()
        self._event_ids = itertools.count(1)
        # Labels of deleted linodes stay taken until their linode_delete finishes (recorded): label -> until.
        self.held_labels: dict[str, float] = {}
        for index, spec in enumerate(fleet.linodes):
            self.linodes[spec.id] = self._build_linode(spec, index, now)
        self._addresses = itertools.count(len(fleet.linodes))
        self._created_ids = {
            "linode": itertools.count(max([FIRST_CREATED_IDS["linode"] - 1, *self.linodes]) + 1),
            "disk": itertools.count(max([FIRST_CREATED_IDS["disk"] - 1, *(
                d for linode in self.linodes.values() for d in linode.disks)]) + 1),
            "config": itertools.count(max([FIRST_CREATED_IDS["config"] - 1, *(
                c for linode in self.linodes.values() for c in linode.configs)]) + 1),
        }
        ready_at = now + self.clock.duration(fleet.timing.disk_ready_s)
        for linode in self.linodes.values():
            for disk in linode.disks.values():
                if disk.status == "not ready":
                    disk.ready_at = ready_at
                    self._schedule(ready_at, self._disk_ready_step(disk))
        for raw in fleet.images:
            image = self._build_image(raw, now)
            self.images[image.number] = image
        self._next_image_number = max([FIRST_IMAGE_NUMBER, *(n + 1 for n in self.images)])

    @staticmethod
    def _disk_ready_step(disk: Disk) -> Callable[[float], None]:
        def ready(at: float) -> None:
            if disk.status == "not ready":
                disk.status = "ready"
                disk.updated = at
                disk.ready_at = None

        return ready

    def _build_linode(self, spec: LinodeSpec, index: int, now: float) -> Linode:
        created = now - 86400 * 30  # a month-old fleet, so "created" is plausible
        disks = {
            d.id: Disk(d.id, spec.id, d.label, d.filesystem, d.size, d.used_mb, d.status, created, created)
            for d in spec.disks
        }
        configs = {
            c.id: Config(c.id, spec.id, c.label, c.root_device, dict(c.devices), created, created)
            for c in spec.configs
        }
        linode = Linode(
            id=spec.id,
            label=spec.label,
            region=spec.region,
            type=spec.type,
            status=spec.status,
            tags=list(spec.tags),
            created=created,
            updated=created,
            ipv4=documentation_ipv4(index),
            ipv6=f"2001:db8::{spec.id:x}/128",
            host_uuid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"linode-emulator-host-{spec.id}")),
            disks=disks,
            configs=configs,
            hooks=spec.power_hooks,
            last_booted_config_id=(next(iter(configs)) if spec.status == "running" and configs else None),
        )
        if spec.hold is not None:
            self._hold(linode, spec.hold, now)
        return linode

    def _build_image(self, raw: dict[str, Any], now: float) -> Image:
        if "id" in raw:
            number = int(IMAGE_ID_PATTERN.match(raw["id"]).group(1))  # validated by fleet.py
        else:
            number = max([FIRST_IMAGE_NUMBER - 1, *self.images]) + 1
        created = parse_time(raw["created"]) if raw.get("created") else now - 86400
        regions = [
            ImageRegion(r["region"], r.get("status", "available"))
            if isinstance(r, dict)
            else ImageRegion(str(r), "available")
            for r in raw.get("regions", [{"region": "us-east"}])
        ]
        return Image(
            number=number,
            label=raw.get("label", f"image-{number}"),
            description=raw.get("description"),
            tags=list(raw.get("tags", [])),
            status=raw.get("status", "available"),
            size=int(raw.get("size", 1000)),
            created=created,
            updated=parse_time(raw["updated"]) if raw.get("updated") else created,
            created_by=raw.get("created_by", self.fleet.tokens[0].username),
            capabilities=list(raw.get("capabilities", [])),
            regions=regions,
            type=raw.get("type", "manual"),
            expiry=raw.get("expiry"),
            total_size=raw.get("total_size"),
        )

    def reset(self, fleet: Fleet | None = None) -> None:
        """Back to the fleet file's state; pending jobs are dropped, hooks are not run."""
        with self.lock:
            if fleet is not None:
                self.fleet = fleet
            self._load(self.fleet)
            self.timers_changed.notify_all()

    # ------------------------------------------------------------------ time

    @contextmanager
    def transaction(self) -> Iterator[float]:
        """Hold the lock with every due step applied; yields the current time."""
        with self.lock:
            yield self.advance()

    def advance(self) -> float:
        """Fire every timer due by now, in order of due time. Returns now."""
        with self.lock:
            now = self.clock.now()
            while self._timers and self._timers[0].at <= now:
                timer = heapq.heappop(self._timers)
                # Steps get their scheduled time, not the time somebody looked,
                # so timestamps do not depend on who polled when.
                timer.action(timer.at)
            return now

    def next_deadline(self) -> float | None:
        with self.lock:
            return self._timers[0].at if self._timers else None

    def _schedule(self, at: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, _Timer(at, next(self._timer_seq), action))
        self.timers_changed.notify_all()

    # ------------------------------------------------------------------ lookups

    def get_linode(self, linode_id: int) -> Linode:
        linode = self.linodes.get(linode_id)
        if linode is None:
            raise not_found()
        return linode

    def get_disk(self, linode_id: int, disk_id: int) -> Disk:
        disk = self.get_linode(linode_id).disks.get(disk_id)
        if disk is None:
            raise not_found()
        return disk

    def get_config(self, linode_id: int, config_id: int) -> Config:
        config = self.get_linode(linode_id).configs.get(config_id)
        if config is None:
            raise not_found()
        return config

    def find_disk(self, disk_id: int) -> tuple[Linode, Disk] | None:
        for linode in self.linodes.values():
            if disk_id in linode.disks:
                return linode, linode.disks[disk_id]
        return None

    def get_image(self, number: int) -> Image:
        image = self.images.get(number)
        if image is None:
            raise not_found()
        return image

    def event_visible(self, event: Event, now: float) -> bool:
        """Whether GET /account/events lists the event yet (``timing.event_delay_s``)."""
        return self.fleet.idealised.instant_events or now >= event.visible_at

    def visible_events(self, now: float) -> list[Event]:
        return [event for event in self.events if self.event_visible(event, now)]

    def get_event(self, event_id: int, now: float | None = None) -> Event:
        """An event by id; with ``now``, one not listed yet is not found either."""
        for event in self.events:
            if event.id == event_id and (now is None or self.event_visible(event, now)):
                return event
        raise not_found()

    # ------------------------------------------------------------------ events

    def _new_event(
        self,
        action: str,
        entity: dict[str, Any],
        username: str,
        created: float,
        ends: float,
        secondary_entity: dict[str, Any] | None = None,
        status: str = "started",
        *,
        kind: str | None = None,
        starts: float | None = None,
    ) -> Event:
        """Record an event at ``created`` (the request's time); it is ``scheduled`` until ``starts``."""
        starts = created if starts is None or self.fleet.idealised.started_at_once else starts
        event = Event(
            id=next(self._event_ids),
            action=action,
            entity=entity,
            secondary_entity=secondary_entity,
            created=created,
            username=username,
            status=status,
            starts=starts,
            ends=ends,
            kind=kind,
            visible_at=created + self.clock.duration(self.fleet.timing.event_delay_s),
        )
        if status != "started":
            event.finished_at = created
            event.final_percent = 100
        self.events.append(event)
        return event

    @staticmethod
    def event_scheduled(event: Event, now: float) -> bool:
        return event.status == "started" and now < event.starts

    def event_status(self, event: Event, now: float) -> str:
        return "scheduled" if self.event_scheduled(event, now) else event.status

    def event_progress(self, event: Event, now: float) -> int:
        """Percent complete; 100 only when done, 0 while scheduled.

        By default a step function of the fraction of the event's whole duration
        (``timing.progress``), as the real API's plateaus; with
        ``idealised.linear_progress`` linear between start and planned end.
        """
        if event.final_percent is not None:
            return event.final_percent
        if self.event_scheduled(event, now):
            return 0
        if self.fleet.idealised.linear_progress or event.kind is None:
            span = event.ends - event.starts
            if span <= 0:
                return 99
            return max(0, min(99, int((now - event.starts) / span * 100)))
        span = event.ends - event.created
        fraction = (now - event.created) / span if span > 0 else 1.0
        percent = 0
        for at, value in self.fleet.timing.progress.get(event.kind, ()):
            if fraction + 1e-9 >= at:
                percent = value
            else:
                break
        return percent

    def _finish_event(self, event: Event, at: float, *, failed: bool = False, message: str = "") -> None:
        event.final_percent = self.event_progress(event, at) if failed else 100
        event.finished_at = at
        event.status = "failed" if failed else "finished"
        event.message = message

    # ------------------------------------------------------------------ power

    def _power_transition(
        self,
        linode: Linode,
        status: str,
        at: float,
        *,
        machine: str | None = None,
        then: Callable[[float], None] | None = None,
    ) -> None:
        """The one place where a linode's power status changes.

        ``status`` is what the API shows. ``machine`` says what the (emulated)
        machine just did when that differs from ``status``: a reboot shows
        ``rebooting`` throughout, but the machine goes ``offline`` half-way.
        Power hooks run when the machine reaches ``offline`` or ``running``, and
        the API shows ``status`` (and ``then`` runs, with the time it happened)
        only once they have returned: no client sees a state the hooks have not
        made real.
        """
        reached = machine or status

        def show(when: float) -> None:
            linode.status = status
            linode.updated = when
            if then is not None:
                then(when)

        self._after_hooks(linode, reached, self._hook_commands(linode, reached), show, at)

    def _hook_commands(self, linode: Linode, reached: str) -> list[HookCommand]:
        """The commands to run when ``linode`` reaches ``reached``: its power hook, then the instance hook."""
        commands: list[HookCommand] = []
        power_hook = {"offline": linode.hooks.on_offline, "running": linode.hooks.on_running}.get(reached)
        if power_hook:
            commands.append((power_hook, None))
        argv = self.fleet.instance_hook
        if argv and linode.created_by_api and reached in ("created", "running", "offline", "deleted"):
            commands.append(((*argv, reached, str(linode.id)), self._instance_hook_env(linode, reached)))
        return commands

    @staticmethod
    def _instance_hook_env(linode: Linode, event: str) -> dict[str, str]:
        """The fleet's ``instance_hook`` for an instance POST /linode/instances made: ``argv + [event, id]``.

        ``event`` is ``created`` (provisioned: its disks exist, it is off), ``running``, ``offline``
        or ``deleted``; the environment says what the instance was deployed from, so a test harness
        can give it a real host with the right disk.
        """
        source = linode.image_source
        return dict(
            os.environ,
            LINODE_EMULATOR_HOOK_EVENT=event,
            LINODE_EMULATOR_LINODE_ID=str(linode.id),
            LINODE_EMULATOR_LINODE_LABEL=linode.label,
            LINODE_EMULATOR_IMAGE=linode.image or "",
            LINODE_EMULATOR_IMAGE_SOURCE=f"{source[0]}:{source[1]}" if source else "",
            LINODE_EMULATOR_ROOT_DISK=str(linode.root_disk_id or ""),
        )

    def _after_hooks(
        self,
        linode: Linode,
        reached: str,
        commands: list[HookCommand],
        apply: Callable[[float], None],
        at: float,
    ) -> threading.Event:
        """Run ``commands``, then ``apply`` the change they make real; returns an event set when applied.

        Called under the lock. With nothing to run and nothing of this linode's waiting, ``apply``
        runs now, at ``at``. Otherwise the step joins the linode's queue, whose thread runs the
        commands outside the lock (a hook may take seconds) and applies each change in order,
        at the time its hooks returned.
        """
        step = _HookStep(reached, commands, apply, at)
        queue = self._hook_steps.get(linode.id)
        if queue is None:
            if not commands:
                apply(at)
                step.done.set()
                return step.done
            queue = self._hook_steps[linode.id] = deque()
            threading.Thread(
                target=self._run_hook_steps, args=(linode.id, queue, self._generation),
                name=f"emulator-hooks-{linode.id}", daemon=True,
            ).start()
        queue.append(step)
        return step.done

    def _run_hook_steps(self, linode_id: int, queue: deque[_HookStep], generation: int) -> None:
        """The thread of one linode's queue, until it is empty. After a reset nothing is applied."""
        while True:
            with self.lock:
                if generation != self._generation:
                    for step in queue:
                        step.done.set()
                    return
                if not queue:
                    del self._hook_steps[linode_id]
                    return
                step = queue[0]
            for argv, env in step.commands:
                self._run_hook(linode_id, step.reached, argv, env)
            with self.lock:
                if generation == self._generation:
                    queue.popleft()
                    step.apply(max(step.at, self.clock.now()))
                    step.done.set()
                    self.timers_changed.notify_all()

    @staticmethod
    def _run_hook(linode_id: int, reached: str, argv: tuple[str, ...], env: dict[str, str] | None) -> None:
        # Never under the state lock: hooks should start daemons, not be them, but under load
        # even that takes seconds, and every other request would wait for it.
        try:
            result = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=HOOK_TIMEOUT_S, check=False, env=env
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.error("power hook for linode %s (%s) failed: %s", linode_id, reached, exc)
            return
        if result.returncode != 0:
            log.error(
                "power hook for linode %s (%s) exited %s: %s",
                linode_id, reached, result.returncode, result.stderr.strip()[-500:],
            )
        else:
            log.info("power hook for linode %s (%s) ran: %s", linode_id, reached, " ".join(argv))

    @staticmethod
    def _start_job(linode: Linode, kind: str, duration: float, at: float) -> Job:
        job = Job(kind=kind, linode_id=linode.id, started=at, ends=at + duration)
        linode.job = job
        return job

    def _end_job(self, linode: Linode, job: Job) -> None:
        if linode.job is job:
            linode.job = None

    def _job_finisher(self, linode: Linode, job: Job) -> Callable[[float], None]:
        """The end of a power job, for when its power hooks have returned: unless it was cancelled meanwhile."""

        def finish(when: float) -> None:
            if not job.cancelled:
                self._finish_event(job.event, when)
                self._end_job(linode, job)

        return finish

    def shutdown(self, linode_id: int, username: str) -> None:
        """running -> shutting_down -> offline. Shutting down an offline linode is a no-op."""
        with self.transaction() as now:
            linode = self.get_linode(linode_id)
            if linode.job is not None:
                raise linode_busy()
            if linode.status == "offline":
                return
            job = self._start_job(linode, "shutdown", self.clock.duration(self.fleet.timing.shutdown_s), now)
            job.event = self._new_event(
                "linode_shutdown", linode_entity(linode), username, job.started, job.ends, kind="shutdown"
            )
            self._power_transition(linode, "shutting_down", job.started)

            def done(at: float) -> None:
                if not job.cancelled:
                    self._power_transition(linode, "offline", at, then=self._job_finisher(linode, job))

            self._schedule(job.ends, done)

    def hold(self, linode_id: int, status: str | None) -> Linode:
        """Hold a linode in ``status`` (one of ``fleet.HOLD_STATUSES``) for a job the emulator does not run,
        such as a migration, or release it (``status`` None) to the status it rested in.

        While held it shows that status and answers "Linode busy." to power actions and captures, as the
        API does while a job of its own runs on a linode; reads and tag changes still work. A linode whose
        own job (a shutdown, a capture, ...) runs cannot be held: "Linode busy." too.
        """
        with self.transaction() as now:
            linode = self.get_linode(linode_id)
            job = linode.job
            if job is not None and job.kind != "hold":
                raise linode_busy()
            if status is not None:
                self._hold(linode, status, now)
            elif job is not None:
                self._end_job(linode, job)
                linode.status, linode.held_from, linode.updated = linode.held_from or "offline", None, now
            return linode

    def _hold(self, linode: Linode, status: str, now: float) -> None:
        if linode.job is None:
            linode.held_from = linode.status
            self._start_job(linode, "hold", math.inf, now)
        linode.status, linode.updated = status, now

    def _boot_config(self, linode: Linode, config_id: Any) -> Config:
        """The config a boot uses, chosen as the spec describes."""
        if config_id is not None:
            if isinstance(config_id, bool) or not isinstance(config_id, int):
                raise bad_request("config_id must be an integer", "config_id")
            config = linode.configs.get(config_id)
            if config is None:
                raise bad_request("Config not found", "config_id")
            return config
        if not linode.configs:
            raise bad_request("Linode has no configuration profiles to boot")
        if len(linode.configs) == 1:
            return next(iter(linode.configs.values()))
        if linode.last_booted_config_id in linode.configs:
            return linode.configs[linode.last_booted_config_id]
        raise bad_request(
            "Please specify a config_id; this Linode has several configs and none was booted last", "config_id"
        )

    def boot(self, linode_id: int, config_id: Any, username: str) -> None:
        """offline -> booting -> running. Booting a running linode is a no-op."""
        self._boot_or_reboot(linode_id, config_id, username, reboot=False)

    def reboot(self, linode_id: int, config_id: Any, username: str) -> None:
        """running -> rebooting -> running; an offline linode is simply booted that way."""
        self._boot_or_reboot(linode_id, config_id, username, reboot=True)

    def _boot_or_reboot(self, linode_id: int, config_id: Any, username: str, *, reboot: bool) -> None:
        with self.transaction() as now:
            linode = self.get_linode(linode_id)
            config = self._boot_config(linode, config_id)
            if linode.job is not None:
                raise linode_busy()
            if not reboot and linode.status == "running":
                return
            self._start_boot(linode, config, username, now, reboot=reboot)

    def _start_boot(self, linode: Linode, config: Config, username: str, at: float, *, reboot: bool = False) -> None:
        """Start a boot (or reboot) job at ``at``: its event, its transitions, its end."""
        timing = self.fleet.timing
        was_running = linode.status == "running"
        emulated = timing.effective_reboot_s if reboot and was_running else timing.boot_s
        kind = "reboot" if reboot else "boot"
        job = self._start_job(linode, kind, self.clock.duration(emulated), at)
        # Recorded: a boot is `scheduled` (percent 0, duration null) for a while, then `started`.
        scheduled = self.clock.duration(min(timing.boot_scheduled_s, emulated))
        job.event = self._new_event(
            f"linode_{kind}", linode_entity(linode), username, job.started, job.ends,
            secondary_entity=config_entity_secondary(linode, config),
            kind=kind, starts=job.started + scheduled,
        )
        self._power_transition(linode, "rebooting" if reboot else "booting", job.started)
        if reboot and was_running and emulated > 0:
            # The machine is down for the shutdown share of a reboot.
            total = timing.shutdown_s + timing.boot_s
            share = timing.shutdown_s / total if total else 0.5
            halfway = job.started + (job.ends - job.started) * share

            def machine_down(when: float) -> None:
                if not job.cancelled:
                    self._power_transition(linode, "rebooting", when, machine="offline")

            self._schedule(halfway, machine_down)

        def done(when: float) -> None:
            if job.cancelled:
                return
            linode.last_booted_config_id = config.id
            self._power_transition(linode, "running", when, then=self._job_finisher(linode, job))

        self._schedule(job.ends, done)

    # ------------------------------------------------------------------ images

    def private_image_count(self) -> int:
        return len(self.images)

    def capture(
        self,
        disk_id: int,
        *,
        label: str | None,
        description: str | None,
        tags: list[str],
        cloud_init: bool,
        username: str,
    ) -> Image:
        """``POST /images``: start a ``disk_imagize`` job and return the new image.

        Validation mirrors Linode: only ext3/ext4 disks, the account below its
        image count. A disk still `not ready` is accepted (recorded): the copy
        starts once the disk is ready, the event is `scheduled` until then. An
        image above the size limit is only found out by the job, which then
        fails and (``unrecorded.failed_capture``) deletes the image or leaves
        it `creating`.
        """
        with self.transaction() as now:
            found = self.find_disk(disk_id)
            if found is None:
                raise bad_request("Disk not found", "disk_id")
            linode, disk = found
            if disk.filesystem in UNCAPTURABLE_FILESYSTEMS:
                raise bad_request(
                    f"Cannot create an image from a {disk.filesystem} disk; only ext3 and ext4 disks can be imagized",
                    "disk_id",
                )
            if disk.status not in ("ready", "not ready"):
                raise bad_request(f"Disk is not ready (status: {disk.status})", "disk_id")
            limit = self.fleet.account.image_count_limit
            if self.private_image_count() >= limit:
                raise bad_request(
                    f"You have reached the maximum number of images for this account ({limit}); "
                    "delete an image or contact Support to raise the limit"
                )
            if linode.job is not None:
                raise linode_busy()

            size_limit = self.fleet.account.image_size_limit_mb
            used_mb = disk.used_mb  # snapshot: what the job copies
            number = self._next_image_number
            self._next_image_number += 1
            image = Image(
                number=number,
                label=label if label is not None else disk.label,
                description=description,
                tags=list(tags),
                status="creating",
                # Recorded: while creating, size and total_size are the disk's size, regions [].
                size=disk.size,
                created=now,
                updated=now,
                created_by=username,
                capabilities=["cloud-init"] if cloud_init else [],
                regions=[],
                total_size=disk.size,
                source=(linode.id, disk.id),
            )
            self.images[number] = image
            # The copy starts once the disk is ready (at once for a ready disk).
            wait = max(0.0, disk.ready_at - now) if disk.status == "not ready" and disk.ready_at else 0.0
            # An oversize copy stops once it passes the limit, so it fails no later than a full one.
            copy = self.clock.duration(self.fleet.timing.capture_s(min(used_mb, size_limit)))
            job = self._start_job(linode, "capture", wait + copy, now)
            image.job = job
            job.event = self._new_event(
                "disk_imagize", linode_entity(linode), username, job.started, job.ends,
                secondary_entity=image_entity_secondary(image),
                kind="capture", starts=job.started + wait,
            )

            def done(at: float) -> None:
                if job.cancelled:
                    return
                self._end_job(linode, job)
                image.job = None
                if used_mb > size_limit:
                    # The event fails without a useful message; by default the
                    # image vanishes, so later reads answer 404 (documented).
                    self._finish_event(job.event, at, failed=True)
                    if self.fleet.unrecorded.failed_capture == "delete":
                        self.images.pop(number, None)
                    return
                image.status = "available"
                image.size = used_mb
                image.total_size = None  # size x available regions from now on
                image.updated = at
                image.regions = [ImageRegion(linode.region, "available")]
                self._finish_event(job.event, at)

            self._schedule(job.ends, done)
            return image

    # ------------------------------------------------------------------ instances

    def label_taken(self, label: str, now: float) -> bool:
        """A linode has this label, or had it and its delete has not finished (recorded: still refused)."""
        return any(linode.label == label for linode in self.linodes.values()) or self.held_labels.get(label, 0) > now

    def deployable(self, image_id: str) -> Deployable | str:
        """The image ``POST /linode/instances`` would deploy, or the reason it cannot (on ``image``)."""
        base = public_image(image_id) if self.fleet.public_images else None
        if base is not None:
            return Deployable(base["id"], base["label"], base["size"])
        match = IMAGE_ID_PATTERN.match(image_id)
        image = self.images.get(int(match.group(1))) if match else None
        if image is None:
            return "image is not valid"  # recorded wording (on a disk created from an unknown image)
        if image.status != "available":
            return f"Image {image_id} is not available (status: {image.status})"
        return Deployable(image.id, image.label, image.size, image.source)

    def create_linode(
        self,
        *,
        label: str | None,
        region: str,
        type_id: str,
        image_id: str | None,
        tags: list[str],
        booted: bool,
        swap_mb: int,
        username: str,
    ) -> Linode:
        """``POST /linode/instances``: a linode ``provisioning`` for ``timing.create_s``.

        From an image it gets an ext4 root disk (the type's disk less the swap disk, holding the
        image's size) and a swap disk, both ``not ready`` until provisioned, and a config booting
        from them, as Linode makes them; then, if ``booted``, a boot. Without an image it is empty
        and stays offline. Refused as the API refuses: unknown region, type or image (all named),
        a label in use, the account at its instance limit.
        """
        with self.transaction() as now:
            errors: list[dict[str, str]] = []
            if region not in self.fleet.regions:
                errors.append({"field": "region", "reason": "region is not valid"})
            if type_id not in TYPES:
                errors.append({"field": "type", "reason": "type is not valid"})
            image = self.deployable(image_id) if image_id is not None else None
            if isinstance(image, str):
                errors.append({"field": "image", "reason": image})
            if label is not None and self.label_taken(label, now):
                errors.append({"field": "label", "reason": LABEL_TAKEN})
            root_mb = TYPES[type_id][2] - swap_mb if type_id in TYPES else 0
            if isinstance(image, Deployable) and image.size_mb > root_mb:
                errors.append({"field": "type", "reason": f"The type's disk is too small for image {image.id}"})
            raise_all(errors)
            limit = self.fleet.account.linode_count_limit
            if len(self.linodes) >= limit:
                raise bad_request(ACCOUNT_LIMIT)
            linode_id = next(self._created_ids["linode"])
            linode = Linode(
                id=linode_id,
                label=label if label is not None else f"linode{linode_id}",
                region=region,
                type=type_id,
                status="provisioning",
                tags=list(tags),
                created=now,
                updated=now,
                ipv4=documentation_ipv4(next(self._addresses)),
                ipv6=f"2001:db8::{linode_id:x}/128",
                host_uuid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"linode-emulator-host-{linode_id}")),
                disks={},
                configs={},
                hooks=PowerHooks(),
                image=image.id if isinstance(image, Deployable) else None,
                created_by_api=True,
            )
            if isinstance(image, Deployable):
                self._provision_disks(linode, image, root_mb, swap_mb, now)
            self.linodes[linode_id] = linode
            job = self._start_job(linode, "create", self.clock.duration(self.fleet.timing.create_s), now)
            # Recorded: linode_create is `scheduled` (duration null) for a while first, like a boot.
            scheduled = self.clock.duration(min(self.fleet.timing.boot_scheduled_s, self.fleet.timing.create_s))
            job.event = self._new_event(
                "linode_create", linode_entity(linode), username, now, job.ends,
                secondary_entity=deployed_image_secondary(image) if isinstance(image, Deployable) else None,
                kind="create", starts=now + scheduled,
            )

            def show_provisioned(when: float) -> None:
                if job.cancelled:
                    return
                for disk in linode.disks.values():
                    disk.status, disk.updated = "ready", when
                linode.status, linode.updated = "offline", when
                self._finish_event(job.event, when)
                self._end_job(linode, job)
                # The spec: booted defaults to true from an image; an empty linode stays offline.
                if booted and linode.configs:
                    self._start_boot(linode, next(iter(linode.configs.values())), username, when)

            def provisioned(at: float) -> None:
                # Shown once the instance hook has made its disks real.
                if not job.cancelled:
                    self._after_hooks(linode, "created", self._hook_commands(linode, "created"), show_provisioned, at)

            self._schedule(job.ends, provisioned)
            return linode

    def _provision_disks(self, linode: Linode, image: Deployable, root_mb: int, swap_mb: int, now: float) -> None:
        """The disks and the config Linode makes for an instance deployed from an image (recorded labels)."""
        root = Disk(next(self._created_ids["disk"]), linode.id, f"{image.label} Disk"[:DISK_LABEL_MAX], "ext4",
                    root_mb, image.size_mb, "not ready", now, now)
        linode.disks[root.id] = root
        devices = {"sda": root.id}
        if swap_mb > 0:
            swap = Disk(next(self._created_ids["disk"]), linode.id, f"{swap_mb} MB Swap Image", "swap",
                        swap_mb, 0, "not ready", now, now)
            linode.disks[swap.id] = swap
            devices["sdb"] = swap.id
        config_id = next(self._created_ids["config"])
        linode.configs[config_id] = Config(
            config_id, linode.id, f"My {image.label} Disk Profile", "/dev/sda", devices, now, now
        )
        linode.root_disk_id = root.id
        linode.image_source = image.source

    def delete_linode(self, linode_id: int, username: str) -> None:
        """``DELETE /linode/instances/{id}``: gone from reads at once; its label stays taken until the
        ``linode_delete`` finishes (recorded), and a job it was running fails (a capture loses its image
        as ``unrecorded.failed_capture`` says)."""
        with self.transaction() as now:
            linode = self.get_linode(linode_id)
            job = linode.job
            if job is not None:
                capturing = [image for image in self.images.values() if image.job is job]
                self._abort_job(job, now, "Linode deleted before the job finished")
                for image in capturing:
                    image.job = None
                    if self.fleet.unrecorded.failed_capture == "delete":
                        del self.images[image.number]
            del self.linodes[linode_id]
            ends = now + self.clock.duration(self.fleet.timing.delete_s)
            self.held_labels[linode.label] = max(ends, self.held_labels.get(linode.label, 0))
            # Recorded: `scheduled` (duration null) until it is `finished`.
            event = self._new_event(
                "linode_delete", linode_entity(linode), username, now, ends, starts=ends
            )

            def deleted(at: float) -> None:
                self._finish_event(event, at)
                if self.held_labels.get(linode.label, 0) <= at:
                    self.held_labels.pop(linode.label, None)

            self._schedule(ends, deleted)
            commands = self._hook_commands(linode, "deleted")
            hooks_done = self._after_hooks(linode, "deleted", commands, lambda _when: None, now)
        # Answered once the instance hook has run (and any hook it was still waiting for), outside the lock.
        hooks_done.wait(2 * HOOK_TIMEOUT_S)

    def update_linode(self, linode_id: int, changes: dict[str, Any]) -> Linode:
        with self.transaction() as now:
            linode = self.get_linode(linode_id)
            if "label" in changes:
                if changes["label"] != linode.label and self.label_taken(changes["label"], now):
                    raise bad_request(LABEL_TAKEN, "label")
                linode.label = changes["label"]
            if "tags" in changes:
                linode.tags = list(changes["tags"])
            linode.updated = now
            return linode

    def update_image(self, number: int, changes: dict[str, Any]) -> Image:
        with self.transaction() as now:
            image = self.get_image(number)
            for key in ("label", "description", "tags"):
                if key in changes:
                    setattr(image, key, list(changes[key]) if key == "tags" else changes[key])
            image.updated = now
            return image

    def delete_image(self, number: int, username: str) -> None:
        """Delete an image; deleting one still being captured cancels the capture."""
        with self.transaction() as now:
            image = self.get_image(number)
            if image.job is not None:
                self._abort_job(image.job, now, "Image deleted before the capture finished")
                image.job = None
            del self.images[number]
            self._new_event(
                "image_delete",
                {"id": image.number, "label": image.label, "type": "image", "url": f"/v4/images/{image.id}"},
                username, now, now, status="finished",
            )

    def _abort_job(self, job: Job, now: float, message: str) -> None:
        """Stop a job before its end: its steps do nothing any more, its event fails, its linode is free."""
        job.cancelled = True
        linode = self.linodes.get(job.linode_id) if job.linode_id is not None else None
        if linode is not None:
            self._end_job(linode, job)
        if job.event is not None and job.event.finished_at is None:
            self._finish_event(job.event, now, failed=True, message=message)

    def replicate_image(self, number: int, regions: list[str]) -> Image:
        """Make the image's regions exactly ``regions``.

        New regions go ``pending replication`` -> ``replicating`` -> ``available``
        over ``timing.replicate_s``; regions left out are removed at once.
        """
        with self.transaction() as now:
            image = self.get_image(number)
            if image.status != "available":
                raise bad_request("Image must be available to be replicated")
            unknown = [r for r in regions if r not in self.fleet.regions]
            if unknown:
                raise bad_request(f"Region(s) not found: {', '.join(unknown)}", "regions")
            wanted = list(dict.fromkeys(regions))
            current = {r.region: r for r in image.regions}
            if not any(current.get(r) is not None and current[r].status == "available" for r in wanted):
                raise bad_request(
                    "At least one region where the image is available must be kept; use DELETE to remove the image",
                    "regions",
                )
            kept = [current[r] for r in wanted if r in current]
            added = [ImageRegion(r, "pending replication") for r in wanted if r not in current]
            image.regions = kept + added
            image.updated = now
            duration = self.clock.duration(self.fleet.timing.replicate_s)
            for region in added:
                self._schedule_replication(image, region, now, duration)
            return image

    def _schedule_replication(self, image: Image, region: ImageRegion, now: float, duration: float) -> None:
        def step(status: str) -> Callable[[float], None]:
            def apply(at: float) -> None:
                # The region may have been removed or the image deleted since.
                if self.images.get(image.number) is image and region in image.regions:
                    region.status = status
                    image.updated = at
            return apply

        self._schedule(now + duration / 3, step("replicating"))
        self._schedule(now + duration, step("available"))
