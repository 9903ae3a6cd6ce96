"""A real host for every instance the emulator makes: the pipeline test's ``instance_hook``.

The emulator runs, for each instance that ``POST /linode/instances`` made (a builder, a test instance)::

    python attach_host.py CONFIG.json created|running|offline|deleted LINODE_ID

with ``LINODE_EMULATOR_LINODE_LABEL``, ``_IMAGE`` and ``_IMAGE_SOURCE`` in its environment, and the
pipeline test's reference instance (a fleet linode) runs ``running``/``offline`` the same way from its
``power_hooks``. What each event does to the instance's host, as the machine would:

* ``created`` from a public image (``linode/debian12``): a fresh disk, an ext4 filesystem in a file, with
  a small base system: ``/etc`` (passwd, os-release, the SSH server's config and host key), root's
  ``authorized_keys`` (the test's key, as Linode installs the create's ``authorized_keys``), ``/tmp``,
  ``/var``; ``/usr`` (and so ``/bin``, ``/lib``) is this machine's, bound read-only at boot.
* ``created`` from ``private/N``: a copy of the source instance's disk as it was at its last power-off
  (``snapshots/<id>.img``, taken on ``offline``), that is, what the capture copied: the copy exists even
  once the source (a builder) is deleted.
* ``running``: the disk is mounted (loop) under a root-owned directory, ``/usr``, ``/dev`` and ``/proc``
  are bound in, and on the instance's first boot (``/var/lib/cloud/data/instance-id`` names another
  instance) the scripts in ``/var/lib/cloud/scripts/per-instance`` run chrooted into the disk, as
  cloud-init runs them on every new instance from an image and not on the instance that made it. Then,
  if the disk still has an SSH server (``/etc/ssh/sshd_config`` and its host key), its own ``sshd`` starts
  on a free loopback port with ``ChrootDirectory`` the disk: a login's ``/`` is that disk, so ``df /``
  measures it and a file the provisioning wrote is there. No SSH server on the disk: the instance runs,
  SSH never answers.
* ``offline``: every process of the host is killed by pid (``sshd_host.stop``), the disk unmounted and
  copied to its snapshot.
* ``deleted``: the same, then the disk is removed (its snapshot stays, for the images captured from it).

Each event is appended to the events file as one JSON line, with what it found on the disk (df, the
watched files' contents, whether an SSH server is installed, the disk's sha256 where one was copied).

SSH reaches an instance at the address the API gives it, through ``ProxyCommand``::

    python attach_host.py CONFIG.json connect ADDRESS

which finds the instance with that IPv4 in the emulator's state and relays to its sshd's port; nothing
answers for an address no running host has. Hooks run synchronously under the emulator's state lock:
every step here has a deadline, and a hook returns once sshd answers (or is down).
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import sshd_host  # noqa: E402  pylint: disable=wrong-import-position

COMMAND_TIMEOUT_S = 30.0
UNMOUNT_TIMEOUT_S = 20.0
FIRST_BOOT_SCRIPT_TIMEOUT_S = 20.0
CONNECT_TIMEOUT_S = 5.0
PER_INSTANCE = "var/lib/cloud/scripts/per-instance"
INSTANCE_ID = "var/lib/cloud/data/instance-id"
SSHD_CONFIG = "etc/ssh/sshd_config"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
AUTHORIZED_KEYS = "root/.ssh/authorized_keys"
# The SSH server's settings as its package would leave them, on the disk. Paths are not among them: sshd
# runs outside the disk, so the hook gives it the disk's own paths (host key, authorized_keys) with -o.
SSHD_SETTINGS = """\
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
MaxStartups 50:30:100
LogLevel VERBOSE
"""


# --------------------------------------------------------------------------- where things are


def load_config(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def instance_dir(config: dict, linode_id: int) -> Path:
    return Path(config["state_dir"]) / "instances" / str(linode_id)


def disk_image(config: dict, linode_id: int) -> Path:
    return instance_dir(config, linode_id) / "disk.img"


def snapshot_image(config: dict, linode_id: int) -> Path:
    return Path(config["state_dir"]) / "snapshots" / f"{linode_id}.img"


def mount_point(config: dict, linode_id: int) -> Path:
    # Under a root-owned path with no world-writable component: sshd's ChrootDirectory insists on it.
    return Path(config["mount_root"]) / str(linode_id)


def host_file(config: dict, linode_id: int) -> Path:
    return instance_dir(config, linode_id) / "host.json"


def read_host(config: dict, linode_id: int) -> dict | None:
    try:
        return json.loads(host_file(config, linode_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_host(config: dict, linode_id: int, host: dict) -> None:
    # Renamed into place: a ProxyCommand reading it meanwhile sees the old or the new one, never half.
    target = host_file(config, linode_id)
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(host, indent=1), encoding="utf-8")
    partial.replace(target)


def run(command: list[str], timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {(result.stderr or result.stdout).strip()}")
    return result


def record(config: dict, event: dict) -> None:
    with open(config["events_file"], "a", encoding="utf-8") as events:
        events.write(json.dumps({"time": time.time(), **event}) + "\n")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- disks


def make_base_disk(config: dict, linode_id: int, label: str) -> None:
    """A fresh disk for an instance from a public image: ext4 with a small base system."""
    image = disk_image(config, linode_id)
    image.parent.mkdir(parents=True, exist_ok=True)
    with image.open("wb") as handle:
        handle.truncate(int(config["fs_mib"]) * 1024 * 1024)
    run(["mkfs.ext4", "-q", "-F", "-L", label[-16:], str(image)])
    target = mount_point(config, linode_id)
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    run(["mount", "-o", "loop", str(image), str(target)])
    try:
        _write_base_system(config, target, label)
    finally:
        unmount(target)


def _write_base_system(config: dict, root: Path, label: str) -> None:
    for directory in ("usr", "dev", "proc", "etc/ssh", "var/log", "var/lib/cloud/data", PER_INSTANCE):
        (root / directory).mkdir(mode=0o755, parents=True, exist_ok=True)
    (root / "root/.ssh").mkdir(mode=0o700, parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    for name in ("bin", "lib", "lib64", "sbin"):
        # This machine's layout (merged /usr): /bin is usr/bin and so on, all inside the bound /usr.
        link = Path("/") / name
        if link.is_symlink():
            (root / name).symlink_to(os.readlink(link))
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n", encoding="utf-8")
    (root / "etc/group").write_text("root:x:0:\n", encoding="utf-8")
    os_release = Path("/etc/os-release").resolve()
    if os_release.is_file():
        shutil.copyfile(os_release, root / "etc/os-release")
    (root / "etc/hostname").write_text(label + "\n", encoding="utf-8")
    (root / SSHD_CONFIG).write_text(SSHD_SETTINGS, encoding="utf-8")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{label} host key", "-f", str(root / HOST_KEY)])
    (root / AUTHORIZED_KEYS).write_text("".join(key.strip() + "\n" for key in config["authorized_keys"]), encoding="utf-8")
    (root / AUTHORIZED_KEYS).chmod(0o600)


def copy_disk(config: dict, source_id: int, linode_id: int) -> str:
    """The new instance's disk is a copy of the source's snapshot; returns the copy's sha256."""
    snapshot = snapshot_image(config, source_id)
    if not snapshot.is_file():
        raise RuntimeError(f"no snapshot of linode {source_id}'s disk: it was never powered off here")
    image = disk_image(config, linode_id)
    image.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "--sparse=always", str(snapshot), str(image)])
    return sha256(image)


