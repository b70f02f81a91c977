"""The research admin: pages render, the buttons start and revert runs, names get reviewed, weights
round-trip through YAML."""

from __future__ import annotations

import pytest
import yaml

from research.models import ModelAlias, ResearchRun, RoleWeight
from routing.services import ranking_read
from tests.research.conftest import HUMAN_REASON
from tests.research.test_execution import wait_for_run

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("ops", "ops@example.test", "pw-123456789")
    client.force_login(user)
    return client


def test_the_buttons_start_a_run_show_its_diff_and_revert_it(world, staff):
    answer = staff.post("/admin/research/researchrun/trigger/")
    run = ResearchRun.objects.get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/researchrun/{run.pk}/change/")
    run = wait_for_run(run.pk)
    assert run.status == "succeeded", run.error

    page = staff.get(f"/admin/research/researchrun/{run.pk}/change/").content.decode()
    assert "over gpt-4o for implementation" in page and "Aider polyglot" in page  # the diff with its reasons
    assert 'id="research-revert"' in page
    listing = staff.get("/admin/research/researchrun/").content.decode()
    assert 'id="research-trigger"' in listing and 'id="research-force-refresh"' in listing

    assert ranking_read(role="implementation")[0].reason != HUMAN_REASON
    answer = staff.post(f"/admin/research/researchrun/{run.pk}/revert/", follow=True)
    assert f"Run {run.pk} reverted" in answer.content.decode()
    assert ranking_read(role="implementation")[0].reason == HUMAN_REASON


def test_a_second_press_while_a_run_is_in_progress_says_so(world, staff):
    from research.services import run_create

    holder = run_create(triggered_by="elsewhere")
    answer = staff.post("/admin/research/researchrun/force-refresh/", follow=True)
    assert f"Research run {holder.pk} is already in progress" in answer.content.decode()
    assert ResearchRun.objects.count() == 1


def test_every_research_page_renders(world, staff):
    from research.services import run_now

    run_now(triggered_by="test")
    for page in ("researchsource", "researchrun", "modelalias", "namereview", "roleweight", "scoringparameter",
                 "cataloguechange"):
        assert staff.get(f"/admin/research/{page}/").status_code == 200, page
    alias = ModelAlias.objects.filter(status="ambiguous").first()
    assert staff.get(f"/admin/research/namereview/{alias.pk}/change/").status_code == 200
    source_page = staff.get("/admin/research/researchsource/").content.decode()
    assert "127.0.0.1" in source_page


def test_reviewing_a_name_maps_it_and_takes_it_out_of_the_queue(world, staff):
    from research.services import run_now

    run_now(triggered_by="test")
    alias = ModelAlias.objects.filter(status="ambiguous", reviewed=False).exclude(candidates=[]).first()
    target = alias.candidates[0]
    answer = staff.post(f"/admin/research/namereview/{alias.pk}/change/", {"identity": target})
    assert answer.status_code == 302
    alias.refresh_from_db()
    assert (alias.reviewed, alias.status, alias.identity) == (True, "matched", target)
    assert alias.reviewed_by == "admin user ops"
    queue = staff.get("/admin/research/namereview/?q=" + alias.published_name).content.decode()
    assert "0 names to review" in queue or alias.published_name not in queue


def test_weights_download_and_import_round_trip(world, staff):
    downloaded = staff.get("/admin/research/roleweight/download/").content.decode()
    document = yaml.safe_load(downloaded)
    assert document["roles"]["implementation"]["coding"] == 3
    document["roles"]["implementation"]["coding"] = 5
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("weights.yaml", yaml.safe_dump(document).encode())
    answer = staff.post("/admin/research/roleweight/import/", {"weights": upload}, follow=True)
    assert "Weights imported from weights.yaml" in answer.content.decode()
    assert RoleWeight.objects.get(role="implementation", family="coding").weight == 5
    bad = SimpleUploadedFile("bad.yaml", b"roles: {implementation: {coding: -1}}")
    answer = staff.post("/admin/research/roleweight/import/", {"weights": bad}, follow=True)
    assert "Weights not imported" in answer.content.decode()
    assert RoleWeight.objects.get(role="implementation", family="coding").weight == 5


def test_a_weight_edit_is_in_its_history_and_a_revert_restores_it(staff, db):
    weight = RoleWeight.objects.create(role="architect", family="reasoning", weight=3.0)
    page = staff.get(f"/admin/research/roleweight/{weight.pk}/change/")
    form = {"role": "architect", "family": "reasoning", "weight": "1.5", "_save": "Save"}
    assert staff.post(f"/admin/research/roleweight/{weight.pk}/change/", form).status_code == 302, page
    weight.refresh_from_db()
    assert weight.weight == 1.5
    first, second = weight.history.order_by("history_date")
    assert (first.weight, second.weight, second.history_user.username) == (3.0, 1.5, "ops")
    history = staff.get(f"/admin/research/roleweight/{weight.pk}/history/").content.decode()
    assert "1.5" in history and "ops" in history
    revert = f"/admin/research/roleweight/{weight.pk}/history/{first.history_id}/"
    assert staff.post(revert, {**form, "weight": "3.0"}).status_code == 302
    weight.refresh_from_db()
    assert weight.weight == 3.0 and weight.history.count() == 3
