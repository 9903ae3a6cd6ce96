# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport: the one client factory, with a timeout on every request and our retry policy.

linode_api4 sends requests without a timeout (a hung server hangs the caller forever) and retries
POSTs blindly (a ``POST /images`` answered 502 after the server acted is sent again and makes a
second image). The factory here keeps the SDK's request building and error parsing, switches its
retries off, and sends every request through ``LinodeSession``, which adds:

* a timeout on every request (``request_timeout``);
* retries of GETs on 408, 429, 5xx and connection errors, and of any method on 429, with the
  jittered backoff of ``retries.RetryPolicy``, honouring ``Retry-After``, never past the deadline;
  a request that reaches no server at all (refused, unresolvable, unreachable) is retried only
  within ``request_timeout`` of its first attempt, so a wrong URL or a closed port fails fast;
* pacing: when an answer's ``X-RateLimit-Remaining`` says the token's budget is spent, the next
  request of the same operation waits for its ``X-RateLimit-Reset`` (``retries.pacing_delay``),
  never past the deadline, instead of being sent into a certain 429, so that several jobs on one
  token (the slices of a sliced AWX job) share its budget; an answer without those headers (the
  recorded API sends only ``X-RateLimit-Limit``) changes nothing;
* a count of requests by method, so a module can report what a run cost;
* the token's OAuth scopes, as the last answer told them (``X-OAuth-Scopes``).

