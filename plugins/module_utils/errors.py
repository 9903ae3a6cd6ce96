# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error type for what a user must read, and one formatter for API failures.

Every failure a module reports is a single readable line: never a traceback, never a header,
so never the token.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit


# A run of whitespace that breaks a line: API error bodies may carry "\r\n", and a reason is shown on one line.
_LINE_BREAKS = re.compile(r"[^\S\r\n]*[\r\n]\s*")


def one_line(text):
    """``text`` with every run of whitespace that holds a line break (``\\r`` or ``\\n``) made one space."""
    return _LINE_BREAKS.sub(" ", text) if isinstance(text, str) else text


class LinodeError(Exception):
    """A failure to report as it is, on one line: ``field`` names the option at fault, when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        message = one_line(message)
        super(LinodeError, self).__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class NoAnswer(LinodeError):
    """A request got no answer (timeout, refused or reset connection): it may or may not have acted."""


def describe_request(method: str, url: str) -> str:
    """``POST /v4/images``: method and path only, never the query, headers or body."""
    return "%s %s" % (method.upper(), urlsplit(url or "").path or "?")


def format_api_error(error) -> str:
    """``Linode API 400 on POST /v4/images: disk_id: <reason>`` for an ``ApiError``.

    Works on anything with ``status``, ``json`` and ``response`` attributes (linode_api4's
    ApiError), and falls back to ``str()`` for everything else.
    """
    return one_line(_describe_api_error(error))


def _describe_api_error(error) -> str:
    status = getattr(error, "status", None)
    response = getattr(error, "response", None)
    if status is None:
        return str(error)
    request = getattr(response, "request", None)
    body = getattr(error, "json", None) or {}
    reasons = []
    for item in body.get("errors", []) if isinstance(body, dict) else []:
        if not isinstance(item, dict):
            continue
        reason = (item.get("reason") or "").strip() or "no reason given"
        reasons.append("%s: %s" % (item["field"], reason) if item.get("field") else reason)
    if not reasons:
        text = (getattr(response, "text", "") or "").strip()
        reasons.append(text[:200] if text else "no details given")
    where = describe_request(request.method, request.url) if request is not None else "a request"
    return "Linode API %s on %s: %s" % (status, where, "; ".join(reasons))


MASK = "********"
# Shorter fragments of a secret are too common to mask without garbling the text around them.
_MIN_SECRET_LENGTH = 4
# An Authorization header's value quoted in an error, up to the quote or line end that closes it.
_BEARER = re.compile(r"(Bearer[ ]+)[^'\"\r\n]+")


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that is about to be shown, as a last line of defence.

    The secret goes however it was quoted (as it is, escaped by ``repr()`` or JSON, or cut at a line
    break or space, as an invalid header value is), and so does any ``Bearer <value>``.
    """
    if not text:
        return text
    for form in _secret_forms(secret):
        text = text.replace(form, MASK)
    return _BEARER.sub(r"\g<1>" + MASK, text)


def _secret_forms(secret: str | None) -> list:
    """The ways ``secret`` can appear in a text, longest first so that a whole one goes before its parts."""
    if not secret:
        return []
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], secret.encode("unicode_escape").decode("ascii")}
    forms.update(re.split(r"[\s\x00-\x1f\x7f]+", secret))
    return sorted((form for form in forms if len(form) >= _MIN_SECRET_LENGTH), key=len, reverse=True)
