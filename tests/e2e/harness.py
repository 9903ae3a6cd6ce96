"""The end-to-end test's world: real sshd hosts with loop-mounted disks, the emulator, ansible-playbook.

Everything lives in one temporary directory and is registered on an ``ExitStack`` as soon as it
exists, so that a failure half-way still stops every sshd and the emulator by pid, unmounts every
filesystem, detaches every loop device and removes the directory.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN = Path(sys.executable).parent
SSHD_HOST_SCRIPT = HERE / "sshd_host.py"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import sshd_host  # noqa: E402  pylint: disable=wrong-import-position

# The account's image size limit in MiB, small so that an "over the limit" filesystem is cheap.
# With the role's default margin of 10 %, a mount passes while df "Used" stays below 57.6 MiB.
SIZE_LIMIT_MIB = 64
# The emulator's default (recorded) durations, divided by SPEED: shutdown 2.8 s, boot 2.4 s, a capture of these
# small disks about 4-5 s.
SPEED = 10
RATE_LIMITS = {"overall_per_2min": 800, "per_operation_per_min": 400, "list_per_min": 200, "list_images_per_min": 20}
TOKEN = "e2e-token"
# A second operator (another AWX credential, another person): runs side by side use one each, so the
# emulator's events (their `username`) tell which run shut down, captured or booted an instance.
SECOND_TOKEN = "e2e-token-2"
USERNAMES = {TOKEN: "e2e-operator-1", SECOND_TOKEN: "e2e-operator-2"}
RUN_MARKER_VARIABLE = "GOLDEN_IMAGE_E2E_RUN"

HTTP_TIMEOUT_S = 10.0
COMMAND_TIMEOUT_S = 60.0
EMULATOR_START_TIMEOUT_S = 30.0
EMULATOR_STOP_TIMEOUT_S = 15.0
SSH_TIMEOUT_S = 20.0
# A playbook's deadline: a guard against a hang, never a goal. A fleet run is under a minute and a pipeline run
# 40 to 120 s on an idle 2-CPU machine; under make test, with five suites beside them, a fleet run took more
# than 300 s (the landing CI of 166133c) and a pipeline run too. So a loaded machine is slow, not a failure.
PLAYBOOK_TIMEOUT_S = 900.0

CAPTURE_PATH = r"^/v4(beta)?/images$"
BOOT_PATH = r"/v4(beta)?/linode/instances/\d+/boot"


class Unavailable(Exception):
    """This machine cannot host the end-to-end test (not root, no sshd, no loop devices, ...)."""


@dataclass(frozen=True)
class HostPlan:
    """One host of the test fleet: its disk on the host side and on the Linode side."""

    name: str
    kind: str  # good | over_limit | not_ext | raw_disk
    mount: str  # ext4 | tmpfs
    fs_mib: int  # filesystem size
    fill_mib: int  # a file of this size written into it
    linode_filesystem: str  # the root disk's filesystem in the emulator
    linode_used_mb: int
    expected: str  # the report's result on a first run: captured | refused


PLANS = (
    HostPlan("e2e-good-1", "good", "ext4", 32, 2, "ext4", 3, "captured"),
    HostPlan("e2e-good-2", "good", "ext4", 32, 3, "ext4", 4, "captured"),
    HostPlan("e2e-over-limit", "over_limit", "ext4", 128, 70, "ext4", 71, "refused"),
    HostPlan("e2e-not-ext", "not_ext", "tmpfs", 16, 1, "ext4", 2, "refused"),
    HostPlan("e2e-raw-disk", "raw_disk", "ext4", 32, 2, "raw", 3, "refused"),
)


def run(command: list[str], timeout: float = COMMAND_TIMEOUT_S, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command to completion; raise with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {(result.stderr or result.stdout).strip()}")
    return result


def check_prerequisites() -> None:
    """Raise Unavailable with the reason when this machine cannot run the test."""
    if not sys.platform.startswith("linux"):
        raise Unavailable(f"needs Linux (loop devices, /proc), this is {sys.platform}")
    if os.geteuid() != 0:
        raise Unavailable("needs root: it loop-mounts filesystems and runs sshd as root on its own ports")
    missing = [tool for tool in ("ssh", "ssh-keygen", "mkfs.ext4", "mount", "umount", "losetup") if shutil.which(tool) is None]
    if not os.access(sshd_host.SSHD, os.X_OK):
        missing.append(sshd_host.SSHD)
    if missing:
        raise Unavailable(f"missing {', '.join(missing)} (Debian packages: openssh-server openssh-client e2fsprogs mount util-linux)")
    if not Path("/dev/loop-control").exists():
        raise Unavailable("no /dev/loop-control: this kernel or container offers no loop devices")


@dataclass
class Host:
    """A running host: its sshd, its client key and its mounted disk."""

    plan: HostPlan
    linode_id: int
    disk_id: int
    port: int
    directory: Path
    host_file: Path
    client_key: Path
    mount_point: Path
    spec: dict

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def image_label(self) -> str:
        return f"{self.plan.name}-golden"

    def up(self) -> bool:
        return sshd_host.is_up(self.spec)

    def start(self) -> None:
        sshd_host.start(self.spec)

    def stop(self) -> None:
        sshd_host.stop(self.spec)

    def ssh(self, command: str = "true", key: Path | None = None) -> subprocess.CompletedProcess:
        """Log in as root with the host's (or another) client key and run ``command``."""
        argv = [
            "ssh", "-F", "/dev/null", "-i", str(key or self.client_key), "-p", str(self.port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=15",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "root@127.0.0.1", command,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.directory)}
        return subprocess.run(argv, capture_output=True, text=True, timeout=SSH_TIMEOUT_S, check=False, env=env, stdin=subprocess.DEVNULL)

    def answers(self) -> bool:
        """True when a real SSH login as root with this host's key works."""
        return self.ssh("true").returncode == 0


def _sshd_config(directory: Path, port: int, marker: str) -> str:
    return "\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {directory / 'ssh_host_ed25519_key'}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # The keys live under /tmp, which is world-writable: StrictModes would refuse them.
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "MaxStartups 50:30:100",
        "LogLevel VERBOSE",
        # Sessions carry the host's marker, so powering off kills what they left running too.
        f"SetEnv {sshd_host.MARKER_VARIABLE}={marker}",
        "",
    ])


