"""The collection's smoke under every ansible-core it claims, each in a virtualenv of its own.

    python tests/versions/smoke.py [--python PYTHON]... [--jobs N] [--only 2.16,2.19] [--steps check,...]
    python tests/versions/smoke.py --latest [--write-pins] ...

``meta/runtime.yml``'s ``requires_ansible`` says which ansible-core versions the collection supports.
By default (``make versions``, part of make test) the smoke runs the patches pinned in
``tests/versions/constraints.txt``, one per minor, each with every runtime package pinned by the same
file, so that a release made after a commit never changes its verdict. With ``--latest``
(``make versions-latest``, a look ahead outside make test) it takes the newest patch of each claimed
minor that installs on PYTHON (the package index says which, by each release's Requires-Python) and the
newest runtime packages; ``--write-pins`` then writes what it ran into constraints.txt, for a commit
that the pinned smoke proves. Each version is installed with the collection's runtime requirements into
``.cache/versions/<version>/`` (``.cache/versions-latest/`` with ``--latest``, made anew each time)
and, against an emulator of its own serving the demo's fleet, made to run:

* ``module``: ``ansible localhost -m golden_image.linode.linode_instance_info``; the instances it
  returns are the emulator's, read with GET requests only;
* ``inventory``: ``ansible-inventory --graph`` on a ``*.linode.yml`` file of the ``instances`` plugin;
  every Linode is a host, in the group of its region;
* ``check``: the ``capture`` playbook with ``--check``; each host's verdict is the one expected, and
  the emulator received no write request;
* ``capture``: the same playbook for real; every capturable disk's image is available in the
  emulator, the raw disk is refused, and every instance is running again;
* ``golden_image``: the ``golden_image`` playbook with its defaults (no retention, no replication);
  the new image is available, named ``golden-<date>-<time>``, and its id is published with set_stats.

Every step also fails on any ``[DEPRECATION WARNING]`` and any ``[WARNING]`` that is not one of the
collection's own intended messages (``ALLOWED_WARNINGS``) or one that ansible-core causes by itself
(``UPSTREAM_WARNINGS``): a deprecation, or a value Ansible had to convert ("converted to bool"), is a
breakage announced one release ahead. Each Ansible command runs with ``warning_probe/`` on PYTHONPATH,
which records the ansible-core file and line that emitted each warning and the file of the data it was
about: an upstream warning is allowed only when every emission of it came from its ansible-core line,
about data ansible-core made itself. A failed step names each warning with where it was emitted. With
several ``--python``, a minor runs on the first interpreter that installs it (pinned: whose version the
pin's environment marker admits). A table of each version's steps and times is printed at the end, with
the upstream warnings it allowed; the exit code is 1 when any step of any version failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "utils"))
sys.path.insert(0, str(REPO / "demo"))

import with_emulator  # noqa: E402  pylint: disable=wrong-import-position
from run_demo import EXPECTED, EXPECTED_CHECK  # noqa: E402  pylint: disable=wrong-import-position

VERSIONS_DIR = REPO / ".cache" / "versions"
LATEST_DIR = REPO / ".cache" / "versions-latest"
CONSTRAINTS = REPO / "tests" / "versions" / "constraints.txt"
PROBE_DIR = REPO / "tests" / "versions" / "warning_probe"
FLEET = REPO / "demo" / "fleet.yml"
INVENTORY = REPO / "demo" / "inventory.yml"
# The capture and boot of the demo's fleet take a few seconds at this speed, as in the integration tests.
SPEED = 300
INDEX_TIMEOUT_S = 120
INSTALL_TIMEOUT_S = 600
# A step's deadline, against a hang: under make test, beside five other suites, a check step that takes
# 26 s alone has taken 240 s.
STEP_TIMEOUT_S = 900
STEPS = ("module", "inventory", "check", "capture", "golden_image")
# The demo inventory's reference instance (group golden_image_reference), named explicitly.
GOLDEN_HOST = "web-1"

# The collection's own warnings that a smoke run provokes on purpose. Anything else fails the step.
ALLOWED_WARNINGS = (
    # linode_image_capture's preflight (check mode, before the role shuts them down) says the instances
    # are running: it is the module's advice to users who capture without the role.
    re.compile(r"^\d+ of the instances are running, not offline: .* A running database may be captured mid-write"),
)


@dataclass(frozen=True)
class UpstreamWarning:
    """A warning ansible-core prints whatever our files say: allowed by its exact text in the versions that emit it."""
    kind: str
    text: str  # as printed, whitespace squeezed
    versions: SpecifierSet
    emitter: str  # the ansible-core file that prints it; its data must be ansible-core's own, from no file


UPSTREAM_WARNINGS = (
    # 2.16.20 lib/ansible/playbook/role/__init__.py:364 builds each role's implicit argument-validation task
    # with a mapping `action`, which its lib/ansible/parsing/mod_args.py:264 deprecates (2.17 and later: a string).
    UpstreamWarning("DEPRECATION WARNING",
                    "Using a mapping for `action` is deprecated. Use a string value for `action`. This feature will be"
                    " removed in version 2.23. Deprecation warnings can be disabled by setting"
                    " deprecation_warnings=False in ansible.cfg.",
                    SpecifierSet(">=2.16.20,<2.17"), "ansible/parsing/mod_args.py"),
)
WARNING_LINE = re.compile(r"^\[(DEPRECATION WARNING|WARNING)\]:?\s*(.*)$")
# Lines that end a warning's block: Ansible's own output that follows it.
OUTPUT_LINE = re.compile(r"^(\[|TASK |PLAY |RUNNING |ok:|changed:|skipping:|fatal:|failed:|included:|localhost \||@|\{|\s*\|--)")


def squeezed(text: str) -> str:
    # Older versions wrap a warning at 80 columns: match it as one line.
    return " ".join(text.split())


@dataclass
class AnsibleWarning:
    kind: str  # "DEPRECATION WARNING" or "WARNING"
    text: str  # the first line's message and the lines that belong to it (Origin, excerpt)
    emissions: list = field(default_factory=list)  # warning_probe's records of it: where it was emitted, about what

    @property
    def allowed(self) -> bool:
        """One of the collection's own intended warnings."""
        return self.kind == "WARNING" and any(pattern.search(squeezed(self.text)) for pattern in ALLOWED_WARNINGS)

    def upstream(self, version: Version) -> Optional[UpstreamWarning]:
        """The rule that allows it as ansible-core's own, if every emission of it was ansible-core's alone."""
        for rule in UPSTREAM_WARNINGS:
            if (rule.kind == self.kind and rule.text == squeezed(self.text) and version in rule.versions
                    and self.emissions and all(emission["emitter"].startswith(rule.emitter + ":")
                                               and not emission["data_origin"] for emission in self.emissions)):
                return rule
        return None

    def __str__(self) -> str:
        where = sorted(set("emitted at %s%s" % (emission["emitter"] or "an unknown place",
                                                "".join(", about %s" % origin for origin in emission["data_origin"]))
                           for emission in self.emissions))
        return "[%s] %s%s" % (self.kind, squeezed(self.text), "".join(" (%s)" % text for text in where))


