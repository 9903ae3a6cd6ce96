"""A small fleet of Linode instances on the tests' fake clock, for the power tests.

Power jobs take time (a shutdown 28 s, a boot 24 s, as recorded) and keep the instance busy
("Linode busy." to another action meanwhile), as does a status no job of the fleet drives
(``migrating``, ...); tags are replaced by a PUT; boots and shutdowns leave
events; every answer carries a ``Date`` on the fake clock, as the real API's do, so the code under
test reads the API's time from it. Faults answer a request with a status, raise a connection error
or a timeout, before or after the request acted; hooks let another actor (a second run, a person)
change the fleet between two requests. Every request is logged with its time and answer.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from filter_allowlist import refused_fields

EPOCH = 1_700_000_000  # the API's clock at fake time 0
DURATIONS = {"boot": 24.0, "shutdown": 28.0, "reboot": 52.0}
ON_THE_WAY = {"boot": "booting", "shutdown": "shutting_down", "reboot": "rebooting"}
END_STATUS = {"boot": "running", "shutdown": "offline", "reboot": "running"}
EVENT_ACTIONS = {"boot": "linode_boot", "shutdown": "linode_shutdown", "reboot": "linode_reboot"}


def api_time(fake_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH + fake_seconds))


def epoch(fake_seconds: float) -> int:
    return int(EPOCH + fake_seconds)


@dataclass
class Fault:
    """Answers the next ``times`` matching requests (every one if None) with ``status`` or by raising ``error``."""

    method: str
    path: str
    status: int | None = None
    reason: str | None = None
    error: type | None = None
    after_effect: bool = False
    times: int | None = 1
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == method and re.search(self.path, path) is not None
                and (self.times is None or self.fired < self.times))


@dataclass
class Job:
    linode_id: int
    action: str
    starts: float
    ends: float
    event_id: int
    done: bool = False


@dataclass
class FleetApi(BaseAdapter):
    clock: object
    instances: dict = field(default_factory=dict)
    jobs: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    hooks: list = field(default_factory=list)
    log: list = field(default_factory=list)

    def __post_init__(self):
        super(FleetApi, self).__init__()

    # ------------------------------------------------------------------ building

    def add(self, linode_id: int, status: str = "running", tags: list = ()) -> dict:
        self.instances[linode_id] = {"id": linode_id, "label": "linode%d" % linode_id, "status": status,
                                     "tags": list(tags), "region": "us-east"}
        return self.instances[linode_id]

    def start_job(self, linode_id: int, action: str, starts: float | None = None) -> Job:
        """A power job, as if someone had sent it at ``starts`` (now by default)."""
        starts = self.now() if starts is None else starts
        job = Job(linode_id, action, starts, starts + DURATIONS[action], 5000 + len(self.jobs))
        self.jobs.append(job)
        self.instances[linode_id]["status"] = ON_THE_WAY[action]
        self._advance()
        return job

    def fault(self, method: str, path: str, **kwargs) -> Fault:
        rule = Fault(method, path, **kwargs)
        self.faults.append(rule)
        return rule

    # ------------------------------------------------------------------ reading the log

    def now(self) -> float:
        return self.clock.now() - self.clock.start

    def requests(self, method: str | None = None, path: str | None = None) -> list:
        return [e for e in self.log if (method is None or e["method"] == method)
                and (path is None or re.search(path, e["path"]))]

    def tags(self, linode_id: int) -> list:
        return self.instances[linode_id]["tags"]

    # ------------------------------------------------------------------ answering

    def _advance(self) -> None:
        now = self.now()
        for job in self.jobs:
            if not job.done and now >= job.ends:
                job.done = True
                self.instances[job.linode_id]["status"] = END_STATUS[job.action]

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self._advance()
        url = urlsplit(request.url)
        path = re.sub(r"^/v4(beta)?", "", url.path)
        header = request.headers.get("X-Filter")
        refused = refused_fields(url.path, header)
        assert not refused, "%s %s filters on %s, which the Linode API refuses" % (request.method, url.path, refused)
        body = json.loads(request.body) if request.body else None
        entry = dict(time=self.now(), method=request.method, path=path, filter=json.loads(header) if header else None,
                     body=body, status=None)
        self.log.append(entry)
        fault = next((f for f in self.faults if f.matches(request.method, path)), None)
        if fault is not None:
            fault.fired += 1
        if fault is None or fault.after_effect:
            status, answer = self._handle(request.method, path, entry["filter"] or {}, body or {})
        if fault is not None:
            if fault.error is not None:
                entry["status"] = 0
                self._run_hooks(entry)
                raise fault.error("emulated %s" % fault.error.__name__)
            status, answer = fault.status, {"errors": [{"reason": fault.reason or "Internal Server Error"}]}
        entry["status"] = status
        self._run_hooks(entry)
        return self._answer(request, status, answer)

    def _run_hooks(self, entry: dict) -> None:
        for hook in list(self.hooks):
            hook(self, entry)

    def _handle(self, method: str, path: str, query: dict, body: dict) -> tuple:
        match = re.match(r"^/linode/instances/(\d+)(?:/(boot|shutdown|reboot))?$", path)
        if method == "GET" and path == "/linode/instances":
            wanted = set(c["id"] for c in query.get("+or", []))
            return 200, self._page([dict(i, tags=list(i["tags"])) for k, i in sorted(self.instances.items())
                                    if not wanted or k in wanted])
        if method == "GET" and path == "/account/events":
            return 200, self._page(self._events(query))
        if match is None or int(match.group(1)) not in self.instances:
            return 404, {"errors": [{"reason": "Not found"}]}
        instance = self.instances[int(match.group(1))]
        if method == "GET" and not match.group(2):
            return 200, dict(instance, tags=list(instance["tags"]))
        if method == "PUT" and not match.group(2):
            instance["tags"] = list(body.get("tags", instance["tags"]))
            return 200, dict(instance, tags=list(instance["tags"]))
        if method == "POST" and match.group(2):
            action = match.group(2)
            # A status no job of this fleet drives (migrating, ...) is a job of Linode's: busy until it ends.
            if any(job.linode_id == instance["id"] and not job.done for job in self.jobs) or \
                    instance["status"] not in ("running", "offline"):
                return 400, {"errors": [{"reason": "Linode busy."}]}
            if (action, instance["status"]) in (("boot", "running"), ("shutdown", "offline")):
                return 200, {}
            self.start_job(instance["id"], action)
            return 200, {}
        return 404, {"errors": [{"reason": "Not found"}]}

    def _events(self, query: dict) -> list:
        now = self.now()
        ids = set(c["entity.id"] for c in query.get("+or", []))
        since = (query.get("created") or {}).get("+gte")
        events = []
        for job in self.jobs:
            event = {"id": job.event_id, "action": EVENT_ACTIONS[job.action], "created": api_time(job.starts),
                     "status": "finished" if now >= job.ends else "started", "percent_complete": None,
                     "time_remaining": None, "message": "", "secondary_entity": None,
                     "entity": {"id": job.linode_id, "type": "linode", "label": "linode%d" % job.linode_id}}
            if (event["action"] == query.get("action", event["action"]) and (not ids or job.linode_id in ids)
                    and (since is None or event["created"] >= since)):
                events.append(event)
        return sorted(events, key=lambda e: e["id"], reverse=True)

    @staticmethod
    def _page(items: list) -> dict:
        return {"data": items, "page": 1 if items else 0, "pages": 1 if items else 0, "results": len(items)}

    def _answer(self, request, status: int, body: dict):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json",
                                 "Date": email.utils.formatdate(EPOCH + self.now(), usegmt=True)})
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def other_run_writes(linode_id: int, tag: str, after_puts: int = 1):
    """A hook: another run writes its marker on ``linode_id`` once this many PUTs have been answered."""

    def hook(api, entry):
        if entry["method"] == "PUT" and len(api.requests("PUT")) == after_puts:
            instance = api.instances[linode_id]
            instance["tags"] = [t for t in instance["tags"] if not t.startswith("golden_image")] + [tag]
            api.hooks.remove(hook)

    return hook
