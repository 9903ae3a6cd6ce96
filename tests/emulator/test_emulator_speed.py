"""--speed divides every duration: at speed 20 a 24 s boot takes about 1.2 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import yaml

from conftest import Emulator, new_session, wait_for


def test_speed_divides_boot_and_shutdown_durations(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    fleet = tmp_path / "defaults.yml"
    # No timing key: the defaults calibrated to recorded traffic (boot 24 s, shutdown 28 s) apply.
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
        # Listed 3 emulated seconds (0.15 s) after the request; scheduled for the first 5 s (0.25 s).
        assert api.get(f"{emu.api_url}/account/events").json()["data"] == []
        event = wait_for(lambda: api.get(f"{emu.api_url}/account/events").json()["data"], what="event")[0]
        assert time.monotonic() - started >= 0.15
        assert event["time_remaining"] is None
        wait_for(lambda: api.get(url).json()["status"] == "running", interval=0.01, what="boot")
        boot_took = time.monotonic() - started
        assert 1.2 <= boot_took <= 2.2, boot_took  # 24 s / 20, plus polling slack

        started = time.monotonic()
        assert api.post(f"{url}/shutdown").status_code == 200
        wait_for(lambda: api.get(url).json()["status"] == "offline", interval=0.01, what="shutdown")
        shutdown_took = time.monotonic() - started
        assert 1.4 <= shutdown_took <= 2.4, shutdown_took  # 28 s / 20 = 1.4 s
        events = api.get(f"{emu.api_url}/account/events").json()["data"]
        assert [(e["action"], e["duration"]) for e in events] == [("linode_shutdown", 1.4), ("linode_boot", 1.2)]
