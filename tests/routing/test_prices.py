"""Prices from OpenRouter's catalogue: the plan (pure), `manage.py import_prices`, and the admin action."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from routing.prices import CatalogueInvalid, PriceChange, parse_catalogue, plan_price_changes
from tests.fixture_files import CATALOGUES

RECORDED = CATALOGUES / "openrouter_models.recorded.json"  # real body, 4 models (SOURCES.md)
OLDER = CATALOGUES / "openrouter_models_2025-04.excerpt.json"  # the 2025-04 schema, free models included


def test_the_recorded_catalogue_gives_prices_per_million_tokens():
    prices = parse_catalogue(RECORDED.read_bytes())
    assert prices["anthropic/claude-sonnet-4"] == {
        "input_price_per_mtok": Decimal("3.000000"), "output_price_per_mtok": Decimal("15.000000"),
        "cached_input_price_per_mtok": Decimal("0.300000"), "cache_write_price_per_mtok": Decimal("3.750000")}
    assert prices["openai/gpt-3.5-turbo"] == {"input_price_per_mtok": Decimal("0.5"),
                                              "output_price_per_mtok": Decimal("1.5")}
    older = parse_catalogue(OLDER.read_bytes())
    free = [model for model, stated in older.items() if model.endswith(":free")]
    assert free and all(older[model]["input_price_per_mtok"] == 0 for model in free)


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "not JSON"), (b"[]", "'data' list"), (b'{"data": []}', "'data' list"),
    (b'{"data": [{"id": "x", "pricing": {"prompt": "-1"}}]}', "no model"),
])
def test_what_is_not_a_catalogue_is_refused_with_the_reason(body, message):
    with pytest.raises(CatalogueInvalid, match=message):
        parse_catalogue(body)


class Row:
    def __init__(self, public_id, upstream_name, **prices):
        self.public_id, self.upstream_name = public_id, upstream_name
        self.input_price_per_mtok = prices.get("input", Decimal(0))
        self.output_price_per_mtok = prices.get("output", Decimal(0))
        self.cached_input_price_per_mtok = prices.get("cached")
        self.cache_write_price_per_mtok = prices.get("write")


def test_models_match_by_upstream_name_public_id_or_unique_suffix():
    catalogue = parse_catalogue(RECORDED.read_bytes())
    rows = [
        Row("sonnet", "anthropic/claude-sonnet-4"),  # OpenRouter's own id as the upstream name
        Row("gpt-4o", "gpt-4o", input=Decimal("2.5"), output=Decimal("10"), cached=Decimal("1.25")),  # current
        Row("mini", "gpt-4.1-mini", input=Decimal("1"), output=Decimal("1.6")),  # suffix match, one price off
        Row("local", "llama3"),  # not in the catalogue
    ]
    changes, unmatched = plan_price_changes(rows, catalogue)
    assert unmatched == ["local"]
    assert [(c.model, c.catalogue_id, c.field, c.old, c.new) for c in changes] == [
        ("sonnet", "anthropic/claude-sonnet-4", "input_price_per_mtok", 0, Decimal("3")),
        ("sonnet", "anthropic/claude-sonnet-4", "output_price_per_mtok", 0, Decimal("15")),
        ("sonnet", "anthropic/claude-sonnet-4", "cached_input_price_per_mtok", None, Decimal("0.3")),
        ("sonnet", "anthropic/claude-sonnet-4", "cache_write_price_per_mtok", None, Decimal("3.75")),
        ("mini", "openai/gpt-4.1-mini", "input_price_per_mtok", Decimal("1"), Decimal("0.4")),
        ("mini", "openai/gpt-4.1-mini", "cached_input_price_per_mtok", None, Decimal("0.1")),
    ]


def test_a_change_survives_the_round_trip_through_the_confirmation_page_and_nothing_else_does():
    change = PriceChange("m", "a/m", "output_price_per_mtok", None, Decimal("1.5"))
    assert PriceChange.from_dict(json.loads(json.dumps(change.as_dict()))) == change
    for bad in ({**change.as_dict(), "field": "enabled"}, {**change.as_dict(), "new": "-1"}, {"model": "m"}):
        with pytest.raises(CatalogueInvalid):
            PriceChange.from_dict(bad)


@pytest.fixture
def priced(routing):
    from routing.models import Model

    return Model.objects.create(public_id="sonnet", provider=routing.paid, upstream_name="anthropic/claude-sonnet-4",
                                input_price_per_mtok=Decimal("2"), output_price_per_mtok=Decimal("15"))


def test_the_command_shows_the_changes_and_writes_only_with_apply(priced):
    from routing.selectors import read_config_token

    out = StringIO()
    call_command("import_prices", str(RECORDED), stdout=out)
    text = out.getvalue()
    assert "sonnet (anthropic/claude-sonnet-4): input $2 -> $3 per 1M tokens" in text
    assert "cache write $- -> $3.75 per 1M tokens" in text and "Dry run: nothing written" in text
    assert "output" not in text.split("Not in the catalogue")[0]  # 15 already
    priced.refresh_from_db()
    assert priced.input_price_per_mtok == 2
    before = read_config_token()
    call_command("import_prices", str(RECORDED), "--apply", stdout=StringIO())
    priced.refresh_from_db()
    assert (priced.input_price_per_mtok, priced.cached_input_price_per_mtok, priced.cache_write_price_per_mtok) == (
        Decimal("3"), Decimal("0.3"), Decimal("3.75"))
    assert read_config_token() != before  # every gateway process reloads its prices
    out = StringIO()
    call_command("import_prices", str(RECORDED), stdout=out)
    assert "No price changes." in out.getvalue()


def test_the_command_names_an_unreadable_source(db, tmp_path):
    with pytest.raises(CommandError, match="could not read"):
        call_command("import_prices", str(tmp_path / "missing.json"))


def test_the_admin_action_previews_then_applies_exactly_what_it_showed(admin_client, priced):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = "/admin/routing/model/"
    selection = {"action": "import_prices", "_selected_action": [priced.pk]}
    page = admin_client.post(url, selection)
    assert page.status_code == 200 and b"Show the changes" in page.content
    upload = SimpleUploadedFile("models.json", RECORDED.read_bytes(), content_type="application/json")
    preview = admin_client.post(url, {**selection, "preview": "1", "file": upload})
    html = preview.content.decode()
    assert 'id="price-changes"' in html and "anthropic/claude-sonnet-4" in html and "Apply 3 changes" in html
    priced.refresh_from_db()
    assert priced.input_price_per_mtok == 2  # nothing written by the preview
    changes = preview.context["changes_json"]
    done = admin_client.post(url, {**selection, "apply": "1", "changes": changes}, follow=True)
    assert "Prices updated on 1 model(s)." in done.content.decode()
    priced.refresh_from_db()
    assert (priced.input_price_per_mtok, priced.cache_write_price_per_mtok) == (Decimal("3"), Decimal("3.75"))


def test_the_admin_action_says_what_is_wrong_with_a_bad_upload(admin_client, priced):
    from django.core.files.uploadedfile import SimpleUploadedFile

    page = admin_client.post("/admin/routing/model/", {
        "action": "import_prices", "_selected_action": [priced.pk], "preview": "1",
        "file": SimpleUploadedFile("x.json", b'{"models": []}')})
    assert page.status_code == 200 and "&#x27;data&#x27; list" in page.content.decode()


@pytest.mark.browser
def test_an_operator_imports_prices_in_the_admin(admin_page, priced, screenshot):
    page = admin_page
    page.goto(page.url.rstrip("/") + "/routing/model/")
    page.locator(f"input[name=_selected_action][value='{priced.pk}']").check()
    page.select_option("select[name=action]", "import_prices")
    page.click("button[name=index]")
    page.set_input_files("input[name=file]", str(RECORDED))
    page.click("input[name=preview]")
    rows = page.locator("#price-changes tbody tr")
    assert rows.count() == 3
    assert "input" in rows.nth(0).inner_text() and "3.000000" in rows.nth(0).inner_text()
    screenshot(page, "price-preview")
    priced.refresh_from_db()
    assert priced.input_price_per_mtok == 2  # only shown so far
    page.click("input[name=apply]")
    assert "Prices updated on 1 model(s)." in page.locator("ul.messagelist").inner_text()
    priced.refresh_from_db()
    assert (priced.input_price_per_mtok, priced.cached_input_price_per_mtok) == (Decimal("3"), Decimal("0.3"))
