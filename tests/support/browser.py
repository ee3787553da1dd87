"""Driving the app in real headless Chromium: a live HTTP server and a browser launcher.

The app is served by werkzeug on a free loopback port in a daemon thread; Playwright's sync
API drives Debian's Chromium (never a downloaded one: ``playwright install`` is not used).
Close the browser contexts before stopping the server, so no keep-alive connection is left.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.support import services

#: Where screenshots for reviewers go (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: A phone-size viewport (an iPhone 12–15 in CSS pixels).
PHONE_VIEWPORT = {"width": 390, "height": 844}
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}


def shoot_whole_page(page, name: str) -> None:
    """Screenshot the whole page to SCREENSHOTS/<name>.png. The viewport is stretched to the
    page's height first: a full_page capture repaints an iframe (the digest preview) only in part."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    try:
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(viewport)
    assert path.stat().st_size > 0


class LiveServer:
    """Serves ``app`` over real HTTP on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the live server is not running")
        return self._server.server_port

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        if self._server is not None:
            raise RuntimeError("the live server is already running")
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"live-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self._server.shutdown()
        finally:
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


#: Chromium as a browser that blocks third-party cookies (a reader's, or Chrome's own plans):
#: a page of another site that frames ours or fetches from us gets no cookie of ours.
NO_THIRD_PARTY_COOKIES = ["--test-third-party-cookie-phaseout"]


def launch_chromium(playwright, extra_args: list[str] = (), **options):
    """Launch headless Chromium from /usr/bin/chromium (NEWSLETTER_TEST_CHROMIUM overrides)."""
    return playwright.chromium.launch(
        executable_path=services.CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True, **options
    )
