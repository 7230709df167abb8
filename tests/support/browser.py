"""A real browser for tests: Debian's headless Chromium driven by Playwright, recording every request it makes.

    from tests.support.browser import browser_page, require_browser

    @pytest.mark.browser
    def test_page(tmp_path):
        require_browser()                                  # skips, with the reason, when Chromium is missing
        with browser_page() as bp:
            bp.page.goto(report.as_uri())
            assert bp.page.locator("tr.job").count() == 2
            assert bp.network_requests() == []             # nothing but file:// and 127.0.0.1
            bp.screenshot(tmp_path / "report.png")

Chromium comes from the distribution (``apt-get install chromium``, ``scripts/install_browser.sh``), never from
``playwright install``, which downloads browser builds. Requests that would leave the machine are recorded and
then aborted, so a page that wants the internet fails its test at once instead of waiting for a timeout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

# Overridable for a Chromium installed elsewhere; the tests expect Debian's package at its usual path.
CHROMIUM = Path(os.environ.get("COLORIZATION_CHROMIUM", "/usr/bin/chromium"))
# --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# URL schemes that never touch the network (the page's own files, inline and in-memory data).
LOCAL_SCHEMES = {"file", "data", "blob", "about"}


def browser_missing() -> str | None:
    """Why a browser test cannot run here (a sentence naming the fix), or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install -e '.[dev]'"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM}: run scripts/install_browser.sh (apt-get install chromium)"
    return None


def require_browser() -> None:
    """Skip the calling test, with the reason, when Playwright or Chromium is missing."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)


def is_local_url(url: str) -> bool:
    """Whether a request for ``url`` stays on this machine: a local scheme, or http(s)/ws(s) to loopback."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class BrowserPage:
    """An open page and every URL the browser requested for it (in order, including aborted ones)."""

    page: Page
    requests: list[str] = field(default_factory=list)

    def network_requests(self) -> list[str]:
        """The requested URLs that would have left the machine (not file://, data:, blob:, nor 127.0.0.1)."""
        return [url for url in self.requests if not is_local_url(url)]

    def screenshot(self, path: str | os.PathLike, full_page: bool = True) -> Path:
        """A PNG of the page as shown (the whole scrolled page with ``full_page``) at ``path``; returns it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextmanager
def browser_page(width: int = 1280, height: int = 900, timeout_ms: int = 30_000,
                 downloads: bool = True) -> Iterator[BrowserPage]:
    """A fresh headless Chromium page (``width x height`` CSS px) that records every request; closed on exit.

    ``timeout_ms`` is Playwright's default wait for each action and navigation. Requests leaving the machine
    are recorded and aborted (see the module docstring). Raises if Chromium is missing: call
    :func:`require_browser` first in a test.
    """
    from playwright.sync_api import sync_playwright

    reason = browser_missing()
    if reason:
        raise RuntimeError(reason)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=downloads)
            context.set_default_timeout(timeout_ms)
            recorded = BrowserPage(page=context.new_page())
            context.on("request", lambda request: recorded.requests.append(request.url))

            def keep_local(route: Route) -> None:
                if is_local_url(route.request.url):
                    route.continue_()
                else:
                    route.abort("internetdisconnected")

            context.route("**/*", keep_local)
            yield recorded
            context.close()
        finally:
            browser.close()


@pytest.fixture
def recorded_page() -> Iterator[BrowserPage]:
    """A :func:`browser_page` for one test (skipped when no browser is installed); import it into a test module."""
    require_browser()
    with browser_page() as bp:
        yield bp
