"""Pin every package the test tools pull in, so that make test installs the same set on every machine.

    python tests/utils/lock.py [--check]

``requirements-dev.txt`` has two parts: the tools we choose, pinned by hand, above ``MARKER``; below it,
every other package they need, pinned by this script. It resolves the hand-pinned part anew from the
package index in a scratch virtualenv (pip too) and writes what it installed below the marker. It does
the same for galaxy-importer, which has a virtualenv of its own (mk/tarball.mk), into
``tests/tarball/galaxy-importer-constraints.txt``. Run it deliberately (``make lock``), then run
``make test`` and commit both files: nothing resolves at "newest" while the gate runs.
``--check`` only says whether the files are complete: each hand-pinned tool and each locked package
is pinned once, with ``==``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "requirements-dev.txt"
GALAXY_IMPORTER = REPO / "tests" / "tarball" / "galaxy-importer-constraints.txt"
GALAXY_IMPORTER_VERSION = re.compile(r"^GALAXY_IMPORTER_VERSION := (\S+)$", re.MULTILINE)
MARKER = "# ---- Locked by make lock (tests/utils/lock.py): what the pins above pull in. Not edited by hand."
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")
INSTALL_TIMEOUT_S = 900


def name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", requirement.split("==", 1)[0]).lower()


def pins(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def split_dev(text: str) -> tuple[list[str], list[str]]:
    """requirements-dev.txt's hand-pinned lines (comments kept) and its locked pins."""
    lines = text.splitlines()
    if MARKER not in lines:
        return lines, []
    at = lines.index(MARKER)
    return lines[:at], pins(lines[at + 1:])


def freeze(requirements: list[str], constraints: list[str]) -> list[str]:
    """``pip freeze --all`` of a scratch virtualenv where the newest pip installed ``requirements``."""
    with tempfile.TemporaryDirectory(prefix="lock-") as scratch:
        venv = Path(scratch) / "venv"
        python = str(venv / "bin" / "python")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True, timeout=INSTALL_TIMEOUT_S)
        constraint_file = Path(scratch) / "constraints.txt"
        constraint_file.write_text("\n".join(constraints) + "\n", encoding="utf-8")
        subprocess.run([python, "-m", "pip", "install", "--quiet", "-c", str(constraint_file), *requirements], check=True,
                       timeout=INSTALL_TIMEOUT_S)
        frozen = subprocess.run([python, "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True,
                                timeout=120).stdout
    return sorted((line for line in frozen.splitlines() if PIN.match(line)), key=name)


def problems(dev_text: str, galaxy_text: str) -> list[str]:
    hand, locked = split_dev(dev_text)
    found = []
    if not locked:
        found.append("%s has no locked part (%r): run make lock" % (DEV.name, MARKER))
    for label, lines in ((DEV.name, pins(hand) + locked), (GALAXY_IMPORTER.name, pins(galaxy_text.splitlines()))):
        seen = {}
        for line in lines:
            if not PIN.match(line):
                found.append("%s: %r is not pinned with ==" % (label, line))
            elif name(line) in seen:
                found.append("%s: %s is pinned twice (%s, %s)" % (label, name(line), seen[name(line)], line))
            seen[name(line)] = line
        if "pip" not in seen:
            found.append("%s does not pin pip" % label)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that both files are complete")
    args = parser.parse_args()
    dev_text = DEV.read_text(encoding="utf-8")
    if args.check:
        found = problems(dev_text, GALAXY_IMPORTER.read_text(encoding="utf-8") if GALAXY_IMPORTER.is_file() else "")
        print("\n".join(found) or "requirements-dev.txt and %s pin every package" % GALAXY_IMPORTER.name)
        return 1 if found else 0

    hand, _old = split_dev(dev_text)
    chosen = set(name(line) for line in pins(hand))
    locked = [line for line in freeze(pins(hand), []) if name(line) not in chosen]
    DEV.write_text("\n".join(hand + [MARKER] + locked) + "\n", encoding="utf-8")
    print("%s: %d hand-pinned, %d locked" % (DEV.name, len(chosen), len(locked)))

    # galaxy-importer caps packages our tools need newer (mk/tarball.mk): its own set, with our ansible-core.
    version = GALAXY_IMPORTER_VERSION.search((REPO / "mk" / "tarball.mk").read_text(encoding="utf-8")).group(1)
    ansible_core = [line for line in pins(hand) if name(line) == "ansible-core"]
    importer = freeze(["galaxy-importer==%s" % version], ansible_core)
    GALAXY_IMPORTER.write_text("# galaxy-importer's virtualenv (mk/tarball.mk), written by make lock (tests/utils/lock.py).\n"
                               + "\n".join(importer) + "\n", encoding="utf-8")
    print("%s: %d pins" % (GALAXY_IMPORTER.name, len(importer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
