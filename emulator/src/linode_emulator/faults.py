"""Injected faults: make the API fail the way networks and proxies do.

Rules are posted to ``POST /__emulator__/faults`` as ``{"rules": [...]}`` and
add up until ``DELETE /__emulator__/faults``. A rule selects requests with
``method`` (optional; any if absent) and ``path`` (a regex searched in the
request path), and says how often with ``times`` (the next N matches) and/or
``probability`` (0..1); with neither it fires on every match. ``skip`` lets
that many matches through first (to fault the second capture of a batch, not
the first). What happens:

* ``status`` (+ optional ``retry_after`` seconds, and an optional ``reason``
  such as ``"Linode busy."``): answer that status with a Linode-style error body;
* ``delay_s``: wait that many seconds first;
* ``reset``: close the connection without answering;
* ``hang``: never answer (until the client gives up or the emulator stops);
* ``after_effect: true``: perform the request first, then answer with the
  fault, so the server acted but the client saw an error.

``delay_s`` and ``retry_after`` are real seconds, not divided by ``--speed``:
they describe what the client sees on the wire, chosen by the test.

Rules are tried in order. Every rule that matches and fires is used up; delays
add up, and the first rule with an answer (status, reset or hang) decides it.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

RULE_KEYS = (
    "method", "path", "times", "probability", "status", "retry_after", "reason", "delay_s", "reset", "hang",
    "after_effect", "skip",
)

REASONS = {
    400: "Bad Request",
    401: "Invalid Token",
    403: "Unauthorized",
    404: "Not found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FaultRuleError(ValueError):
    """A posted rule is malformed; the control API answers 400 with this message."""


@dataclass
class FaultRule:
    raw: dict[str, Any]
    path: re.Pattern[str]
    method: str | None = None
    times: int | None = None
    probability: float | None = None
    status: int | None = None
    retry_after: int | None = None
    reason: str | None = None
    delay_s: float = 0.0
    reset: bool = False
    hang: bool = False
    after_effect: bool = False
    skip: int = 0
    skipped: int = 0
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def describe(self) -> dict[str, Any]:
        body = dict(self.raw)
        body["fired"] = self.fired
        return body


@dataclass
class FaultAction:
    """The combined effect of the rules that fired for one request."""

    delay_s: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    reason: str | None = None
    reset: bool = False
    hang: bool = False
    after_effect: bool = False
    rules: list[FaultRule] = field(default_factory=list)

    @property
    def answers(self) -> bool:
        return self.status is not None or self.reset or self.hang

    def error_body(self) -> dict[str, Any]:
        reason = self.reason or REASONS.get(self.status or 0, "Emulated fault")
        return {"errors": [{"reason": reason}]}


def _number(rule: dict[str, Any], key: str, *, integer: bool = False, minimum: float = 0) -> Any:
    value = rule[key]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        raise FaultRuleError(f"{key} must be {'an integer' if integer else 'a number'} >= {minimum}, got {value!r}")
    return value


def parse_rule(raw: Any) -> FaultRule:
    if not isinstance(raw, dict):
        raise FaultRuleError("each rule must be an object")
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise FaultRuleError(f"unknown rule key(s): {', '.join(unknown)}")
    path = raw.get("path", ".*")
    if not isinstance(path, str):
        raise FaultRuleError("path must be a regex string")
    try:
        pattern = re.compile(path)
    except re.error as exc:
        raise FaultRuleError(f"path is not a valid regex: {exc}") from None
    method = raw.get("method")
    if method is not None and not isinstance(method, str):
        raise FaultRuleError("method must be a string")
    for flag in ("reset", "hang", "after_effect"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise FaultRuleError(f"{flag} must be true or false")
    rule = FaultRule(
        raw=dict(raw),
        path=pattern,
        method=method.upper() if method else None,
        times=_number(raw, "times", integer=True, minimum=1) if "times" in raw else None,
        probability=_number(raw, "probability") if "probability" in raw else None,
        status=_number(raw, "status", integer=True, minimum=100) if "status" in raw else None,
        retry_after=_number(raw, "retry_after", integer=True) if "retry_after" in raw else None,
        reason=raw.get("reason"),
        delay_s=float(_number(raw, "delay_s")) if "delay_s" in raw else 0.0,
        reset=raw.get("reset", False),
        hang=raw.get("hang", False),
        after_effect=raw.get("after_effect", False),
        skip=_number(raw, "skip", integer=True) if "skip" in raw else 0,
    )
    if rule.probability is not None and rule.probability > 1:
        raise FaultRuleError("probability must be between 0 and 1")
    if rule.status is not None and rule.status > 599:
        raise FaultRuleError("status must be an HTTP status (100-599)")
    if sum([rule.status is not None, rule.reset, rule.hang]) > 1:
        raise FaultRuleError("a rule can answer in one way only: status, reset or hang")
    if rule.status is None and not (rule.reset or rule.hang or rule.delay_s):
        raise FaultRuleError("a rule needs an effect: status, delay_s, reset or hang")
    if rule.retry_after is not None and rule.status is None:
        raise FaultRuleError("retry_after needs a status")
    if rule.reason is not None and (rule.status is None or not isinstance(rule.reason, str) or not rule.reason):
        raise FaultRuleError("reason must be a non-empty string, with a status")
    return rule


class FaultBook:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = rng or random.Random()

    def add(self, raw_rules: Any) -> list[dict[str, Any]]:
        if not isinstance(raw_rules, list):
            raise FaultRuleError("rules must be a list")
        parsed = [parse_rule(raw) for raw in raw_rules]  # all or nothing
        with self._lock:
            self._rules.extend(parsed)
            return [rule.describe() for rule in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def pick(self, method: str, path: str) -> FaultAction | None:
        """The fault for this request, using up the rules that fire; None if none does."""
        action = FaultAction()
        with self._lock:
            for rule in self._rules:
                if rule.exhausted:
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if not rule.path.search(path):
                    continue
                if rule.skipped < rule.skip:
                    rule.skipped += 1
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                action.rules.append(rule)
                action.delay_s += rule.delay_s
                if rule.status is not None or rule.reset or rule.hang:
                    action.status, action.retry_after, action.reason = rule.status, rule.retry_after, rule.reason
                    action.reset, action.hang = rule.reset, rule.hang
                    action.after_effect = rule.after_effect
                    break
                action.after_effect = action.after_effect or rule.after_effect
        return action if action.rules else None