def attach_emissions(warnings: list, log: Path) -> None:
    """Give each printed warning the probe's records of its message (a worker's, not the main process's replay of it)."""
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.is_file() else []
    for warning in warnings:
        printed = "".join(warning.text.split())
        mine = [record for record in records if record["kind"] == warning.kind and record["message"].strip()
                and "".join(record["message"].split()) in printed]
        warning.emissions = [record for record in mine if not record["replayed"]] or mine


def parse_warnings(output: str) -> list:
    """Every ``[WARNING]`` and ``[DEPRECATION WARNING]`` block of an Ansible command's output."""
    warnings, current = [], None
    for line in output.splitlines():
        match = WARNING_LINE.match(line)
        if match:
            current = AnsibleWarning(match.group(1), match.group(2))
            warnings.append(current)
        elif current is not None and line.strip() and not OUTPUT_LINE.match(line):
            current.text += "\n" + line
        else:
            current = None
    return warnings


# -- which versions ---------------------------------------------------------------------------------


def requires_ansible() -> SpecifierSet:
    with open(REPO / "meta" / "runtime.yml", encoding="utf-8") as runtime:
        return SpecifierSet(yaml.safe_load(runtime)["requires_ansible"])


def parse_index_versions(output: str) -> list:
    """The versions of ``pip index versions``' "Available versions: a, b, ..." line."""
    for line in output.splitlines():
        if line.startswith("Available versions:"):
            return [Version(text.strip()) for text in line.split(":", 1)[1].split(",") if text.strip()]
    raise ValueError("pip index versions printed no 'Available versions:' line:\n%s" % output)


