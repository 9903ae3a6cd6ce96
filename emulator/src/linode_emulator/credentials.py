"""``root_pass`` and ``authorized_keys`` of ``POST /linode/instances``, checked as Linode checks them.

The spec gives ``root_pass`` 7-128 characters and says it "must meet a password strength score
requirement that is calculated internally by the API" (reason ``Password does not meet strength
requirement``). The score itself is not published, so :func:`password_problem` is a stand-in that
refuses what a strength meter refuses (short, one kind of character, repeats, a common word with
digits and symbols around it) and accepts every password the recorded traffic sent
(``thisIsYourRootPassword`` and long random ones). Keys must be OpenSSH public keys
(``<type> <base64> [comment]``) whose data names their type; the API's wording for a bad key was
never recorded.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

ROOT_PASS_MIN, ROOT_PASS_MAX = 7, 128
WEAK_PASSWORD = "Password does not meet strength requirement"  # the spec's wording
MIN_PASSWORD_BITS = 60
# Words a strength meter finds at once, however many digits or symbols surround them.
COMMON_WORDS = frozenset(
    ("password", "passw0rd", "linode", "qwerty", "letmein", "admin", "welcome", "changeme", "root", "secret")
)
_CLASSES = ((r"[a-z]", 26), (r"[A-Z]", 26), (r"[0-9]", 10), (r"[^a-zA-Z0-9]", 33))

SSH_KEY_TYPES = frozenset(
    (
        "ssh-ed25519",
        "ssh-rsa",
        "ssh-dss",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    )
)


def password_bits(password: str) -> float:
    """Estimated strength: length (each distinct character counted at most twice) x log2 of the alphabet used."""
    alphabet = sum(size for pattern, size in _CLASSES if re.search(pattern, password))
    length = min(len(password), 2 * len(set(password)))
    return length * math.log2(alphabet) if alphabet else 0.0


def password_problem(password: str) -> str | None:
    """Why Linode would refuse ``password`` as a root password, or None."""
    if not ROOT_PASS_MIN <= len(password) <= ROOT_PASS_MAX:
        return f"Length must be {ROOT_PASS_MIN}-{ROOT_PASS_MAX} characters"
    classes = sum(1 for pattern, _size in _CLASSES if re.search(pattern, password))
    core = re.sub(r"[^a-z]", "", password.lower())
    if classes < 2 or core in COMMON_WORDS or password_bits(password) < MIN_PASSWORD_BITS:
        return WEAK_PASSWORD
    return None


def ssh_key_problem(key: str) -> str | None:
    """Why ``key`` is not one OpenSSH public key, or None."""
    if "\n" in key.strip() or "\r" in key:
        return "one key per entry, on one line"
    parts = key.split(None, 2)
    if len(parts) < 2:
        return "expected '<type> <base64 data> [comment]'"
    kind, data = parts[0], parts[1]
    if kind not in SSH_KEY_TYPES:
        return f"unknown key type {kind!r}"
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "its data is not base64"
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + length] != kind.encode():
        return f"its data is not a {kind} key"
    return None
