"""The one NinjaAPI: mounts each app's router and renders every GatewayError in OpenAI's error shape."""

from __future__ import annotations

from ninja import NinjaAPI

from apikeys.api_auth import staff_or_admin_key_for_writes
from core.errors import install_error_handlers
from core.version import VERSION
from proxy.fronts.api import router as routing_router
from proxy.fronts.api import status_router
from proxy.fronts.embeddings_api import router as embeddings_router
from proxy.fronts.messages.api import router as messages_router
from proxy.fronts.responses.api import router as responses_router
from research.api import router as research_router

api = NinjaAPI(
    title="LLM Gateway",
    version=VERSION,
    description="OpenAI-compatible gateway with role-based routing, fallbacks and usage tracking.",
    urls_namespace="gateway",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_router("/v1", routing_router)
api.add_router("/v1", messages_router)
api.add_router("/v1", responses_router)
api.add_router("/v1", embeddings_router)
api.add_router("", status_router)
# Staff session (with CSRF on POST) or an admin key; before the admin site in urls.py, which would catch these.
api.add_router("/admin/research", research_router, auth=staff_or_admin_key_for_writes)
