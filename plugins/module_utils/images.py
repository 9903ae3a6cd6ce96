# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private images: identity, validation, duplicate-safe capture, update, delete, replication.

An image's identity is its label among the account's private images together with where it came
from. The API does not say which disk an image was captured from, so the capture records it as a
tag (``source=linode:<id>,disk:<id>``) that every later run reads back.
"""

from __future__ import annotations

import re
import unicodedata

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, NoAnswer
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error

# Cloud Manager's rules (the API spec itself sets none for image labels). Its `\s` is meant as a plain
# space: a newline or a tab in a label is refused. `\Z`, not `$`, which would let a trailing newline through.
LABEL_CHARACTERS = r"a-zA-Z0-9,.?\-_ '"
LABEL_MAX = 50
LABEL_PATTERN = re.compile(r"^[%s]{1,%d}\Z" % (LABEL_CHARACTERS, LABEL_MAX))
TAG_MIN, TAG_MAX = 3, 50
DESCRIPTION_MAX = 65000
LIST_PAGE_SIZE = 500
SOURCE_TAG_PREFIX = "source=linode:"
SOURCE_TAG = SOURCE_TAG_PREFIX + "%d,disk:%d"
# How many times a capture may be sent when earlier attempts got no usable answer and left no image.
CAPTURE_ATTEMPTS = 3


def validate_label(label: str, field: str = "label") -> None:
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise LinodeError(
            "%s must be 1-%d characters of letters, digits, plain spaces and , . ? - _ ' (got %r)%s"
            % (field, LABEL_MAX, label, _control_note(label)), field=field)


def _control_note(text) -> str:
    # Cc: control characters (tab, newline, NUL, ESC...); Zl, Zp: Unicode line and paragraph separators.
    if isinstance(text, str) and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text):
        return ": newlines, tabs and other control characters are not allowed, only the plain space"
    return ""


def validate_keep(keep, field: str = "keep") -> None:
    """Retention's count: a whole number of 1 or more, never read as "delete them all"."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise LinodeError("%s must be a whole number of 1 or more, how many of the newest images to keep (got %r); "
                          "to delete images by hand, use linode_image_capture with state=absent" % (field, keep),
                          field=field)


def validate_deletion_selector(label_prefix: str | None, tags: list | None) -> None:
    """What may select images to delete: a real label prefix and/or real tags, never an empty one.

    An empty prefix, or an empty tag list, matches every private image of the account, another
    team's included.
    """
    if label_prefix is None and tags is None:
        raise LinodeError("label_prefix or tags is required: without them every private image of the account "
                          "would be selected", field="label_prefix")
    if label_prefix is not None:
        if not label_prefix.strip():
            raise LinodeError("label_prefix must not be empty or only spaces (got %r): it would select every private "
                              "image of the account; leave it out to select by tags alone" % label_prefix,
                              field="label_prefix")
        validate_label(label_prefix, field="label_prefix")
    if tags is not None:
        if not tags:
            raise LinodeError("tags must name at least one tag (got []): an empty list would select every private "
                              "image of the account; leave it out to select by label_prefix alone", field="tags")
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip():
                raise LinodeError("tags: each tag must be a non-empty string, not only spaces (got %r)" % (tag,),
                                  field="tags")


def plan_retention(images: list, keep: int, protect: list | None = None) -> tuple:
    """``(kept, deleted)``: which available images of ``images`` (newest first) stay and which go.

    The images ``protect`` names always stay and count among the ``keep`` kept; the newest others
    fill the rest. Images not yet available are in neither list: they are never deleted.
    """
    protected = set(protect or [])
    available = [i for i in images if i.get("status") == "available"]
    keep_ids = set(i["id"] for i in available if i["id"] in protected)
    for image in available:
        if len(keep_ids) >= keep:
            break
        keep_ids.add(image["id"])
    return ([i for i in available if i["id"] in keep_ids],
            [i for i in available if i["id"] not in keep_ids])


def validate_tags(tags: list) -> None:
    for tag in tags:
        if not TAG_MIN <= len(tag) <= TAG_MAX:
            raise LinodeError("tags: each tag must be %d-%d characters (got %r)" % (TAG_MIN, TAG_MAX, tag), field="tags")
        if tag.startswith(SOURCE_TAG_PREFIX):
            raise LinodeError("tags: %r is reserved: the module records an image's source disk in a tag "
                              "starting with %r" % (tag, SOURCE_TAG_PREFIX), field="tags")


def validate_description(description: str | None) -> None:
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise LinodeError("description must be at most %d characters" % DESCRIPTION_MAX, field="description")


def source_tag(linode_id: int, disk_id: int) -> str:
    return SOURCE_TAG % (linode_id, disk_id)


def image_source(image: dict) -> tuple | None:
    """``(linode_id, disk_id)`` recorded on an image, or None."""
    for tag in image.get("tags") or []:
        match = re.match(r"^source=linode:(\d+),disk:(\d+)$", tag)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def user_tags(image: dict) -> list:
    """An image's tags without the source record."""
    return sorted(t for t in image.get("tags") or [] if not t.startswith(SOURCE_TAG_PREFIX))


