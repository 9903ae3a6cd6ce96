"""The engine's filters: what the role sees of it, errors included."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.golden_image.linode.plugins.filter.image_capture import FilterModule

FILTERS = FilterModule().filters()


def test_the_role_can_follow_a_host_from_start_to_report():
    state = FILTERS["image_capture_start"]({"web-1": {"linode": "1001", "label": "web-1"}}, 10.0)
    assert FILTERS["image_capture_view"](state, "capture_entries")[0]["linode_id"] == 1001
    state = FILTERS["image_capture_advance"](state, "preflight", {"msg": "no such instance"})
    rows = FILTERS["image_capture_report"]([state])
    assert rows[0]["result"] == "refused" and FILTERS["image_capture_report"](state, host="web-1") == rows[0]
    assert FILTERS["image_capture_table"](rows)[1].endswith("refused: no such instance")


@pytest.mark.parametrize("call, message", [
    (lambda: FILTERS["image_capture_view"]({}, "everything"), "unknown view 'everything'"),
    (lambda: FILTERS["image_capture_advance"]({}, "bake"), "image_capture engine: unknown step 'bake'"),
    (lambda: FILTERS["image_capture_start"]({"h": {"linode": ""}}, 0), "image_capture_linode of h is empty"),
])
def test_engine_errors_are_filter_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()
