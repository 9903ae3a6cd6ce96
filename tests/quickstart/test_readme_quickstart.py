"""The README's quick start, run verbatim from the collection's tarball against the emulator and real SSH hosts.

Every ``console`` block of README.md's "## Quick start" runs, in order, in one ``bash -e``, in an
empty directory that holds the tarball ``ansible-galaxy collection build`` makes of the collection
copy (``make collection``). The user is new: a fresh HOME, no virtualenv on PATH, no ANSIBLE_* or
LINODE_* variable but those the README tells users to set, and nothing else of this repository:

- the token comes on stdin, where the README's ``read -rs LINODE_TOKEN`` reads it;
- ``LINODE_API_URL`` and ``LINODE_CA`` name the emulator, and ``LINODE_POLL_INTERVAL`` scales the
  waits to its speed (the README's "an API other than https://api.linode.com");
- ``PIP_CONSTRAINT`` names requirements-dev.txt: the README's ``pip install`` takes the packages the
  gate pins, not whatever the index serves that day (``make versions-latest`` looks ahead at those);
- ``ANSIBLE_SSH_COMMON_ARGS="-F ssh_config"`` (the README's SSH step): that file routes each
  instance's public IPv4 address as the emulator hands it out (198.51.100.x, which the inventory
  plugin makes ``ansible_host``) to the instance's real sshd on loopback, with its port, user and key;
- ``host_vars/<label>.yml`` beside the inventory file sets ``image_capture_mount`` and
  ``ansible_python_interpreter``, as the README's SSH step says to when the disk is not mounted at
  ``/`` (each host's disk is a loop-mounted ext4) and when Ansible's discovery picks a Python that
  does not run (this machine's root PATH may hold pyenv shims).

The world is tests/e2e/harness.py's: two hosts, each its own sshd with its own disk, whose Linodes'
power hooks stop and start that sshd, and the emulator over HTTPS (rate limits on), which also holds
one running instance without the README's tag that the quick start must leave alone. The playbook
runs with no ``-e capture_hosts``: its default group, ``linodes``, must hold the inventory's hosts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
E2E = REPO / "tests" / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))

import harness  # noqa: E402  pylint: disable=wrong-import-position

README = REPO / "README.md"
GALAXY = REPO / "galaxy.yml"
REPOSITORY_URL = "https://github.com/golden-image/ansible-linode"
QUICK_START_HEADING = "## Quick start"
# The tag the README's inventory selects; the fleet below tags the hosts to capture with it.
README_TAG = "golden-image"
PLANS = (
    harness.HostPlan("web-1", "good", "ext4", 32, 2, "ext4", 3, "captured"),
    harness.HostPlan("web-2", "good", "ext4", 32, 3, "ext4", 4, "captured"),
)
# Running, without the README's tag: the quick start must never touch it.
BYSTANDER = {
    "id": 1901, "label": "db-1", "region": "us-east", "status": "running", "tags": ["database"],
    "disks": [{"id": 2901, "label": "db-1 root", "filesystem": "ext4", "size": 8192, "used_mb": 5, "status": "ready"}],
    "configs": [{"id": 3901, "label": "Boot Config", "root_device": "/dev/sda", "devices": {"sda": 2901}}],
}
BUILD_TIMEOUT_S = 600
# A fresh virtualenv with ansible-core installed from the package index, then a check run and a capture run.
QUICK_START_TIMEOUT_S = 900
BLOCK_MARKER = re.compile(r"^@@@ quick start block (\d+) at ([0-9.]+)$", re.MULTILINE)


def _e2e_unavailable():
    """tests/e2e's rule for a machine that cannot host real SSH hosts: skip, or fail with CI=true."""
    spec = importlib.util.spec_from_file_location("e2e_conftest", E2E / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.unavailable


unavailable = _e2e_unavailable()


# --------------------------------------------------------------------------- the README


def quick_start_blocks(readme: str) -> list[str]:
    """The ``console`` code blocks of the README's quick start section, in order."""
    section = re.search(rf"^{re.escape(QUICK_START_HEADING)}\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    if section is None:
        raise AssertionError(f"README.md has no '{QUICK_START_HEADING}' section")
    return re.findall(r"^```console\n(.*?)^```[ \t]*$", section.group(1), re.MULTILINE | re.DOTALL)


def tarball_name() -> str:
    galaxy = yaml.safe_load(GALAXY.read_text(encoding="utf-8"))
    return f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"


def block_with(blocks: list[str], needle: str, without: str | None = None) -> int:
    """The index of the one block holding ``needle`` (and not ``without``)."""
    found = [index for index, text in enumerate(blocks) if needle in text and (without is None or without not in text)]
    if len(found) != 1:
        raise AssertionError(f"the README's quick start needs exactly one console block with {needle!r}"
                             f"{f' and without {without!r}' if without else ''}; found {len(found)}: {blocks}")
    return found[0]


def test_readme_quick_start_installs_from_the_tarball_and_previews_first():
    """What the run below relies on, checked without it: the blocks exist, in a user's order."""
    blocks = quick_start_blocks(README.read_text(encoding="utf-8"))
    install = block_with(blocks, "ansible-galaxy collection install")
    assert f"ansible-galaxy collection install {tarball_name()} -p " in blocks[install], (
        f"the quick start must install the tarball the build makes, {tarball_name()}, with -p: {blocks[install]}")
    assert "ANSIBLE_COLLECTIONS_PATH=" in blocks[install], "installed with -p, the collection needs ANSIBLE_COLLECTIONS_PATH"
    assert re.search(r"pip install .*'ansible-core>=[0-9.]+'.*'linode_api4>=5\.48\.0[^']*'.*'jmespath>=", blocks[install]), blocks[install]
    token = block_with(blocks, "LINODE_TOKEN")
    # The token is read from the terminal and nothing else waits for a line of it: alone in its block.
    assert blocks[token].strip() == "read -rs LINODE_TOKEN && export LINODE_TOKEN", blocks[token]
    graph = block_with(blocks, "ansible-inventory")
    check = block_with(blocks, "--check")
    capture = block_with(blocks, "ansible-playbook", without="--check")
    assert install < token < graph < check < capture, blocks
    assert "capture_hosts" not in blocks[check] + blocks[capture], "the quick start relies on the default group"


def minimum(text: str, name: str) -> tuple[int, ...]:
    """The ``>=`` bound of ``name`` in ``text`` (``ansible-core>=2.16``, ``">=2.16.0"``), without trailing zeros."""
    found = re.search(rf"{re.escape(name)}\s*>=\s*([0-9]+(?:\.[0-9]+)*)", text)
    assert found, f"no {name}>= in {text!r}"
    version = [int(part) for part in found.group(1).split(".")]
    while len(version) > 1 and version[-1] == 0:
        version.pop()
    return tuple(version)


def test_readme_installs_what_the_collection_requires():
    """The quick start's pip line and the Requirements say the minimums of meta/runtime.yml and requirements.txt."""
    readme = README.read_text(encoding="utf-8")
    pip_line = next(line for line in quick_start_blocks(readme)[block_with(quick_start_blocks(readme), "pip install")].splitlines()
                    if "pip install" in line)
    requires_ansible = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text(encoding="utf-8"))["requires_ansible"]
    assert minimum(pip_line, "ansible-core") == minimum(requires_ansible, ""), (pip_line, requires_ansible)
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    for package in ("linode_api4", "jmespath"):
        assert minimum(pip_line, package) == minimum(requirements, package), (package, pip_line)
    requirements_section = re.search(r"^## Requirements\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL).group(1)
    core = ".".join(str(part) for part in minimum(requires_ansible, ""))
    assert f"ansible-core {core} or later" in requirements_section, f"the Requirements must say ansible-core {core} or later"


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+?)\s*$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_readme_links_are_absolute_and_name_files_that_exist():
    """On Galaxy, a relative link leads nowhere; a link into this repository must name a file or folder it has."""
    readme = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert links, "no links found"
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert relative == [], f"relative links break on the Galaxy page: {relative}"
    for link in links:
        match = re.match(rf"{re.escape(REPOSITORY_URL)}/(blob|tree)/main/([^#]+)(?:#(.+))?$", link)
        if match:
            kind, file, anchor = match.groups()
            path = REPO / file
            assert (path.is_file() if kind == "blob" else path.is_dir()), f"{link}: no {file} here"
            if anchor:
                assert anchor in heading_anchors(path.read_text(encoding="utf-8")), f"{link}: {file} has no heading #{anchor}"
        elif link.startswith(REPOSITORY_URL):
            assert link in (REPOSITORY_URL, REPOSITORY_URL + "/issues"), f"{link}: link files as {REPOSITORY_URL}/blob/main/PATH"


# --------------------------------------------------------------------------- the run


@dataclass
class Block:
    text: str
    started: float
    ended: float
    output: str


@dataclass
class QuickStart:
    """The run and what it left: the output of each README block, the emulator's record, the hosts."""

    readme_blocks: list[str]
    blocks: list[Block]  # those that ran
    returncode: int
    output: str
    requests: list[dict]
    state: dict
    hook_events: list[dict]
    answers: dict[str, bool]
    workdir: Path
    token: str
    world: harness.World

    def block(self, needle: str, without: str | None = None) -> Block:
        index = block_with(self.readme_blocks, needle, without)
        if index >= len(self.blocks):
            raise AssertionError(f"the quick start stopped (rc {self.returncode}) before its block {index}:\n"
                                 f"{self.readme_blocks[index]}\n{self.tail()}")
        return self.blocks[index]

    def requests_during(self, block: Block) -> list[dict]:
        return [entry for entry in self.requests if block.started <= entry["time"] < block.ended]

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def label_fleet(fleet: dict) -> None:
    """The hosts carry the README's tag; one more instance does not (and has no host behind it)."""
    for linode in fleet["linodes"]:
        linode["tags"] = [README_TAG]
    fleet["linodes"].append(BYSTANDER)


def build_tarball(root: Path) -> Path:
    """``ansible-galaxy collection build`` of the collection copy, as a release is built."""
    collection = harness.collections_path() / "ansible_collections" / "golden_image" / "linode"
    if not (collection / "galaxy.yml").is_file():
        pytest.fail(f"{collection} is missing: refresh the collection copy with `make collection`", pytrace=False)
    dist = root / "dist"
    env = dict(os.environ, ANSIBLE_HOME=str(root / "ansible-home"))
    harness.run([str(harness.BIN / "ansible-galaxy"), "collection", "build", str(collection), "--output-path", str(dist)],
                timeout=BUILD_TIMEOUT_S, env=env)
    built = sorted(dist.glob("*.tar.gz"))
    assert [path.name for path in built] == [tarball_name()], built
    return built[0]


def ssh_config(world: harness.World) -> str:
    """Each instance's public IPv4 (the inventory's ansible_host) reaches its own sshd, as root with its key."""
    addresses = {linode["label"]: linode["ipv4"][0] for linode in world.emulator.state()["linodes"]}
    entries = []
    for host in world.hosts:
        entries.append("\n".join([
            f"Host {addresses[host.name]}",
            "  HostName 127.0.0.1",
            f"  Port {host.port}",
            "  User root",
            f"  IdentityFile {host.client_key}",
            "  IdentitiesOnly yes",
            # Throwaway host keys, every host on 127.0.0.1: remember none of them.
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
            "  LogLevel ERROR",
        ]))
    return "\n\n".join(entries) + "\n"


def without_virtualenvs(path: str) -> str:
    """PATH without any virtualenv's bin directory: the user has none yet."""
    return os.pathsep.join(entry for entry in path.split(os.pathsep) if entry and not (Path(entry).parent / "pyvenv.cfg").exists())


def user_environment(world: harness.World, home: Path, ssh_config_file: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "LINODE_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SSH_AUTH_SOCK", "SSH_AGENT_PID"))}
    env.update({
        "HOME": str(home),
        "PATH": without_virtualenvs(os.environ.get("PATH", os.defpath)),
        "PIP_CONSTRAINT": str(REPO / "requirements-dev.txt"),
        "LINODE_API_URL": world.emulator.api_url,
        "LINODE_CA": world.emulator.ca_file,
        # The modules' real-world poll schedule, in the emulator's faster time.
        "LINODE_POLL_INTERVAL": world.environment()["LINODE_POLL_INTERVAL"],
        "ANSIBLE_SSH_COMMON_ARGS": f"-F {ssh_config_file}",
        # Not read by anything: it marks every process of the run, so what outlives it is killed by pid.
        harness.RUN_MARKER_VARIABLE: world.run_marker,
    })
    return env


