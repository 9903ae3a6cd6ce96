"""The emulator as one object: state, API, control API, faults and request log.

The HTTP server hands every request to :meth:`Emulator.handle` and carries
out the :class:`Reply` it gets back: send a response, reset the connection,
or hang. Injected faults are applied here, around the API, the way a proxy
in front of the real service would misbehave.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .auth import Authenticator
from .clock import Clock
from .control import Control
from .errors import ApiError
from .faults import FaultAction, FaultBook
from .fleet import Fleet
from .http_types import Request, Response
from .ratelimit import RateLimiter
from .routes import Api
from .state import State

CONTROL_PREFIX = "/__emulator__"

# Request log status for requests that never got an answer (reset, hang).
NO_ANSWER = 0


class RequestLog:
    """Every API request in arrival order, in the control API's shape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def start(self, request: Request) -> dict[str, Any]:
        entry = {
            "method": request.method,
            "path": request.raw_path,
            "query": request.query,
            "status": NO_ANSWER,
            "time": round(request.received, 6),
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: int) -> None:
        with self._lock:
            entry["status"] = status

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Reply:
    """What the server should do with a connection."""

    kind: str  # "respond" | "reset" | "hang"
    response: Response | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Emulator:
    def __init__(self, fleet: Fleet, clock: Clock | None = None, *, rate_limits: bool = True) -> None:
        self.fleet = fleet
        self.clock = clock or Clock()
        self.state = State(fleet, self.clock)
        self.limiter = RateLimiter(
            fleet.rate_limits if rate_limits else None, self.clock, fleet.unrecorded.rate_limit_headers
        )
        self.api = Api(self.state, Authenticator(fleet.tokens), self.limiter)
        self.faults = FaultBook()
        self.requests = RequestLog()
        self.control = Control(self)
        # Set when the server stops; delays and hangs wait on it so they never block shutdown.
        self.stopping = threading.Event()

    def reset(self) -> None:
        """Fleet file's state again (its timing too); no faults, empty request log, fresh rate-limit windows."""
        self.state.reset(self.fleet)
        self.faults.clear()
        self.requests.clear()
        self.limiter.reset()

    @staticmethod
    def is_control(request: Request) -> bool:
        return request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/")

    def handle(self, request: Request) -> Reply:
        if self.is_control(request):
            return Reply("respond", self.control.handle(request))
        entry = self.requests.start(request)
        reply = self._handle_api(request)
        if reply.kind == "respond" and reply.response is not None:
            self.requests.finish(entry, reply.response.status)
        return reply

    def _handle_api(self, request: Request) -> Reply:
        fault = self.faults.pick(request.method, request.path)
        if fault is not None and fault.delay_s:
            self.stopping.wait(fault.delay_s)
        if fault is None or not fault.answers:
            return Reply("respond", self.api.handle(request))
        if fault.after_effect:
            # The server acts, the client never learns: the response is thrown away.
            self.api.handle(request)
        return self._fault_reply(request, fault)

    def _fault_reply(self, request: Request, fault: FaultAction) -> Reply:
        if fault.reset:
            return Reply("reset")
        if fault.hang:
            return Reply("hang")
        assert fault.status is not None
        headers = self.api.rate_headers(request)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return Reply("respond", Response(fault.status, fault.error_body(), headers))

    def error_reply(self, error: ApiError) -> Reply:
        return Reply("respond", Response.from_error(error))