def newest_patches(versions: list, claimed: SpecifierSet) -> list:
    """The newest release of each minor that ``claimed`` admits, oldest minor first."""
    newest = {}
    for version in versions:
        if version.is_prerelease or version not in claimed:
            continue
        minor = version.release[:2]
        if minor not in newest or version > newest[minor]:
            newest[minor] = version
    return [newest[minor] for minor in sorted(newest)]


def python_version(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


def installable_versions(python: str) -> list:
    """ansible-core releases on the package index that install on ``python`` (by their Requires-Python)."""
    major_minor = ".".join(python_version(python).split(".")[:2])
    result = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "ansible-core", "--python-version",
                             major_minor, "--only-binary=:all:"], capture_output=True, text=True,
                            timeout=INDEX_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise RuntimeError("pip index versions ansible-core failed (%d):\n%s" % (result.returncode, result.stderr))
    return parse_index_versions(result.stdout)


@dataclass
class Pins:
    """constraints.txt: one ``ansible-core==`` line per minor (a marker may say which Pythons), the rest shared."""
    ansible_core: list  # Requirement, oldest first
    shared: list  # the other lines, as written

    def constraints(self, version: Version) -> list:
        return self.shared + ["ansible-core==%s" % version]


def read_pins(path: Path = CONSTRAINTS) -> Pins:
    ansible_core, shared = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        pinned = [spec for spec in requirement.specifier if spec.operator == "=="]
        if len(pinned) != 1 or len(requirement.specifier) != 1:
            raise ValueError("%s: %r is not pinned with ==" % (path.name, line))
        if canonicalize_name(requirement.name) == "ansible-core":
            ansible_core.append(requirement)
        else:
            shared.append(line)
    versions = [pinned_version(requirement) for requirement in ansible_core]
    minors = [version.release[:2] for version in versions]
    claimed = requires_ansible()
    problems = ["ansible-core %s is not admitted by requires_ansible %s" % (version, claimed)
                for version in versions if version not in claimed]
    problems += ["ansible-core %d.%d is pinned twice" % minor for minor in set(minors) if minors.count(minor) > 1]
    if problems or not versions:
        raise ValueError("%s: %s" % (path.name, "; ".join(problems) or "no ansible-core pinned"))
    return Pins(sorted(ansible_core, key=pinned_version), shared)


def pinned_version(requirement: Requirement) -> Version:
    return Version(next(iter(requirement.specifier)).version)


def pinned_plan(pythons: list, pins: Pins) -> list:
    """(version, python) pairs: each pin on the first interpreter its environment marker admits."""
    pairs = []
    for requirement in pins.ansible_core:
        for python in pythons:
            if requirement.marker is None or requirement.marker.evaluate(
                    {"python_version": ".".join(python_version(python).split(".")[:2])}):
                pairs.append((pinned_version(requirement), python))
                break
    return pairs


