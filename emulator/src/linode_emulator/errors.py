"""Errors in Linode's wire format.

Every failure the API reports has the body ``{"errors": [{"field": ..., "reason": ...}]}``
where ``field`` is left out when the error is not about one request field.
Raising :class:`ApiError` anywhere below the routes produces exactly that.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status plus one or more Linode-style error entries."""

    def __init__(
        self,
        status: int,
        reason: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        more: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {field + ': ' if field else ''}{reason}")
        self.status = status
        entry: dict[str, str] = {"reason": reason}
        if field is not None:
            entry = {"field": field, "reason": reason}
        self.entries = [entry] + list(more or [])
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"errors": list(self.entries)}


def not_found() -> ApiError:
    # The real API's wording for a missing object or an unknown path.
    return ApiError(404, "Not found")


def bad_request(reason: str, field: str | None = None) -> ApiError:
    return ApiError(400, reason, field)


def linode_busy() -> ApiError:
    # The recorded reason, with its period (linode_api4-python issue 110 quotes it without).
    return ApiError(400, "Linode busy.")


def raise_all(errors: list[dict[str, str]]) -> None:
    """One 400 listing every error of a request body (``[{"field": ..., "reason": ...}]``), if any."""
    if errors:
        first, rest = errors[0], errors[1:]
        raise ApiError(400, first["reason"], first.get("field"), more=rest)
