# -*- coding: utf-8 -*-
# Copyright (c) golden_image.linode contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The option of the modules that wait for Linode jobs (captures, power actions, replication)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  poll_interval:
    description:
      - Seconds between the first looks at a running job (a power action, a disk becoming ready, a replication).
      - Later looks come after a tenth of the time already waited, at most six poll intervals apart (30 s by default),
        so a job that lasts T seconds is noticed within the larger of O(poll_interval) and T/10 of its end, and never
        more than six poll intervals late, at a cost that grows with the logarithm of T.
      - A capture is first looked at after twelve poll intervals (60 s by default), because the shortest capture on
        record took 144 s.
      - The Linode API gives no usable estimate of when a job ends (its events' C(time_remaining) is null and their
        C(percent_complete) jumps and falls back), so the waits never rely on one.
      - Lower it only against an API that runs jobs faster than Linode does, such as an emulator.
      - If not set, the value of the E(LINODE_POLL_INTERVAL) environment variable is used.
      - More than 0 and at most 60.
    type: float
    default: 5
"""
