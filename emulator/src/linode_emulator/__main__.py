"""``python -m linode_emulator`` is the same as the ``linode-emulator`` script."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
