"""Fixtures for the emulator's own tests.

The emulator always runs as a real subprocess started through its console
script, exactly as other tools start it, and is stopped with SIGTERM (which
must end in exit code 0). Most tests share one process and call
``POST /__emulator__/reset`` before each test; tests about start-up, speed,
rate limits or power hooks start their own.

Every HTTP session comes from :func:`new_session`, which attaches the OpenAPI
contract checker from ``contract.py``, so every exchange of this suite is
validated against the official spec.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import pytest
import requests
import yaml

HERE = Path(__file__).resolve().parent
FLEETS = HERE / "fleets"
EMULATOR_BIN = Path(sys.executable).parent / "linode-emulator"
HTTP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# The shared emulator's speed: a 15 s shutdown takes 0.375 s, a capture of the
# 2,900 MB disk (20 s + 2900/100 s in fleets/basic.yml) about 1.2 s.
SHARED_SPEED = 40

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

_contract = importlib.import_module("contract")


def instrument(session: requests.Session) -> requests.Session:
    """Validate every exchange of ``session`` against the OpenAPI spec."""
    _contract.attach(session)
    return session


@pytest.fixture(autouse=True)
def no_contract_violations() -> Iterator[None]:
    """Fail a test whose exchanges broke the spec, even where a caller swallowed the AssertionError."""
    with _contract.require_contract().guard():
        yield


def expect_invalid_request() -> ContextManager[Any]:
    """Wrap requests that deliberately break the spec (no token, unknown field, ...)."""
    return _contract.require_contract().expect_invalid_request()


class EmulatorSession(requests.Session):
    """A session that never waits forever and trusts only the emulator's CA.

    ``trust_env`` is off because ``REQUESTS_CA_BUNDLE`` would otherwise override
    ``verify`` and proxy variables could route loopback traffic elsewhere.
    """

    def __init__(self, verify: str | bool, timeout: float = HTTP_TIMEOUT_S) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass
class Emulator:
    """A running emulator process and what its start line announced."""

    url: str
    api_url: str
    ca_file: str | None
    token: str
    process: subprocess.Popen[str]
    stderr_path: Path
    start_line: dict[str, Any] = field(default_factory=dict)
    _control: requests.Session | None = None

    @property
    def control_session(self) -> requests.Session:
        if self._control is None:
            self._control = EmulatorSession(self.ca_file or False)
        return self._control

    def control(self, method: str, action: str, body: Any = None) -> requests.Response:
        response = self.control_session.request(method, f"{self.url}/__emulator__/{action}", json=body)
        assert response.status_code == 200, response.text
        return response

    def reset(self) -> None:
        self.control("POST", "reset")

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state").json()

    def request_log(self) -> list[dict[str, Any]]:
        return self.control("GET", "requests").json()["requests"]

    def add_faults(self, *rules: dict[str, Any]) -> dict[str, Any]:
        return self.control("POST", "faults", {"rules": list(rules)}).json()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM by pid; returns the exit code."""
        if self._control is not None:
            self._control.close()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"emulator did not exit within {STOP_TIMEOUT_S}s of SIGTERM\n{self.stderr()}")
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()


def start_emulator(workdir: Path, *args: str, fleet: Path | None = FLEETS / "basic.yml") -> Emulator:
    """Start ``linode-emulator`` with ``--port 0`` and wait for its JSON line."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr_path = workdir / f"emulator-{time.monotonic_ns()}.stderr"
    command = [str(EMULATOR_BIN), "--port", "0", "--quiet", *args]
    if fleet is not None:
        command[1:1] = ["--fleet", str(fleet)]
    with stderr_path.open("w") as stderr:
        # stderr goes to a file: a pipe nobody drains would block the server.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert process.stdout is not None
    ready, _unused_w, _unused_x = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        raise AssertionError(f"emulator printed no start line: {command}\n{stderr_path.read_text()}")
    info = json.loads(line)
    return Emulator(
        url=info["url"],
        api_url=info["api_url"],
        ca_file=info["ca_file"],
        token=info["token"],
        process=process,
        stderr_path=stderr_path,
        start_line=info,
    )


def new_session(
    emu: Emulator, token: str | None = None, *, timeout: float = HTTP_TIMEOUT_S, auth: bool = True
) -> requests.Session:
    """The one way tests get an HTTP session to an emulator (contract-checked when available)."""
    session = EmulatorSession(emu.ca_file or False, timeout)
    if auth:
        session.headers["Authorization"] = f"Bearer {token or emu.token}"
    return instrument(session)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"
) -> Any:
    """Poll until ``predicate()`` is truthy; return that value or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for the session (fleets/basic.yml, rate limits off, speed 40)."""
    emu = start_emulator(tmp_path_factory.mktemp("shared-emulator"), "--speed", str(SHARED_SPEED))
    yield emu
    assert emu.stop() == 0, emu.stderr()


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The shared emulator, reset to the fleet file's state for this test."""
    emulator.reset()
    return emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[requests.Session]:
    session = new_session(emu)
    yield session
    session.close()


@pytest.fixture
def own_emulator(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """Start a private emulator (args as for the CLI); each is stopped and must exit 0."""
    started: list[Emulator] = []

    def start(*args: str, fleet: Path | None = FLEETS / "basic.yml") -> Emulator:
        emu = start_emulator(tmp_path, *args, fleet=fleet)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        if emu.process.poll() is None:
            assert emu.stop() == 0, emu.stderr()


def fleet_with(tmp_path: Path, **changes: Any) -> Path:
    """fleets/basic.yml with top-level keys changed (``timing`` is merged)."""
    fleet = yaml.safe_load((FLEETS / "basic.yml").read_text())
    for key, value in changes.items():
        fleet[key] = {**fleet[key], **value} if key == "timing" else value
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(fleet))
    return path


def dedupe(values: list[Any]) -> list[Any]:
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def is_subsequence(part: list[Any], whole: list[Any]) -> bool:
    rest = iter(whole)
    return all(any(v == w for w in rest) for v in part)
