"""The execution environment: the collection's Python requirements carry no cap and no pin, and both example
definitions (from Galaxy, from the tarball) pass ansible-builder's own schema and make the build context
the image needs.

There is no container engine here: ``ansible-builder create`` validates a definition and writes the
context (Containerfile and _build/) without building; the image's builder stage would run the context's
own ``introspect.py`` on the installed collection, and so do these tests.
"""

from __future__ import annotations

import importlib
import re
import shutil
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tarball_env import COLLECTION, REPO, run, tool, tool_environment

BUILDER_TIMEOUT_S = 120
DEFINITIONS = {"galaxy": REPO / "docs" / "execution-environment.yml",
               "tarball": REPO / "docs" / "execution-environment-tarball.yml"}
# What the collection-requirements rules allow in a collection's Python requirements: a floor, exclusions.
ALLOWED_OPERATORS = {">=", "!="}
# A community-ee-minimal or ee-minimal tag names a release: "2.19.3-1", "1.0.0-123"; never "latest".
PINNED_TAG = re.compile(r":\d+(\.\d+)+-\d+$")


def load(path) -> dict:
    with open(path, encoding="utf-8") as definition:
        return yaml.safe_load(definition)


def collection_requirements(collection_dir) -> list:
    meta = load(collection_dir / "meta" / "execution-environment.yml")
    assert meta["version"] == 3
    assert set(meta["dependencies"]) == {"python"}, "a system dependency needs bindep.txt (and a test)"
    lines = (collection_dir / meta["dependencies"]["python"]).read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def create(definition_path, context) -> str:
    done = run([tool("ansible-builder"), "create", "-f", definition_path, "-c", context,
                "--output-filename", "Containerfile"], BUILDER_TIMEOUT_S)
    assert done.returncode == 0, done.tail()
    return (context / "Containerfile").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def installed_root(tarball, tmp_path_factory):
    """The tarball installed as the image's galaxy stage installs it: ``ansible-galaxy collection install``."""
    root = tmp_path_factory.mktemp("installed")
    # Into a collections path of its own: ansible-galaxy installs nothing it already finds on the configured ones.
    done = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", root, tarball], BUILDER_TIMEOUT_S,
               env=tool_environment(root, root / "ansible-home"))
    assert done.returncode == 0, done.tail()
    assert (root.joinpath(*COLLECTION) / "MANIFEST.json").is_file(), done.tail()
    return root


def test_requirements_have_no_cap_and_no_pin(unpacked_root):
    requirements = collection_requirements(unpacked_root.joinpath(*COLLECTION))
    assert [requirement.name for requirement in requirements] == ["linode_api4", "jmespath"]
    for requirement in requirements:
        operators = {specifier.operator for specifier in requirement.specifier}
        assert operators <= ALLOWED_OPERATORS, (
            "%s: only >= and != belong in an execution environment's requirements; state a cap the modules "
            "need in their run-time check instead" % requirement)


def test_the_floor_is_the_one_the_modules_check(unpacked_root):
    """requirements.txt's linode_api4 floor and the transport's run-time check say the same release."""
    sys.path.insert(0, str(unpacked_root))
    try:
        transport = importlib.import_module("ansible_collections.golden_image.linode.plugins.module_utils.transport")
    finally:
        sys.path.remove(str(unpacked_root))
    floor = ".".join(map(str, transport.LINODE_API4_MINIMUM))
    linode_api4 = collection_requirements(unpacked_root.joinpath(*COLLECTION))[0]
    assert str(linode_api4.specifier) == ">=" + floor
    assert transport.LINODE_API4_REQUIRED.startswith(">=%s," % floor)


def test_the_image_build_finds_the_requirements_in_the_installed_tarball(installed_root, tmp_path):
    """The context's introspect.py, which the image's builder stage runs, on the collection installed from the tarball."""
    context = tmp_path / "context"
    create(DEFINITIONS["galaxy"], context)
    done = run([sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", installed_root],
               BUILDER_TIMEOUT_S)
    assert done.returncode == 0, done.tail()
    found = yaml.safe_load(done.output)
    print("\n$ introspect.py introspect (installed from the tarball)\n%s" % done.output.strip())
    assert found["python"] == ["linode_api4>=5.48.0  # from collection golden_image.linode",
                               "jmespath>=1.0.1  # from collection golden_image.linode"]
    assert found["system"] == []


@pytest.mark.parametrize("source", sorted(DEFINITIONS))
def test_the_base_image_is_pinned(source):
    definition = load(DEFINITIONS[source])
    assert definition["version"] == 3, "ansible-builder 3's format"
    image = definition["images"]["base_image"]["name"]
    assert PINNED_TAG.search(image), "%s: the base image %s names no release tag" % (DEFINITIONS[source].name, image)


def test_the_two_definitions_differ_only_in_the_collection_source():
    galaxy, tarball = (load(DEFINITIONS[source]) for source in ("galaxy", "tarball"))
    for definition in (galaxy, tarball):
        definition["dependencies"].pop("galaxy")
        definition.pop("additional_build_files", None)
    assert galaxy == tarball


def test_from_galaxy(tmp_path, galaxy_meta):
    definition = load(DEFINITIONS["galaxy"])
    containerfile = create(DEFINITIONS["galaxy"], tmp_path / "context")
    assert containerfile.startswith('ARG EE_BASE_IMAGE="%s"\n' % definition["images"]["base_image"]["name"])
    # ansible-core and ansible-runner come with the base image: the final stage checks that they are there.
    assert "check_ansible" in containerfile
    requirements = load(tmp_path / "context" / "_build" / "requirements.yml")
    [collection] = requirements["collections"]
    assert collection["name"] == "golden_image.linode"
    assert SpecifierSet(collection["version"]).contains(galaxy_meta["version"]), (
        "%s does not admit this release, %s" % (collection["version"], galaxy_meta["version"]))


def test_from_the_tarball(tmp_path, tarball, galaxy_meta):
    """The definition beside the tarball, as its comment says; the tarball goes into the context and is installed."""
    definition = load(DEFINITIONS["tarball"])
    [build_file] = definition["additional_build_files"]
    assert build_file["src"] == tarball.name, (
        "%s copies %s, but this release's tarball is %s" % (DEFINITIONS["tarball"].name, build_file["src"], tarball.name))
    shutil.copy(DEFINITIONS["tarball"], tmp_path)
    shutil.copy(tarball, tmp_path)
    containerfile = create(tmp_path / DEFINITIONS["tarball"].name, tmp_path / "context")
    copied = tmp_path / "context" / "_build" / build_file["dest"] / tarball.name
    assert copied.read_bytes() == tarball.read_bytes()
    assert "COPY _build /build" in containerfile
    requirements = load(tmp_path / "context" / "_build" / "requirements.yml")
    assert requirements["collections"] == [{"name": "/build/%s/%s" % (build_file["dest"], tarball.name), "type": "file"}]
    assert galaxy_meta["version"] in tarball.name
