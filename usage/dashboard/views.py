"""The dashboard's JSON (and CSV) endpoints: one per panel, so each panel loads on its own.

Async views: each query runs in the report thread pool (core.background.run_report), so a slow panel
neither blocks the other panels' requests nor the gateway's own reads. Staff only: anyone else gets a
JSON 403 (or 401 when not logged in), never data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import wraps

import orjson
from django.http import HttpRequest, HttpResponse

from core.background import run_report
from usage.dashboard import panels, raw
from usage.dashboard.filters import DashboardFilters, FilterError, parse_filters

Panel = Callable[[DashboardFilters, dict[str, str]], dict]


def _json(data: object, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> HttpResponse:
    return _json({"error": {"message": message, "field": field}}, status=status)


def _choice(params: dict[str, str], name: str, choices, default: str | None) -> str | None:
    value = params.get(name) or default
    if value is not None and value not in choices:
        raise FilterError(name, f"{name} must be one of {', '.join(sorted(choices))}")
    return value


def _breakdown(filters: DashboardFilters, params: dict[str, str]) -> dict:
    by = _choice(params, "by", panels.BREAKDOWNS, "model")
    order = _choice(params, "order", {"cost", "requests", "total_tokens", "errors"}, "cost")
    return panels.breakdown(filters, by, order=order)


def _latency(filters: DashboardFilters, params: dict[str, str]) -> dict:
    return raw.latency(filters, _choice(params, "by", raw.LATENCY_GROUPS, None))


PANELS: dict[str, Panel] = {
    "overview": lambda filters, params: panels.overview(filters),
    "breakdown": _breakdown,
    "latency": _latency,
    "conversations": lambda filters, params: raw.conversations(filters),
    "quota": lambda filters, params: panels.quota(filters),
    "options": lambda filters, params: panels.filter_options(filters),
}


def staff_only(view):
    @wraps(view)
    async def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = await request.auser()
        if not user.is_authenticated:
            return _error(401, "Log in to the admin first.")
        if not (user.is_active and user.is_staff):
            return _error(403, "The usage dashboards are for staff only.")
        return await view(request, *args, **kwargs)

    return guarded


@staff_only
async def panel_data(request: HttpRequest, panel: str) -> HttpResponse:
    """GET …/data/<panel>/?since=&until=&model=&…[&format=csv]"""
    if request.method != "GET":
        return _error(405, "GET only.")
    compute = PANELS.get(panel)
    if compute is None:
        return _error(404, f"no panel {panel!r}; panels: {', '.join(PANELS)}")
    params = {name: request.GET.get(name, "") for name in request.GET}
    try:
        filters = parse_filters(params)
        wanted_format = _choice(params, "format", {"json", "csv"}, "json")
        data = await run_report(compute, filters, params)
    except FilterError as error:
        return _error(400, str(error), error.field)
    if wanted_format == "csv":
        return _csv(data, f"usage-{panel}{'-' + params['by'] if params.get('by') else ''}-"
                          f"{filters.since}-{filters.until}.csv")
    return _json(data)


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula (a conversation id is the client's to choose) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(data: dict, filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(data["columns"])
    writer.writerows([_cell(value) for value in row] for row in data["rows"])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
