"""The Linode API routes under ``/v4`` and ``/v4beta``.

Each route names its method, path template (spelled as in the spec, which
also names the operation for the per-operation rate limit), the OAuth scopes
the spec's ``security`` asks for, and whether it is a paginated list. The
pipeline for one request is: match route -> authenticate/authorize (401/403)
-> rate limit (429) -> handler. Validation of request bodies lives with the
handlers; what needs the account's state lives in :mod:`.state`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import shapes
from .auth import Authenticator, Grant
from .catalog import PUBLIC_IMAGES, TYPES, render_public_image, render_region, render_type
from .credentials import password_problem, ssh_key_problem
from .errors import ApiError, bad_request, not_found, raise_all
from .filterable import FILTERABLE
from .filters import Matcher, parse_filter
from .http_types import Request, Response
from .ratelimit import Operation, RateLimiter
from .state import DEFAULT_SWAP_MB, State

API_PREFIXES = ("/v4", "/v4beta")
PAGE_SIZE_MIN, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT = 25, 500, 100

# X-Filter allow-lists come from filterable.py, generated from the spec's
# "__Filterable__" marks (emulator/tools/gen_filterable.py), keyed by list path.

IMAGE_CREATE_FIELDS = ("disk_id", "label", "description", "cloud_init", "tags")
IMAGE_UPDATE_FIELDS = ("label", "description", "tags")
# Read-only Image fields a client may echo back in a PUT (the spec's PUT body
# lists them); they are ignored rather than refused.
IMAGE_READ_ONLY_FIELDS = (
    "id", "created", "updated", "created_by", "deprecated", "is_public", "size", "status", "type",
    "vendor", "eol", "expiry", "capabilities", "total_size", "regions",
)
LABEL_MAX = 50  # Cloud Manager's limit; the spec gives none
# A Linode label, per the API docs: 3-64 characters, starting with a letter, no doubled - _ or .
LINODE_LABEL = re.compile(r"^[a-zA-Z](?!.*(--|__|\.\.))[a-zA-Z0-9_.-]{2,63}$")
TAG_MIN, TAG_MAX, TAGS_MAX = 3, 100, 500
DESCRIPTION_MAX = 65000
# POST /linode/instances: what the emulator models, and the spec's other fields, refused by name so
# that no test relies on one silently doing nothing.
LINODE_CREATE_FIELDS = ("region", "type", "label", "image", "root_pass", "authorized_keys", "tags", "booted", "swap_size")
LINODE_CREATE_UNMODELLED = (
    "authorized_users", "backup_id", "backups_enabled", "firewall_id", "group", "interfaces", "metadata",
    "placement_group", "private_ip", "stackscript_data", "stackscript_id",
)
# Recorded, without a field, when an image is given with none of them.
NO_CREDENTIALS = "Must provide valid root_pass, authorized_keys, or authorized_users"

Handler = Callable[["Api", Request, dict[str, Any], "Grant | None"], Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # spec spelling, e.g. "/images/{imageId}"
    pattern: re.Pattern[str]
    handler: Handler
    scopes: tuple[str, ...] = ()
    is_list: bool = False
    public: bool = False

    @property
    def operation(self) -> Operation:
        return Operation(
            name=f"{self.method} {self.template}",
            is_list=self.is_list,
            is_list_images=self.method == "GET" and self.template == "/images",
        )


_PARAM_PATTERNS = {
    "linodeId": r"(?P<linodeId>\d+)",
    "diskId": r"(?P<diskId>\d+)",
    "configId": r"(?P<configId>\d+)",
    "eventId": r"(?P<eventId>\d+)",
    # Image ids contain a slash: private/123, linode/debian12.
    "imageId": r"(?P<imageId>[a-z0-9-]+/[^/]+)",
    "regionId": r"(?P<regionId>[a-z0-9-]+)",
    "typeId": r"(?P<typeId>[a-z0-9-]+)",
}
_INT_PARAMS = ("linodeId", "diskId", "configId", "eventId")


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", lambda m: _PARAM_PATTERNS[m.group(1)], template)
    return re.compile(f"^{regex}$")


# --------------------------------------------------------------------------- helpers


def paginate(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """Linode's page envelope; ``page_size`` outside 25..500 is a 400 on that field."""
    params = request.query_params()
    page_size = _query_int(params, "page_size", PAGE_SIZE_DEFAULT)
    if not PAGE_SIZE_MIN <= page_size <= PAGE_SIZE_MAX:
        raise bad_request(f"Must be a value between {PAGE_SIZE_MIN} and {PAGE_SIZE_MAX}", "page_size")
    page = _query_int(params, "page", 1)
    if page < 1:
        raise bad_request("Must be a value greater than 0", "page")
    results = len(items)
    pages = max(1, math.ceil(results / page_size))
    start = (page - 1) * page_size
    return {"data": items[start : start + page_size], "page": page, "pages": pages, "results": results}