def write_pins(runs: list, path: Path = CONSTRAINTS) -> list:
    """constraints.txt from the runs' virtualenvs: their ansible-core, and each other package at the lowest
    version any of them resolved (the one a stricter ansible-core capped), which the pinned smoke then proves."""
    chosen = {}
    for run in runs:
        frozen = subprocess.run([sys.executable, "-m", "pip", "--python", str(Path(run.venv_path) / "bin" / "python"),
                                 "freeze", "--all"], capture_output=True, text=True, timeout=120, check=True).stdout
        for line in frozen.splitlines():
            if "==" not in line:
                continue
            name, version = line.split("==", 1)
            if canonicalize_name(name) in ("ansible-core", "pip", "setuptools", "wheel"):
                continue
            current = chosen.get(canonicalize_name(name))
            if current is None or Version(version) < Version(current[1]):
                chosen[canonicalize_name(name)] = (name, version)
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")] if path.is_file() else []
    lines = header + ["ansible-core==%s" % run.version for run in sorted(runs, key=lambda run: run.version)]
    lines += ["%s==%s" % chosen[key] for key in sorted(chosen)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


# -- one virtualenv per version ---------------------------------------------------------------------


def venv_signature(version: Version, python: str, constraints: Optional[list]) -> dict:
    with open(REPO / "requirements.txt", "rb") as requirements:
        digest = hashlib.sha256(requirements.read()).hexdigest()
    return {"ansible_core": str(version), "python": os.path.realpath(shutil.which(python) or python),
            "python_version": python_version(python), "requirements_sha256": digest, "constraints": constraints}


def ensure_venv(version: Version, python: str, log, constraints: Optional[list], root: Path) -> tuple:
    """``root/<version>``, installed from the package index within ``constraints`` (None: the newest packages,
    made anew each time), unless an identical one is there."""
    venv = root / str(version)
    stamp = venv / "installed.json"
    signature = venv_signature(version, python, constraints)
    if constraints is not None and stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == signature:
        return venv, "reused"
    shutil.rmtree(venv, ignore_errors=True)
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
               "ansible-core==%s" % version, "-r", str(REPO / "requirements.txt")]
    if constraints is not None:
        venv.mkdir(parents=True)
        (venv / "constraints.txt").write_text("\n".join(constraints) + "\n", encoding="utf-8")
        install += ["-c", str(venv / "constraints.txt")]
    # Without a pip of its own: the project's pip installs into it (pip --python), 37 s where bootstrapping
    # a pip with ensurepip and running that took 96 s (measured for 2.19 on this project's 2-core machine).
    for command in ([python, "-m", "venv", "--without-pip", str(venv)], install):
        log.write("$ %s\n" % " ".join(command))
        log.flush()
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S, check=True)
    stamp.write_text(json.dumps(signature, indent=2) + "\n", encoding="utf-8")
    return venv, "created"


def prune_other_versions(root: Path, versions: list) -> None:
    """Remove the virtualenvs and logs of versions no longer run (a pin or the index moved on)."""
    for path in root.glob("*"):
        try:
            version = Version(path.name.removesuffix(".log"))
        except ValueError:
            continue
        if version not in versions:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()


# -- the smoke ------------------------------------------------------------------------------------


class StepFailed(AssertionError):
    pass


def check(condition: bool, message: str, *args) -> None:
    if not condition:
        raise StepFailed(message % args if args else message)


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""
    warnings: list = field(default_factory=list)

    def refused_warnings(self, version: Version) -> list:
        return [warning for warning in self.warnings if not warning.allowed and not warning.upstream(version)]

    def upstream_warnings(self, version: Version) -> list:
        return [warning for warning in self.warnings if warning.upstream(version)]


@dataclass
class Run:
    version: Version
    python_version: str
    venv: str = ""  # "created" or "reused"
    venv_path: str = ""
    venv_seconds: float = 0.0
    steps: list = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.steps) and all(step.ok for step in self.steps)