def script(blocks: list[str]) -> str:
    """The blocks verbatim, each after a marker line with the time it starts (to split the output and the requests)."""
    parts = []
    for index, text in enumerate(blocks):
        parts.append(f"printf '\\n@@@ quick start block %d at %s\\n' {index} \"$EPOCHREALTIME\"\n{text}")
    parts.append(f"printf '\\n@@@ quick start block %d at %s\\n' {len(blocks)} \"$EPOCHREALTIME\"\n")
    return "\n".join(parts)


def prepare_user(world: harness.World) -> tuple[Path, dict[str, str]]:
    """An empty directory with the tarball, and the user's set-up the README asks for; returns it and the environment."""
    workdir = world.root / "quickstart"
    home = world.root / "home"
    workdir.mkdir()
    home.mkdir()
    shutil.copy(build_tarball(world.root), workdir)
    config = world.root / "ssh_config"
    config.write_text(ssh_config(world), encoding="utf-8")
    # The Python the harness's own inventory gives its hosts: on a machine whose root PATH holds pyenv
    # shims, Ansible's interpreter discovery picks a shim that does not run.
    python = world.inventory_document()["all"]["children"]["linodes"]["vars"]["ansible_python_interpreter"]
    (workdir / "host_vars").mkdir()
    for host in world.hosts:
        (workdir / "host_vars" / f"{host.name}.yml").write_text(
            yaml.safe_dump({"image_capture_mount": str(host.mount_point), "ansible_python_interpreter": python}), encoding="utf-8")
    return workdir, user_environment(world, home, config)


