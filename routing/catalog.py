"""What /v1/models shows: enabled models on enabled providers, the `auto` routes and the aliases. Pure.

An alias is listed under its pattern (a glob such as `claude-opus-*` too, marked `"glob": true`: it
is not itself an id to send), with the targets it resolves to in `alias_for`."""

from __future__ import annotations

from core.errors import ModelNotFound
from providers.specs import ModelSpec
from routing.aliases import AliasSpec, find_alias
from routing.selection import DEFAULT_ROLE
from routing.snapshot import RoutingSnapshot

GATEWAY_OWNER = "llm-gateway"


def model_object(spec: ModelSpec) -> dict:
    return {
        "id": spec.public_id,
        "object": "model",
        "created": spec.created,
        "owned_by": spec.provider,
        "context_window": spec.context_window or None,
        "pricing": {
            "input_per_million": round(spec.input_price_per_token * 1_000_000, 6),
            "output_per_million": round(spec.output_price_per_token * 1_000_000, 6),
        },
        "capabilities": {"tools": spec.supports_tools, "vision": spec.supports_vision, "json": spec.supports_json},
        **({"kind": spec.kind} if spec.kind != "chat" else {}),
    }


def auto_objects(snapshot: RoutingSnapshot) -> list[dict]:
    created = int(snapshot.built_at)
    routes = ["auto"] + [f"auto:{role}" for role in sorted(snapshot.rankings) if role != DEFAULT_ROLE]
    return [{"id": route, "object": "model", "created": created, "owned_by": GATEWAY_OWNER} for route in routes]


def alias_object(snapshot: RoutingSnapshot, alias: AliasSpec, model_id: str | None = None) -> dict:
    obj = {"id": model_id or alias.pattern, "object": "model", "created": int(snapshot.built_at),
           "owned_by": GATEWAY_OWNER, "alias_for": list(alias.targets)}
    if alias.is_glob and model_id is None:
        obj["glob"] = True
    return obj


def listed_models(snapshot: RoutingSnapshot) -> list[dict]:
    visible = [
        spec
        for spec in snapshot.models.values()
        if spec.enabled and (provider := snapshot.providers.get(spec.provider)) is not None and provider.enabled
    ]
    aliases = [alias_object(snapshot, alias) for alias in sorted(snapshot.aliases, key=lambda a: a.pattern)
               if alias.pattern not in snapshot.models]
    return (auto_objects(snapshot) + [model_object(spec) for spec in sorted(visible, key=lambda s: s.public_id)]
            + aliases)


def get_model(snapshot: RoutingSnapshot, model_id: str) -> dict:
    """One listed model; an id that resolves through a glob alias is answered as that alias."""
    for obj in listed_models(snapshot):
        if obj["id"] == model_id and not obj.get("glob"):
            return obj
    alias = find_alias(snapshot.aliases, model_id) if model_id not in snapshot.models else None
    if alias is not None:
        return alias_object(snapshot, alias, model_id)
    raise ModelNotFound(f"The model '{model_id}' does not exist on this gateway.", param="model")