def _make_disk(stack: ExitStack, plan: HostPlan, directory: Path) -> Path:
    """Mount the host's disk (registered for unmounting) and fill it; returns the mount point."""
    mount_point = directory / "disk"
    mount_point.mkdir()
    if plan.mount == "tmpfs":
        run(["mount", "-t", "tmpfs", "-o", f"size={plan.fs_mib}m,mode=0755", "tmpfs", str(mount_point)])
        stack.callback(_unmount, mount_point, None)
    else:
        image = directory / "disk.img"
        with image.open("wb") as handle:
            handle.truncate(plan.fs_mib * 1024 * 1024)
        run(["mkfs.ext4", "-q", "-F", "-L", plan.name[-16:], str(image)])
        try:
            run(["mount", "-o", "loop", str(image), str(mount_point)])
        except RuntimeError as exc:
            raise Unavailable(f"cannot loop-mount an ext4 image here: {exc}") from None
        stack.callback(_unmount, mount_point, image)
    with (mount_point / "payload.bin").open("wb") as payload:
        block = os.urandom(1024 * 1024)  # random, so that no filesystem could compress it away
        for _index in range(plan.fill_mib):
            payload.write(block)
        payload.flush()
        os.fsync(payload.fileno())
    return mount_point


def _unmount(mount_point: Path, image: Path | None) -> None:
    deadline = time.monotonic() + 20
    while os.path.ismount(mount_point):
        result = subprocess.run(["umount", str(mount_point)], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            # Busy past the deadline: detach it lazily rather than leave it mounted.
            run(["umount", "-l", str(mount_point)])
            break
        time.sleep(0.2)
    if image is not None:
        # mount -o loop sets autoclear; detach anything left over all the same.
        attached = run(["losetup", "-n", "-O", "NAME", "-j", str(image)]).stdout.split()
        for device in attached:
            run(["losetup", "-d", device])


def make_host(stack: ExitStack, plan: HostPlan, index: int, root: Path, events_file: Path) -> Host:
    directory = root / "hosts" / plan.name
    directory.mkdir(parents=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{plan.name} host key", "-f", str(directory / "ssh_host_ed25519_key")])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{plan.name} client key", "-f", str(directory / "client_key")])
    shutil.copyfile(directory / "client_key.pub", directory / "authorized_keys")
    port = sshd_host.free_port()
    marker = uuid.uuid4().hex
    config = directory / "sshd_config"
    config.write_text(_sshd_config(directory, port, marker), encoding="utf-8")
    run([sshd_host.SSHD, "-t", "-f", str(config)])
    spec = {
        "name": plan.name, "port": port, "config": str(config), "pid_file": str(directory / "sshd.pid"),
        "log_file": str(directory / "sshd.log"), "marker": marker, "events_file": str(events_file),
    }
    host_file = directory / "host.json"
    host_file.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    mount_point = _make_disk(stack, plan, directory)
    host = Host(plan, 1001 + index, 2001 + 2 * index, port, directory, host_file, directory / "client_key", mount_point, spec)
    # Registered before it starts: a start that fails half-way is still cleaned up.
    stack.callback(sshd_host.stop, spec)
    host.start()
    return host


