"""The built docs site as the tests read it: its pages parsed, and rendered by headless Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "docs" / "build" / "html"
RENDER_TIMEOUT_S = 120
CURLY_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def words(texts: list[str]) -> str:
    """Text as the tests compare it: one space between words, and the plain quotes that Sphinx made curly."""
    return " ".join("".join(texts).split()).translate(CURLY_QUOTES)


class Page(HTMLParser):
    """What a test reads of a page: its links, element ids, headings and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, the link's text)
        self.references: list[str] = []  # every href and src: links, stylesheets, scripts, images
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.headings: list[str] = []
        self._text: list[str] = []
        self._open_link: list[str] | None = None
        self._open_heading: list[str] | None = None
        self._href = ""
        self._in_permalink = False
        self.feed(html)
        self.close()
        self.text = words(self._text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.references.append(attrs[key])
        # A heading's permalink: an icon, not words.
        self._in_permalink = tag == "a" and "headerlink" in (attrs.get("class") or "").split()
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "a" and attrs.get("href") is not None:
            self._href, self._open_link = attrs["href"], []
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._open_heading = []

    def handle_endtag(self, tag):
        self._in_permalink = False
        if tag == "a" and self._open_link is not None:
            self.links.append((self._href, words(self._open_link)))
            self._open_link = None
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._open_heading is not None:
            # Without the pilcrow of the heading's permalink.
            self.headings.append(words(self._open_heading))
            self._open_heading = None

    def handle_data(self, data):
        self._text.append(data)
        if self._in_permalink:
            return
        for collecting in (self._open_link, self._open_heading):
            if collecting is not None:
                collecting.append(data)

    def hrefs(self) -> set[str]:
        return {link[0] for link in self.links}


def render(chromium: str, page: str, screenshot: Path, profile: Path) -> str:
    """The DOM of a page once Chromium has loaded it (scripts run), and its screenshot."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--user-data-dir=%s" % profile, "--window-size=1280,1800",
               "--screenshot=%s" % screenshot, "--dump-dom", (SITE / page).as_uri()]
    # Chromium starts helper processes: a session of its own lets a timeout end them all.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            dom, errors = process.communicate(timeout=RENDER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError("chromium did not render %s within %d s" % (page, RENDER_TIMEOUT_S)) from None
    assert process.returncode == 0, "chromium failed on %s (rc %s): %s" % (page, process.returncode, errors[-2000:])
    assert screenshot.is_file() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot of %s" % page
    return dom