class Smoke:
    """One version's steps against one emulator; each step's output goes to the version's log."""

    def __init__(self, venv: Path, started: dict, workdir: Path, log) -> None:
        self.bin = venv / "bin"
        self.commands = 0
        self.started = started
        self.workdir = workdir
        self.log = log
        home = workdir / "ansible-home"
        self.env = dict(os.environ, PATH=os.pathsep.join([str(self.bin), os.environ.get("PATH", os.defpath)]),
                        ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH",
                                                                str(REPO / ".cache" / "collections")),
                        ANSIBLE_HOME=str(home), ANSIBLE_REMOTE_TMP=str(home / "tmp"), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                        ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                        LINODE_TOKEN=started["token"], LINODE_API_URL=started["api_url"], LINODE_CA=started["ca_file"],
                        LINODE_POLL_INTERVAL=with_emulator.poll_interval(SPEED), PYTHONPATH=str(PROBE_DIR))
        for name in ("ANSIBLE_CONFIG", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACKS_ENABLED"):
            self.env.pop(name, None)

    def requests(self) -> list:
        return with_emulator.control(self.started, "requests")["requests"]

    def state(self) -> dict:
        return with_emulator.control(self.started, "state")

    def ansible(self, step: Step, executable: str, *args, env=None) -> subprocess.CompletedProcess:
        """Run one Ansible command; note its warnings on the step, fail it on the token in the output."""
        command = [str(self.bin / executable), *args]
        self.commands += 1
        probe_log = self.workdir / ("warnings-%d.jsonl" % self.commands)
        self.log.write("\n$ %s\n" % " ".join(command))
        self.log.flush()
        result = subprocess.run(command, env=dict(self.env, SMOKE_WARNING_LOG=str(probe_log), **(env or {})),
                                cwd=self.workdir, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
        self.log.write(result.stdout + result.stderr + "(rc %d)\n" % result.returncode)
        self.log.flush()
        output = result.stdout + "\n" + result.stderr
        check(self.started["token"] not in output, "the API token appears in the output of %s", executable)
        warnings = parse_warnings(output)
        attach_emissions(warnings, probe_log)
        step.warnings.extend(warnings)
        return result

    def step_module(self, step: Step) -> None:
        before = len(self.requests())
        labels = sorted(EXPECTED)
        # The implicit localhost (local connection, this Ansible's Python) of a parsed inventory, as a user runs it.
        result = self.ansible(step, "ansible", "-i", str(INVENTORY), "localhost", "-m",
                              "golden_image.linode.linode_instance_info",
                              "-a", json.dumps({"labels": labels, "require_all": True}))
        check(result.returncode == 0 and " => " in result.stdout, "rc %d: %s", result.returncode,
              failure_summary(result))
        # "localhost | SUCCESS => {...}": the result as JSON, on one line or several, depending on the version.
        answer = json.JSONDecoder().raw_decode(result.stdout.split(" => ", 1)[1].strip())[0]
        found = dict((instance["label"], (instance["id"], instance["status"])) for instance in answer["instances"])
        emulated = dict((linode["label"], (linode["id"], linode["status"])) for linode in self.state()["linodes"])
        check(found == emulated, "the module found %s, the emulator has %s", found, emulated)
        check(not answer["changed"] and answer["missing"] == [], "changed %s, missing %s", answer["changed"],
              answer["missing"])
        sent = self.requests()[before:]
        check(sent and all(request["method"] == "GET" for request in sent), "requests sent: %s", sent)
        step.detail = "%d instances, %d GET" % (len(found), len(sent))

    def step_inventory(self, step: Step) -> None:
        config = self.workdir / "smoke.linode.yml"
        config.write_text(yaml.safe_dump({"plugin": "golden_image.linode.instances",
                                          "keyed_groups": [{"key": "linode_region", "prefix": "region"}]}),
                          encoding="utf-8")
        result = self.ansible(step, "ansible-inventory", "-i", str(config), "--graph")
        check(result.returncode == 0, "rc %d: %s", result.returncode, failure_summary(result))
        groups = graph_groups(result.stdout)
        linodes = self.state()["linodes"]
        check(set(groups.get("all", ())) == set(EXPECTED), "hosts %s, expected %s", groups.get("all"), sorted(EXPECTED))
        for linode in linodes:
            group = "region_" + linode["region"].replace("-", "_")
            check(linode["label"] in groups.get(group, ()), "%s is not in %s: %s", linode["label"], group, groups)
        step.detail = "%d hosts, %d groups" % (len(groups["all"]), len(groups) - 1)

    def playbook(self, step: Step, playbook: str, extra_vars: dict, *args, env=None) -> tuple:
        """Run one of the collection's playbooks on the demo's inventory; its report, requests and the state after."""
        before = len(self.requests())
        report_file = self.workdir / ("%s-%s.json" % (step.name, playbook.rsplit(".", 1)[-1]))
        result = self.ansible(step, "ansible-playbook", "-i", str(INVENTORY), playbook,
                              "-e", json.dumps(dict(extra_vars, image_capture_report_file=str(report_file))), *args,
                              env=env)
        check(report_file.is_file(), "no report (rc %d): %s", result.returncode, failure_summary(result))
        report = dict((row["host"], row) for row in json.loads(report_file.read_text(encoding="utf-8")))
        state = self.state()
        power = dict((linode["label"], linode["status"]) for linode in state["linodes"])
        check(set(power.values()) == {"running"}, "instances not running after %s: %s", playbook, power)
        return result, report, self.requests()[before:], state

    def step_check(self, step: Step) -> None:
        self.step_capture(step, check_mode=True)

    def step_capture(self, step: Step, check_mode: bool = False) -> None:
        # capture_hosts explicit, so the smoke does not depend on the playbook's default group.
        result, report, sent, state = self.playbook(step, "golden_image.linode.capture", {"capture_hosts": "linodes"},
                                                    *(["--check"] if check_mode else []))
        expected = EXPECTED_CHECK if check_mode else EXPECTED
        unexpected = ["%s: %s (expected %s) %s" % (host, row["result"], expected.get(host), row["reason"])
                      for host, row in report.items() if row["result"] != expected.get(host)]
        check(set(report) == set(expected) and not unexpected, "hosts %s; %s", sorted(report), "; ".join(unexpected))
        # The refused host fails the play (rc 2, "a host failed"), and it alone: any other failure is a breakage.
        refused = set(host for host, outcome in expected.items() if "refuse" in outcome)
        failed = set(host for host, counts in play_recap(result.stdout).items() if counts["failed"] or counts["unreachable"])
        check(result.returncode == 2 and failed == refused, "rc %d, failed hosts %s, expected rc 2 and %s: %s",
              result.returncode, sorted(failed), sorted(refused), failure_summary(result))
        if check_mode:
            writes = [request for request in sent if request["method"] != "GET"]
            check(not writes, "--check sent %d write requests: %s", len(writes), writes[:5])
            check(not state["images"], "--check left images: %s", state["images"])
            step.detail = "%d GET, no write" % len(sent)
            return
        available = set(image["id"] for image in state["images"] if image["status"] == "available")
        images = set(row["image_id"] for row in report.values() if row["result"] == "captured")
        check(len(images) == list(expected.values()).count("captured") and images <= available,
              "captured %s, available in the emulator %s", images, available)
        step.detail = "%d images available, %d requests" % (len(images), len(sent))

    def step_golden_image(self, step: Step) -> None:
        # Retention and replication left at their defaults: the playbook hands the role null for them.
        result, report, sent, state = self.playbook(step, "golden_image.linode.golden_image", {"golden_image_host": GOLDEN_HOST},
                                                    env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        check(result.returncode == 0, "rc %d: %s", result.returncode, failure_summary(result))
        row = report.get(GOLDEN_HOST, {})
        check(row.get("result") == "captured", "report %s", report)
        image = dict((image["id"], image) for image in state["images"]).get(row["image_id"], {})
        check(image.get("status") == "available" and re.match(r"^golden-\d{8}-\d{6}$", image.get("label", "")),
              "image %s: %s", row["image_id"], image)
        published = re.findall(r'"golden_image_id":\s*"([^"]+)"', result.stdout)
        check(published == [row["image_id"]], "golden_image_id published: %s, captured %s", published, row["image_id"])
        step.detail = "%s %s, %d requests" % (image["label"], image["id"], len(sent))


def play_recap(output: str) -> dict:
    """PLAY RECAP's counts by host: ``{"web-1": {"ok": 27, "changed": 1, "unreachable": 0, "failed": 0, ...}}``."""
    return dict((match.group(1), dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))))
                for match in re.finditer(r"^(\S+)\s+:\s+(ok=\d+.*)$", output, re.MULTILINE))