def run_script(world: harness.World, blocks: list[str], workdir: Path, env: dict[str, str]) -> tuple[int, str, float]:
    """Run the blocks in one ``bash -e``, the token on its stdin; returns its exit code, its output and when it ended."""
    script_file = world.root / "quickstart.sh"
    script_file.write_text(script(blocks), encoding="utf-8")
    output_file = world.root / "quickstart.out"
    with output_file.open("w", encoding="utf-8") as output:
        # Its own session: a timeout kills the whole run.
        process = subprocess.Popen(["bash", "-e", str(script_file)], cwd=workdir, env=env,  # pylint: disable=consider-using-with
                                   stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            process.communicate(input=world.emulator.token + "\n", timeout=QUICK_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=harness.EMULATOR_STOP_TIMEOUT_S)
            raise AssertionError(f"the quick start did not finish within {QUICK_START_TIMEOUT_S} s\n"
                                 f"{output_file.read_text(encoding='utf-8', errors='replace')[-6000:]}") from None
    ended = time.time()
    # What outlived the run (ssh control masters), as a user's logout would end it.
    world.kill_run_leftovers()
    return process.returncode, output_file.read_text(encoding="utf-8", errors="replace"), ended


def blocks_that_ran(blocks: list[str], output: str, ended: float) -> list[Block]:
    """Each block that started, with its output and time window, cut at the marker lines."""
    markers = list(BLOCK_MARKER.finditer(output))
    ran = []
    for position, marker in enumerate(markers[:len(blocks)]):
        following = markers[position + 1] if position + 1 < len(markers) else None
        ran.append(Block(blocks[int(marker.group(1))], float(marker.group(2)), float(following.group(2)) if following else ended,
                         output[marker.end():following.start() if following else len(output)]))
    return ran


def run_quick_start(world: harness.World, blocks: list[str]) -> QuickStart:
    workdir, env = prepare_user(world)
    events_before = len(world.hook_events())
    returncode, output, ended = run_script(world, blocks, workdir, env)
    return QuickStart(
        readme_blocks=blocks, blocks=blocks_that_ran(blocks, output, ended), returncode=returncode, output=output,
        requests=world.emulator.requests_log(), state=world.emulator.state(), hook_events=world.hook_events()[events_before:],
        answers={host.name: host.answers() for host in world.hosts}, workdir=workdir, token=world.emulator.token, world=world,
    )


@pytest.fixture(scope="module")
def quickstart() -> Iterator[QuickStart]:
    """The README's quick start, run once; the world is torn down (by pid, unmounted, removed) also on failure."""
    blocks = quick_start_blocks(README.read_text(encoding="utf-8"))
    reason = ""
    with ExitStack() as stack:
        try:
            world = harness.build_world(stack, PLANS, label_fleet)
        except harness.Unavailable as exc:
            reason = str(exc)
        else:
            yield run_quick_start(world, blocks)
    if reason:
        unavailable(reason)


def table_line(block: Block, host: str) -> str:
    """The host's line of the role's table (printed as a JSON list: one quoted line each)."""
    lines = [line for line in block.output.splitlines() if re.match(rf'^\s*"{re.escape(host)} ', line)]
    assert len(lines) == 1, f"{host}: {lines}\n{block.output[-4000:]}"
    return lines[0]


def task_results(block: Block, task: str) -> list[str]:
    """The result lines (``ok: [host]``, ``skipping: [host]`` ...) of the role's task named ``task``."""
    section = re.search(rf"^TASK \[golden_image\.linode\.image_capture : {re.escape(task)}\] \**\n(.*?)(?=^TASK |^PLAY |\Z)",
                        block.output, re.MULTILINE | re.DOTALL)
    assert section, f"no task {task!r}\n{block.output[-4000:]}"
    return re.findall(r"^\w+: \[[^\]]+\]", section.group(1), re.MULTILINE)


def recap(block: Block) -> dict[str, dict[str, int]]:
    found = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", block.output, re.MULTILINE):
        found[match.group(1)] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return found


def linode(state: dict, linode_id: int) -> dict:
    return next(item for item in state["linodes"] if item["id"] == linode_id)


def test_every_command_of_the_quick_start_succeeds(quickstart):
    assert quickstart.returncode == 0, quickstart.tail()
    assert len(quickstart.blocks) == len(quick_start_blocks(README.read_text(encoding="utf-8"))), quickstart.tail()
    assert quickstart.token not in quickstart.output, "the token was printed"


def test_the_collection_is_installed_from_the_tarball_into_a_fresh_virtualenv(quickstart):
    galaxy = yaml.safe_load(GALAXY.read_text(encoding="utf-8"))
    install = quickstart.block("ansible-galaxy collection install")
    assert f"golden_image.linode:{galaxy['version']} was installed successfully" in install.output, install.output
    manifest = quickstart.workdir / "collections" / "ansible_collections" / "golden_image" / "linode" / "MANIFEST.json"
    assert json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"] == galaxy["version"]
    # ansible-core came from the package index into the quick start's own virtualenv.
    assert (quickstart.workdir / "venv" / "bin" / "ansible-playbook").is_file()
    assert re.search(r"Successfully installed .*ansible-core-2\.\d+", install.output), install.output


def test_the_inventory_holds_the_tagged_instances_in_the_group_linodes(quickstart):
    graph = quickstart.block("ansible-inventory").output
    section = re.search(r"^\s*\|--@linodes:\n((?:\s*\|\s+\|--.*\n)*)", graph, re.MULTILINE)
    assert section, graph
    assert sorted(re.findall(r"\|--(\S+)", section.group(1))) == sorted(host.name for host in quickstart.world.hosts), graph
    assert BYSTANDER["label"] not in graph


def test_the_check_run_writes_nothing_and_says_each_host_would_be_captured(quickstart):
    check = quickstart.block("--check")
    writes = [entry for entry in quickstart.requests_during(check) if entry["method"] != "GET"]
    assert writes == [], writes
    # It read the API, and measured every host's disk with df over SSH (the host checks ran).
    assert quickstart.requests_during(check), "no API request during the check run"
    measured = task_results(check, "Measure the disk with df")
    assert sorted(measured) == sorted(f"ok: [{host.name}]" for host in quickstart.world.hosts), measured
    for host in quickstart.world.hosts:
        assert "would capture" in table_line(check, host.name), check.output[-4000:]
        assert recap(check)[host.name]["failed"] == 0 and recap(check)[host.name]["unreachable"] == 0, recap(check)
    assert not [event for event in quickstart.hook_events if event["time"] < check.ended], "the check run powered an instance"


def test_the_capture_run_gives_each_host_one_available_image_of_its_boot_disk(quickstart):
    capture = quickstart.block("ansible-playbook", without="--check")
    captures = [entry for entry in quickstart.requests_during(capture)
                if entry["method"] == "POST" and re.search(harness.CAPTURE_PATH, entry["path"])]
    assert len(captures) == len(quickstart.world.hosts), captures
    for host in quickstart.world.hosts:
        images = [image for image in quickstart.state["images"] if image["label"] == host.name]
        assert len(images) == 1, f"{host.name}: {images}\n{capture.output[-4000:]}"
        assert images[0]["status"] == "available", images
        assert f"source=linode:{host.linode_id},disk:{host.disk_id}" in images[0]["tags"], images[0]
        line = table_line(capture, host.name)
        assert images[0]["id"] in line and re.search(r"\bcaptured\b", line), line
        assert recap(capture)[host.name]["failed"] == 0 and recap(capture)[host.name]["unreachable"] == 0, recap(capture)
    assert f"{len(quickstart.world.hosts)} hosts: {len(quickstart.world.hosts)} captured" in capture.output, capture.output[-4000:]


def test_the_capture_run_powers_each_host_off_for_real_and_back_with_ssh(quickstart):
    for host in quickstart.world.hosts:
        actions = [(event["action"], event["outcome"]) for event in quickstart.hook_events if event["host"] == host.name]
        assert actions == [("stop", "ok"), ("start", "ok")], (host.name, actions)
        assert linode(quickstart.state, host.linode_id)["status"] == "running"
        assert [tag for tag in linode(quickstart.state, host.linode_id)["tags"] if tag.startswith("golden_image")] == []
    assert all(quickstart.answers.values()), quickstart.answers


def test_the_instance_without_the_tag_is_left_alone(quickstart):
    touched = [entry for entry in quickstart.requests
               if entry["method"] != "GET" and re.search(rf"/linode/instances/{BYSTANDER['id']}(/|$)", entry["path"])]
    assert touched == [], touched
    bystander = linode(quickstart.state, BYSTANDER["id"])
    assert (bystander["status"], bystander["tags"]) == ("running", BYSTANDER["tags"])
    assert [image for image in quickstart.state["images"] if image["label"] == BYSTANDER["label"]] == []
