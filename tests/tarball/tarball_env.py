"""The tarball checks' surroundings: where things are, running a tool with a deadline, unpacking.

Imported by conftest.py and the tests (rather than ``from conftest import``, which would be ambiguous in
a pytest run over several test folders, each with its own conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
COLLECTION = ("ansible_collections", "golden_image", "linode")
# The Makefile's copy of the collection, used when ANSIBLE_COLLECTIONS_PATH names none.
DEFAULT_COLLECTIONS_ROOT = REPO / ".cache" / "collections"
BUILD_TIMEOUT_S = 120


@dataclass
class Finished:
    command: str
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 60) -> str:
        return "$ %s (exit %s after %.0f s)\n%s" % (
            self.command, self.returncode, self.seconds, "\n".join(self.output.splitlines()[-lines:]))


def run(command: list, timeout: float, cwd=None, env=None) -> Finished:
    """``command``'s exit code and output (stderr into stdout); its whole process group is killed at ``timeout``."""
    started = time.monotonic()
    process = subprocess.Popen([str(part) for part in command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output = process.communicate()[0]
        pytest.fail("%s did not finish within %d s; its last output:\n%s" % (
            os.path.basename(str(command[0])), timeout, "\n".join(output.splitlines()[-40:])), pytrace=False)
    return Finished(" ".join(os.path.basename(str(part)) if index == 0 else str(part)
                             for index, part in enumerate(command)),
                    process.returncode, output, time.monotonic() - started)


def tool(name: str) -> str:
    """A command of the project's virtualenv (the one running pytest)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not installed next to %s (it is in requirements-dev.txt: make venv)" % (name, sys.executable),
                    pytrace=False)
    return path


def required_environment(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail("%s is not set: run these tests with `make tarball-check`, which sets it up" % name, pytrace=False)
    return value


def tool_environment(collections_root: Path, ansible_home: Path, **extra) -> dict:
    """The environment of a tool run on an unpacked tarball: the project's tools first on PATH, the
    unpacked tree as the only collections path, Ansible's own files in ``ansible_home``."""
    environment = dict(os.environ)
    environment.update({
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_root),
        "ANSIBLE_HOME": str(ansible_home),
        "ANSIBLE_LOCAL_TEMP": str(ansible_home / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(ansible_home / "tmp"),
        "NO_COLOR": "1",
    })
    environment.update(extra)
    return environment


def unpack(tarball_path: Path, root: Path) -> Path:
    """The tarball unpacked as a collections root holds it; the collection's directory."""
    destination = root.joinpath(*COLLECTION)
    destination.mkdir(parents=True)
    with tarfile.open(tarball_path) as archive:
        # The "data" filter (Python 3.11.4 and later) refuses absolute paths and links out of the destination.
        archive.extractall(destination, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return destination
