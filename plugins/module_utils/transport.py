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
* a count of requests by method, so a module can report what a run cost.
"""

from __future__ import annotations

import collections
import email.utils
import os
import re
import traceback

from ansible_collections.golden_image.linode.plugins.module_utils.errors import (
    NoAnswer,
    describe_request,
)
from ansible_collections.golden_image.linode.plugins.module_utils.retries import (
    Deadline,
    RetryPolicy,
    parse_retry_after,
)

try:
    import requests
    from linode_api4 import ApiError, LinodeClient
except ImportError:
    HAS_LINODE_API4 = False
    LINODE_API4_IMPORT_ERROR = traceback.format_exc()
    _SessionBase = object
    ApiError = None
    LinodeClient = None
else:
    HAS_LINODE_API4 = True
    LINODE_API4_IMPORT_ERROR = None
    _SessionBase = requests.Session

COLLECTION_NAME = "golden_image.linode"
COLLECTION_VERSION = "0.1.0"
USER_AGENT = "%s/%s" % (COLLECTION_NAME, COLLECTION_VERSION)

_VERSION_SEGMENT = re.compile(r"^v4(beta)?$")
# Where a token comes from when no option gives it, in this order. The last is a file's path,
# as AWX's file injector writes it: the token then never sits in a job's environment.
TOKEN_ENV_VARS = ("LINODE_TOKEN", "LINODE_API_TOKEN")
TOKEN_FILE_ENV_VAR = "LINODE_TOKEN_FILE"


def token_from_environment(environ=None) -> str | None:
    """The API token from LINODE_TOKEN, LINODE_API_TOKEN, or the file LINODE_TOKEN_FILE names; else None."""
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENV_VARS:
        if environ.get(name):
            return environ[name]
    path = environ.get(TOKEN_FILE_ENV_VAR)
    if path:
        with open(path, encoding="utf-8") as token_file:
            return token_file.read().strip() or None
    return None


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
        self.last_server_date = None

    def request(self, method, url, **kwargs):  # pylint: disable=arguments-differ
        kwargs["timeout"] = self.request_timeout
        attempt = 0
        while True:
            attempt += 1
            self.requests_by_method[method.upper()] += 1
            try:
                response = super(LinodeSession, self).request(method, url, **kwargs)
            except requests.exceptions.ReadTimeout as exc:
                # The server took the request and did not answer: repeating it could double an
                # action (or hang again), so it ends here, within request_timeout.
                raise NoAnswer(
                    "Linode API did not answer %s within %s s (request_timeout)"
                    % (describe_request(method, url), self.request_timeout)
                ) from None
            except requests.exceptions.ConnectionError as exc:
                delay = self._delay_if_retryable(method, None, attempt, None)
                if delay is None:
                    raise NoAnswer(
                        "Could not reach the Linode API for %s: %s" % (describe_request(method, url), _short_reason(exc))
                    ) from None
                self.deadline.sleep(delay)
                continue
            self.last_server_date = response.headers.get("Date") or self.last_server_date
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = self._delay_if_retryable(method, response.status_code, attempt, retry_after)
            if delay is None:
                return response
            response.close()
            self.deadline.sleep(delay)

    def _delay_if_retryable(self, method, status, attempt, retry_after):
        if not self.policy.is_retryable(method, status):
            return None
        delay = self.policy.next_delay(attempt, self.deadline, retry_after)
        if delay is not None:
            self.retries += 1
        return delay

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


def _short_reason(exc: Exception) -> str:
    """The innermost message of a connection error, which urllib3 wraps several times."""
    reason = exc
    while getattr(reason, "args", None) and isinstance(reason.args[0], Exception):
        reason = reason.args[0]
    text = str(getattr(reason, "reason", None) or reason)
    return text.split(": ", 1)[-1][:200]


def build_client(api_token: str, api_url: str, api_version: str, ca_path: str | None,
                 request_timeout: float, deadline: Deadline, policy: RetryPolicy | None = None):
    """A ``linode_api4.LinodeClient`` whose every request goes through a ``LinodeSession``."""
    client = LinodeClient(
        api_token,
        base_url=api_base_url(api_url, api_version),
        user_agent=USER_AGENT,
        retry=False,
        ca_path=ca_path,
    )
    client.session = LinodeSession(request_timeout, deadline, policy)
    return client


def is_api_error(exc: Exception, status: int | None = None) -> bool:
    """Whether ``exc`` is an answer from the API (optionally with this status)."""
    if ApiError is None or not isinstance(exc, ApiError):
        return False
    return status is None or exc.status == status
