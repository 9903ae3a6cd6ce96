"""A local emulator of the Linode API v4, for tests, benchmarks and demos.

Start it with the ``linode-emulator`` console script (see :mod:`.cli`); the
package layout is: :mod:`.clock` (time and speed), :mod:`.fleet` (fleet files),
:mod:`.state` (the account and its jobs), :mod:`.shapes` (API JSON shapes),
:mod:`.filters` (X-Filter), :mod:`.ratelimit`, :mod:`.faults`, :mod:`.auth`,
:mod:`.routes` (the API), :mod:`.control` (``/__emulator__``), :mod:`.app`
(ties them together), :mod:`.server` and :mod:`.tls` (transport).
"""

from __future__ import annotations

__version__ = "0.1.0"
