"""Import / export from the admin: the commands' bytes, a dry-run plan before applying, errors that name
the line or the JSON path and field with nothing changed."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from prompts.config_io import default_strategies_path
from prompts.models import RoleStrategy
from routing.config_io import default_routing_path, load_routing_file, routing_config_import
from routing.models import Model
from routing.selectors import read_config_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shipped():
    routing_config_import(load_routing_file(default_routing_path()))
    call_command("import_strategies", str(default_strategies_path()), stdout=io.StringIO())


def _command_output(name: str) -> bytes:
    out = io.StringIO()
    call_command(name, stdout=out, stderr=io.StringIO())
    return out.getvalue().encode("utf-8")


@pytest.mark.parametrize(("slug", "command"), [("routing", "export_routing"), ("strategies", "export_strategies")])
def test_export_downloads_the_commands_bytes(admin_client, shipped, slug, command):
    response = admin_client.get(reverse("admin:config_export", args=[slug]))
    assert response.status_code == 200
    assert response.content == _command_output(command)
    assert "attachment" in response["Content-Disposition"]


def _upload(admin_client, slug, text, **extra):
    upload = SimpleUploadedFile("upload", text.encode("utf-8"))
    return admin_client.post(reverse("admin:config_import", args=[slug]), {"file": upload, **extra})


def test_an_import_is_planned_before_it_is_applied(admin_client, shipped):
    document = json.loads(_command_output("export_routing"))
    model = document["models"][0]
    model["context_window"] = 4242
    document["models"].append({**document["models"][1], "id": "brand-new-model"})
    document["profiles"] = document["profiles"][1:]
    removed_profile = json.loads(_command_output("export_routing"))["profiles"][0]["name"]
    text = json.dumps(document)
    before = read_config_token()

    plan_page = _upload(admin_client, "routing", text, prune="on")

    assert plan_page.status_code == 200
    plan = plan_page.context["plan"]
    assert plan.created == ["models brand-new-model"]
    assert plan.changed == [f"models {model['id']}: context_window"]
    assert plan.deleted == [f"profiles {removed_profile}"]
    assert any(line.startswith("+") and '"context_window": 4242' in line for line in plan.text_diff.splitlines())
    # Nothing written yet.
    assert not Model.objects.filter(public_id="brand-new-model").exists()
    assert read_config_token() == before

    applied = admin_client.post(reverse("admin:config_import", args=["routing"]),
                                {"text": text, "apply": "Apply", "prune": "on"}, follow=True)
    assert Model.objects.get(public_id=model["id"]).context_window == 4242
    assert Model.objects.filter(public_id="brand-new-model").exists()
    assert any("Imported model_routing.json" in str(m) for m in applied.context["messages"])
    assert read_config_token() != before


def test_invalid_json_names_the_line_and_changes_nothing(admin_client, shipped):
    before = _command_output("export_routing")
    response = _upload(admin_client, "routing", '{\n  "version": 1,\n  "providers": [,]\n}')
    assert response.status_code == 400
    assert response.context["problems"] == ["model_routing.json: invalid JSON at line 3 column 17: Expecting value"]
    assert "Nothing was imported." in response.content.decode()
    assert _command_output("export_routing") == before


def test_an_invalid_field_names_its_json_path_and_changes_nothing(admin_client, shipped):
    document = json.loads(_command_output("export_routing"))
    document["models"][2]["context_window"] = "lots"
    before = _command_output("export_routing")
    response = _upload(admin_client, "routing", json.dumps(document))
    assert response.status_code == 400
    assert any(problem.startswith("models[2].context_window:") for problem in response.context["problems"]), \
        response.context["problems"]
    # Even "apply" with the bad text writes nothing.
    applied = admin_client.post(reverse("admin:config_import", args=["routing"]),
                                {"text": json.dumps(document), "apply": "Apply"})
    assert applied.status_code == 400
    assert _command_output("export_routing") == before


def test_invalid_yaml_names_the_line(admin_client, shipped):
    before = list(RoleStrategy.objects.values_list("system_prompt", flat=True))
    response = _upload(admin_client, "strategies", "version: 1\nroles:\n  architect:\n    system_prompt: [unclosed\n")
    assert response.status_code == 400
    assert response.context["problems"][0].startswith("prompt_strategies.yaml: invalid YAML at line ")
    assert list(RoleStrategy.objects.values_list("system_prompt", flat=True)) == before


def test_a_strategy_change_is_planned_and_applied(admin_client, shipped):
    import yaml

    document = yaml.safe_load(_command_output("export_strategies"))
    role = next(iter(document["roles"]))
    document["roles"][role]["system_prompt"] = "Be brief."
    text = yaml.safe_dump(document)
    plan = _upload(admin_client, "strategies", text).context["plan"]
    assert plan.changed == [f"strategies {role}: system_prompt"]
    admin_client.post(reverse("admin:config_import", args=["strategies"]), {"text": text, "apply": "Apply"})
    assert RoleStrategy.objects.get(role__name=role).system_prompt == "Be brief."


def test_a_view_only_member_may_export_but_not_import(client, shipped):
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="viewer-pass-1", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(viewer)
    page = client.get(reverse("admin:config_io"))
    assert page.status_code == 200 and "Check import" not in page.content.decode()
    assert client.get(reverse("admin:config_export", args=["routing"])).status_code == 200
    assert _upload(client, "routing", "{}").status_code == 403
