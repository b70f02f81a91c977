"""Daphne tuning: what Twisted does per request that an ASGI gateway never needs.

1. Twisted's `Request` parses the Content-Type of every POST with a body through the stdlib `email`
package, to fill `request.args` from HTML form uploads (bench/results/profile-daphne-c1-2026-11-22.txt:
16% of the process's CPU). Daphne hands the raw body to the ASGI application and never reads
`request.args`, so the gateway's requests are built with `parsePOSTFormSubmission=False`, Twisted's own
switch for it.
2. Twisted's `HTTPFactory.log` formats a combined-log line for every request and hands it to Twisted's
   legacy log, which Daphne never shows (Daphne writes its own access log, when asked: GATEWAY_ACCESS_LOG).

Applied only when Daphne is the server, before it accepts a connection.
"""

from __future__ import annotations

import inspect
import sys


def tune() -> bool:
    """Both of the above; False when not running under Daphne (uvicorn, tests, commands)."""
    http_protocol = sys.modules.get("daphne.http_protocol")
    if http_protocol is None:
        return False
    skip_form_parsing()
    http_protocol.HTTPFactory.log = _no_twisted_access_line
    return True


def _no_twisted_access_line(factory, request) -> None:
    return None


def skip_form_parsing() -> bool:
    """Make Daphne build requests that leave POST bodies unparsed. Idempotent; False when not applicable."""
    http_protocol = sys.modules.get("daphne.http_protocol")
    if http_protocol is None:
        return False  # not running under Daphne (uvicorn, tests, commands)
    request_class = http_protocol.WebRequest
    if getattr(request_class, "leaves_post_bodies_unparsed", False):
        return True
    from twisted.web import http

    if "parsePOSTFormSubmission" not in inspect.signature(http.Request.__init__).parameters:
        return False  # an older Twisted without the switch: keep its behaviour

    class RawBodyRequest(request_class):
        leaves_post_bodies_unparsed = True

        def __init__(self, *args, **kwargs) -> None:
            kwargs["parsePOSTFormSubmission"] = False
            super().__init__(*args, **kwargs)

    # Daphne's HTTPFactory.buildProtocol reads the module's `WebRequest` for each new connection.
    http_protocol.WebRequest = RawBodyRequest
    return True
