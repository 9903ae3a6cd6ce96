"""OpenAPI contract checker for the Linode API emulator's tests.

Every request a test sends to ``/v4/...`` or ``/v4beta/...`` and every response it gets back is
validated with openapi-core against Linode's official OpenAPI spec (``openapi.yaml``, read from
disk at run time and never copied into the project).

Typical use::

    from contract import attach, require_contract

    contract = require_contract()          # skips (or fails with CI=true) when the spec is absent
    session = attach(requests.Session())    # every exchange on it is validated
    client = LinodeClient(token, base_url=api_url, ca_path=ca_file)
    attach(client.session)                  # the SDK's own session, too
    with contract.guard():                  # fails the block if any violation was recorded,
        ...                                 # even one whose AssertionError a caller swallowed

Tests that send a deliberately invalid request (no token, an unknown body field, ...) wrap it in
``with contract.expect_invalid_request():``: the request must then fail validation, and the
response is still checked.

Speed: parsing the 3.6 MB YAML spec takes 1.2-1.8 s and validating the spec document another
2.4 s, so the parsed spec is cached as JSON under ``<repo>/.cache/openapi-contract/``, keyed by
the spec file's sha256 (the cache is git-ignored and rebuilt whenever the spec changes). Routing is
done here, once per request, and handed to openapi-core as a path pattern, so openapi-core does
not scan the spec's 254 paths on every call.

Where the spec is wrong or self-contradictory for something the real API does, the checker makes
a named, narrow allowance: see ``ALLOWANCES``. Nothing else is relaxed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from jsonschema.exceptions import ValidationError, best_match
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.templating.datatypes import TemplateResult
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.exceptions import OperationNotFound
from openapi_core.validation.request.exceptions import InvalidParameter, SecurityValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_ENV = "LINODE_OPENAPI_SPEC"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SPEC_PATH = REPO_ROOT.parent / "shared" / "linode-api" / "openapi.yaml"
CACHE_DIR = REPO_ROOT / ".cache" / "openapi-contract"
# Bump when the cached bundle's layout changes.
CACHE_FORMAT = 1

# Only these URL paths are checked; anything else (the emulator's /__emulator__/ control API,
# health checks, ...) is ignored.
_API_PATH = re.compile(r"^/(v4|v4beta)/")
# Image ids are "private/N" (and "linode/<slug>" for public images): the slash is part of the id,
# so "/v4/images/private/12/regions" is the {imageId} "private/12" followed by "/regions".
_IMAGE_ID = re.compile(r"^(/(?:v4|v4beta)/images/)((?:private|linode)/[^/]+)(/.*)?$")
_NAIVE_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\Z")
_MAX_LINE = 400


# --------------------------------------------------------------------------------------------
# Allowances: the only places where the checker departs from the letter of the spec.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Allowance:
    """One named, justified departure from the letter of the spec; ``Contract.allowance_hits`` counts its uses."""

    name: str
    kind: str  # "naive-date-time" | "json-header" | "schema-keyword" | "null" | "integer-id" | "undocumented-error-status" | "allof-sibling-properties"
    reason: str
    operations: tuple[str, ...] = ()  # "METHOD /{apiVersion}/..."; empty: every operation
    header: Optional[str] = None  # json-header: the header's name
    keyword: Optional[str] = None  # schema-keyword: the JSON Schema keyword the spec gets wrong...
    keyword_value: Any = None  # ...and that keyword's exact (bogus) value
    json_path: Optional[str] = None  # null / integer-id: regex on the JSON path of the value allowed
    properties: tuple[str, ...] = ()  # allof-sibling-properties: the properties another allOf branch declares


_CONFIG_OPERATIONS = ("GET /{apiVersion}/linode/instances/{linodeId}/configs",)
_LINODE_OPERATIONS = (
    "GET /{apiVersion}/linode/instances",
    "POST /{apiVersion}/linode/instances",
    "GET /{apiVersion}/linode/instances/{linodeId}",
    "PUT /{apiVersion}/linode/instances/{linodeId}",
)
_EVENT_OPERATIONS = ("GET /{apiVersion}/account/events", "GET /{apiVersion}/account/events/{eventId}")
_LIST_ITEM = r"^\$(\.data\[\d+\])?"  # a JSON path into a single object or into the items of a list page

ALLOWANCES: tuple[Allowance, ...] = (
    Allowance(
        name="naive-date-time",
        kind="naive-date-time",
        reason=(
            "The spec types timestamps as `format: date-time` (RFC 3339, which requires a UTC offset), "
            "yet its own examples, the SDK fixtures and the real API use offset-less UTC timestamps such "
            "as '2021-08-14T22:44:02'. Exactly that form is accepted in addition to RFC 3339."
        ),
    ),
    Allowance(
        name="x-filter-is-json",
        kind="json-header",
        header="X-Filter",
        reason=(
            "The spec declares the X-Filter header with `schema` (style simple), which has no JSON "
            "encoding, so openapi-core matches the raw JSON text against an object schema and always "
            "fails; its oneOf is also ambiguous (a '+and'/'+or' filter matches both branches). The "
            "header is JSON (the newer linode/linode-api-openapi spec declares it with `content: "
            "application/json`), so the checker instead requires it, on every operation, to be a JSON object."
        ),
    ),
    Allowance(
        name="config-root-device-pattern",
        kind="schema-keyword",
        keyword="pattern",
        keyword_value="a-z, A-Z, 0-9, /, _, -",
        reason=(
            "Config.root_device's `pattern` is a prose list of characters, not a regex: it only matches "
            "the literal text 'a-z, A-Z, 0-9, /, _, -', so the spec's own example '/dev/sda' fails it. "
            "Only that pattern is ignored; `type: string` still applies."
        ),
    ),
    Allowance(
        name="config-device-slot-null",
        kind="null",
        operations=_CONFIG_OPERATIONS,
        json_path=_LIST_ITEM + r"\.devices\.sd[a-h]$",
        reason=(
            "The API lists all eight device slots and sends null for an empty one ('sdc': null in the "
            "SDK fixture linode_instances_123_configs.json; linode_api4's Config._populate maps null "
            "slots to None); the spec types each slot as a non-nullable object."
        ),
    ),
    Allowance(
        name="config-device-volume-id-null",
        kind="null",
        operations=_CONFIG_OPERATIONS,
        json_path=_LIST_ITEM + r"\.devices\.sd[a-h]\.volume_id$",
        reason=(
            "A disk slot is {'disk_id': N, 'volume_id': null} (and a volume slot the reverse): the spec's "
            "own example and the SDK fixture show volume_id null, but the schema says non-nullable integer."
        ),
    ),
    Allowance(
        name="event-rate-null",
        kind="null",
        operations=_EVENT_OPERATIONS,
        json_path=_LIST_ITEM + r"\.rate$",
        reason=(
            "Event.rate is null for nearly every event: the spec's own example and the SDK fixture "
            "account_events_123.json are null, but the schema says non-nullable string."
        ),
    ),
    Allowance(
        name="event-secondary-entity-null",
        kind="null",
        operations=_EVENT_OPERATIONS,
        json_path=_LIST_ITEM + r"\.secondary_entity$",
        reason=(
            "Recorded traffic (linodego's go-vcr fixtures, e.g. TestEventPoller_InstancePower) sends "
            "'secondary_entity': null on linode_shutdown events; the spec types it as a non-nullable object."
        ),
    ),
    Allowance(
        name="event-duration-null-while-scheduled",
        kind="null",
        operations=_EVENT_OPERATIONS,
        json_path=_LIST_ITEM + r"\.duration$",
        reason=(
            "Recorded traffic shows a `scheduled` event (linode_boot, linode_create) with 'duration': null "
            "before it starts; the spec types Event.duration as a non-nullable number."
        ),
    ),
    Allowance(
        name="event-secondary-entity-integer-id",
        kind="integer-id",
        operations=_EVENT_OPERATIONS,
        json_path=_LIST_ITEM + r"\.secondary_entity\.id$",
        reason=(
            "Recorded traffic gives secondary_entity.id as an integer for images (33812167 for "
            "/v4/images/private/33812167, on disk_imagize) and configs (on linode_boot); the spec types the "
            "id as a string, which fits only ids such as 'linode/ubuntu22.04'. An integer is accepted there."
        ),
    ),
    Allowance(
        name="linode-image-null",
        kind="null",
        operations=_LINODE_OPERATIONS,
        json_path=_LIST_ITEM + r"\.image$",
        reason=(
            "Linode.image is `nullable: true` around an `allOf: [{type: string}]`, and openapi-core checks the "
            "allOf branch, which is not nullable, so the null the spec means to allow fails. Recorded traffic "
            "sends 'image': null for every instance created without an image (1,836 times in linodego's fixtures)."
        ),
    ),
    Allowance(
        name="linode-create-allof-additional-properties",
        kind="allof-sibling-properties",
        operations=("POST /{apiVersion}/linode/instances",),
        properties=(
            "backup_id", "backups_enabled", "firewall_id", "group", "interfaces", "label", "placement_group",
            "private_ip", "region", "swap_size", "tags", "type",
        ),
        reason=(
            "The request body of POST /linode/instances is an allOf of two objects, and the first says "
            "`additionalProperties: false`, so every body fails it with the second's properties, the required "
            "`type` and `region` included: the spec's own example does. Only an additionalProperties error at "
            "the body's top whose extra properties are all declared by the second branch is accepted; an "
            "unknown property still fails."
        ),
    ),
    Allowance(
        name="configs-list-error-statuses",
        kind="undocumented-error-status",
        operations=_CONFIG_OPERATIONS,
        reason=(
            "The only operation here whose responses lack the `default` error response (just 200 is "
            "listed), yet the API answers 401/403/404/429 there like everywhere else. 4xx/5xx are "
            "accepted, and must still be Linode ErrorObject JSON."
        ),
    ),
)


# --------------------------------------------------------------------------------------------
# Locating and loading the spec
# --------------------------------------------------------------------------------------------


def spec_path() -> Path:
    """Where the spec is expected: $LINODE_OPENAPI_SPEC, else <repo>/../shared/linode-api/openapi.yaml."""
    env = os.environ.get(SPEC_ENV)
    return Path(env).expanduser() if env else DEFAULT_SPEC_PATH


def _yaml_loader() -> type:
    """A safe YAML loader (libyaml when available) that keeps timestamps as strings, like JSON."""
    import yaml  # pylint: disable=import-outside-toplevel

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc,valid-type]  # pylint: disable=too-many-ancestors
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return _Loader


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    body = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{body}$")


def _build_bundle(raw: bytes, sha256: str) -> dict[str, Any]:
    """Parse and check the spec once; what is returned is cached as JSON."""
    import yaml  # pylint: disable=import-outside-toplevel
    from openapi_spec_validator import validate  # pylint: disable=import-outside-toplevel

    spec = yaml.load(raw, Loader=_yaml_loader())  # nosec B506 - a SafeLoader subclass
    # JSON round trip: the same plain data whether it comes from here or from the cache.
    spec = json.loads(json.dumps(spec))
    validate(spec)  # the spec document itself must be valid OpenAPI (2.4 s, once per spec)
    error_object = spec.get("components", {}).get("schemas", {}).get("error-object")
    if not isinstance(error_object, dict):
        raise ValueError("the spec has no components/schemas/error-object")
    servers = spec.get("servers") or [{"url": "https://api.linode.com"}]
    return {
        "format": CACHE_FORMAT,
        "spec_sha256": sha256,
        "version": spec.get("info", {}).get("version"),
        "server": servers[0]["url"].rstrip("/"),
        "error_object": error_object,
        "spec": spec,
    }


def _load_bundle(spec_file: Path, cache_dir: Optional[Path]) -> tuple[dict[str, Any], bool]:
    raw = spec_file.read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    cache_file = cache_dir / f"linode-openapi-{sha256}-v{CACHE_FORMAT}.json" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        try:
            bundle = json.loads(cache_file.read_bytes())
            if bundle.get("spec_sha256") == sha256 and bundle.get("format") == CACHE_FORMAT:
                return bundle, True
        except (OSError, ValueError):
            pass  # a broken cache entry is rebuilt below
    bundle = _build_bundle(raw, sha256)
    if cache_file is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            # Atomic: parallel pytest workers may build the same entry at once.
            fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(bundle, handle, separators=(",", ":"))
                os.chmod(tmp, 0o644)
                os.replace(tmp, cache_file)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError:
            pass  # read-only checkout: work without the cache
    return bundle, False


# --------------------------------------------------------------------------------------------
# Adapters between requests and openapi-core
# --------------------------------------------------------------------------------------------


class _RoutedPathFinder:
    """openapi-core path finder for requests the contract has already routed.

    The request object carries ``path_pattern`` (the spec's template), so finding the operation is a
    dictionary lookup instead of a regex scan over every path of the spec.
    """

    def __init__(self, spec: Any, base_url: Optional[str] = None):
        self.spec = spec
        self.base_url = base_url

    def find(self, method: str, name: str) -> PathOperationServer:
        # name is urljoin(server, path_pattern): the server URL followed by the template.
        template = "/" + urlsplit(name).path.lstrip("/") if "://" in name else name
        path = self.spec / "paths" / template
        if not path.exists() or method not in path:
            raise OperationNotFound(name, method)
        return PathOperationServer(path, path / method, None, TemplateResult(template, {}), TemplateResult("", {}))


class _OAuth2BearerProvider(BaseProvider):  # pylint: disable=too-few-public-methods
    """OAuth 2 access tokens travel as ``Authorization: Bearer <token>`` (RFC 6750).

    openapi-core does not check oauth2 schemes at all (it warns and accepts any request), which would
    let a request without credentials pass as the spec's ``oauth`` alternative. Scopes cannot be
    checked from the client side.
    """

    def __call__(self, parameters: RequestParameters) -> Any:
        kind, _sep, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("no 'Authorization: Bearer <token>' header")
        return token


class _SecurityProviderFactory(SecurityProviderFactory):  # pylint: disable=too-few-public-methods
    PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": _OAuth2BearerProvider}


class _OpenAPIRequest:  # pylint: disable=too-few-public-methods
    """A requests.PreparedRequest seen as openapi-core's Request, already routed."""

    def __init__(self, prepared: requests.PreparedRequest, server: str, template: str, variables: dict[str, str]):
        url = urlsplit(prepared.url or "")
        self.host_url = server
        self.path = template
        self.path_pattern = template
        self.method = (prepared.method or "").lower()
        headers = Headers(dict(prepared.headers))
        self.parameters = RequestParameters(
            path=variables,
            query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
            header=headers,
            cookie=ImmutableMultiDict(),
        )
        body = prepared.body
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = headers.get("Content-Type", "")


class _OpenAPIResponse:  # pylint: disable=too-few-public-methods
    def __init__(self, response: requests.Response):
        self.status_code = int(response.status_code)
        self.data = response.content or b""
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "")


