"""The sample site's live comments, with htmx and with Turbo, in Chromium, from 375 px up.

Both pages show the same comments: a comment posted on either appears in every
open window of both (``broadcasts_to`` publishes it to both pages' streams). A
form with an empty comment comes back from the server with the error under
the field, and the focus on it; axe-core finds nothing wrong, empty or full,
on a phone or a desktop. htmx, htmx-ext-ws and Turbo are the sample site's own,
from npm (``sample_site/package-lock.json``), served as static files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .support.accessibility import audit, format_violations
from .support.browser import PHONE, RestartableSite, expect_connected, migrated_sample_site

pytestmark = pytest.mark.browser

PAGES = {"htmx": "/live/htmx/", "turbo": "/live/turbo/"}
SIZES = {"desktop": {"width": 1024, "height": 720}, "phone": PHONE}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableSite]:
    site = RestartableSite(migrated_sample_site(tmp_path_factory.mktemp("live")))
    try:
        yield site
    finally:
        site.stop()


def post(page: Page, name: str, text: str) -> None:
    page.fill("#id_name", name)
    page.fill("#id_text", text)
    page.press("#id_text", "Enter")


@pytest.mark.parametrize("kind", list(PAGES))
def test_an_empty_comment_gets_its_error_under_the_field(
    site: RestartableSite, open_page: Any, kind: str
) -> None:
    page = open_page(f"{site.url}{PAGES[kind]}", **PHONE)
    expect_connected(page)
    post(page, "Ada", "")
    errors = page.locator("#id_text-errors")
    expect(errors).to_have_text("This field is required.")
    expect(page.locator("#id_text")).to_have_attribute("aria-describedby", "id_text-errors")
    expect(page.locator("#id_text")).to_be_focused()
    expect(page.locator("#id_name")).to_have_value("Ada")  # what was typed stays
    field, error = page.locator("#id_text").bounding_box(), errors.bounding_box()
    assert field is not None
    assert error is not None
    assert error["y"] >= field["y"] + field["height"]  # under the field
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    violations = audit(page)
    assert violations == [], format_violations(violations)


def test_a_comment_appears_in_every_window_of_both_pages(
    site: RestartableSite, open_page: Any
) -> None:
    windows = {
        "htmx": [open_page(f"{site.url}/live/htmx/") for _ in range(2)],
        "turbo": [open_page(f"{site.url}/live/turbo/", **PHONE) for _ in range(2)],
    }
    for page in windows["htmx"] + windows["turbo"]:
        expect_connected(page)
    post(windows["htmx"][0], "Ada", "From htmx <3")
    post(windows["turbo"][0], "Grace", "From Turbo")
    for page in windows["htmx"] + windows["turbo"]:
        comments = page.locator("#comments li")
        expect(comments.locator(".text")).to_have_text(
            ["From htmx <3", "From Turbo"], timeout=20_000
        )
        expect(comments.locator(".name")).to_have_text(["Ada", "Grace"])
    for page in (windows["htmx"][0], windows["turbo"][0]):
        expect(page.locator("#id_text")).to_have_value("")  # the form came back cleared
        expect(page.locator("#id_text")).to_be_focused()
    for kind, pages in windows.items():
        violations = audit(pages[1])
        assert violations == [], (kind, format_violations(violations))
    # A page loaded now shows them from the database.
    late = open_page(f"{site.url}/live/turbo/")
    expect(late.locator("#comments li .text")).to_have_text(["From htmx <3", "From Turbo"])


def test_without_javascript_the_turbo_form_still_posts(
    site: RestartableSite, open_page: Any
) -> None:
    page = open_page(None, java_script_enabled=False)
    page.goto(f"{site.url}/live/turbo/")
    page.fill("#id_name", "Lin")
    page.fill("#id_text", "no scripts")
    page.click("button[type=submit]")
    expect(page.locator("#comments li .text").last).to_have_text("no scripts")
    page.click("button[type=submit]")  # empty: the page again, with the errors
    expect(page.locator("#id_name-errors")).to_have_text("This field is required.")
