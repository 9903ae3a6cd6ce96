"""The execution environment: the collection declares its requirements, and the example EE file builds a context.

``ansible-builder create`` writes the build context (Containerfile and _build/) without a container
engine; ``ansible-builder introspect`` reads what a collection needs from its
meta/execution-environment.yml, as the image build does. Run with ``-s`` to see their output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from awx_env import COLLECTION, REPO, unavailable

BUILDER_TIMEOUT_S = 60
EXAMPLE = REPO / "docs" / "execution-environment.yml"


def tool(name: str) -> str:
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        unavailable("%s is not installed next to %s (it is in requirements-dev.txt)" % (name, sys.executable))
    return path


def run(command: list, cwd: str | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=BUILDER_TIMEOUT_S, check=False)
    output = done.stdout + done.stderr
    print("\n$ %s\n%s" % (" ".join(os.path.basename(part) if index == 0 else part for index, part in enumerate(command)), output))
    assert done.returncode == 0, output
    return output


def context_files(context) -> list:
    return sorted(str(path.relative_to(context)) for path in context.rglob("*") if path.is_file())


def test_collection_declares_its_requirements():
    with open(REPO / "meta" / "execution-environment.yml", encoding="utf-8") as meta:
        definition = yaml.safe_load(meta)
    assert definition["version"] == 3
    assert definition["dependencies"] == {"python": "requirements.txt"}, "a system dependency needs bindep.txt"
    with open(REPO / "requirements.txt", encoding="utf-8") as requirements:
        names = [line.split(">")[0].split("=")[0].strip() for line in requirements if line.strip() and not line.startswith("#")]
    assert names == ["linode_api4", "jmespath"]


def test_create_builds_a_context(tmp_path):
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "-f", str(EXAMPLE), "-c", str(context), "--output-filename", "Containerfile"])
    files = context_files(context)
    print("\n".join(files))
    assert "Containerfile" in files and "_build/requirements.yml" in files
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-core>=2.19,<2.20" in containerfile and "ansible-runner" in containerfile
    assert "introspect.py introspect" in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert [collection["name"] for collection in requirements["collections"]] == ["golden_image.linode"]


def test_introspect_lists_our_requirements(collections_root):
    output = run([tool("ansible-builder"), "introspect", collections_root])
    data = yaml.safe_load(output)
    assert data["python"] == ["linode_api4>=5.48.0,<6  # from collection golden_image.linode",
                              "jmespath>=1.0.1  # from collection golden_image.linode"]
    assert data["system"] == []


def test_create_from_a_tarball(tmp_path, collections_root):
    """The variant of docs/awx.md for a collection not yet on Galaxy: its tarball goes into the build context."""
    collection_dir = os.path.join(collections_root, *COLLECTION)
    with open(os.path.join(collection_dir, "galaxy.yml"), encoding="utf-8") as galaxy:
        version = yaml.safe_load(galaxy)["version"]
    tarball = "golden_image-linode-%s.tar.gz" % version
    run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path)], cwd=collection_dir)
    definition = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    definition["additional_build_files"] = [{"src": tarball, "dest": "collections"}]
    definition["dependencies"]["galaxy"] = {"collections": [{"name": "/build/collections/" + tarball, "type": "file"}]}
    variant = tmp_path / "execution-environment.yml"
    variant.write_text(yaml.safe_dump(definition), encoding="utf-8")
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "-f", str(variant), "-c", str(context), "--output-filename", "Containerfile"])
    assert "_build/collections/" + tarball in context_files(context)
    # The galaxy stage copies _build to /build and installs from there.
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "COPY _build /build" in containerfile


@pytest.mark.parametrize("name", ["docs/execution-environment.yml", "meta/execution-environment.yml"])
def test_definitions_are_version_3(name):
    with open(REPO / name, encoding="utf-8") as definition:
        assert yaml.safe_load(definition)["version"] == 3
