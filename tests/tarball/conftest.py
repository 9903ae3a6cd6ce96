"""Fixtures of the tarball checks: the collection copy, the tarball built from it, a tree unpacked from it.

``make tarball-check`` runs these tests after ``make collection``; it sets ANSIBLE_COLLECTIONS_PATH (the
collection copy), ANSIBLE_TEST_HOME (where ansible-test finds its offline pip bootstrap) and
GALAXY_IMPORTER_PYTHON (galaxy-importer's own virtualenv).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tarball_env import BUILD_TIMEOUT_S, COLLECTION, DEFAULT_COLLECTIONS_ROOT, run, tool, unpack  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def collection_dir() -> Path:
    """The collection copy of ``make collection``; fail (not skip) when there is none."""
    candidates = [Path(entry) for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if entry]
    candidates.append(DEFAULT_COLLECTIONS_ROOT)
    for root in candidates:
        if (root.joinpath(*COLLECTION) / "galaxy.yml").is_file():
            return root.joinpath(*COLLECTION).resolve()
    pytest.fail("no copy of golden_image.linode under %s: make one with `make collection`" % [str(c) for c in candidates],
                pytrace=False)
    return Path()


@pytest.fixture(scope="session")
def galaxy_meta(collection_dir) -> dict:
    with open(collection_dir / "galaxy.yml", encoding="utf-8") as galaxy:
        return yaml.safe_load(galaxy)


@pytest.fixture(scope="session")
def tarball(collection_dir, galaxy_meta, tmp_path_factory) -> Path:
    """The tarball ``ansible-galaxy collection build`` makes from the collection copy."""
    output = tmp_path_factory.mktemp("built")
    done = run([tool("ansible-galaxy"), "collection", "build", "--output-path", output], BUILD_TIMEOUT_S,
               cwd=collection_dir)
    assert done.returncode == 0, done.tail()
    path = output / ("%s-%s-%s.tar.gz" % (galaxy_meta["namespace"], galaxy_meta["name"], galaxy_meta["version"]))
    assert path.is_file(), "ansible-galaxy did not write %s:\n%s" % (path.name, done.tail())
    return path


@pytest.fixture(scope="session")
def unpacked_root(tarball, tmp_path_factory) -> Path:
    """A collections root holding the unpacked tarball, for the checks that only read it."""
    root = tmp_path_factory.mktemp("unpacked")
    unpack(tarball, root)
    return root
