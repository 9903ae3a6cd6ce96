"""Bearer tokens and OAuth scopes.

A token's scopes are ``*`` (everything) or a space/comma separated list of
``area:level`` where level is ``read_only`` or ``read_write``; ``read_write``
implies ``read_only``. Each route names the scopes it needs (taken from the
spec's ``security`` entries); a known token without them gets 403, an
unknown or missing token 401, with Linode's reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ApiError
from .fleet import TokenSpec

LEVELS = {"read_only": 1, "read_write": 2}


def split_scopes(scopes: str) -> list[str]:
    return [s for s in re.split(r"[\s,]+", scopes.strip()) if s]


@dataclass(frozen=True)
class Grant:
    token: TokenSpec
    everything: bool
    levels: dict[str, int]

    def allows(self, required: str) -> bool:
        if self.everything:
            return True
        area, _, level = required.partition(":")
        return self.levels.get(area, 0) >= LEVELS.get(level, 99)


def grant_for(token: TokenSpec) -> Grant:
    levels: dict[str, int] = {}
    everything = False
    for scope in split_scopes(token.scopes):
        if scope == "*":
            everything = True
            continue
        area, _, level = scope.partition(":")
        levels[area] = max(levels.get(area, 0), LEVELS.get(level, 0))
    return Grant(token=token, everything=everything, levels=levels)


class Authenticator:
    def __init__(self, tokens: tuple[TokenSpec, ...]) -> None:
        self._grants = {t.token: grant_for(t) for t in tokens}

    def identify(self, authorization: str | None) -> Grant | None:
        """The grant of a valid ``Authorization: Bearer`` header, else None."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            return None
        return self._grants.get(token.strip())

    def authorize(self, authorization: str | None, required: tuple[str, ...], public: bool = False) -> Grant | None:
        """Check a request; raises 401/403. Public routes accept no token at all."""
        if public and not authorization:
            return None
        grant = self.identify(authorization)
        if grant is None:
            raise ApiError(401, "Invalid Token")
        if not all(grant.allows(scope) for scope in required):
            raise ApiError(403, "Unauthorized")
        return grant
