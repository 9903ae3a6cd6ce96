"""Bearer tokens and scopes: 401 for unknown or missing tokens, 403 for missing scopes."""

from __future__ import annotations

import requests

from conftest import Emulator, expect_invalid_request, new_session

INVALID_TOKEN = {"errors": [{"reason": "Invalid Token"}]}
UNAUTHORIZED = {"errors": [{"reason": "Unauthorized"}]}


def test_missing_or_unknown_token_is_401(emu: Emulator) -> None:
    with new_session(emu, auth=False) as anonymous, expect_invalid_request():
        response = anonymous.get(f"{emu.api_url}/images")
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    with new_session(emu, token="no-such-token") as stranger:
        for method, path in (
            ("GET", "/linode/instances"),
            ("POST", "/linode/instances/1001/shutdown"),
            ("GET", "/profile"),
        ):
            response = stranger.request(method, f"{emu.api_url}{path}")
            assert response.status_code == 401
            assert response.json() == INVALID_TOKEN
    assert emu.state()["linodes"][0]["status"] == "running"  # the refused shutdown did nothing


def test_readonly_token_reads_but_cannot_write(emu: Emulator) -> None:
    with new_session(emu, token="readonly-token") as readonly:
        assert readonly.get(f"{emu.api_url}/images").status_code == 200
        assert readonly.get(f"{emu.api_url}/linode/instances/1001/disks").status_code == 200
        assert readonly.get(f"{emu.api_url}/profile").status_code == 200  # any scope may read its profile
        for method, path, body in (
            ("POST", "/images", {"disk_id": 2001}),
            ("POST", "/linode/instances/1001/shutdown", None),
            ("PUT", "/images/private/4242", {"label": "nope"}),
            ("DELETE", "/images/private/4242", None),
            ("GET", "/account/events", None),  # needs events:read_only
            ("GET", "/account", None),  # needs account:read_only
        ):
            response = readonly.request(method, f"{emu.api_url}{path}", json=body)
            assert response.status_code == 403, (method, path)
            assert response.json() == UNAUTHORIZED
    assert len(emu.state()["images"]) == 1


def test_post_images_needs_linodes_read_only_as_well(emu: Emulator) -> None:
    # events-token has images:read_write but no linodes scope.
    with new_session(emu, token="events-token") as session:
        assert session.get(f"{emu.api_url}/account/events").status_code == 200
        assert session.put(f"{emu.api_url}/images/private/4242", json={"label": "renamed"}).status_code == 200
        response = session.post(f"{emu.api_url}/images", json={"disk_id": 2001})
        assert response.status_code == 403


def test_regions_are_public(emu: Emulator) -> None:
    with new_session(emu, auth=False) as anonymous:
        response = anonymous.get(f"{emu.api_url}/regions")
    assert response.status_code == 200
    assert "us-east" in [r["id"] for r in response.json()["data"]]


def test_responses_say_which_scopes_were_needed(api: requests.Session, emu: Emulator) -> None:
    response = api.get(f"{emu.api_url}/images")
    assert response.headers["X-OAuth-Scopes"] == "*"
    assert response.headers["X-Accepted-OAuth-Scopes"] == "images:read_only"
    # Recorded: what the endpoint needs is comma-separated; the token's own scopes are space-separated.
    capture = api.post(f"{emu.api_url}/images", json={"disk_id": 2001})
    assert capture.headers["X-Accepted-OAuth-Scopes"] == "images:read_write,linodes:read_only"
    with new_session(emu, token="readonly-token") as readonly:
        assert readonly.get(f"{emu.api_url}/images").headers["X-OAuth-Scopes"] == "images:read_only linodes:read_only"


def test_unknown_path_is_404_in_linode_format(api: requests.Session, emu: Emulator) -> None:
    with expect_invalid_request():
        response = api.get(f"{emu.api_url}/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"reason": "Not found"}]}