def df(mount_point: Path) -> tuple[str, int]:
    """(filesystem type, bytes used) as ``df`` reports them for a mount."""
    lines = run(["df", "-P", "-T", "-B1", str(mount_point)]).stdout.splitlines()
    fields = lines[-1].split()
    return fields[1], int(fields[3])


# --------------------------------------------------------------------------- emulator


def fleet_document(hosts: list[Host]) -> dict:
    linodes = []
    for index, host in enumerate(hosts):
        hook = [sys.executable, str(SSHD_HOST_SCRIPT)]
        linodes.append({
            "id": host.linode_id,
            "label": host.name,
            "region": "us-east",
            "status": "running",
            "tags": ["e2e"],
            "disks": [
                {"id": host.disk_id, "label": f"{host.name} root", "filesystem": host.plan.linode_filesystem,
                 "size": 8192, "used_mb": host.plan.linode_used_mb, "status": "ready"},
                {"id": host.disk_id + 1, "label": "512 MB Swap Image", "filesystem": "swap", "size": 512, "used_mb": 0, "status": "ready"},
            ],
            "configs": [{"id": 3001 + index, "label": "Boot Config", "root_device": "/dev/sda",
                         "devices": {"sda": host.disk_id, "sdb": host.disk_id + 1}}],
            "power_hooks": {"on_offline": hook + ["stop", str(host.host_file)], "on_running": hook + ["start", str(host.host_file)]},
        })
    return {
        "tokens": [{"token": token, "scopes": "*", "username": username} for token, username in USERNAMES.items()],
        "account": {"image_size_limit_mb": SIZE_LIMIT_MIB, "image_count_limit": 25},
        "rate_limits": RATE_LIMITS,
        # The recorded durations, and every event listed only 30 s after its request (the latest we assume).
        "timing": {"event_delay_s": 30},
        "linodes": linodes,
        "images": [],
    }


@dataclass
class Emulator:
    process: subprocess.Popen
    stderr_file: Path
    url: str
    api_url: str
    ca_file: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies must not apply to loopback
        self.session.verify = self.ca_file

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.session.request(method, url, timeout=HTTP_TIMEOUT_S, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {url} -> {response.status_code}: {response.text}")
        return response.json()

    def state(self) -> dict:
        return self._call("GET", f"{self.url}/__emulator__/state")

    def requests_log(self) -> list[dict]:
        return self._call("GET", f"{self.url}/__emulator__/requests")["requests"]

    def reset(self) -> None:
        self._call("POST", f"{self.url}/__emulator__/reset")

    def add_faults(self, *rules: dict) -> None:
        self._call("POST", f"{self.url}/__emulator__/faults", json={"rules": list(rules)})

    def clear_faults(self) -> None:
        self._call("DELETE", f"{self.url}/__emulator__/faults")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"{self.api_url}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"})

    def linode(self, linode_id: int) -> dict:
        return next(linode for linode in self.state()["linodes"] if linode["id"] == linode_id)

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.session.close()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=EMULATOR_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=EMULATOR_STOP_TIMEOUT_S)
            raise RuntimeError(f"the emulator did not stop within {EMULATOR_STOP_TIMEOUT_S:.0f} s of SIGTERM") from None
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
        if code != 0:
            raise RuntimeError(f"the emulator exited {code} after SIGTERM\n{self.stderr_tail()}")


def start_emulator(stack: ExitStack, fleet_file: Path, workdir: Path, speed: float = SPEED) -> Emulator:
    command = [str(BIN / "linode-emulator"), "--fleet", str(fleet_file), "--port", "0", "--speed", "%g" % speed,
               "--state-dir", str(workdir / "emulator")]
    stderr_file = workdir / "emulator.log"
    with stderr_file.open("w", encoding="utf-8") as stderr:
        # stderr goes to a file: a pipe nobody drains would block the server (and its power hooks).
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True)  # pylint: disable=consider-using-with
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        line = process.stdout.readline() if selector.select(EMULATOR_START_TIMEOUT_S) else ""
    if not line:
        process.kill()
        process.wait(timeout=EMULATOR_STOP_TIMEOUT_S)
        raise RuntimeError(f"the emulator printed no start line within {EMULATOR_START_TIMEOUT_S:.0f} s\n"
                           f"{stderr_file.read_text(encoding='utf-8', errors='replace')}")
    started = json.loads(line)
    emulator = Emulator(process, stderr_file, started["url"], started["api_url"], started["ca_file"], started["token"])
    stack.callback(emulator.stop)
    return emulator


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------- ansible-playbook


def collections_path() -> Path:
    return Path(os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(REPO / ".cache" / "collections")).split(os.pathsep)[0])