def image_number(image_id) -> int:
    """12345 for ``private/12345``; ids count up, so they order images created in the same second."""
    try:
        return int(str(image_id).rsplit("/", 1)[-1])
    except ValueError:
        return -1


def newest_first(images: list) -> list:
    return sorted(images, key=lambda i: (i.get("created") or "", image_number(i.get("id"))), reverse=True)


def region_ids(client) -> set:
    """The ids of the regions the API knows (``GET /regions``, one page holds them all)."""
    return set(region["id"] for region in client.get("/regions?page_size=500")["data"])


def list_private_images(client, filters: dict | None = None) -> list:
    """Private images matching ``filters``, newest first: one request per 500 images.

    The API cannot filter or order images on ``created`` or ``id`` ("Cannot filter on created"), so
    they are ordered here.
    """
    query = {"is_public": False}
    query.update(filters or {})
    images, page, pages = [], 1, 1
    while page <= pages:
        answer = client.get("/images?page_size=%d&page=%d" % (LIST_PAGE_SIZE, page), filters=query)
        images.extend(answer["data"])
        pages = answer.get("pages", 1)
        page += 1
    return newest_first(images)


def select_private_images(client, label: str | None = None, label_prefix: str | None = None,
                          tags: list | None = None) -> list:
    """Private images with this exact label, or label prefix, and all these tags, newest first.

    The API filter narrows the listing (one request); the exact rules are applied here, because
    ``+contains`` is not a prefix match.
    """
    tags = tags or []
    filters = {}
    if label is not None:
        filters["label"] = label
    elif label_prefix is not None:
        filters["label"] = {"+contains": label_prefix}
    if tags:
        filters["+and"] = [{"tags": tag} for tag in tags]
    return [i for i in list_private_images(client, filters) if image_matches(i, label, label_prefix, tags)]


def image_matches(image: dict, label: str | None = None, label_prefix: str | None = None,
                  tags: list | None = None) -> bool:
    """Whether a private image has this exact label, or label prefix, and all these tags."""
    return (not image.get("is_public")
            and label in (None, image.get("label"))
            and image.get("label", "").startswith(label_prefix or "")
            and set(tags or []) <= set(image.get("tags") or []))


def get_image(client, image_id: str) -> dict | None:
    try:
        return client.get("/images/%s" % image_id)
    except Exception as exc:  # pylint: disable=broad-except
        if is_api_error(exc, 404):
            return None
        raise


def find_captured(images: list, label: str, linode_id: int, disk_id: int) -> dict | None:
    """The newest image with this label captured from this disk."""
    for image in newest_first(images):
        if image["label"] == label and image_source(image) == (linode_id, disk_id):
            return image
    return None


def capture_body(disk_id: int, label: str, description: str | None, tags: list, cloud_init: bool,
                 linode_id: int) -> dict:
    body = {"disk_id": disk_id, "label": label,
            "tags": sorted(set(tags)) + [source_tag(linode_id, disk_id)]}
    if description is not None:
        body["description"] = description
    if cloud_init:
        body["cloud_init"] = True
    return body


def _is_ambiguous(exc: Exception) -> bool:
    """The request may have acted although the answer says otherwise (no answer, or a 5xx)."""
    if isinstance(exc, NoAnswer):
        return True
    status = getattr(exc, "status", None)
    return is_api_error(exc) and status is not None and status >= 500


def capture(client, body: dict, linode_id: int, known_before: list) -> dict:
    """``POST /images``, never sent blindly twice.

    After an answer that leaves in doubt whether the image was created (timeout, reset, 5xx), it
    looks for an image with this label and source that was not there before, and only captures
    again if there is none.
    """
    before_ids = set(i["id"] for i in known_before)
    last_error = None
    for _attempt in range(CAPTURE_ATTEMPTS):
        try:
            return client.post("/images", data=body)
        except Exception as exc:  # pylint: disable=broad-except
            if not _is_ambiguous(exc):
                raise
            last_error = exc
        for image in list_private_images(client, {"label": body["label"]}):
            if image["id"] not in before_ids and image_source(image) == (linode_id, body["disk_id"]):
                return image
    raise last_error


def update_image(client, image_id: str, changes: dict) -> dict:
    return client.put("/images/%s" % image_id, data=changes)


def delete_image(client, image_id: str) -> None:
    """Delete an image; one already gone counts as deleted."""
    try:
        client.delete("/images/%s" % image_id)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_api_error(exc, 404):
            raise


def replicate(client, image: dict, regions: list) -> dict:
    """Add regions to an image (the regions it is in now stay: the API removes any left out)."""
    wanted = sorted(set(r["region"] for r in image.get("regions", [])) | set(regions))
    return client.post("/images/%s/regions" % image["id"], data={"regions": wanted})


def pending_regions(image: dict) -> list:
    """Regions of an image that are not available yet."""
    return [r["region"] for r in image.get("regions", []) if r.get("status") != "available"]


def missing_regions(image: dict, regions: list) -> list:
    have = set(r["region"] for r in image.get("regions", []))
    return sorted(set(regions) - have)