def unmount(target: Path) -> None:
    """Unmount the disk and everything bound below it; lazily if it stays busy past the deadline."""
    deadline = time.monotonic() + UNMOUNT_TIMEOUT_S
    while os.path.ismount(target):
        result = subprocess.run(["umount", "-R", str(target)], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            run(["umount", "-R", "-l", str(target)])
            break
        time.sleep(0.1)


def detach_loops(image: Path) -> None:
    # mount -o loop sets autoclear; detach anything left over all the same.
    if image.exists():
        for device in run(["losetup", "-n", "-O", "NAME", "-j", str(image)]).stdout.split():
            run(["losetup", "-d", device])


def disk_summary(config: dict, root: Path) -> dict:
    """What is on a mounted disk: df of it, the watched files' contents, whether an SSH server is installed."""
    fields = run(["df", "-P", "-T", "-B1", str(root)]).stdout.splitlines()[-1].split()
    watched = {}
    for name in config.get("watch", ()):
        path = root / name.lstrip("/")
        watched[name] = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    return {"fstype": fields[1], "used_bytes": int(fields[3]), "files": watched, "sshd_installed": sshd_installed(root)}


def sshd_installed(root: Path) -> bool:
    return (root / SSHD_CONFIG).is_file() and (root / HOST_KEY).is_file()


# --------------------------------------------------------------------------- power


def power_on(config: dict, linode_id: int, label: str) -> dict:
    """Boot: mount the disk, bind the system in, run first-boot scripts, start sshd if the disk has one."""
    image, target = disk_image(config, linode_id), mount_point(config, linode_id)
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not os.path.ismount(target):
        run(["mount", "-o", "loop", str(image), str(target)])
        run(["mount", "--bind", "/usr", str(target / "usr")])
        run(["mount", "-o", "remount,bind,ro", str(target / "usr")])
        run(["mount", "--rbind", "/dev", str(target / "dev")])
        run(["mount", "-t", "proc", "proc", str(target / "proc")])
    first_boot = _first_boot(target, linode_id, label)
    event: dict = {"first_boot_scripts": first_boot} if first_boot is not None else {}
    if not sshd_installed(target):
        write_host(config, linode_id, {"name": label, "port": None})
        return {**event, "sshd": "not installed on its disk", **disk_summary(config, target)}
    directory = instance_dir(config, linode_id)
    host = read_host(config, linode_id) or {}
    port = sshd_host.free_port()
    host = {
        "name": label, "port": port, "config": str(target / SSHD_CONFIG),
        "pid_file": str(directory / "sshd.pid"), "log_file": str(directory / "sshd.log"),
        "marker": host.get("marker") or uuid.uuid4().hex, "events_file": str(directory / "sshd-events.jsonl"),
    }
    host["options"] = [
        f"Port={port}", "ListenAddress=127.0.0.1", f"PidFile={host['pid_file']}",
        f"HostKey={target / HOST_KEY}", f"AuthorizedKeysFile={target / AUTHORIZED_KEYS}",
        f"ChrootDirectory={target}",
        # The test's paths are under /tmp (world-writable): StrictModes would refuse them.
        "StrictModes=no",
        # Sessions carry the host's marker, so powering off kills what they left running too.
        f"SetEnv={sshd_host.MARKER_VARIABLE}={host['marker']}",
    ]
    write_host(config, linode_id, {**host, "port": None})
    sshd_host.start(host)
    write_host(config, linode_id, host)
    return {**event, "sshd": "answers", "port": port, **disk_summary(config, target)}


def _first_boot(root: Path, linode_id: int, label: str) -> list[dict] | None:
    """cloud-init's per-instance scripts, once per instance: None when this instance booted before."""
    marker = root / INSTANCE_ID
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == str(linode_id):
        return None
    ran = []
    scripts = root / PER_INSTANCE
    for script in sorted(scripts.iterdir()) if scripts.is_dir() else ():
        if script.is_file() and os.access(script, os.X_OK):
            inside = "/" + str(script.relative_to(root))
            result = subprocess.run(["chroot", str(root), inside], capture_output=True, text=True,
                                    timeout=FIRST_BOOT_SCRIPT_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
                                    env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"})
            ran.append({"script": inside, "rc": result.returncode, "output": (result.stdout + result.stderr)[-500:]})
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{linode_id}\n", encoding="utf-8")
    (root / "etc/hostname").write_text(label + "\n", encoding="utf-8")
    return ran


def stop_host(config: dict, linode_id: int) -> bool:
    """Kill every process of the host by pid; True when an sshd was running."""
    host = read_host(config, linode_id)
    if not host or not host.get("config"):
        return False
    was_up = sshd_host.listener_pid(host) is not None
    if host.get("port"):
        sshd_host.stop(host)
    else:
        # Its sshd never answered (a start that failed half-way): whatever of it runs goes all the same.
        sshd_host.kill_pids(lambda: sshd_host.host_pids(host), f"sshd of {host['name']}")
    write_host(config, linode_id, {**host, "port": None})
    return was_up


def power_off(config: dict, linode_id: int) -> dict:
    """Power off: the host's processes killed, its disk unmounted and snapshotted (what a capture copies)."""
    sshd_was_up = stop_host(config, linode_id)
    target, image = mount_point(config, linode_id), disk_image(config, linode_id)
    summary = disk_summary(config, target) if os.path.ismount(target) else {}
    unmount(target)
    detach_loops(image)
    snapshot = snapshot_image(config, linode_id)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "--sparse=always", str(image), str(snapshot)])
    return {"sshd_was_up": sshd_was_up, "snapshot_sha256": sha256(snapshot), **summary}


