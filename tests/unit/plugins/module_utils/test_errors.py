from __future__ import annotations

from types import SimpleNamespace

import pytest
from linode_api4 import ApiError

from ansible_collections.golden_image.linode.plugins.module_utils.errors import format_api_error, redact
from ansible_collections.golden_image.linode.plugins.module_utils.images import (
    validate_label,
    validate_tags,
)
from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError


def _api_error(client_with, status, body, method="POST", path="/images"):
    client = client_with([(status, body)])
    with pytest.raises(ApiError) as raised:
        getattr(client, method.lower())(path, data={"disk_id": 1})
    return raised.value


def test_api_error_becomes_one_line_with_field_and_reason(client_with):
    error = _api_error(client_with, 400, {"errors": [{"field": "disk_id", "reason": "Disk is not ready"}]})
    assert format_api_error(error) == "Linode API 400 on POST /v4/images: disk_id: Disk is not ready"


def test_several_reasons_and_no_field(client_with):
    body = {"errors": [{"reason": "Linode busy"}, {"field": "label", "reason": "too long"}]}
    error = _api_error(client_with, 400, body, path="/linode/instances/5/boot")
    assert format_api_error(error) == "Linode API 400 on POST /v4/linode/instances/5/boot: Linode busy; label: too long"


def test_no_token_no_query_in_the_message(client_with):
    error = _api_error(client_with, 401, {"errors": [{"reason": "Invalid Token"}]}, method="GET",
                       path="/images?page_size=500")
    message = format_api_error(error)
    assert message == "Linode API 401 on GET /v4/images: Invalid Token"
    assert "secret-token-123" not in message


def test_redact_removes_the_secret():
    assert redact("token abcdef leaked", "abcdef") == "token ******** leaked"
    assert redact("nothing here", None) == "nothing here"


@pytest.mark.parametrize("label", ["web-golden", "a", "Ubuntu 24.04 Disk", "it's, ok? yes_1.0", "x" * 50])
def test_valid_labels(label):
    validate_label(label)


@pytest.mark.parametrize("label", ["", "x" * 51, "web/golden", "caf\u00e9", "semi;colon", "new\nline" + "!"])
def test_invalid_labels_name_the_field(label):
    with pytest.raises(LinodeError, match="^label must be 1-50 characters") as raised:
        validate_label(label)
    assert raised.value.field == "label"


@pytest.mark.parametrize("tags,message", [
    (["ok-tag", "no"], "each tag must be 3-50 characters"),
    (["x" * 51], "each tag must be 3-50 characters"),
    (["source=linode:1,disk:2"], "is reserved"),
])
def test_invalid_tags(tags, message):
    with pytest.raises(LinodeError, match=message) as raised:
        validate_tags(tags)
    assert raised.value.field == "tags"


# One line (issue 12): the API's error bodies may hold "\r\n"; a reason is shown in a table and a recap.

def test_line_breaks_in_api_reasons_become_one_space(client_with):
    body = {"errors": [{"field": "disk_id", "reason": "Disk is\r\n  not ready.\r\n"}, {"reason": "Try\n\nagain\r"}]}
    error = _api_error(client_with, 400, body)
    assert format_api_error(error) == "Linode API 400 on POST /v4/images: disk_id: Disk is not ready.; Try again"


def test_line_breaks_in_a_body_that_is_not_json_become_one_space():
    request = SimpleNamespace(method="GET", url="https://api.example/v4/images")
    response = SimpleNamespace(request=request, text="<html>\r\n  <body>502 Bad Gateway</body>\r\n</html>\r\n")
    error = SimpleNamespace(status=502, json=None, response=response)
    assert format_api_error(error) == "Linode API 502 on GET /v4/images: <html> <body>502 Bad Gateway</body> </html>"


def test_anything_else_is_made_one_line_too():
    assert format_api_error(ValueError("first\r\nsecond")) == "first second"


@pytest.mark.parametrize("message,shown", [
    ("one line", "one line"),
    ("a\r\nb", "a b"),
    ("a \r\n\t b", "a b"),
    ("a\n\n\nb\rc", "a b c"),
    ("tabs\tand  spaces stay", "tabs\tand  spaces stay"),
    ("\r\nends\r\n", " ends "),
])
def test_a_linode_error_is_one_line(message, shown):
    error = LinodeError(message, field="label")
    assert str(error) == shown and error.message == shown and error.args == (shown,)
    assert error.field == "label"