def _query_int(params: dict[str, list[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    try:
        return int(values[-1])
    except ValueError:
        raise bad_request("Must be an integer", name) from None


def _listing(api: "Api", request: Request, items: list[dict[str, Any]], list_path: str) -> dict[str, Any]:
    """Filter (only on the spec's filterable fields, unless ``idealised.lenient_filters``) and paginate.

    An empty *filtered* list is ``page 0 of 0`` as recorded (``idealised.empty_list_page_one``: page 1).
    """
    spec = parse_filter(request.header("X-Filter"))
    idealised = api.state.fleet.idealised
    if spec:
        items = Matcher(spec, None if idealised.lenient_filters else FILTERABLE[list_path]).apply(items)
    body = paginate(items, request)
    if spec and not items and not idealised.empty_list_page_one:
        body.update(page=0, pages=0)
    return body


def _username(grant: Grant | None) -> str:
    return grant.token.username if grant else "emulator"


def _image_number(image_id: str) -> int | None:
    match = re.fullmatch(r"private/(\d+)", image_id)
    return int(match.group(1)) if match else None


def _check_tags(value: Any, errors: list[dict[str, str]]) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        errors.append({"field": "tags", "reason": "Must be a list of strings"})
        return
    if len(value) > TAGS_MAX:
        errors.append({"field": "tags", "reason": f"An image can have at most {TAGS_MAX} tags"})
    for index, tag in enumerate(value):
        if not TAG_MIN <= len(tag) <= TAG_MAX:
            errors.append({"field": f"tags[{index}]", "reason": f"Length must be {TAG_MIN}-{TAG_MAX} characters"})


def _check_label(value: Any, errors: list[dict[str, str]]) -> None:
    if not isinstance(value, str):
        errors.append({"field": "label", "reason": "Must be a string"})
    elif not 1 <= len(value) <= LABEL_MAX:
        errors.append({"field": "label", "reason": f"Length must be 1-{LABEL_MAX} characters"})


def _check_description(value: Any, errors: list[dict[str, str]], nullable: bool) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        errors.append({"field": "description", "reason": "Must be a string"})
    elif len(value) > DESCRIPTION_MAX:
        errors.append({"field": "description", "reason": f"Length must be at most {DESCRIPTION_MAX} characters"})


def _unknown_fields(body: dict[str, Any], allowed: tuple[str, ...], errors: list[dict[str, str]]) -> None:
    for key in body:
        if key not in allowed:
            errors.append({"field": key, "reason": f"{key} is not a recognized field"})


# --------------------------------------------------------------------------- handlers


def get_profile(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    assert grant is not None
    return shapes.render_profile(grant.token)


def get_account(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        created = min((linode.created for linode in api.state.linodes.values()), default=api.state.clock.now())
    return shapes.render_account(created - 86400 * 365)


def list_regions(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    items = [render_region(r, i) for i, r in enumerate(api.state.fleet.regions)]
    return _listing(api, request, items, "/regions")


def get_region(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    for index, region in enumerate(api.state.fleet.regions):
        if region == params["regionId"]:
            return render_region(region, index)
    raise not_found()


def list_linodes(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        items = [shapes.render_linode(api.state.linodes[i]) for i in sorted(api.state.linodes)]
    return _listing(api, request, items, "/linode/instances")


def get_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        return shapes.render_linode(api.state.get_linode(params["linodeId"]))


def update_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    """Label and tags only: what the collection writes (it records a power state in a tag)."""
    body = request.json()
    errors: list[dict[str, str]] = []
    _unknown_fields(body, ("label", "tags"), errors)
    if "label" in body and not (isinstance(body["label"], str) and LINODE_LABEL.match(body["label"])):
        errors.append({"field": "label", "reason": "Label must be 3-64 characters of letters, digits, - _ ."})
    if "tags" in body:
        _check_tags(body["tags"], errors)
    raise_all(errors)
    linode = api.state.update_linode(params["linodeId"], body)
    with api.state.transaction():
        return shapes.render_linode(linode)


def create_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    """From an image (or empty), with the body checked field by field before the account is."""
    body = request.json()
    errors: list[dict[str, str]] = []
    for key in body:
        if key in LINODE_CREATE_UNMODELLED:
            errors.append({"field": key, "reason": f"{key} is not modelled by linode-emulator"})
        elif key not in LINODE_CREATE_FIELDS:
            errors.append({"field": key, "reason": f"{key} is not a recognized field"})
    for key in ("region", "type"):
        if not isinstance(body.get(key), str) or not body[key]:
            errors.append({"field": key, "reason": f"{key} is required"})
    if "label" in body and not (isinstance(body["label"], str) and LINODE_LABEL.match(body["label"])):
        errors.append({"field": "label", "reason": "Label must be 3-64 characters of letters, digits, - _ ."})
    image = body.get("image")
    if image is not None and not isinstance(image, str):
        errors.append({"field": "image", "reason": "Must be a string"})
    root_pass = body.get("root_pass")
    if root_pass is not None:
        problem = password_problem(root_pass) if isinstance(root_pass, str) else "Must be a string"
        if problem:
            errors.append({"field": "root_pass", "reason": problem})
    keys = body.get("authorized_keys")
    if keys is not None:
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            errors.append({"field": "authorized_keys", "reason": "Must be a list of SSH public keys"})
        else:
            errors.extend(
                {"field": "authorized_keys", "reason": f"Key {index + 1} is not a valid SSH public key: {problem}"}
                for index, problem in enumerate(ssh_key_problem(k) for k in keys) if problem
            )
    if image is not None and not root_pass and not keys:
        errors.append({"reason": NO_CREDENTIALS})
    if "tags" in body:
        _check_tags(body["tags"], errors)
    if "booted" in body and not isinstance(body["booted"], bool):
        errors.append({"field": "booted", "reason": "Must be a boolean"})
    swap = body.get("swap_size", DEFAULT_SWAP_MB)
    if isinstance(swap, bool) or not isinstance(swap, int) or swap < 0:
        errors.append({"field": "swap_size", "reason": "Must be a non-negative integer (MB)"})
    raise_all(errors)
    linode = api.state.create_linode(
        label=body.get("label"),
        region=body["region"],
        type_id=body["type"],
        image_id=image,
        tags=body.get("tags", []),
        booted=body.get("booted", True),
        swap_mb=swap,
        username=_username(grant),
    )
    with api.state.transaction():
        return shapes.render_linode(linode)


def delete_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    api.state.delete_linode(params["linodeId"], _username(grant))
    return {}


def list_types(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    return _listing(api, request, [render_type(t) for t in TYPES], "/linode/types")


def get_type(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    if params["typeId"] not in TYPES:
        raise not_found()
    return render_type(params["typeId"])


def list_disks(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        linode = api.state.get_linode(params["linodeId"])
        items = [shapes.render_disk(d) for d in sorted(linode.disks.values(), key=lambda d: d.id)]
    return _listing(api, request, items, "/linode/instances/{linodeId}/disks")


def get_disk(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        return shapes.render_disk(api.state.get_disk(params["linodeId"], params["diskId"]))


def list_configs(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        linode = api.state.get_linode(params["linodeId"])
        items = [shapes.render_config(c) for c in sorted(linode.configs.values(), key=lambda c: c.id)]
    return _listing(api, request, items, "/linode/instances/{linodeId}/configs")


def get_config(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        return shapes.render_config(api.state.get_config(params["linodeId"], params["configId"]))


def _power_body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    body = request.json()
    errors: list[dict[str, str]] = []
    _unknown_fields(body, allowed, errors)
    raise_all(errors)
    return body


def shutdown_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    _power_body(request, ())
    api.state.shutdown(params["linodeId"], _username(grant))
    return {}


def boot_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    body = _power_body(request, ("config_id",))
    api.state.boot(params["linodeId"], body.get("config_id"), _username(grant))
    return {}


def reboot_linode(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    body = _power_body(request, ("config_id",))
    api.state.reboot(params["linodeId"], body.get("config_id"), _username(grant))
    return {}


def _public_images(api: "Api") -> list[dict[str, Any]]:
    return [render_public_image(i) for i in PUBLIC_IMAGES] if api.state.fleet.public_images else []


def list_images(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction():
        private = [shapes.render_image(i) for i in sorted(api.state.images.values(), key=lambda i: i.number)]
    return _listing(api, request, _public_images(api) + private, "/images")


def create_image(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    body = request.json()
    errors: list[dict[str, str]] = []
    _unknown_fields(body, IMAGE_CREATE_FIELDS, errors)
    disk_id = body.get("disk_id")
    if "disk_id" not in body or disk_id is None:
        errors.append({"field": "disk_id", "reason": "disk_id is required"})
    elif isinstance(disk_id, bool) or not isinstance(disk_id, int):
        errors.append({"field": "disk_id", "reason": "Must be an integer"})
    if "label" in body:
        _check_label(body["label"], errors)
    if "description" in body:
        _check_description(body["description"], errors, nullable=False)
    if "cloud_init" in body and not isinstance(body["cloud_init"], bool):
        errors.append({"field": "cloud_init", "reason": "Must be a boolean"})
    if "tags" in body:
        _check_tags(body["tags"], errors)
    raise_all(errors)
    image = api.state.capture(
        disk_id,
        label=body.get("label"),
        description=body.get("description") or None,
        tags=body.get("tags", []),
        cloud_init=body.get("cloud_init", False),
        username=_username(grant),
    )
    with api.state.transaction():
        return shapes.render_image(image)


def _private_number(api: "Api", image_id: str, *, writing: bool) -> int:
    number = _image_number(image_id)
    if number is not None:
        return number
    if any(i["id"] == image_id for i in _public_images(api)):
        # Public images exist but belong to Linode.
        if writing:
            raise ApiError(403, "Unauthorized")
        return -1
    raise not_found()


def get_image(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    number = _private_number(api, params["imageId"], writing=False)
    if number < 0:
        return next(i for i in _public_images(api) if i["id"] == params["imageId"])
    with api.state.transaction():
        return shapes.render_image(api.state.get_image(number))


def update_image(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    number = _private_number(api, params["imageId"], writing=True)
    body = request.json()
    errors: list[dict[str, str]] = []
    _unknown_fields(body, IMAGE_UPDATE_FIELDS + IMAGE_READ_ONLY_FIELDS, errors)
    if "label" in body:
        _check_label(body["label"], errors)
    if "description" in body:
        _check_description(body["description"], errors, nullable=True)
    if "tags" in body:
        _check_tags(body["tags"], errors)
    raise_all(errors)
    changes = {k: body[k] for k in IMAGE_UPDATE_FIELDS if k in body}
    if "description" in changes and not changes["description"]:
        changes["description"] = None
    image = api.state.update_image(number, changes)
    with api.state.transaction():
        return shapes.render_image(image)


def delete_image(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    number = _private_number(api, params["imageId"], writing=True)
    api.state.delete_image(number, _username(grant))
    return {}


def replicate_image(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    number = _private_number(api, params["imageId"], writing=True)
    body = request.json()
    errors: list[dict[str, str]] = []
    _unknown_fields(body, ("regions",), errors)
    regions = body.get("regions")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        errors.append({"field": "regions", "reason": "Must be a list of region IDs"})
    elif not regions:
        errors.append({"field": "regions", "reason": "At least one region is required; use DELETE to remove an image"})
    raise_all(errors)
    image = api.state.replicate_image(number, regions)
    with api.state.transaction():
        return shapes.render_image(image)


def list_events(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction() as now:
        # Newest first, as Linode lists events; an event shows up timing.event_delay_s after its request.
        events = sorted(api.state.visible_events(now), key=lambda e: -e.id)
        items = [shapes.render_event(api.state, e, now) for e in events]
    return _listing(api, request, items, "/account/events")


def get_event(api: "Api", request: Request, params: dict[str, Any], grant: Grant | None) -> Any:
    with api.state.transaction() as now:
        return shapes.render_event(api.state, api.state.get_event(params["eventId"], now), now)


def _route(
    method: str,
    template: str,
    handler: Handler,
    scopes: tuple[str, ...] = (),
    *,
    is_list: bool = False,
    public: bool = False,
) -> Route:
    return Route(method, template, _compile(template), handler, scopes, is_list, public)


LINODES_RO, LINODES_RW = ("linodes:read_only",), ("linodes:read_write",)
IMAGES_RO, IMAGES_RW = ("images:read_only",), ("images:read_write",)

ROUTES: tuple[Route, ...] = (
    _route("GET", "/profile", get_profile),
    _route("GET", "/account", get_account, ("account:read_only",)),
    _route("GET", "/regions", list_regions, is_list=True, public=True),
    _route("GET", "/regions/{regionId}", get_region, public=True),
    _route("GET", "/linode/types", list_types, is_list=True, public=True),
    _route("GET", "/linode/types/{typeId}", get_type, public=True),
    _route("GET", "/linode/instances", list_linodes, LINODES_RO, is_list=True),
    _route("POST", "/linode/instances", create_linode, LINODES_RW),
    _route("GET", "/linode/instances/{linodeId}", get_linode, LINODES_RO),
    _route("PUT", "/linode/instances/{linodeId}", update_linode, LINODES_RW),
    _route("DELETE", "/linode/instances/{linodeId}", delete_linode, LINODES_RW),
    _route("POST", "/linode/instances/{linodeId}/shutdown", shutdown_linode, LINODES_RW),
    _route("POST", "/linode/instances/{linodeId}/boot", boot_linode, LINODES_RW),
    _route("POST", "/linode/instances/{linodeId}/reboot", reboot_linode, LINODES_RW),
    _route("GET", "/linode/instances/{linodeId}/disks", list_disks, LINODES_RO, is_list=True),
    _route("GET", "/linode/instances/{linodeId}/disks/{diskId}", get_disk, LINODES_RO),
    _route("GET", "/linode/instances/{linodeId}/configs", list_configs, LINODES_RO, is_list=True),
    _route("GET", "/linode/instances/{linodeId}/configs/{configId}", get_config, LINODES_RO),
    _route("GET", "/images", list_images, IMAGES_RO, is_list=True),
    _route("POST", "/images", create_image, IMAGES_RW + LINODES_RO),
    _route("POST", "/images/{imageId}/regions", replicate_image, IMAGES_RW),
    _route("GET", "/images/{imageId}", get_image, IMAGES_RO),
    _route("PUT", "/images/{imageId}", update_image, IMAGES_RW),
    _route("DELETE", "/images/{imageId}", delete_image, IMAGES_RW),
    _route("GET", "/account/events", list_events, ("events:read_only",), is_list=True),
    _route("GET", "/account/events/{eventId}", get_event, ("events:read_only",)),
)


class Api:
    """Answers API requests: routing, auth, rate limits, handlers, errors."""

    def __init__(self, state: State, auth: Authenticator, limiter: RateLimiter) -> None:
        self.state = state
        self.auth = auth
        self.limiter = limiter

    @staticmethod
    def strip_prefix(path: str) -> str | None:
        for prefix in API_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return path[len(prefix) :] or "/"
        return None

    def match(self, request: Request) -> tuple[Route, dict[str, Any]]:
        """The route for a request; 404 for an unknown path, 405 for a known path with another method."""
        sub = self.strip_prefix(request.path)
        if sub is None:
            raise not_found()
        path_matched = False
        for route in ROUTES:
            found = route.pattern.match(sub)
            if not found:
                continue
            path_matched = True
            if route.method == request.method:
                params = {k: int(v) if k in _INT_PARAMS else v for k, v in found.groupdict().items()}
                return route, params
        if path_matched:
            raise ApiError(405, "Method Not Allowed")
        raise not_found()

    def _rate_key(self, request: Request) -> str:
        grant = self.auth.identify(request.header("Authorization"))
        return f"token:{grant.token.token}" if grant else "anonymous"

    def rate_headers(self, request: Request) -> dict[str, str]:
        """Rate-limit headers for an answer that does not count (faults)."""
        try:
            route, _params = self.match(request)
        except ApiError:
            return {}
        return self.limiter.peek(self._rate_key(request), route.operation)

    def handle(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            route, params = self.match(request)
            operation = route.operation
            key = self._rate_key(request)
            headers = self.limiter.peek(key, operation)
            grant = self.auth.authorize(request.header("Authorization"), route.scopes, public=route.public)
            if grant is not None:
                headers["X-OAuth-Scopes"] = grant.token.scopes
                # Recorded: comma-separated (X-OAuth-Scopes, the token's own, space-separated).
                headers["X-Accepted-OAuth-Scopes"] = ",".join(route.scopes) or "*"
            decision = self.limiter.check(key, operation)
            headers.update(decision.headers)
            if not decision.allowed:
                raise ApiError(429, "Too many requests")
            body = route.handler(self, request, params, grant)
            return Response(200, body, headers)
        except ApiError as error:
            return Response.from_error(error, headers)