def delete(config: dict, linode_id: int) -> dict:
    """Deleted: as a power-off, then the disk is gone (its snapshot stays for the images made from it)."""
    sshd_was_up = stop_host(config, linode_id)
    target, image = mount_point(config, linode_id), disk_image(config, linode_id)
    summary = disk_summary(config, target) if os.path.ismount(target) else {}
    logins = 0
    log = instance_dir(config, linode_id) / "sshd.log"
    if log.is_file():
        logins = log.read_text(encoding="utf-8", errors="replace").count("Accepted publickey for root")
    unmount(target)
    detach_loops(image)
    image.unlink(missing_ok=True)
    if target.is_dir():
        target.rmdir()
    return {"sshd_was_up": sshd_was_up, "root_logins": logins, **summary}


def handle(config: dict, event: str, linode_id: int) -> dict:
    label = os.environ.get("LINODE_EMULATOR_LINODE_LABEL") or (read_host(config, linode_id) or {}).get("name") or str(linode_id)
    found: dict = {"event": event, "linode": linode_id, "label": label}
    if event == "created":
        image = os.environ.get("LINODE_EMULATOR_IMAGE", "")
        source = os.environ.get("LINODE_EMULATOR_IMAGE_SOURCE", "")
        found.update(image=image, image_source=source)
        if image.startswith("private/"):
            if not source:
                raise RuntimeError(f"{image} has no source disk this test made")
            found["disk_sha256"] = copy_disk(config, int(source.split(":")[0]), linode_id)
        else:
            make_base_disk(config, linode_id, label)
        write_host(config, linode_id, {"name": label, "port": None})
    elif event == "running":
        found.update(power_on(config, linode_id, label))
    elif event == "offline":
        found.update(power_off(config, linode_id))
    elif event == "deleted":
        found.update(delete(config, linode_id))
    else:
        raise RuntimeError(f"unknown event {event}")
    return found


