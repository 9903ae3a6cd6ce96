"""The control API under ``/__emulator__`` (no token; not part of Linode's API).

Other tools depend on these exact shapes:

* ``GET /__emulator__/requests`` -> ``{"requests": [{"method", "path", "query", "status", "time"}, ...]}``
  (every API request so far, in arrival order; ``status`` 0 = no answer was sent)
* ``GET /__emulator__/state`` -> ``{"linodes": [...], "images": [...], "events": [...]}``
  in the API's object shapes; disks and configs inside each linode, disks with ``used_mb``;
  private images only
* ``POST /__emulator__/faults`` ``{"rules": [...]}`` -> ``{"rules": [every active rule]}``
* ``GET /__emulator__/faults`` -> ``{"rules": [...]}``
* ``DELETE /__emulator__/faults`` -> ``{}``
* ``POST /__emulator__/reset`` -> ``{}``
* ``POST /__emulator__/hold`` ``{"linode_id": 1001, "status": "migrating"}`` -> the linode in the API's shape
  (held in that status, busy to power actions and captures, until ``"status": null`` releases it; a reset
  restores the fleet's holds)
* ``POST /__emulator__/timing`` ``{"create_s": 900, ...}`` -> ``{"timing": {every duration now in force}}``
  (keys as the fleet file's ``timing``; jobs started from then on use them; a reset restores the fleet's)

Requests to the control API are not logged, rate limited or faulted.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from . import shapes
from .errors import ApiError
from .faults import FaultRuleError
from .fleet import HOLD_STATUSES, FleetError, with_timing
from .http_types import Request, Response

if TYPE_CHECKING:
    from .app import Emulator


def _error(status: int, reason: str) -> Response:
    return Response(status, {"errors": [{"reason": reason}]})


class Control:
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        action = request.path[len("/__emulator__") :].strip("/")
        method = request.method
        if action == "requests" and method == "GET":
            return Response(200, {"requests": self.emulator.requests.snapshot()})
        if action == "state" and method == "GET":
            return Response(200, self.state())
        if action == "faults" and method == "POST":
            return self.add_faults(request)
        if action == "faults" and method == "GET":
            return Response(200, {"rules": self.emulator.faults.describe()})
        if action == "faults" and method == "DELETE":
            self.emulator.faults.clear()
            return Response(200, {})
        if action == "reset" and method == "POST":
            self.emulator.reset()
            return Response(200, {})
        if action == "timing" and method == "POST":
            return self.set_timing(request)
        if action == "hold" and method == "POST":
            return self.hold(request)
        if action in ("requests", "state", "faults", "reset", "timing", "hold"):
            return _error(405, "Method Not Allowed")
        return _error(404, "Not found")

    def state(self) -> dict[str, Any]:
        state = self.emulator.state
        with state.transaction() as now:
            return {
                "linodes": [shapes.render_linode_state(state.linodes[i]) for i in sorted(state.linodes)],
                "images": [shapes.render_image(i) for i in sorted(state.images.values(), key=lambda i: i.number)],
                # Every event, also those GET /account/events does not list yet.
                "events": [shapes.render_event(state, e, now) for e in state.events],
            }

    def set_timing(self, request: Request) -> Response:
        """Change durations for the jobs started from now on (a test that needs one step slow)."""
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "Invalid JSON")
        state = self.emulator.state
        with state.lock:
            try:
                state.fleet = with_timing(state.fleet, body)
            except FleetError as exc:
                return _error(400, str(exc))
            return Response(200, {"timing": dataclasses.asdict(state.fleet.timing)})

    def hold(self, request: Request) -> Response:
        """Hold a linode in a transitional status (a migration, a restore, ...) or release it."""
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "Invalid JSON")
        if not isinstance(body, dict) or set(body) != {"linode_id", "status"}:
            return _error(400, 'Body must be {"linode_id": <id>, "status": <status or null>}')
        linode_id, status = body["linode_id"], body["status"]
        if isinstance(linode_id, bool) or not isinstance(linode_id, int):
            return _error(400, "linode_id must be an integer")
        if status is not None and status not in HOLD_STATUSES:
            return _error(400, f"status must be null or one of {', '.join(HOLD_STATUSES)}")
        state = self.emulator.state
        with state.lock:
            try:
                linode = state.hold(linode_id, status)
            except ApiError as exc:
                return Response(exc.status, exc.body())
            return Response(200, shapes.render_linode(linode))

    def add_faults(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "Invalid JSON")
        if not isinstance(body, dict) or "rules" not in body:
            return _error(400, 'Body must be {"rules": [...]}')
        try:
            rules = self.emulator.faults.add(body["rules"])
        except FaultRuleError as exc:
            return _error(400, str(exc))
        return Response(200, {"rules": rules})