def failure_summary(result: subprocess.CompletedProcess) -> str:
    """What a failed Ansible command said: its errors and failed tasks, else the end of its output."""
    lines = (result.stdout + "\n" + result.stderr).splitlines()
    failures = []
    for line in lines:
        if line.startswith(("ERROR!", "[ERROR]")):
            failures.append(line)
        elif line.startswith("fatal:"):
            # fatal: [host]: FAILED! => {...}: its msg, not the arguments it dumps along.
            host, answer = (line.split(" => ", 1) + [""])[:2]
            try:
                failures.append("%s %s" % (host, json.loads(answer).get("msg", answer)))
            except ValueError:
                failures.append(line)
    return " | ".join(failures[-3:])[:1000] if failures else "\n".join(lines[-5:])


def graph_groups(graph: str) -> dict:
    """``ansible-inventory --graph`` as {group: [hosts under it, at any depth]}; ``all`` holds every host."""
    groups, path = {}, []
    for line in graph.splitlines():
        if not line.strip() or WARNING_LINE.match(line):
            continue
        prefix, branch, name = line.rpartition("|--")
        depth = prefix.count("|") + len(branch) // 3 if branch else 0
        path = path[:depth]
        name = name.strip()
        if name.startswith("@"):
            path.append(name[1:].rstrip(":"))
            groups.setdefault(path[-1], [])
        else:
            for group in path:
                groups[group].append(name)
    return groups


