"""Run make targets side by side and end with a summary a CI log's tail shows.

``make -j --output-sync`` prints each suite's output when it ends, and a failure somewhere in the middle
of 30 minutes of output is hard to find: CI often keeps only the tail. This runner starts every target at
once (they mostly wait on emulated jobs), prints each one's whole output when it ends, then a table of
every suite's result and time, then the last lines of each failed suite's output again, so the end of the
log says what failed and why. It exits 1 when any suite failed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAIL_LINES = 120
POLL_INTERVAL_S = 1.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", default=os.environ.get("MAKE", "make"), help="the make command (split as a shell would)")
    parser.add_argument("targets", nargs="+", help="the make targets to run side by side")
    return parser.parse_args(argv)


def child_environment() -> dict[str, str]:
    """The environment without the parent make's jobserver, which the children cannot reach."""
    return {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def wait_for_all(running: dict) -> dict:
    """Print each target's output when it ends; return {target: (exit code, seconds, output)}."""
    results = {}
    while running:
        for target, (process, log_path, target_start) in list(running.items()):
            if process.poll() is None:
                continue
            seconds = time.monotonic() - target_start
            output = log_path.read_text(encoding="utf-8", errors="replace")
            results[target] = (process.returncode, seconds, output)
            del running[target]
            verdict = "ok" if process.returncode == 0 else f"FAILED (exit {process.returncode})"
            print(f"\n===== {target}: {verdict} in {seconds:.0f} s; still running: {', '.join(running) or 'none'} =====",
                  flush=True)
            print(output, end="" if output.endswith("\n") else "\n", flush=True)
        if running:
            time.sleep(POLL_INTERVAL_S)

    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started_at = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="suites-"))
    running = {}
    for target in args.targets:
        log_path = log_dir / f"{target}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([*shlex.split(args.make), "--no-print-directory", target], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_environment())
        running[target] = (process, log_path, time.monotonic())
    print(f"run_suites: started {', '.join(args.targets)} side by side", flush=True)

    try:
        results = wait_for_all(running)
    finally:
        # Interrupted (Ctrl-C, CI's own timeout): stop what is left rather than leave it running unseen.
        for process, _log_path, _start in running.values():
            process.terminate()

    failed = [target for target in args.targets if results[target][0] != 0]
    print(f"\n===== run_suites summary ({time.monotonic() - started_at:.0f} s) =====")
    for target in args.targets:
        returncode, seconds, _output = results[target]
        print(f"  {target:<20} {'ok' if returncode == 0 else f'FAILED (exit {returncode})':<18} {seconds:6.0f} s")
    for target in failed:
        print(f"\n----- the last {TAIL_LINES} lines of {target} -----\n{tail(results[target][2])}")
    if failed:
        print(f"\nrun_suites: failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
