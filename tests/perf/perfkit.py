# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benchmarks share: the emulator in a child process, and a private copy of the collection."""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
HTTP_TIMEOUT_S = 10
GIT_TIMEOUT_S = 60


# What a snapshot leaves out: the emulator, the tests and the docs are no part of the collection.
SNAPSHOT_EXCLUDED = ("emulator/", "tests/", "docs/")


def resolve_ref(ref: str) -> str:
    """The full commit id of ``ref`` (a branch, tag or abbreviated commit) in this repository."""
    done = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", "--quiet", ref + "^{commit}"],
                          capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError("no commit %r in %s" % (ref, REPO))
    return done.stdout.strip()


def snapshot_collection(workdir: str, ref: str | None = None) -> str:
    """Copy the collection as ``make collection`` does (the files git knows, without the emulator) into ``workdir``.

    A private copy measures the work tree as it is, and neither disturbs nor depends on
    .cache/collections, which ``make`` rebuilds while other runs may be using it (as tests/perf/capture_one.py does).
    With ``ref`` (a commit, branch or tag), the collection is taken from that commit instead, through
    ``git archive``: the work tree, the index and the stash are neither read nor touched, so a "before"
    can be measured while changes are in progress.
    """
    root = os.path.join(workdir, "collections")
    target = os.path.join(root, "ansible_collections", "golden_image", "linode")
    if ref is not None:
        _extract_commit(resolve_ref(ref), target)
    else:
        listed = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                                 "--deduplicate", "--", ".", ":!:emulator", ":!:tests", ":!:docs"],
                                capture_output=True, timeout=GIT_TIMEOUT_S, check=True)
        for name in listed.stdout.decode("utf-8").split("\0"):
            source = os.path.join(REPO, name)
            if name and os.path.isfile(source):
                os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
                shutil.copy2(source, os.path.join(target, name))
    if not os.path.isfile(os.path.join(target, "playbooks", "capture.yml")):
        raise RuntimeError("no playbooks/capture.yml in the collection from %s" % (ref or REPO))
    return root


def _extract_commit(commit: str, target: str) -> None:
    """The files of ``commit`` (without SNAPSHOT_EXCLUDED) under ``target``, from ``git archive``."""
    archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", commit],
                             capture_output=True, timeout=GIT_TIMEOUT_S, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or name.startswith(SNAPSHOT_EXCLUDED) or name.startswith("/") or ".." in name.split("/"):
                continue
            path = os.path.join(target, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with tar.extractfile(member) as source, open(path, "wb") as copy:
                shutil.copyfileobj(source, copy)
            os.chmod(path, member.mode & 0o777)


class Emulator(object):
    """``linode-emulator`` in a child process; stopped by its pid."""

    def __init__(self, fleet: str, speed: float, run_dir: str, log_name: str = "emulator.log") -> None:
        executable = os.path.join(os.path.dirname(sys.executable), "linode-emulator")
        if not os.path.exists(executable):
            executable = shutil.which("linode-emulator") or executable
        self.state_dir = os.path.join(run_dir, "emulator-state")
        self.log_path = os.path.join(run_dir, log_name)
        self.command = [executable, "--fleet", fleet, "--port", "0", "--speed", str(speed), "--quiet",
                        "--state-dir", self.state_dir]
        self.process = None
        self.info = None
        self.context = None

    def start(self) -> dict:
        with open(self.log_path, "w", encoding="utf-8") as log:
            # stdout carries one JSON start line; stderr goes to a file so it never blocks the server.
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=log, text=True)  # pylint: disable=consider-using-with
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(START_TIMEOUT_S)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("the emulator did not start within %d s; see %s" % (START_TIMEOUT_S, self.log_path))
        self.info = json.loads(line)
        self.context = ssl.create_default_context(cafile=self.info["ca_file"]) if self.info.get("ca_file") else None
        return self.info

    def control(self, what: str, method: str = "GET") -> dict:
        request = urllib.request.Request("%s/__emulator__/%s" % (self.info["url"], what), method=method,
                                         data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=self.context) as answer:
            return json.loads(answer.read().decode("utf-8"))

    def serves(self, path: str) -> bool:
        """Whether the API answers ``path`` (a GET with the token) with anything but 404."""
        request = urllib.request.Request(self.info["api_url"] + path, headers={"Authorization": "Bearer " + self.info["token"]})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=self.context) as answer:
                return answer.status != 404
        except urllib.error.HTTPError as error:
            return error.code != 404

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)
