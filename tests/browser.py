"""Headless Chromium for the admin's browser tests (marker `browser`): Debian's /usr/bin/chromium driven by
Playwright, never a downloaded browser build.

Fixtures: `chromium` (one browser per session), `staff_login` (a superuser the test gateway can see),
`admin_page` (a page of a fresh browser context, logged into the test gateway's admin) and `screenshot`
(saves a PNG under var/screenshots/, kept with the test output).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"


@dataclass(frozen=True)
class StaffLogin:
    username: str
    password: str


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list) -> None:
    """Browser tests run last: Playwright's sync API leaves an event loop running in the main thread for the
    rest of the session (the browser is session-scoped), and every later `asyncio.run` would fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def chromium():
    """Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still plain sync
    calls, so Django's async-safety guard is told so for the browser tests' session."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/test does it as root)")
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def staff_login(transactional_db) -> StaffLogin:
    from django.contrib.auth import get_user_model

    login = StaffLogin("browser-admin", "browser-pass-81c3f0")
    get_user_model().objects.create_superuser(login.username, "admin@example.test", login.password)
    return login


def log_in(page, base_url: str, login: StaffLogin) -> None:
    """Log in through the admin's own login form, as a person would."""
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))


@pytest.fixture
def admin_page(chromium, gateway, staff_login) -> Iterator:
    """A page logged into the test gateway's admin (the `gateway` fixture's process and routing rows)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, gateway.url, staff_login)
    yield page
    context.close()


@pytest.fixture
def screenshot(request) -> Callable[..., Path]:
    """`screenshot(page, "name")` saves var/screenshots/<test>-<name>.png (full page) and returns its path."""
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
