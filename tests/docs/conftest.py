"""The docs site as a reader's browser shows it: headless Chromium, Debian's package `chromium`.

The site is the one `make docs` built (docs/build/html); the collection it was built from is the
copy docs/build_docs.py reads. Each page the tests open is rendered once, its DOM dumped and a
screenshot kept under tests/output/docs-screenshots/.
"""

from __future__ import annotations

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "docs"))

import build_docs  # noqa: E402  pylint: disable=wrong-import-position
from site_pages import REPO, SITE, Page, render  # noqa: E402  pylint: disable=wrong-import-position

SCREENSHOTS = REPO / "tests" / "output" / "docs-screenshots"
# Screenshot name -> page of the site. The tests open these pages only, all at once.
PAGES = {
    "index": "index.html",
    "module-linode_image_capture": "linode_image_capture_module.html",
    "role-image_capture": "image_capture_role.html",
    "guide-role": "docsite/role_guide.html",
    "guide-playbooks": "docsite/playbooks.html",
    "guide-pipeline": "docsite/pipeline.html",
}


def chromium_or_skip() -> str:
    chromium = shutil.which("chromium")
    if chromium:
        return chromium
    message = "no chromium: `make docs-test` installs Debian's chromium as root"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail("no site in %s: build it with `make docs`" % SITE)
    return SITE


@pytest.fixture(scope="session")
def collection() -> Path:
    """The copy of the collection the site was built from."""
    return Path(build_docs.collections_root(None)) / "ansible_collections" / "golden_image" / "linode"


@pytest.fixture(scope="session")
def rendered(site, tmp_path_factory) -> dict[str, Page]:  # pylint: disable=unused-argument
    """Screenshot name -> the page as Chromium rendered it."""
    chromium = chromium_or_skip()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    profiles = tmp_path_factory.mktemp("chromium")
    # Two at a time: the machine has two cores, and each Chromium mostly waits on its own start.
    with ThreadPoolExecutor(max_workers=2) as pool:
        doms = {name: pool.submit(render, chromium, page, SCREENSHOTS / (name + ".png"), profiles / name) for name, page in PAGES.items()}
        return {name: Page(dom.result()) for name, dom in doms.items()}


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir():
        terminalreporter.write_sep("-", "screenshots of the docs site")
        for screenshot in sorted(SCREENSHOTS.glob("*.png")):
            terminalreporter.write_line(str(screenshot.relative_to(REPO)))
