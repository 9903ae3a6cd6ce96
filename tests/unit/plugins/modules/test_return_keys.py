"""No module documents a result key that Ansible keeps for itself.

Ansible reads some keys of a module's result as its own (``failed``, ``msg``, ``skipped``, ``rc``, ...):
a module key of that name is overwritten by ``failed_when``, turned into a bool, hidden from the output
or read as a failure. Every key a module returns is documented in its RETURN (sanity's validate-modules
and the docs build hold the modules to that), so checking RETURN checks the results: its top-level keys
and, all the way down, the keys of their ``contains`` (the entries of ``captures`` and ``instances``, documented
under a placeholder key, ``<name>`` and ``<id>``).
"""

from __future__ import annotations

import ast
import glob
import os

import pytest
import yaml

COLLECTION_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
MODULES = sorted(glob.glob(os.path.join(COLLECTION_ROOT, "plugins", "modules", "*.py")))

# The keys ansible-core reads in a task's result (executor/task_result.py, vars/clean.py, constants.py,
# the callbacks, loops, async and retries), which a module must not return as its own.
RESERVED = frozenset((
    "failed", "changed", "msg", "skipped", "skip_reason", "rc", "stdout", "stdout_lines", "stderr", "stderr_lines",
    "module_stdout", "module_stderr", "results", "invocation", "warnings", "deprecations", "exception", "diff",
    "ansible_facts", "item", "unreachable", "censored", "attempts", "retries", "ansible_job_id", "started",
    "finished", "results_file", "add_host", "add_group", "ansible_loop_var", "ansible_index_var", "ansible_loop",
    "ansible_rsync_path", "ansible_playbook_python",
))
RESERVED_PREFIX = "_ansible_"
# An entry of a batch result may say whether that entry changed: Ansible reads only the top level's changed.
ALLOWED_IN_ENTRIES = frozenset(("changed",))


def documented_return(path: str) -> dict:
    """The RETURN of a module file, parsed, without importing the module."""
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "RETURN" for t in node.targets):
            return yaml.safe_load(node.value.value) or {}
    raise AssertionError("%s has no RETURN" % path)


def reserved_keys(documented: dict, where: str = "") -> list:
    """``["captures.failed", ...]``: the documented keys, at any depth, that Ansible reserves."""
    found = []
    for key, spec in (documented or {}).items():
        allowed = ALLOWED_IN_ENTRIES if where else frozenset()
        if (key in RESERVED and key not in allowed) or key.startswith(RESERVED_PREFIX):
            found.append(where + key)
        found.extend(reserved_keys((spec or {}).get("contains"), where + key + "."))
    return found


def test_every_module_is_checked():
    names = [os.path.basename(path) for path in MODULES]
    assert "linode_image_capture.py" in names and "linode_instance_power.py" in names and len(names) >= 6, names


def each_module():
    return [pytest.param(path, id=os.path.basename(path)[:-3]) for path in MODULES]


@pytest.mark.parametrize("path", each_module())
def test_no_module_documents_a_reserved_key(path):
    assert reserved_keys(documented_return(path)) == []


def test_the_check_finds_reserved_keys_at_the_top_and_in_entries():
    documented = yaml.safe_load("""
        failed: {description: x, type: dict}
        _ansible_no_log: {description: x, type: bool}
        changed: {description: x, type: bool}
        captures:
          description: x
          type: dict
          contains:
            <name>:
              description: x
              type: dict
              contains:
                changed: {description: x, type: bool}
                msg: {description: x, type: str}
                source: {description: x, type: dict, contains: {rc: {description: x, type: int}}}
                error: {description: x, type: str}
    """)
    assert sorted(reserved_keys(documented)) == ["_ansible_no_log", "captures.<name>.msg", "captures.<name>.source.rc",
                                                 "changed", "failed"]


@pytest.mark.parametrize("module,key,entry", [("linode_image_capture", "captures", "<name>"),
                                              ("linode_instance_power", "instances", "<id>")])
def test_batch_results_are_dicts_whose_entries_document_error(module, key, entry):
    documented = documented_return(os.path.join(COLLECTION_ROOT, "plugins", "modules", module + ".py"))
    assert documented[key]["type"] == "dict" and list(documented[key]["contains"]) == [entry]
    assert documented[key]["contains"][entry]["type"] == "dict"
    assert "error" in documented[key]["contains"][entry]["contains"]


@pytest.mark.parametrize("path", each_module())
def test_every_module_documents_the_field_of_its_failures(path):
    documented = documented_return(path)
    assert "field" in documented and documented["field"]["type"] == "str", "RETURN of %s has no field" % path