def run_step(smoke: Smoke, name: str, log, version: Version) -> Step:
    """One step (``Smoke.step_<name>``): it fails on a broken check or on a warning that is not allowed."""
    step = Step(name)
    started_at = time.monotonic()
    try:
        getattr(smoke, "step_" + name)(step)
        step.ok = True
    except StepFailed as exc:
        step.detail = str(exc)
    except (subprocess.SubprocessError, ValueError, KeyError, OSError) as exc:
        step.detail = "%s: %s" % (type(exc).__name__, exc)
    refused = [str(warning) for warning in step.refused_warnings(version)]
    if refused:
        step.detail = "; ".join(([] if step.ok else [step.detail]) + refused)
        step.ok = False
    step.seconds = time.monotonic() - started_at
    if not step.ok:
        log.write("\nFAILED %s: %s\n" % (name, step.detail))
    return step


def run_version(version: Version, python: str, constraints: Optional[list], root: Path = VERSIONS_DIR,
                steps: tuple = STEPS, log_name: str = "") -> Run:
    """One version's steps; ``constraints`` None, never a default, installs the newest packages (``--latest``)."""
    run = Run(version, python_version(python))
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / ("%s%s.log" % (version, log_name))
    with open(log_path, "w", encoding="utf-8") as log:
        started_at = time.monotonic()
        try:
            venv, run.venv = ensure_venv(version, python, log, constraints, root)
            run.venv_path = str(venv)
        except (subprocess.SubprocessError, OSError) as exc:
            run.error = "virtualenv: %s (see %s)" % (exc, log_path)
            return run
        finally:
            run.venv_seconds = time.monotonic() - started_at
        try:
            process, started = with_emulator.start_emulator(str(FLEET), SPEED, [])
        except (RuntimeError, OSError, ValueError) as exc:
            run.error = "emulator: %s" % exc
            return run
        try:
            with tempfile.TemporaryDirectory(prefix="versions-%s-" % version) as workdir:
                smoke = Smoke(venv, started, Path(workdir), log)
                run.steps = [run_step(smoke, name, log, version) for name in steps]
        finally:
            with_emulator.stop_emulator(process)
    return run


def matrix(runs: list, names: tuple = STEPS) -> str:
    rows = [("ansible-core", "Python", "venv") + names]
    for run in runs:
        cells = [str(run.version), run.python_version, "%s %.0fs" % (run.venv or "failed", run.venv_seconds)]
        steps = dict((step.name, step) for step in run.steps)
        for name in names:
            step = steps.get(name)
            cells.append("-" if step is None else "%s %.1fs" % ("ok" if step.ok else "FAIL", step.seconds))
        rows.append(tuple(cells))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for run in runs:
        if run.error:
            lines.append("%s: %s" % (run.version, run.error))
        for step in run.steps:
            if not step.ok:
                lines.append("%s %s: %s" % (run.version, step.name, step.detail))
    allowed = {}
    for run in runs:
        for step in run.steps:
            for warning in step.upstream_warnings(run.version):
                allowed.setdefault(str(warning), []).append("%s %s" % (run.version, step.name))
    for warning, where in allowed.items():
        lines.append("allowed, ansible-core's own (UPSTREAM_WARNINGS) in %s: %s" % (", ".join(where), warning))
    return "\n".join(lines)


