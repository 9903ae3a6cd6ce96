"""The official Linode CLI (linode-cli, pinned in requirements-dev.txt), unmodified, against the emulator.

The CLI is configured only through its environment variables (LINODE_CLI_TOKEN,
LINODE_CLI_API_HOST, LINODE_CLI_API_SCHEME, LINODE_CLI_API_VERSION, read by
``linodecli.helpers`` and ``linodecli.configuration``) and a temporary HOME/XDG_CONFIG_HOME
with no config file: with a token in the environment it never runs its interactive
``configure``. The emulator serves plain HTTP (``--no-tls``, ``LINODE_CLI_API_SCHEME=http``).

The CLI asks PyPI for a newer release only when a response's ``X-Spec-Version`` is newer than
its own spec; ``--suppress-warnings`` skips that check altogether, and the proxy variables point
at a local socket that must see no connection, so any attempt to leave the machine is caught
(loopback is in NO_PROXY). stdin is /dev/null and every run has a timeout: it can never prompt.

Waits poll the emulator's control state (not logged, so the request log holds the CLI's requests
only) with a deadline, and hold whatever way the emulator reports progress: events that appear a
moment after the request, boot events that start ``scheduled``, images with no regions while
``creating``. Only terminal states are asserted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import FLEETS, Emulator, wait_for

FLEET = FLEETS / "linode_cli.yml"
# The emulator's recorded durations over 50: shutdown 0.56 s, boot 0.48 s, capture of the 600 MB disk about 4.4 s.
SPEED = 50
CLI_TIMEOUT_S = 30.0
WAIT_S = 15.0

LINODE_ID = 1101  # running, disk 2101 (ext4, 600 MB used), config 3101
OTHER_ID = 1102  # offline; never touched
DISK_ID = 2101
EXISTING_IMAGE = "private/4300"
IMAGE_LABEL = "cli-golden-web"
IMAGE_DESCRIPTION = "Captured by the official linode-cli"
IMAGE_TAG = "cli-test"
HOME_REGION = "us-east"
REPLICA_REGION = "eu-west"

# The CLI's own exit code for a request that failed (linodecli.exit_codes.ExitCodes.REQUEST_FAILED).
REQUEST_FAILED = 2


def cli_path() -> Path:
    """linode-cli from $LINODE_CLI_BIN, else the one `make venv` puts next to this Python."""
    override = os.environ.get("LINODE_CLI_BIN")
    return Path(override) if override else Path(sys.executable).parent / "linode-cli"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture
def cli_bin() -> Path:
    path = cli_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        reason = (
            f"linode-cli not found at {path}: `make venv` installs the version pinned in "
            "requirements-dev.txt (or set LINODE_CLI_BIN)"
        )
        if _ci():
            pytest.fail(f"{reason}; CI=true, so this must not be skipped", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def internet_trap() -> Iterator[socket.socket]:
    """A listening socket the CLI's proxy variables point at: any connection is a request off the machine."""
    trap = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    yield trap
    trap.close()


def assert_trap_untouched(trap: socket.socket) -> None:
    trap.setblocking(False)
    try:
        connection, _address = trap.accept()
    except BlockingIOError:
        return
    connection.close()
    raise AssertionError("linode-cli tried to reach a host other than the emulator (through the proxy trap)")


