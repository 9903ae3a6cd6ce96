# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Temporary instances: made from an image to bake or verify it, found by label, deleted by their marker.

A temporary instance carries the tag ``TEMPORARY_TAG``. Only such an instance is ever returned for a
label, deleted, or cleaned up: an instance without it is a user's, and is never adopted or touched.

Creating is a ``POST``, which must never make two instances. It is not sent again blindly: after an
answer that leaves in doubt whether it acted (no answer, a 5xx) the instance is looked for by its
label first. Linode itself refuses a second instance with a label in use ("Label must be unique among
your linodes", recorded), so a resend after a look that found nothing cannot make a duplicate either;
that refusal is answered by a look too. The API keeps the label of a deleted instance until the
delete has finished (recorded), so a label taken by an instance no read shows is waited for.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string

from ansible_collections.golden_image.linode.plugins.module_utils.errors import LinodeError, NoAnswer
from ansible_collections.golden_image.linode.plugins.module_utils.power import api_epoch, server_epoch
from ansible_collections.golden_image.linode.plugins.module_utils.retries import Deadline
from ansible_collections.golden_image.linode.plugins.module_utils.transport import is_api_error
from ansible_collections.golden_image.linode.plugins.module_utils.waiters import PollSchedule, wait_until_free

TEMPORARY_TAG = "golden_image.linode:temporary"
# The API's rules for a Linode label (spec): 3-64 characters, a letter first, no doubled - _ or .
LABEL_PATTERN = re.compile(r"^[a-zA-Z]((?!--|__|\.\.)[a-zA-Z0-9_.-]){2,63}\Z")
# Tags, as Cloud Manager allows them.
TAG_MIN, TAG_MAX = 3, 50
# The spec's root_pass limits; the API also scores its strength, which a generated password passes.
ROOT_PASS_MIN, ROOT_PASS_MAX = 7, 128
GENERATED_ROOT_PASS_LENGTH = 40
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
LIST_PAGE_SIZE = 500
# The reason Linode gives for a label in use (recorded).
LABEL_TAKEN_REASON = "Label must be unique"
# What a plan or a diff shows of an instance.
SUMMARY_KEYS = ("id", "label", "image", "region", "type", "status", "tags", "created")


def validate_label(label, field: str = "label") -> None:
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise LinodeError("%s must be 3-64 characters, a letter first, then letters, digits, '-', '_' or '.', never two "
                          "'-', '_' or '.' in a row, as Linode allows for instance labels (got %r)" % (field, label),
                          field=field)


def validate_label_prefix(prefix) -> None:
    """A prefix to select leftovers by: the start of a valid label, never empty."""
    if not isinstance(prefix, str) or not re.match(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,63}\Z", prefix):
        raise LinodeError("label_prefix must be the start of an instance label: a letter, then letters, digits, '-', "
                          "'_' or '.' (got %r)" % (prefix,), field="label_prefix")


def validate_tags(tags: list) -> None:
    for tag in tags:
        if not isinstance(tag, str) or not TAG_MIN <= len(tag) <= TAG_MAX:
            raise LinodeError("tags: each tag must be %d-%d characters (got %r)" % (TAG_MIN, TAG_MAX, tag), field="tags")


def ssh_key_problem(key: str) -> str | None:
    """Why ``key`` is not one OpenSSH public key line (``<type> <base64> [comment]``), or None."""
    if "\n" in key.strip() or "\r" in key:
        return "one key per entry, on one line"
    parts = key.split(None, 2)
    if len(parts) < 2:
        return "expected '<type> <base64 data> [comment]', as in a .pub file"
    kind, data = parts[0], parts[1]
    if kind not in SSH_KEY_TYPES:
        return "unknown key type %r (known: %s)" % (kind, ", ".join(SSH_KEY_TYPES))
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "its data is not base64"
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + length] != kind.encode():
        return "its data is not a %s key" % kind
    return None


