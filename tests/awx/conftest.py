"""Fixtures of the AWX tests: ansible-runner, the collection copy, a job's environment, the credential type.

The tests need ansible-runner (in requirements-dev.txt). Where it cannot be imported they skip
with the reason; with ``CI=true`` that is a failure instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from awx_env import COLLECTION, DEFAULT_COLLECTIONS_ROOT, REPO, unavailable  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def ansible_runner_module():
    try:
        import ansible_runner  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        unavailable("ansible-runner cannot be imported (%s); it is in requirements-dev.txt" % exc)
    return ansible_runner


@pytest.fixture(scope="session")
def collections_root() -> str:
    """A collections root holding golden_image.linode; fail (not skip) when there is none."""
    candidates = [Path(entry) for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if entry]
    candidates.append(DEFAULT_COLLECTIONS_ROOT)
    for root in candidates:
        if (root.joinpath(*COLLECTION) / "galaxy.yml").is_file():
            return str(root.resolve())
    pytest.fail("no copy of golden_image.linode under %s: make one with `make collection`" % [str(c) for c in candidates],
                pytrace=False)
    return ""


@pytest.fixture(scope="session")
def job_envvars(collections_root) -> dict:
    """What the execution environment provides to every job: ansible on PATH, the collection, a home for Ansible."""
    ansible_home = os.environ.get("ANSIBLE_HOME") or str(REPO / ".cache" / "ansible-home")
    return {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", os.defpath)]),
        "ANSIBLE_COLLECTIONS_PATH": collections_root,
        "ANSIBLE_HOME": ansible_home,
        "ANSIBLE_REMOTE_TMP": os.environ.get("ANSIBLE_REMOTE_TMP") or os.path.join(ansible_home, "tmp"),
    }


@pytest.fixture(scope="session")
def credential_type() -> dict:
    with open(REPO / "extensions" / "awx" / "credential_type.yml", encoding="utf-8") as definition:
        return yaml.safe_load(definition)
