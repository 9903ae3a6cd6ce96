"""The real awx.awx modules, recording their arguments instead of calling a controller.

awx.awx cannot be installed from Galaxy here, but the ``ansible`` package on the Python package index
ships it (ansible 12.3.0: awx.awx 24.6.1, the AWX release awx_support mirrors). ``recording_collection``
downloads that wheel once (``pip download``, bounded by a timeout, kept under .cache/awx-collection), takes
awx.awx from it, and makes a collections root in which its modules are the real ones and only
``ControllerAPIModule`` is changed: it builds the module's own argument spec with AWX's connection
options, as the real class does, so that Ansible validates the playbook's arguments against it (an unknown
option, a wrong type or choice, a missing required option fail the task as they would against AWX); then it
appends the module's name and arguments to the file ``AWX_RECORD_FILE`` names and exits, before any request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from awx_env import JOB_TIMEOUT_S, REPO, unavailable

ANSIBLE_PACKAGE = "ansible==12.3.0"
AWX_COLLECTION_VERSION = "24.6.1"
CACHE = REPO / ".cache" / "awx-collection"
DOWNLOAD_TIMEOUT_S = 600
RECORD_VARIABLE = "AWX_RECORD_FILE"

RECORDING = '''

# Added by tests/awx/awx_modules.py: validate against the module's real argument spec, record, exit.
class _RecordingControllerAPIModule(ControllerAPIModule):
    def __init__(self, argument_spec, direct_params=None, error_callback=None, warn_callback=None, **kwargs):
        full_argspec = dict(ControllerModule.AUTH_ARGSPEC)
        full_argspec.update(argument_spec)
        kwargs["supports_check_mode"] = True
        AnsibleModule.__init__(self, argument_spec=full_argspec, **kwargs)
        params = dict((name, value) for name, value in self.params.items()
                      if name not in ControllerModule.AUTH_ARGSPEC and value is not None)
        with open(environ["%s"], "a") as record:
            record.write(dumps({"module": self._name, "params": params}) + "\\n")
        self.exit_json(changed=True)


ControllerAPIModule = _RecordingControllerAPIModule
''' % RECORD_VARIABLE


def _awx_collection() -> Path:
    """``.cache/awx-collection/ansible_collections/awx/awx``, from the ansible wheel, downloaded once."""
    collection = CACHE / "ansible_collections" / "awx" / "awx"
    if (collection / "MANIFEST.json").is_file():
        return collection
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        ANSIBLE_PACKAGE, "-d", str(wheels)], check=True, timeout=DOWNLOAD_TIMEOUT_S,
                       capture_output=True, text=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        unavailable("awx.awx comes from the %s wheel, which pip could not download: %s" % (
            ANSIBLE_PACKAGE, (getattr(exc, "stderr", "") or str(exc)).strip()[-500:]))
    wheel = next(wheels.glob("ansible-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith("ansible_collections/awx/awx/")]
        archive.extractall(CACHE, members)
    with open(collection / "MANIFEST.json", encoding="utf-8") as manifest:
        version = json.load(manifest)["collection_info"]["version"]
    assert version == AWX_COLLECTION_VERSION, "%s ships awx.awx %s" % (ANSIBLE_PACKAGE, version)
    return collection


def recording_collection(root: Path) -> Path:
    """A collections root under ``root`` whose awx.awx records its modules' arguments; returns the root."""
    real = _awx_collection()
    target = root / "ansible_collections" / "awx" / "awx"
    shutil.copytree(real, target)
    controller_api = target / "plugins" / "module_utils" / "controller_api.py"
    with open(controller_api, "a", encoding="utf-8") as module_utils:
        module_utils.write(RECORDING)
    return root


def run_recorded(playbook: Path, root: Path, env: dict, extra_vars: dict) -> list:
    """Run ``playbook`` with the recording awx.awx; the records, in the order the tasks ran."""
    record = root / "awx-record.jsonl"
    collections = recording_collection(root / "collections")
    env = dict(env, **{RECORD_VARIABLE: str(record)})
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([str(collections), env["ANSIBLE_COLLECTIONS_PATH"]])
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook),
                           "-e", json.dumps(dict(extra_vars, ansible_python_interpreter=sys.executable))],
                          env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(record, encoding="utf-8") as recorded:
        return [json.loads(line) for line in recorded]
