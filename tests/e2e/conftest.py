"""Real-browser fixtures (Debian's chromium through Playwright; see ECOSYSTEM.md).

``browser`` is one session-scoped Playwright Browser shared by every browser test. Without
chromium the tests skip, unless DMDVIZ_REQUIRE_BROWSER=1, where they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("DMDVIZ_CHROMIUM", "/usr/bin/chromium"))
# Per-seed plots past plots.SVG_MAX_POINTS are WebGL (Scattergl): software WebGL is
# allowed explicitly, for Chromium builds that refuse it on GPU-less machines by default.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(why: str):
    if os.environ.get("DMDVIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser required (DMDVIZ_REQUIRE_BROWSER=1) but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser():
    """A headless chromium, launched once per session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"no chromium at {CHROMIUM}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page; page errors are collected in ``page.errors``."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()
