"""``X-Filter`` evaluation, as Linode's "Filtering and sorting" documents it.

The header holds a JSON object:

* ``{"label": "web-1"}``: equality. On a list field (``tags``) equality means
  "contains this element".
* ``{"entity.id": 1001}`` or ``{"entity": {"id": 1001}}``: nested fields.
* ``{"size": {"+gt": 100}}`` with ``+gt``, ``+gte``, ``+lt``, ``+lte``,
  ``+neq``, ``+contains`` (substring; on a list, any element).
* ``{"+and": [{...}, {...}]}``, ``{"+or": [{...}, {...}]}``; also a field-level
  ``{"label": {"+or": ["a", "b"]}}``.
* ``{"+order_by": "created", "+order": "desc"}`` sorts (``+order`` defaults to asc).
* A path through a list of objects (``interfaces.label``) matches any element.

Filtering works on the rendered JSON objects, so what a client filters on is
exactly what it reads. Only the fields the spec marks ``__Filterable__``
(:mod:`.filterable`) can be filtered or ordered on; anything else is refused
exactly as the real API does (recorded): 400 ``{"errors": [{"reason": "Cannot
filter on <field>", "field": "X-Filter"}]}``, so clients cannot come to rely on
filters that would fail against the real service. ``filterable=None`` lifts
that check (``idealised.lenient_filters``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from .errors import ApiError

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "+gt": lambda a, b: a is not None and a > b,
    "+gte": lambda a, b: a is not None and a >= b,
    "+lt": lambda a, b: a is not None and a < b,
    "+lte": lambda a, b: a is not None and a <= b,
}
FIELD_OPERATORS = set(COMPARATORS) | {"+neq", "+contains", "+or", "+and"}


def _error(reason: str) -> ApiError:
    return ApiError(400, reason, "X-Filter")


def parse_filter(header: str | None) -> dict[str, Any]:
    """Parse the header; an absent or empty header filters nothing."""
    if header is None or not header.strip():
        return {}
    try:
        value = json.loads(header)
    except ValueError:
        raise _error("X-Filter is not valid JSON") from None
    if not isinstance(value, dict):
        raise _error("X-Filter must be a JSON object")
    return value


def _lookup(item: Any, path: str) -> Any:
    """The value at a dotted path; through a list of objects, the list of their values."""
    head, _, rest = path.partition(".")
    if isinstance(item, list):
        values = [_lookup(element, path) for element in item if isinstance(element, dict)]
        return [v for value in values for v in (value if isinstance(value, list) else [value])]
    if not isinstance(item, dict):
        return None
    value = item.get(head)
    return _lookup(value, rest) if rest else value


def _coerce(actual: Any, wanted: Any) -> Any:
    """Let ``"1001"`` match an integer id, as query-string-minded clients send it."""
    if isinstance(actual, int) and not isinstance(actual, bool) and isinstance(wanted, str):
        try:
            return int(wanted)
        except ValueError:
            return wanted
    return wanted


def _equals(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, list):
        return wanted in actual
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return actual == _coerce(actual, wanted)


def _contains(actual: Any, wanted: Any) -> bool:
    if not isinstance(wanted, str):
        raise _error("+contains needs a string")
    if isinstance(actual, list):
        return any(isinstance(element, str) and wanted in element for element in actual)
    return isinstance(actual, str) and wanted in actual


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, (dict, list)) or wanted is None:
        raise _error(f"{op} needs a number or a string")
    wanted = _coerce(actual, wanted)
    try:
        return COMPARATORS[op](actual, wanted)
    except TypeError:
        return False


class Matcher:
    """A compiled filter for one collection; ``filterable`` lists the allowed field paths (None: any)."""

    def __init__(self, spec: dict[str, Any], filterable: Iterable[str] | None) -> None:
        self.filterable = set(filterable) if filterable is not None else None
        self.order_by = spec.get("+order_by")
        self.order = spec.get("+order", "asc")
        if self.order_by is not None and not isinstance(self.order_by, str):
            raise _error("+order_by needs a field name")
        if self.order_by is not None and not self.allowed(self.order_by):
            # "+order_by needs a filterable attribute": the same refusal as a filter.
            raise _error(f"Cannot filter on {self.order_by}")
        if self.order not in ("asc", "desc"):
            raise _error("+order must be asc or desc")
        self.conditions = {k: v for k, v in spec.items() if k not in ("+order_by", "+order")}
        # Evaluate once against an empty object so that malformed filters fail
        # with 400 even when the collection is empty.
        self._match_object({}, self.conditions, "")

    def allowed(self, path: str) -> bool:
        return self.filterable is None or path in self.filterable

    def matches(self, item: dict[str, Any]) -> bool:
        return self._match_object(item, self.conditions, "")

    def _match_object(self, item: dict[str, Any], spec: dict[str, Any], prefix: str) -> bool:
        result = True
        for key, value in spec.items():
            if key in ("+and", "+or"):
                # Evaluate every clause (no short cut), so a malformed one is always reported.
                outcomes = [
                    self._match_object(item, self._clause(clause), prefix) for clause in self._clauses(key, value)
                ]
                result &= all(outcomes) if key == "+and" else any(outcomes)
            elif key.startswith("+"):
                raise _error(f"Unknown operator {key}")
            else:
                result &= self._match_field(item, prefix + key, value)
        return result

    @staticmethod
    def _clauses(key: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise _error(f"{key} needs a non-empty list of filters")
        return value

    @staticmethod
    def _clause(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _error("Each +and/+or clause must be an object")
        return value

    def _match_field(self, item: dict[str, Any], path: str, wanted: Any) -> bool:
        if isinstance(wanted, dict) and wanted and not any(k.startswith("+") for k in wanted):
            # {"entity": {"id": 1}} is the nested spelling of {"entity.id": 1}.
            return self._match_object(item, wanted, path + ".")
        if not self.allowed(path):
            raise _error(f"Cannot filter on {path}")
        actual = _lookup(item, path)
        if isinstance(wanted, dict):
            return self._match_operators(path, actual, wanted)
        if isinstance(wanted, list):
            raise _error(f"Filter value for {path} cannot be a list; use +or")
        return _equals(actual, wanted)

    def _match_operators(self, path: str, actual: Any, ops: dict[str, Any]) -> bool:
        result = True
        for op, wanted in ops.items():
            if op not in FIELD_OPERATORS:
                raise _error(f"Unknown operator {op} on {path}")
            if op == "+neq":
                result &= not _equals(actual, wanted)
            elif op == "+contains":
                result &= _contains(actual, wanted)
            elif op in ("+or", "+and"):
                alternatives = self._clauses(op, wanted)
                outcomes = [
                    self._match_operators(path, actual, alt) if isinstance(alt, dict) else _equals(actual, alt)
                    for alt in alternatives
                ]
                result &= any(outcomes) if op == "+or" else all(outcomes)
            else:
                result &= _compare(op, actual, wanted)
        return result

    def apply(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        selected = [item for item in items if self.matches(item)]
        if self.order_by is None:
            return selected
        descending = self.order == "desc"

        def key(pair: tuple[int, dict[str, Any]]) -> tuple[Any, ...]:
            position, item = pair
            value = _lookup(item, self.order_by)
            # None sorts first. Timestamps have one-second resolution, so ties
            # are common: break them by id in the same direction (an earlier
            # event has a lower id), then by natural order.
            tie = item.get("id")
            tie_key = (0, tie) if isinstance(tie, int) else (1, str(tie))
            return ((0, "") if value is None else (1, value), tie_key, position)

        ordered = sorted(enumerate(selected), key=key, reverse=descending)
        return [item for _, item in ordered]


def filter_items(
    items: list[dict[str, Any]], header: str | None, filterable: Iterable[str] | None
) -> list[dict[str, Any]]:
    """Parse ``header`` and apply it to ``items`` (already in natural order)."""
    spec = parse_filter(header)
    if not spec:
        return items
    return Matcher(spec, filterable).apply(items)
