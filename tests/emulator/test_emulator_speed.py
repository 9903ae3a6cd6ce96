"""--speed divides every duration: at speed 20 a 25 s boot takes about 1.25 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import yaml

from conftest import Emulator, new_session, wait_for


def test_speed_divides_boot_and_shutdown_durations(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    fleet = tmp_path / "defaults.yml"
    # No timing key: the documented defaults (shutdown 15 s, boot 25 s) apply.
    fleet.write_text(
        yaml.safe_dump(
            {
                "rate_limits": False,
                "linodes": [
                    {
                        "id": 1,
                        "label": "timed",
                        "status": "offline",
                        "disks": [{"id": 10, "label": "root"}],
                        "configs": [{"id": 20, "label": "boot", "devices": {"sda": 10}}],
                    }
                ],
            }
        )
    )
    emu = own_emulator("--speed", "20", fleet=fleet)
    url = f"{emu.api_url}/linode/instances/1"
    with new_session(emu) as api:
        started = time.monotonic()
        assert api.post(f"{url}/boot").status_code == 200
        event = api.get(f"{emu.api_url}/account/events").json()["data"][0]
        assert event["time_remaining"] in ("00:00:01", "00:00:02")  # 1.25 s, rounded up
        wait_for(lambda: api.get(url).json()["status"] == "running", interval=0.01, what="boot")
        boot_took = time.monotonic() - started
        assert 1.25 <= boot_took <= 2.25, boot_took  # 25 s / 20, plus polling slack

        started = time.monotonic()
        assert api.post(f"{url}/shutdown").status_code == 200
        wait_for(lambda: api.get(url).json()["status"] == "offline", interval=0.01, what="shutdown")
        shutdown_took = time.monotonic() - started
        assert 0.75 <= shutdown_took <= 1.75, shutdown_took  # 15 s / 20 = 0.75 s
