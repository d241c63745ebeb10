"""The search-as-you-type widget in real headless Chromium, against real servers and the real model.

Needs the Debian package `chromium` (/usr/bin/chromium); Playwright never downloads a browser here.
Each test leaves a screenshot of its final state in test-artifacts/screenshots/.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DATA, LiveServer, _build, free_port, serve_in_thread
from playwright.sync_api import Browser, Dialog, Locator, Page, Route, expect, sync_playwright

from indexer.encoder import SentenceTransformerEncoder
from search_api.searcher import Searcher

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
HOSTILE = DATA / "hostile.yaml"
PAYLOAD = "<img src=x onerror=alert(1)>"
QUESTION = "a program that chats with customers on a website"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Messages of every alert/confirm/prompt the page opened (there must be none)."""
    return []


@pytest.fixture
def page(browser: Browser, dialogs: list[str], request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", record)
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def hostile_server(tmp_path: Path, encoder: SentenceTransformerEncoder) -> Iterator[LiveServer]:
    index = _build(HOSTILE, tmp_path / "index", encoder, complete=False)
    yield from serve_in_thread(Searcher.load(index, encoder=encoder))


@pytest.fixture
def other_origin(live_server: LiveServer) -> Iterator[str]:
    """A page on a second origin (another port) that embeds the widget from the live server."""
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Help desk</title></head><body>"
        "<h1>Another site's help box</h1>"
        f"<script src='{live_server.url}/widget.js'></script>"
        f"<glossary-search api='{live_server.url}'></glossary-search></body></html>"
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def search_box(page: Page) -> Locator:
    return page.get_by_role("combobox", name="Search the glossary")


def options(page: Page) -> Locator:
    return page.get_by_role("option")


def entry(page: Page) -> Locator:
    return page.locator("glossary-search article")


def test_question_on_demo_page_ranks_its_entry_first_and_shows_the_inference(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/")
    expect(page.get_by_role("link", name="API documentation")).to_have_attribute("href", "/docs")
    box = search_box(page)
    expect(box).to_have_attribute("aria-autocomplete", "list")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_attribute("aria-controls", "gs-list")
    expect(page.get_by_role("status")).to_have_attribute("aria-live", "polite")
    box.press_sequentially(QUESTION, delay=15)

    expect(page.get_by_role("listbox")).to_have_attribute("data-query", QUESTION)
    expect(options(page).first.locator(".term")).to_have_text("chatbot", ignore_case=True)
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("listbox")).to_have_attribute("id", "gs-list")
    expect(page.locator("#inference")).to_contain_text(live_server.searcher.model)
    expect(page.locator("#inference")).to_contain_text(f"on {live_server.searcher.encoder.runtime} · ")
    expect(page.locator("#inference")).to_contain_text(" ms")
    expect(page.get_by_role("status")).to_contain_text("found")


def test_keyboard_opens_an_entry_follows_a_related_term_and_escape_closes(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    box = search_box(page)
    box.press_sequentially("dropout", delay=15)
    expect(page.get_by_role("listbox")).to_have_attribute("data-query", "dropout")
    expect(options(page).first.locator(".term")).to_have_text("dropout", ignore_case=True)

    box.press("ArrowDown")
    expect(options(page).first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "gs-option-0")
    box.press("Enter")
    article = entry(page)
    expect(article.get_by_role("heading", level=2)).to_have_text("dropout", ignore_case=True)
    expect(article.get_by_role("heading", name="In plain English")).to_be_visible()
    expect(article.get_by_role("heading", name="Misconceptions")).to_be_visible()
    related = article.get_by_role("navigation", name="Related terms").get_by_role("button")
    expect(related.first).to_be_visible()
    target = related.first.inner_text()

    related.first.focus()
    page.keyboard.press("Enter")
    expect(article.get_by_role("heading", level=2)).to_have_text(target)
    expect(article.get_by_role("heading", name="In plain English")).to_be_visible()

    page.keyboard.press("Escape")
    expect(article).to_be_hidden()
    expect(box).to_be_focused()
    expect(options(page).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")


def test_widget_embedded_on_another_origin_gets_results(page: Page, live_server: LiveServer, other_origin: str) -> None:
    assert other_origin.split(":")[2] != live_server.url.split(":")[2]
    page.goto(other_origin)
    results = []
    page.on("response", lambda response: results.append(response) if "/search?" in response.url else None)
    box = search_box(page)
    box.fill(QUESTION)
    expect(options(page).first).to_be_visible()
    assert options(page).count() > 1
    assert results and results[-1].status == 200
    assert results[-1].header_value("access-control-allow-origin") == "*"
    box.press("ArrowDown")
    box.press("Enter")
    expect(entry(page).get_by_role("heading", name="In plain English")).to_be_visible()


def test_hostile_entry_text_shows_literally_and_runs_nothing(
    page: Page, hostile_server: LiveServer, dialogs: list[str]
) -> None:
    page.goto(hostile_server.url + "/")
    box = search_box(page)
    box.fill(f"Hostile {PAYLOAD} markup")  # five words: a /search, found by its exact name
    hit = options(page).first
    expect(hit.locator(".term")).to_have_text(f"Hostile {PAYLOAD} markup")
    expect(hit.locator(".text")).to_contain_text(f"Glossary text such as {PAYLOAD} that")

    box.fill("hostile")
    expect(page.get_by_role("listbox")).to_have_attribute("data-query", "hostile")
    expect(options(page).first.locator(".term")).to_have_text(f"Hostile {PAYLOAD} markup")
    box.press("ArrowDown")
    box.press("Enter")
    article = entry(page)
    expect(article.get_by_role("heading", level=2)).to_have_text(f"Hostile {PAYLOAD} markup")
    expect(article.get_by_text(PAYLOAD, exact=False).first).to_be_visible()
    for text in [
        f"Like a letter that reads {PAYLOAD}: you read the words aloud, you do not obey them.",
        f"Markup like {PAYLOAD} is not harmless just because it sits in a data file.",
        '<a href="javascript:alert(4)">click me</a>',
        "&lt;b&gt;entities stay escaped&lt;/b&gt;",
        "<script>alert(3)</script>",
        "<b>Security</b>",
    ]:
        expect(article.get_by_text(text, exact=False)).to_be_visible()

    related = article.get_by_role("button", name="<svg/onload=alert(6)> escaped text")
    related.click()
    expect(article.get_by_text("<details open ontoggle=alert(7)>Opening details is safe</details>")).to_be_visible()
    page.wait_for_timeout(300)  # give anything that was (wrongly) parsed a moment to fire

    shadow_elements = page.evaluate(
        "() => [...document.querySelector('glossary-search').shadowRoot.querySelectorAll('*')].map(e => e.localName)"
    )
    assert not {"img", "svg", "script", "iframe", "a", "details", "b"} & set(shadow_elements)
    assert page.locator("glossary-search img").count() == 0
    assert dialogs == []


def test_unreachable_service_shows_a_short_message(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    closed = f"http://127.0.0.1:{free_port()}"
    page.evaluate("api => document.querySelector('glossary-search').setAttribute('api', api)", closed)
    search_box(page).fill(QUESTION)
    message = page.get_by_role("alert")
    expect(message).to_have_text("The glossary service cannot be reached. Check your connection and try again.")
    expect(page.get_by_role("listbox")).to_be_hidden()


def test_too_long_query_shows_the_api_message(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    box = search_box(page)
    box.fill("why " * 150)
    box.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("the query is 600 characters long; the maximum is 500")
    box.fill("dropout")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(options(page).first).to_be_visible()


def test_slow_older_answer_does_not_overwrite_a_newer_one(page: Page, live_server: LiveServer) -> None:
    first, second = QUESTION, "how do I stop a model memorising its training data?"
    held: list[Route] = []

    def hold_first(route: Route) -> None:
        if "chats" in route.request.url and not held:
            held.append(route)  # answered later, after the second query's answer is shown
        else:
            route.continue_()

    page.route(lambda url: "/search?" in url, hold_first)
    page.goto(live_server.url + "/")
    box = search_box(page)
    box.fill(first)
    for _ in range(100):  # until the first /search request is intercepted and held
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    box.fill(second)
    listbox = page.get_by_role("listbox")
    expect(listbox).to_have_attribute("data-query", second)
    second_terms = options(page).locator(".term").all_inner_texts()

    with page.expect_response(lambda response: "chats" in response.url):
        held[0].continue_()
    page.wait_for_timeout(300)  # the late answer has been read by now
    expect(listbox).to_have_attribute("data-query", second)
    assert options(page).locator(".term").all_inner_texts() == second_terms
    expect(page.locator("#inference")).to_contain_text(second)


def test_a_misspelt_name_is_shown_as_it_was_read(page: Page, live_server: LiveServer) -> None:
    box = search_box(page)
    page.goto(live_server.url + "/")
    box.fill("how does gradient desent work")
    box.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("found for “how does gradient descent work”")
    expect(options(page).first.locator(".term")).to_have_text("Gradient descent", ignore_case=True)


def test_no_hits_offers_the_did_you_mean_name_as_a_button(page: Page, live_server: LiveServer) -> None:
    empty = {
        "query": "dropotu",
        "hits": [],
        "did_you_mean": "dropout",
        "inference": {"model": live_server.searcher.model, "embed_ms": 1.0, "search_ms": 0.1},
    }
    page.route(lambda url: "/search?q=dropotu" in url, lambda route: route.fulfill(json=empty))
    page.goto(live_server.url + "/")
    box = search_box(page)
    box.fill("dropotu")
    box.press("Enter")
    expect(page.get_by_role("status")).to_have_text("No entry matches. Did you mean dropout?")
    page.get_by_role("button", name="dropout", exact=True).click()
    expect(box).to_have_value("dropout")
    expect(options(page).first.locator(".term")).to_have_text("dropout", ignore_case=True)
