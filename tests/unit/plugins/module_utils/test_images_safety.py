"""Labels, retention counts and deletion selectors: what images.py refuses before any request, and
which images retention keeps."""

from __future__ import annotations

import pytest

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError
from ansible_collections.golden_image.linode.plugins.module_utils.images import (
    plan_retention,
    validate_deletion_selector,
    validate_keep,
    validate_label,
)


# Labels ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["web golden 1", " leading and trailing ", "a b", "x" * 50])
def test_plain_spaces_are_allowed(label):
    validate_label(label)


@pytest.mark.parametrize("label", [
    "web\ngolden", "web-golden\n", "\nweb-golden", "web\tgolden", "web\rgolden", "web\x00golden",
    "web\x0bgolden", "web\x0cgolden", "web\x1bgolden", "web\x7fgolden", "web\x85golden", "web\u00a0golden",
    "web\u2028golden", "\t",
])
def test_newlines_tabs_and_control_characters_are_refused(label):
    with pytest.raises(LinodeError, match="^label must be 1-50 characters") as raised:
        validate_label(label)
    assert raised.value.field == "label"


@pytest.mark.parametrize("label", ["web\ngolden", "web\tgolden", "web-golden\n", "web\x00golden", "web\u2028golden"])
def test_the_message_says_why_a_control_character_is_refused(label):
    with pytest.raises(LinodeError, match="newlines, tabs and other control characters are not allowed"):
        validate_label(label)


def test_the_message_names_the_option_it_is_given():
    with pytest.raises(LinodeError, match=r"^captures\[2\]\.label must be") as raised:
        validate_label("two\nlines", field="captures[2].label")
    assert raised.value.field == "captures[2].label"


@pytest.mark.parametrize("label", [None, 5, ["web"]])
def test_a_label_that_is_not_a_string_is_refused(label):
    with pytest.raises(LinodeError, match="^label must be"):
        validate_label(label)


# keep --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [1, 2, 25])
def test_keep_of_one_or_more(keep):
    validate_keep(keep)


@pytest.mark.parametrize("keep", [0, -1, True, False, "0", "1", 1.0, None])
def test_keep_below_one_or_not_a_whole_number_is_refused(keep):
    with pytest.raises(LinodeError, match="^keep must be a whole number of 1 or more") as raised:
        validate_keep(keep)
    assert raised.value.field == "keep"


# Deletion selectors ------------------------------------------------------------------------------

@pytest.mark.parametrize("label_prefix,tags", [
    ("web-golden-", None), (None, ["golden"]), ("web-golden-", ["golden", "web"]), ("a", None),
])
def test_specific_selectors(label_prefix, tags):
    validate_deletion_selector(label_prefix, tags)


@pytest.mark.parametrize("label_prefix,tags,field,message", [
    ("", None, "label_prefix", "^label_prefix must not be empty or only spaces"),
    ("   ", ["golden"], "label_prefix", "^label_prefix must not be empty or only spaces"),
    ("\t", None, "label_prefix", "^label_prefix must not be empty or only spaces"),
    ("web\n", None, "label_prefix", "^label_prefix must be 1-50 characters.*control characters"),
    ("x" * 51, None, "label_prefix", "^label_prefix must be 1-50 characters"),
    (None, [], "tags", r"^tags must name at least one tag \(got \[\]\)"),
    ("web-golden-", [], "tags", r"^tags must name at least one tag"),
    (None, [""], "tags", "^tags: each tag must be a non-empty string"),
    (None, ["golden", "  "], "tags", "^tags: each tag must be a non-empty string"),
    (None, None, "label_prefix", "^label_prefix or tags is required"),
])
def test_vague_selectors_are_refused_naming_the_option(label_prefix, tags, field, message):
    with pytest.raises(LinodeError, match=message) as raised:
        validate_deletion_selector(label_prefix, tags)
    assert raised.value.field == field


# Retention ---------------------------------------------------------------------------------------

def _images(*specs):
    """Images newest first: ``("private/5", "available")``..."""
    return [{"id": image_id, "status": status} for image_id, status in specs]


IMAGES = _images(("private/5", "available"), ("private/4", "creating"), ("private/3", "available"),
                 ("private/2", "available"), ("private/1", "available"))


def _ids(images):
    return [i["id"] for i in images]


@pytest.mark.parametrize("keep,protect,kept,deleted", [
    # Nothing protected: the newest available ones stay; an image in progress is in neither list.
    (1, [], ["private/5"], ["private/3", "private/2", "private/1"]),
    (2, None, ["private/5", "private/3"], ["private/2", "private/1"]),
    (9, [], ["private/5", "private/3", "private/2", "private/1"], []),
    # A protected image stays however old, and counts among the kept.
    (1, ["private/1"], ["private/1"], ["private/5", "private/3", "private/2"]),
    (2, ["private/1"], ["private/5", "private/1"], ["private/3", "private/2"]),
    # More protected than keep: all of them stay.
    (1, ["private/2", "private/1"], ["private/2", "private/1"], ["private/5", "private/3"]),
    # Protecting an image in progress or one not selected changes nothing: it does not count.
    (1, ["private/4", "private/99"], ["private/5"], ["private/3", "private/2", "private/1"]),
])
def test_plan_retention(keep, protect, kept, deleted):
    planned_kept, planned_deleted = plan_retention(IMAGES, keep, protect)
    assert (_ids(planned_kept), _ids(planned_deleted)) == (kept, deleted)


def test_the_just_captured_image_survives_a_newer_one_of_the_prefix():
    """keep=1 and an image of the prefix newer than the run's own: the run's own stays."""
    images = _images(("private/7", "available"), ("private/6", "available"))
    kept, deleted = plan_retention(images, 1, ["private/6"])
    assert (_ids(kept), _ids(deleted)) == (["private/6"], ["private/7"])
