"""The Galaxy tarball holds what users need and nothing that needs the repository, and passes, unpacked,
``ansible-lint --profile production``, ``ansible-test sanity`` and galaxy-importer.

The three tools run side by side (each on its own unpacked copy, as each writes into the tree it checks);
each test waits for its own. ``-s`` shows the listing, the size and each tool's verdict.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest

from tarball_env import HERE, required_environment, run, tool, tool_environment, unpack

LINT_TIMEOUT_S = 900
SANITY_TIMEOUT_S = 1800
IMPORTER_TIMEOUT_S = 900

# What may sit at the top of the tarball. A new top-level file or folder fails test_only_what_users_need
# until it is either listed here (shipped) or in galaxy.yml's build_ignore (left out).
TOP_LEVEL = {
    "MANIFEST.json", "FILES.json",  # written by ansible-galaxy
    "README.md", "COPYING", "LICENSES", "CHANGELOG.rst", "changelogs",
    "plugins", "roles", "playbooks", "meta", "extensions", "docs",
    "requirements.txt",  # the Python requirements meta/execution-environment.yml names
    ".ansible-lint",  # ansible-lint on the unpacked tarball needs its mock of awx.awx (extensions/awx)
}
# Needs the emulator, the repository or a build step, or is for developers only.
LEFT_OUT = ("tests/", "emulator/", "demo/", "mk/", "Makefile", "requirements-dev.txt", "CONTRIBUTING.md",
            "docs/build_docs.py", "docs/build/", "docs/rst/", "changelogs/fragments/",
            ".ci/", ".cache/", ".venv/", ".ansible/", ".git/", ".gitignore", ".pytest_cache/")
# Shipped whole: every file the collection copy has under these is in the tarball.
SHIPPED_WHOLE = ("plugins", "roles", "playbooks", "meta", "extensions", "LICENSES", "docs/docsite")
MUST_HAVE = ("README.md", "COPYING", "LICENSES/GPL-3.0-or-later.txt", "requirements.txt",
             "meta/runtime.yml", "meta/execution-environment.yml", "changelogs/changelog.yaml",
             "docs/awx.md", "docs/execution-environment.yml", "docs/execution-environment-tarball.yml")
# The FSF's gpl-3.0.txt, byte for byte (as ansible-core ships it in COPYING, and Debian in
# /usr/share/common-licenses/GPL-3).
GPL_3_SHA256 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"
# How a file's header names its license text: "(see LICENSES/GPL-3.0-or-later.txt or https://...)".
LICENSE_REFERENCE = re.compile(r"\(see ([A-Za-z0-9_./+-]+) or https?://")


def members(tarball) -> dict:
    with tarfile.open(tarball) as archive:
        return {member.name: member for member in archive.getmembers()}


def files_in(tarball) -> set:
    return {name for name, member in members(tarball).items() if not member.isdir()}


def copy_files(collection_dir: Path, folder: str) -> set:
    root = collection_dir / folder
    return {path.relative_to(collection_dir).as_posix() for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def test_listing_and_size(tarball):
    """Prints what users get: every file with its size, and the tarball's size."""
    entries = sorted(members(tarball).values(), key=lambda member: member.name)
    width = max(len(str(member.size)) for member in entries)
    lines = ["%*d  %s%s" % (width, member.size, member.name, " -> " + member.linkname if member.issym() else "")
             for member in entries if not member.isdir()]
    unpacked_size = sum(member.size for member in entries)
    print("\n%s\n%s: %d bytes (%.0f KB), %d files, %d bytes unpacked" % (
        "\n".join(lines), tarball.name, tarball.stat().st_size, tarball.stat().st_size / 1024, len(lines), unpacked_size))
    assert entries