# --------------------------------------------------------------------------------------------
# Violations and their messages
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Violation:
    """One exchange that did not validate."""

    method: str
    url: str
    status: Optional[int]
    operation: Optional[str]
    problems: list[str]

    def __str__(self) -> str:
        path = urlsplit(self.url)
        target = path.path + (f"?{path.query}" if path.query else "")
        head = f"OpenAPI contract violation: {self.method} {target} -> {self.status}"
        if self.operation:
            head += f"  [{self.operation}]"
        return "\n".join([head] + [f"  - {p}" for p in self.problems])


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 3] + "..."


def _schema_error_line(where: str, error: ValidationError) -> str:
    line = f"{where} {error.json_path}: {error.message}"
    if error.context:
        closest = best_match(error.context)
        line += f" (closest: {closest.json_path}: {closest.message})"
    return _short(line)


def _exception_chain(exc: Optional[BaseException]) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


class Contract:
    """Validates requests/responses exchanged with a Linode API (or the emulator) against the spec."""

    def __init__(self, spec_file: Optional[os.PathLike[str] | str] = None, *, cache_dir: Optional[Path] = CACHE_DIR):
        started = time.perf_counter()
        self.spec_file = Path(spec_file) if spec_file is not None else spec_path()
        bundle, self.loaded_from_cache = _load_bundle(self.spec_file, cache_dir)
        self.spec_sha256: str = bundle["spec_sha256"]
        self.version: Optional[str] = bundle["version"]
        self._server: str = bundle["server"]
        spec = bundle["spec"]
        self._operations: dict[tuple[str, str], dict[str, Any]] = {}
        self._static: dict[str, str] = {}
        routes = []
        for template, item in spec["paths"].items():
            for method, operation in item.items():
                if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                    self._operations[(method.upper(), template)] = operation
            if "{" in template.replace("{apiVersion}", ""):
                routes.append((template.count("{"), template, _template_regex(template)))
            else:
                self._static[template] = template
        # Fewer variables first: the most concrete template wins, as in openapi-core.
        self._routes = [(template, regex) for _count, template, regex in sorted(routes, key=lambda r: r[0])]
        self._app = OpenAPI.from_dict(
            spec,
            config=Config(
                spec_validator_cls=None,  # validated once, when the cache entry was built
                path_finder_cls=_RoutedPathFinder,
                security_provider_factory=_SecurityProviderFactory(),
                extra_format_validators={"date-time": self._check_date_time},
            ),
        )
        # Linode's error envelope. The item schema is the spec's own error-object; that `errors` is
        # present and non-empty and that every error has a `reason` is what the API docs
        # ("Errors") and linode_api4 (ApiError reads errors[].reason) rely on.
        self._error_envelope = OAS30Validator(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"allOf": [bundle["error_object"], {"required": ["reason"]}]},
                    }
                },
            }
        )
        self._lock = threading.RLock()
        self._local = threading.local()
        self.violations: list[Violation] = []
        self.checked = 0
        self.coverage: Counter[str] = Counter()
        self.allowance_hits: Counter[str] = Counter()
        self.load_seconds = time.perf_counter() - started

    # ---- routing -----------------------------------------------------------------------------

    @staticmethod
    def spec_path_for(url_path: str) -> str:
        """The URL path with an image id's slash escaped: ``/v4/images/private/1/regions`` ->
        ``/v4/images/private%2F1/regions``, so that ``private/1`` fills the spec's ``{imageId}``."""
        match = _IMAGE_ID.match(url_path)
        if match:
            return f"{match.group(1)}{match.group(2).replace('/', '%2F')}{match.group(3) or ''}"
        return url_path

    def route(self, method: str, url_path: str) -> tuple[Optional[str], dict[str, str]]:
        """The spec template for a URL path, and its (decoded) variables.

        ``route("GET", "/v4/images/private/1")`` -> ``("/{apiVersion}/images/{imageId}",
        {"apiVersion": "v4", "imageId": "private/1"})``. A static path wins over templates, then
        the template with the fewest variables; a template that has ``method`` wins over one that
        has not. ``(None, {})`` when no path of the spec matches.
        """
        routed = self.spec_path_for(url_path)
        version, _sep, rest = routed.lstrip("/").partition("/")
        candidates: list[tuple[str, dict[str, str]]] = []
        static = "/{apiVersion}/" + rest
        if static in self._static:
            candidates.append((static, {"apiVersion": version}))
        for template, regex in self._routes:
            match = regex.match(routed)
            if match:
                candidates.append((template, {k: unquote(v) for k, v in match.groupdict().items()}))
        for template, variables in candidates:
            if (method.upper(), template) in self._operations:
                return template, variables
        return candidates[0] if candidates else (None, {})

    # ---- checking ----------------------------------------------------------------------------

    def check_exchange(
        self, request: requests.PreparedRequest, response: Optional[requests.Response]
    ) -> Optional[Violation]:
        """Validate one exchange; return the Violation (not recorded, not raised) or None."""
        url = request.url or ""
        url_path = urlsplit(url).path
        if not _API_PATH.match(url_path):
            return None
        method = (request.method or "GET").upper()
        status = int(response.status_code) if response is not None else None
        template, variables = self.route(method, url_path)
        operation = self._operations.get((method, template)) if template else None
        op_name = f"{method} {template}" if operation is not None else None
        request_problems: list[str] = []
        response_problems: list[str] = []

        with self._lock:
            self.checked += 1
            self._check_json_headers(request, request_problems)
            if template is None:
                request_problems.append(f"request: no path of the spec (v{self.version}) matches {url_path}")
            elif operation is None:
                allowed = sorted(m for (m, t) in self._operations if t == template)
                request_problems.append(
                    f"request: {method} is not an operation of {template} (spec has: {', '.join(allowed)})"
                )
            else:
                self.coverage[f"{op_name} {status}"] += 1
                oa_request = _OpenAPIRequest(request, self._server, template, variables)
                for exc in self._app.request_validator.iter_errors(oa_request):
                    request_problems.extend(self._describe(exc, "request", op_name))
                if response is not None:
                    self._check_response(oa_request, response, operation, op_name, response_problems)
            if response is not None and status >= 400:
                self._check_error_envelope(response, response_problems)

        expecting = getattr(self._local, "expecting", None)
        if expecting is not None:
            expecting.append(request_problems)
            request_problems = []
        problems = request_problems + response_problems
        if not problems:
            return None
        return Violation(method, url, status, op_name, problems)

    def validate_exchange(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Raise AssertionError (and record the violation) if the exchange does not validate."""
        violation = self.check_exchange(request, response)
        if violation is not None:
            self.violations.append(violation)
            raise AssertionError(str(violation))

    def _check_json_headers(self, request: requests.PreparedRequest, problems: list[str]) -> None:
        for allowance in ALLOWANCES:
            if allowance.kind != "json-header" or allowance.header not in request.headers:
                continue
            text = request.headers[allowance.header]
            try:
                value = json.loads(text)
            except ValueError as exc:
                problems.append(_short(f"request header {allowance.header}: not JSON ({exc}): {text!r}"))
                continue
            if not isinstance(value, dict):
                problems.append(_short(f"request header {allowance.header}: must be a JSON object, got {text!r}"))

    def _check_response(
        self,
        oa_request: _OpenAPIRequest,
        response: requests.Response,
        operation: dict[str, Any],
        op_name: str,
        problems: list[str],
    ) -> None:
        status = int(response.status_code)
        responses = operation.get("responses", {})
        documented = sorted(responses)
        if str(status) in responses or f"{str(status)[0]}XX" in responses:
            pass
        elif status >= 400 and "default" in responses:
            pass  # Linode's `default` response is its error response: it covers error statuses only
        elif status >= 400 and self._allowed_error_status(op_name):
            return  # no documented schema to check against: the ErrorObject check still applies
        else:
            note = "; `default` is Linode's error response and covers 4xx/5xx only" if "default" in responses else ""
            problems.append(
                f"response: status {status} is not documented for {op_name} (documented: {', '.join(documented)}{note})"
            )
            return
        for exc in self._app.response_validator.iter_errors(oa_request, _OpenAPIResponse(response)):
            problems.extend(self._describe(exc, "response", op_name))

    def _allowed_error_status(self, op_name: str) -> bool:
        for allowance in ALLOWANCES:
            if allowance.kind == "undocumented-error-status" and op_name in allowance.operations:
                self.allowance_hits[allowance.name] += 1
                return True
        return False

    def _check_error_envelope(self, response: requests.Response, problems: list[str]) -> None:
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type.lower():
            problems.append(
                f"response: error status {response.status_code} must carry a JSON ErrorObject body, got Content-Type {content_type!r}"
            )
            return
        try:
            body = json.loads(response.content or b"")
        except ValueError as exc:
            problems.append(f"response: error body is not valid JSON ({exc})")
            return
        for error in sorted(self._error_envelope.iter_errors(body), key=lambda e: list(e.absolute_path)):
            problems.append(
                _schema_error_line(
                    "response error body (Linode ErrorObject shape {'errors': [{'field'?, 'reason'}]})", error
                )
            )

    def _describe(self, exc: BaseException, side: str, op_name: Optional[str]) -> list[str]:
        """Readable lines for one openapi-core error, minus what an allowance covers."""
        name = getattr(exc, "name", None)
        location = getattr(exc, "location", None)
        if isinstance(exc, InvalidParameter) and location == "header":
            for allowance in ALLOWANCES:
                if allowance.kind == "json-header" and (allowance.header or "").lower() == str(name).lower():
                    self.allowance_hits[allowance.name] += 1
                    return []  # checked by _check_json_headers instead
        chain = list(_exception_chain(exc))
        # The outer error names what failed ("Invalid path parameter: eventId"), the deepest cause why.
        outer, deepest = (re.sub(r"^\w+: ", "", str(e)) or type(e).__name__ for e in (chain[0], chain[-1]))
        cause = outer if outer == deepest else f"{outer}: {deepest}"
        if isinstance(exc, SecurityValidationError):
            return [_short(f"request: credentials: the operation requires 'Authorization: Bearer <token>' ({cause})")]
        schema_errors = [e for item in chain for e in (getattr(item, "schema_errors", None) or ())]
        if not schema_errors:
            return [_short(f"{side}: {cause}")]
        kept = [e for e in schema_errors if not self._allowed_schema_error(e, op_name)]
        if name and location:
            where = f"{side} {location} parameter {name!r}"
        elif name:
            where = f"{side} header {name!r}"
        else:
            where = f"{side} body"
        return [_schema_error_line(where, e) for e in kept]

    def _allowed_schema_error(self, error: ValidationError, op_name: Optional[str]) -> bool:
        for allowance in ALLOWANCES:
            if allowance.operations and op_name not in allowance.operations:
                continue
            if allowance.kind == "schema-keyword":
                allowed = error.validator == allowance.keyword and error.validator_value == allowance.keyword_value
            elif allowance.kind == "integer-id":
                allowed = (
                    error.validator == "type"
                    and error.validator_value == "string"
                    and isinstance(error.instance, int)
                    and not isinstance(error.instance, bool)
                    and re.search(allowance.json_path or "(?!)", error.json_path) is not None
                )
            elif allowance.kind == "allof-sibling-properties":
                declared = set((error.schema or {}).get("properties") or ()) if isinstance(error.schema, dict) else set()
                extra = set(error.instance) - declared if isinstance(error.instance, dict) else None
                allowed = (
                    error.validator == "additionalProperties"
                    and error.validator_value is False
                    and error.json_path == "$"
                    and extra is not None
                    and extra <= set(allowance.properties)
                )
            elif allowance.kind == "null":
                # openapi-schema-validator reports a null for a non-nullable schema under `type`
                # ("None for not nullable", "None is not of type ...").
                allowed = (
                    error.validator == "type"
                    and error.instance is None
                    and re.search(allowance.json_path or "(?!)", error.json_path) is not None
                )
            else:
                continue
            if allowed:
                self.allowance_hits[allowance.name] += 1
                return True
        return False

    def _check_date_time(self, instance: Any) -> bool:
        """``format: date-time``: RFC 3339, or (allowance naive-date-time) the API's offset-less form."""
        if oas30_format_checker.conforms(instance, "date-time"):
            return True
        if _NAIVE_DATE_TIME.match(instance):
            try:
                datetime.fromisoformat(instance)
            except ValueError:
                return False
            self.allowance_hits["naive-date-time"] += 1
            return True
        return False

    # ---- hooks and bookkeeping ----------------------------------------------------------------

    def _hook(
        self, response: requests.Response, *args: Any, **kwargs: Any
    ) -> requests.Response:  # pylint: disable=unused-argument
        self.validate_exchange(response.request, response)
        return response

    def attach(self, session: requests.Session) -> requests.Session:
        """Validate every exchange of ``session`` (idempotent)."""
        hooks = session.hooks.setdefault("response", [])
        if self._hook not in hooks:
            hooks.append(self._hook)
        return session

    @contextlib.contextmanager
    def expect_invalid_request(self) -> Iterator[list[list[str]]]:
        """For deliberately invalid requests in this thread: their request problems are expected.

        Responses are still checked. Leaving the block raises AssertionError unless at least one
        request inside it was in fact invalid. Yields the list of per-request problem lists.
        """
        outer = getattr(self._local, "expecting", None)
        seen: list[list[str]] = []
        self._local.expecting = seen
        try:
            yield seen
        finally:
            self._local.expecting = outer
        if not any(seen):
            raise AssertionError(
                f"expect_invalid_request(): none of the {len(seen)} API request(s) in the block violated the spec"
            )

    def assert_no_violations(self, since: int = 0) -> None:
        """Raise AssertionError listing every violation recorded from index ``since`` on."""
        found = self.violations[since:]
        if found:
            raise AssertionError(f"{len(found)} OpenAPI contract violation(s):\n" + "\n".join(str(v) for v in found))

    @contextlib.contextmanager
    def guard(self) -> Iterator["Contract"]:
        """Fail when leaving the block if any exchange inside it violated the contract."""
        start = len(self.violations)
        yield self
        self.assert_no_violations(since=start)


# --------------------------------------------------------------------------------------------
# Process-wide access
# --------------------------------------------------------------------------------------------


class ContractSkipped(UserWarning):
    """Warned when contract checks are skipped because the spec is absent."""


_CONTRACTS: dict[str, Contract] = {}
_CONTRACTS_LOCK = threading.Lock()


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_contract() -> Contract:
    """The process-wide Contract; skip the test when the spec is absent (fail instead under CI=true)."""
    import pytest  # pylint: disable=import-outside-toplevel

    path = spec_path()
    if not path.is_file():
        how = f"set {SPEC_ENV} or place it at {DEFAULT_SPEC_PATH}"
        reason = f"Linode OpenAPI spec not found at {path} ({how}): contract checks cannot run"
        if _ci():
            pytest.fail(f"{reason}; CI=true, so this must not be skipped", pytrace=False)
        # A warning shows in pytest's summary even without -rs, so the skip cannot go unnoticed.
        warnings.warn(ContractSkipped(reason), stacklevel=2)
        pytest.skip(reason)
    key = str(path.resolve())
    with _CONTRACTS_LOCK:
        if key not in _CONTRACTS:
            _CONTRACTS[key] = Contract(path)
        return _CONTRACTS[key]


def attach(session: requests.Session, contract: Optional[Contract] = None) -> requests.Session:
    """Validate every exchange of ``session`` (e.g. ``LinodeClient(...).session``) against the spec."""
    return (contract or require_contract()).attach(session)
