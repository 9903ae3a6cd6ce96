"""Linode instances being created and deleted, on the tests' fake clock, for the temporary instance tests.

A create runs as recorded: ``provisioning`` for 40 s, then ``booting`` for 24 s, then ``running``.
Labels are unique, and a deleted instance's label stays taken for 13 s (recorded: "Label must be
unique among your linodes" right after a delete), while reads answer 404 at once. Regions, types and
images are what the checks before a create read. Faults (``fleet_api.Fault``) answer a request with a
status or raise a connection error or a timeout, before or after it acted. Every request is logged
with its time, filter and body; every answer carries a ``Date`` on the fake clock.
"""

from __future__ import annotations

import email.utils
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter

from filter_allowlist import refused_fields
from fleet_api import EPOCH, Fault, api_time

CREATE_S, BOOT_S, DELETE_S = 40.0, 24.0, 13.0
FIRST_ID = 40001
LABEL_TAKEN = {"errors": [{"field": "label", "reason": "Label must be unique among your linodes"}]}
NOT_FOUND = {"errors": [{"reason": "Not found"}]}


@dataclass
class TemporaryApi(BaseAdapter):
    clock: object
    instances: dict = field(default_factory=dict)
    # {linode_id: [(from fake second, status), ...]}: what a read shows when.
    timelines: dict = field(default_factory=dict)
    held_labels: dict = field(default_factory=dict)
    regions: tuple = ("us-east", "eu-west")
    types: tuple = ("g6-nanode-1", "g6-standard-1")
    images: dict = field(default_factory=lambda: {"linode/debian12": "available", "private/7": "available",
                                                  "private/8": "creating"})
    weak_passwords: tuple = ()
    scopes: str = "*"
    faults: list = field(default_factory=list)
    log: list = field(default_factory=list)

    def __post_init__(self):
        super(TemporaryApi, self).__init__()
        self.next_id = FIRST_ID

    # ------------------------------------------------------------------ building and reading

    def now(self) -> float:
        return self.clock.now() - self.clock.start

    def add(self, label: str, status: str = "running", tags: tuple = ("golden_image.linode:temporary",),
            image: str = "linode/debian12", age_s: float = 0.0, region: str = "us-east",
            instance_type: str = "g6-nanode-1") -> dict:
        """An instance that exists already (``age_s`` seconds old), in ``status``."""
        linode_id = self.next_id
        self.next_id += 1
        self.instances[linode_id] = dict(id=linode_id, label=label, status=status, tags=list(tags), image=image,
                                         region=region, type=instance_type, created=api_time(self.now() - age_s))
        return self.instances[linode_id]

    def fault(self, method: str, path: str, **kwargs) -> Fault:
        rule = Fault(method, path, **kwargs)
        self.faults.append(rule)
        return rule

    def requests(self, method: str | None = None, path: str | None = None) -> list:
        return [e for e in self.log if (method is None or e["method"] == method)
                and (path is None or re.search(path, e["path"]))]

    def writes(self) -> list:
        return [e for e in self.log if e["method"] != "GET"]

    def by_label(self, label: str) -> list:
        return [i for i in self.instances.values() if i["label"] == label]

    # ------------------------------------------------------------------ answering

    def _advance(self) -> None:
        now = self.now()
        for linode_id, timeline in self.timelines.items():
            if linode_id in self.instances:
                self.instances[linode_id]["status"] = [s for at, s in timeline if at <= now][-1]

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
                raise fault.error("emulated %s" % fault.error.__name__)
            status, answer = fault.status, {"errors": [{"reason": fault.reason or "Internal Server Error"}]}
        entry["status"] = status
        return self._answer(request, status, answer)

    def _handle(self, method: str, path: str, query: dict, body: dict) -> tuple:
        if method == "GET" and path == "/profile":
            return 200, {"username": "tester"}
        if method == "GET" and path == "/regions":
            return 200, self._page([{"id": r} for r in self.regions])
        if method == "GET" and path == "/linode/types":
            return 200, self._page([{"id": t} for t in self.types])
        if method == "GET" and path.startswith("/images/"):
            image_id = path[len("/images/"):]
            if image_id not in self.images:
                return 404, NOT_FOUND
            return 200, {"id": image_id, "status": self.images[image_id]}
        if method == "GET" and path == "/account/events":
            return 200, self._page([])
        if path == "/linode/instances":
            return self._create(body) if method == "POST" else (200, self._page(self._list(query)))
        match = re.match(r"^/linode/instances/(\d+)$", path)
        if match is None or int(match.group(1)) not in self.instances:
            return 404, NOT_FOUND
        linode_id = int(match.group(1))
        if method == "DELETE":
            gone = self.instances.pop(linode_id)
            self.held_labels[gone["label"]] = self.now() + DELETE_S
            return 200, {}
        return 200, dict(self.instances[linode_id])

    def _list(self, query: dict) -> list:
        ids = set(c["id"] for c in query.get("+or", []))
        label = query.get("label")
        found = []
        for linode_id, instance in sorted(self.instances.items()):
            if ids and linode_id not in ids:
                continue
            if isinstance(label, str) and instance["label"] != label:
                continue
            if isinstance(label, dict) and label["+contains"] not in instance["label"]:
                continue
            if "tags" in query and query["tags"] not in instance["tags"]:
                continue
            found.append(dict(instance))
        return found

    def _create(self, body: dict) -> tuple:
        label = body["label"]
        if self.by_label(label) or self.held_labels.get(label, -1) > self.now():
            return 400, LABEL_TAKEN
        if body.get("root_pass") in self.weak_passwords:
            return 400, {"errors": [{"field": "root_pass", "reason": "Password does not meet strength requirement"}]}
        instance = self.add(label, "provisioning", tuple(body["tags"]), body["image"], region=body["region"],
                            instance_type=body["type"])
        now = self.now()
        self.timelines[instance["id"]] = [(now, "provisioning"), (now + CREATE_S, "booting"),
                                          (now + CREATE_S + BOOT_S, "running")]
        return 200, dict(instance)

    @staticmethod
    def _page(items: list) -> dict:
        return {"data": items, "page": 1 if items else 0, "pages": 1 if items else 0, "results": len(items)}

    def _answer(self, request, status: int, body: dict):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # pylint: disable=protected-access
        response.headers.update({"Content-Type": "application/json", "X-OAuth-Scopes": self.scopes,
                                 "Date": email.utils.formatdate(EPOCH + self.now(), usegmt=True)})
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass
