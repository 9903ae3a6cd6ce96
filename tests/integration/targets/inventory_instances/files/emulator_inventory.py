# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a Linode API emulator of our own, run ansible-inventory on inventory files against it, stop it.

    python emulator_inventory.py --bin-dir DIR (--fleet FLEET.yml | --fleet-size N) INVENTORY.linode.yml ...

``DIR`` holds ``linode-emulator`` and ``ansible-inventory`` (the virtualenv's bin directory). Each
inventory file runs as ``ansible-inventory -i FILE --list`` with ``LINODE_TOKEN``, ``LINODE_API_URL``
and ``LINODE_CA`` taken from the emulator's start line, as a user (or AWX) would set them. Prints one
JSON object, ``{"runs": [...]}``, with for each file: ``rc``, ``hostnames``, ``groups``, ``hostvars``
(for at most 100 hosts), the ``GET /linode/instances`` requests the run sent (``list_requests``:
``query`` and ``status``), whether the token showed anywhere in its output, and its ``stderr``. The
emulator is stopped by its pid whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.request

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
RUN_TIMEOUT_S = 900
# Hosts beyond this number are counted, not listed with their variables.
MAX_HOSTVARS = 100


def start_emulator(bin_dir: str, emulator_args: list, log) -> tuple:
    command = [os.path.join(bin_dir, "linode-emulator"), "--port", "0", "--no-rate-limits", "--quiet"] + emulator_args
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)  # pylint: disable=consider-using-with
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT_S):
                raise RuntimeError("the emulator did not start within %d s" % START_TIMEOUT_S)
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator exited before it was ready (exit code %s)" % process.wait())
        return process, json.loads(line)
    except Exception:
        process.kill()
        process.wait()
        raise


def stop_emulator(process) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def request_log(started: dict) -> list:
    context = ssl.create_default_context(cafile=started["ca_file"])
    with urllib.request.urlopen(started["url"] + "/__emulator__/requests", timeout=10, context=context) as answer:
        return json.load(answer)["requests"]


def plain(value):
    """ansible-inventory marks strings from an inventory source as unsafe: ``{"__ansible_unsafe": "x"}`` -> ``"x"``."""
    if isinstance(value, dict) and list(value) == ["__ansible_unsafe"]:
        return value["__ansible_unsafe"]
    return value


def run_inventory(bin_dir: str, started: dict, path: str) -> dict:
    env = dict(os.environ, LINODE_TOKEN=started["token"], LINODE_API_URL=started["api_url"], LINODE_CA=started["ca_file"])
    before = len(request_log(started))
    result = subprocess.run([os.path.join(bin_dir, "ansible-inventory"), "-i", path, "--list"], env=env,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    requests = request_log(started)[before:]
    run = {
        "inventory": os.path.basename(path),
        "rc": result.returncode,
        "list_requests": [{"query": r["query"], "status": r["status"]}
                          for r in requests if r["path"].endswith("/linode/instances")],
        "requests": len(requests),
        "token_shown": started["token"] in result.stdout or started["token"] in result.stderr,
        "stderr": result.stderr[-4000:],
    }
    if result.returncode == 0:
        listing = json.loads(result.stdout, object_hook=plain)
        hostvars = listing.get("_meta", {}).get("hostvars", {})
        run["hostnames"] = sorted(hostvars)
        run["groups"] = dict((name, sorted(group.get("hosts", []))) for name, group in listing.items() if name != "_meta")
        if len(hostvars) <= MAX_HOSTVARS:
            run["hostvars"] = hostvars
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bin-dir", required=True)
    fleet = parser.add_mutually_exclusive_group(required=True)
    fleet.add_argument("--fleet")
    fleet.add_argument("--fleet-size", type=int)
    parser.add_argument("inventories", nargs="+")
    args = parser.parse_args()
    emulator_args = ["--fleet", args.fleet] if args.fleet else ["--fleet-size", str(args.fleet_size)]
    with tempfile.TemporaryFile(mode="w+") as log:
        process, started = start_emulator(args.bin_dir, emulator_args, log)
        try:
            runs = [run_inventory(args.bin_dir, started, path) for path in args.inventories]
        finally:
            stopped = stop_emulator(process)
    print(json.dumps({"runs": runs, "emulator_exit_code": stopped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
