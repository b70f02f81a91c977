"""The store behind `previous_response_id`: scoped per key, bounded in time, private in the admin."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys.access import ANONYMOUS
from core.errors import InvalidRequest
from proxy.fronts.responses.service import _history
from stored_responses import services
from stored_responses.models import StoredResponse
from stored_responses.selectors import stored_messages
from stored_responses.services import stored_response_create, stored_response_prune_expired

SECRET = [{"role": "user", "content": "my bank PIN is 9911"}, {"role": "assistant", "content": "noted"}]


@pytest.mark.django_db
def test_a_stored_conversation_is_read_back_only_by_its_key_and_only_until_it_expires(settings):
    stored_response_create(response_id="resp_1", api_key_prefix="gwk_AAAAAAAA", model="m", messages=SECRET)
    assert stored_messages(response_id="resp_1", api_key_prefix="gwk_AAAAAAAA") == SECRET
    assert stored_messages(response_id="resp_1", api_key_prefix="gwk_BBBBBBBB") is None
    assert stored_messages(response_id="resp_1", api_key_prefix="") is None  # nor anonymous callers
    StoredResponse.objects.filter(pk="resp_1").update(created_at=timezone.now() - timedelta(days=31))
    assert stored_messages(response_id="resp_1", api_key_prefix="gwk_AAAAAAAA") is None
    settings.RESPONSES_STORE_DAYS = 40
    assert stored_messages(response_id="resp_1", api_key_prefix="gwk_AAAAAAAA") == SECRET


@pytest.mark.django_db
def test_expired_rows_are_deleted_at_most_once_a_minute(monkeypatch):
    stored_response_create(response_id="resp_old", api_key_prefix="", model="m", messages=SECRET)
    StoredResponse.objects.filter(pk="resp_old").update(created_at=timezone.now() - timedelta(days=31))
    monkeypatch.setattr(services, "_last_prune", 0.0)
    stored_response_create(response_id="resp_new", api_key_prefix="", model="m", messages=SECRET)
    assert list(StoredResponse.objects.values_list("pk", flat=True)) == ["resp_new"]
    StoredResponse.objects.filter(pk="resp_new").update(created_at=timezone.now() - timedelta(days=31))
    stored_response_create(response_id="resp_newer", api_key_prefix="", model="m", messages=SECRET)
    assert StoredResponse.objects.count() == 2  # the minute has not passed: nothing pruned yet
    assert stored_response_prune_expired() == 1


def test_with_storing_off_previous_response_id_is_refused_by_name(settings):
    settings.RESPONSES_STORE_DAYS = 0
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(_history("resp_1", ANONYMOUS))
    assert caught.value.param == "previous_response_id" and "RESPONSES_STORE_DAYS=0" in caught.value.message


@pytest.mark.django_db
def test_the_admin_shows_which_responses_exist_never_their_text(admin_client):
    stored_response_create(response_id="resp_1", api_key_prefix="gwk_AAAAAAAA", model="m", messages=SECRET)
    for page in (reverse("admin:stored_responses_storedresponse_changelist"),
                 reverse("admin:stored_responses_storedresponse_change", args=["resp_1"])):
        response = admin_client.get(page)
        assert response.status_code == 200
        assert "resp_1" in response.content.decode() and "9911" not in response.content.decode()
