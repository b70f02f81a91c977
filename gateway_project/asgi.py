"""ASGI entry point: Channels' ProtocolTypeRouter in front of Django (HTTP today; websockets later)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402

http_app = django_asgi_app
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

from routing.asgi import GatewayASGI  # noqa: E402

application = ProtocolTypeRouter({"http": GatewayASGI(http_app)})
