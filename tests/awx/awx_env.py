"""The AWX tests' surroundings: where things are, the emulator, fresh tokens, the surveys.

Imported by conftest.py and the tests (rather than ``from conftest import``, which would be
ambiguous in a pytest run over several test folders, each with its own conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO / "tests" / "utils") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "utils"))

import with_emulator  # noqa: E402  pylint: disable=wrong-import-position

COLLECTION = ("ansible_collections", "golden_image", "linode")
# The deadline of every job and playbook these tests run: a guard against a hang, never a goal. Under
# make test the 2 CPUs are shared by six suites, and a job that takes under a minute on an idle machine
# has taken more than 300 s there (the landing CI of 166133c: one slice of test_concurrent_slices).
JOB_TIMEOUT_S = 900
# The Makefile's copy of the collection, used when ANSIBLE_COLLECTIONS_PATH names none.
DEFAULT_COLLECTIONS_ROOT = REPO / ".cache" / "collections"


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when CI=true: a skipped AWX test must not pass CI."""
    message = "AWX test cannot run here: %s" % reason
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("%s (CI=true: skipping is a failure)" % message, pytrace=False)
    pytest.skip(message)


def load_survey(name: str) -> dict:
    """extensions/awx/survey_<name>.json, the survey of the job template of playbook <name>."""
    with open(REPO / "extensions" / "awx" / ("survey_%s.json" % name), encoding="utf-8") as survey:
        return json.load(survey)


def new_token() -> str:
    """A token nobody else uses, so that finding it anywhere means a job leaked it."""
    return "awx-test-" + secrets.token_hex(16)


@contextlib.contextmanager
def running_emulator(tmp_path: Path, token: str, speed: float, extra: list, linodes: list, images: list):
    """The emulator serving a fleet whose only token is ``token``; stopped by its pid afterwards."""
    # The emulator's default timing: what the real API recorded.
    fleet = {"tokens": [{"token": token, "scopes": "*"}], "linodes": linodes, "images": images}
    fleet_file = tmp_path / "fleet.yml"
    fleet_file.write_text(yaml.safe_dump(fleet), encoding="utf-8")
    process, started = with_emulator.start_emulator(str(fleet_file), speed, extra)
    try:
        yield started
    finally:
        with_emulator.stop_emulator(process)
