"""ASGI entry point: the gateway's hot-path front, then Channels' ProtocolTypeRouter and Django."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

http_app = django_asgi_app
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

from core import daphne as daphne_tuning  # noqa: E402
from proxy.fronts.asgi import GatewayASGI  # noqa: E402

daphne_tuning.tune()  # under Daphne: skip the per-request work an ASGI gateway never needs

from usage.routing import websocket_urlpatterns  # noqa: E402

# WebSockets (the dashboards' live feed) carry the admin session: only from this site's own origins.
websocket_app = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
application = GatewayASGI(ProtocolTypeRouter({"http": http_app, "websocket": websocket_app}))

if settings.RESEARCH_EMBEDDED_SCHEDULER:  # no broker: this serving process runs the monthly research schedule
    from research.scheduler import embedded_scheduler

    embedded_scheduler.start(settings.RESEARCH_SCHEDULER_POLL_SECONDS)

# Everything loaded so far lives as long as the process: keep the collector from rescanning it.
gc.freeze()
# The DB thread (usage batches, snapshot loads) must hand the GIL back to the event loop quickly: with
# Python's default 5 ms, a flush showed up in the loop's p99 (bench: c=1 p99 added 2.9 → 1.9 ms).
sys.setswitchinterval(settings.GIL_SWITCH_INTERVAL_SECONDS)
