"""The site in a real browser when the services behind nginx are down: it must still load
(HTML, CSS, the ES modules) and tell the shopper in words, not fail silently."""

from __future__ import annotations

import pytest
from tools import needs_tool
from web_browser import Chromium, chromium_binary
from web_helpers import free_port
from web_nginx import NginxProcess, nginx_binary

pytestmark = [
    pytest.mark.browser,
    needs_tool("chromium", chromium_binary(), "apt-get install chromium"),
    needs_tool("nginx", nginx_binary(), "apt-get install nginx"),
]


@pytest.fixture
async def page_with_nothing_behind(tmp_path):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: nginx answers 502
    (tmp_path / "nginx").mkdir()
    nginx = NginxProcess(tmp_path / "nginx", backend=dead, cart=dead).start()
    browser = Chromium(tmp_path / "chromium")
    try:
        page = await browser.start()
        yield nginx, page
    finally:
        await browser.stop()
        nginx.stop()


async def test_unreachable_api_is_told_in_words(page_with_nothing_behind):
    nginx, page = page_with_nothing_behind
    await page.goto(nginx.url + "/")
    error = await page.wait_for(
        "!document.getElementById('error').hidden && document.getElementById('error').textContent",
        what="the error box",
    )
    assert "temporarily unavailable" in error
    assert await page.evaluate("getComputedStyle(document.querySelector('.top')).display") == "flex"
    # Only the failed API calls may be errors: the page itself loaded cleanly.
    others = [e for e in page.errors if "502" not in e]
    assert not others, others
    assert await page.text("#served-by") == "—", "nobody answered, so no pod is named"
