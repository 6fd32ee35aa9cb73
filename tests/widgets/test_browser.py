"""End to end: Voilà serves the example notebook on 127.0.0.1, headless Chromium uses the explorer as a
user would on a laptop (1366x768: a 1366x657 page once the browser's bars are drawn), then in a window
900 pixels wide.

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
LAPTOP = {"width": 1366, "height": 657}  # a 1366x768 screen less the browser's tab, address and task bars
NARROW = {"width": 900, "height": 900}
FIGURES = ".medcomp-explorer .medcomp-figures"
MESSAGE = ".medcomp-explorer .medcomp-message"

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


def cut_off(page) -> list[str]:
    """What of the first explorer is cut off: a widget reaching past the window's right edge, a table that needs
    scrolling, or a visible label or text too long for its box."""
    return page.evaluate("""() => {
        const explorer = document.querySelector('.medcomp-explorer'), right = window.innerWidth + 0.5;
        const wide = [...explorer.querySelectorAll('.jupyter-widgets, table')].filter(e => {
            const box = e.getBoundingClientRect(); return box.width > 0 && box.right > right; });
        const clipped = [...explorer.querySelectorAll('.medcomp-figures div, .widget-label, .widget-label-basic, '
                                                      + '.widget-html-content, .widget-readout')].filter(
            e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1);
        return [...wide, ...clipped].map(e => e.className + ': ' + e.innerText); }""")


def test_explorer_on_a_laptop_screen_and_a_narrow_window(voila_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport=LAPTOP)
            page.goto(voila_url, timeout=TIMEOUT_MS)
            explorer = page.locator(".medcomp-explorer").first
            explorer.wait_for(timeout=TIMEOUT_MS)
            settled(page)
            text_shows(page, FIGURES, "jpegls", "jpeg2000", "jpegxl", "PSNR in window")
            page.screenshot(path=tmp_path / "1-loaded.png")

            # the three views in full on the first screen, without scrolling
            assert page.evaluate("document.scrollingElement.scrollTop") == 0
            for name in ("original", "reconstruction", "error"):
                view = explorer.locator(f".medcomp-{name}").bounding_box()
                assert view["width"] >= 240 and view["y"] >= 0, name
                assert view["y"] + view["height"] <= LAPTOP["height"] and view["x"] + view["width"] <= LAPTOP["width"]
            assert cut_off(page) == []

            # codecs grouped by family, one group open, the standard three ticked, reproductions labelled
            ticked = explorer.locator(".medcomp-codecs input[type=checkbox]:checked")
            assert ticked.evaluate_all("boxes => boxes.map(b => b.parentElement.innerText)") == [
                "jpegls [LN]", "jpeg2000 [LY]", "jpegxl [LY]"]
            assert explorer.locator(".medcomp-codec-jpegls").is_visible()
            assert not explorer.locator(".medcomp-codec-cnn-ae").is_visible()
            explorer.locator(".jupyter-widget-Collapse-header", has_text="paper reproductions").click()
            explorer.locator(".medcomp-codec-cnn-ae").wait_for(state="visible", timeout=TIMEOUT_MS)
            assert "20.2 dB below JPEG 2000" in explorer.locator(".medcomp-codec-cnn-ae").inner_text()
            assert "146% more bits than JPEG 2000" in explorer.locator(".medcomp-codecs").inner_text()
            assert not explorer.locator(".medcomp-codec-jpegls").is_visible()
            assert cut_off(page) == []
            page.screenshot(path=tmp_path / "2-reproductions.png")
            explorer.locator(".jupyter-widget-Collapse-header", has_text="standard codecs").click()
            explorer.locator(".medcomp-codec-jpegls").wait_for(state="visible", timeout=TIMEOUT_MS)

            # a CT window preset moves level and width and redraws the views in it
            original = explorer.locator(".medcomp-original")
            before = original.screenshot()
            assert explorer.locator(".medcomp-window select").input_value() == "the file's (40/100)"
            explorer.locator(".medcomp-window select").select_option("bone (400/1800)")
            page.wait_for_function("() => document.querySelector('.medcomp-explorer .medcomp-level .noUi-handle')"
                                   ".getAttribute('aria-valuenow') === '400.0'", timeout=TIMEOUT_MS)
            assert changed_screenshot(original, before) != before
            page.screenshot(path=tmp_path / "3-bone-window.png")

            # a new target starts where the codec is on this image: within reach, no error
            table = page.inner_text(FIGURES)
            explorer.locator(".medcomp-codec-jpeg2000 select").select_option("PSNR dB")
            text_changes(page, FIGURES, table)
            settled(page)
            text_shows(page, ".medcomp-explorer .medcomp-row-jpeg2000", "psnr=")
            assert "error" not in page.inner_text(".medcomp-explorer .medcomp-row-jpeg2000")

            # another codec, shown, and its target moved
            table = page.inner_text(FIGURES)
            explorer.locator(".medcomp-codec-htj2k input[type=checkbox]").check()
            text_changes(page, FIGURES, table)
            page.wait_for_function("() => [...document.querySelectorAll('.medcomp-explorer .medcomp-viewed option')]"
                                   ".some(o => o.textContent === 'htj2k')", timeout=TIMEOUT_MS)
            reconstruction = explorer.locator(".medcomp-reconstruction")
            image = reconstruction.screenshot()
            explorer.locator(".medcomp-viewed select").select_option("htj2k")
            page.wait_for_function("() => { const row = document.querySelector("
                                   "'.medcomp-explorer .medcomp-row-htj2k'); return row && row.style.fontWeight"
                                   " === 'bold'; }", timeout=TIMEOUT_MS)  # the table marks the shown codec
            settled(page)
            shown_codec = changed_screenshot(reconstruction, image)
            assert shown_codec != image
            with_codec = page.inner_text(FIGURES)
            handle = explorer.locator(".medcomp-codec-htj2k .noUi-handle")
            handle.focus()
            for _ in range(3):
                handle.press("PageUp")
            text_changes(page, FIGURES, with_codec)
            settled(page)
            assert changed_screenshot(reconstruction, shown_codec) != shown_codec
            page.screenshot(path=tmp_path / "4-target-moved.png")

            # saving twice: the refusal names the widget's "overwrite" box, not a command-line flag
            explorer.locator(".medcomp-export input[type=text]").fill(str(tmp_path))
            explorer.locator(".medcomp-save-plot").click()
            text_shows(page, MESSAGE, "saved")
            saved = tmp_path / "693_UNCR_slice0_rd.png"
            assert saved.is_file()
            explorer.locator(".medcomp-save-plot").click()
            text_shows(page, MESSAGE, "not saved", "already exists", "tick \u201coverwrite\u201d")
            assert "--force" not in page.inner_text(MESSAGE)
            explorer.locator(".medcomp-overwrite input[type=checkbox]").check()
            explorer.locator(".medcomp-save-plot").click()
            page.wait_for_function(f"() => document.querySelector('{MESSAGE}').innerText.startsWith('saved')",
                                   timeout=TIMEOUT_MS)

            # 900 pixels wide: the views move under the controls and shrink; nothing reaches past the edge
            page.set_viewport_size(NARROW)
            page.wait_for_function("() => { const v = document.querySelector('.medcomp-explorer .medcomp-error')"
                                   ".getBoundingClientRect(); return v.right <= window.innerWidth; }",
                                   timeout=TIMEOUT_MS)
            assert cut_off(page) == []
            for name in ("original", "reconstruction", "error"):
                assert explorer.locator(f".medcomp-{name}").bounding_box()["width"] >= 200, name
            page.screenshot(path=tmp_path / "5-narrow.png", full_page=True)
            assert "Traceback" not in page.inner_text("body")
        finally:
            browser.close()
