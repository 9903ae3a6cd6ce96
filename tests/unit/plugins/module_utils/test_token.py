"""Where the token comes from, what a token file may hold, and the token kept out of every text."""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, redact
from ansible_collections.golden_image.linode.plugins.module_utils.transport import check_token, find_token

TOKEN = "a3f09c1e7b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"
NO_TOKEN = ("No Linode API token: set the api_token option, or LINODE_TOKEN (or LINODE_API_TOKEN) in the environment, "
            "or LINODE_TOKEN_FILE to the path of a file that holds it")


def token_file(tmp_path, content, mode: str = "w") -> str:
    path = tmp_path / "token"
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, newline="")
    return str(path)


def test_the_option_comes_first_then_linode_token_then_linode_api_token_then_the_file(tmp_path):
    environ = {"LINODE_TOKEN": "from-linode-token", "LINODE_API_TOKEN": "from-api-token",
               "LINODE_TOKEN_FILE": token_file(tmp_path, "from-file\n")}
    assert find_token("from-option", environ) == ("from-option", "api_token")
    assert find_token(None, environ) == ("from-linode-token", "LINODE_TOKEN")
    del environ["LINODE_TOKEN"]
    assert find_token("", environ) == ("from-api-token", "LINODE_API_TOKEN")
    environ["LINODE_API_TOKEN"] = ""
    assert find_token(None, environ) == ("from-file", "the file LINODE_TOKEN_FILE names (%s)" % environ["LINODE_TOKEN_FILE"])


@pytest.mark.parametrize("content", [TOKEN, TOKEN + "\n", TOKEN + "\r\n"])
def test_one_line_ending_after_the_token_in_a_file_is_dropped(tmp_path, content):
    token, _source = find_token(None, {"LINODE_TOKEN_FILE": token_file(tmp_path, content)})
    assert token == TOKEN
    check_token(token)


@pytest.mark.parametrize("content, what", [
    (TOKEN + "\nsecond-line-junk\n", "a line break (character 65 of 81)"),
    (TOKEN + "\n\n", "a line break (character 65 of 65)"),
    (TOKEN + " \n", "a space (character 65 of 65)"),
    ("\t" + TOKEN + "\n", "a tab (character 1 of 65)"),
])
def test_anything_else_around_or_in_the_token_of_a_file_is_refused_without_showing_it(tmp_path, content, what):
    path = token_file(tmp_path, content)
    token, source = find_token(None, {"LINODE_TOKEN_FILE": path})
    with pytest.raises(LinodeError) as raised:
        check_token(token, source)
    message = str(raised.value)
    assert message == (
        "The Linode API token from the file LINODE_TOKEN_FILE names (%s) holds %s, so it was not sent: a token is one "
        "word of printable ASCII characters. Check api_token (or LINODE_TOKEN, LINODE_API_TOKEN, LINODE_TOKEN_FILE); "
        "the token is not shown." % (path, what))
    assert TOKEN[:8] not in message and "junk" not in message


def test_a_missing_token_file_is_named_with_its_path(tmp_path):
    path = str(tmp_path / "absent" / "token")
    with pytest.raises(LinodeError) as raised:
        find_token(None, {"LINODE_TOKEN_FILE": path})
    assert str(raised.value) == "LINODE_TOKEN_FILE names %s, which cannot be read: No such file or directory" % path
    assert raised.value.field == "api_token"


def test_an_unreadable_token_file_is_named_with_its_path(tmp_path):
    with pytest.raises(LinodeError, match="^LINODE_TOKEN_FILE names %s, which cannot be read: Is a directory$" % tmp_path):
        find_token(None, {"LINODE_TOKEN_FILE": str(tmp_path)})


@pytest.mark.parametrize("content, mode, message", [
    ("", "w", "which is empty: it should hold the API token"),
    ("\n", "w", "which is empty: it should hold the API token"),
    (b"\xff\xfe" + TOKEN.encode("utf-16-le"), "wb", "which is not UTF-8 text"),
])
def test_an_empty_or_binary_token_file_is_named_with_its_path(tmp_path, content, mode, message):
    path = token_file(tmp_path, content, mode)
    with pytest.raises(LinodeError) as raised:
        find_token(None, {"LINODE_TOKEN_FILE": path})
    assert str(raised.value) == "LINODE_TOKEN_FILE names %s, %s" % (path, message)


@pytest.mark.parametrize("environ", [{}, {"LINODE_TOKEN": "", "LINODE_API_TOKEN": "", "LINODE_TOKEN_FILE": ""}])
def test_no_token_at_all_names_the_option_and_every_variable(environ):
    with pytest.raises(LinodeError) as raised:
        find_token(None, environ)
    assert str(raised.value) == NO_TOKEN
    assert raised.value.field == "api_token"


@pytest.mark.parametrize("text", [
    # requests' InvalidHeader, which quotes the header value with repr().
    "Invalid leading whitespace, reserved character(s), or return character(s) in header value: 'Bearer %s'"
    % "first-part-4f1e\\nsecond-part-8c2d",
    # The raw value, as a multi-line message would hold it.
    "Authorization: Bearer first-part-4f1e\nsecond-part-8c2d",
    # JSON, as a result dump would hold it.
    '{"headers": {"Authorization": "Bearer first-part-4f1e\\nsecond-part-8c2d"}}',
    # One line of it only.
    "cut at the line break: second-part-8c2d",
])
def test_redact_removes_every_form_of_the_token(text):
    redacted = redact(text, "first-part-4f1e\nsecond-part-8c2d")
    assert "first-part" not in redacted and "second-part" not in redacted and "8c2d" not in redacted
    assert "********" in redacted


def test_redact_masks_any_bearer_value_even_of_an_unknown_token():
    assert redact("header value: 'Bearer some\\tthing'", None) == "header value: 'Bearer ********'"
