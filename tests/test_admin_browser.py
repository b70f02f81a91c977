"""The admin in a real browser: a staff member logs in through the form and reaches the index."""

import pytest

pytestmark = pytest.mark.browser


def test_staff_login_reaches_the_admin_index(admin_page, gateway, screenshot):
    page = admin_page
    assert page.url.endswith("/admin/")
    assert page.locator("#user-tools").inner_text().upper().startswith("WELCOME")
    # The routing app's models are listed for the operator.
    assert page.get_by_role("link", name="Ranking entries").count() + page.get_by_role("link", name="Roles").count()
    screenshot(page, "admin-index")
