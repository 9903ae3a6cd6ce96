"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test creates its sanity-test virtual environments without pip, then runs a
``get-pip.py`` it fetches from an Ansible CI host (cached as
``~/.ansible/test/cache/get_pip_<version>.py``). Air-gapped machines cannot reach that
host, so ``make`` seeds the cache with this file instead: it installs pip from the
standard library's ``ensurepip`` and then lets that pip install the requested packages
from the package index that is configured for the machine.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py understands these; pip itself does not.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    pip_args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    # In a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in the process that runs
    # it, and the pip install below must still see the machine's pip configuration (index, CA).
    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", *pip_args], check=True)


if __name__ == "__main__":
    main()