def test_only_what_users_need(tarball, collection_dir):
    names = files_in(tarball) | {name + "/" for name, member in members(tarball).items() if member.isdir()}
    top_level = {PurePosixPath(name).parts[0] for name in names}
    assert top_level <= TOP_LEVEL, (
        "not meant for the tarball: %s (ship it: add it to TOP_LEVEL in %s; or leave it out: galaxy.yml build_ignore)"
        % (sorted(top_level - TOP_LEVEL), Path(__file__).name))
    left_in = sorted(name for name in names if name.startswith(LEFT_OUT) or name in LEFT_OUT)
    assert not left_in, "these need the repository or the emulator, or are for developers: %s" % left_in
    compiled = sorted(name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo")))
    assert not compiled, compiled
    missing = sorted(set(MUST_HAVE) - names)
    assert not missing, "missing from the tarball: %s" % missing
    for folder in SHIPPED_WHOLE:
        missing = sorted(copy_files(collection_dir, folder) - names)
        assert not missing, "in the collection but not in the tarball (%s): %s" % (folder, missing)


def test_every_license_a_header_names_is_in_it(tarball, unpacked_root):
    collection = unpacked_root / "ansible_collections" / "golden_image" / "linode"
    named = {}
    for name in files_in(tarball):
        path = collection / name
        if path.is_symlink() or path.suffix not in (".py", ".yml", ".yaml", ".ps1", ".md", ".j2"):
            continue
        for license_path in LICENSE_REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace")):
            named.setdefault(license_path, []).append(name)
    assert "LICENSES/GPL-3.0-or-later.txt" in named, "no file names LICENSES/GPL-3.0-or-later.txt: %s" % sorted(named)
    for license_path, namers in sorted(named.items()):
        assert (collection / license_path).is_file(), "%s names %s, which is not in the tarball" % (namers[0], license_path)
    text = (collection / "LICENSES" / "GPL-3.0-or-later.txt").read_bytes()
    assert hashlib.sha256(text).hexdigest() == GPL_3_SHA256, "LICENSES/GPL-3.0-or-later.txt is not the FSF's GPL 3.0 text"
    assert (collection / "COPYING").resolve() == (collection / "LICENSES" / "GPL-3.0-or-later.txt").resolve()


def test_galaxy_metadata(tarball):
    with tarfile.open(tarball) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    assert manifest["license"] == ["GPL-3.0-or-later"]
    # ansible-core's galaxy.yml schema makes license and license_file mutually exclusive; Galaxy refuses both.
    assert manifest["license_file"] is None
    assert manifest["authors"] and all("(" in author or "<" in author for author in manifest["authors"]), (
        "every author needs a contact, as 'Name <email>' or 'Name (url)': %s" % manifest["authors"])
    assert all(len(author) <= 64 for author in manifest["authors"]), "Galaxy refuses an author over 64 characters"


# The three tools, started together on first use; each test waits for its own.

@pytest.fixture(scope="session")
def tool_runs(tarball, collection_dir, tmp_path_factory):
    importer_python = required_environment("GALAXY_IMPORTER_PYTHON")
    test_home = required_environment("ANSIBLE_TEST_HOME")
    lint_root, sanity_root, importer_dir = (tmp_path_factory.mktemp(name) for name in ("lint", "sanity", "importer"))
    lint_tree, sanity_tree = unpack(tarball, lint_root / "collections"), unpack(tarball, sanity_root / "collections")
    # The repository's tests (not shipped) beside the shipped files as Galaxy gets them: one ansible-test sanity
    # run checks both, so `make test` needs no second run over the collection copy (several minutes on 2 CPUs).
    shutil.copytree(collection_dir / "tests", sanity_tree / "tests")
    python = "%d.%d" % sys.version_info[:2]
    runs = {
        "ansible-lint": dict(
            command=[tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
            timeout=LINT_TIMEOUT_S, cwd=lint_tree,
            env=tool_environment(lint_root / "collections", lint_root / "ansible-home")),
        # ansible-test keeps its virtualenvs and its offline pip bootstrap under ~/.ansible/test: the Makefile's.
        "ansible-test sanity": dict(
            command=[tool("ansible-test"), "sanity", "--venv", "--python", python, "--color", "no"],
            timeout=SANITY_TIMEOUT_S, cwd=sanity_tree,
            env=tool_environment(sanity_root / "collections", sanity_root / "ansible-home", HOME=test_home)),
        # galaxy-importer unpacks the tarball itself; its ansible-doc comes from its own virtualenv.
        "galaxy-importer": dict(
            command=[importer_python, "-m", "galaxy_importer.main", tarball],
            timeout=IMPORTER_TIMEOUT_S, cwd=importer_dir,
            env=tool_environment(
                importer_dir / "collections", importer_dir / "ansible-home",
                PATH=os.pathsep.join([os.path.dirname(importer_python), os.environ.get("PATH", os.defpath)]),
                HOME=str(importer_dir), GALAXY_IMPORTER_CONFIG=str(HERE / "galaxy-importer.cfg"),
                GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=str(importer_dir / "ansible-home" / "tmp"))),
    }
    pool = ThreadPoolExecutor(max_workers=len(runs))
    yield SimpleNamespace(futures={name: pool.submit(run, **arguments) for name, arguments in runs.items()},
                          importer_dir=importer_dir)
    pool.shutdown(wait=True)


def verdict(name: str, done, summary: str) -> None:
    print("\n%s: exit %d after %.0f s: %s" % (name, done.returncode, done.seconds, summary))


def test_ansible_lint_production_passes_unpacked(tool_runs):
    done = tool_runs.futures["ansible-lint"].result()
    summary = [line for line in done.output.splitlines() if line.startswith(("Passed:", "Failed:"))]
    verdict("ansible-lint --profile production", done, summary[-1] if summary else "no summary line")
    assert done.returncode == 0, done.tail()
    assert summary and summary[-1].startswith("Passed: 0 failure(s), 0 warning(s)"), done.tail()


def test_ansible_test_sanity_passes_unpacked_with_the_repository_tests(tool_runs):
    done = tool_runs.futures["ansible-test sanity"].result()
    ran = re.findall(r"^Running sanity test [\"']([\w-]+)[\"']", done.output, re.MULTILINE)
    verdict("ansible-test sanity", done, "%d tests ran" % len(ran))
    assert done.returncode == 0, done.tail()
    assert len(ran) >= 10 and "validate-modules" in ran and "import" in ran, "too few sanity tests ran: %s" % ran


def test_galaxy_importer_accepts_it(tool_runs, galaxy_meta, collection_dir):
    done = tool_runs.futures["galaxy-importer"].result()
    findings = [line for line in done.output.splitlines() if line.startswith(("WARNING:", "ERROR:"))]
    last = done.output.strip().splitlines()[-1] if done.output.strip() else "no output"
    verdict("galaxy-importer", done, "%s; %d warnings or errors" % (last, len(findings)))
    assert done.returncode == 0, done.tail()
    assert "Importer processing completed successfully" in done.output, done.tail()
    assert not findings, "galaxy-importer found:\n%s" % "\n".join(findings)
    with open(tool_runs.importer_dir / "importer_result.json", encoding="utf-8") as result_file:
        result = json.load(result_file)
    assert result["metadata"]["license"] == galaxy_meta["license"]
    documented = {(content["content_type"], content["content_name"]) for content in result["docs_blob"]["contents"]
                  if content.get("doc_strings")}
    # What Galaxy renders a documentation page for: every module, the inventory plugin, every filter with a sidecar.
    plugins = collection_dir / "plugins"
    expected = {("module", path.stem) for path in (plugins / "modules").glob("*.py")}
    expected |= {("inventory", path.stem) for path in (plugins / "inventory").glob("*.py")}
    expected |= {("filter", path.stem) for path in (plugins / "filter").glob("*.yml")}
    assert expected <= documented, "Galaxy would show no documentation for %s" % sorted(expected - documented)
    counts = collections.Counter(content["content_type"] for content in result["contents"])
    print("galaxy-importer found: %s" % ", ".join("%d %s" % (counts[kind], kind) for kind in sorted(counts)))
