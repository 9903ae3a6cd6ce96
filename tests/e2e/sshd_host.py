"""One end-to-end "host": a real OpenSSH ``sshd`` on 127.0.0.1, switched on and off by pid.

A host is described by a small JSON file (written by ``harness.py``)::

    {"name": ..., "port": ..., "config": ..., "pid_file": ..., "log_file": ..., "marker": ..., "events_file": ...}

and optionally ``"options"``: ``sshd -o`` settings that take precedence over the config file (the
pipeline test's hosts keep their config on their own disk; the port, chroot and key paths are the host's).

Powering a host off kills, by pid, every process of that host, as a real power-off would: the
listening sshd (its pid file; its process title names the host's config), everything below it
(open SSH connections, their sessions) and whatever a session left running detached, which
carries ``E2E_SSHD_HOST=<marker>`` from the config's ``SetEnv``. So "offline" means what it
means on a real machine: the port refuses connections and nothing of the host runs.

The emulator's power hooks run this file as a script, synchronously, so it returns only when
the host really is down (connection refused) or really answers (SSH banner)::

    python sshd_host.py stop HOST.json
    python sshd_host.py start HOST.json
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

SSHD = "/usr/sbin/sshd"  # sshd refuses to run unless started by its absolute path
MARKER_VARIABLE = "E2E_SSHD_HOST"
# Deadlines against a hang: under make test, beside five other suites (load average up to 20 on 2 CPUs),
# sshd's fork and re-exec per connection has taken more than 2 s before its banner.
START_TIMEOUT_S = 30.0
BANNER_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.02


def load(host_file: str | Path) -> dict:
    with open(host_file, encoding="utf-8") as handle:
        return json.load(handle)


def _proc_read(pid: str, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as handle:
            return handle.read()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def _processes() -> list[str]:
    return [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]


def pids_with_environment(entry: str) -> set[int]:
    """Pids of the live processes whose environment holds ``entry`` (``NAME=value``).

    sshd itself cannot be found this way: its process titles overwrite its environment. A zombie
    has an empty environment and is not matched either: it holds no port and runs nothing.
    """
    needle = b"\0" + entry.encode() + b"\0"
    return {int(pid) for pid in _processes() if needle in b"\0" + _proc_read(pid, "environ") + b"\0"}


def pids_with_command_line(text: str) -> set[int]:
    """Pids of the live processes whose command line (or sshd's process title) contains ``text``."""
    needle = text.encode()
    return {int(pid) for pid in _processes() if needle in _proc_read(pid, "cmdline")}


def with_descendants(roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _processes():
        stat = _proc_read(pid, "stat")
        if stat:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
            parent = int(stat[stat.rindex(b")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(pid))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def host_pids(host: dict) -> set[int]:
    """Every live process of a host: its listening sshd (whose title names the host's config),
    that listener's descendants (connections, sessions) and whatever carries the host's marker."""
    roots = pids_with_command_line(host["config"]) | pids_with_environment(f"{MARKER_VARIABLE}={host['marker']}")
    return with_descendants(roots) if roots else set()


def kill_pids(find: Callable[[], set[int]], what: str, timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGKILL, by pid, whatever ``find`` returns until it returns nothing; returns how many.

    Each round first freezes (SIGSTOP) what it finds and looks again until nothing new turns up,
    so a process cannot fork a child past the kill.
    """
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        pids = find()
        if not pids:
            return len(killed)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: processes {sorted(pids)} still alive after {timeout:.0f} s")
        frozen: set[int] = set()
        while pids - frozen:
            for pid in pids - frozen:
                _signal(pid, signal.SIGSTOP)
            frozen |= pids
            pids = find()
        for pid in frozen:
            _signal(pid, signal.SIGKILL)
        killed |= frozen
        time.sleep(POLL_S)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def kill_marked(entry: str, timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGKILL every process whose environment holds ``entry`` (and its descendants)."""
    return kill_pids(lambda: with_descendants(pids_with_environment(entry)), entry, timeout)


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """A port for a host's sshd that nothing has bound, below the kernel's ephemeral ports.

    The sshd binds its port again at every boot. A port in the ephemeral range (ip_local_port_range) could be
    the source port of any process's outgoing connection meanwhile, and the bind would then fail.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
            first_ephemeral = int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    candidates = range(max(1024, first_ephemeral - 12000), first_ephemeral)
    for port in random.sample(candidates, min(200, len(candidates))):
        if port in _GIVEN_PORTS:  # not bound yet, but promised to another host of this process
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN_PORTS.add(port)
        return port
    raise RuntimeError(f"no free port below the ephemeral range ({candidates.start}-{candidates.stop - 1})")


def banner(port: int, timeout: float = BANNER_TIMEOUT_S) -> bytes:
    """The first bytes the server on ``port`` sends, b"" when nothing listens or nothing is said."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            return connection.recv(64)
    except OSError:
        return b""


def refuses(port: int) -> bool:
    """True when nothing accepts connections on ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def listener_pid(host: dict) -> int | None:
    """The host's listening sshd: the pid in its pid file when that process is alive, else the process whose
    title says it listens with the host's config (sshd writes the pid file only once it has bound the port),
    else None."""
    alive = pids_with_command_line(host["config"])
    try:
        pid = int(Path(host["pid_file"]).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pid = None
    if pid in alive:
        return pid
    listening = sorted(found for found in alive if b"[listener]" in _proc_read(str(found), "cmdline"))
    return listening[0] if listening else None


def is_up(host: dict) -> bool:
    return listener_pid(host) is not None and banner(host["port"]).startswith(b"SSH-")


def start(host: dict, timeout: float = START_TIMEOUT_S) -> None:
    """Start the host's sshd (it daemonizes) unless its listener runs; return once it answers with an SSH banner.

    A listener that runs but is slow to answer (a loaded machine) is waited for, never started twice: a second
    sshd could not bind the port (under make test, one did, and the host never answered again).
    """
    deadline = time.monotonic() + timeout
    if listener_pid(host) is None:
        Path(host["pid_file"]).unlink(missing_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", MARKER_VARIABLE: host["marker"]}
        options = [f"-o{option}" for option in host.get("options", ())]
        result = subprocess.run(
            [SSHD, "-f", host["config"], "-E", host["log_file"], *options],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"sshd of {host['name']} exited {result.returncode}: {result.stderr.strip()}")
    # sshd forks before it binds and writes its pid file after binding: wait for both.
    while not is_up(host):
        if time.monotonic() > deadline:
            log = Path(host["log_file"]).read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"sshd of {host['name']} did not answer on port {host['port']} within {timeout:.0f} s\n{log}")
        time.sleep(POLL_S)


def stop(host: dict, timeout: float = STOP_TIMEOUT_S) -> None:
    """Kill every process of the host by pid and return once its port refuses connections."""
    kill_pids(lambda: host_pids(host), f"sshd of {host['name']}", timeout)
    deadline = time.monotonic() + timeout
    while not refuses(host["port"]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {host['port']} of {host['name']} still accepts connections {timeout:.0f} s after its sshd was killed")
        time.sleep(POLL_S)
    Path(host["pid_file"]).unlink(missing_ok=True)


def record(host: dict, action: str, outcome: str) -> None:
    """Append one line to the shared events file: what the power hooks did, in order."""
    with open(host["events_file"], "a", encoding="utf-8") as events:
        events.write(json.dumps({"time": time.time(), "host": host["name"], "action": action, "outcome": outcome}) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: python sshd_host.py start|stop HOST.json", file=sys.stderr)
        return 2
    action, host = argv[1], load(argv[2])
    try:
        (start if action == "start" else stop)(host)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        record(host, action, f"error: {exc}")
        print(f"{action} {host['name']}: {exc}", file=sys.stderr)
        return 1
    record(host, action, "ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
