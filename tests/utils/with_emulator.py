"""Run a command while the Linode API emulator serves a fleet, then stop the emulator.

    python tests/utils/with_emulator.py --fleet FLEET.yml [--speed S] [--config OUT.yml] [--linode-env] -- COMMAND...

The emulator's start line (url, api_url, ca_file, token) is written to ``--config`` as YAML
(ansible-test reads ``tests/integration/integration_config.yml`` as extra vars) and exported to
the command as ``LINODE_EMULATOR_*`` variables, with LINODE_POLL_INTERVAL scaled to the emulator's speed. The emulator is stopped by its pid whatever the
command does, and the command's exit code is returned.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.request

import yaml

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
# The modules' default poll_interval (plugins/doc_fragments/wait.py), in real seconds at speed 1.
DEFAULT_POLL_INTERVAL_S = 5.0


def poll_interval(speed: float) -> str:
    """LINODE_POLL_INTERVAL for an emulator at ``speed``: the modules' real-world schedule, in emulated time."""
    return "%g" % (DEFAULT_POLL_INTERVAL_S / speed)


def start_emulator(fleet: str, speed: float, extra: list) -> tuple:
    executable = os.path.join(os.path.dirname(sys.executable), "linode-emulator")
    command = [executable, "--fleet", fleet, "--port", "0", "--speed", str(speed), "--quiet"] + extra
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
    try:
        line = _read_line(process)
    except Exception:
        process.kill()
        raise
    return process, json.loads(line)


def _read_line(process) -> str:
    import selectors  # pylint: disable=import-outside-toplevel

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT_S):
            raise RuntimeError("the emulator did not start within %d s" % START_TIMEOUT_S)
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the emulator exited before it was ready (exit code %s)" % process.wait())
    return line


def stop_emulator(process) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError("the emulator did not stop within %d s of SIGTERM" % STOP_TIMEOUT_S) from None


def control(started: dict, what: str) -> dict:
    """GET /__emulator__/<what> (loopback control API, trusted through the emulator's own CA)."""
    context = ssl.create_default_context(cafile=started["ca_file"]) if started.get("ca_file") else None
    with urllib.request.urlopen(started["url"] + "/__emulator__/" + what, timeout=10, context=context) as answer:
        return json.load(answer)


def print_summary(started: dict) -> None:
    """API requests by method and path, ids folded, so a run's cost reads at a glance."""
    counts = collections.Counter()
    for request in control(started, "requests")["requests"]:
        path = re.sub(r"/private/\d+", "/private/N", re.sub(r"/\d+(?=/|$)", "/N", request["path"]))
        counts["%s %s" % (request["method"], path)] += 1
    print("\nAPI requests sent to the emulator: %d" % sum(counts.values()))
    for endpoint, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        print("  %5d  %s" % (count, endpoint))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fleet", required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--config", help="write the emulator's start line here as YAML")
    parser.add_argument("--config-var", action="append", default=[], metavar="NAME=VALUE",
                        help="also written to --config (ansible-test passes that file as extra vars)")
    parser.add_argument("--emulator-arg", action="append", default=[], help="passed on to linode-emulator")
    parser.add_argument("--summary", action="store_true",
                        help="print the API requests the command sent, by endpoint, before stopping the emulator")
    parser.add_argument("--linode-env", action="store_true",
                        help="also export LINODE_TOKEN, LINODE_API_URL and LINODE_CA, as a user would set them")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    process, started = start_emulator(args.fleet, args.speed, args.emulator_arg)
    try:
        if args.config:
            with open(args.config, "w", encoding="utf-8") as config:
                settings = dict(("emulator_" + key, value) for key, value in started.items())
                settings["emulator_poll_interval"] = poll_interval(args.speed)
                settings.update(var.split("=", 1) for var in args.config_var)
                yaml.safe_dump(settings, config)
        env = dict(os.environ)
        env.update(dict(("LINODE_EMULATOR_" + key.upper(), str(value)) for key, value in started.items()))
        env["LINODE_POLL_INTERVAL"] = poll_interval(args.speed)
        if args.linode_env:
            env.update(LINODE_TOKEN=started["token"], LINODE_API_URL=started["api_url"], LINODE_CA=started["ca_file"])
        result = subprocess.run(command, env=env, check=False)
        if args.summary:
            print_summary(started)
    finally:
        stop_code = stop_emulator(process)
    if stop_code != 0:
        print("the emulator exited %d after SIGTERM" % stop_code, file=sys.stderr)
        return result.returncode or 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
