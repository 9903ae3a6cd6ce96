"""``linode-emulator``: start the emulator and honour the start contract.

    linode-emulator --fleet FLEET.yml [--fleet-size N] [--port 0] [--speed S]
                    [--no-tls] [--state-dir DIR] [--no-rate-limits] [--quiet]

When it is ready to serve it prints exactly one JSON line on stdout::

    {"url": "https://127.0.0.1:PORT", "api_url": "https://127.0.0.1:PORT/v4",
     "ca_file": "/abs/path/ca.pem", "token": "<the fleet's first token>"}

(``ca_file`` is null with ``--no-tls``). Everything else goes to stderr. It
runs until SIGTERM or SIGINT and then exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from . import __version__
from .app import Emulator
from .clock import Clock
from .fleet import Fleet, FleetError, load_fleet, with_generated_linodes
from .server import EmulatorHTTPServer, run_ticker
from .tls import generate, server_context

log = logging.getLogger("linode_emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linode-emulator",
        description="Serve an emulated Linode API v4 on 127.0.0.1 for tests, benchmarks and demos.",
    )
    parser.add_argument("--fleet", type=Path, help="fleet file (YAML); required unless --fleet-size is given")
    parser.add_argument("--fleet-size", type=int, metavar="N",
                        help="generate N uniform, capturable linodes (replaces the fleet file's linodes)")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (default)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="divide every duration, rate-limit window and Retry-After by this (default 1)")
    parser.add_argument("--no-tls", action="store_true", help="serve plain HTTP instead of HTTPS")
    parser.add_argument("--state-dir", type=Path,
                        help="where ca.pem and the server certificate go "
                             "(default: a temporary directory removed at exit)")
    parser.add_argument("--no-rate-limits", action="store_true", help="turn rate limiting off")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines on stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def load(args: argparse.Namespace) -> Fleet:
    if args.fleet is None and args.fleet_size is None:
        raise FleetError("give --fleet FLEET.yml, --fleet-size N, or both")
    fleet = load_fleet(args.fleet, require_linodes=args.fleet_size is None) if args.fleet else None
    if args.fleet_size is not None:
        fleet = with_generated_linodes(fleet, args.fleet_size)
    assert fleet is not None
    return fleet


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.quiet:
        logging.getLogger("linode_emulator.access").setLevel(logging.WARNING)
    if not args.speed > 0:
        print("linode-emulator: --speed must be positive", file=sys.stderr)
        return 2
    try:
        fleet = load(args)
    except FleetError as exc:
        print(f"linode-emulator: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Install handlers before anything else can be signalled, so a quick
    # SIGTERM right after the JSON line still ends in a clean exit 0.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    temp_dir = None
    if args.state_dir is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="linode-emulator-"))
    state_dir = (args.state_dir or temp_dir).resolve()
    try:
        ssl_context = None
        ca_file = None
        if not args.no_tls:
            files = generate(state_dir)
            ssl_context = server_context(files)
            ca_file = str(files.ca_file)

        emulator = Emulator(fleet, Clock(args.speed), rate_limits=not args.no_rate_limits)
        try:
            server = EmulatorHTTPServer(args.port, emulator, ssl_context)
        except OSError as exc:
            print(f"linode-emulator: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
            return 1
        scheme = "http" if args.no_tls else "https"
        url = f"{scheme}://127.0.0.1:{server.port}"
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="emulator-accept")
        serving.start()
        run_ticker(emulator)
        log.info(
            "serving %s with %d linodes at speed %g (rate limits %s)",
            url, len(fleet.linodes), args.speed,
            "off" if args.no_rate_limits or fleet.rate_limits is None else "on",
        )
        start_line = {"url": url, "api_url": f"{url}/v4", "ca_file": ca_file, "token": fleet.first_token}
        sys.stdout.write(json.dumps(start_line) + "\n")
        sys.stdout.flush()

        while not stop.wait(timeout=1.0):
            pass
        log.info("stopping")
        emulator.stopping.set()  # releases hanging and delayed requests
        with emulator.state.timers_changed:
            emulator.state.timers_changed.notify_all()
        server.shutdown()
        server.server_close()
        serving.join(timeout=5)
        return 0
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
