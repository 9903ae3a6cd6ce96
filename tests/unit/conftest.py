"""Make ``ansible_collections.golden_image.linode`` importable when pytest runs from the collection copy.

``make units`` runs pytest inside ``.cache/collections/ansible_collections/golden_image/linode``;
the directory three levels above the collection root is then a collections path.
"""

from __future__ import annotations

import os
import sys

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_COLLECTIONS_DIR = os.path.dirname(os.path.dirname(COLLECTION_ROOT))
COLLECTIONS_PATH = os.path.dirname(ANSIBLE_COLLECTIONS_DIR)

if os.path.basename(ANSIBLE_COLLECTIONS_DIR) != "ansible_collections":
    raise RuntimeError("run the unit tests from ansible_collections/golden_image/linode (make units does)")
if COLLECTIONS_PATH not in sys.path:
    sys.path.insert(0, COLLECTIONS_PATH)