# --------------------------------------------------------------------------- the network


def resolve(config: dict, address: str) -> int | None:
    """The port of the sshd of the instance the API gives ``address``, None when nothing answers there."""
    import requests  # pylint: disable=import-outside-toplevel

    session = requests.Session()
    session.trust_env = False
    state = session.get(f"{config['emulator_url']}/__emulator__/state", verify=config["ca_file"], timeout=10).json()
    for linode in state["linodes"]:
        addresses = linode.get("ipv4") or []
        if address in (addresses if isinstance(addresses, list) else [addresses]):
            host = read_host(config, linode["id"]) or {}
            return host.get("port")
    return None


def connect(config: dict, address: str) -> int:
    """ssh's ProxyCommand: relay stdin/stdout to the sshd behind ``address``."""
    port = resolve(config, address)
    if not port:
        print(f"ssh: connect to host {address}: no host answers at this address", file=sys.stderr)
        return 255
    try:
        connection = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        print(f"ssh: connect to host {address} (127.0.0.1:{port}): {exc}", file=sys.stderr)
        return 255
    connection.settimeout(None)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(stdin, selectors.EVENT_READ, "out")
        selector.register(connection, selectors.EVENT_READ, "in")
        open_ends = 2
        while open_ends:
            for key, _mask in selector.select():
                if key.data == "out":
                    data = os.read(stdin, 65536)
                    if data:
                        connection.sendall(data)
                    else:
                        selector.unregister(stdin)
                        connection.shutdown(socket.SHUT_WR)
                        open_ends -= 1
                else:
                    data = connection.recv(65536)
                    if not data:
                        # The host went away (powered off): the session is over.
                        return 0
                    while data:
                        data = data[os.write(stdout, data):]
    connection.close()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[2] not in ("created", "running", "offline", "deleted", "connect"):
        print("usage: python attach_host.py CONFIG.json created|running|offline|deleted LINODE_ID | connect ADDRESS", file=sys.stderr)
        return 2
    config = load_config(argv[1])
    if argv[2] == "connect":
        return connect(config, argv[3])
    event, linode_id = argv[2], int(argv[3])
    try:
        found = handle(config, event, linode_id)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        record(config, {"event": event, "linode": linode_id, "error": str(exc)})
        print(f"{event} {linode_id}: {exc}", file=sys.stderr)
        return 1
    record(config, found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