def validate_authorized_keys(keys: list) -> None:
    if keys is not None and not keys:
        raise LinodeError("authorized_keys must hold at least one public key when it is set; leave it out to log in "
                          "with root_pass", field="authorized_keys")
    for index, key in enumerate(keys or []):
        problem = ssh_key_problem(key)
        if problem:
            raise LinodeError("authorized_keys[%d] is not an OpenSSH public key: %s" % (index, problem),
                              field="authorized_keys")


def validate_root_pass(root_pass: str | None) -> None:
    """The spec's length (the API scores the strength itself, and says so, with no write)."""
    if root_pass is not None and not ROOT_PASS_MIN <= len(root_pass) <= ROOT_PASS_MAX:
        raise LinodeError("root_pass must be %d-%d characters (got %d); the API also refuses a weak one"
                          % (ROOT_PASS_MIN, ROOT_PASS_MAX, len(root_pass)), field="root_pass")


def generate_root_pass() -> str:
    """A strong random root password (each kind of character, 40 in all), for an instance reached by console only."""
    kinds = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%+,-.:=@^_~")
    chars = [secrets.choice(kind) for kind in kinds]
    alphabet = "".join(kinds)
    chars += [secrets.choice(alphabet) for _position in range(GENERATED_ROOT_PASS_LENGTH - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def is_temporary(instance: dict) -> bool:
    return TEMPORARY_TAG in (instance.get("tags") or [])


def instance_tags(tags: list) -> list:
    """The tags a temporary instance is created with: the user's, and the marker."""
    return sorted(set(tags) | {TEMPORARY_TAG})


def create_body(label: str, image: str, region: str, instance_type: str, tags: list,
                authorized_keys: list | None, root_pass: str | None) -> dict:
    body = dict(label=label, image=image, region=region, type=instance_type, tags=instance_tags(tags), booted=True)
    if authorized_keys:
        body["authorized_keys"] = list(authorized_keys)
    if root_pass:
        body["root_pass"] = root_pass
    return body


def summary(instance: dict) -> dict:
    """What a plan or a diff shows of an instance (never a secret: the API returns none)."""
    return dict((key, instance.get(key)) for key in SUMMARY_KEYS)


def find_by_label(client, label: str) -> dict | None:
    """The instance with this label (labels are unique in an account), or None; one request."""
    found = client.get("/linode/instances", filters={"label": label})["data"]
    return next((i for i in found if i.get("label") == label), None)


def get_instance(client, linode_id: int) -> dict | None:
    try:
        return client.get("/linode/instances/%d" % linode_id)
    except Exception as exc:  # pylint: disable=broad-except
        if is_api_error(exc, 404):
            return None
        raise


def list_temporary(client, label_prefix: str | None = None) -> list:
    """Every instance with the marker (and this label prefix), oldest first; one request per 500.

    The API filters on tags and, with ``+contains``, on labels; the prefix itself is checked here.
    """
    query = {"tags": TEMPORARY_TAG}
    if label_prefix:
        query["label"] = {"+contains": label_prefix}
    found, page, pages = [], 1, 1
    while page <= pages:
        answer = client.get("/linode/instances?page_size=%d&page=%d" % (LIST_PAGE_SIZE, page), filters=query)
        found.extend(answer["data"])
        pages = answer.get("pages", 1)
        page += 1
    return sorted((i for i in found if is_temporary(i) and i["label"].startswith(label_prefix or "")),
                  key=lambda i: (i.get("created") or "", i["id"]))


def older_than(client, instances: list, minutes: float) -> tuple:
    """``(old, young)``: the instances created at least ``minutes`` ago on the API's clock, and the others."""
    now = server_epoch(client)
    old = [i for i in instances if now - api_epoch(i.get("created") or "1970-01-01T00:00:00") >= minutes * 60]
    return old, [i for i in instances if i not in old]


def check_choices(client, image: str, region: str, instance_type: str) -> None:
    """Refuse an image, region or type the API does not have, naming the option, before any write.

    Regions and types are public lists (one request each); the image is read by id, since the image
    listing has a limit of its own (20 a minute).
    """
    regions = sorted(r["id"] for r in client.get("/regions?page_size=500")["data"])
    if region not in regions:
        raise LinodeError("region %r does not exist; the API has %s" % (region, ", ".join(regions)), field="region")
    types = sorted(t["id"] for t in client.get("/linode/types?page_size=500")["data"])
    if instance_type not in types:
        raise LinodeError("type %r does not exist; the API has %s" % (instance_type, ", ".join(types)), field="type")
    try:
        found = client.get("/images/%s" % image)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_api_error(exc, 404):
            raise
        raise LinodeError("image %r does not exist: give a public image (linode/<distribution>, for example "
                          "linode/debian12) or a private one of this account (private/<number>)" % image,
                          field="image") from None
    if found.get("status") != "available":
        raise LinodeError("image %s is %s, not available: wait for it (linode_image_wait) before deploying it"
                          % (image, found.get("status")), field="image")


def _is_ambiguous(exc: Exception) -> bool:
    """The request may have acted although the answer says otherwise (no answer, or a 5xx)."""
    if isinstance(exc, NoAnswer):
        return True
    return is_api_error(exc) and exc.status >= 500


def _label_taken(exc: Exception) -> bool:
    return is_api_error(exc, 400) and any(LABEL_TAKEN_REASON in str(r) for r in (getattr(exc, "errors", None) or []))


def create_instance(client, body: dict, deadline: Deadline, schedule: PollSchedule) -> dict:
    """``POST /linode/instances``, never making two instances; returns the instance made (or found made).

    After no answer or a 5xx, and after "Label must be unique", the instance is looked for by label:
    found with the marker, it is the one this create made; found without, the label is a user's (error).
    Not found, the POST is sent again on the poll schedule until the deadline: after a failure the API
    made nothing, and a label still taken belongs to an instance being deleted.
    """
    first_failure = None
    while True:
        failure = _try(lambda: client.post("/linode/instances", data=body))
        if not isinstance(failure, Exception):
            return failure
        if not (_is_ambiguous(failure) or _label_taken(failure)):
            raise failure
        found = find_by_label(client, body["label"])
        if found is not None:
            if not is_temporary(found):
                raise LinodeError(holder_error(found), field="label")
            return found
        first_failure = deadline.clock.now() if first_failure is None else first_failure
        if not wait_until_free(deadline, deadline.clock.now() - first_failure, schedule):
            if _label_taken(failure):
                raise LinodeError("label %r was still taken at the deadline (wait_timeout) by an instance no read shows: "
                                  "Linode keeps the label of a deleted instance until its delete has finished"
                                  % body["label"], field="label")
            raise failure


def _try(call):
    """``call()``'s answer, or the exception it raised (handled by the caller, outside any ``except``)."""
    try:
        return call()
    except Exception as exc:  # pylint: disable=broad-except
        return exc


def holder_error(instance: dict) -> str:
    return ("Linode %s (%s) has label %r and is not a temporary instance (no %s tag): it is never adopted or deleted; "
            "choose another label" % (instance["id"], instance.get("status"), instance["label"], TEMPORARY_TAG))


def delete_instance(client, linode_id: int, deadline: Deadline, schedule: PollSchedule) -> bool:
    """Delete an instance; False when it was already gone.

    A DELETE answered with no answer or a 5xx is followed by a read: gone, it was deleted; still
    there, the DELETE is sent again on the poll schedule until the deadline (an id names one
    instance only, so a second DELETE can never delete another).
    """
    first_failure = None
    while True:
        failure = _try(lambda: client.delete("/linode/instances/%d" % linode_id))
        if not isinstance(failure, Exception):
            return True
        if is_api_error(failure, 404):
            return False
        if not _is_ambiguous(failure):
            raise failure
        if get_instance(client, linode_id) is None:
            return True
        first_failure = deadline.clock.now() if first_failure is None else first_failure
        if not wait_until_free(deadline, deadline.clock.now() - first_failure, schedule):
            raise failure
