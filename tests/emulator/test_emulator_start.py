"""The start contract: what other tools rely on when they launch the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import requests

from conftest import EMULATOR_BIN, FLEETS, Emulator, new_session


def test_start_line_has_exactly_the_contract_keys(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator()
    assert set(emu.start_line) == {"url", "api_url", "ca_file", "token"}
    assert emu.url.startswith("https://127.0.0.1:")
    port = int(emu.url.rsplit(":", 1)[1])
    assert 0 < port < 65536
    assert emu.api_url == emu.url + "/v4"
    assert emu.ca_file is not None and Path(emu.ca_file).is_absolute() and Path(emu.ca_file).is_file()
    assert emu.token == "demo-token"  # the fleet file's first token


def test_v4_and_v4beta_both_answer_over_tls_with_the_ca(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator()
    with new_session(emu) as session:
        for prefix in ("/v4", "/v4beta"):
            response = session.get(f"{emu.url}{prefix}/profile")
            assert response.status_code == 200
            assert response.json()["username"] == "emulator"
    # Without the CA the certificate is not trusted: it really is TLS.
    with new_session(emu) as untrusting:
        untrusting.verify = True
        try:
            untrusting.get(f"{emu.api_url}/profile")
        except requests.exceptions.SSLError:
            pass
        else:
            raise AssertionError("the emulator's certificate was trusted without its CA")


def test_no_tls_serves_plain_http(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator("--no-tls")
    assert emu.url.startswith("http://127.0.0.1:")
    assert emu.api_url == emu.url + "/v4"
    assert emu.ca_file is None
    with new_session(emu) as session:
        assert session.get(f"{emu.api_url}/profile").status_code == 200


def test_sigterm_and_sigint_exit_zero(own_emulator: Callable[..., Emulator]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        emu = own_emulator()
        with new_session(emu) as session:
            assert session.get(f"{emu.api_url}/profile").status_code == 200
        os.kill(emu.process.pid, signum)
        assert emu.process.wait(timeout=15) == 0, emu.stderr()
        emu.process.stdout.close()


def test_default_state_dir_is_removed_and_given_state_dir_is_kept(
    own_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    temporary = own_emulator()
    temp_ca = Path(temporary.ca_file)
    assert temporary.stop() == 0
    assert not temp_ca.parent.exists()

    state_dir = tmp_path / "state"
    kept = own_emulator("--state-dir", str(state_dir))
    assert Path(kept.ca_file) == (state_dir / "ca.pem").resolve()
    assert kept.stop() == 0
    assert {"ca.pem", "server.pem", "server-key.pem"} <= {p.name for p in state_dir.iterdir()}
    assert (state_dir / "server-key.pem").stat().st_mode & 0o077 == 0


def test_hanging_request_does_not_block_shutdown(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator()
    emu.add_faults({"path": "^/v4/profile$", "hang": True})
    with new_session(emu, timeout=1.0) as session:
        try:
            session.get(f"{emu.api_url}/profile")
        except requests.exceptions.Timeout:
            pass
        else:
            raise AssertionError("a hang fault answered")
        started = time.monotonic()
        assert emu.stop() == 0
        assert time.monotonic() - started < 5


def test_fleet_size_generates_a_capturable_fleet(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator("--fleet-size", "30", fleet=None)
    assert emu.token == "demo-token"
    state = emu.state()
    assert len(state["linodes"]) == 30
    used = set()
    for linode in state["linodes"]:
        assert linode["status"] == "running"
        root = next(d for d in linode["disks"] if d["filesystem"] == "ext4")
        assert root["status"] == "ready"
        assert root["used_mb"] <= 6144 * 0.9
        used.add(root["used_mb"])
        assert linode["configs"][0]["devices"]["sda"]["disk_id"] == root["id"]
    assert len(used) > 10  # mixed sizes, so captures take different times


def test_fleet_size_with_a_fleet_file_keeps_its_tokens(own_emulator: Callable[..., Emulator]) -> None:
    emu = own_emulator("--fleet-size", "3", fleet=FLEETS / "limits.yml")
    assert emu.token == "limits-token"
    assert [l["label"] for l in emu.state()["linodes"]] == ["node-0001", "node-0002", "node-0003"]


def test_invalid_fleet_file_fails_fast_with_a_message(tmp_path: Path) -> None:
    fleet = tmp_path / "bad.yml"
    fleet.write_text("linodes:\n  - {id: 1, label: x, disks: [{id: 5, filesytem: ext4}]}\n")
    result = subprocess.run(
        [str(EMULATOR_BIN), "--fleet", str(fleet), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "filesytem" in result.stderr
