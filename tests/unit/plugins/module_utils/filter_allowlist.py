"""What the real API lets a client filter on, and a check of an X-Filter against it.

The allow-lists are the emulator's, which it generates from the official spec's ``__Filterable__``
marks (``linode_emulator.filterable``, compared with the spec by the emulator's own tests), so the
collection is held to exactly what the real API accepts: anything else answers 400 "Cannot filter
on <field>".
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from linode_emulator.filterable import FILTERABLE

LOGICAL = ("+and", "+or")
ORDERING = ("+order_by", "+order")


def list_template(path: str) -> str | None:
    """``/v4/linode/instances/12/disks`` -> ``/linode/instances/{linodeId}/disks`` (a key of FILTERABLE), or None."""
    path = re.sub(r"^/v4(beta)?", "", urlsplit(path).path)
    for template in FILTERABLE:
        pattern = "^" + re.sub(r"\{\w+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    return None


def filter_fields(spec, prefix: str = ""):
    """Every field path a filter names (``+order_by`` included), as the API reads it."""
    if not isinstance(spec, dict):
        return
    for key, value in spec.items():
        if key in LOGICAL:
            for clause in value if isinstance(value, list) else []:
                if isinstance(clause, dict):
                    yield from filter_fields(clause, prefix)
        elif key == "+order_by":
            yield prefix + str(value)
        elif key == "+order":
            continue
        elif isinstance(value, dict) and value and not any(k.startswith("+") for k in value):
            yield from filter_fields(value, prefix + key + ".")
        else:
            yield prefix + key


def refused_fields(path: str, header: str | None) -> list:
    """The fields of an X-Filter sent to ``path`` that the real API would refuse; a filter on a non-list path is refused whole."""
    if not header:
        return []
    template = list_template(path)
    fields = list(filter_fields(json.loads(header)))
    if template is None:
        return fields or ["<filter on %s>" % path]
    return [field for field in fields if field not in FILTERABLE[template]]
