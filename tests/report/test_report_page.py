"""`musiscene report`: the HTML file, the CLI, and the page as headless Chromium shows it."""

import shutil
import subprocess
import sys

import pytest

from musiscene_core.report.html import render
from musiscene_core.report.overview import catalog_overview


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "musiscene_core", *args], capture_output=True, text=True, timeout=300)


def test_report_cli_writes_a_standalone_page(scene_run, tmp_path):
    out = tmp_path / "report.html"
    result = _cli("report", str(scene_run), "--out", str(out), "--clusters", "3")
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.count('src="data:image/png;base64,') == 4
    for expected in ("musiscene-test/1", "20260102T000000-b", "decode", "audio hours"):
        assert expected in page
    # Nothing the page would fetch: no script, stylesheet link or remote URL.
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page


def test_report_cli_bad_inputs_are_one_sentence(tmp_path):
    result = _cli("report", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    result = _cli("report", str(tmp_path), "--out", str(tmp_path / "missing" / "r.html"))
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.integration
def test_report_renders_in_headless_chromium_with_visible_plots_and_no_network(scene_run, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is not installed; `make setup` installs it"
    page_file = tmp_path / "report.html"
    page_file.write_text(render(catalog_overview(str(scene_run), clusters=3)))
    requested, blocked = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file://", "data:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", route)
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_file.as_uri(), wait_until="load")
            images = page.locator("img")
            assert images.count() == 4
            for i in range(images.count()):
                image = images.nth(i)
                image.scroll_into_view_if_needed()
                assert image.is_visible()
                assert image.evaluate("img => img.complete && img.naturalWidth > 300 && img.naturalHeight > 150")
                box = image.bounding_box()
                assert box["width"] > 200 and box["height"] > 100
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not blocked, blocked
    assert requested and all(url.startswith(("file://", "data:")) for url in requested), requested
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    # The plots put colour on the page: a good share of pixels is neither white nor grey text.
    colourful = (pixels.max(axis=-1) - pixels.min(axis=-1)) > 0.2
    assert pixels.shape[0] > 900 and colourful.mean() > 0.02
