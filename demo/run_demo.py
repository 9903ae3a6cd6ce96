"""make demo: the golden_image and capture playbooks on an emulated fleet, offline, in under a minute.

Starts the Linode API emulator with demo/fleet.yml (three Linodes, one of which boots from a raw
disk that Linode cannot capture), runs the capture playbook with --check first, as the README says
(it must write nothing and say what it would do), then both playbooks against it as a user would (API settings in
LINODE_TOKEN, LINODE_API_URL and LINODE_CA), prints the API requests they cost, and checks that
the outcome is the expected one: every capturable disk captured, the raw one refused, every
instance back in its power state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "utils"))

import with_emulator  # noqa: E402  pylint: disable=wrong-import-position

# The demo runs the recorded durations (a 2.9 GB capture takes about 15 minutes) 60 times faster.
SPEED = 60
EXPECTED = {"web-1": "captured", "web-2": "captured", "coreos-1": "refused"}
EXPECTED_CHECK = {"web-1": "would_capture", "web-2": "would_capture", "coreos-1": "would_refuse"}
PLAYBOOK_TIMEOUT_S = 300


def main() -> int:
    process, started = with_emulator.start_emulator(os.path.join(HERE, "fleet.yml"), SPEED, [])
    try:
        with tempfile.TemporaryDirectory(prefix="golden-image-demo-") as workdir:
            report_file = os.path.join(workdir, "report.json")
            env = dict(os.environ, LINODE_TOKEN=started["token"], LINODE_API_URL=started["api_url"],
                       LINODE_CA=started["ca_file"], ANSIBLE_SHOW_CUSTOM_STATS="true",
                       LINODE_POLL_INTERVAL=with_emulator.poll_interval(SPEED))
            ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
            runs = (("golden_image.linode.capture", ["--check"]), ("golden_image.linode.golden_image", []),
                    ("golden_image.linode.capture", []))
            for playbook, args in runs:
                print("\n==> ansible-playbook -i demo/inventory.yml %s" % " ".join([playbook] + args), flush=True)
                before = len(with_emulator.control(started, "requests")["requests"])
                subprocess.run([ansible_playbook, "-i", os.path.join(HERE, "inventory.yml"), playbook,
                                "-e", json.dumps({"image_capture_report_file": report_file})] + args,
                               env=env, check=False, timeout=PLAYBOOK_TIMEOUT_S)
                with open(report_file, encoding="utf-8") as report:
                    results = dict((row["host"], row["result"]) for row in json.load(report))
                if args:
                    sent = with_emulator.control(started, "requests")["requests"][before:]
                    writes = [request for request in sent if request["method"] != "GET"]
                    checked = results
            with_emulator.print_summary(started)
            linodes = with_emulator.control(started, "state")["linodes"]
    finally:
        with_emulator.stop_emulator(process)
    power = dict((linode["label"], linode["status"]) for linode in linodes)
    if results != EXPECTED or set(power.values()) != {"running"} or checked != EXPECTED_CHECK or writes:
        print("\ndemo: unexpected outcome: results %s, power %s, --check said %s and wrote %s"
              % (results, power, checked, writes))
        return 1
    print("\ndemo: as expected: --check wrote nothing and said what would happen; web-1 and web-2 captured "
          "(web-1 also as a golden image), coreos-1 refused (its disk is raw), and every instance is running again, "
          "as it was.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
