"""The token's OAuth scopes, as the API tells them on every answer (``X-OAuth-Scopes``), checked before a run acts."""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.transport import missing_scopes, require_scopes

PROFILE = {"username": "golden", "email": "golden@example.com", "restricted": False}
IMAGES = {"data": [], "page": 1, "pages": 1, "results": 0}


def answer(body: dict, scopes: str | None) -> tuple:
    return (200, body, {} if scopes is None else {"X-OAuth-Scopes": scopes})


def paths(client) -> list:
    return ["%s %s" % (request.method, request.path_url) for request, _kwargs in client.session.adapter.sent]


def test_the_session_keeps_the_scopes_of_the_last_answer_that_said_them(client_with):
    client = client_with([answer(IMAGES, None), answer(IMAGES, "images:read_only linodes:read_write"),
                          answer(IMAGES, "*"), answer(IMAGES, None)])
    client.get("/images")
    assert client.session.oauth_scopes() is None
    client.get("/images")
    assert client.session.oauth_scopes() == frozenset(["images:read_only", "linodes:read_write"])
    client.get("/images")
    assert client.session.oauth_scopes() == frozenset(["*"])
    client.get("/images")
    assert client.session.oauth_scopes() == frozenset(["*"])


def test_an_error_answer_tells_the_scopes_too(client_with):
    client = client_with([(403, {"errors": [{"reason": "Unauthorized"}]}, {"X-OAuth-Scopes": "images:read_only"})])
    with pytest.raises(Exception):
        client.post("/images", data={"disk_id": 1})
    assert client.session.oauth_scopes() == frozenset(["images:read_only"])


@pytest.mark.parametrize("granted, needed, missing", [
    (["*"], ["images:read_write", "events:read_only"], []),
    (["images:read_write"], ["images:read_only"], []),
    (["images:read_only"], ["images:read_write"], ["images:read_write"]),
    (["images:read_write", "linodes:read_only"], ["images:read_write", "linodes:read_only"], []),
    (["images:read_only", "linodes:read_only"], ["linodes:read_write", "images:read_write", "events:read_only"],
     ["linodes:read_write", "images:read_write", "events:read_only"]),
    ([], ["events:read_only", "events:read_only"], ["events:read_only"]),
    (["linodes:read_write"], ["events:read_only", "linodes:read_only"], ["events:read_only"]),
])
def test_missing_scopes(granted, needed, missing):
    assert missing_scopes(frozenset(granted), needed) == missing


def test_require_scopes_asks_the_profile_when_nothing_was_read_yet(client_with):
    client = client_with([answer(PROFILE, "images:read_only linodes:read_only")])
    with pytest.raises(LinodeError) as raised:
        require_scopes(client, ["linodes:read_write", "images:read_write", "events:read_only"], "capture images")
    assert str(raised.value) == (
        "The token lacks linodes:read_write and images:read_write and events:read_only, needed to capture images: "
        "its scopes are images:read_only linodes:read_only. Create a token with the missing scopes (Cloud Manager, "
        "API Tokens) and give it in api_token (or LINODE_TOKEN, LINODE_API_TOKEN, LINODE_TOKEN_FILE)")
    assert raised.value.field == "api_token"
    assert paths(client) == ["GET /v4/profile"]


def test_require_scopes_uses_what_an_earlier_answer_said(client_with):
    client = client_with([answer(IMAGES, "images:read_write linodes:read_only")])
    client.get("/images")
    with pytest.raises(LinodeError, match="^The token lacks events:read_only, needed to wait for captures: "):
        require_scopes(client, ["images:read_only", "events:read_only"], "wait for captures")
    assert paths(client) == ["GET /v4/images"]


@pytest.mark.parametrize("scopes", ["*", "images:read_write events:read_only linodes:read_write"])
def test_require_scopes_passes_a_token_that_has_them(client_with, scopes):
    client = client_with([answer(PROFILE, scopes)])
    require_scopes(client, ["images:read_only", "events:read_only", "linodes:read_write"], "capture images")
    assert paths(client) == ["GET /v4/profile"]


def test_require_scopes_checks_nothing_when_the_api_does_not_say(client_with):
    client = client_with([answer(PROFILE, None)])
    require_scopes(client, ["events:read_only"], "wait for captures")
    # The profile was read once; another check does not ask again.
    require_scopes(client, ["images:read_write"], "capture images")
    assert paths(client) == ["GET /v4/profile"]


def test_require_scopes_fails_with_the_api_error_of_a_refused_token(client_with):
    client = client_with([(401, {"errors": [{"reason": "Invalid Token"}]})])
    with pytest.raises(Exception) as raised:
        require_scopes(client, ["events:read_only"], "wait for captures")
    assert getattr(raised.value, "status", None) == 401
