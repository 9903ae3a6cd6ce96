"""Documented rate limits, per token, in emulated time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import yaml

from conftest import FLEETS, Emulator, new_session

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def rate_limited_fleet(tmp_path: Path, **limits: int) -> Path:
    """fleets/basic.yml with rate limits on (the defaults, or ``limits``)."""
    fleet = yaml.safe_load((FLEETS / "basic.yml").read_text())
    fleet["rate_limits"] = limits or True
    path = tmp_path / "rate-limited.yml"
    path.write_text(yaml.safe_dump(fleet))
    return path


def test_21st_list_images_in_a_minute_is_429(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    # Speed 20: the emulated minute lasts 3 real seconds.
    emu = own_emulator("--speed", "20", fleet=rate_limited_fleet(tmp_path))
    with new_session(emu) as api:
        started = time.monotonic()
        remaining = []
        for _attempt in range(20):
            response = api.get(f"{emu.api_url}/images")
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "20"  # list images is the tightest limit
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == list(range(19, -1, -1))
        refused = api.get(f"{emu.api_url}/images")
        assert time.monotonic() - started < 3, "the test was too slow to stay inside one emulated minute"
        assert refused.status_code == 429
        assert refused.json() == {"errors": [{"reason": "Too many requests"}]}
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 3  # 60 s / 20, whole seconds
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert int(refused.headers["X-RateLimit-Reset"]) >= int(time.time())

        # Other operations and other tokens have budget left.
        assert api.get(f"{emu.api_url}/images/private/4242").status_code == 200
        with new_session(emu, token="readonly-token") as other:
            assert other.get(f"{emu.api_url}/images").status_code == 200

        # After Retry-After the window has room again.
        time.sleep(retry_after)
        assert api.get(f"{emu.api_url}/images").status_code == 200

    log = emu.request_log()
    assert [e["status"] for e in log if e["path"] == "/v4/images"][20] == 429


def test_every_response_carries_rate_limit_headers(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    emu = own_emulator("--speed", "20", fleet=rate_limited_fleet(tmp_path))
    with new_session(emu) as api:
        responses = [
            api.get(f"{emu.api_url}/profile"),
            api.get(f"{emu.api_url}/linode/instances"),
            api.get(f"{emu.api_url}/images/private/99"),  # 404
            api.post(f"{emu.api_url}/images", json={"disk_id": 2002}),  # 400
        ]
        with new_session(emu, token="readonly-token") as readonly:
            responses.append(readonly.post(f"{emu.api_url}/linode/instances/1001/shutdown"))  # 403
    for response in responses:
        assert all(h in response.headers for h in RATE_HEADERS), (response.request.url, response.headers)
    # GET /linode/instances is a paginated list: 200/min is tighter than 400/min per operation.
    assert responses[1].headers["X-RateLimit-Limit"] == "200"
    assert responses[0].headers["X-RateLimit-Limit"] == "400"


def test_per_operation_and_overall_limits(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    fleet = rate_limited_fleet(tmp_path, overall_per_2min=8, per_operation_per_min=5)
    emu = own_emulator("--speed", "10", fleet=fleet)
    with new_session(emu) as api:
        statuses = [api.get(f"{emu.api_url}/linode/instances/1001").status_code for _attempt in range(6)]
        assert statuses == [200] * 5 + [429]
        # The overall budget (8 per 2 emulated minutes) is shared by every operation.
        statuses = [api.get(f"{emu.api_url}/profile").status_code for _attempt in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = api.get(f"{emu.api_url}/account")
        assert response.status_code == 429
        assert response.headers["X-RateLimit-Limit"] == "8"
        assert 1 <= int(response.headers["Retry-After"]) <= 12  # 120 s / 10


def test_no_rate_limits_flag(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    emu = own_emulator("--no-rate-limits", fleet=rate_limited_fleet(tmp_path))
    with new_session(emu) as api:
        statuses = {api.get(f"{emu.api_url}/images").status_code for _attempt in range(30)}
    assert statuses == {200}


def test_limit_only_headers_as_the_recordings_show(own_emulator: Callable[..., Emulator], tmp_path: Path) -> None:
    # Never recorded: Retry-After and X-RateLimit-Remaining/-Reset (the recordings carry only the limit).
    fleet = yaml.safe_load(rate_limited_fleet(tmp_path, list_images_per_min=2).read_text())
    fleet["unrecorded"] = {"rate_limit_headers": "limit_only"}
    path = tmp_path / "limit-only.yml"
    path.write_text(yaml.safe_dump(fleet))
    emu = own_emulator("--speed", "20", fleet=path)
    with new_session(emu) as api:
        responses = [api.get(f"{emu.api_url}/images") for _attempt in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert not {"X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} & set(response.headers)
    assert responses[2].json() == {"errors": [{"reason": "Too many requests"}]}