Settings are checked before the client is built, so that a wrong one is named (with its
environment variable) instead of failing deep in ``requests``; the token is checked too, because
``requests`` quotes an invalid header value, the whole ``Bearer <token>``, in its error.
"""

from __future__ import annotations

import collections
import email.utils
import os
import re
import sys
import time
import traceback
from urllib.parse import urlsplit

from ansible_collections.golden_image.linode.plugins.module_utils.errors import (
    LinodeError,
    NoAnswer,
    describe_request,
    redact,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import (
    Deadline,
    RetryPolicy,
    pacing_delay,
    parse_header_number,
    parse_retry_after,
)

try:
    import requests
    from linode_api4 import ApiError, LinodeClient
except ImportError:
    HAS_LINODE_API4 = False
    LINODE_API4_IMPORT_ERROR = traceback.format_exc()
    LINODE_API4_VERSION = None
    _SessionBase = object
    ApiError = None
    LinodeClient = None
else:
    HAS_LINODE_API4 = True
    LINODE_API4_IMPORT_ERROR = None
    _SessionBase = requests.Session
    from importlib.metadata import PackageNotFoundError, version as _distribution_version
    try:
        LINODE_API4_VERSION = _distribution_version("linode_api4")
    except PackageNotFoundError:
        # A copy without its package metadata (vendored onto sys.path): its version cannot be told.
        LINODE_API4_VERSION = None

# The linode_api4 releases this transport works with, checked when a client is built (the
# requirements files give no cap, so that one collection does not hold back another's SDK in a
# shared execution environment). The floor is the release the collection is tested with. The
# ceiling is needed: build_client replaces the SDK's ``LinodeClient.session`` attribute, which is
# no documented interface; a major release that stopped sending requests through it would drop
# every timeout and the rule that a POST is never sent twice, without any error.
LINODE_API4_MINIMUM = (5, 48, 0)
LINODE_API4_BELOW = (6,)
LINODE_API4_REQUIRED = ">=%s,<%s" % (".".join(map(str, LINODE_API4_MINIMUM)), ".".join(map(str, LINODE_API4_BELOW)))

COLLECTION_NAME = "golden_image.linode"
COLLECTION_VERSION = "0.1.0"
USER_AGENT = "%s/%s" % (COLLECTION_NAME, COLLECTION_VERSION)

_VERSION_SEGMENT = re.compile(r"^v4(beta)?$")
# Where a token comes from when no option gives it, in this order. The last is a file's path,
# as AWX's file injector writes it: the token then never sits in a job's environment.
TOKEN_ENV_VARS = ("LINODE_TOKEN", "LINODE_API_TOKEN")
TOKEN_FILE_ENV_VAR = "LINODE_TOKEN_FILE"
# How an error about a setting names it: the option and the environment variables it falls back to.
TOKEN_SETTING = "api_token (or LINODE_TOKEN, LINODE_API_TOKEN, LINODE_TOKEN_FILE)"
URL_SETTING = "api_url (or LINODE_API_URL)"
CA_SETTING = "ca_path (or LINODE_CA)"
DEFAULT_API_URL = "https://api.linode.com"
# What a token may hold: printable ASCII without spaces (Linode's are 64 hex digits). Anything else
# cannot travel in a header unchanged, and requests would quote the header, token and all, in its error.
_TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+")
_CHARACTER_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
SCOPES_HEADER = "X-OAuth-Scopes"
# Pacing waits are stretched by a random share up to this, so that jobs paced by the same answer
# (one token's budget, read by several processes) do not all come back at the same instant.
PACE_JITTER = 0.2
# An operation, as rate limits count them: the method and the path with its ids folded
# (/v4/linode/instances/123/disks/456 -> /v4/linode/instances/N/disks/N; private/7 -> private/N).
_PATH_IDS = re.compile(r"/(?:private/)?\d+(?=/|$)")


def read_token_file(path: str) -> str:
    """The token a file holds, without the one line ending an editor or ``echo`` leaves after it."""
    try:
        with open(path, encoding="utf-8") as token_file:
            text = token_file.read()
    except OSError as exc:
        raise LinodeError("%s names %s, which cannot be read: %s" % (TOKEN_FILE_ENV_VAR, path, exc.strerror or exc),
                          field="api_token") from None
    except UnicodeDecodeError:
        raise LinodeError("%s names %s, which is not UTF-8 text" % (TOKEN_FILE_ENV_VAR, path), field="api_token") from None
    # Only one line ending goes: a second line, or spaces around the token, are refused by check_token
    # rather than guessed away, since they mean the file is not what its writer thought.
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[:-len(ending)]
            break
    if not text:
        raise LinodeError("%s names %s, which is empty: it should hold the API token" % (TOKEN_FILE_ENV_VAR, path),
                          field="api_token")
    return text


def find_token(api_token: str | None = None, environ=None) -> tuple:
    """``(token, where it came from)``: the option, else LINODE_TOKEN, LINODE_API_TOKEN, else LINODE_TOKEN_FILE's file.

    An empty value counts as unset, as an empty environment variable does. Raises ``LinodeError``
    naming the option and the variables when there is no token, or the file cannot give one.
    """
    if api_token:
        return api_token, "api_token"
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENV_VARS:
        if environ.get(name):
            return environ[name], name
    path = environ.get(TOKEN_FILE_ENV_VAR)
    if path:
        return read_token_file(path), "the file %s names (%s)" % (TOKEN_FILE_ENV_VAR, path)
    raise LinodeError("No Linode API token: set the api_token option, or LINODE_TOKEN (or LINODE_API_TOKEN) in the "
                      "environment, or LINODE_TOKEN_FILE to the path of a file that holds it", field="api_token")


def check_token(token: str, source: str = "api_token") -> None:
    """Refuse a token that holds whitespace, control or non-ASCII characters, without showing any of it."""
    if _TOKEN_CHARACTERS.fullmatch(token):
        return
    position, character = next((i, c) for i, c in enumerate(token, 1) if not _TOKEN_CHARACTERS.fullmatch(c))
    kind = _CHARACTER_NAMES.get(character) or (
        "a control character" if ord(character) < 0x20 or ord(character) == 0x7f else "a non-ASCII character")
    raise LinodeError(
        "The Linode API token from %s holds %s (character %d of %d), so it was not sent: a token is one word of "
        "printable ASCII characters. Check %s; the token is not shown." % (
            source, kind, position, len(token), TOKEN_SETTING),
        field="api_token")


def check_api_url(api_url: str) -> None:
    """Refuse an ``api_url`` requests could not send to, naming the option and what it takes."""
    problem = _url_problem(api_url)
    if problem:
        raise LinodeError(
            "%s must be an https:// or http:// URL with a host, such as %s or %s/v4; %r is not (%s)" % (
                URL_SETTING, DEFAULT_API_URL, DEFAULT_API_URL, api_url, problem),
            field="api_url")


def _url_problem(api_url: str) -> str | None:
    if re.search(r"[\s\x00-\x1f\x7f]", api_url):
        return "it holds whitespace or control characters"
    try:
        parts = urlsplit(api_url)
        parts.port  # pylint: disable=pointless-statement
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("https", "http"):
        return "it does not start with https:// or http://"
    if not parts.hostname:
        return "it names no host"
    if parts.query or parts.fragment:
        return "it has a query or a fragment"
    return None


def check_ca_path(ca_path: str | None) -> None:
    """Refuse a ``ca_path`` that names nothing readable (requests would fail on the first request, without naming it)."""
    if not ca_path:
        return
    if not (os.path.isfile(ca_path) or os.path.isdir(ca_path)) or not os.access(ca_path, os.R_OK):
        raise LinodeError("%s names %s, which is not a readable CA bundle file (or directory of CA certificates)"
                          % (CA_SETTING, ca_path), field="ca_path")


def api_base_url(api_url: str, api_version: str) -> str:
    """``https://api.linode.com`` + ``v4`` -> ``https://api.linode.com/v4``.

    An ``api_url`` that already ends in a version segment (``.../v4``, as the emulator prints it)
    is used as it is, so both spellings work.
    """
    base = api_url.rstrip("/")
    if _VERSION_SEGMENT.match(base.rsplit("/", 1)[-1]):
        return base
    return "%s/%s" % (base, api_version.strip("/"))


class LinodeSession(_SessionBase):
    """A ``requests.Session`` with a timeout on every request, bounded retries and a request count."""

    def __init__(self, request_timeout: float, deadline: Deadline, policy: RetryPolicy | None = None) -> None:
        super(LinodeSession, self).__init__()
        self.request_timeout = request_timeout
        self.deadline = deadline
        self.policy = policy or RetryPolicy()
        self.requests_by_method = collections.Counter()
        self.retries = 0
        self.responses_read = 0
        self.last_server_date = None
        self.last_oauth_scopes = None
        # Operation -> the deadline clock's time before which its next request is not sent.
        self.paced_until = {}
        self.paced = 0
        self.paced_s = 0.0

    def request(self, method, url, **kwargs):  # pylint: disable=arguments-differ
        kwargs["timeout"] = self.request_timeout
        # Attempts that reach no server share one request_timeout, from the first: retrying a closed
        # port for the whole task's deadline only delays the error.
        unreachable_budget = Deadline(self.request_timeout, self.deadline.clock)
        secret = _authorization(kwargs.get("headers"))
        operation = operation_of(method, url)
        attempt = 0
        while True:
            attempt += 1
            self._keep_pace(operation)
            self.requests_by_method[method.upper()] += 1
            response, failure = self._attempt(method, url, kwargs)
            if failure is not None:
                delay = self._delay_after_failure(method, failure, attempt, unreachable_budget)
                if delay is None:
                    raise self._describe_failure(method, url, failure, secret)
                self.deadline.sleep(delay)
                # The next attempt may connect only for what is left of the budget, then read as usual.
                kwargs["timeout"] = (max(0.01, unreachable_budget.remaining()), self.request_timeout)
                continue
            self._remember(response)
            self._pace(operation, response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self._delay_if_retryable(method, response.status_code, attempt, retry_after, self.deadline)
            if delay is None:
                return response
            response.close()
            self.deadline.sleep(delay)
            kwargs["timeout"] = self.request_timeout

    def _attempt(self, method, url, kwargs) -> tuple:
        """One try: ``(response, None)`` or ``(None, the exception)``.

        The exception is handled outside this ``except``, so that what the caller raises carries no
        chained exception, whose text (an invalid header's) could hold the token.
        """
        try:
            return super(LinodeSession, self).request(method, url, **kwargs), None
        except Exception as exc:  # pylint: disable=broad-except
            return None, exc

    def _delay_after_failure(self, method, failure, attempt, unreachable_budget):
        """The sleep before trying again after no answer came, or None to give up."""
        if not isinstance(failure, requests.exceptions.ConnectionError) or _is_timeout_or_tls(failure):
            return None
        # The earlier of the request's budget for reaching a server and the task's deadline.
        budget = unreachable_budget if unreachable_budget.remaining() < self.deadline.remaining() else self.deadline
        return self._delay_if_retryable(method, None, attempt, None, budget)

    def _describe_failure(self, method, url, failure, secret) -> LinodeError:
        """The error to raise for a request that got no answer, with the token scrubbed from any quoted text."""
        if isinstance(failure, LinodeError):
            return failure
        where = describe_request(method, url)
        reason = redact(_short_reason(failure), secret)
        if isinstance(failure, requests.exceptions.ReadTimeout):
            # The server took the request and did not answer: repeating it could double an action (or hang
            # again), so it ends here, within request_timeout.
            return NoAnswer("Linode API did not answer %s within %s s (request_timeout)" % (where, self.request_timeout))
        if isinstance(failure, requests.exceptions.SSLError):
            return NoAnswer("TLS failed for %s: %s. The CA bundle to trust is %s" % (where, reason, CA_SETTING),
                            field="ca_path")
        if isinstance(failure, requests.exceptions.ConnectionError):
            return NoAnswer("Could not reach the Linode API for %s within %s s (request_timeout): %s"
                            % (where, self.request_timeout, reason))
        return LinodeError("Could not send %s: %s: %s" % (where, type(failure).__name__, redact(str(failure), secret)))

    def _delay_if_retryable(self, method, status, attempt, retry_after, deadline):
        if not self.policy.is_retryable(method, status):
            return None
        delay = self.policy.next_delay(attempt, deadline, retry_after)
        if delay is not None:
            self.retries += 1
        return delay

    def _remember(self, response) -> None:
        """What every answer tells about the API: its clock and the token's scopes."""
        self.responses_read += 1
        self.last_server_date = response.headers.get("Date") or self.last_server_date
        scopes = response.headers.get(SCOPES_HEADER)
        if scopes is not None:
            self.last_oauth_scopes = scopes

    def _pace(self, operation: str, response) -> None:
        """Hold ``operation``'s next request until the reset when its answer says the token's budget for it is spent."""
        headers = response.headers
        remaining = parse_header_number(headers.get("X-RateLimit-Remaining"))
        reset = parse_header_number(headers.get("X-RateLimit-Reset"))
        if remaining is None or reset is None:
            return
        clock = self.deadline.clock
        wall = getattr(clock, "wall", time.time)
        delay = pacing_delay(remaining, reset - wall())
        if delay > 0:
            delay *= 1 + self.policy.rng.uniform(0, PACE_JITTER)
            self.paced_until[operation] = clock.now() + delay
        else:
            self.paced_until.pop(operation, None)

    def _keep_pace(self, operation: str) -> None:
        """Wait until ``operation`` may be sent again, never past the task's deadline."""
        until = self.paced_until.get(operation)
        if until is None:
            return
        wait = until - self.deadline.clock.now()
        if wait > 0:
            self.paced += 1
            self.paced_s += self.deadline.sleep(wait)

    def pacing(self) -> dict:
        """How often and how long this session waited to keep within the token's rate limits."""
        return {"waits": self.paced, "seconds": round(self.paced_s, 3)}

    def oauth_scopes(self) -> frozenset | None:
        """The token's scopes (``*`` for full access) from the last answer that said them, or None if none did."""
        if self.last_oauth_scopes is None:
            return None
        return frozenset(re.split(r"[\s,]+", self.last_oauth_scopes.strip())) - frozenset([""])

    def server_time(self) -> str | None:
        """The API's clock at its last answer, as Linode writes times (``2018-01-02T03:04:05``, UTC), or None.

        Events are filtered by ``created`` on the API's clock, never on this machine's, which may be off.
        """
        if not self.last_server_date:
            return None
        try:
            moment = email.utils.parsedate_to_datetime(self.last_server_date)
        except (TypeError, ValueError):
            return None
        if moment.utcoffset():
            moment = moment - moment.utcoffset()
        return moment.strftime("%Y-%m-%dT%H:%M:%S")

    def requests_count(self) -> dict:
        counts = dict(self.requests_by_method)
        counts["total"] = sum(self.requests_by_method.values())
        return counts


def operation_of(method: str, url: str) -> str:
    """``GET /v4/linode/instances/N/disks``: a request's method and path, ids folded, as rate limits count operations."""
    return "%s %s" % (method.upper(), _PATH_IDS.sub("/N", urlsplit(url).path))


def _authorization(headers) -> str | None:
    """The token a request carries (``Authorization: Bearer <token>``), to scrub from error texts."""
    value = (headers or {}).get("Authorization") or ""
    return value.split(" ", 1)[-1] if value else None


def _is_timeout_or_tls(exc: Exception) -> bool:
    """A connect timeout used the budget already; a certificate problem will not mend by itself."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(exc, requests.exceptions.SSLError) and bool(re.search(r"certificate|X509", str(exc), re.I))


def _short_reason(exc: Exception) -> str:
    """The innermost message of a connection error, which urllib3 wraps several times."""
    reason = exc
    while getattr(reason, "args", None) and isinstance(reason.args[0], Exception):
        reason = reason.args[0]
    text = str(getattr(reason, "reason", None) or reason)
    return text.split(": ", 1)[-1][:200]


def missing_scopes(granted, needed) -> list:
    """The scopes of ``needed`` that ``granted`` does not cover, in order.

    ``*`` covers everything; ``area:read_write`` covers ``area:read_only`` too.
    """
    granted = frozenset(granted)
    if "*" in granted:
        return []
    missing = []
    for scope in needed:
        area, _sep, level = scope.partition(":")
        covered = scope in granted or (level == "read_only" and "%s:read_write" % area in granted)
        if not covered and scope not in missing:
            missing.append(scope)
    return missing


def require_scopes(client, needed, purpose: str) -> None:
    """Raise ``LinodeError`` if the token lacks any of ``needed``, before a run does anything it cannot finish.

    The scopes come from the last answer's ``X-OAuth-Scopes``; with no answer read yet, ``GET /profile``
    (allowed for any token) asks. If the API does not say, nothing is checked.
    """
    session = client.session
    if session.oauth_scopes() is None and not session.responses_read:
        client.get("/profile")
    granted = session.oauth_scopes()
    if granted is None:
        return
    missing = missing_scopes(granted, needed)
    if missing:
        raise LinodeError(
            "The token lacks %s, needed to %s: its scopes are %s. Create a token with the missing scopes "
            "(Cloud Manager, API Tokens) and give it in %s" % (
                " and ".join(missing), purpose, " ".join(sorted(granted)) or "none", TOKEN_SETTING),
            field="api_token")


def check_linode_api4_version(installed: str | None) -> None:
    """Raises ``LinodeError`` naming the installed and the required linode_api4 when they do not match."""
    if installed is None:
        return
    numbers = [int(number) for number in re.findall(r"\d+", installed)][:3]
    release = tuple(numbers + [0] * (3 - len(numbers)))
    if LINODE_API4_MINIMUM <= release < LINODE_API4_BELOW:
        return
    raise LinodeError(
        "golden_image.linode needs linode_api4 %s, but the Python running it (%s) has linode_api4 %s: "
        "pip install 'linode_api4%s'" % (LINODE_API4_REQUIRED, sys.executable, installed, LINODE_API4_REQUIRED))


def build_client(api_token: str, api_url: str, api_version: str, ca_path: str | None,
                 request_timeout: float, deadline: Deadline, policy: RetryPolicy | None = None):
    """A ``linode_api4.LinodeClient`` whose every request goes through a ``LinodeSession``.

    Raises ``LinodeError`` naming the setting (or the linode_api4 release) at fault before anything is sent.
    """
    check_linode_api4_version(LINODE_API4_VERSION)
    check_token(api_token)
    api_url = api_url or DEFAULT_API_URL
    check_api_url(api_url)
    check_ca_path(ca_path)
    client = LinodeClient(
        api_token,
        base_url=api_base_url(api_url, api_version),
        user_agent=USER_AGENT,
        retry=False,
        ca_path=ca_path or None,
    )
    client.session = LinodeSession(request_timeout, deadline, policy)
    return client


def is_api_error(exc: Exception, status: int | None = None) -> bool:
    """Whether ``exc`` is an answer from the API (optionally with this status)."""
    if ApiError is None or not isinstance(exc, ApiError):
        return False
    return status is None or exc.status == status
