"""Research endpoints (mounted under /admin/research with staff-or-admin-key auth by gateway_project/api.py).

POST /trigger and /force-refresh start a run and answer 202 at once (the run executes in the Celery
worker, or in a thread of this process without a broker); a run in progress answers 409 with its id.
GET /status shows the run in progress and the latest one.
"""

from __future__ import annotations

import orjson
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Router

from core.background import run_read
from core.errors import error_body
from research import services
from research.models import ResearchRun
from research.selectors import run_report, status_report

router = Router(tags=["research"])


def _json(data: object, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), status=status, content_type="application/json")


async def _start(request: HttpRequest, mode: str) -> HttpResponse:
    who = await _who(request)
    try:
        run = await sync_to_async(services.run_start, thread_sensitive=False)(mode=mode, triggered_by=who)
    except services.RunInProgress as exc:
        body = error_body(f"Research run {exc.run_id} is already in progress; try again when it ends.",
                          "conflict", code="research_run_in_progress")
        return _json({**body, "run_id": exc.run_id}, status=409)
    return _json({"run": await sync_to_async(run_report, thread_sensitive=False)(run)}, status=202)


async def _who(request: HttpRequest) -> str:
    user = await request.auser()
    if user.is_authenticated:
        return f"admin user {user.get_username()}"
    return f"API ({request.META.get('REMOTE_ADDR', '?')})"


@router.post("/trigger", summary="Start a research run: new models scored, existing ones re-scored with new data")
async def trigger(request: HttpRequest):
    return await _start(request, ResearchRun.Mode.TRIGGER)


@router.post("/force-refresh", summary="Start a research run that re-fetches every source and re-evaluates all")
async def force_refresh(request: HttpRequest):
    return await _start(request, ResearchRun.Mode.FORCE_REFRESH)


@router.get("/status", summary="The research run in progress (if any) and the latest run")
async def status(request: HttpRequest):
    return _json(await run_read(status_report))
