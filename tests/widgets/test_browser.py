"""End to end: Voilà serves the example notebook on 127.0.0.1, headless Chromium uses the explorer.

Chromium is Debian's package driven by Playwright (no browser download); the test is skipped only
when no ``chromium`` is installed.  Screenshots of each step land in the test's ``tmp_path``.
"""

import contextlib
import shutil
import socket
import subprocess
import sys
import time

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium")
# Without the background-networking flags Chromium tries to reach services that a closed network refuses.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait for the server to listen, without an HTTP request (each page request starts a kernel)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"voila exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"voila did not listen on port {port} within {seconds} s")


@pytest.fixture
def voila_url(example_notebook, tmp_path):
    port = free_port()
    log = (tmp_path / "voila.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "voila", str(example_notebook), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def text_changes(page, selector: str, before: str) -> None:
    page.wait_for_function("([selector, before]) => { const e = document.querySelector(selector);"
                           " return e && e.innerText !== before; }", arg=[selector, before], timeout=TIMEOUT_MS)


def text_shows(page, selector: str, *words: str) -> None:
    """Wait until the element's text holds every word (the DOM follows the kernel's update with a lag)."""
    page.wait_for_function("([selector, words]) => { const e = document.querySelector(selector);"
                           " return e && words.every(w => e.innerText.includes(w)); }", arg=[selector, list(words)],
                           timeout=TIMEOUT_MS)


def changed_screenshot(locator, before: bytes, seconds: float = TIMEOUT_MS / 1000) -> bytes:
    """The element's screenshot once it differs from ``before`` (images arrive after the text)."""
    deadline = time.monotonic() + seconds
    while True:
        shot = locator.screenshot()
        if shot != before or time.monotonic() > deadline:
            return shot
        time.sleep(0.5)


def settled(page) -> None:
    """Wait until the first explorer's latest update has finished."""
    page.wait_for_function("() => { const s = document.querySelector('.medcomp-explorer .medcomp-status');"
                           " return s && s.innerText.includes('measured'); }", timeout=TIMEOUT_MS)


def test_voila_page_changes_codec_and_target(voila_url, tmp_path):
    figures = ".medcomp-explorer .medcomp-figures"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(voila_url, timeout=TIMEOUT_MS)
            explorer = page.locator(".medcomp-explorer").first
            explorer.wait_for(timeout=TIMEOUT_MS)
            settled(page)
            text_shows(page, figures, "jpegls", "PSNR")
            page.screenshot(path=tmp_path / "1-loaded.png", full_page=True)
            reconstruction = explorer.locator(".medcomp-reconstruction")
            table, image = page.inner_text(figures), reconstruction.screenshot()
            assert "jpegls" in table and "PSNR" in table

            explorer.locator(".medcomp-codec-jpeg2000 input[type=checkbox]").check()
            text_changes(page, figures, table)
            page.wait_for_function("() => [...document.querySelectorAll('.medcomp-explorer .medcomp-viewed option')]"
                                   ".some(o => o.textContent === 'jpeg2000')", timeout=TIMEOUT_MS)
            explorer.locator(".medcomp-viewed select").select_option("jpeg2000")
            page.wait_for_function("() => { const row = document.querySelector("
                                   "'.medcomp-explorer .medcomp-row-jpeg2000'); return row && row.style.fontWeight"
                                   " === 'bold'; }", timeout=TIMEOUT_MS)  # the table marks the shown codec
            settled(page)
            text_shows(page, figures, "jpeg2000")
            page.screenshot(path=tmp_path / "2-codec-changed.png", full_page=True)
            with_codec = page.inner_text(figures)
            assert "jpeg2000" in with_codec and with_codec != table
            shown_codec = changed_screenshot(reconstruction, image)
            assert shown_codec != image

            handle = explorer.locator(".medcomp-codec-jpeg2000 .noUi-handle")
            handle.focus()
            for _ in range(3):
                handle.press("PageUp")
            text_changes(page, figures, with_codec)
            settled(page)
            page.screenshot(path=tmp_path / "3-target-moved.png", full_page=True)
            assert page.inner_text(figures) != with_codec
            assert changed_screenshot(reconstruction, shown_codec) != shown_codec
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