class LinodeCli:
    """Runs the installed linode-cli against one emulator, with a private HOME and no stdin."""

    def __init__(self, binary: Path, emu: Emulator, home: Path, proxy: str) -> None:
        assert emu.url.startswith("http://"), "the emulator must run with --no-tls"
        self.binary = binary
        self.home = home
        (home / ".config").mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LINODE_")
            and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
            and key not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "XDG_CONFIG_HOME")
        }
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            LINODE_CLI_TOKEN=emu.token,
            LINODE_CLI_API_HOST=emu.url.removeprefix("http://"),
            LINODE_CLI_API_SCHEME="http",
            LINODE_CLI_API_VERSION="v4",
            LINODE_CLI_SUPPRESS_VERSION_WARNING="1",
            NO_COLOR="1",
            COLUMNS="200",
        )
        for name in ("http_proxy", "https_proxy", "all_proxy"):
            env[name] = env[name.upper()] = proxy
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), *args, "--suppress-warnings"]
        result = subprocess.run(
            command,
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        try:
            return json.loads(result.stdout)
        except ValueError as error:
            raise AssertionError(f"{args}: not JSON: {result.stdout!r}\n{result.stderr}") from error


def linode_status(state: dict[str, Any], linode_id: int) -> str:
    return next(linode["status"] for linode in state["linodes"] if linode["id"] == linode_id)


def image_in(state: dict[str, Any], image_id: str) -> dict[str, Any]:
    """A private image of the emulator's state; {} once it is gone."""
    return next((image for image in state["images"] if image["id"] == image_id), {})


def image_regions(state: dict[str, Any], image_id: str) -> set[tuple[str, str]]:
    return {(r["region"], r["status"]) for r in image_in(state, image_id).get("regions", [])}


def wait_state(emu: Emulator, predicate: Callable[[dict[str, Any]], Any], what: str) -> Any:
    return wait_for(lambda: predicate(emu.state()), timeout=WAIT_S, interval=0.05, what=what)


def finished_event(state: dict[str, Any], action: str, entity_id: int) -> dict[str, Any] | None:
    """The event ``action`` on linode ``entity_id``, once it has reached a terminal state."""
    for event in state["events"]:
        if event["action"] == action and event["entity"] and event["entity"]["id"] == entity_id:
            assert event["status"] != "failed", event
            return event if event["status"] == "finished" else None
    return None


def test_linode_cli_power_capture_replicate_delete_and_events(
    cli_bin: Path, own_emulator: Callable[..., Emulator], internet_trap: socket.socket, tmp_path: Path
) -> None:
    emu = own_emulator("--no-tls", "--speed", str(SPEED), "--no-rate-limits", fleet=FLEET)
    trap_host, trap_port = internet_trap.getsockname()
    cli = LinodeCli(cli_bin, emu, tmp_path / "home", f"http://{trap_host}:{trap_port}")

    # linodes list / view
    linodes = cli.json("linodes", "list")
    assert {(l["id"], l["label"], l["status"], l["region"]) for l in linodes} == {
        (LINODE_ID, "cli-web-1", "running", "us-east"),
        (OTHER_ID, "cli-db-1", "offline", "us-west"),
    }
    [viewed] = cli.json("linodes", "view", str(LINODE_ID))
    assert (viewed["id"], viewed["label"], viewed["status"]) == (LINODE_ID, "cli-web-1", "running")
    assert viewed["tags"] == ["cli", "web"] and viewed["type"] == "g6-standard-1"

    # linodes shutdown: offline in the emulator's state, and as the CLI sees it
    cli.run("linodes", "shutdown", str(LINODE_ID))
    wait_state(emu, lambda s: linode_status(s, LINODE_ID) == "offline", "offline")
    [viewed] = cli.json("linodes", "view", str(LINODE_ID))
    assert (viewed["id"], viewed["status"]) == (LINODE_ID, "offline")

    # images create from the offline linode's disk
    [created] = cli.json(
        "images", "create", "--disk_id", str(DISK_ID), "--label", IMAGE_LABEL,
        "--description", IMAGE_DESCRIPTION, "--tags", IMAGE_TAG,
    )  # fmt: skip
    image_id = created["id"]
    assert image_id.startswith("private/") and image_id != EXISTING_IMAGE, created
    assert (created["label"], created["status"], created["is_public"]) == (IMAGE_LABEL, "creating", False)
    assert created["description"] == IMAGE_DESCRIPTION and created["tags"] == [IMAGE_TAG]
    wait_state(
        emu,
        lambda s: image_in(s, image_id).get("status") == "available" and finished_event(s, "disk_imagize", LINODE_ID),
        "image available",
    )

    # linodes boot: running again
    cli.run("linodes", "boot", str(LINODE_ID))
    wait_state(emu, lambda s: linode_status(s, LINODE_ID) == "running", "running")
    assert linode_status(emu.state(), OTHER_ID) == "offline"

    # images list / view: the new image, with the label given
    listed = {image["id"]: image for image in cli.json("images", "list")}
    assert EXISTING_IMAGE in listed and listed[EXISTING_IMAGE]["label"] == "cli-existing-golden"
    assert (listed[image_id]["label"], listed[image_id]["status"]) == (IMAGE_LABEL, "available")
    [viewed_image] = cli.json("images", "view", image_id)
    assert (viewed_image["id"], viewed_image["label"], viewed_image["status"]) == (image_id, IMAGE_LABEL, "available")
    assert viewed_image["description"] == IMAGE_DESCRIPTION and viewed_image["tags"] == [IMAGE_TAG]
    assert viewed_image["size"] == 600  # the disk's used MB
    assert viewed_image["regions"] == [{"region": HOME_REGION, "status": "available"}]

    # images replicate: the new region is added (at first in some replication status), then available
    [replicated] = cli.json("images", "replicate", image_id, "--regions", HOME_REGION, "--regions", REPLICA_REGION)
    assert replicated["id"] == image_id
    assert {r["region"] for r in replicated["regions"]} == {HOME_REGION, REPLICA_REGION}, replicated
    wait_state(
        emu,
        lambda s: image_regions(s, image_id) == {(HOME_REGION, "available"), (REPLICA_REGION, "available")},
        "replica available",
    )
    [viewed_image] = cli.json("images", "view", image_id)
    assert sorted((r["region"], r["status"]) for r in viewed_image["regions"]) == [
        (REPLICA_REGION, "available"),
        (HOME_REGION, "available"),
    ]

    # events list (X-Filter on entity.id): the shutdown, the capture and the boot of that linode
    wait_state(
        emu,
        lambda s: all(finished_event(s, a, LINODE_ID) for a in ("linode_shutdown", "disk_imagize", "linode_boot")),
        "power and capture events finished",
    )
    events = cli.json("events", "list", "--entity.id", str(LINODE_ID))
    assert events and all(e["entity"]["id"] == LINODE_ID and e["entity"]["type"] == "linode" for e in events), events
    by_action = {e["action"]: e for e in events}
    assert {"linode_shutdown", "disk_imagize", "linode_boot"} <= set(by_action), events
    for action in ("linode_shutdown", "disk_imagize", "linode_boot"):
        assert by_action[action]["status"] == "finished", by_action[action]
        assert by_action[action]["entity"]["label"] == "cli-web-1"
    assert by_action["linode_shutdown"]["id"] < by_action["disk_imagize"]["id"] < by_action["linode_boot"]["id"]
    # The captured image as secondary entity: the spec types its id "private/N", the recorded API sends N.
    imagize_secondary = by_action["disk_imagize"].get("secondary_entity")
    if imagize_secondary is not None:
        assert imagize_secondary["type"] == "image", imagize_secondary
        assert str(imagize_secondary["id"]) in (image_id, image_id.removeprefix("private/")), imagize_secondary
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)  # newest first

    # images delete: gone from the emulator, from images list, and images view answers 404
    cli.run("images", "delete", image_id)
    wait_state(emu, lambda s: not image_in(s, image_id), "image deleted")
    listed_ids = [image["id"] for image in cli.json("images", "list")]
    assert image_id not in listed_ids and EXISTING_IMAGE in listed_ids
    missing = cli.run("images", "view", image_id, "--json", check=False)
    assert missing.returncode == REQUEST_FAILED, (missing.stdout, missing.stderr)
    assert "Request failed: 404" in missing.stderr

    # The request log: exactly these requests, in this order, each 2xx but the last.
    v4_image = f"/v4/images/{image_id}"
    expected = [
        ("GET", "/v4/linode/instances"),
        ("GET", f"/v4/linode/instances/{LINODE_ID}"),
        ("POST", f"/v4/linode/instances/{LINODE_ID}/shutdown"),
        ("GET", f"/v4/linode/instances/{LINODE_ID}"),
        ("POST", "/v4/images"),
        ("POST", f"/v4/linode/instances/{LINODE_ID}/boot"),
        ("GET", "/v4/images"),
        ("GET", v4_image),
        ("POST", f"{v4_image}/regions"),
        ("GET", v4_image),
        ("GET", "/v4/account/events"),
        ("DELETE", v4_image),
        ("GET", "/v4/images"),
        ("GET", v4_image),
    ]
    log = emu.request_log()
    assert [(r["method"], r["path"]) for r in log] == expected, json.dumps(log, indent=1)
    assert all(200 <= r["status"] < 300 for r in log[:-1]), json.dumps(log, indent=1)
    assert log[-1]["status"] == 404
    for request in log:
        if request["method"] == "GET":
            assert "page=1" in request["query"].split("&"), request

    assert_trap_untouched(internet_trap)
    # The token came from the environment: the CLI never ran `configure` and wrote no config.
    assert not (cli.home / ".config" / "linode-cli").exists()
    assert not (cli.home / ".linode-cli").exists()
