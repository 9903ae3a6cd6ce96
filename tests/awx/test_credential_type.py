"""The "Linode API" credential type (extensions/awx/credential_type.yml): valid for AWX, injected as documented.

AWX's own checks and injection are redone in awx_support. A credential without CA certificate
gives the modules an empty LINODE_CA, which they take as "not set" (a module call confirms it
against the emulator over plain HTTP).
"""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest

import awx_support
from awx_env import JOB_TIMEOUT_S, new_token, running_emulator

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_awx_accepts_it(credential_type):
    awx_support.validate_credential_type(credential_type)
    assert credential_type["kind"] == "cloud"
    fields = dict((field["id"], field) for field in credential_type["inputs"]["fields"])
    assert fields["api_token"]["secret"] is True
    assert fields["ca_cert"]["multiline"] is True
    assert credential_type["inputs"]["required"] == ["api_token"]
    assert set(credential_type["injectors"]["env"]) == {"LINODE_TOKEN_FILE", "LINODE_API_URL", "LINODE_CA"}


@pytest.mark.parametrize("change, message", [
    (lambda ct: ct["injectors"]["env"].update(ANSIBLE_CONFIG="x"), "not allowed"),
    (lambda ct: ct["injectors"]["env"].update(LINODE_OTHER="{{ nothing }}"), "undefined field"),
    (lambda ct: ct["inputs"]["fields"].append({"id": "tower", "label": "x"}), "reserved"),
    (lambda ct: ct["injectors"]["file"].update({"template": "x"}), "template.<name>"),
])
def test_the_check_refuses_what_awx_refuses(credential_type, change, message):
    broken = copy.deepcopy(credential_type)
    change(broken)
    with pytest.raises(ValueError, match=message):
        awx_support.validate_credential_type(broken)


def test_full_credential(credential_type, tmp_path):
    env = awx_support.inject_credential(
        credential_type, {"api_token": "t0ken", "api_url": "https://linode.example/v4", "ca_cert": PEM}, str(tmp_path))
    assert "t0ken" not in env.values()
    with open(env["LINODE_TOKEN_FILE"], encoding="utf-8") as token_file:
        assert token_file.read() == "t0ken"
    assert env["LINODE_API_URL"] == "https://linode.example/v4"
    assert os.path.dirname(env["LINODE_CA"]) == str(tmp_path / "env")
    with open(env["LINODE_CA"], encoding="utf-8") as ca_file:
        assert ca_file.read() == PEM
    assert oct(os.stat(env["LINODE_CA"]).st_mode & 0o777) == "0o660"


@pytest.mark.parametrize("inputs", [{"api_token": "t0ken"}, {"api_token": "t0ken", "api_url": "", "ca_cert": ""}])
def test_token_only_credential(credential_type, tmp_path, inputs):
    """Left empty, the URL is Linode's and LINODE_CA is empty: the modules then trust the system's CAs."""
    env = awx_support.inject_credential(credential_type, inputs, str(tmp_path))
    assert env == {"LINODE_TOKEN_FILE": env["LINODE_TOKEN_FILE"], "LINODE_API_URL": "https://api.linode.com", "LINODE_CA": ""}
    with open(env["LINODE_TOKEN_FILE"], encoding="utf-8") as token_file:
        assert token_file.read() == "t0ken"


def test_credential_without_ca_works(credential_type, tmp_path, ansible_runner_module, job_envvars):
    """A module run with the environment of a credential without CA (LINODE_CA empty) reaches the API."""
    token = new_token()
    linode = {"id": 1001, "label": "web-1", "region": "us-east", "status": "running",
              "disks": [{"id": 2001, "label": "root", "filesystem": "ext4", "size": 25088, "used_mb": 2900, "status": "ready"}],
              "configs": [{"id": 3001, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": 2001}}]}
    with running_emulator(tmp_path, token, 50, ["--no-tls"], linodes=[linode], images=[]) as started:
        private_data_dir = str(tmp_path / "job")
        envvars = dict(job_envvars)
        envvars.update(awx_support.inject_credential(credential_type, {"api_token": token, "api_url": started["api_url"]},
                                                     private_data_dir))
        assert envvars["LINODE_CA"] == ""
        runner = ansible_runner_module.run(
            private_data_dir=private_data_dir, host_pattern="localhost", module="golden_image.linode.linode_instance_info",
            module_args="labels=web-1", envvars=envvars, quiet=True, timeout=JOB_TIMEOUT_S,
            extravars={"ansible_python_interpreter": sys.executable})
    results = [event["event_data"]["res"] for event in runner.events if event["event"] == "runner_on_ok"]
    assert runner.status == "successful", "\n".join(runner.stdout.read().splitlines()[-20:])
    assert [instance["label"] for instance in results[0]["instances"]] == ["web-1"], json.dumps(results)
