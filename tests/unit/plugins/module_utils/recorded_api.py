"""A small Linode API that replays jobs as recorded on the real one, on the tests' fake clock.

A job is described in the tests' own words: when its event gets listed, the ``percent_complete``
it shows over time, when it ends and how. The API answers the reads a waiter sends (events, one
image, a list of instances, a disk) from those timelines at the fake clock's time, refuses any
X-Filter the real API refuses, and logs every request with its time, so a test can assert what a
waiter cost and how long after a job's end it noticed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

from filter_allowlist import refused_fields

EPOCH = 1_700_000_000  # the API's clock at fake time 0


def api_time(fake_seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH + fake_seconds))


@dataclass
class Job:
    """One job of the recorded kind: ``progress`` is ``[(seconds, status, percent), ...]`` from its start."""

    action: str
    linode_id: int
    starts: float
    ends: float
    progress: list
    listed_after: float = 0.0
    outcome: str = "finished"  # or "failed"
    image_number: int | None = None
    event_id: int = 0
    message: str = ""

    def event(self, now: float) -> dict | None:
        if now < self.starts + self.listed_after:
            return None
        status, percent = "scheduled", 0
        for offset, step_status, step_percent in self.progress:
            if now >= self.starts + offset:
                status, percent = step_status, step_percent
        if now >= self.ends:
            status, percent = self.outcome, 100 if self.outcome == "finished" else percent
        secondary = None
        if self.image_number is not None:
            secondary = {"id": self.image_number, "type": "image", "label": "captured",
                         "url": "/v4/images/private/%d" % self.image_number}
        return {"id": self.event_id, "action": self.action, "status": status, "percent_complete": percent,
                "time_remaining": None, "created": api_time(self.starts), "message": self.message,
                "entity": {"id": self.linode_id, "type": "linode", "label": "linode%d" % self.linode_id},
                "secondary_entity": secondary, "duration": None if status == "scheduled" else now - self.starts}


@dataclass
class RecordedApi(BaseAdapter):
    """The API: jobs, and what each one changes when it ends."""

    clock: object
    jobs: list = field(default_factory=list)
    # {image_id: (job, removed_when_failed)}
    images: dict = field(default_factory=dict)
    # {linode_id: [(from_second, status), ...]}
    instance_statuses: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    def __post_init__(self):
        super(RecordedApi, self).__init__()

    # ------------------------------------------------------------------ building

    def add_job(self, job: Job) -> Job:
        job.event_id = job.event_id or 1000 + len(self.jobs)
        self.jobs.append(job)
        return job

    def add_capture(self, linode_id: int, number: int, starts: float, ends: float, progress: list,
                    listed_after: float = 15.0, outcome: str = "finished", image_removed: bool = True) -> Job:
        job = self.add_job(Job("disk_imagize", linode_id, starts, ends, progress, listed_after, outcome, number))
        self.images["private/%d" % number] = (job, image_removed)
        return job

    def set_statuses(self, linode_id: int, timeline: list) -> None:
        self.instance_statuses[linode_id] = timeline

    # ------------------------------------------------------------------ answering

    def now(self) -> float:
        return self.clock.now() - self.clock.start

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        now = self.now()
        url = urlsplit(request.url)
        path = re.sub(r"^/v4(beta)?", "", url.path)
        header = request.headers.get("X-Filter")
        self.log.append(dict(time=now, method=request.method, path=path, filter=header))
        refused = refused_fields(url.path, header)
        if refused:
            return self._answer(request, 400, {"errors": [{"reason": "Cannot filter on %s" % refused[0],
                                                           "field": "X-Filter"}]})
        query = json.loads(header) if header else {}
        if request.method == "GET" and path == "/account/events":
            return self._answer(request, 200, self._page(self._events(now, query)))
        if request.method == "GET" and path.startswith("/images/"):
            return self._image(request, path[len("/images/"):], now)
        if request.method == "GET" and path == "/images":
            listed = [self._image_body(image_id, now) for image_id in sorted(self.images)]
            return self._answer(request, 200, self._page([image for image in listed if image is not None]))
        if request.method == "GET" and path == "/linode/instances":
            return self._answer(request, 200, self._page(self._instances(now, query)))
        return self._answer(request, 404, {"errors": [{"reason": "Not found"}]})

    def _events(self, now: float, query: dict) -> list:
        wanted_ids = set(c["entity.id"] for c in query.get("+or", []))
        since = (query.get("created") or {}).get("+gte")
        events = [job.event(now) for job in self.jobs]
        return sorted((e for e in events if e is not None and e["action"] == query.get("action", e["action"])
                       and (not wanted_ids or e["entity"]["id"] in wanted_ids)
                       and (since is None or e["created"] >= since)),
                      key=lambda e: e["id"], reverse=True)

    def _image(self, request, image_id: str, now: float):
        body = self._image_body(image_id, now)
        if body is None:
            return self._answer(request, 404, {"errors": [{"reason": "Not found"}]})
        return self._answer(request, 200, body)

    def _image_body(self, image_id: str, now: float) -> dict | None:
        if image_id not in self.images:
            return None
        job, removed = self.images[image_id]
        ended = now >= job.ends
        if ended and job.outcome == "failed" and removed:
            return None
        status = "available" if ended and job.outcome == "finished" else "creating"
        return {"id": image_id, "label": "captured", "status": status, "is_public": False,
                "created": api_time(job.starts), "regions": [], "tags": ["source=linode:%d,disk:1" % job.linode_id]}

    def _instances(self, now: float, query: dict) -> list:
        wanted_ids = set(c["id"] for c in query.get("+or", []))
        found = []
        for linode_id, timeline in sorted(self.instance_statuses.items()):
            if wanted_ids and linode_id not in wanted_ids:
                continue
            status = [s for start, s in timeline if now >= start][-1]
            found.append({"id": linode_id, "label": "linode%d" % linode_id, "status": status, "tags": []})
        return found

    @staticmethod
    def _page(items: list) -> dict:
        # As recorded: an empty filtered list is page 0 of 0.
        return {"data": items, "page": 1 if items else 0, "pages": 1 if items else 0, "results": len(items)}

    @staticmethod
    def _answer(request, status: int, body: dict):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json"})
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass

    # ------------------------------------------------------------------ measuring

    def requests_after(self, start: float) -> list:
        return [entry for entry in self.log if entry["time"] >= start]

    def noticed_at(self, predicate) -> float | None:
        """The time of the first logged request that matches ``predicate``."""
        for entry in self.log:
            if predicate(entry):
                return entry["time"]
        return None


def query_of(url: str) -> dict:
    return parse_qs(urlsplit(url).query)
