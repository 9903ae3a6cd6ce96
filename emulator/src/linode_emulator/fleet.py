"""Fleet files: what the emulated account holds when the emulator starts.

A fleet file is YAML. Every key is optional except ``linodes``::

    tokens:
      - {token: demo-token, scopes: "*"}
      - {token: readonly-token, scopes: "images:read_only linodes:read_only"}
    account: {image_size_limit_mb: 6144, image_count_limit: 25, linode_count_limit: 50}
    timing: {shutdown_s: 28, boot_s: 24, capture_base_s: 30, capture_mb_per_s: 3.2,
             create_s: 40, delete_s: 13, event_delay_s: 3, boot_scheduled_s: 5, disk_ready_s: 20,
             progress: {capture: [[0.11, 64], ...], shutdown: [[0.55, 7]], ...}}
    idealised: {time_remaining: false, linear_progress: false, ...}   # all off by default
    unrecorded: {failed_capture: delete, rate_limit_headers: documented}
    rate_limits: {overall_per_2min: 800, per_operation_per_min: 400,
                  list_per_min: 200, list_images_per_min: 20}   # or: false
    linodes:
      - id: 1001
        label: web-1
        region: us-east
        status: running
        disks:
          - {id: 2001, label: "Ubuntu 24.04 Disk", filesystem: ext4, size: 25088,
             used_mb: 2900, status: ready}
        configs:
          - {id: 3001, label: "Boot Config", root_device: /dev/sda, devices: {sda: 2001}}
        power_hooks: {on_offline: [argv...], on_running: [argv...]}   # optional
    images: []   # pre-existing private images, in the API's Image shape
    instance_hook: [argv...]   # optional: run on create, power changes and delete of API-created instances

Loading is strict on purpose: an unknown key or a wrong type is a typo in a
test fixture, and failing loudly at start is cheaper than a test that quietly
exercises something else. Everything here is immutable; the live, mutable
model is built from it by :mod:`linode_emulator.state` (and rebuilt on reset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .catalog import DEFAULT_REGION_IDS

DISK_FILESYSTEMS = ("raw", "swap", "ext3", "ext4", "initrd")
DISK_STATUSES = ("ready", "not ready", "deleting")
# The state machine moves linodes between these two resting states; every
# other Linode status is transient and only exists while a job runs.
START_STATUSES = ("running", "offline")
# Statuses a linode can be held in (fleet key `hold`, control API `hold`) for a job the
# emulator does not run, such as a migration: busy to power actions and captures until released.
# Only the spec's Linode.status values (it has no `resizing`).
HOLD_STATUSES = (
    "busy", "migrating", "provisioning", "rebuilding", "cloning", "restoring",
    "booting", "rebooting", "shutting_down",
)
DEVICE_NAMES = ("sda", "sdb", "sdc", "sdd", "sde", "sdf", "sdg", "sdh")
IMAGE_ID_PATTERN = re.compile(r"^private/(\d+)$")

# Property names of the spec's Image object: pre-existing images may set any.
IMAGE_KEYS = (
    "id", "label", "description", "created", "updated", "created_by", "deprecated",
    "is_public", "size", "status", "type", "vendor", "eol", "expiry", "capabilities",
    "tags", "total_size", "regions",
)


class FleetError(ValueError):
    """The fleet file is unusable; the message names the offending key."""


@dataclass(frozen=True)
class TokenSpec:
    token: str
    scopes: str = "*"
    username: str = "emulator"


@dataclass(frozen=True)
class AccountLimits:
    image_size_limit_mb: int = 6144
    image_count_limit: int = 25
    # Linode publishes no figure: accounts report limits of 10 to 50 instances, which Support raises.
    linode_count_limit: int = 50


# Job kinds whose events report progress, and the recorded-like default curves:
# step functions of (fraction of the event's whole duration, percent). Before the
# first step the event shows 0; 100 only once it has finished. Shaped after the
# go-vcr recordings of linodego's integration tests: a capture showed 64% at 11%
# of its 144 s, 83% at 33%, 87%, 90%, then 0% until it finished; a shutdown 7%
# from 55% of its 28 s on; a boot 45% then 49% at about 60% of its 24 s. The
# reboot curve was never recorded: a shutdown followed by a boot. A create from an image showed
# 5-9% early, about 50% half-way and up to 80% late in its 15-67 s.
PROGRESS_KINDS = ("capture", "shutdown", "boot", "reboot", "create")
Curve = tuple[tuple[float, int], ...]
DEFAULT_PROGRESS: dict[str, Curve] = {
    "capture": ((0.11, 64), (0.33, 83), (0.43, 87), (0.53, 90), (0.63, 0)),
    "shutdown": ((0.55, 7),),
    "boot": ((0.58, 45), (0.62, 49)),
    "reboot": ((0.3, 7), (0.75, 45), (0.8, 49)),
    "create": ((0.15, 5), (0.45, 50), (0.75, 80)),
}


@dataclass(frozen=True)
class Timing:
    """Durations at speed 1, in emulated seconds (defaults calibrated to recorded traffic)."""

    shutdown_s: float = 28.0  # recorded: a linode_shutdown finished after 28 s
    boot_s: float = 24.0  # recorded: a linode_boot finished after 24 s (its scheduled phase included)
    # Not recorded; a reboot is modelled as a shutdown plus a boot.
    reboot_s: float | None = None
    # Recorded: a capture of a 366 MB image took 144 s (30 + 366 / 3.2 = 144.4).
    capture_base_s: float = 30.0
    capture_mb_per_s: float = 3.2
    # Not documented by Linode either; replication is slow in reality.
    replicate_s: float = 30.0
    # Recorded: a linode_create from an image finished after 15-67 s (median 40 s), before its boot.
    create_s: float = 40.0
    # Recorded: a linode_delete finished after 13 s; until then the label stays taken.
    delete_s: float = 13.0
    # How long after the request an event is listed (never recorded; the first
    # recorded looks came 15 s or more later).
    event_delay_s: float = 3.0
    # linode_boot/linode_reboot events are `scheduled` this long before `started` (recorded).
    boot_scheduled_s: float = 5.0
    # Fleet disks listed `not ready` become `ready` this long after start or reset.
    disk_ready_s: float = 20.0
    progress: dict[str, Curve] = field(default_factory=lambda: dict(DEFAULT_PROGRESS))

    @property
    def effective_reboot_s(self) -> float:
        return self.reboot_s if self.reboot_s is not None else self.shutdown_s + self.boot_s

    def capture_s(self, used_mb: int) -> float:
        return self.capture_base_s + used_mb / self.capture_mb_per_s


@dataclass(frozen=True)
class Idealised:
    """Idealised behaviours a test may ask for explicitly; all off (recorded behaviour) by default."""

    # time_remaining counts down as "hh:mm:ss" while an event runs (real API: null).
    time_remaining: bool = False
    # percent_complete grows linearly with time (real API: plateaus, may fall back to 0).
    linear_progress: bool = False
    # Events are listed the moment the request is answered (real API: after a delay).
    instant_events: bool = False
    # Any field may be filtered and ordered on (real API: only the spec's __Filterable__ ones).
    lenient_filters: bool = False
    # An empty filtered list is page 1 of 1 (real API: page 0 of 0).
    empty_list_page_one: bool = False
    # Boot and reboot events (and captures waiting for their disk) are `started` at once
    # (real API: `scheduled` first).
    started_at_once: bool = False
    # Events exactly as the spec types them: secondary_entity ids as strings ("private/N"),
    # secondary_entity and duration left out instead of null, message null when empty.
    spec_event_shapes: bool = False


FAILED_CAPTURE_MODES = ("delete", "stay_creating")
RATE_LIMIT_HEADER_MODES = ("documented", "limit_only")


@dataclass(frozen=True)
class Unrecorded:
    """Behaviours nobody has recorded; each has a documented default and a named alternative."""

    # delete: the event ends `failed` and the image is deleted (later reads 404), as documented.
    # stay_creating: the event ends `failed` and the image stays `creating` for good.
    failed_capture: str = "delete"
    # documented: X-RateLimit-Limit/-Remaining/-Reset on every response, Retry-After on 429.
    # limit_only: only X-RateLimit-Limit (all the recordings show), no Retry-After on 429.
    rate_limit_headers: str = "documented"


@dataclass(frozen=True)
class RateLimits:
    """Per-token limits, as documented (spec 4.176.0 and the current techdocs)."""

    overall_per_2min: int = 800
    per_operation_per_min: int = 400
    list_per_min: int = 200
    list_images_per_min: int = 20


@dataclass(frozen=True)
class DiskSpec:
    id: int
    label: str
    filesystem: str = "ext4"
    size: int = 25088
    used_mb: int = 0
    status: str = "ready"


@dataclass(frozen=True)
class ConfigSpec:
    id: int
    label: str
    root_device: str = "/dev/sda"
    devices: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PowerHooks:
    """Commands run when a linode comes to rest offline or running.

    A later feature uses them to stop and start a real sshd per linode, so
    power actions have an observable effect outside the API.
    """

    on_offline: tuple[str, ...] | None = None
    on_running: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LinodeSpec:
    id: int
    label: str
    region: str = "us-east"
    status: str = "running"
    type: str = "g6-standard-1"
    tags: tuple[str, ...] = ()
    disks: tuple[DiskSpec, ...] = ()
    configs: tuple[ConfigSpec, ...] = ()
    power_hooks: PowerHooks = PowerHooks()
    # Shown instead of ``status`` until released; ``status`` is where it rests afterwards.
    hold: str | None = None


@dataclass(frozen=True)
class Fleet:
    tokens: tuple[TokenSpec, ...]
    linodes: tuple[LinodeSpec, ...]
    account: AccountLimits = AccountLimits()
    timing: Timing = Timing()
    rate_limits: RateLimits | None = RateLimits()
    images: tuple[dict[str, Any], ...] = ()
    regions: tuple[str, ...] = DEFAULT_REGION_IDS
    public_images: bool = True
    idealised: Idealised = Idealised()
    unrecorded: Unrecorded = Unrecorded()
    # argv run on create, power changes and delete of the instances POST /linode/instances creates.
    instance_hook: tuple[str, ...] | None = None

    @property
    def first_token(self) -> str:
        return self.tokens[0].token


DEFAULT_TOKENS = (
    TokenSpec(token="demo-token", scopes="*"),
    TokenSpec(token="readonly-token", scopes="images:read_only linodes:read_only"),
)


# --------------------------------------------------------------------------- helpers


def _check_keys(where: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise FleetError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FleetError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _sequence(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FleetError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _int(where: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FleetError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise FleetError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _number(where: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FleetError(f"{where}: expected a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise FleetError(f"{where}: must be {'positive' if positive else 'non-negative'}, got {value}")
    return float(value)


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise FleetError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise FleetError(f"{where}: expected one of {', '.join(choices)}; got {value!r}")
    return value


def _argv(where: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = _sequence(where, value)
    if not items or not all(isinstance(item, str) for item in items):
        raise FleetError(f"{where}: expected a non-empty list of strings (an argv)")
    return tuple(items)


# --------------------------------------------------------------------------- parsing


def _parse_tokens(data: Any) -> tuple[TokenSpec, ...]:
    if data is None:
        return DEFAULT_TOKENS
    tokens = []
    for index, raw in enumerate(_sequence("tokens", data)):
        where = f"tokens[{index}]"
        raw = _mapping(where, raw)
        _check_keys(where, raw, ("token", "scopes", "username"))
        tokens.append(
            TokenSpec(
                token=_str(f"{where}.token", raw.get("token")),
                scopes=_str(f"{where}.scopes", raw.get("scopes", "*")),
                username=_str(f"{where}.username", raw.get("username", "emulator")),
            )
        )
    if not tokens:
        raise FleetError("tokens: at least one token is needed")
    if len({t.token for t in tokens}) != len(tokens):
        raise FleetError("tokens: duplicate token")
    return tuple(tokens)


def _parse_account(data: Any) -> AccountLimits:
    if data is None:
        return AccountLimits()
    data = _mapping("account", data)
    _check_keys("account", data, ("image_size_limit_mb", "image_count_limit", "linode_count_limit"))
    defaults = AccountLimits()
    return AccountLimits(
        image_size_limit_mb=_int(
            "account.image_size_limit_mb", data.get("image_size_limit_mb", defaults.image_size_limit_mb), 1
        ),
        image_count_limit=_int(
            "account.image_count_limit", data.get("image_count_limit", defaults.image_count_limit), 0
        ),
        linode_count_limit=_int(
            "account.linode_count_limit", data.get("linode_count_limit", defaults.linode_count_limit), 0
        ),
    )


TIMING_NUMBERS = (
    "shutdown_s", "boot_s", "reboot_s", "capture_base_s", "capture_mb_per_s", "replicate_s",
    "create_s", "delete_s", "event_delay_s", "boot_scheduled_s", "disk_ready_s",
)


def _parse_curve(where: str, value: Any) -> Curve:
    points = _sequence(where, value)
    curve: list[tuple[float, int]] = []
    for index, point in enumerate(points):
        at = f"{where}[{index}]"
        if not isinstance(point, list) or len(point) != 2:
            raise FleetError(f"{at}: expected [fraction_of_duration, percent]")
        fraction = _number(f"{at}[0]", point[0])
        if fraction > 1:
            raise FleetError(f"{at}[0]: a fraction of the duration must be at most 1, got {fraction}")
        percent = _int(f"{at}[1]", point[1], 0)
        if percent > 99:
            raise FleetError(f"{at}[1]: percent must be 0-99 (100 is shown once finished), got {percent}")
        if curve and fraction <= curve[-1][0]:
            raise FleetError(f"{at}[0]: fractions must increase")
        curve.append((fraction, percent))
    return tuple(curve)


def _parse_timing(data: Any, base: Timing | None = None) -> Timing:
    """``timing`` over ``base`` (the defaults): only the keys given change."""
    base = base or Timing()
    if data is None:
        return base
    data = _mapping("timing", data)
    _check_keys("timing", data, TIMING_NUMBERS + ("progress",))
    values: dict[str, Any] = {}
    for key in TIMING_NUMBERS:
        if key in data:
            values[key] = _number(f"timing.{key}", data[key], positive=(key == "capture_mb_per_s"))
    if "progress" in data:
        raw = _mapping("timing.progress", data["progress"])
        _check_keys("timing.progress", raw, PROGRESS_KINDS)
        progress = dict(base.progress)
        for kind, curve in raw.items():
            progress[kind] = _parse_curve(f"timing.progress.{kind}", curve)
        values["progress"] = progress
    return replace(base, **values)


def with_timing(fleet: Fleet, data: Any) -> Fleet:
    """The fleet with some durations changed (the control API's ``POST /__emulator__/timing``)."""
    return replace(fleet, timing=_parse_timing(data, fleet.timing))


def _parse_idealised(data: Any) -> Idealised:
    if data is None:
        return Idealised()
    data = _mapping("idealised", data)
    names = tuple(f.name for f in fields(Idealised))
    _check_keys("idealised", data, names)
    for key, value in data.items():
        if not isinstance(value, bool):
            raise FleetError(f"idealised.{key}: expected true or false, got {value!r}")
    return Idealised(**data)


def _parse_unrecorded(data: Any) -> Unrecorded:
    if data is None:
        return Unrecorded()
    data = _mapping("unrecorded", data)
    _check_keys("unrecorded", data, ("failed_capture", "rate_limit_headers"))
    defaults = Unrecorded()
    return Unrecorded(
        failed_capture=_choice(
            "unrecorded.failed_capture", data.get("failed_capture", defaults.failed_capture), FAILED_CAPTURE_MODES
        ),
        rate_limit_headers=_choice(
            "unrecorded.rate_limit_headers",
            data.get("rate_limit_headers", defaults.rate_limit_headers),
            RATE_LIMIT_HEADER_MODES,
        ),
    )


def _parse_rate_limits(data: Any) -> RateLimits | None:
    if data is None or data is True:
        return RateLimits()
    if data is False:
        return None
    data = _mapping("rate_limits", data)
    keys = ("overall_per_2min", "per_operation_per_min", "list_per_min", "list_images_per_min")
    _check_keys("rate_limits", data, keys)
    return RateLimits(**{key: _int(f"rate_limits.{key}", data[key], 1) for key in keys if key in data})


def _parse_disk(where: str, raw: Any) -> DiskSpec:
    raw = _mapping(where, raw)
    _check_keys(where, raw, ("id", "label", "filesystem", "size", "used_mb", "status"))
    disk = DiskSpec(
        id=_int(f"{where}.id", raw.get("id"), 1),
        label=_str(f"{where}.label", raw.get("label", f"disk-{raw.get('id')}")),
        filesystem=_choice(f"{where}.filesystem", raw.get("filesystem", "ext4"), DISK_FILESYSTEMS),
        size=_int(f"{where}.size", raw.get("size", 25088), 1),
        used_mb=_int(f"{where}.used_mb", raw.get("used_mb", 0), 0),
        status=_choice(f"{where}.status", raw.get("status", "ready"), DISK_STATUSES),
    )
    if disk.used_mb > disk.size:
        raise FleetError(f"{where}: used_mb ({disk.used_mb}) exceeds size ({disk.size})")
    return disk


def _parse_config(where: str, raw: Any, disk_ids: set[int]) -> ConfigSpec:
    raw = _mapping(where, raw)
    _check_keys(where, raw, ("id", "label", "root_device", "devices"))
    devices_raw = _mapping(f"{where}.devices", raw.get("devices", {}) or {})
    devices: dict[str, int] = {}
    for name, disk_id in devices_raw.items():
        _choice(f"{where}.devices key", name, DEVICE_NAMES)
        # Accept the API's own shape ({sda: {disk_id: 1}}) as well as the short one.
        if isinstance(disk_id, dict):
            disk_id = disk_id.get("disk_id")
        disk_id = _int(f"{where}.devices.{name}", disk_id, 1)
        if disk_id not in disk_ids:
            raise FleetError(f"{where}.devices.{name}: disk {disk_id} is not a disk of this linode")
        devices[name] = disk_id
    return ConfigSpec(
        id=_int(f"{where}.id", raw.get("id"), 1),
        label=_str(f"{where}.label", raw.get("label", f"config-{raw.get('id')}")),
        root_device=_str(f"{where}.root_device", raw.get("root_device", "/dev/sda")),
        devices=devices,
    )


def _parse_linode(where: str, raw: Any) -> LinodeSpec:
    raw = _mapping(where, raw)
    _check_keys(
        where, raw, ("id", "label", "region", "status", "hold", "type", "tags", "disks", "configs", "power_hooks")
    )
    linode_id = _int(f"{where}.id", raw.get("id"), 1)
    raw_disks = _sequence(f"{where}.disks", raw.get("disks"))
    disks = tuple(_parse_disk(f"{where}.disks[{i}]", d) for i, d in enumerate(raw_disks))
    disk_ids = {d.id for d in disks}
    configs = tuple(
        _parse_config(f"{where}.configs[{i}]", c, disk_ids)
        for i, c in enumerate(_sequence(f"{where}.configs", raw.get("configs")))
    )
    hooks_raw = _mapping(f"{where}.power_hooks", raw.get("power_hooks") or {})
    _check_keys(f"{where}.power_hooks", hooks_raw, ("on_offline", "on_running"))
    tags = _sequence(f"{where}.tags", raw.get("tags"))
    if not all(isinstance(t, str) for t in tags):
        raise FleetError(f"{where}.tags: expected a list of strings")
    return LinodeSpec(
        id=linode_id,
        label=_str(f"{where}.label", raw.get("label", f"linode{linode_id}")),
        region=_str(f"{where}.region", raw.get("region", "us-east")),
        status=_choice(f"{where}.status", raw.get("status", "running"), START_STATUSES),
        type=_str(f"{where}.type", raw.get("type", "g6-standard-1")),
        tags=tuple(tags),
        disks=disks,
        configs=configs,
        power_hooks=PowerHooks(
            on_offline=_argv(f"{where}.power_hooks.on_offline", hooks_raw.get("on_offline")),
            on_running=_argv(f"{where}.power_hooks.on_running", hooks_raw.get("on_running")),
        ),
        hold=_choice(f"{where}.hold", raw["hold"], HOLD_STATUSES) if raw.get("hold") is not None else None,
    )


def _parse_images(data: Any) -> tuple[dict[str, Any], ...]:
    images = []
    seen: set[str] = set()
    for index, raw in enumerate(_sequence("images", data)):
        where = f"images[{index}]"
        raw = dict(_mapping(where, raw))
        _check_keys(where, raw, IMAGE_KEYS)
        if "id" in raw:
            if not isinstance(raw["id"], str) or not IMAGE_ID_PATTERN.match(raw["id"]):
                raise FleetError(f"{where}.id: expected 'private/<number>', got {raw['id']!r}")
            if raw["id"] in seen:
                raise FleetError(f"{where}.id: duplicate image id {raw['id']}")
            seen.add(raw["id"])
        if raw.get("status", "available") not in ("creating", "pending_upload", "available"):
            raise FleetError(f"{where}.status: expected creating, pending_upload or available")
        images.append(raw)
    return tuple(images)


def _check_unique_ids(linodes: tuple[LinodeSpec, ...]) -> None:
    for kind, ids in (
        ("linode", [linode.id for linode in linodes]),
        ("disk", [d.id for linode in linodes for d in linode.disks]),
        ("config", [c.id for linode in linodes for c in linode.configs]),
    ):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise FleetError(f"linodes: duplicate {kind} id(s) {duplicates}")


def parse_fleet(data: Any, *, require_linodes: bool = True) -> Fleet:
    """Build a :class:`Fleet` from already-parsed YAML, applying defaults."""
    data = _mapping("fleet", data if data is not None else {})
    _check_keys(
        "fleet", data,
        (
            "tokens", "account", "timing", "rate_limits", "linodes", "images", "regions", "public_images",
            "idealised", "unrecorded", "instance_hook",
        ),
    )
    if require_linodes and "linodes" not in data:
        raise FleetError("fleet: the key 'linodes' is required")
    raw_linodes = _sequence("linodes", data.get("linodes"))
    linodes = tuple(_parse_linode(f"linodes[{i}]", raw) for i, raw in enumerate(raw_linodes))
    _check_unique_ids(linodes)
    regions = tuple(_str("regions[]", r) for r in _sequence("regions", data.get("regions"))) or DEFAULT_REGION_IDS
    # A linode's region must be listable, or replication targets would be odd.
    regions = regions + tuple(sorted({linode.region for linode in linodes} - set(regions)))
    public_images = data.get("public_images", True)
    if not isinstance(public_images, bool):
        raise FleetError("public_images: expected true or false")
    return Fleet(
        tokens=_parse_tokens(data.get("tokens")),
        linodes=linodes,
        account=_parse_account(data.get("account")),
        timing=_parse_timing(data.get("timing")),
        rate_limits=_parse_rate_limits(data.get("rate_limits")),
        images=_parse_images(data.get("images")),
        regions=regions,
        public_images=public_images,
        idealised=_parse_idealised(data.get("idealised")),
        unrecorded=_parse_unrecorded(data.get("unrecorded")),
        instance_hook=_argv("instance_hook", data.get("instance_hook")),
    )


def load_fleet(path: str | Path, *, require_linodes: bool = True) -> Fleet:
    """Read and validate a fleet file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError(f"cannot read fleet file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FleetError(f"fleet file {path} is not valid YAML: {exc}") from exc
    return parse_fleet(data, require_linodes=require_linodes)


def generate_linodes(count: int, region: str = "us-east") -> tuple[LinodeSpec, ...]:
    """A uniform fleet of ``count`` running, capturable linodes.

    Each has an ext4 root disk and a swap disk, wired into one config. Usage
    varies between about 1.2 and 4.8 GB so captures take different times, yet
    all stay below 90% of the default 6 GB image limit (the documented safety
    margin), so every linode can be captured.
    """
    if count < 1:
        raise FleetError("--fleet-size must be at least 1")
    linodes = []
    for index in range(count):
        root_id, swap_id = 2001 + 2 * index, 2002 + 2 * index
        used_mb = 1200 + (index * 677) % 3600
        linodes.append(
            LinodeSpec(
                id=1001 + index,
                label=f"node-{index + 1:04d}",
                region=region,
                status="running",
                tags=("fleet",),
                disks=(
                    DiskSpec(id=root_id, label="Ubuntu 24.04 Disk", filesystem="ext4", size=25088, used_mb=used_mb),
                    DiskSpec(id=swap_id, label="512 MB Swap Image", filesystem="swap", size=512, used_mb=0),
                ),
                configs=(
                    ConfigSpec(id=3001 + index, label="Boot Config", root_device="/dev/sda",
                               devices={"sda": root_id, "sdb": swap_id}),
                ),
            )
        )
    return tuple(linodes)


def with_generated_linodes(fleet: Fleet | None, count: int) -> Fleet:
    """``--fleet-size N``: keep tokens, limits, timing and options, replace the linodes."""
    linodes = generate_linodes(count)
    if fleet is None:
        return Fleet(tokens=DEFAULT_TOKENS, linodes=linodes)
    regions = fleet.regions if "us-east" in fleet.regions else fleet.regions + ("us-east",)
    return replace(fleet, linodes=linodes, regions=regions)
