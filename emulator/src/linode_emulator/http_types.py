"""Transport-neutral request and response objects.

The HTTP server turns bytes into a :class:`Request`; routes and the control
API answer with a :class:`Response`. Keeping them free of ``http.server``
lets the routes be exercised without a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from .errors import ApiError


@dataclass
class Request:
    method: str
    raw_path: str  # as sent, without the query string (what the request log shows)
    query: str  # raw query string, "" if none
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    received: float = 0.0

    @property
    def path(self) -> str:
        """Decoded path without a trailing slash, for routing."""
        path = unquote(self.raw_path)
        return path.rstrip("/") or "/"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body counts as ``{}``."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Invalid JSON") from None
        if not isinstance(value, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return value


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_error(cls, error: ApiError, headers: dict[str, str] | None = None) -> "Response":
        merged = dict(headers or {})
        merged.update(error.headers)
        return cls(error.status, error.body(), merged)