@dataclass
class Run:
    """One ansible-playbook run and what it left behind."""

    name: str
    returncode: int | None
    output: str
    report: list | None
    requests: list[dict]
    hook_events: list[dict]
    seconds: float
    killed_orphans: int = 0

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])

    def rows(self) -> dict[str, dict]:
        if not isinstance(self.report, list):
            raise AssertionError(f"run {self.name}: no report list in image_capture_report_file\n{self.tail()}")
        return {row["host"]: row for row in self.report}

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host."""
        found = {}
        for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", self.output, re.MULTILINE):
            found[match.group(1)] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))}
        return found

    def changed_tasks(self) -> list[tuple[str, str]]:
        """(task name, host) of every ``changed:`` line of the play output."""
        found, task = [], ""
        for line in self.output.splitlines():
            heading = re.match(r"^TASK \[(.*)\] \**$", line)
            if heading:
                task = heading.group(1)
            changed = re.match(r"^changed: \[([^\]\s]+)", line)
            if changed:
                found.append((task, changed.group(1)))
        return found

    def posts(self, pattern: str) -> list[dict]:
        """The run's POST requests whose path matches ``pattern`` (searched), whatever their status."""
        return [entry for entry in self.requests if entry["method"] == "POST" and re.search(pattern, entry["path"])]


