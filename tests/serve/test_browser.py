"""The web page in a real headless Chromium (Debian's), against `musiscene serve` started from the command line."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from serve_catalog import SCENES, TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WAIT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(served_run):
    """`musiscene serve` on a free loopback port with a token; yields its base URL."""
    port = _free_port()
    env = dict(os.environ, MUSISCENE_TEST_TOKEN=TOKEN, PYTHONPATH=os.getcwd())
    command = [
        sys.executable,
        "-m",
        "musiscene_core",
        "serve",
        "--index",
        f"main={served_run[0]}",
        "--port",
        str(port),
        "--token-env",
        "MUSISCENE_TEST_TOKEN",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"musiscene serve did not start:\n{process.stdout.read()}")
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed; `make setup` installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    # The token rides on every request of the page, the audio element's included, as a reverse proxy would add it.
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def test_search_play_and_more_like_this(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/")
    expect(page.locator("#q")).to_be_focused()  # an empty page starts in the search box
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("a chase through neon-lit streets at night")
    page.keyboard.press("Enter")

    hits = page.locator("#results .hit")
    expect(hits).to_have_count(len(SCENES))
    expect(hits.first.locator(".caption")).to_have_text(SCENES[0])
    expect(hits.first.locator(".duration")).to_have_text("0:04")
    expect(hits.first.locator(".score")).to_contain_text("score 0.")
    assert "q=a+chase+through+neon-lit+streets+at+night" in page.url

    hits.first.locator("audio").evaluate("audio => audio.play()")
    page.wait_for_function("() => document.querySelector('#results .hit audio').currentTime > 0.2", timeout=WAIT_MS)

    first_id = hits.first.get_attribute("data-track-id")
    hits.first.locator("button.more").click()
    expect(page.locator("#status")).to_contain_text("sound like")
    expect(hits).to_have_count(len(SCENES) - 1)
    assert f"similar={first_id}" in page.url
    assert first_id not in [hits.nth(i).get_attribute("data-track-id") for i in range(hits.count())]

    page.go_back()  # the previous search comes back from the address bar
    expect(hits.first.locator(".caption")).to_have_text(SCENES[0])


def test_a_shared_search_url_opens_with_its_results_and_filters(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/?q=a+cowboy+on+a+horse+in+the+desert&min_duration=10&max_duration=16")
    hits = page.locator("#results .hit")
    expect(hits).to_have_count(4)  # tracks of 10, 12, 14 and 16 seconds
    expect(hits.first.locator(".caption")).to_have_text(SCENES[6])
    expect(page.locator("#min")).to_have_value("10")


def test_keyboard_moves_between_results_and_opens_more_like_this(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/?q=children+at+a+birthday+party")
    hits = page.locator("#results .hit")
    expect(hits).to_have_count(len(SCENES))
    page.locator(".tagline").click()  # focus on nothing in particular
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(hits.nth(1)).to_be_focused()
    second_id = hits.nth(1).get_attribute("data-track-id")
    page.keyboard.press("m")
    expect(page.locator("#status")).to_contain_text("sound like")
    assert f"similar={second_id}" in page.url


def test_errors_reach_the_page_as_one_sentence(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/?q=rain&min_duration=50&max_duration=10")
    expect(page.locator("#status")).to_contain_text("exceeds the maximum")
