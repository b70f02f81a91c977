"""Thin ninja routers: HTTP in, pipeline call, HTTP out."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Router

from apikeys.api_auth import gateway_key, metrics_scraper, staff_or_admin_key
from core.background import run_report
from core.errors import GatewayError
from proxy import health, metrics
from proxy.fronts.django_serving import pipeline_response
from proxy.fronts.messages import models as anthropic_models
from proxy.fronts.messages.translate_response import error_body as anthropic_error_body
from proxy.fronts.schemas import ChatCompletionRequest, ErrorResponse, ModelList, ModelObject
from proxy.pipeline import handle_chat
from routing import catalog
from routing.state import routing_snapshot

router = Router(tags=["OpenAI-compatible"])
status_router = Router(tags=["Monitoring"])

_chat_docs = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ChatCompletionRequest.model_json_schema()}},
    }
}


def _json(data: object, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


@router.post(
    "/chat/completions",
    openapi_extra=_chat_docs,
    response={200: dict, 400: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse, 502: ErrorResponse},
    summary="Create a chat completion (OpenAI-compatible; streams with \"stream\": true)",
)
async def chat_completions(request: HttpRequest):
    return await pipeline_response(handle_chat, request)


@router.get("/models", auth=gateway_key, response=ModelList,
            summary="List the models this gateway serves (Anthropic's shape when `anthropic-version` is sent)")
async def list_models(request: HttpRequest):
    snapshot = await routing_snapshot.get()
    listed = catalog.listed_models(snapshot)
    if anthropic_models.wants_anthropic_shape(request.headers):
        try:
            return _json(anthropic_models.anthropic_page(listed, request.GET))
        except GatewayError as error:
            return _json(anthropic_error_body(error.status, error.message), error.status)
    return _json({"object": "list", "data": listed})


@router.get(
    "/models/{path:model_id}", auth=gateway_key, response={200: ModelObject, 404: ErrorResponse},
    summary="Get one model",
)
async def get_model(request: HttpRequest, model_id: str):
    snapshot = await routing_snapshot.get()
    if anthropic_models.wants_anthropic_shape(request.headers):
        try:
            return _json(anthropic_models.anthropic_model(catalog.get_model(snapshot, model_id)))
        except GatewayError as error:
            return _json(anthropic_error_body(error.status, error.message), error.status)
    return _json(catalog.get_model(snapshot, model_id))


@status_router.get("/health", summary="Liveness: the process answers and the database is reachable")
async def health_check(request: HttpRequest):
    report = await health.health_report()
    return _json(report, status=200 if report["status"] == "ok" else 503)


@status_router.get(
    "/status", auth=staff_or_admin_key,
    summary="Version, providers (and whether their key is set), profile, quota (staff or admin key)",
)
async def status(request: HttpRequest):
    snapshot = await routing_snapshot.get()
    return _json(await health.status_report(snapshot, routing_snapshot.token))


@status_router.get(
    "/metrics", auth=metrics_scraper,
    summary="Prometheus metrics (METRICS_TOKEN bearer token, an admin key or a staff session)",
)
async def prometheus_metrics(request: HttpRequest):
    from prometheus_client import CONTENT_TYPE_LATEST

    quotas = await run_report(metrics.quota_usage)
    return HttpResponse(metrics.render(quotas), content_type=CONTENT_TYPE_LATEST)
