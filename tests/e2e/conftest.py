"""Fixtures of the end-to-end test: one world (sshd hosts, loop-mounted disks, emulator) per session.

Where the machine cannot host it (not root, no sshd, no loop devices) the tests skip with the
reason; with ``CI=true`` that is a failure instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402  pylint: disable=wrong-import-position


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail when CI=true: a skipped end-to-end test must not pass CI."""
    message = f"end-to-end test cannot run here: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: skipping is a failure)", pytrace=False)
    pytest.skip(message)


def built_or_unavailable(build: Callable[[ExitStack], Any]) -> Iterator[Any]:
    """Yield what ``build`` makes, torn down (by pid, unmounted, removed) afterwards, also when a test fails;
    skip (or fail with CI=true) when this machine cannot build it."""
    reason = ""
    with ExitStack() as stack:
        try:
            built = build(stack)
        except harness.Unavailable as exc:
            reason = str(exc)
        else:
            yield built
    if reason:
        unavailable(reason)


@pytest.fixture(scope="session")
def world() -> Iterator[harness.World]:
    """The hosts and the emulator."""
    yield from built_or_unavailable(harness.build_world)


@pytest.fixture(scope="session")
def capture_playbook() -> Path:
    """The collection copy ansible-playbook loads; fail (not skip) when it is missing."""
    playbook = harness.collections_path() / "ansible_collections" / "golden_image" / "linode" / "playbooks" / "capture.yml"
    if not playbook.is_file():
        pytest.fail(f"{playbook} is missing: refresh the collection copy with `make collection`", pytrace=False)
    return playbook


def pytest_terminal_summary(terminalreporter) -> None:
    """The tables the end-to-end tests measured (harness.add_summary_section), shown even with -q and no -s."""
    for title, text in harness.SUMMARY_SECTIONS:
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(text)