def latest_plan(pythons: list) -> list:
    """(version, python) pairs: each claimed minor's newest patch, on the first interpreter that installs it."""
    claimed = requires_ansible()
    chosen = {}
    for python in pythons:
        for version in newest_patches(installable_versions(python), claimed):
            chosen.setdefault(version.release[:2], (version, python))
    return [chosen[minor] for minor in sorted(chosen)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", action="append", help="interpreter for the virtualenvs (default: python3); repeatable")
    parser.add_argument("--jobs", type=int, default=2, help="versions run at the same time (default 2)")
    parser.add_argument("--only", help="only these minors, comma-separated (for example 2.16,2.19)")
    parser.add_argument("--steps", help="only these steps, comma-separated (default: %s)" % ",".join(STEPS))
    parser.add_argument("--latest", action="store_true",
                        help="the newest patch of each claimed minor and the newest packages, instead of constraints.txt")
    parser.add_argument("--write-pins", action="store_true", help="with --latest: write what passed into constraints.txt")
    args = parser.parse_args()
    pythons = args.python or ["python3"]
    steps = tuple(args.steps.split(",")) if args.steps else STEPS
    if set(steps) - set(STEPS) or (args.write_pins and not (args.latest and steps == STEPS and not args.only)):
        parser.error("--steps takes %s; --write-pins needs --latest with every step and minor" % ", ".join(STEPS))

    started_at = time.monotonic()
    try:
        pins = None if args.latest else read_pins()
        pairs = latest_plan(pythons) if args.latest else pinned_plan(pythons, pins)
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        print("cannot tell which ansible-core versions to test: %s" % exc)
        return 1
    if args.only:
        pairs = [(version, python) for version, python in pairs
                 if "%d.%d" % version.release[:2] in args.only.split(",")]
    versions = [pair[0] for pair in pairs]
    root = LATEST_DIR if args.latest else VERSIONS_DIR
    print("requires_ansible %s; %s on %s: %s" % (
        requires_ansible(), "newest on the package index" if args.latest else "pinned in %s" % CONSTRAINTS.relative_to(REPO),
        ", ".join(pythons), ", ".join(map(str, versions))), flush=True)
    if not pairs:
        print("no ansible-core release that requires_ansible admits installs on %s" % ", ".join(pythons))
        return 1
    if not args.only:
        prune_other_versions(root, versions)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(lambda pair: run_version(pair[0], pair[1], None if pins is None else pins.constraints(pair[0]),
                                                      root, steps), pairs))
    print("\n" + matrix(runs, steps))
    print("\n%d versions in %.0f s (%d at a time); logs in %s"
          % (len(runs), time.monotonic() - started_at, args.jobs, root.relative_to(REPO)))
    for run in runs:
        if not run.ok:
            log = root / ("%s.log" % run.version)
            print("\n---- %s (last lines of %s)" % (run.version, log.relative_to(REPO)))
            print("\n".join(log.read_text(encoding="utf-8").splitlines()[-40:]))
    if args.latest and all(run.ok for run in runs):
        try:
            pinned = set(str(pinned_version(pin)) for pin in read_pins().ansible_core)
        except (OSError, ValueError):
            pinned = set()
        newer = sorted(set(map(str, versions)) - pinned)
        print("\nnot yet pinned in %s: %s" % (CONSTRAINTS.relative_to(REPO), ", ".join(newer) or "none"))
        if args.write_pins:
            write_pins(runs)
            print("wrote %s: run make versions, then commit it" % CONSTRAINTS.relative_to(REPO))
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