class World:
    """The hosts, the emulator and how to run the playbook against them."""

    speed: float = SPEED  # the emulator's
    playbook = "golden_image.linode.capture"

    def __init__(self, root: Path, hosts: list[Host], emulator: Emulator, events_file: Path) -> None:
        self.root = root
        self.hosts = hosts
        self.emulator = emulator
        self.events_file = events_file
        self.run_marker = uuid.uuid4().hex
        self.inventory = root / "inventory.yml"
        self.ansible_home = root / "ansible-home"
        self.ansible_home.mkdir()
        self.inventory.write_text(yaml.safe_dump(self.inventory_document(), sort_keys=False), encoding="utf-8")

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)

    def of_kind(self, *kinds: str) -> list[Host]:
        return [host for host in self.hosts if host.plan.kind in kinds]

    def inventory_document(self) -> dict:
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        hosts = {
            host.name: {
                "linode_id": host.linode_id,
                "ansible_host": "127.0.0.1",
                "ansible_port": host.port,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(host.client_key),
                "image_capture_mount": str(host.mount_point),
                "image_capture_size_limit": SIZE_LIMIT_MIB,
                "image_capture_label": host.image_label,
            }
            for host in self.hosts
        }
        return {"all": {"children": {"linodes": {
            "hosts": hosts,
            "vars": {
                "ansible_python_interpreter": python,
                # Every host is 127.0.0.1 on its own port with throwaway host keys: remember none of them.
                "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
            },
        }}}}

    def environment(self, token: str | None = None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("ANSIBLE_", "LINODE_", "SSH_AUTH_SOCK", "SSH_AGENT_PID"))}
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
            "ANSIBLE_HOME": str(self.ansible_home),
            "ANSIBLE_LOCAL_TEMP": str(self.ansible_home / "tmp"),
            "ANSIBLE_REMOTE_TMP": str(self.ansible_home / "remote-tmp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "LINODE_TOKEN": token or self.emulator.token,
            "LINODE_API_URL": self.emulator.api_url,
            "LINODE_CA": self.emulator.ca_file,
            # The modules' real-world poll schedule, in the emulator's compressed time.
            "LINODE_POLL_INTERVAL": "%g" % (5.0 / self.speed),
            # Every process of a run carries this, so what a killed run left behind can be found by pid.
            RUN_MARKER_VARIABLE: self.run_marker,
        })
        return env

    def hook_events(self) -> list[dict]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def prepare(self) -> None:
        """A fresh account (the fleet file's state) with every host's sshd answering."""
        self.emulator.reset()
        for host in self.hosts:
            host.start()

    def kill_run_leftovers(self) -> int:
        """SIGKILL, by pid, every process a run started that outlived it (async jobs, ssh masters)."""
        return sshd_host.kill_marked(f"{RUN_MARKER_VARIABLE}={self.run_marker}")

    def start_playbook(self, name: str, extra_vars: dict | None = None, token: str | None = None,
                       args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, dict]:
        """Start ``ansible-playbook`` of the world's playbook (``golden_image.linode.capture``) with these extra
        vars and ``args`` (and LINODE_TOKEN); a capture run writes its report (``image_capture_report_file``)."""
        report_file = self.root / "reports" / f"{name}.json"
        report_file.parent.mkdir(exist_ok=True)
        report_file.unlink(missing_ok=True)
        extra = self.root / "reports" / f"{name}.extra.yml"
        report = {"image_capture_report_file": str(report_file)} if self.playbook == "golden_image.linode.capture" else {}
        extra.write_text(yaml.safe_dump({**report, **(extra_vars or {})}), encoding="utf-8")
        output_file = self.root / "reports" / f"{name}.out"
        command = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), self.playbook, "-e", f"@{extra}", *args]
        with output_file.open("w", encoding="utf-8") as output:
            # Its own session and process group: a kill reaches the whole run.
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                       env=self.environment(token), cwd=self.root, start_new_session=True)
        context = {
            "name": name, "report_file": report_file, "output_file": output_file, "started": time.monotonic(),
            "requests_before": len(self.emulator.requests_log()), "events_before": len(self.hook_events()),
        }
        return process, context

    def finish(self, context: dict, returncode: int | None, killed_orphans: int = 0) -> Run:
        report = None
        if context["report_file"].exists():
            report = json.loads(context["report_file"].read_text(encoding="utf-8"))
        return Run(
            name=context["name"],
            returncode=returncode,
            output=context["output_file"].read_text(encoding="utf-8", errors="replace"),
            report=report,
            requests=self.emulator.requests_log()[context["requests_before"]:],
            hook_events=self.hook_events()[context["events_before"]:],
            seconds=time.monotonic() - context["started"],
            killed_orphans=killed_orphans,
        )

    def wait_playbook(self, process: subprocess.Popen, context: dict, timeout: float = PLAYBOOK_TIMEOUT_S) -> Run:
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=EMULATOR_STOP_TIMEOUT_S)
            self.kill_run_leftovers()
            output = context["output_file"].read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"ansible-playbook ({context['name']}) did not finish within {timeout:.0f} s\n{output[-6000:]}") from None
        return self.finish(context, returncode)

    def run_playbook(self, name: str, extra_vars: dict | None = None, token: str | None = None,
                     timeout: float = PLAYBOOK_TIMEOUT_S, args: tuple[str, ...] = ()) -> Run:
        process, context = self.start_playbook(name, extra_vars, token, args)
        return self.wait_playbook(process, context, timeout)

    def run_side_by_side(self, first: tuple[str, dict], second: tuple[str, dict], delay_s: float,
                         timeout: float = PLAYBOOK_TIMEOUT_S) -> tuple[Run, Run]:
        """Two runs on the same fleet, the second started ``delay_s`` after the first, each with its own token.

        Their requests and power hook events interleave: each Run's ``requests`` and ``hook_events``
        hold both runs' from its start on. Tell them apart by the events' ``username``
        (``USERNAMES``) in the emulator's state.
        """
        started = [self.start_playbook(first[0], first[1], TOKEN)]
        time.sleep(delay_s)
        try:
            started.append(self.start_playbook(second[0], second[1], SECOND_TOKEN))
        finally:
            runs = [self.wait_playbook(process, context, timeout) for process, context in started]
        return runs[0], runs[1]

    def run_killed_when(self, name: str, fault: dict, reached: Callable[[], Any], what: str,
                        extra_vars: dict | None = None, timeout: float = PLAYBOOK_TIMEOUT_S) -> tuple[Run, dict]:
        """Start a run with an emulator ``fault`` rule, SIGKILL its process group once ``reached()`` is true.

        Returns the run and the emulator state right after the kill. Whatever the run started
        that outlived the kill (an async job on the controller, an ssh master) is killed too, by
        pid, as if the controller itself had gone down. The fault rules are cleared after the kill.
        """
        self.emulator.add_faults(fault)
        process, context = self.start_playbook(name, extra_vars)

        def killable() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"ansible-playbook ({name}) ended (exit {process.returncode}) before {what}\n"
                                     f"{context['output_file'].read_text(encoding='utf-8', errors='replace')[-6000:]}")
            return bool(reached())

        try:
            wait_until(killable, timeout, what, interval=0.02)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=EMULATOR_STOP_TIMEOUT_S)
            self.emulator.clear_faults()
        state = self.emulator.state()
        orphans = self.kill_run_leftovers()
        return self.finish(context, process.returncode, orphans), state

    def run_killed_during_capture(self, name: str, good_labels: set[str], extra_vars: dict | None = None) -> tuple[Run, dict]:
        """Start a run and SIGKILL its process group once a good host's capture is ``creating``.

        The run's second capture request never gets an answer and is never performed (an emulator
        ``hang`` fault after one ``skip``; the role starts a batch's captures one after another), so
        the kill finds the good hosts both ways a SIGKILL can: one powered off with its image
        ``creating``, another powered off with no image at all.
        """
        return self.run_killed_when(
            name, {"method": "POST", "path": CAPTURE_PATH, "skip": 1, "times": 1, "hang": True},
            lambda: any(image["label"] in good_labels and image["status"] == "creating"
                        for image in self.emulator.state()["images"]),
            f"a capture of {sorted(good_labels)} in 'creating'", extra_vars)

    def run_killed_during_restore(self, name: str, extra_vars: dict | None = None) -> tuple[Run, dict]:
        """Start a run and SIGKILL its process group once its first boot request has reached the emulator.

        That request never gets an answer and is never performed (an emulator ``hang`` fault), and the
        power module sends a batch's boots one after another: the kill finds every captured host
        powered off, its image available, its claim still on it.
        """
        first_boot = f"^{BOOT_PATH}$"
        return self.run_killed_when(
            name, {"method": "POST", "path": first_boot, "times": 1, "hang": True},
            lambda: any(entry["method"] == "POST" and re.search(first_boot, entry["path"])
                        for entry in self.emulator.requests_log()),
            "its first boot request", extra_vars)


