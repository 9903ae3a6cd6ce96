"""A warning our own YAML causes fails the pinned smoke, even where ansible-core prints the same text itself.

ansible-core 2.16.20 deprecates a mapping-style ``action``, and builds every role's implicit
argument-validation task with one (smoke.UPSTREAM_WARNINGS allows that). A task of ours written the same
way prints the same text, and Ansible prints a text once: only the probe's record of where the data came
from tells them apart. This runs the real ``check`` step of the pinned 2.16 against an emulator, on the
collection as it is and with one planted task.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import smoke

PLANTED = """- name: Planted mapping-style action
  action:
    module: ansible.builtin.debug
    msg: planted
"""


@pytest.fixture(scope="module")
def pinned_216():
    pins = smoke.read_pins()
    version = next(smoke.pinned_version(pin) for pin in pins.ansible_core if smoke.pinned_version(pin).release[:2] == (2, 16))
    return version, pins.constraints(version)


def collection_copy(tmp_path: Path, planted: bool) -> Path:
    source = Path(os.environ.get("ANSIBLE_COLLECTIONS_PATH", smoke.REPO / ".cache" / "collections"))
    target = tmp_path / "collections"
    shutil.copytree(source / "ansible_collections" / "golden_image", target / "ansible_collections" / "golden_image",
                    ignore=shutil.ignore_patterns(".git"))
    if planted:
        tasks = target / "ansible_collections" / "golden_image" / "linode" / "roles" / "image_capture" / "tasks" / "main.yml"
        text = tasks.read_text(encoding="utf-8")
        tasks.write_text(text.replace("\n- name: ", "\n" + PLANTED + "\n- name: ", 1), encoding="utf-8")
    return target


@pytest.mark.parametrize("planted", [False, True], ids=["as-is", "planted"])
def test_a_mapping_action_of_ours_fails_the_pinned_smoke(planted, pinned_216, tmp_path, monkeypatch):
    version, constraints = pinned_216
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(collection_copy(tmp_path, planted)))
    run = smoke.run_version(version, "python3", constraints, steps=("check",),
                            log_name="-planted" if planted else "-as-is")
    assert not run.error, run.error
    step, = run.steps
    # ansible-core's own emission was recorded, about no file, in both runs: alone, it is allowed.
    emissions = [emission for warning in step.warnings for emission in warning.emissions]
    assert any(emission["emitter"].startswith("ansible/parsing/mod_args.py:") and not emission["data_origin"]
               for emission in emissions), step.warnings
    if not planted:
        assert step.ok, step.detail
        assert [warning.kind for warning in step.upstream_warnings(version)] == ["DEPRECATION WARNING"]
        return
    assert not step.ok
    refused, = step.refused_warnings(version)
    assert "Using a mapping for `action` is deprecated" in str(refused)
    assert "roles/image_capture/tasks/main.yml:" in step.detail, step.detail
    assert "emitted at ansible/parsing/mod_args.py:" in step.detail, step.detail