def keep_logs(root: Path, destination: Path) -> None:
    """Copy the runs' output, reports and every log to ``destination`` (env E2E_KEEP_LOGS)."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in root.rglob("*"):
        if path.is_file() and (path.suffix in (".out", ".json", ".jsonl", ".log", ".yml") and "disk" not in path.parts):
            target = destination / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def build_world(stack: ExitStack, plans: tuple[HostPlan, ...] = PLANS,
                adjust_fleet: Callable[[dict], None] | None = None) -> World:
    """Everything the test needs, every piece registered on ``stack`` for teardown.

    ``plans``: the hosts to build (another test's fleet); ``adjust_fleet`` may change the emulator's
    fleet document in place before the emulator reads it (tags, instances with no host behind them).
    """
    check_prerequisites()
    # sshd's privilege separation directory; Debian's packaging creates it only when the service starts.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    import tempfile  # pylint: disable=import-outside-toplevel

    root = Path(tempfile.mkdtemp(prefix="golden-image-e2e-"))
    stack.callback(shutil.rmtree, root, True)
    if os.environ.get("E2E_KEEP_LOGS"):
        stack.callback(keep_logs, root, Path(os.environ["E2E_KEEP_LOGS"]))
    events_file = root / "power-hooks.jsonl"
    hosts = [make_host(stack, plan, index, root, events_file) for index, plan in enumerate(plans)]
    fleet = fleet_document(hosts)
    if adjust_fleet is not None:
        adjust_fleet(fleet)
    fleet_file = root / "fleet.yml"
    fleet_file.write_text(yaml.safe_dump(fleet, sort_keys=False), encoding="utf-8")
    emulator = start_emulator(stack, fleet_file, root)
    world = World(root, hosts, emulator, events_file)
    # Stopped first on the way out (an ExitStack unwinds in reverse): what a run left behind.
    stack.callback(world.kill_run_leftovers)
    return world


# --------------------------------------------------------------------------- the golden-image pipeline

ATTACH_HOST_SCRIPT = HERE / "attach_host.py"
PIPELINE_PLAYBOOK = "golden_image.linode.golden_image_pipeline"
# The hosts' disks: big enough for a first-boot script to fill one past SIZE_LIMIT_MIB.
PIPELINE_FS_MIB = 128
PIPELINE_REFERENCE_LABEL = "e2e-reference"
PIPELINE_REFERENCE_ID = 1001
PIPELINE_REFERENCE_DISK = 2001
# The file the pipeline test's provisioning writes; every hook event reports its content on the disk.
PIPELINE_MARKER_FILE = "/etc/golden-marker"
# Faster than the fleet test's: a pipeline run waits for a create, a boot, a shutdown, a capture, another boot,
# a delete, then the same for the test instance, and a replication.
PIPELINE_SPEED = 20
# A capture copies the Linode disk's used_mb (1500 for linode/debian12) at capture_mb_per_s: 3 s at PIPELINE_SPEED.
PIPELINE_TIMING = {"capture_base_s": 30, "capture_mb_per_s": 50}
# Sections the end-to-end tests add to pytest's terminal summary (conftest.py), so that -q shows them.
SUMMARY_SECTIONS: list[tuple[str, str]] = []


def add_summary_section(title: str, text: str) -> None:
    SUMMARY_SECTIONS.append((title, text))


class PipelineWorld(World):
    """The emulator with an ``instance_hook`` (attach_host.py): every instance it creates gets a real host.

    One reference instance (a fleet linode, running) is a host of the same kind, powered by the same
    script through its ``power_hooks``. SSH reaches every host at the address the API gives it (a
    ``ProxyCommand`` that looks the address up in the emulator), as root with the test's key.
    """

    playbook = PIPELINE_PLAYBOOK
    speed = PIPELINE_SPEED

    def __init__(self, root: Path, emulator: Emulator, events_file: Path, config_file: Path, client_key: Path) -> None:
        self.config_file = config_file
        self.config = attach_config(config_file)
        self.client_key = client_key
        self.public_key = client_key.with_suffix(".pub").read_text(encoding="ascii").strip()
        self.reference_address = emulator.linode(PIPELINE_REFERENCE_ID)["ipv4"][0]
        super().__init__(root, [], emulator, events_file)

    def ssh_settings(self) -> dict:
        return {
            "ansible_user": "root",
            # The hosts' /usr is this machine's, bound read-only into every disk.
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(self.client_key),
            # New host keys on every instance, on addresses the emulator hands out: remember none of them.
            "ansible_ssh_common_args": f"-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o ProxyCommand=\"{self.proxy_command()}\"",
            # On the host's own disk (its /tmp), not on a path of this machine's.
            "ansible_remote_tmp": "/tmp/.ansible-remote",
        }

    def proxy_command(self) -> str:
        return f"{sys.executable} {ATTACH_HOST_SCRIPT} {self.config_file} connect %h"

    def inventory_document(self) -> dict:
        limits = {"image_capture_size_limit": SIZE_LIMIT_MIB, "image_capture_ssh_timeout": 60}
        return {"all": {"children": {
            "golden_image_builders": {"vars": {**self.ssh_settings(), **limits, "image_bake_ssh_timeout": 60}},
            # An image that lost its SSH server is found out after this long, not the default 300 s.
            "golden_image_testers": {"vars": {**self.ssh_settings(), "image_verify_size_limit": SIZE_LIMIT_MIB,
                                              "image_verify_ssh_timeout": 20}},
            "references": {
                "hosts": {PIPELINE_REFERENCE_LABEL: {"linode_id": PIPELINE_REFERENCE_ID, "ansible_host": self.reference_address}},
                "vars": {**self.ssh_settings(), **limits},
            },
        }}}

    def environment(self, token: str | None = None) -> dict[str, str]:
        env = super().environment(token)
        # The set_stats data (golden_image_id, the steps) as one "RUN: {...}" line at the end of the output.
        env["ANSIBLE_SHOW_CUSTOM_STATS"] = "1"
        return env

    def ssh(self, address: str, command: str) -> subprocess.CompletedProcess:
        """Log in as root at ``address`` (an instance's IPv4, through the ProxyCommand) and run ``command``."""
        argv = [
            "ssh", "-F", "/dev/null", "-i", str(self.client_key), "-o", f"ProxyCommand={self.proxy_command()}",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=15",
            "-o", "ControlMaster=no", "-o", "ControlPath=none", f"root@{address}", command,
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root)}
        return subprocess.run(argv, capture_output=True, text=True, timeout=SSH_TIMEOUT_S, check=False, env=env, stdin=subprocess.DEVNULL)

    def reference_answers(self) -> bool:
        return self.ssh(self.reference_address, "true").returncode == 0

    def mounts(self) -> list[str]:
        """Mount points under the hosts' mount root (disks and what is bound into them), relative to it:
        ``<instance id>`` for a disk, ``<instance id>/usr`` and so on for what is bound into it."""
        root = self.config["mount_root"].rstrip("/") + "/"
        with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
            return [line.split()[4][len(root):] for line in mountinfo if line.split()[4].startswith(root)]

    def sshd_pids(self) -> dict[int, set[int]]:
        """Pids of the hosts' listening sshd, by instance id (their command line names the disk's config)."""
        found = {}
        for directory in (Path(self.config["state_dir"]) / "instances").glob("*"):
            pids = sshd_host.pids_with_command_line(str(Path(self.config["mount_root"]) / directory.name / "etc/ssh/sshd_config"))
            if pids:
                found[int(directory.name)] = pids
        return found


def attach_config(config_file: Path) -> dict:
    return json.loads(config_file.read_text(encoding="utf-8"))


def _remove_empty_tree(directory: Path) -> None:
    """Remove a directory of empty directories; refuse (and keep it) when anything is still mounted below.

    Never shutil.rmtree here: a disk left mounted has this machine's /dev bound into it.
    """
    if not directory.exists():
        return
    for path in sorted(directory.rglob("*"), key=lambda found: len(found.parts), reverse=True):
        if os.path.ismount(path):
            raise RuntimeError(f"{path} is still mounted: not removing {directory}")
        path.rmdir()
    directory.rmdir()


def _tear_down_hosts(config_file: Path) -> None:
    """Every host the hook or the harness made: its processes killed by pid, its disk unmounted."""
    import attach_host  # pylint: disable=import-outside-toplevel

    config = attach_config(config_file)
    for directory in sorted((Path(config["state_dir"]) / "instances").glob("*")):
        linode_id = int(directory.name)
        attach_host.stop_host(config, linode_id)
        attach_host.unmount(attach_host.mount_point(config, linode_id))
        attach_host.detach_loops(attach_host.disk_image(config, linode_id))


def pipeline_fleet_document(config_file: Path) -> dict:
    hook = [sys.executable, str(ATTACH_HOST_SCRIPT), str(config_file)]
    reference = {
        "id": PIPELINE_REFERENCE_ID,
        "label": PIPELINE_REFERENCE_LABEL,
        "region": "us-east",
        "status": "running",
        "tags": ["e2e"],
        "disks": [
            {"id": PIPELINE_REFERENCE_DISK, "label": f"{PIPELINE_REFERENCE_LABEL} root", "filesystem": "ext4",
             "size": 8192, "used_mb": 900, "status": "ready"},
            {"id": PIPELINE_REFERENCE_DISK + 1, "label": "512 MB Swap Image", "filesystem": "swap", "size": 512, "used_mb": 0, "status": "ready"},
        ],
        "configs": [{"id": 3001, "label": "Boot Config", "root_device": "/dev/sda",
                     "devices": {"sda": PIPELINE_REFERENCE_DISK, "sdb": PIPELINE_REFERENCE_DISK + 1}}],
        "power_hooks": {"on_offline": hook + ["offline", str(PIPELINE_REFERENCE_ID)],
                        "on_running": hook + ["running", str(PIPELINE_REFERENCE_ID)]},
    }
    return {
        "tokens": [{"token": token, "scopes": "*", "username": username} for token, username in USERNAMES.items()],
        "rate_limits": RATE_LIMITS,
        "timing": PIPELINE_TIMING,
        "instance_hook": hook,
        "linodes": [reference],
        "images": [],
    }


def build_pipeline_world(stack: ExitStack) -> PipelineWorld:
    """The pipeline test's world, every piece registered on ``stack`` for teardown."""
    import tempfile  # pylint: disable=import-outside-toplevel

    import attach_host  # pylint: disable=import-outside-toplevel

    check_prerequisites()
    if not os.access("/usr/bin/python3", os.X_OK) or shutil.which("chroot") is None:
        raise Unavailable("missing /usr/bin/python3 or chroot: the hosts' system is this machine's /usr")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="golden-image-pipeline-e2e-"))
    stack.callback(shutil.rmtree, root, True)
    if os.environ.get("E2E_KEEP_LOGS"):
        stack.callback(keep_logs, root, Path(os.environ["E2E_KEEP_LOGS"]))
    # sshd's ChrootDirectory wants every component of the path root-owned and not writable by others: not /tmp.
    mount_root = Path(tempfile.mkdtemp(prefix="golden-image-pipeline-e2e-", dir="/run"))
    stack.callback(_remove_empty_tree, mount_root)
    client_key = root / "client_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e pipeline client key", "-f", str(client_key)])
    events_file = root / "host-events.jsonl"
    config_file = root / "attach-host.json"
    config = {
        "state_dir": str(root), "mount_root": str(mount_root), "events_file": str(events_file),
        "fs_mib": PIPELINE_FS_MIB, "authorized_keys": [client_key.with_suffix(".pub").read_text(encoding="ascii")],
        "watch": [PIPELINE_MARKER_FILE],
    }
    config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
    # Registered before any host exists: a setup that fails half-way still stops and unmounts what it made.
    stack.callback(_tear_down_hosts, config_file)
    try:
        attach_host.make_base_disk(config, PIPELINE_REFERENCE_ID, PIPELINE_REFERENCE_LABEL)
    except RuntimeError as exc:
        raise Unavailable(f"cannot loop-mount an ext4 image here: {exc}") from None
    attach_host.record(config, {"event": "running", "linode": PIPELINE_REFERENCE_ID, "label": PIPELINE_REFERENCE_LABEL,
                                **attach_host.power_on(config, PIPELINE_REFERENCE_ID, PIPELINE_REFERENCE_LABEL)})
    fleet_file = root / "fleet.yml"
    fleet_file.write_text(yaml.safe_dump(pipeline_fleet_document(config_file), sort_keys=False), encoding="utf-8")
    emulator = start_emulator(stack, fleet_file, root, PIPELINE_SPEED)
    # The ProxyCommand finds an address's instance in the emulator's state.
    config.update(emulator_url=emulator.url, ca_file=emulator.ca_file)
    config_file.write_text(json.dumps(config, indent=1), encoding="utf-8")
    world = PipelineWorld(root, emulator, events_file, config_file, client_key)
    stack.callback(world.kill_run_leftovers)
    return world
